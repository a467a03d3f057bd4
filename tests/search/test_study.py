"""The search loop on the digits net: real Optuna studies, evaluations checked against
independent campaigns, pruning, seeds, samplers, storages (sqlite and journal files)."""

from __future__ import annotations

import json

import optuna
import pytest

from spikefi.campaign import Campaign
from spikefi.errors import ConfigError
from spikefi.faults import DeadNeuron, Fault, SaturatedNeuron, Site
from spikefi.search import FaultSetEvaluator, FaultSpace
from spikefi.search.study import (
    WORKER_ATTR,
    create_study,
    fail_orphaned_trials,
    make_pruner,
    make_sampler,
    open_storage,
    pareto_table,
    parse_faults,
    run_search,
    trials_table,
    worker_identity,
)

SPACE = {"k": 2, "layers": ["SC2", "SF3"], "models": ["DeadNeuron", "SaturatedNeuron"]}


def test_evaluator_scores_equal_independent_campaigns(digits, evaluator, staged_evaluator):
    net, test = digits
    sets = [[Fault(SaturatedNeuron(), Site("SF3", (5, 0, 0)))],
            [Fault(DeadNeuron(), Site("SC2", (3, 2, 2))), Fault(SaturatedNeuron(), Site("SF3", (40, 0, 0)))],
            []]
    ref = Campaign(net, test, max_samples=32, batch_size=32)
    for fs in sets:
        ref.then_inject(fs)
    table = ref.run("naive", progress=False).table
    for ev in (evaluator, staged_evaluator):
        scores = ev.evaluate(sets)
        assert [s.samples for s in scores] == [32, 32, 32]
        assert [s.accuracy for s in scores] == pytest.approx(table["accuracy"].tolist(), abs=0)
        assert [s.critical for s in scores] == table["critical"].tolist()
        assert [s.changed for s in scores] == table["changed"].tolist()
    assert scores[0].accuracy < evaluator.golden_accuracy  # a saturated SF3 neuron does hurt
    assert scores[2].accuracy_drop == 0 and scores[2].critical == 0
    assert sorted(sum(staged_evaluator.stage_samples, [])) == list(range(32))
    assert len(staged_evaluator.stage_samples[0]) == 8


def test_search_records_and_study_agree_with_direct_evaluation(evaluator):
    space = FaultSpace(evaluator.netmap.layers, SPACE, evaluator.steps)
    study = create_study(None, "t", "accuracy", make_sampler("tpe", 0, 1, n_startup_trials=4), None)
    seen = []
    records = run_search(study, space, evaluator, "accuracy", n_trials=10, batch=4, on_trial=seen.append)
    assert [r.number for r in records] == list(range(10)) and seen == records
    assert all(r.state == "COMPLETE" for r in records)
    assert len(study.trials) == 10
    direct = evaluator.evaluate([parse_faults(t.user_attrs["faults"]) for t in study.trials])
    assert [t.values[0] for t in study.trials] == [d.accuracy for d in direct]
    table = trials_table(study)
    assert table["accuracy"].is_monotonic_increasing  # best (lowest accuracy) first
    assert table.iloc[0]["accuracy"] == study.best_value
    assert all(1 <= len(json.loads(f)) <= 2 for f in table["faults"])


def test_same_seed_same_study(evaluator):
    space = FaultSpace(evaluator.netmap.layers, SPACE, evaluator.steps)

    def once(seed):
        study = create_study(None, "s", "accuracy", make_sampler("tpe", seed, 1, n_startup_trials=3), None)
        run_search(study, space, evaluator, "accuracy", n_trials=8, batch=2)
        return [(t.params, t.values) for t in study.trials]

    assert once(7) == once(7)
    assert once(7) != once(8)


def test_pruning_stops_hopeless_trials_after_the_first_stage(staged_evaluator):
    space = FaultSpace(staged_evaluator.netmap.layers, {"k": 1, "layers": ["SF3"], "models": ["DeadNeuron",
                       "SaturatedNeuron"]}, staged_evaluator.steps)
    # prune every trial that changes nothing on the first stage (most dead neurons)
    g0 = staged_evaluator.golden_correct[0] / len(staged_evaluator.stage_samples[0])
    study = create_study(None, "p", "accuracy", make_sampler("random", 0, 1),
                         make_pruner("threshold", 1, upper=g0 - 1e-6))
    records = run_search(study, space, staged_evaluator, "accuracy", n_trials=16, batch=8)
    states = {r.state for r in records}
    assert states == {"PRUNED", "COMPLETE"}
    first = len(staged_evaluator.stage_samples[0])
    for r, t in zip(records, study.trials, strict=True):
        assert t.state.name == r.state
        if r.state == "PRUNED":
            assert r.score.samples == first and r.score.accuracy >= g0
            assert t.intermediate_values == {0: r.score.accuracy}
        else:
            assert r.score.samples == 32 and t.values[0] == r.score.accuracy


def test_critical_and_pareto_objectives(evaluator):
    space = FaultSpace(evaluator.netmap.layers, {"k": {"low": 1, "high": 3}, "layers": ["SF3"],
                       "models": ["DeadNeuron", "SaturatedNeuron"]}, evaluator.steps)
    study = create_study(None, "c", "critical", make_sampler("random", 1, 1), None)
    run_search(study, space, evaluator, "critical", n_trials=6, batch=6)
    assert all(t.values[0] == t.user_attrs["critical_samples"] for t in study.trials)
    pareto = create_study(None, "po", "pareto", make_sampler("nsga2", 0, 2, population_size=6), None)
    run_search(pareto, space, evaluator, "pareto", n_trials=12, batch=6)
    front = pareto_table(pareto)
    assert len(front) >= 1
    for t in pareto.trials:
        assert t.values[1] == t.user_attrs["sites"] == len(json.loads(t.user_attrs["faults"]))
        assert t.values[0] == pytest.approx(t.user_attrs["accuracy_drop"])
    # nothing on the front is dominated by another trial
    for _, r in front.iterrows():
        assert not any(t.values[0] > r["accuracy_drop"] and t.values[1] < r["sites"] for t in pareto.trials)


@pytest.mark.parametrize("sampler", ["cmaes", "gp"])
def test_cmaes_and_gp_samplers_search_a_continuous_space(evaluator, sampler):
    space = FaultSpace(evaluator.netmap.layers, {"k": 1, "layers": ["SF3"], "models": [
        {"model": "ParametricNeuron", "parameter": "theta", "factor": {"low": 0.05, "high": 1.0, "log": True}}]},
        evaluator.steps)
    study = create_study(None, sampler, "accuracy", make_sampler(sampler, 0, 1, n_startup_trials=3), None)
    records = run_search(study, space, evaluator, "accuracy", n_trials=6, batch=2)
    assert [r.state for r in records] == ["COMPLETE"] * 6
    assert all(0.05 <= t.params["f0.ParametricNeuron.factor"] <= 1.0 for t in study.trials)


def test_bad_sampler_pruner_storage_and_loop_arguments(tmp_path, evaluator):
    with pytest.raises(ConfigError, match="unknown sampler 'annealing'"):
        make_sampler("annealing", 0, 1)
    with pytest.raises(ConfigError, match="cmaes sampler optimizes one objective"):
        make_sampler("cmaes", 0, 2)
    with pytest.raises(ConfigError, match="bad options"):
        make_sampler("tpe", 0, 1, no_such_option=3)
    with pytest.raises(ConfigError, match="pruning needs a single objective"):
        make_pruner("median", 2)
    with pytest.raises(ConfigError, match="unknown pruner 'hyper'"):
        make_pruner("hyper", 1)
    with pytest.raises(ConfigError, match="folder .* does not exist"):
        open_storage(f"sqlite:///{tmp_path}/missing/study.db")
    with pytest.raises(ConfigError, match="folder .* does not exist"):
        open_storage(f"journal:{tmp_path}/missing/study.log")
    with pytest.raises(ConfigError, match="give an RDB URL"):
        open_storage("study.db")
    with pytest.raises(ConfigError, match="cannot open storage 'nosuchdialect://x'"):
        open_storage("nosuchdialect://x")
    with pytest.raises(ConfigError, match="unknown objective"):
        create_study(None, "x", "loss", make_sampler("random", 0, 1), None)
    space = FaultSpace(evaluator.netmap.layers, SPACE, evaluator.steps)
    study = create_study(None, "x", "accuracy", make_sampler("random", 0, 1), None)
    with pytest.raises(ConfigError, match="n_trials must be an int >= 1"):
        run_search(study, space, evaluator, "accuracy", n_trials=0)
    with pytest.raises(ConfigError, match="needs 2"):
        run_search(study, space, evaluator, "pareto", n_trials=1)
    with pytest.raises(ConfigError, match="first_stage must be a fraction"):
        FaultSetEvaluator(torch_net(evaluator), (evaluator.campaigns[0].x, evaluator.campaigns[0].y), first_stage=1.5)


def torch_net(evaluator):
    return evaluator.campaigns[0].net


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_studies_persist_and_refuse_another_space(tmp_path, evaluator, kind):
    url = f"sqlite:///{tmp_path}/s.db" if kind == "sqlite" else f"journal:{tmp_path}/s.log"
    space = FaultSpace(evaluator.netmap.layers, SPACE, evaluator.steps)
    ident = {"space": space.to_dict()}
    study = create_study(url, "persist", "accuracy", make_sampler("random", 0, 1), None, ident)
    run_search(study, space, evaluator, "accuracy", n_trials=3, batch=3)
    again = create_study(url, "persist", "accuracy", make_sampler("random", 1, 1), None, ident)
    run_search(again, space, evaluator, "accuracy", n_trials=2, batch=2)
    loaded = optuna.load_study(study_name="persist", storage=open_storage(url))
    assert [t.number for t in loaded.trials] == [0, 1, 2, 3, 4]
    assert all(t.state.name == "COMPLETE" for t in loaded.trials)
    with pytest.raises(ConfigError, match="another search space"):
        create_study(url, "persist", "accuracy", make_sampler("random", 0, 1), None, {"space": "other"})
    with pytest.raises(ConfigError, match="other directions"):
        create_study(url, "persist", "critical", make_sampler("random", 0, 1), None, ident)


def test_an_interrupted_batch_leaves_no_running_trials(evaluator):
    space = FaultSpace(evaluator.netmap.layers, SPACE, evaluator.steps)
    study = create_study(None, "i", "accuracy", make_sampler("random", 0, 1), None)
    calls = []

    def stop(rec):
        calls.append(rec.number)
        if len(calls) == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(study, space, evaluator, "accuracy", n_trials=12, batch=4, on_trial=stop)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE"] * 8  # the second batch was told before the callback stopped the loop


def test_orphaned_running_trials_are_failed_and_live_ones_kept(evaluator):
    """A RUNNING trial whose worker process (on this host) is gone is failed; one of a live
    process, one of another host and one without a worker record are kept, unless every
    RUNNING trial is to be failed."""
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        study = create_study(None, "o", "accuracy", make_sampler("random", 0, 1), None)
        me = worker_identity()
        workers = [{**me, "pid": dead.pid, "token": "a"}, {**me, "pid": live.pid, "token": "b", "start": 0},
                   {**me, "host": me["host"] + "-elsewhere", "pid": dead.pid, "token": "c"}, None]
        for w in workers:
            t = study.ask()
            if w is not None:
                t.set_user_attr(WORKER_ATTR, w)
        space = FaultSpace(evaluator.netmap.layers, SPACE, evaluator.steps)
        run_search(study, space, evaluator, "accuracy", n_trials=2, batch=2)  # finished trials are not touched
        assert fail_orphaned_trials(study) == [0]
        states = {t.number: t.state.name for t in study.trials}
        assert states == {0: "FAIL", 1: "RUNNING", 2: "RUNNING", 3: "RUNNING", 4: "COMPLETE", 5: "COMPLETE"}
        assert study.trials[4].user_attrs[WORKER_ATTR]["pid"] == __import__("os").getpid()
        assert fail_orphaned_trials(study) == []
        assert fail_orphaned_trials(study, all_running=True) == [1, 2, 3]
        assert {t.state.name for t in study.trials[:4]} == {"FAIL"}
    finally:
        live.kill()
        live.wait()


def test_a_reused_pid_or_an_earlier_process_with_my_pid_is_an_orphan():
    """A pid now held by another process (another start time), and a trial recorded under
    this process's pid by an earlier process (another token, e.g. a restarted container),
    are orphans; this process's own trials are not."""
    import os

    from spikefi.search.study import _orphaned

    me = worker_identity()
    assert not _orphaned(me, me)
    assert _orphaned({**me, "token": "earlier"}, me)
    if me["start"]:  # Linux: start times are known
        parent = {**me, "pid": os.getppid(), "token": "x", "start": 1}  # alive, but started at another time
        assert _orphaned(parent, me)
        assert not _orphaned({**parent, "start": 0}, me)  # unknown start time: alive means alive
    assert not _orphaned({**me, "pidns": -1, "pid": 2**22 + 7, "token": "y"}, me)  # another namespace: unknown
