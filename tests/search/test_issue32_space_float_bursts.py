"""Issue 32: adjacent multi-bit upsets of the float32 weights in an Optuna search space (burst
width, word layout and interleaving searched; the site a layer, never a position); every trial's
burst runs in a campaign of the float golden."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution

from spikefi.errors import SearchSpaceError
from spikefi.faults import Float32AdjacentBitUpset
from spikefi.search import FaultSetEvaluator, FaultSpace


def test_float_bursts_searched_and_evaluated(digits):
    net, test = digits
    evaluator = FaultSetEvaluator(net, test, max_samples=8, batch_size=8)  # no quantization: float32 weights
    space = FaultSpace(evaluator.netmap.layers, {"k": 1, "models": [
        {"model": "Float32AdjacentBitUpset", "width": {"low": 1, "high": 8}, "word_bits": {"choices": [32, 64]},
         "interleave": {"low": 1, "high": 4}, "layers": ["SF3", "SF4"]},
    ]}, evaluator.steps)
    assert [e.own_cells for e in space.entries] == [True]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
    for _ in range(4):
        trial = study.ask()
        (fault,) = space.suggest(trial)
        model = fault.model
        assert isinstance(model, Float32AdjacentBitUpset) and 1 <= model.width <= 8
        assert model.word_bits in (32, 64) and 1 <= model.interleave <= 4
        assert fault.sites[0].position is None and fault.sites[0].layer in ("SF3", "SF4")
        (score,) = evaluator.evaluate([[fault]])
        assert score.samples == 8 and 0.0 <= score.accuracy <= 1.0
        study.tell(trial, score.accuracy)
    dists = {}
    for t in study.trials:
        dists.update(t.distributions)
    assert dists["f0.Float32AdjacentBitUpset.width"] == IntDistribution(1, 8)
    assert isinstance(dists["f0.Float32AdjacentBitUpset.word_bits"], CategoricalDistribution)
    assert not any(".synapse." in name for name in dists)


def test_word_bits_not_a_multiple_of_32_refused(digits):
    net, test = digits
    evaluator = FaultSetEvaluator(net, test, max_samples=4, batch_size=4)
    with pytest.raises(SearchSpaceError, match="word_bits must be a multiple of 32") as info:
        FaultSpace(evaluator.netmap.layers, {"models": [{"model": "Float32AdjacentBitUpset", "width": 2,
                                                         "word_bits": {"choices": [16, 32]}}]}, evaluator.steps)
    assert "\n" not in str(info.value)
