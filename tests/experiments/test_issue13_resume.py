"""Issue 13, items 5-7: a finished campaign is not run again; a chunk file whose embedded JSON
is corrupt, or whose values were changed, is never reused on resume — it is recovered from
the run's artifact copy when that one is intact, else its rounds are recomputed."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.tracking import MlflowClient

from experiments import campaign as entry
from experiments import sink_base
from experiments.artifacts import CHUNKS_DIR, load_run_result, read_chunk

from .conftest import runs_of


def test_a_finished_campaign_is_not_run_again(store, small_config, capsys):
    assert entry.main(["--config", str(small_config), "--no-progress"]) == 0
    (run,) = runs_of(store)
    capsys.readouterr()
    assert entry.main(["--config", str(small_config), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"already done: run {run.info.run_id}" in out
    assert "flushed chunk" not in out
    assert [r.info.run_id for r in runs_of(store)] == [run.info.run_id]
    assert MlflowClient(store).get_run(run.info.run_id).data.tags["spikefi.attempts"] == "1"  # untouched
    assert entry.main(["--config", str(small_config), "--no-progress", "--resume", "never"]) == 0
    assert len(runs_of(store)) == 2  # --resume never still forces a new run


def _interrupt_after_second_chunk(monkeypatch, config):
    real = sink_base._test_hold

    def hold(n, stage):
        if n == 2 and stage == "metrics":
            raise KeyboardInterrupt
        real(n, stage)

    monkeypatch.setattr(sink_base, "_test_hold", hold)
    assert entry.main(["--config", str(config), "--no-progress"]) == 130
    monkeypatch.setattr(sink_base, "_test_hold", real)


def _chunks(tmp_path: Path, run_id: str) -> list[Path]:
    return sorted((tmp_path / "out" / run_id / CHUNKS_DIR).glob("rounds-*.parquet"))


def _artifact_chunk(client: MlflowClient, run_id: str, name: str) -> Path:
    uri = client.get_run(run_id).info.artifact_uri
    return Path(unquote(urlparse(uri).path)) / CHUNKS_DIR / name


def _rewrite(path: Path, *, meta: bytes | None = None, accuracy: float | None = None) -> None:
    """Valid Parquet again: with other embedded JSON, or other accuracy values (metadata kept)."""
    table = pq.read_table(path)
    if accuracy is not None:
        i = table.schema.get_field_index("accuracy")
        table = table.set_column(i, table.schema.field(i), pa.array([accuracy] * table.num_rows, pa.float64()))
    if meta is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"spikefi.chunk": meta})
    pq.write_table(table, path)


def test_a_chunk_with_corrupt_embedded_json_is_recovered(store, small_config, tmp_path, monkeypatch, capsys,
                                                         reference_table):
    _interrupt_after_second_chunk(monkeypatch, small_config)
    (run,) = runs_of(store)
    first = _chunks(tmp_path, run.info.run_id)[0]
    _rewrite(first, meta=b'{"chunk_index": 0, "round_ids": [0, 1')  # truncated JSON, valid Parquet
    assert read_chunk(first) is None
    capsys.readouterr()
    assert entry.main(["--config", str(small_config), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "replaced by the run's artifact copy" in out
    assert "4 of 10 rounds already done, computing 6" in out
    client = MlflowClient(store)
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    pd.testing.assert_frame_equal(load_run_result(run.info.run_id, client, tmp_path / "dl").table, reference_table)
    assert json.loads(pq.read_schema(first).metadata[b"spikefi.chunk"])["round_ids"] == [0, 1]


def test_tampered_chunk_values_are_never_reused(store, small_config, tmp_path, monkeypatch, capsys, reference_table):
    _interrupt_after_second_chunk(monkeypatch, small_config)
    (run,) = runs_of(store)
    run_id = run.info.run_id
    client = MlflowClient(store)
    first, second = _chunks(tmp_path, run_id)
    _rewrite(first, accuracy=0.0)  # local copy changed: the artifact is intact
    _rewrite(second, accuracy=0.0)
    _rewrite(_artifact_chunk(client, run_id, second.name), accuracy=0.0)  # both copies changed
    assert read_chunk(first) is None and read_chunk(second) is None  # checksum mismatch
    capsys.readouterr()
    assert entry.main(["--config", str(small_config), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "checksum" in out
    assert "2 of 10 rounds already done, computing 8" in out  # rounds 2-3 recomputed
    table = load_run_result(run_id, client, tmp_path / "dl").table
    pd.testing.assert_frame_equal(table, reference_table)
    history = {m.step: m.value for m in client.get_metric_history(run_id, "round_acc")}
    assert [history[i] for i in range(10)] == list(table["accuracy"])  # table and metric history agree
