"""Coalesced flushes (``tracking.flush_every_s``): chunks that finish within that many seconds of
the last hand-off are written together as one file with one ``log_batch``; held chunks are not
durable (a kill loses them, a resume recomputes them), drained ones are."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from experiments import campaign as entry
from experiments import sink_base
from experiments.artifacts import CHUNKS_DIR, load_run_result, read_chunk
from experiments.sink_base import FolderSink, merge_infos
from experiments.tracked_campaign import flush_every_s
from spikefi.errors import ConfigError

from .conftest import EXPERIMENT, SMALL_CAMPAIGN, kill_when_held, runs_of, steps


def test_flush_every_s_is_checked():
    assert flush_every_s({}) == 5.0 and flush_every_s({"tracking": {"flush_every_s": 0}}) == 0.0
    assert flush_every_s({"tracking": {"flush_every_s": "2.5"}}) == 2.5
    for bad in (-1, "soon", True, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="flush_every_s"):
            flush_every_s({"tracking": {"flush_every_s": bad}})


def chunk(first: int, n: int = 2, seconds: float = 0.5) -> tuple[list[dict], dict]:
    rows = [{"round_id": r, "accuracy": 0.5 + r / 100} for r in range(first, first + n)]
    info = {"chunk_index": first // n, "round_ids": [r["round_id"] for r in rows], "seconds": seconds,
            "attempt": 1, "attempt_started": 100.0, "finished_at": 100.0 + first}
    return rows, info


def files(sink: FolderSink) -> list[str]:
    return sorted(p.name for p in sink.chunks_dir.glob("rounds-*.parquet"))


@pytest.mark.parametrize("capacity", [0, 2])
def test_chunks_within_the_interval_are_written_as_one(tmp_path: Path, capacity: int):
    sink = FolderSink(tmp_path, writer_capacity=capacity, flush_every_s=3600)
    sink.run_id = "run"
    sink.write_chunk(*chunk(0), rounds_total=8)  # the first chunk goes at once
    assert sink.drain() and files(sink) == ["rounds-000000-000001.parquet"] and sink.flushed == 1
    for first in (2, 4, 6):
        sink.write_chunk(*chunk(first), rounds_total=8)
    assert sink.pending() == 3 and sink.flushed == 1  # held in memory: not durable yet
    assert sink.drain() and sink.pending() == 0 and sink.flushed == 2
    assert files(sink) == ["rounds-000000-000001.parquet", "rounds-000002-000007.parquet"]
    rows, info = read_chunk(sink.chunks_dir / "rounds-000002-000007.parquet")
    assert rows["round_id"].tolist() == [2, 3, 4, 5, 6, 7]
    assert info["round_ids"] == [2, 3, 4, 5, 6, 7] and info["coalesced"] == 3 and info["chunk_index"] == 1
    assert info["seconds"] == pytest.approx(1.5) and info["finished_at"] == 106.0
    table, _ = sink.read_table(set(range(8)))
    assert table["round_id"].tolist() == list(range(8))
    sink.close()


def test_a_zero_interval_writes_every_chunk_and_an_old_flush_lets_the_next_go(tmp_path: Path):
    sink = FolderSink(tmp_path / "a", writer_capacity=0, flush_every_s=0)
    sink.run_id = "run"
    for first in (0, 2, 4):
        sink.write_chunk(*chunk(first), rounds_total=6)
        assert sink.pending() == 0
    assert len(files(sink)) == 3
    sink = FolderSink(tmp_path / "b", writer_capacity=0, flush_every_s=0.05)
    sink.run_id = "run"
    sink.write_chunk(*chunk(0), rounds_total=6)
    time.sleep(0.1)
    sink.write_chunk(*chunk(2), rounds_total=6)  # the last hand-off is older than the interval
    sink.write_chunk(*chunk(4), rounds_total=6)  # ... and now it is not
    assert files(sink) == ["rounds-000000-000001.parquet", "rounds-000002-000003.parquet"] and sink.pending() == 1


def test_held_rows_are_bounded(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sink_base, "FLUSH_MAX_ROWS", 5)
    sink = FolderSink(tmp_path, writer_capacity=0, flush_every_s=3600)
    sink.run_id = "run"
    for first in (0, 2, 4):
        sink.write_chunk(*chunk(first), rounds_total=6)
    assert files(sink) == ["rounds-000000-000001.parquet"] and sink.pending() == 2
    sink.write_chunk(*chunk(6), rounds_total=8)  # 6 rows held: past the cap, handed off
    assert files(sink) == ["rounds-000000-000001.parquet", "rounds-000002-000007.parquet"] and sink.pending() == 0


def test_merge_infos_keeps_a_single_chunk_as_it_is():
    _, info = chunk(0)
    assert merge_infos([info]) == info


@pytest.mark.parametrize("hold, done_before", [
    ("1:metrics", [0, 1]),  # the chunks held in memory die with the process: recomputed
    ("2:rows", list(range(10))),  # the coalesced write of rounds 2-9 is durable: nothing to recompute
])
def test_kill_with_coalesced_chunks_then_resume(store, tmp_path, capsys, reference_table, hold, done_before):
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump({"campaign": SMALL_CAMPAIGN, "output_dir": str(tmp_path / "out"),
                                      "tracking": {"experiment": EXPERIMENT, "flush_every_s": 600}}, sort_keys=False))
    kill_when_held(["experiments.campaign", "--config", str(config), "--no-progress"], store, tmp_path, hold)
    (run,) = runs_of(store)
    run_id = run.info.run_id
    local = tmp_path / "out" / run_id / CHUNKS_DIR
    assert sorted(int(r) for p in local.glob("rounds-*.parquet") for r in read_chunk(p)[0]["round_id"]) == done_before
    capsys.readouterr()
    assert entry.main(["--config", str(config), "--no-progress"]) == 0
    assert f"{len(done_before)} of 10 rounds already done, computing {10 - len(done_before)}" in capsys.readouterr().out
    client = MlflowClient(store)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["spikefi.attempts"] == "2"
    assert steps(client, run_id, "round_acc") == list(range(10))  # none missing, none twice
    result = load_run_result(run_id, client, tmp_path / "dl")
    pd.testing.assert_frame_equal(result.table, reference_table)
