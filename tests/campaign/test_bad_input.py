"""Every bad fault/campaign input fails early with a clear FaultSpecError/ConfigError."""

from __future__ import annotations

import math

import pytest
import torch

from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError, DataError, FaultSpecError
from spikefi.faults import (
    BitFlipSynapse,
    DeadNeuron,
    DeadSynapse,
    Fault,
    FloatBitFlipSynapse,
    ParametricNeuron,
    PerturbedSynapse,
    Site,
    StuckNeuron,
    Window,
    model_from_spec,
)
from spikefi.zoo import load_pretrained


@pytest.fixture(scope="module")
def cmpn():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    return Campaign(net, test, max_samples=8)


@pytest.fixture(scope="module")
def qcmpn():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    return Campaign(net, test, max_samples=8, quantization={"dtype": "int8"})


@pytest.mark.parametrize(
    "fault, match",
    [
        (Fault(DeadNeuron(), Site("SC9")), r"unknown layer 'SC9'; layers: \['SC1'"),
        (Fault(DeadSynapse(), Site("SP1")), r"layer 'SP1' \(pool\) has no injectable synapses"),
        (Fault(DeadNeuron(), Site("SC1", (8, 0, 0))), r"index 0 must be in \[0, 8\)"),
        (Fault(DeadNeuron(), Site("SC1", (0, 0, 16))), r"index 2 must be in \[0, 16\)"),
        (Fault(DeadNeuron(), Site("SC1", (0, 0))), "must be a neuron .* position of length 3"),
        (Fault(DeadNeuron(), Site("SC1", (0, 0, 0, 0))), "must be a neuron .* position of length 3"),  # synapse site for a neuron model
        (Fault(DeadSynapse(), Site("SC1", (0, 0, 0))), r"must be a synapse \(out, in, kh, kw\) position of length 4"),
        (Fault(DeadNeuron(), Site("SF4"), count=11), "cannot draw 11 distinct sites"),
        (Fault(FloatBitFlipSynapse(3), Site("SF4", (0, 64, 0, 0))), r"index 1 must be in \[0, 64\)"),
    ],
)
def test_bad_sites(cmpn, fault, match):
    n = len(cmpn.rounds)
    with pytest.raises(FaultSpecError, match=match):
        cmpn.then_inject(fault)
    assert len(cmpn.rounds) == n  # nothing half-added


def test_bad_models():
    with pytest.raises(FaultSpecError, match=r"bit index out of range in \[32\]"):
        FloatBitFlipSynapse(32)
    with pytest.raises(FaultSpecError, match="bits must be distinct"):
        BitFlipSynapse([3, 3])
    with pytest.raises(FaultSpecError, match="theta factor must be > 0"):
        ParametricNeuron("theta", -1.0)
    with pytest.raises(FaultSpecError, match="must be finite"):
        PerturbedSynapse(math.nan)
    with pytest.raises(FaultSpecError, match="'tauX' is not a neuron parameter; allowed"):
        ParametricNeuron("tauX", 2.0)
    with pytest.raises(FaultSpecError, match="exactly one of probability= or pattern="):
        StuckNeuron()
    with pytest.raises(FaultSpecError, match=r"probability must be in \[0, 1\]"):
        StuckNeuron(probability=1.5)
    with pytest.raises(FaultSpecError, match="does not import"):
        model_from_spec({"model": "no_such_package.Model"})
    with pytest.raises(FaultSpecError, match="unknown fault model 'Deadneuron'"):
        model_from_spec({"model": "Deadneuron"})
    with pytest.raises(FaultSpecError, match=r"unknown parameter\(s\) \[.scale.\] for fault model .PerturbedSynapse.; allowed: \[.factor.\]"):
        model_from_spec({"model": "PerturbedSynapse", "scale": 2})
    with pytest.raises(FaultSpecError, match="not a FaultModel subclass"):
        model_from_spec({"model": "collections.OrderedDict"})


def test_bad_faults_and_timings():
    with pytest.raises(FaultSpecError, match="duplicate sites"):
        Fault(DeadNeuron(), [Site("SC1", (0, 1, 1)), Site("SC1", (0, 1, 1))])
    with pytest.raises(FaultSpecError, match="parametric faults act on whole samples"):
        Fault(ParametricNeuron("theta", 2.0), Site("SC1"), Window(0, 5))
    with pytest.raises(FaultSpecError, match=r"Window needs t_start < t_end, got \[5, 5\)"):
        Window(5, 5)
    with pytest.raises(FaultSpecError, match="count=3 needs a site with unspecified parts"):
        Fault(DeadNeuron(), Site("SC1", (0, 0, 0)), count=3)
    with pytest.raises(FaultSpecError, match=r"density must be in \(0, 1\]"):
        Fault(DeadNeuron(), Site("SC1"), density=0)
    with pytest.raises(FaultSpecError, match="needs a layer name"):
        Site(None, (0, 0, 0))


def test_bit_flips_need_quantization_and_range(cmpn, qcmpn):
    with pytest.raises(FaultSpecError, match="needs a quantized campaign"):
        cmpn.then_inject(Fault(BitFlipSynapse(3), Site("SC1")))
    with pytest.raises(FaultSpecError, match=r"bit index out of range in \[8\]; allowed 0..7"):
        qcmpn.then_inject(Fault(BitFlipSynapse(8), Site("SC1")))
    qcmpn.then_inject(Fault(BitFlipSynapse(7), Site("SC1")))


def test_campaign_input_errors():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    with pytest.raises(DataError, match="dataset is empty"):
        Campaign(net, (test.tensors[:0], test.labels[:0]))
    with pytest.raises(DataError, match=r"labels must be in \[0, 10\)"):
        Campaign(net, (test.tensors[:4], torch.tensor([0, 1, 2, 10])))
    with pytest.raises(ConfigError, match="batch_size must be an int >= 1"):
        Campaign(net, test, batch_size=0)
    with pytest.raises(ConfigError, match="golden accuracy .* differs from the expected 0.5"):
        Campaign(net, test, max_samples=16, expected_accuracy=0.5).golden()
    with pytest.raises(ConfigError, match="unknown quantization keys"):
        Campaign(net, test, max_samples=4, quantization={"dtype": "int8", "bits": 4})
    with pytest.raises(ConfigError, match="unknown engine 'fast'"):
        c = Campaign(net, test, max_samples=4)
        c.then_inject(Fault(DeadNeuron(), Site("SC1")))
        c.run(engine="fast", progress=False)


def test_network_never_modified():
    net, _, _ = load_pretrained("digits_cnn")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    _, test = load_spiking_digits()
    c = Campaign(net, test, max_samples=8, quantization={"dtype": "int8"})
    c.then_inject([Fault(DeadSynapse(), Site("SC1"), count=20), Fault(DeadNeuron(), Site("SF3"))])
    c.run(progress=False)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_lazy_site_generator_draws_like_numpy_and_copies():
    """Fault sites are drawn from a generator seeded at its first use: the same draws as
    numpy's, and copying or pickling it (e.g. in a user's RandomModel.draw) works."""
    import copy
    import pickle

    import numpy as np

    from spikefi.campaign.campaign import _LazyGenerator

    seed = [3, 1, 4, 7]
    lazy = _LazyGenerator(seed)
    for clone in (copy.copy(lazy), copy.deepcopy(lazy), pickle.loads(pickle.dumps(lazy))):
        assert clone.choice(100, size=5).tolist() == np.random.default_rng(seed).choice(100, size=5).tolist()
    assert lazy.integers(0, 1000, 4).tolist() == np.random.default_rng(seed).integers(0, 1000, 4).tolist()
