"""Issue 32: Optuna search spaces over the continuous parameters of the soft-error models
(rate, exposure) and over neuron-state upsets; every trial's faults run in a campaign."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from spikefi.errors import SearchSpaceError
from spikefi.faults import Float32SoftErrors, MembraneUpset, SoftErrors, StateSoftErrors
from spikefi.search import FaultSetEvaluator, FaultSpace


@pytest.fixture(scope="module")
def quantized(digits) -> FaultSetEvaluator:
    net, test = digits
    return FaultSetEvaluator(net, test, max_samples=8, batch_size=8, quantization={"dtype": "int8"})


def test_rates_searched_on_a_log_scale_and_evaluated(quantized):
    s = FaultSpace(quantized.netmap.layers, {"k": 1, "models": [
        {"model": "SoftErrors", "rate": {"low": 1.0e-6, "high": 1.0e-2, "log": True}, "exposure": 1.0,
         "layers": ["SF3", "SF4"]},
        {"model": "Float32SoftErrors", "rate": {"low": 1.0e-7, "high": 1.0e-4, "log": True},
         "exposure": {"low": 1.0, "high": 10.0}},
        {"model": "StateSoftErrors", "rate": {"low": 1.0e-7, "high": 1.0e-4, "log": True},
         "state": {"choices": ["membrane", "refractory"]}, "width": {"choices": [12, 16]}, "frac_bits": 4},
        {"model": "MembraneUpset", "bits": {"low": 23, "high": 31}, "steps": {"low": 0, "high": 29}},
    ]}, quantized.steps)
    assert [e.own_cells for e in s.entries] == [True, True, True, False]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=4))
    seen = set()
    for _ in range(16):
        trial = study.ask()
        faults = s.suggest(trial)
        (f,) = faults
        model = f.model
        seen.add(type(model))
        if isinstance(model, (SoftErrors, StateSoftErrors)):  # Float32SoftErrors is a SoftErrors
            assert f.sites[0].position is None and f.sites[0].layer in quantized.netmap.layers
        if type(model) is SoftErrors:
            assert 1e-6 <= model.rate <= 1e-2 and f.sites[0].layer in ("SF3", "SF4")
        if isinstance(model, MembraneUpset):
            assert len(f.sites[0].position) == 3 and 23 <= model.bits[0] <= 31
        (score,) = quantized.evaluate([faults])
        assert score.samples == 8 and 0.0 <= score.accuracy <= 1.0
        study.tell(trial, score.accuracy)
    assert seen == {SoftErrors, Float32SoftErrors, StateSoftErrors, MembraneUpset}
    dists = {}
    for t in study.trials:
        dists.update(t.distributions)
    assert dists["f0.SoftErrors.rate"] == FloatDistribution(1e-6, 1e-2, log=True)
    assert dists["f0.Float32SoftErrors.exposure"] == FloatDistribution(1.0, 10.0)
    assert isinstance(dists["f0.StateSoftErrors.state"], CategoricalDistribution)
    assert dists["f0.MembraneUpset.bits"] == IntDistribution(23, 31)
    assert not any(".synapse." in name for name in dists)  # own-cell models search no position


def test_bad_rate_range_refused(quantized):
    with pytest.raises(SearchSpaceError, match=r"models\[0\]: StateSoftErrors rate must be a finite number >= 0, got -1.0"):
        FaultSpace(quantized.netmap.layers, {"models": [{"model": "StateSoftErrors",
                                                         "rate": {"low": -1.0, "high": 1.0}}]}, quantized.steps)
    assert math.isfinite(quantized.golden_accuracy)
