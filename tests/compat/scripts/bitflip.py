# ruff: noqa: I001 - imports ordered as in SpikeFI's examples
# A SpikeFI 1.3 style script (bit flips): for each bit position, a campaign flipping that
# bit of sampled synapses of one layer (uint8 codes over the layer's weight range).
import random

import torch
import spikefi as sfi
import spikefi.snn as snn
import demo

bits = [0, 4, 7]
qdtype = torch.quint8

demo.prepare()
layers = [demo.hidden_layer]
random.seed(7)

net = demo.get_net()
test_loader = demo.get_loader(train=False)

campaigns = []
for lay_name in layers:
    layer = getattr(net, lay_name)
    wmin = layer.weight.min().item()
    wmax = layer.weight.max().item()
    for b in bits:
        cmpn_name = demo.get_fnetname().removesuffix('.pt') + f"_synapse_bitflip_{lay_name}_b{b}"
        cmpn = sfi.Campaign(net, demo.shape_in, net.slayer, name=cmpn_name)
        scale, zero_point = sfi.utils.quantization.qargs_from_range(wmin, wmax, qdtype)
        cmpn.inject_complete(sfi.fm.BitflippedSynapse(b, scale, zero_point, qdtype), [lay_name], fault_sampling_k=6)
        print(f"Campaign '{cmpn.name}'")
        cmpn.run(test_loader, spike_loss=snn.loss(demo.net_params).to(cmpn.device))
        fig = sfi.visual.heat(cmpn.export(), preserve_dim=True, format='png')
        cmpn.save()
        campaigns.append(cmpn)
