"""``neuron_output(owned=True)`` writes a layer's faults into the caller's fresh spikes instead of
a copy: the same spikes as the copying call, and the synaptic output it reads stays untouched,
also when the spikes share memory with it."""

from __future__ import annotations

import torch

from spikefi.campaign import Campaign
from spikefi.campaign.inject import neuron_output, prepare_round
from spikefi.data import load_spiking_digits
from spikefi.faults import DeadNeuron, Fault, ParametricNeuron, SaturatedNeuron, Site
from spikefi.zoo import load_pretrained


def _layer_faults():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    cmpn = Campaign(net, test, batch_size=8, seed=3, max_samples=8)
    cmpn.then_inject([Fault(DeadNeuron(), Site("SC2", (1, 2, 2))), Fault(SaturatedNeuron(), Site("SC2", (3, 1, 4))),
                      Fault(ParametricNeuron("theta", 0.5), Site("SC2", (0, 3, 3)))])
    prep = prepare_round(cmpn, cmpn.rounds[0])
    return cmpn, prep.layers["SC2"]


def test_owned_spikes_take_the_faults_in_place_with_the_copying_result():
    cmpn, lf = _layer_faults()
    assert lf.neuron and lf.parametric
    shape = (8, *cmpn.netmap.layers["SC2"].neuron_shape, 40)
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(shape, generator=gen, dtype=cmpn.dtype) * 3  # random synaptic output, many spikes
    s = cmpn.netmap.fire("SC2", a)
    assert 0 < int((s != 0).sum()) < s.numel()
    a0, s0 = a.clone(), s.clone()
    copied = neuron_output(cmpn, a, s, lf, list(range(8)), 0)
    assert torch.equal(s, s0)  # the copying call leaves the input spikes alone
    assert not torch.equal(copied, s0)  # the faults change something
    own = neuron_output(cmpn, a, s, lf, list(range(8)), 0, owned=True)
    assert own.data_ptr() == s.data_ptr() and torch.equal(own, copied)
    assert torch.equal(a, a0)


def test_owned_spikes_sharing_memory_with_the_synaptic_output_are_copied():
    cmpn, lf = _layer_faults()
    shape = (8, *cmpn.netmap.layers["SC2"].neuron_shape, 40)
    a = (torch.rand(shape, generator=torch.Generator().manual_seed(1), dtype=cmpn.dtype) < 0.2).to(cmpn.dtype)
    a0 = a.clone()
    expected = neuron_output(cmpn, a0.clone(), a0.clone(), lf, list(range(8)), 0)
    out = neuron_output(cmpn, a, a, lf, list(range(8)), 0, owned=True)  # spikes are the synaptic output itself
    assert out.data_ptr() != a.data_ptr() and torch.equal(a, a0) and torch.equal(out, expected)


def test_owned_spikes_that_record_a_gradient_are_copied():
    cmpn, lf = _layer_faults()
    shape = (8, *cmpn.netmap.layers["SC2"].neuron_shape, 40)
    a = (torch.rand(shape, generator=torch.Generator().manual_seed(2), dtype=cmpn.dtype) * 3).requires_grad_()
    s = cmpn.netmap.fire("SC2", a)
    assert s.requires_grad
    out = neuron_output(cmpn, a, s, lf, list(range(8)), 0, owned=True)
    assert out.data_ptr() != s.data_ptr()
    out.sum().backward()  # the graph through the spiking function stays usable
    assert a.grad is not None
