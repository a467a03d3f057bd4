# ruff: noqa: I001 - imports ordered as in SpikeFI's examples
# A SpikeFI 1.3 style script (basic usage), run unchanged on spikefi's compat modules.
# Three faults in two rounds, then one bit-flipped synapse fault per sampled synapse of
# the output layer; results saved and drawn as a heat map.
import random

import torch
import spikefi as sfi
from spikefi.models import DeadNeuron, StuckSynapse, ThresholdFaultNeuron, BitflippedSynapse
from spikefi.fault import FaultSite, Fault
from spikefi.core import Campaign
from spikefi.utils.quantization import qargs_from_tensor
import demo

demo.prepare()
random.seed(2024)

net = demo.get_net()
test_loader = demo.get_loader(train=False)

cmpn = Campaign(net, demo.shape_in, net.slayer, name='basic-fi')

# a dead neuron somewhere in the output layer
fx = Fault(DeadNeuron(), FaultSite(demo.out_layer))
# a stuck synapse anywhere in the network
fy = Fault(StuckSynapse(100.))
# four neurons of the hidden layer with their threshold tripled
fz = Fault.multiple_random_absolute(ThresholdFaultNeuron(3.), 4, demo.hidden_layer)

cmpn.inject(fx)              # round 0
cmpn.then_inject([fy, fz])   # round 1
print(cmpn)

cmpn.run(test_loader, opt=sfi.CampaignOptimization.O4)
for r, perf in enumerate(cmpn.performance):
    print(f"Round {r} performance: {perf.testing.maxAccuracy * 100.0:.2f} %")
first_accuracies = [perf.testing.accuracyLog[-1] for perf in cmpn.performance]
first_rounds = list(cmpn.rounds)
cmpn.save()

cmpn.eject()

W = getattr(net, demo.out_layer).weight
scale, zero_point = qargs_from_tensor(W, torch.quint8)
fm = BitflippedSynapse(7, scale, zero_point, torch.quint8)
cmpn.inject_complete(fm, [demo.out_layer], fault_sampling_k=12)
cmpn.run(test_loader)

cmpn_data = cmpn.export()
figs = sfi.visual.heat(cmpn_data, preserve_dim=True, format='png', title_suffix=demo.case_study)
saved = cmpn.save(sfi.utils.io.make_res_filepath(demo.case_study + '_bitflip_7', rename=True))
