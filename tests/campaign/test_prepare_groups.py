"""``prepare_rounds`` prepares rounds of one elementwise synapse model together (one model call
for all their sites): every prepared value, index and layer bound equals ``prepare_round``'s
for that round alone, and campaigns give the same tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikefi.campaign import Campaign
from spikefi.campaign.inject import _group_key, permanent_weight, prepare_round, prepare_rounds
from spikefi.data import load_spiking_digits
from spikefi.faults import (
    BitFlipSynapse,
    DeadNeuron,
    DeadSynapse,
    Fault,
    FloatBitFlipSynapse,
    PerturbedSynapse,
    SaturatedSynapse,
    Site,
    StuckSynapse,
)
from spikefi.faults.memory import StuckBitSynapse
from spikefi.zoo import load_pretrained

PER_CHANNEL = {"weights": {"bits": 4, "scale": "channel"}, "membrane": {"int_bits": 7, "frac_bits": 4},
               "psp_kernel": {"int_bits": 0, "frac_bits": 6, "signed": False}}


@pytest.fixture(scope="module")
def digits():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    return net, test


def _inject(cmpn: Campaign, models: list, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for k in range(40):
        name = ("SC1", "SC2", "SF3")[k % 3]
        shape = cmpn.netmap.layers[name].synapse_shape
        model = models[k % len(models)]
        if k % 5:
            cmpn.then_inject(Fault(model, Site(name, tuple(int(rng.integers(0, d)) for d in shape))))
        else:  # one fault on three synapses drawn with the campaign's seed
            cmpn.then_inject(Fault(model, Site(name), count=3))
    cmpn.then_inject(Fault(DeadNeuron(), Site("SC2", (1, 1, 1))))  # not grouped
    cmpn.then_inject([Fault(DeadSynapse(), Site("SF3", (0, 0, 0, 0))), Fault(DeadSynapse(), Site("SF3", (1, 0, 0, 0)))])


def _bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.contiguous().view(torch.uint8), b.contiguous().view(torch.uint8))


def _same(a, b) -> None:
    assert (a.round_id, a.first, a.last, list(a.layers)) == (b.round_id, b.first, b.last, list(b.layers))
    for name, la in a.layers.items():
        lb = b.layers[name]
        assert len(la.synapse) == len(lb.synapse) and len(la.neuron) == len(lb.neuron)
        for sa, sb in zip(la.synapse, lb.synapse, strict=True):
            assert sa.fault is sb.fault and sa.index == sb.index
            assert all(torch.equal(p, q) for p, q in zip(sa.idx, sb.idx, strict=True))
            assert sa.values.dtype == sb.values.dtype and _bits(sa.values, sb.values)  # NaN weights too


@pytest.mark.parametrize("quantization,models", [
    (None, [DeadSynapse(), StuckSynapse(2.5), PerturbedSynapse(-1.5), SaturatedSynapse("lower", "mild"),
            FloatBitFlipSynapse(30), FloatBitFlipSynapse([22, 31])]),
    ({"dtype": "int8"}, [BitFlipSynapse(7), BitFlipSynapse([0, 2]), StuckBitSynapse(stuck_at_0=[6]), DeadSynapse()]),
    (PER_CHANNEL, [BitFlipSynapse(3), StuckBitSynapse(stuck_at_1=[0, 1]), PerturbedSynapse(0.5)]),
], ids=["float", "int8", "per-channel"])
def test_grouped_preparation_equals_one_round_at_a_time(digits, quantization, models):
    net, test = digits
    cmpn = Campaign(net, test, batch_size=8, max_samples=8, seed=2, quantization=quantization)
    _inject(cmpn, models, seed=len(models))
    rounds = cmpn.rounds
    keys = [_group_key(r) for r in rounds]
    assert sum(k is not None for k in keys) >= 40 and len({k for k in keys if k}) < 40  # groups form
    assert _group_key(rounds[-1]) is None and _group_key(rounds[-2]) is None
    grouped = prepare_rounds(cmpn, rounds)
    for r, g in zip(rounds, grouped, strict=True):
        alone = prepare_round(cmpn, r)
        _same(g, alone)
        for name in g.layers:  # the faulty weight built on first use equals the one-round build
            pa, pb = permanent_weight(cmpn.netmap, name, g.layers[name]), permanent_weight(cmpn.netmap, name, alone.layers[name])
            assert (pa is None) == (pb is None) and (pa is None or _bits(pa, pb))


def test_a_subclass_must_declare_elementwise_again(digits):
    class Scaled(PerturbedSynapse):  # a subclass may keep state params() does not show
        pass

    net, test = digits
    cmpn = Campaign(net, test, batch_size=8, max_samples=8)
    cmpn.then_inject(Fault(Scaled(2.0), Site("SF3", (0, 1, 0, 0))))
    cmpn.then_inject(Fault(PerturbedSynapse(2.0), Site("SF3", (0, 1, 0, 0))))
    assert _group_key(cmpn.rounds[0]) is None and _group_key(cmpn.rounds[1]) is not None


def test_campaign_tables_are_unchanged_by_grouping(digits, monkeypatch):
    import spikefi.campaign.inject as inject

    net, test = digits
    cmpn = Campaign(net, test, batch_size=12, max_samples=24, seed=4, quantization={"dtype": "int8"})
    _inject(cmpn, [BitFlipSynapse(7), DeadSynapse(), StuckBitSynapse(stuck_at_1=[5])], seed=9)
    grouped = {e: cmpn.run(engine=e, chunk_size=16, progress=False, keep_predictions=True)
               for e in ("sequential", "parallel")}
    monkeypatch.setattr(inject, "_group_key", lambda rnd: None)  # every round alone
    for engine, res in grouped.items():
        alone = cmpn.run(engine=engine, chunk_size=16, progress=False, keep_predictions=True)
        cols = [c for c in res.table if c != "seconds"]
        assert res.table[cols].equals(alone.table[cols]) and (res.predictions == alone.predictions).all()
    assert (grouped["parallel"].table["changed"] > 0).any()
