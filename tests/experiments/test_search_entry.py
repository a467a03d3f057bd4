"""experiments.search against real sqlite MLflow stores and real Optuna storages: what a
search logs, nested trial runs, two worker processes sharing one journal-file study, bad input."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pandas as pd
import yaml
from mlflow.tracking import MlflowClient

from experiments import search as entry

from .conftest import REPO, entry_env

SEARCH = {
    "name": "worst-SF3",
    "network": {"pretrained": "digits_cnn"},
    "data": {"name": "spiking_digits", "seed": 0, "max_samples": 24},
    "options": {"seed": 0, "batch_size": 24, "chunk_size": 16},
    "space": {"k": 2, "layers": ["SF3"], "models": ["DeadNeuron", "SaturatedNeuron"]},
    "objective": "accuracy",
    "sampler": {"name": "tpe", "seed": 0, "options": {"n_startup_trials": 4}},
    "pruner": {"name": "median", "first_stage": 0.5, "options": {"n_startup_trials": 3}},
    "trials": 8,
    "batch": 4,
}


def write_config(tmp_path, **updates):
    search = {**SEARCH, **updates}
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump({"search": search, "output_dir": str(tmp_path / "out"),
                                    "tracking": {"experiment": "spikefi-search"}}, sort_keys=False))
    return path


def search_runs(uri):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("spikefi-search")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("spikefi.kind") == "search"]
    trials = [r for r in runs if r.data.tags.get("spikefi.kind") == "search-trial"]
    return client, parents, trials


def test_a_search_logs_parent_nested_trials_plots_and_the_study(store, tmp_path, capsys):
    config = write_config(tmp_path)
    assert entry.main(["--config", str(config), "--no-progress"]) == 0
    out = capsys.readouterr().out
    client, (parent,), trials = search_runs(store)
    assert parent.info.status == "FINISHED"
    assert len(trials) == 8
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parent.info.run_id}
    assert sorted(int(r.data.tags["optuna.trial"]) for r in trials) == list(range(8))
    storage = f"sqlite:///{tmp_path / 'out' / 'optuna.db'}"
    assert parent.data.params["storage"] == storage == parent.data.tags["spikefi.optuna_storage"]
    assert parent.data.params["objective"] == "accuracy" and parent.data.params["sampler"] == "tpe"
    study = optuna.load_study(study_name="worst-SF3", storage=storage)
    assert len(study.trials) == 8
    # every trial run holds its fault set and its study values
    by_number = {t.number: t for t in study.trials}
    for r in trials:
        t = by_number[int(r.data.tags["optuna.trial"])]
        assert r.data.tags["optuna.state"] == t.state.name
        assert r.data.params["faults"] == t.user_attrs["faults"]
        key = "partial_accuracy" if t.state.name == "PRUNED" else "accuracy"  # first-stage numbers apart
        assert r.data.metrics[key] == t.user_attrs[key]
        assert r.data.tags["spikefi.faults"] == t.user_attrs["description"]
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    m = parent.data.metrics
    assert m["trials_complete"] == len(complete) and m["trials_total"] == 8
    assert m["best_accuracy"] == min(t.values[0] for t in complete) == study.best_value
    history = client.get_metric_history(parent.info.run_id, "best_value")
    assert len(history) == len(complete) and history[-1].value == study.best_value
    arts = {a.path for a in client.list_artifacts(parent.info.run_id, "search")}
    for name in ("trials.parquet", "trials.csv", "best_faults.csv", "best_faults.md", "optimization_history.png",
                 "param_importances.png", "space.yaml", "search_config.yaml"):
        assert f"search/{name}" in arts, name
    local = client.download_artifacts(parent.info.run_id, "search/best_faults.csv", str(tmp_path / "dl"))
    best = pd.read_csv(local)
    assert best.iloc[0]["accuracy"] == study.best_value
    assert study.best_trial.user_attrs["description"] in out and "optuna-dashboard" in out


def test_two_workers_share_one_journal_study_without_lost_or_duplicated_trials(store, tmp_path):
    journal = tmp_path / "study.log"
    config = write_config(tmp_path, trials=6, batch=3, pruner={"name": "none"})
    procs = [subprocess.Popen([sys.executable, "-m", "experiments.search", "--config", str(config), "--no-progress",
                               "--worker", str(w), "--set", f"search.study.storage=journal:{journal}"],
                              cwd=tmp_path, env=entry_env(store), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for w in (0, 1)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    from spikefi.search.study import open_storage

    study = optuna.load_study(study_name="worst-SF3", storage=open_storage(f"journal:{journal}"))
    assert sorted(t.number for t in study.trials) == list(range(12))
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    _, parents, trials = search_runs(store)
    assert len(parents) == 2 and {p.data.params["sampler_seed"] for p in parents} == {"0", "1"}
    numbers = [int(r.data.tags["optuna.trial"]) for r in trials]
    assert sorted(numbers) == list(range(12))  # each trial logged once, by the worker that ran it
    for p in parents:
        kids = [r for r in trials if r.data.tags["mlflow.parentRunId"] == p.info.run_id]
        assert len(kids) == 6


def test_trials_of_a_killed_worker_are_failed_by_the_next_one(store, tmp_path, capsys):
    """SIGKILL a worker while a batch is in flight: its trials stay RUNNING in the study
    until the next worker of this host starts, which marks them FAIL before its own."""
    import os
    import signal
    import time

    from spikefi.search.study import WORKER_ATTR, open_storage

    journal = tmp_path / "study.log"
    config = write_config(tmp_path, trials=2000, batch=16, pruner={"name": "none"},
                          data={**SEARCH["data"], "max_samples": 120})
    storage_url = f"journal:{journal}"
    running: list[int] = []
    for _attempt in range(3):  # a kill may land between two batches: try again
        proc = subprocess.Popen([sys.executable, "-m", "experiments.search", "--config", str(config), "--no-progress",
                                 "--no-mlflow", "--set", f"search.study.storage={storage_url}"],
                                cwd=tmp_path, env=entry_env(store), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 300
            while time.time() < deadline and proc.poll() is None:
                try:
                    study = optuna.load_study(study_name="worst-SF3", storage=open_storage(storage_url))
                except KeyError:  # not created yet
                    study = None
                live = study.get_trials(states=(optuna.trial.TrialState.RUNNING,)) if study is not None else []
                mine = [t for t in live if t.user_attrs.get(WORKER_ATTR, {}).get("pid") == proc.pid]
                if len(mine) == 16:  # a whole batch in flight, every trial tagged with its worker
                    break
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
        study = optuna.load_study(study_name="worst-SF3", storage=open_storage(storage_url))
        running = [t.number for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,))]
        if running:
            break
    assert running, "the worker was never caught with a batch in flight"
    assert entry.main(["--config", str(config), "--no-progress", "--no-mlflow", "--set", f"search.study.storage={storage_url}",
                       "--set", "search.trials=2", "--set", "search.batch=2"]) == 0
    out = capsys.readouterr().out
    assert f"marked {len(running)} RUNNING trial(s) of the study FAIL (their worker process is gone): {running}" in out
    study = optuna.load_study(study_name="worst-SF3", storage=open_storage(storage_url))
    states = {t.number: t.state.name for t in study.trials}
    assert "RUNNING" not in states.values()
    assert all(states[n] == "FAIL" for n in running)
    assert sum(s == "COMPLETE" for s in states.values()) >= 2


def test_bad_input_fails_before_any_work(store, tmp_path, capsys):
    bad_storage = write_config(tmp_path)
    assert entry.main(["--config", str(bad_storage), "--set", "search.study.storage=sqlite:////no/such/dir/s.db"]) == 2
    assert "cannot open storage 'sqlite:////no/such/dir/s.db'" in capsys.readouterr().err
    assert entry.main(["--config", str(bad_storage), "--set", "search.space.layers=[SC9]"]) == 2
    assert "unknown layer 'SC9'" in capsys.readouterr().err
    assert entry.main(["--config", str(bad_storage), "--set", "search.space.k=65"]) == 2
    assert "k=65 is larger than the 64 distinct sites" in capsys.readouterr().err
    assert entry.main(["--config", str(bad_storage), "--set", "search.sampler.name=cmaes",
                       "--set", "search.objective=pareto", "--set", "search.pruner.name=none"]) == 2
    assert "cmaes sampler optimizes one objective" in capsys.readouterr().err
    assert entry.main(["--config", str(bad_storage), "--set", "search.trials=0"]) == 2
    assert "search.trials must be an int >= 1" in capsys.readouterr().err
    _, parents, trials = search_runs(store) if MlflowClient(store).get_experiment_by_name("spikefi-search") \
        else (None, [], [])
    assert parents == [] and trials == []


def test_search_and_testgen_are_mlflow_project_entry_points():
    project = yaml.safe_load((REPO / "MLproject").read_text())
    assert "python -m experiments.search" in project["entry_points"]["search"]["command"]
    assert "python -m experiments.testgen" in project["entry_points"]["testgen"]["command"]
    from experiments import cli

    assert {"search", "testgen"} <= set(cli.ENTRY_POINTS)
