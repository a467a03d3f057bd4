"""FaultSpace: validation of bad spaces and what suggest() draws (real Optuna trials)."""

from __future__ import annotations

import optuna
import pytest

from spikefi.errors import ConfigError, SearchSpaceError
from spikefi.faults import DeadNeuron, ParametricNeuron, StuckSynapse, Window
from spikefi.faults.models import NeuronFaultModel
from spikefi.search import Choice, FaultSpace, Range


def space(evaluator, **spec):
    return FaultSpace(evaluator.netmap.layers, spec, evaluator.steps)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"models": []}, "non-empty list 'models'"),
        ({"models": ["NoSuchModel"]}, "unknown fault model 'NoSuchModel'"),
        ({"models": ["DeadNeuron"], "layers": ["SC9"]}, "unknown layer 'SC9'"),
        ({"models": [{"model": "StuckSynapse", "value": {"low": 3.0, "high": -3.0}}]}, "low 3.0 is greater than high"),
        ({"models": ["DeadNeuron"], "layers": ["SF4"], "k": 11}, "k=11 is larger than the 10 distinct sites"),
        ({"models": ["DeadNeuron"], "k": 0}, "k must be >= 1"),
        ({"models": ["DeadNeuron"], "k": {"low": 3, "high": 1}}, "low 3 is greater than high 1"),
        ({"models": [{"model": "StuckSynapse", "valu": 1.0}]}, "has no parameter(s) ['valu']"),
        ({"models": [{"model": "StuckSynapse", "value": 1.0, "layers": ["SP1"]}]}, "layers ['SP1'] have no synapses"),
        ({"models": ["DeadNeuron"], "layers": ["SF4"], "exclude_layers": ["SF4"]}, "no layer left"),
        ({"models": [{"model": "ParametricNeuron", "parameter": "theta", "factor": 2.0}],
          "timing": {"timing": "Window", "start": {"low": 0, "high": 5}}}, "whole-sample timings"),
        ({"models": [{"model": "ParametricNeuron", "parameter": "theta", "factor": {"low": 0.0, "high": 2.0,
                                                                                      "log": True}}]}, "log range"),
        ({"models": [{"model": "ParametricNeuron", "parameter": {"choices": ["theta", "nope"]}, "factor": 2.0}]},
         "choice 'nope' is not allowed"),
        ({"models": [{"model": "BitFlipSynapse", "bits": {"low": 0, "high": 40}}]}, "range end 40 is not allowed"),
        ({"models": ["DeadNeuron"], "timing": {"timing": "Window", "start": {"low": 0, "high": 99}}}, "must lie in"),
        ({"models": ["DeadNeuron"], "kk": 1}, "unknown key(s) ['kk']"),
        ({"models": ["DeadNeuron", "DeadNeuron"]}, "used twice"),
    ],
)
def test_bad_spaces_are_refused_with_the_reason(evaluator, spec, message):
    with pytest.raises(SearchSpaceError) as info:
        space(evaluator, **spec)
    assert message in str(info.value)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)


def test_ranges_and_choices_are_parsed_with_their_types(evaluator):
    s = space(evaluator, models=[
        {"model": "StuckSynapse", "value": {"low": -2, "high": 2}},      # a float parameter: float range
        {"model": "BitFlipSynapse", "bits": {"low": 0, "high": 7}},       # an int parameter: int range
        {"model": "ParametricNeuron", "parameter": {"choices": ["theta", "tauSr"]}, "factor": 0.5},
    ], k={"low": 1, "high": 3})
    stuck, flip, par = s.entries
    assert stuck.params["value"] == Range(-2.0, 2.0, integer=False)
    assert flip.params["bits"] == Range(0, 7, integer=True)
    assert par.params["parameter"] == Choice(("theta", "tauSr")) and par.params["factor"] == 0.5
    assert stuck.layers == ["SC1", "SC2", "SF3", "SF4"]          # synapse models: conv/dense layers only
    assert par.layers == list(evaluator.netmap.layers)
    assert s.k_range == (1, 3)


def test_suggest_draws_distinct_valid_faults_inside_the_ranges(evaluator):
    s = space(evaluator, k=4, layers=["SC2", "SF3"], models=[
        "DeadNeuron",
        {"model": "StuckSynapse", "value": {"low": -3.0, "high": 3.0}},
        {"model": "ParametricNeuron", "parameter": "theta", "factor": {"low": 0.25, "high": 4.0, "log": True}},
    ])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    models_seen, layers_seen = set(), set()
    for _ in range(40):
        trial = study.ask()
        faults = s.suggest(trial)
        assert 1 <= len(faults) <= 4
        keys = [(f.model.target, f.sites[0].layer, f.sites[0].position) for f in faults]
        assert len(set(keys)) == len(keys)
        for f in faults:
            site = f.sites[0]
            info = evaluator.netmap.layers[site.layer]
            shape = info.shape_for(f.model.target)
            assert site.layer in ("SC2", "SF3")
            assert all(0 <= p < n for p, n in zip(site.position, shape, strict=True))
            if isinstance(f.model, StuckSynapse):
                assert -3.0 <= f.model.value <= 3.0
            if isinstance(f.model, ParametricNeuron):
                assert 0.25 <= f.model.factor <= 4.0
            models_seen.add(type(f.model))
            layers_seen.add(site.layer)
        study.tell(trial, 0.0)
    assert models_seen == {DeadNeuron, StuckSynapse, ParametricNeuron} and layers_seen == {"SC2", "SF3"}
    names = set().union(*(t.params for t in study.trials))
    assert {"f0.model", "f0.DeadNeuron.layer", "f0.SF3.neuron.c", "f0.SC2.synapse.kh", "f0.ParametricNeuron.factor"} <= names
    assert "f0.SF3.neuron.h" not in names       # axes of size 1 are not searched


def test_searched_windows_stay_inside_the_sample(evaluator):
    s = space(evaluator, k={"low": 1, "high": 3}, layers=["SF3"], models=["DeadNeuron"],
              timing={"timing": "Window", "start": {"low": 0, "high": 29}, "length": {"low": 1, "high": 30}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    ks = set()
    for _ in range(30):
        trial = study.ask()
        faults = s.suggest(trial)
        ks.add(trial.params["k"])
        for f in faults:
            assert isinstance(f.timing, Window)
            assert 0 <= f.timing.t_start < f.timing.t_end <= evaluator.steps
        study.tell(trial, 0.0)
    assert ks == {1, 2, 3}


class ScaledSpikes(NeuronFaultModel):
    """A user model (imported by dotted path) with one float parameter."""

    def __init__(self, keep: float = 1.0) -> None:
        self.keep = float(keep)

    def params(self) -> dict:
        return {"keep": self.keep}

    def apply(self, spikes, spike_value, noise=None):
        return spikes * self.keep


def test_a_user_model_by_dotted_path_gets_its_ranges_searched(evaluator):
    path = f"{__name__}.ScaledSpikes"
    s = space(evaluator, layers=["SF3"], models=[{"model": path, "keep": {"low": 0, "high": 1}}])
    assert s.entries[0].params["keep"] == Range(0.0, 1.0, integer=False)  # float annotation: a float range
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    (fault,) = s.suggest(trial)
    assert isinstance(fault.model, ScaledSpikes) and 0.0 <= fault.model.keep <= 1.0
    with pytest.raises(SearchSpaceError, match="does not import"):
        space(evaluator, models=[{"model": "tests.search.nowhere.Model", "keep": 1.0}])
