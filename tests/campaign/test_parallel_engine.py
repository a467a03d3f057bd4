"""The fault-parallel engine's batched paths equal the naive engine, bit for bit.

Many single-synapse rounds of one layer travel as *channel patches* (the one output
channel a synapse fault changes), pooling layers keep them to that channel, and large
row sets are processed in slices; sub-chunks are formed by estimated memory. None of this
may change a prediction or a count.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikefi.campaign import Campaign, parallel
from spikefi.data import load_spiking_digits
from spikefi.faults import DeadNeuron, DeadSynapse, Fault, PerturbedSynapse, Site, StuckSynapse
from spikefi.zoo import load_pretrained


@pytest.fixture(scope="module")
def digits() -> tuple:
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    return net, test


def _campaign(net, test) -> Campaign:
    cmpn = Campaign(net, test, batch_size=24, seed=5, max_samples=48)
    rng = np.random.default_rng(0)
    for name in ("SC1", "SC2", "SF3"):
        shape = cmpn.netmap.layers[name].synapse_shape
        for k in range(6):
            pos = tuple(int(rng.integers(0, d)) for d in shape)
            model = (DeadSynapse(), StuckSynapse(3.0), PerturbedSynapse(2.0))[k % 3]
            cmpn.then_inject(Fault(model, Site(name, pos)))
    cmpn.exhaustive(DeadNeuron(), layers=["SP2"], sample=6)
    return cmpn


def _run(cmpn: Campaign, engine: str):
    return cmpn.run(engine=engine, chunk_size=64, progress=False, keep_predictions=True)


def test_channel_patches_equal_naive(digits):
    net, test = digits
    cmpn = _campaign(net, test)
    ref = _run(cmpn, "naive")
    par = _run(cmpn, "parallel")
    assert (ref.predictions == par.predictions).all()
    cols = [c for c in ref.table if c not in ("loss",)]
    assert ref.table[cols].equals(par.table[cols])
    assert np.allclose(ref.table["loss"], par.table["loss"], rtol=1e-9, atol=1e-12, equal_nan=True)
    assert (ref.table["changed"] > 0).any()  # the workload does change predictions


def test_sliced_rows_and_small_budget_give_the_same_table(digits, monkeypatch):
    net, test = digits
    cmpn = _campaign(net, test)
    full = _run(cmpn, "parallel")
    monkeypatch.setattr(parallel, "_SLICE_ELEMS", 5000)  # many row slices per operation
    monkeypatch.setattr(parallel, "rows_budget", lambda c, f=0.25: 3)  # one round per sub-chunk
    small = _run(cmpn, "parallel")
    assert (full.predictions == small.predictions).all()
    cols = [c for c in full.table if c not in ("loss",)]
    assert full.table[cols].equals(small.table[cols])


def test_round_cost_estimate_orders_entry_kinds(digits):
    net, test = digits
    cmpn = _campaign(net, test)
    from spikefi.campaign.engine import prepare_round

    costs = {}
    for rnd in cmpn.rounds:
        prep = prepare_round(cmpn, rnd)
        layer = rnd.faults[0].layer
        costs.setdefault(layer, parallel._round_rows(cmpn, prep, 24))
    # a channel of SC1 costs less than a worst-case row, and every estimate is positive
    assert all(0 < c <= 24 for c in costs.values())
    assert costs["SF3"] < costs["SC1"]


def test_indices_copied_at_once_equal_per_fault_indices(digits):
    from spikefi.campaign.engine import _device_indices, prepare_round

    net, test = digits
    cmpn = _campaign(net, test)
    rounds = cmpn.rounds
    for rnd, ix in zip(rounds, _device_indices(cmpn, rounds), strict=True):
        a, b = prepare_round(cmpn, rnd), prepare_round(cmpn, rnd, indices=ix)
        for name, lf in a.layers.items():
            for fa, fb in zip(lf.synapse + lf.neuron, b.layers[name].synapse + b.layers[name].neuron, strict=True):
                assert len(fa.idx) == len(fb.idx) and all(bool((p == q).all()) for p, q in zip(fa.idx, fb.idx, strict=True))
