"""What a reader sees (issue 35 item 2): search parameters in plain words with only the top
ones drawn, fault ids as text, report tables that wrap or scroll inside a laptop window."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest

from analysis.describe import describe_fault_id
from analysis.report import Report, Section, to_html
from spikefi import plots
from spikefi.errors import ConfigError
from spikefi.search.space import param_label


@pytest.mark.parametrize(("name", "words"), [
    ("f0.SP1.neuron.h", "fault 1: SP1 neuron row"), ("f1.SC2.synapse.kw", "fault 2: SC2 synapse kernel column"),
    ("f0.model", "fault 1: fault model"), ("f2.DeadNeuron.layer", "fault 3: layer of DeadNeuron"),
    ("f0.ParametricNeuron.factor", "fault 1: factor of ParametricNeuron"), ("f0.t_start", "fault 1: start time bin"),
    ("k", "number of faults"), ("custom", "custom"),
])
def test_search_parameters_in_plain_words(name, words):
    assert param_label(name) == words


def test_importance_figure_draws_the_top_parameters_in_plain_words():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial):  # 14 parameters, named as the fault space names them
        value = 0.0
        for i in range(2):
            for layer in ("SC1", "SC2", "SF3"):
                for axis in ("c", "h"):
                    value += trial.suggest_int(f"f{i}.{layer}.neuron.{axis}", 0, 9) * (1 + i)
        return value + 10 * trial.suggest_int("f0.SF4.neuron.c", 0, 9) + trial.suggest_int("k", 1, 3)

    study.optimize(objective, n_trials=30)
    values = optuna.importance.get_param_importances(study)
    assert len(values) == 14
    fig = plots.param_importances(values, "accuracy", top=10, label=param_label)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 10 and all(label.startswith(("fault ", "number of")) for label in labels)
    assert "." not in "".join(labels)  # no internal names
    best = max(values, key=values.get)
    assert labels[-1] == param_label(best)  # the most important on top
    assert "top 10 of 14 parameters; 4 less important ones not shown" in fig.axes[0].get_title()
    with pytest.raises(ConfigError, match="top must be a positive int"):
        plots.param_importances(values, "accuracy", top=0)


def test_fault_ids_as_text():
    fid = json.dumps([{"model": "DeadNeuron", "sites": [{"layer": "SF4", "position": [4, 0, 0]}],
                       "timing": {"timing": "Permanent"}}], sort_keys=True)
    assert describe_fault_id(fid) == "dead neuron SF4 (4, 0, 0)"
    two = json.dumps([{"model": "BitFlipSynapse", "bits": [7], "sites": [{"layer": "SF3", "position": [1, 2, 0, 0]}]},
                      {"model": "SaturatedNeuron", "layer": "SC1", "positions": [[0, 3, 4]],
                       "timing": {"timing": "Window", "t_start": 2, "t_end": 5}}])
    assert describe_fault_id(two) == ("bit flip (bit 7) SF3 (1, 2, 0, 0) + saturated neuron SC1 (0, 3, 4), "
                                      "transient: time bins 2-4 of every sample")
    assert describe_fault_id("not json") == "not json"


def test_html_tables_wrap_and_scroll_inside_the_page():
    wide = pd.DataFrame({f"column {i}": ["x" * 80] for i in range(20)})
    page = to_html(Report("t", [Section("s", tables=[("", wide)])], [], []))
    assert "<div class='table'><table>" in page
    assert ".table{overflow-x:auto" in page and "overflow-wrap:anywhere" in page and "max-width:min(1200px,96vw)" in page


def test_bit_flips_of_one_word_read_as_one_phrase() -> None:
    import pandas as pd

    from analysis.describe import describe_model
    from analysis.stats import merge_bit_flips, run_faults

    specs = [{"model": "BitFlipSynapse", "bits": [b]} for b in (7, 0, 1, 2, 3, 5)]
    words = [describe_model(s) for s in specs] + ["dead synapse (weight 0)",
                                                  describe_model({"model": "FloatBitFlipSynapse", "bits": [30]})]
    merged = merge_bit_flips(words)
    assert merged == ["bit flips of bits 0-3, 5, 7 of the quantized weight code (one bit per fault)",
                      "dead synapse (weight 0)", "bit flip of bit 30 of the float32 weight"]
    assert merge_bit_flips(words[-2:]) == words[-2:]
    rounds = pd.DataFrame({"layer": ["SF1"] * 8, "faults": [
        json.dumps([{"layer": "SF1", "model": "BitFlipSynapse", "bits": [b], "positions": [[0, b]]}]) for b in range(8)]})
    assert run_faults(rounds)["faults"] == "bit flips of bits 0-7 of the quantized weight code (one bit per fault)"
