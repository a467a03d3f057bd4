"""Issue 32, item 1 (weight memory): soft errors at a bit-error rate, one seeded Monte-Carlo
draw per round; engines agree and equal a brute-force reference that redraws the upsets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikefi.campaign import CampaignSpec
from spikefi.errors import FaultSpecError
from spikefi.faults import Fault, Site, SoftErrors
from spikefi.faults.models import model_from_spec
from spikefi.testgen.faultlist import FaultList

from .test_issue32_adjacent_upsets import SHAPES, flip_edits, flipped_cells
from .test_issue32_fault_maps import assert_engines_agree, brute_force_predictions, campaign, digits  # noqa: F401

BITS = sum(int(np.prod(s)) for s in SHAPES.values()) * 8  # int8 codes


def reference_draw(seed: int, round_id: int, p: float) -> set[tuple[int, int]]:
    """The upsets of a round, drawn here: K ~ Binomial(N, p), then K distinct cells
    (cell c is bit c mod 8 of code c div 8 of the memory)."""
    rng = np.random.default_rng([seed, round_id, 0, 7])
    k = int(rng.binomial(BITS, p))
    return {divmod(int(c), 8) for c in rng.choice(BITS, size=k, replace=False)} if k else set()


def test_parameters():
    m = SoftErrors(2e-5, exposure=5)
    assert math.isclose(m.probability, 1 - math.exp(-1e-4), rel_tol=1e-12)
    assert m.stochastic and model_from_spec(m.spec()) == m
    assert m.scalar_parameter() == ("bit_upset_probability", m.probability)
    for bad, match in (({"rate": -1.0}, "rate must be a finite number >= 0"),
                       ({"rate": float("inf")}, "rate must be a finite number >= 0"),
                       ({"rate": 1e-3, "exposure": "1h"}, "exposure must be a finite number >= 0"),
                       ({"rate": 0.0}, "upsets nothing")):
        with pytest.raises(FaultSpecError, match=match):
            SoftErrors(**bad)
    with pytest.raises(FaultSpecError, match="SoftErrors draws its cells anew in every round") as info:
        FaultList.from_rounds([Fault(m)])
    assert "\n" not in str(info.value)


def test_draws_engines_and_brute_force(digits):  # noqa: F811
    cmpn = campaign(digits)
    model = SoftErrors(rate=2e-5, exposure=20.0)  # p ~ 4e-4: ~59 upsets of 146,560 cells
    for _ in range(4):
        cmpn.then_inject(Fault(model))
    cmpn.then_inject(Fault(SoftErrors(0.05), Site("SF4")))  # heavy upsets of one layer
    ref = assert_engines_agree(cmpn)
    for rnd in cmpn.rounds[:4]:
        cells = reference_draw(3, rnd.round_id, model.probability)
        assert flipped_cells(rnd) == cells
        assert (ref.predictions[rnd.round_id] == brute_force_predictions(cmpn, flip_edits(cmpn, cells))).all()
    assert {f.layer for f in cmpn.rounds[4].faults} == {"SF4"}
    assert (ref.predictions[4] != ref.predictions[0]).any() or ref.table.iloc[4]["spike_count_deviation"] > 0
    table = ref.table
    assert (table["param_name"] == "bit_upset_probability").all()
    assert math.isclose(table["param"].iloc[0], model.probability)
    # same seed -> same draws; each round its own draw
    again = campaign(digits)
    for _ in range(4):
        again.then_inject(Fault(model))
    assert [flipped_cells(r) for r in again.rounds] == [flipped_cells(r) for r in cmpn.rounds[:4]]
    assert len({frozenset(flipped_cells(r)) for r in cmpn.rounds[:4]}) == 4


def test_number_of_upsets_is_binomial(digits):  # noqa: F811
    cmpn = campaign(digits)
    model = SoftErrors(1e-4)
    rounds = 300
    for _ in range(rounds):
        cmpn.then_inject(Fault(model))
    counts = np.array([len(flipped_cells(r)) for r in cmpn.rounds])
    p = model.probability
    mean, var = BITS * p, BITS * p * (1 - p)
    assert abs(counts.mean() - mean) < 4 * math.sqrt(var / rounds)
    assert 0.7 * var < counts.var(ddof=1) < 1.3 * var


def test_zero_upsets_give_a_fault_free_round_and_yaml(digits, tmp_path):  # noqa: F811
    spec = CampaignSpec.from_yaml("""
name: soft
network: {pretrained: digits_cnn}
data: {name: spiking_digits, seed: 0, max_samples: 6}
options: {seed: 2, batch_size: 6, quantization: {dtype: int8}}
rounds:
  - - {model: SoftErrors, rate: 1.0e-9, exposure: 1.0}
  - - {model: SoftErrors, rate: 1.0e-3}
""")
    cmpn = spec.build()
    table = cmpn.run(progress=False).table
    assert table["n_faults"].iloc[0] == 0 and table["changed"].iloc[0] == 0
    assert table["n_faults"].iloc[1] > 50
    pytest.importorskip("mlflow")
    from experiments.chunk_flush import fault_params

    params = fault_params(cmpn.rounds[1:])
    assert params["fault.model"] == "SoftErrors"
    assert params["fault.parameter"] == "rate 0.001 per bit, exposure 1 (bit upset probability 0.001)"
