"""The bounded background chunk writer: back-pressure, errors reaching the engine's thread, drain
with a time limit, and a SIGKILL while the writer is behind (nothing lost or duplicated)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from experiments import campaign as entry
from experiments.chunk_writer import ChunkWriter
from experiments.tracked_campaign import writer_queue
from spikefi.errors import ConfigError

from .conftest import runs_of, start_entry, steps, write_campaign_config


def test_submit_blocks_when_full_and_drain_waits_for_durable_writes():
    gate = threading.Event()
    written: list[int] = []

    def write(i: int) -> None:
        gate.wait(10)
        written.append(i)

    waits: list[int] = []
    writer = ChunkWriter(write, capacity=2, on_wait=waits.append)
    for i in range(3):  # one being written, two queued
        writer.submit(i)
    blocked = threading.Thread(target=writer.submit, args=(3,))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive() and waits == [2]  # back-pressure: the fourth waits
    assert writer.drain(timeout=0.1) is False and written == []  # nothing durable yet
    assert writer.pending() >= 3
    gate.set()
    blocked.join(5)
    assert writer.drain(timeout=5) is True
    assert written == [0, 1, 2, 3] and writer.pending() == 0 and writer.blocked_s > 0
    writer.close()


def test_a_write_error_reaches_the_engine_thread_and_later_chunks_are_not_written():
    written: list[int] = []

    def write(i: int) -> None:
        if i == 1:
            raise OSError("disk full (simulated)")
        written.append(i)

    writer = ChunkWriter(write, capacity=4)
    writer.submit(0)
    writer.submit(1)
    writer.submit(2)
    with pytest.raises(OSError, match="disk full"):
        writer.drain()
    with pytest.raises(OSError, match="disk full"):
        writer.submit(3)
    assert written == [0]  # nothing after the failed chunk counts as done
    writer.close()


def test_capacity_and_writer_queue_are_checked():
    with pytest.raises(ValueError, match="capacity"):
        ChunkWriter(lambda: None, capacity=0)
    assert writer_queue({}) == 4 and writer_queue({"tracking": {"writer_queue": 0}}) == 0
    with pytest.raises(ConfigError, match="writer_queue"):
        writer_queue({"tracking": {"writer_queue": "lots"}})


def _run_until(proc, markers: list[str], timeout: float = 180.0) -> list[str]:
    """Reads the process's lines until every marker has appeared (in any order)."""
    lines: list[str] = []
    left = set(markers)
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while left and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"process ended before {sorted(left)}:\n{''.join(lines)}")
        lines.append(line)
        left = {m for m in left if m not in line}
    assert not left, f"no {sorted(left)} within {timeout} s:\n{''.join(lines)}"
    return lines


@pytest.mark.parametrize("sink", ["mlflow", "local"])
def test_sigkill_while_the_writer_is_behind_then_resume_loses_and_duplicates_nothing(
        sink, store, tmp_path, capsys, reference_table):
    config = write_campaign_config(tmp_path / "campaign.yaml", tmp_path / "out")
    args = ["--config", str(config), "--no-progress", "--set", "tracking.writer_queue=2"]
    if sink == "local":
        args += ["--sink", "local", "--sink-dir", str(tmp_path / "runs")]
    # the writer holds after chunk 1's rows are durable; the engine goes on until 2 more
    # chunks wait in the queue and the next one has to wait (back-pressure): then SIGKILL
    proc = start_entry(["experiments.campaign", *args], store, tmp_path, SPIKEFI_TEST_HOLD_AFTER_CHUNK="1:rows")
    try:
        _run_until(proc, ["holding after chunk 1", "computing waits for it (back-pressure)"])
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        assert proc.stdout is not None
        proc.stdout.close()
    folder = tmp_path / ("runs" if sink == "local" else "out")
    (run_dir,) = [p for p in folder.iterdir() if p.is_dir()]
    chunks = sorted(p.name for p in (run_dir / "progress" / "chunks").glob("rounds-*.parquet"))
    assert chunks == ["rounds-000000-000001.parquet"]  # only the durable chunk is on disk
    capsys.readouterr()
    assert entry.main(args) == 0
    printed = capsys.readouterr().out
    assert "2 of 10 rounds already done, computing 8" in printed
    table = pd.read_parquet(run_dir / "results" / "rounds.parquet")
    pd.testing.assert_frame_equal(table, reference_table)  # nothing lost, nothing twice
    chunk_rounds = [int(r) for p in (run_dir / "progress" / "chunks").glob("rounds-*.parquet")
                    for r in pd.read_parquet(p)["round_id"]]
    assert sorted(chunk_rounds) == list(range(10))
    if sink == "mlflow":
        (run,) = runs_of(store)
        assert run.info.status == "FINISHED" and run.data.tags["spikefi.attempts"] == "2"
        client = MlflowClient(store)
        history = [m.step for m in client.get_metric_history(run.info.run_id, "round_acc")]
        assert sorted(history) == list(range(10))  # every point once
        assert steps(client, run.info.run_id, "round_critical") == list(range(10))
    else:
        assert runs_of(store) == []  # no tracking store was touched
        record = json.loads((run_dir / "run.json").read_text())
        assert record["status"] == "FINISHED" and record["attempts"] == 2 and record["rounds_done"] == 10
        # the report reads the local run's folder
        from experiments import report as report_entry

        assert report_entry.main(["--from-results", str(run_dir), "--output-dir", str(tmp_path / "rep")]) == 0
        assert "dead-SF4" in (tmp_path / "rep" / "report.md").read_text()


@pytest.mark.parametrize("extra, message", [
    (["--sink", "local"], "tracking.sink local needs a folder"),
    (["--sink", "local", "--sink-dir", "runs", "--shard", "0/2"], "need the MLflow sink"),
    (["--set", "tracking.sink=elsewhere"], "tracking.sink must be one of mlflow, local"),
])
def test_bad_sink_options_are_one_line_errors(store, small_config, capsys, extra, message):
    assert entry.main(["--config", str(small_config), "--no-progress", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert runs_of(store) == []
