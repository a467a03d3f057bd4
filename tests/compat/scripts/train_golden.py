# ruff: noqa: I001 - imports ordered as in SpikeFI's examples
# A SpikeFI 1.3 style script (training a fault-free network): an empty campaign trained
# with run_train, the network saved and its learning curve drawn.
import torch
import spikefi as sfi
import spikefi.snn as snn
import demo

n_epochs = 1

demo.prepare()
torch.manual_seed(0)
net = demo.Network()
train_loader = demo.get_loader(train=True)
test_loader = demo.get_loader(train=False)

spike_loss = snn.loss(demo.net_params).to(demo.device)

cmpn = sfi.Campaign(net, demo.shape_in, net.slayer, f"{demo.case_study}_golden")
golden = cmpn.run_train(n_epochs, train_loader, test_loader, spike_loss,
                        optimizer_factory=lambda p: torch.optim.Adam(p, lr=1e-2, amsgrad=True))[0]
net_path = cmpn.save_net(golden, demo.get_fnetname().split('.')[0])
figs = sfi.visual.learning_curve([cmpn.export()], format='png')
