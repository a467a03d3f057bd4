"""The parallel engine runs some rounds as one sequential pass each (on CUDA: faults spread over
several layers, neuron-state upsets). The rule picks the right rounds, and a campaign that
takes that path (forced here on the CPU) gives the naive engine's tables and predictions."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from spikefi.campaign import Campaign
from spikefi.campaign.engines import sequential as seq_mod
from spikefi.campaign.engines.parallel import engine as par
from spikefi.campaign.inject import prepare_rounds
from spikefi.data import load_spiking_digits
from spikefi.faults import (
    DeadNeuron,
    DeadSynapse,
    Fault,
    Float32SoftErrors,
    MembraneUpset,
    PerturbedSynapse,
    Site,
)
from spikefi.zoo import load_pretrained


@pytest.fixture(scope="module")
def digits():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    return net, (test.tensors[:10], test.labels[:10])


def build(digits) -> Campaign:
    net, data = digits
    c = Campaign(net, data, batch_size=6, seed=5)
    c.then_inject(Fault(DeadSynapse(), Site("SC2", (3, 1, 0, 2))))  # one layer: stacked rows
    c.then_inject(Fault(Float32SoftErrors(2e-4)))  # memory-wide: several layers
    c.then_inject([Fault(DeadNeuron(), Site("SC1", (2, 3, 4))), Fault(PerturbedSynapse(-3.0), Site("SF3"), count=30)])
    c.then_inject(Fault(MembraneUpset(30, [4, 9]), Site("SC2"), count=6))  # a neuron-state upset
    c.then_inject(Fault(DeadNeuron(), Site("SF3", (7, 0, 0))))
    c.then_inject(Fault(Float32SoftErrors(1e-4)))
    return c


def test_rule_picks_spread_and_state_rounds(digits) -> None:
    c = build(digits)
    prepared = prepare_rounds(c, c.rounds)
    picked = [par._spread_or_state(p) for p in prepared]
    layers = [len(p.layers) for p in prepared]
    assert picked[0] is False and picked[4] is False  # one fault, one layer
    assert picked[2] is True and layers[2] == 2
    assert picked[3] is True  # membrane upset in one layer
    assert picked[1] == (layers[1] > 1) and picked[5] == (layers[5] > 1)
    # the CPU keeps stacking (faster there): the rule applies on CUDA only
    assert not any(par._sequential_round(c, p) for p in prepared)


def test_sequential_path_matches_naive(digits, monkeypatch: pytest.MonkeyPatch) -> None:
    naive = build(digits).run(engine="naive", chunk_size=4, progress=False, keep_predictions=True)
    calls: list[int] = []
    original = seq_mod.SequentialEngine.evaluate

    def counted(self, campaign, prep, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(prep.round_id)
        return original(self, campaign, prep, *args, **kwargs)

    monkeypatch.setattr(par, "_sequential_round", lambda campaign, prep: par._spread_or_state(prep))
    monkeypatch.setattr(seq_mod.SequentialEngine, "evaluate", counted)
    res = build(digits).run(engine="parallel", chunk_size=4, progress=False, keep_predictions=True)
    assert {2, 3} <= set(calls) and not {0, 4} & set(calls)
    cols = [c for c in naive.table.columns if c != "seconds"]
    pd.testing.assert_frame_equal(naive.table[cols].reset_index(drop=True), res.table[cols].reset_index(drop=True))
    assert torch.equal(torch.as_tensor(naive.predictions), torch.as_tensor(res.predictions))
    assert int(naive.table["spike_count_deviation"].sum()) > 0  # the faults did something
