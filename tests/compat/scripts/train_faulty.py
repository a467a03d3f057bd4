# ruff: noqa: I001 - imports ordered as in SpikeFI's examples
# A SpikeFI 1.3 style script (faults before training): one round per fault percentage,
# each training a network with its faults present; networks saved, curves drawn.
import random

import torch
import spikefi as sfi
import spikefi.snn as snn
from spikefi.fault import Fault
import demo

n_epochs = 1
percent = range(10, 31, 20)
learn_r = 1e-2
f_model = sfi.fm.PerturbedSynapse(0.5)

demo.prepare()
random.seed(5)
torch.manual_seed(0)
net = demo.Network()

fm_name = f_model.get_name_snake_case(delimiter='-')
cmpn = sfi.Campaign(net, demo.shape_in, net.slayer, f"{demo.case_study}_{fm_name}")

# specific layers: the first two convolutions (use get_injectables()[:-1] for all but the output)
layers = cmpn.layers_info.get_injectables()[:2]
if bool(layers) and all(layers):
    lay_inj = layers
    l_sizes = [cmpn.layers_info.get_size(f_model.is_synaptic(), l_name) for l_name in layers]
else:
    lay_inj = cmpn.layers_info.get_injectables()[:-1]
    l_sizes = cmpn.layers_info.get_sizes_inj(f_model.is_synaptic())[:-1]
for c in percent:
    cmpn.then_inject([Fault.multiple_random_percent(f_model, c / 100., lay_inj, l_sizes)])
cmpn.rounds.pop(0)

test_loader = demo.get_loader(train=False)
faulties = cmpn.run_train(n_epochs, demo.get_loader(train=True), test_loader,
                          spike_loss=snn.loss(demo.net_params).to(demo.device),
                          optimizer_factory=lambda p: torch.optim.Adam(p, lr=learn_r, amsgrad=True))
for faulty in faulties:
    cmpn.save_net(faulty)
saved = cmpn.save()
figs = sfi.visual.learning_curve([cmpn.export()], format='png')
fig = sfi.visual.plot_train(cmpn.export(), x_range=list(percent), format='png')
