# ruff: noqa: I001 - imports ordered as in SpikeFI's examples
# A SpikeFI 1.3 style script (parametric faults): threshold faults at several percentages
# of the nominal value, one round per (sampled) neuron of a layer; accuracy vs deviation.
import random

import spikefi as sfi
import spikefi.snn as snn
import demo

params = ['theta']
percent = [50, 150]

demo.prepare()
layers = [demo.hidden_layer]
random.seed(3)
net = demo.get_net()
test_loader = demo.get_loader(train=False)

campaigns = []
for param in params:
    cmpns_data = []
    for lay_name in layers:
        for cent in percent:
            cmpn_name = demo.get_fnetname().removesuffix('.pt') + f"_neuron_{param}_{lay_name}_c{cent}"
            cmpn = sfi.Campaign(net, demo.shape_in, net.slayer, name=cmpn_name)
            cmpn.inject_complete(sfi.fm.ParametricNeuron(param, cent / 100.0), lay_name, fault_sampling_k=8)
            cmpn.run(test_loader, spike_loss=snn.loss(demo.net_params).to(cmpn.device))
            print(f"Campaign '{cmpn.name}' duration: {cmpn.duration: .2f} secs")
            cmpns_data.append(cmpn.export())
            cmpn.save()
            campaigns.append(cmpn)
    fig = sfi.visual.plot(cmpns_data, xlabel=f"{param} (% of nominal value)", format='png')
