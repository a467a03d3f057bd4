"""Kill and resume: SIGKILL a real campaign subprocess right after chunk k is flushed, find
the run it left RUNNING, resume it, and compare with an uninterrupted run."""

from __future__ import annotations

import os
import signal

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from experiments import campaign as entry
from experiments import campaign_run as cr
from experiments.artifacts import CHUNKS_DIR, load_run_result, read_chunk

from .conftest import runs_of, start_entry, steps, wait_for_line


@pytest.mark.parametrize("stage, resume_args", [
    ("metrics", []),                # chunk 2 fully flushed; automatic resume by config hash
    ("rows", ["--resume", "RUN"]),  # killed between chunk 2's rows and its metric points; explicit id
])
def test_sigkill_after_chunk_then_resume_continues_the_original_run(store, small_config, tmp_path, capsys,
                                                                    reference_table, stage, resume_args):
    proc = start_entry(["experiments.campaign", "--config", str(small_config), "--no-progress"], store, tmp_path,
                       SPIKEFI_TEST_HOLD_AFTER_CHUNK=f"2:{stage}")
    try:
        wait_for_line(proc, "holding after chunk 2")
        if stage == "metrics":  # while it is alive: not marked stale, and not resumed by anyone else
            (run,) = runs_of(store)
            assert entry.main(["--config", str(small_config), "--mark-stale"]) == 0
            assert MlflowClient(store).get_run(run.info.run_id).info.status == "RUNNING"
            assert entry.main(["--config", str(small_config), "--no-progress"]) == 2
            assert "already running as run" in capsys.readouterr().err
            assert entry.main(["--config", str(small_config), "--resume", run.info.run_id, "--no-progress"]) == 2
            assert "still running" in capsys.readouterr().err
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    (run,) = runs_of(store)
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"  # what a kill leaves behind ...
    client = MlflowClient(store)
    assert steps(client, run_id, "round_acc") == ([0, 1, 2, 3] if stage == "metrics" else [0, 1])

    assert entry.main(["--config", str(small_config), "--mark-stale"]) == 0  # ... is found and marked
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    reason = run.data.tags["spikefi.status_reason"]
    assert "stopped without finishing" in reason and f"--resume {run_id}" in reason
    assert f"{4 if stage == 'metrics' else 2}/10 rounds flushed" in reason

    capsys.readouterr()
    args = [run_id if a == "RUN" else a for a in resume_args]
    assert entry.main(["--config", str(small_config), "--no-progress", *args]) == 0
    assert "4 of 10 rounds already done, computing 6" in capsys.readouterr().out

    runs = runs_of(store)
    assert [r.info.run_id for r in runs] == [run_id]  # the ORIGINAL run, no second one
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["spikefi.attempts"] == "2"
    # exactly the remaining rounds ran in the second attempt
    local = tmp_path / "out" / run_id / CHUNKS_DIR
    by_attempt: dict[int, list[int]] = {}
    for path in local.glob("rounds-*.parquet"):
        rows, info = read_chunk(path)
        by_attempt.setdefault(info["attempt"], []).extend(rows["round_id"].tolist())
    assert sorted(by_attempt[1]) == [0, 1, 2, 3] and sorted(by_attempt[2]) == [4, 5, 6, 7, 8, 9]
    assert len(client.list_artifacts(run_id, CHUNKS_DIR)) == 5
    # no duplicate metric point, none missing
    for key in cr.ROUND_METRICS:
        assert steps(client, run_id, key) == list(range(10))
    for key in ("golden.accuracy", "crit_rate", "duration_s"):
        assert steps(client, run_id, key) == [0]
    # the final table equals an uninterrupted run's
    result = load_run_result(run_id, client, tmp_path / "dl")
    pd.testing.assert_frame_equal(result.table, reference_table)
    assert run.data.metrics["crit_rate"] == pytest.approx((reference_table["critical"] > 0).mean())
