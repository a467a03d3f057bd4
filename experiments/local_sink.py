"""The local-folder campaign sink: resumable campaign runs without any tracking store.

Selected with ``tracking: {sink: local, dir: PATH}`` in a campaign config, or ``--sink local
--sink-dir PATH``. Each run is a folder ``PATH/<run id>/`` holding the same files as an MLflow
run's local folder (``experiments/artifacts.py``: ``campaign/``, ``golden/``,
``progress/chunks/``, ``results/``, ``spikes/``, ``plots/``, ``manifest.json``) plus
``run.json``: the run's identity (kind, config hash, name), status and reason, attempts, owner
process and heartbeat, rounds done, the ``round_metrics`` mode, params and summary metrics.
``run.json`` is replaced atomically (write, fsync, rename) on every change.

The same command resumes a run from the folder by config hash, as with MLflow; a finished run
is not computed again. ``analysis.load_results(["PATH/<run id>"])`` and ``python -m
experiments.report --from-results PATH/<run id>`` read the results.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from analysis.schema import SUMMARY_METRICS
from spikefi.campaign.result import CampaignResult
from spikefi.errors import ConfigError

from . import artifacts as art
from .chunk_flush import write_setup_files
from .chunk_writer import DEFAULT_CAPACITY
from .run_lookup import DEFAULT_STALE_AFTER_S, say
from .sink import FINISHED, RUNNING, SetupInfo, SinkRun
from .sink_base import DEFAULT_COMPACT_EVERY, FolderSink
from .tracking import process_identity, process_state

__all__ = ["LocalSink", "RUN_FILE"]

RUN_FILE = "run.json"


class LocalSink(FolderSink):
    """Records campaign runs as folders under ``directory`` (see the module docstring)."""

    name = "local"

    def __init__(self, directory: str | Path, *, stale_after_s: float = DEFAULT_STALE_AFTER_S,
                 writer_capacity: int = DEFAULT_CAPACITY, compact_every: int = DEFAULT_COMPACT_EVERY,
                 flush_every_s: float = 0.0) -> None:
        super().__init__(directory, writer_capacity=writer_capacity, compact_every=compact_every,
                         flush_every_s=flush_every_s)
        self.stale_after_s = stale_after_s
        self._lock = threading.Lock()

    # -- run.json --------------------------------------------------------------------------
    def _record_path(self, run_id: str) -> Path:
        return self.root / run_id / RUN_FILE

    def _read(self, run_id: str) -> dict[str, Any] | None:
        path = self._record_path(run_id)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _update(self, **changes: Any) -> dict[str, Any]:
        with self._lock:
            data = self._read(str(self.run_id)) or {}
            for key, value in changes.items():
                if isinstance(value, dict) and isinstance(data.get(key), dict):
                    data[key] = {**data[key], **value}
                else:
                    data[key] = value
            art.write_json(self._record_path(str(self.run_id)), data)
            return data

    @staticmethod
    def _as_sink_run(data: Mapping[str, Any], folder: Path) -> SinkRun:
        return SinkRun(run_id=str(data["run_id"]), status=str(data.get("status", RUNNING)),
                       attempts=int(data.get("attempts", 1)), name=str(data.get("name", "")),
                       round_metrics=data.get("round_metrics"), metrics=dict(data.get("metrics") or {}),
                       local_dir=str(folder.resolve()), reason=str(data.get("status_reason", "")))

    def _alive(self, data: Mapping[str, Any]) -> bool:
        """Whether a RUNNING run's owner still runs (this machine: the process; elsewhere: a
        heartbeat younger than ``max(stale_after_s, 3 x the longest chunk)``)."""
        state = process_state(str(data.get("process", "")))
        if state is not None:
            return state
        age = time.time() - float(data.get("heartbeat", 0.0))
        return age <= max(self.stale_after_s, 3 * float(data.get("heartbeat_interval_s", 0.0)))

    def _owned_elsewhere(self, data: Mapping[str, Any]) -> bool:
        return data.get("status") == RUNNING and data.get("process") != process_identity() and self._alive(data)

    def runs(self) -> list[dict[str, Any]]:
        """Every run record of the folder, oldest first."""
        out = []
        for path in sorted(self.root.glob(f"*/{RUN_FILE}")) if self.root.is_dir() else []:
            data = self._read(path.parent.name)
            if data is not None and data.get("run_id") == path.parent.name:
                out.append(data)
        return sorted(out, key=lambda d: (float(d.get("created", 0.0)), str(d["run_id"])))

    # -- identity --------------------------------------------------------------------------
    def find(self, kind: str, config_hash: str, resume: str, *, shard: str | None = None,
             spec_data: Mapping[str, Any] | None = None) -> SinkRun | None:
        if resume not in ("auto", "never"):
            data = self._read(resume)
            if data is None:
                raise ConfigError(f"--resume {resume}: no such run in {self.root}")
            if data.get("kind") != kind:
                raise ConfigError(f"--resume {resume}: that run is a {data.get('kind')} run, not a {kind} run")
            if data.get("config_hash") != config_hash:
                raise ConfigError(f"--resume {resume}: that run belongs to another campaign ({data.get('name')!r}, "
                                  f"config hash {data.get('config_hash')}); this config hashes to {config_hash}")
            if self._owned_elsewhere(data):
                raise ConfigError(f"--resume {resume}: the run is still running (process {data.get('process')})")
            self.run_id = resume
            return self._as_sink_run(data, self.root / resume)
        if resume == "never":
            return None
        runs = [d for d in self.runs() if d.get("kind") == kind and d.get("config_hash") == config_hash
                and d.get("shard") == shard]
        live = [d for d in runs if d.get("status") == RUNNING and self._alive(d)]
        if live:
            raise ConfigError(f"this campaign is already running as run {live[-1]['run_id']} (process "
                              f"{live[-1].get('process')}); wait for it, or pass --resume never to start a separate run")
        finished = [d for d in runs if d.get("status") == FINISHED]
        chosen = finished[-1] if finished else (runs[-1] if runs else None)
        if chosen is None:
            return None
        self.run_id = str(chosen["run_id"])
        return self._as_sink_run(chosen, self.root / self.run_id)

    def create(self, *, name: str, kind: str, config_hash: str, round_metrics: str,
               shard: str | None = None) -> SinkRun:
        self.run_id = uuid.uuid4().hex
        now = time.time()
        self._update(run_id=self.run_id, name=name if not shard else f"{name} [shard {shard}]", kind=kind,
                     config_hash=config_hash, shard=shard, status=RUNNING, status_reason="running", attempts=1,
                     process=process_identity(), heartbeat=now, created=now, round_metrics=round_metrics,
                     artifact_schema_version=art.ARTIFACT_SCHEMA_VERSION, params={}, metrics={})
        return SinkRun(run_id=self.run_id, status=RUNNING, name=name, round_metrics=round_metrics,
                       local_dir=str(self.local_dir.resolve()))

    def claim(self, run: SinkRun, *, attempt: int, rounds_total: int, campaign_rounds: int, resumed: bool,
              shard: tuple[int, int] | None = None) -> None:
        self.run_id = run.run_id
        self.attempt = attempt
        self._update(status=RUNNING, attempts=attempt, process=process_identity(), heartbeat=time.time(),
                     rounds_total=rounds_total, campaign_rounds=campaign_rounds, local_dir=str(self.local_dir.resolve()),
                     status_reason="running" if not resumed else f"resumed (attempt {attempt})")

    def setup(self, make: Callable[[], SetupInfo]) -> None:
        data = self._read(str(self.run_id)) or {}
        if data.get("setup_done"):
            return
        info = make()
        write_setup_files(self.local_dir, info.spec, info.config, info.spec_data, info.golden,
                          {k: v for k, v in info.params.items() if k.startswith("network.digest")})
        self._update(params=dict(info.params), tags=dict(info.tags), metrics=dict(info.golden_metrics),
                     setup_done=True)

    # -- chunks ----------------------------------------------------------------------------
    def done_rows(self, wanted: set[int]) -> dict[int, dict[str, Any]]:
        self.chunks_dir.mkdir(parents=True, exist_ok=True)
        done = self.local_chunks(wanted)
        self.done_count = len(done)
        return done

    def _record_progress(self, rows: Sequence[Mapping[str, Any]], now: float) -> None:
        self._update(heartbeat=now, heartbeat_interval_s=round(self.max_chunk_s, 1), rounds_done=self.done_count)

    def heartbeat(self) -> None:
        self._update(heartbeat=time.time())

    # -- end -------------------------------------------------------------------------------
    def finish(self, summary: Mapping[str, Any], extra: Mapping[str, float], table: Any, mode: Any,
               description: str) -> None:
        (self.local_dir / "description.md").write_text(description + "\n")
        metrics = {name: float(summary[k]) for k, name in SUMMARY_METRICS.items() if k in summary}
        metrics.update({k: float(v) for k, v in extra.items()})
        self._update(metrics=metrics, rounds_done=int(summary["rounds"]), status=FINISHED, status_reason="finished",
                     finished=time.time())

    def fail(self, status: str, reason: str) -> None:
        if self.run_id is None:
            return
        try:
            self._update(status=status, status_reason=reason[:5000], finished=time.time())
        except OSError:
            pass
        say(f"run {self.run_id} marked {status}: {reason}")

    def status(self, run_id: str) -> tuple[str, str]:
        data = self._read(run_id)
        if data is None:
            raise ConfigError(f"no run {run_id} in {self.root}")
        return str(data.get("status")), str(data.get("status_reason", ""))

    def read_result(self, run_id: str) -> CampaignResult:
        folder = self.root / run_id / "results"
        if not (folder / "meta.json").is_file():
            raise ConfigError(f"run {run_id} in {self.root} holds no results (status {self.status(run_id)[0]})")
        return CampaignResult.load(folder)
