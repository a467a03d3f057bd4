"""What both campaign sinks share: the run's local folder of chunk files.

Every sink keeps each finished chunk as an atomically written, checksummed Parquet file in
``<local dir>/progress/chunks/`` (``experiments/artifacts.py``); a chunk is durable once that
file is renamed into place and the sink's store has it (:meth:`FolderSink._publish_chunk`).
:class:`FolderSink` writes chunks (directly or through its bounded background writer), reads
them back, compacts them, and leaves the store-specific steps to its subclasses.

Fast chunks are coalesced (``flush_every_s``): a finished chunk is handed to the writer at
once when the last hand-off is at least ``flush_every_s`` seconds old (the first chunk always
is), else it waits in memory with the chunks after it, and they are written together as one
file with one ``log_batch``. Every flush has a fixed cost (an fsync'd Parquet file, an artifact
copy, sqlite commits); coalescing pays it about once per ``flush_every_s`` however short the
chunks are. A chunk still waiting is not durable: a kill loses at most the last
``flush_every_s`` seconds of rounds (plus the writer's queue), which a resume recomputes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import artifacts as art
from .chunk_flush import _test_hold
from .chunk_writer import DEFAULT_CAPACITY, ChunkWriter
from .run_lookup import say

__all__ = ["FolderSink", "DEFAULT_COMPACT_EVERY", "DEFAULT_FLUSH_EVERY_S", "FLUSH_MAX_ROWS", "merge_infos"]

#: chunks of an attempt merged into one file during the run, by default
DEFAULT_COMPACT_EVERY = 64
#: a tracked campaign's default ``tracking.flush_every_s``: at most about one flush per this many
#: seconds (chunks finished in between are written together)
DEFAULT_FLUSH_EVERY_S = 5.0
#: coalesced chunks are handed off once they hold this many rows, however young the last flush
FLUSH_MAX_ROWS = 16384


def merge_infos(infos: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The chunk info of chunks written together (coalesced): their round ids and compute
    seconds summed, the first chunk's index, the last one's finish time."""
    if len(infos) == 1:
        return dict(infos[0])
    first, last = infos[0], infos[-1]
    out = {**dict(last), "chunk_index": first.get("chunk_index", 0),
           "round_ids": [int(r) for i in infos for r in (i.get("round_ids") or [])],
           "seconds": float(sum(float(i.get("seconds", 0.0)) for i in infos)),
           "attempt_started": first.get("attempt_started", last.get("attempt_started")),
           "finished_at": max(float(i.get("finished_at", 0.0)) for i in infos), "coalesced": len(infos)}
    return out


class FolderSink:
    """Base of :class:`~experiments.mlflow_sink.MlflowSink` and
    :class:`~experiments.local_sink.LocalSink` (see :mod:`experiments.sink` for the contract).

    Args:
        root: the folder holding the runs' local folders (``root/<run id>/``).
        writer_capacity: chunks the background writer (:mod:`experiments.chunk_writer`) may
            hold before the engine waits; 0 writes each chunk synchronously in
            :meth:`write_chunk`.
        compact_every: every this many chunks of an attempt, their files are merged into one
            (:meth:`compact`; 0 or 1: never), so a run of C chunks keeps about C / N files
            locally and in its store, and a resume lists and checks that many.
        flush_every_s: coalesce chunks that finish within this many seconds of the last
            hand-off into one write (see the module docstring; 0: write every chunk by itself).
    """

    name = "folder"

    def __init__(self, root: str | Path, *, writer_capacity: int = DEFAULT_CAPACITY,
                 compact_every: int = DEFAULT_COMPACT_EVERY, flush_every_s: float = 0.0) -> None:
        self.root = Path(root)
        self.flush_every_s = float(flush_every_s)
        #: finished chunks waiting to be handed off together (rows, info), and their row count
        self._held: list[tuple[list[Mapping[str, Any]], Mapping[str, Any]]] = []
        self._held_rows = 0
        self._rounds_total = 0
        self._last_handoff: float | None = None
        self.writer_capacity = int(writer_capacity)
        self.compact_every = int(compact_every)
        self._writer: ChunkWriter | None = None
        self._fresh: list[Path] = []
        self._last_path: Path | None = None
        self.run_id: str | None = None
        self.offline_reason: str | None = None
        self.attempt = 1
        #: chunks made durable by this attempt, and rounds done in all (durable)
        self.flushed = 0
        self.done_count = 0
        self.max_chunk_s = 0.0
        #: round ids whose per-round points the store keeps (None: every round)
        self.selected: set[int] | None = None

    # -- the run's folder ------------------------------------------------------------------
    @property
    def local_dir(self) -> Path:
        return self.root / str(self.run_id)

    @property
    def chunks_dir(self) -> Path:
        return self.local_dir / art.CHUNKS_DIR

    def plan(self, selected: set[int] | None) -> None:
        self.selected = selected

    # -- chunks ----------------------------------------------------------------------------
    def write_chunk(self, rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any], rounds_total: int) -> None:
        """Takes a finished chunk: handed to the writer now, or held to be written with the
        chunks after it (``flush_every_s``; :meth:`drain` hands off what is held)."""
        self._held.append((list(rows), info))
        self._held_rows += len(rows)
        self._rounds_total = rounds_total
        now = time.monotonic()
        if (self.flush_every_s <= 0 or self._last_handoff is None or now - self._last_handoff >= self.flush_every_s
                or self._held_rows >= FLUSH_MAX_ROWS):
            self._hand_off()

    def _hand_off(self) -> None:
        """Writes the held chunks as one (directly, or through the background writer)."""
        if not self._held:
            return
        held, self._held, self._held_rows = self._held, [], 0
        self._last_handoff = time.monotonic()
        rows = held[0][0] if len(held) == 1 else [r for chunk_rows, _ in held for r in chunk_rows]
        info = merge_infos([i for _, i in held])
        if self.writer_capacity <= 0:
            self._write_now(rows, info, self._rounds_total)
            return
        if self._writer is None:
            self._writer = ChunkWriter(self._write_now, self.writer_capacity, on_wait=self._behind)
        self._writer.submit(rows, info, self._rounds_total)

    @staticmethod
    def _behind(capacity: int) -> None:
        say(f"the chunk writer is {capacity} chunk(s) behind: computing waits for it (back-pressure)")

    def drain(self, timeout: float | None = None) -> bool:
        """Hands off the held chunks; True once every accepted chunk is durable (False:
        ``timeout`` passed first)."""
        self._hand_off()
        return True if self._writer is None else self._writer.drain(timeout)

    def pending(self) -> int:
        """Chunks accepted but not durable yet (held, queued or being written; chunks
        coalesced into one write count once)."""
        return len(self._held) + (0 if self._writer is None else self._writer.pending())

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _write_now(self, rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any], rounds_total: int) -> None:
        """Makes one chunk durable: its file, then the store's copy, then progress and heartbeat."""
        if self.run_id is None:
            raise RuntimeError("the campaign run has not been created yet")
        rows = list(rows)
        path = art.write_chunk(self.chunks_dir, rows, info)
        self._last_path = path
        self._publish_chunk(path)
        self.flushed += 1
        self.done_count += len(rows)
        _test_hold(self.flushed, "rows")
        now = time.time()
        self.max_chunk_s = max(self.max_chunk_s, float(info.get("seconds", 0.0)))
        self._record_progress(rows, now)
        ids = [int(r["round_id"]) for r in rows]
        say(f"flushed chunk {self.flushed} (rounds {min(ids)}-{max(ids)}, {float(info.get('seconds', 0.0)):.1f} s; "
            f"{self.done_count}/{rounds_total} rounds done)")
        _test_hold(self.flushed, "metrics")
        self._maybe_compact()

    # -- compaction ------------------------------------------------------------------------
    def _maybe_compact(self) -> None:
        """Every ``compact_every`` chunks of this attempt, their files become one (bounded
        chunk artifacts: a resume lists and checks a few files, not thousands)."""
        if self.compact_every < 2:
            return
        self._fresh.append(self._last_path)
        if len(self._fresh) >= self.compact_every:
            self.compact(self._fresh)
            self._fresh = []

    def compact(self, paths: Sequence[Path] | None = None) -> Path | None:
        """Merges chunk files (default: every chunk file of the run) into one, written and
        published before the merged ones are removed, so a kill at any point leaves every
        round in at least one sound file (rows are read back once per round). Returns the
        merged file (None when there was nothing to merge)."""
        paths = sorted(self.chunks_dir.glob("rounds-*.parquet")) if paths is None else list(dict.fromkeys(paths))
        reads = [(p, art.read_chunk(p)) for p in paths]
        reads = [(p, r) for p, r in reads if r is not None]
        if len(reads) < 2:
            return None
        table = pd.concat([r[0] for _, r in reads], ignore_index=True).drop_duplicates("round_id")
        table = table.sort_values("round_id", kind="stable").reset_index(drop=True)
        infos = [r[1] for _, r in reads]
        spans: dict[float, float] = {}
        for i in infos:
            for start, end in i.get("spans") or [[i.get("attempt_started", 0.0), i.get("finished_at", 0.0)]]:
                spans[float(start)] = max(spans.get(float(start), float(start)), float(end))
        info = {"compacted": len(reads), "seconds": float(sum(float(i.get("seconds", 0.0)) for i in infos)),
                "samples": infos[0].get("samples"), "attempt": max(int(i.get("attempt", 1)) for i in infos),
                "attempt_started": min(spans), "finished_at": max(spans.values()),
                "spans": sorted([s, e] for s, e in spans.items()),
                "chunk_index": min(int(i.get("chunk_index", 0)) for i in infos)}
        merged = art.write_chunk(self.chunks_dir, table.to_dict("records"), info)
        self._publish_chunk(merged)
        gone = [p for p, _ in reads if p != merged]
        for p in gone:
            p.unlink(missing_ok=True)
        self._unpublish_chunks([p.name for p in gone])
        return merged

    def _unpublish_chunks(self, names: Sequence[str]) -> None:
        """Removes the store's copies of merged chunk files (nothing for a folder alone)."""

    def _publish_chunk(self, path: Path) -> None:
        """The store's copy of a chunk file (nothing for a folder alone)."""

    def _record_progress(self, rows: Sequence[Mapping[str, Any]], now: float) -> None:
        """Per-round points, heartbeat and rounds done after a durable chunk."""

    def local_chunks(self, wanted: set[int]) -> dict[int, dict[str, Any]]:
        """The rows of the sound chunk files of the local folder (rounds in ``wanted``, each
        once); a damaged file is removed with a warning (its rounds are recomputed)."""
        done: dict[int, dict[str, Any]] = {}
        for path in sorted(self.chunks_dir.glob("rounds-*.parquet")):
            read, problem = art.check_chunk(path)
            if read is None:
                say(f"WARNING: {path}: {problem}{self._also_damaged(path)}; its rounds are recomputed")
                path.unlink()
                continue
            rows, _ = read
            self._chunk_seen(path)
            for row in rows.to_dict("records"):
                if int(row["round_id"]) in wanted:
                    done.setdefault(int(row["round_id"]), row)
        return done

    def _also_damaged(self, path: Path) -> str:
        return ""

    def _chunk_seen(self, path: Path) -> None:
        """A sound local chunk file found at resume (the MLflow sink uploads it when missing)."""

    def read_table(self, wanted: set[int]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        frames, infos = [], []
        for path in sorted(self.chunks_dir.glob("rounds-*.parquet")):
            read = art.read_chunk(path)
            if read is None:
                continue
            frames.append(read[0])
            infos.append(read[1])
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if len(table):
            table = table[table["round_id"].isin(wanted)].drop_duplicates("round_id")
            table = table.sort_values("round_id", kind="stable").reset_index(drop=True)
        return table, infos
