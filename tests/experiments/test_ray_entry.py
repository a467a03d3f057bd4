"""Tracked campaigns and searches on Ray (local Ray, CPU actors) through the entry points:
SIGKILL of the driver then the same command continues the original MLflow run; two search
workers as Ray tasks share one journal-file study; bad Ray options fail before any run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from experiments import campaign as entry
from experiments import campaign_run as cr

from .conftest import REPO, entry_env, runs_of, start_entry, steps, wait_for_line
from .test_search_entry import search_runs, write_config

pytest.importorskip("ray", reason="the Ray entry-point tests need spikefi[ray]")

RAY = ["--executor", "ray", "--workers", "2", "--gpus-per-worker", "0"]


def test_sigkill_of_a_ray_campaign_driver_then_the_same_command_continues_the_run(store, small_config, tmp_path,
                                                                                  reference_table):
    args = ["experiments.campaign", "--config", str(small_config), "--no-progress", *RAY]
    proc = start_entry(args, store, tmp_path, SPIKEFI_TEST_HOLD_AFTER_CHUNK="2:metrics")
    try:
        wait_for_line(proc, "holding after chunk 2")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    (run,) = runs_of(store)
    run_id = run.info.run_id
    assert run.data.params["executor"] == "ray" and run.data.params["executor.workers"] == "2"
    client = MlflowClient(store)
    done_before = steps(client, run_id, next(iter(cr.ROUND_METRICS)))
    assert len(done_before) >= 4  # chunks of 2 rounds; at least chunks 1 and 2 flushed (completion order)

    again = subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=entry_env(store), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"resuming run {run_id}" in again.stdout
    runs = runs_of(store)
    assert [r.info.run_id for r in runs] == [run_id]  # the original run, no second one
    assert client.get_run(run_id).info.status == "FINISHED"
    for key in cr.ROUND_METRICS:  # no duplicate metric step, none missing
        assert steps(client, run_id, key) == list(range(10))
    table = pd.read_parquet(tmp_path / "out" / run_id / "results" / "rounds.parquet")
    cols = [c for c in reference_table if c != "param"]
    pd.testing.assert_frame_equal(table[cols], reference_table[cols])


def test_two_search_workers_as_ray_tasks_share_one_journal_study(store, tmp_path):
    journal = tmp_path / "study.log"
    config = write_config(tmp_path, trials=3, batch=3, pruner={"name": "none"})
    out = subprocess.run([sys.executable, "-m", "experiments.search", "--config", str(config), "--no-progress",
                          "--set", f"search.study.storage=journal:{journal}", *RAY], cwd=tmp_path, env=entry_env(store),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    from spikefi.search.study import open_storage

    study = optuna.load_study(study_name="worst-SF3", storage=open_storage(f"journal:{journal}"))
    assert sorted(t.number for t in study.trials) == list(range(6))  # none lost, none doubled
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    _, parents, trials = search_runs(store)
    assert len(parents) == 2 and {p.data.params["sampler_seed"] for p in parents} == {"0", "1"}
    assert sorted(int(r.data.tags["optuna.trial"]) for r in trials) == list(range(6))  # each logged once


@pytest.mark.parametrize("extra, message", [
    (["--executor", "ray", "--workers", "0"], "--workers must be >= 1"),
    (["--executor", "ray", "--gpus-per-worker", "2"], "--gpus-per-worker must be in [0, 1]"),
    (["--executor", "ray", "--workers", "1", "--gpus-per-worker", "1"], "GPU(s), the Ray cluster has 0"),
    (["--executor", "ray", "--address", "127.0.0.1:1"], "cannot reach Ray at '127.0.0.1:1'"),
    (["--workers", "2"], "--workers is a Ray option: add --executor ray"),
])
def test_bad_ray_options_fail_before_any_run(store, small_config, capsys, extra, message):
    assert entry.main(["--config", str(small_config), "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert runs_of(store) == []


def test_executor_ray_without_ray_installed_names_the_fix(store, small_config, tmp_path):
    fake = tmp_path / "noray"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = entry_env(store)
    env["PYTHONPATH"] = f"{fake}{os.pathsep}{REPO}"
    out = subprocess.run([sys.executable, "-m", "experiments.campaign", "--config", str(small_config), *RAY],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "pip install 'spikefi[ray]'" in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert runs_of(store) == []
