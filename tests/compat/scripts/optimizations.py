# ruff: noqa: I001 - imports ordered as in SpikeFI's examples
# A SpikeFI 1.3 style script (optimizations): the same fault rounds evaluated with several
# batch sizes and optimization levels; durations and critical faults are recorded.
import random
from copy import copy

from torch.utils.data import DataLoader
import spikefi as sfi
import spikefi.snn as snn
import demo

f_model = sfi.fm.DeadNeuron()
s_batch = [16, 5]
n_faults = [3]
opts = [4, 0]

demo.prepare()
layers = [demo.hidden_layer]
random.seed(11)
net = demo.get_net()

records = []
for lay_name in layers:
    rounds = []
    for k in sorted(n_faults):
        for bs in s_batch:
            test_loader = DataLoader(dataset=demo.get_dataset(train=False), batch_size=bs, shuffle=False)
            for o in opts:
                cmpn_name = demo.get_fnetname().removesuffix('.pt') + \
                    f"_{f_model.get_name_snake_case()}_{lay_name}_bs{bs}_k{k}_O{o}"
                cmpn = sfi.Campaign(net, demo.shape_in, net.slayer, name=cmpn_name)
                cmpn.rounds = rounds
                k_actual = k - len(cmpn.rounds)
                if k_actual > 0:
                    cmpn.inject_complete(f_model, [lay_name], fault_sampling_k=k_actual)
                    while k - len(cmpn.rounds) > 0:
                        cmpn.then_inject([sfi.ff.Fault(f_model, sfi.ff.FaultSite(lay_name))])
                cri = cmpn.run(test_loader, spike_loss=snn.loss(demo.net_params).to(cmpn.device),
                               es_tol=0, opt=sfi.CampaignOptimization(o))
                print(f"Campaign '{cmpn.name}': {cmpn.duration:.2f} secs, critical faults {cri.sum().item()}")
                records.append({"bs": bs, "opt": o, "duration": cmpn.duration, "critical": cri.tolist(),
                                "accuracy": [p.testing.accuracyLog[-1] for p in cmpn.performance],
                                "loss": [p.testing.lossLog[-1] for p in cmpn.performance]})
                rounds = copy(cmpn.rounds)
                cmpn.save()
