"""Chunk files' rows checksum: version 2 (column by column, what ``write_chunk`` writes now)
catches changed values; chunks written with version 1 (no ``rows_digest`` key) still verify."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from experiments.artifacts import ROWS_DIGEST_VERSION, check_chunk, rows_digest, write_chunk

ROWS = [{"round_id": i, "layer": "SF4", "accuracy": 0.5 + i / 100, "critical": i % 3, "faults": "[]"}
        for i in range(6)]


def _with_info(path, info: dict) -> None:
    table = pq.read_table(path)
    meta = {**(table.schema.metadata or {}), b"spikefi.chunk": json.dumps(info).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


def test_version_2_checksum_is_written_and_checked(tmp_path):
    path = write_chunk(tmp_path, ROWS, {"chunk_index": 0})
    (rows, info), problem = check_chunk(path)
    assert problem == "" and info["rows_digest"] == ROWS_DIGEST_VERSION == 2
    assert list(rows["round_id"]) == list(range(6))
    table = pq.read_table(path)
    assert rows_digest(table, 1) != rows_digest(table, 2)
    changed = table.set_column(2, "accuracy", pa.array([0.0] * 6))
    pq.write_table(changed.replace_schema_metadata(table.schema.metadata), path)
    assert "do not match their sha256 checksum" in check_chunk(path)[1]


def test_version_1_chunks_still_verify_and_unknown_versions_are_refused(tmp_path):
    path = write_chunk(tmp_path, ROWS, {"chunk_index": 0})
    table = pq.read_table(path)
    _with_info(path, {"chunk_index": 0, "rows_sha256": rows_digest(table, 1)})  # as spikefi wrote it before
    assert check_chunk(path)[1] == ""
    _with_info(path, {"chunk_index": 0, "rows_sha256": rows_digest(table, 2)})  # v2 value without its version
    assert "checksum" in check_chunk(path)[1]
    _with_info(path, {"chunk_index": 0, "rows_sha256": rows_digest(table, 2), "rows_digest": 9})
    assert "unknown kind" in check_chunk(path)[1]
