"""Issue 13, item 1: a trial's accuracy drop is its own score's (never the subset accuracy
against the whole set's golden accuracy); a pruned trial's partial numbers go under
distinct names, and tables of best trials hold complete trials only."""

from __future__ import annotations

import math

import optuna

from spikefi.search import FaultSpace
from spikefi.search.evaluate import FaultSetScore
from spikefi.search.study import TrialRecord, create_study, make_sampler, run_search, trials_table


def test_metrics_use_the_scores_own_accuracy_drop():
    # a subset of 16 samples where golden got 14 right and the faulty network 15: the fault
    # helped (drop -0.0625), although the subset accuracy is below the whole set's golden 0.9
    partial = FaultSetScore(samples=16, correct=15, critical=0, changed=1, golden_correct=14, seconds=0.1)
    rec = TrialRecord(3, "PRUNED", {}, [{"model": "DeadNeuron"}], score=partial)
    m = rec.metrics()
    assert math.isclose(m["partial_accuracy_drop"], -0.0625)
    assert math.isclose(m["partial_accuracy"], 15 / 16)
    assert m["partial_samples"] == 16 and m["partial_critical_samples"] == 0
    assert not {"accuracy", "accuracy_drop", "critical_samples", "samples_evaluated"} & set(m)
    full = FaultSetScore(samples=64, correct=50, critical=6, changed=8, golden_correct=56)
    done = TrialRecord(4, "COMPLETE", {}, [{"model": "DeadNeuron"}], values=[50 / 64], score=full).metrics()
    assert math.isclose(done["accuracy_drop"], 6 / 64)  # the score's own drop
    assert not any(k.startswith("partial_") for k in done)


def test_pruned_trials_keep_partial_numbers_apart_in_the_study(staged_evaluator):
    space = FaultSpace(staged_evaluator.netmap.layers, {"k": 1, "layers": ["SF4"], "models": ["DeadNeuron"]},
                       staged_evaluator.steps)
    # prunes every trial whose first-stage accuracy is above -1: all of them
    study = create_study(None, "pruned", "accuracy", make_sampler("random", 0, 1), optuna.pruners.ThresholdPruner(upper=-1))
    records = run_search(study, space, staged_evaluator, "accuracy", n_trials=3, batch=3)
    assert [r.state for r in records] == ["PRUNED"] * 3
    n_first = len(staged_evaluator.stage_samples[0])
    for rec in records:
        m = rec.metrics()
        assert m["partial_samples"] == n_first
        assert math.isclose(m["partial_accuracy_drop"], rec.score.golden_accuracy - rec.score.accuracy)
    table = trials_table(study)
    assert table["accuracy"].isna().all() and table["accuracy_drop"].isna().all()
    assert (table["partial_samples"] == n_first).all()
    assert table["partial_accuracy"].notna().all()
    assert list(table["state"]) == ["PRUNED"] * 3


def test_the_reports_search_table_shows_complete_trials_only():
    import pandas as pd

    from analysis import report
    from analysis.extras import ToolRun

    best = pd.DataFrame({"trial": [0, 1], "state": ["PRUNED", "COMPLETE"], "accuracy": [0.2, 0.5],
                         "accuracy_drop": [0.7, 0.4], "critical_samples": [5, 3], "sites": [1, 1],
                         "description": ["pruned set", "complete set"]})
    run = ToolRun("r", "search-x", "search", {}, {}, {}, tables={"best_faults.csv": best})
    section = report._search_section([run], 10, report._Figures())
    shown = [t[1] if isinstance(t, tuple) else t for t in section.tables[1:]]
    assert len(shown) == 1 and list(shown[0]["trial"]) == [1]
