"""A Ray campaign whose node is lost ends cleanly (local Ray, CPU actors): the raylet of the
local Ray is SIGKILLed mid-campaign (after the 2nd chunk result, by the driver-side test hook),
the entry point prints one line of ours, exits 4 and marks the run FAILED with the reason;
a rerun then resumes the run and computes only the missing rounds, each once. (The rerun is the
same command without Ray, in this process, to keep the test short: the executor is no part of a
run's identity, and test_ray_entry resumes a Ray run with Ray.)"""

from __future__ import annotations

import subprocess
import sys
import time

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from analysis.schema import TAG_STATUS_REASON
from experiments import campaign as entry
from experiments import campaign_run as cr
from experiments.run_lookup import EXIT_EXECUTOR_LOST
from spikefi.campaign.executors.ray.health import KILL_HOOK_ENV

from .conftest import entry_env, runs_of, steps
from .test_ray_lifecycle import _children, _gone_within

pytest.importorskip("ray", reason="the Ray tests need spikefi[ray]")

RAY = ["--executor", "ray", "--workers", "1", "--gpus-per-worker", "0"]


def test_a_lost_raylet_fails_the_run_with_one_line_and_a_rerun_resumes_it(store, small_config, tmp_path, capsys):
    t0 = time.perf_counter()
    args = [sys.executable, "-u", "-m", "experiments.campaign", "--config", str(small_config), "--no-progress", *RAY]
    err_path = tmp_path / "stderr.txt"
    with err_path.open("w") as err:
        proc = subprocess.Popen(args, cwd=tmp_path, env=entry_env(store, **{KILL_HOOK_ENV: "2:raylet"}),
                                stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)
        out, ray_procs = [], {}
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.append(line)
                if not ray_procs and line.startswith("[spikefi] run "):  # Ray is up: its processes to watch
                    ray_procs = {p: c for p, c in _children(proc.pid).items() if "ray" in c or "gcs_server" in c}
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    stdout, stderr = "".join(out), err_path.read_text()
    assert code == EXIT_EXECUTOR_LOST == 4, stdout + stderr
    ours = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(ours) == 1 and "Ray lost the local Ray's raylet" in ours[0] and "killed by signal 9" in ours[0], stderr
    assert "Traceback" not in stderr + stdout

    (run,) = runs_of(store)
    run_id = run.info.run_id
    assert run.info.status == "FAILED"
    reason = run.data.tags[TAG_STATUS_REASON]
    assert reason.startswith("ExecutorLostError: Ray lost the local Ray's raylet") and f"resumes run {run_id}" in reason
    assert run_id in ours[0]
    client = MlflowClient(store)
    done = steps(client, run_id, next(iter(cr.ROUND_METRICS)))
    assert len(done) >= 4 and len(done) < 10, done  # the two chunks delivered before the kill are durable
    # the local Ray this driver started went down with it (the guard)
    assert ray_procs and any("raylet" in c for c in ray_procs.values())
    assert _gone_within(list(ray_procs), 20) == []

    t1 = time.perf_counter()
    capsys.readouterr()
    assert entry.main(["--config", str(small_config), "--no-progress"]) == 0
    again = capsys.readouterr().out
    assert f"resuming run {run_id} (attempt 2): {len(done)} of 10 rounds already done" in again
    assert [r.info.run_id for r in runs_of(store)] == [run_id]  # the original run, no second one
    assert client.get_run(run_id).info.status == "FINISHED"
    for key in cr.ROUND_METRICS:  # every round exactly once
        assert steps(client, run_id, key) == list(range(10))
    table = pd.read_parquet(tmp_path / "out" / run_id / "results" / "rounds.parquet")
    assert list(table["round_id"]) == list(range(10))
    with capsys.disabled():
        print(f"\nlost-raylet run {t1 - t0:.1f} s, rerun {time.perf_counter() - t1:.1f} s")
