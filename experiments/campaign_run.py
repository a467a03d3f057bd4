"""A fault-injection campaign as one resumable MLflow run.

:class:`TrackedCampaign` builds a campaign from a :class:`~spikefi.campaign.CampaignSpec`,
creates (or resumes) its run and evaluates it chunk by chunk. Each finished chunk is
flushed before the next one starts, in this order:

1. its rows are written atomically to ``<output_dir>/<run id>/progress/chunks/`` (local);
2. that file is logged as an artifact under ``progress/chunks/``;
3. its metric points (step = round id) and a heartbeat go out in one ``log_batch``.

A resume (``--resume RUN_ID``, or automatic by config hash, shard and parent) reads the
finished rounds back from the local folder and the run's artifacts, uploads what only
exists locally, logs only the metric points that are missing, and evaluates only the
remaining rounds — in the ORIGINAL run. If the tracking server fails mid-campaign the
computation goes on, everything stays in the local folder, and a later ``--resume``
uploads it without recomputing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from spikefi.campaign import CampaignResult, CampaignSpec
from spikefi.campaign.result import RESULT_SCHEMA_VERSION
from spikefi.errors import ConfigError, SpikeFIError

from . import artifacts as art
from .config import config_hash
from .tracking import common_tags, process_identity, process_state

__all__ = [
    "TrackedCampaign", "campaign_hash", "mark_stale_runs", "select_run", "merge_shards", "Terminated",
    "TrackingLostError", "install_signal_handlers", "ROUND_METRICS", "KIND_CAMPAIGN", "KIND_SHARD",
    "KIND_SHARDED", "KIND_SWEEP", "KIND_LAUNCHER",
]

KIND_CAMPAIGN = "campaign"
KIND_SHARD = "shard"
KIND_SHARDED = "sharded-campaign"
KIND_SWEEP = "sweep"
KIND_LAUNCHER = "launcher"

#: per-round metric histories (step = round id) and the table column each comes from
ROUND_METRICS = {
    "fault.accuracy": "accuracy",
    "fault.critical_samples": "critical",
    "fault.changed_samples": "changed",
}
SUMMARY_METRICS = {
    "rounds": "rounds", "critical_faults": "critical_faults", "critical_fault_rate": "critical_fault_rate",
    "critical_fault_rate_low": "critical_fault_rate.ci_low", "critical_fault_rate_high": "critical_fault_rate.ci_high",
    "accuracy_min": "accuracy.min", "accuracy_mean": "accuracy.mean", "accuracy_q05": "accuracy.q05",
    "accuracy_q50": "accuracy.q50", "accuracy_q95": "accuracy.q95", "mean_accuracy_drop": "mean_accuracy_drop",
}
#: a RUNNING run of another machine without heartbeat for this long counts as stale
DEFAULT_STALE_AFTER_S = 1800.0

T = "spikefi."


class Terminated(BaseException):
    """SIGTERM (e.g. a Kubernetes pod eviction) while a run is in progress."""


class TrackingLostError(SpikeFIError, ConnectionError):
    """The tracking server failed mid-campaign; results are complete in the local folder."""


def install_signal_handlers() -> None:
    def on_term(signum: int, frame: Any) -> None:
        raise Terminated(f"terminated by signal {signum}")

    signal.signal(signal.SIGTERM, on_term)


def say(message: str) -> None:
    print(f"[spikefi] {message}", flush=True)


# -- hashing --------------------------------------------------------------------------------
def network_digest(network: Mapping[str, Any]) -> str:
    """sha256 (16 hex) of the network file a spec names (pretrained or path)."""
    from spikefi.zoo import pretrained_path

    path = pretrained_path(network["pretrained"]) if "pretrained" in network else Path(network["path"])
    if not Path(path).is_file():
        raise ConfigError(f"network file not found: {str(path)!r}")
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def hashed_spec(spec: CampaignSpec) -> dict[str, Any]:
    """What the config hash covers: the spec without its name and chunk size, plus the
    network file's digest (results never depend on chunking; a renamed campaign is the same)."""
    data = spec.to_dict()
    data.pop("name", None)
    data["options"].pop("chunk_size", None)
    data["network_sha256"] = network_digest(spec.network)
    return data


def campaign_hash(spec: CampaignSpec) -> str:
    return config_hash(hashed_spec(spec))


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): data}


# -- run lookup -----------------------------------------------------------------------------
def run_liveness(run: Any, stale_after_s: float = DEFAULT_STALE_AFTER_S, now: float | None = None) -> str:
    """'alive', 'dead' or 'unknown' for a RUNNING run that records its owner process."""
    tags = run.data.tags
    owner = tags.get(T + "process")
    if not owner:
        return "unknown"
    state = process_state(owner)
    if state is not None:
        return "alive" if state else "dead"
    beat = float(tags.get(T + "heartbeat", run.info.start_time / 1000))
    interval = float(tags.get(T + "heartbeat_interval_s", 0) or 0)
    age = (now or time.time()) - beat
    return "dead" if age > max(stale_after_s, 3 * interval) else "alive"


def mark_stale_runs(client: MlflowClient, experiment_ids: Sequence[str],
                    stale_after_s: float = DEFAULT_STALE_AFTER_S) -> list[tuple[str, str]]:
    """Marks RUNNING spikefi runs whose process is gone as KILLED, with the reason in the
    ``spikefi.status_reason`` tag; returns ``[(run id, reason)]``.

    A run's owner is ``host/pid-namespace:pid:start``: on the same machine the process is
    checked directly; elsewhere a run counts as gone when its heartbeat (updated after each
    chunk) is older than ``max(stale_after_s, 3 x the longest chunk so far)``. A sharded
    parent is marked when no shard runs, some shard is unfinished and one was killed or failed.
    """
    marked: list[tuple[str, str]] = []
    if not experiment_ids:
        return marked
    running = client.search_runs(list(experiment_ids), "attributes.status = 'RUNNING'", max_results=5000)
    now = time.time()
    for run in running:
        tags = run.data.tags
        if not tags.get(T + "process") or tags.get(T + "kind") == KIND_SHARDED:
            continue
        if run_liveness(run, stale_after_s, now) != "dead":
            continue
        beat = tags.get(T + "heartbeat")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(beat))) if beat else "never"
        reason = (f"process {tags[T + 'process']} stopped without finishing (killed or crashed); "
                  f"last heartbeat {when} with {tags.get(T + 'rounds_done', '0')}/{tags.get(T + 'rounds_total', '?')} "
                  f"rounds flushed; resume with --resume {run.info.run_id}")
        _terminate(client, run.info.run_id, RunStatus.KILLED, reason)
        marked.append((run.info.run_id, reason))
    for run in running:
        if run.data.tags.get(T + "kind") != KIND_SHARDED:
            continue
        children = client.search_runs(list(experiment_ids), f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
        if any(c.info.status == "RUNNING" and run_liveness(c, stale_after_s, now) == "alive" for c in children):
            continue
        shards = int(run.data.tags.get(T + "shards", "0"))
        finished = {c.data.tags.get(T + "shard_index") for c in children if c.info.status == "FINISHED"}
        missing = [str(i) for i in range(shards) if str(i) not in finished]
        stopped = [c for c in children if c.info.status in ("KILLED", "FAILED")
                   and c.data.tags.get(T + "shard_index") not in finished]
        if not missing or not stopped:  # shards not started yet are awaited, not a kill
            continue
        reason = (f"shard(s) {', '.join(missing)} of {shards} not finished and none running; run them with "
                  f"--shard i/{shards} (they resume and merge into this run)")
        _terminate(client, run.info.run_id, RunStatus.KILLED, reason)
        marked.append((run.info.run_id, reason))
    return marked


def _terminate(client: MlflowClient, run_id: str, status: int, reason: str) -> None:
    client.set_tag(run_id, T + "status_reason", reason[:5000])
    client.set_terminated(run_id, RunStatus.to_string(status))


def _describe_owner(run: Any) -> str:
    tags = run.data.tags
    return f"process {tags.get(T + 'process', '?')}, heartbeat {time.time() - float(tags.get(T + 'heartbeat', 0)):.0f} s ago"


def select_run(client: MlflowClient, experiment_id: str, kind: str, chash: str, resume: str,
               parent_run_id: str | None = None, shard: str | None = None,
               spec_data: Mapping[str, Any] | None = None) -> Any:
    """The run to continue, or None for a new one.

    ``resume``: a run id, ``"auto"`` (the latest unfinished run with this config hash, kind,
    parent and shard; for a child of a parent also a finished one, which is then skipped) or
    ``"never"``. Raises :class:`ConfigError` for a run of another campaign or one that is
    still running.
    """
    if resume not in ("auto", "never"):
        try:
            run = client.get_run(resume)
        except MlflowException:
            raise ConfigError(f"--resume {resume}: no such run in the tracking store") from None
        if run.info.lifecycle_stage != "active":
            raise ConfigError(f"--resume {resume}: the run is deleted")
        got_kind = run.data.tags.get(T + "kind")
        if got_kind != kind:
            hint = {KIND_SWEEP: "experiments.sweep", KIND_SHARDED: "--shard i/n (its shards resume themselves)",
                    KIND_SHARD: "--shard " + run.data.tags.get(T + "shard", "i/n")}.get(got_kind or "", "")
            raise ConfigError(f"--resume {resume}: that run is a {got_kind or 'non-spikefi'} run, not a {kind} run"
                              + (f"; use {hint}" if hint else ""))
        other = run.data.tags.get(T + "config_hash")
        if other != chash:
            raise ConfigError(f"--resume {resume}: that run belongs to another campaign "
                              f"({run.data.tags.get('mlflow.runName', '?')!r}, config hash {other}); this config hashes to "
                              f"{chash}" + _spec_diff(client, resume, spec_data))
        if shard is not None and run.data.tags.get(T + "shard") != shard:
            raise ConfigError(f"--resume {resume}: that run is shard {run.data.tags.get(T + 'shard')}, not {shard}")
        if run.info.status == "RUNNING" and run_liveness(run) == "alive" \
                and run.data.tags.get(T + "process") != process_identity():
            raise ConfigError(f"--resume {resume}: the run is still running ({_describe_owner(run)})")
        return run
    if resume == "never":
        return None
    query = f"tags.`{T}config_hash` = '{chash}' and tags.`{T}kind` = '{kind}'"
    if parent_run_id:
        query += f" and tags.`mlflow.parentRunId` = '{parent_run_id}'"
    if shard is not None:
        query += f" and tags.`{T}shard` = '{shard}'"
    runs = client.search_runs([experiment_id], query, order_by=["attributes.start_time DESC"], max_results=200)
    if not parent_run_id:
        runs = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    live = [r for r in runs if r.info.status == "RUNNING" and run_liveness(r) == "alive"]
    if live:
        raise ConfigError(f"this campaign is already running as run {live[0].info.run_id} ({_describe_owner(live[0])}); "
                          "wait for it, or pass --resume never to start a separate run")
    if parent_run_id or shard is not None:
        finished = [r for r in runs if r.info.status == "FINISHED"]
        if finished:
            return finished[0]
    unfinished = [r for r in runs if r.info.status != "FINISHED"]
    return unfinished[0] if unfinished else None


def _spec_diff(client: MlflowClient, run_id: str, spec_data: Mapping[str, Any] | None) -> str:
    if spec_data is None:
        return ""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, "campaign/hashed_spec.json", tmp)
            theirs = _flatten(json.loads(Path(path).read_text()))
    except (MlflowException, OSError, ValueError):
        return ""
    ours = _flatten(json.loads(json.dumps(spec_data, default=str)))
    keys = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    if not keys:
        return ""
    shown = "; ".join(f"{k}: run has {theirs.get(k)!r}, config has {ours.get(k)!r}" for k in keys[:5])
    return f" (differences: {shown}{'; ...' if len(keys) > 5 else ''})"


# -- the tracked campaign -------------------------------------------------------------------
class TrackedCampaign:
    """One campaign (or one shard of it) as an MLflow run; see the module docstring.

    Args:
        spec: the campaign.
        config: the experiment config (logged as ``campaign/config.yaml``).
        client, experiment_id: where the run lives.
        output_dir: local folder; the run's files go to ``output_dir/<run id>/``.
        resume: run id, ``"auto"`` or ``"never"`` (see :func:`select_run`).
        parent_run_id: nest the run under this one (sweeps, shards).
        shard: ``(index, count)``: evaluate the rounds with ``round_id % count == index``.
        launcher_run_id: the run ``mlflow run`` created for this process (``MLFLOW_RUN_ID``);
            a new campaign run adopts it, a resumed one tags it as pointing to the original.
    """

    def __init__(self, spec: CampaignSpec, config: Mapping[str, Any], client: MlflowClient, experiment_id: str,
                 output_dir: str | Path, *, resume: str = "auto", parent_run_id: str | None = None,
                 shard: tuple[int, int] | None = None, launcher_run_id: str | None = None, progress: bool = True,
                 stale_after_s: float = DEFAULT_STALE_AFTER_S, heartbeat_runs: Sequence[str] = ()) -> None:
        self.spec = spec
        self.config = dict(config)
        self.client = client
        self.experiment_id = experiment_id
        self.output_dir = Path(output_dir)
        self.resume = resume
        self.parent_run_id = parent_run_id
        self.shard = shard
        self.launcher_run_id = launcher_run_id
        self.progress = progress
        self.stale_after_s = stale_after_s
        self.heartbeat_runs = list(heartbeat_runs)
        self.kind = KIND_SHARD if shard else KIND_CAMPAIGN
        self.spec_data = hashed_spec(spec)
        self.hash = config_hash(self.spec_data)
        self.offline_reason: str | None = None
        self.run_id: str | None = None
        self.attempt = 1
        self.flushed = 0
        self.done_count = 0
        self.max_chunk_s = 0.0
        self.present_steps: dict[str, set[int]] = {}

    @property
    def shard_label(self) -> str | None:
        return f"{self.shard[0]}/{self.shard[1]}" if self.shard else None

    # -- tracking calls that may fail without losing results ------------------------------
    def track(self, what: str, fn: Callable[[], Any]) -> Any:
        if self.offline_reason is not None:
            return None
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - any tracking failure: keep computing locally
            self.offline_reason = f"{what} failed: {type(exc).__name__}: {str(exc)[:300]}"
            say(f"WARNING: MLflow tracking failed ({self.offline_reason}); the campaign goes on and keeps "
                f"every result in {self.local_dir}")
            return None

    @property
    def local_dir(self) -> Path:
        return self.output_dir / str(self.run_id)

    # -- main flow -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Runs (or resumes, or skips when finished) the campaign; returns a summary dict."""
        existing = select_run(self.client, self.experiment_id, self.kind, self.hash, self.resume,
                              self.parent_run_id, self.shard_label, self.spec_data)
        if existing is not None and existing.info.status == "FINISHED":
            self.run_id = existing.info.run_id
            say(f"run {self.run_id} ({existing.data.tags.get('mlflow.runName')}) already finished: nothing to compute")
            self._point_launcher(self.run_id)
            return self._summary_of(existing, resumed=True, computed=[])
        t_start = time.time()
        cmpn = self.spec.build()
        golden = cmpn.golden()
        rounds = cmpn.rounds
        if self.shard:
            rounds = [r for r in rounds if r.round_id % self.shard[1] == self.shard[0]]
        if existing is None:
            self.run_id = self._create_run()
            resumed = False
        else:
            self.run_id = existing.info.run_id
            resumed = True
            self.attempt = int(existing.data.tags.get(T + "attempts", "1")) + 1
            self._point_launcher(self.run_id)
        computed: list[int] = []
        try:
            self._claim(len(rounds), len(cmpn.rounds), resumed)
            run = self.client.get_run(self.run_id)
            if run.data.tags.get(T + "setup_done") != "1":
                self._setup(cmpn, golden, run)
            done = self._collect_done({r.round_id for r in rounds})
            todo = [r for r in rounds if r.round_id not in done]
            self.done_count = len(done)
            if resumed:
                say(f"resuming run {self.run_id} (attempt {self.attempt}): {len(done)} of {len(rounds)} rounds "
                    f"already done, computing {len(todo)}")
            else:
                say(f"run {self.run_id}: {len(rounds)} rounds x {cmpn.num_samples} samples"
                    + (f" (shard {self.shard_label} of {len(cmpn.rounds)} rounds)" if self.shard else ""))
            opts = self.spec.options
            for chunk in cmpn.iter_chunks(opts["engine"], int(opts["chunk_size"]), rounds=todo, progress=self.progress,
                                          early_stop_tolerance=float(opts["early_stop_tolerance"])):
                self._flush(chunk, t_start, len(rounds))
                computed.extend(chunk.round_ids)
            summary = self._finalize(cmpn, {r.round_id for r in rounds}, t_start)
        except Terminated as exc:
            self._fail(RunStatus.KILLED, f"{exc} after {self.flushed} chunk(s) of this attempt; resume with "
                                         f"--resume {self.run_id}")
            raise
        except KeyboardInterrupt:
            self._fail(RunStatus.KILLED, f"interrupted (SIGINT) after {self.flushed} chunk(s) of this attempt; "
                                         f"resume with --resume {self.run_id}")
            raise
        except TrackingLostError:
            raise
        except Exception as exc:
            self._fail(RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
            raise
        summary.update(resumed=resumed, computed=computed)
        return summary

    def _summary_of(self, run: Any, resumed: bool, computed: list[int]) -> dict[str, Any]:
        metrics = dict(run.data.metrics)
        summary = {k: metrics[name] for k, name in SUMMARY_METRICS.items() if name in metrics}
        if "rounds" in summary:
            summary["rounds"] = int(summary["rounds"])
        return {"run_id": run.info.run_id, "name": run.data.tags.get("mlflow.runName"), "status": run.info.status,
                "metrics": metrics, "summary": summary or None, "local_dir": run.data.tags.get(T + "local_dir"),
                "resumed": resumed, "computed": computed, "skipped": True}

    def _create_run(self) -> str:
        # owner, kind and hash from the first moment, so a kill at any point leaves a run that
        # stale marking and automatic resume recognize
        tags = {"mlflow.runName": self.spec.name, T + "kind": self.kind, T + "config_hash": self.hash,
                T + "process": process_identity(), T + "heartbeat": f"{time.time():.3f}", T + "attempts": "1"}
        if self.shard:
            tags["mlflow.runName"] = f"{self.spec.name} [shard {self.shard_label}]"
            tags[T + "shard"] = str(self.shard_label)
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        if self.launcher_run_id and not self.parent_run_id:
            run_id = self.launcher_run_id
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            self.launcher_run_id = None
            return run_id
        return self.client.create_run(self.experiment_id, tags=tags, run_name=tags["mlflow.runName"]).info.run_id

    def _point_launcher(self, target: str) -> None:
        if self.launcher_run_id and self.launcher_run_id != target:
            point_launcher(self.client, self.launcher_run_id, target)
            self.launcher_run_id = None

    def _claim(self, n_rounds: int, n_total: int, resumed: bool) -> None:
        if self.run_id is None:
            raise RuntimeError("the campaign run has not been created yet")
        if resumed:
            self.client.update_run(self.run_id, status="RUNNING")
        tags = {
            T + "process": process_identity(), T + "heartbeat": f"{time.time():.3f}", T + "attempts": str(self.attempt),
            T + "local_dir": str(self.local_dir.resolve()), T + "rounds_total": str(n_rounds),
            T + "status_reason": "running" if not resumed else f"resumed (attempt {self.attempt})",
            **common_tags(self.kind, **{"spikefi.config_hash": self.hash,
                                        "spikefi.artifact_schema": art.ARTIFACT_SCHEMA_VERSION}),
        }
        if self.shard:
            tags.update({T + "shard": self.shard_label, T + "shard_index": str(self.shard[0]),
                         T + "shards": str(self.shard[1]), T + "campaign_rounds": str(n_total)})
        self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        if self.shard and self.parent_run_id:
            parent = self.client.get_run(self.parent_run_id)
            if parent.info.status != "RUNNING":
                self.client.update_run(self.parent_run_id, status="RUNNING")
                self.client.set_tag(self.parent_run_id, T + "status_reason", "shards running")

    def _setup(self, cmpn: Any, golden: Mapping[str, Any], run: Any) -> None:
        """Params, tags, golden baseline, dataset input, spec and golden artifacts (idempotent)."""
        if self.run_id is None:
            raise RuntimeError("the campaign run has not been created yet")
        root = self.local_dir
        params = campaign_params(self.spec, cmpn, self.hash)
        if self.shard:
            params["shard"] = self.shard_label
        present = run.data.params
        new_params = [Param(k, v) for k, v in params.items() if k not in present]
        tags = {T + "campaign_kind": campaign_kind(self.spec)}
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in golden_metrics(golden).items() if k not in run.data.metrics]
        self.track("logging params", lambda: self.client.log_batch(
            self.run_id, metrics=metrics, params=new_params, tags=[RunTag(k, v) for k, v in tags.items()]))
        if not run.inputs.dataset_inputs and self.offline_reason is None:
            try:
                log_dataset_input(self.client, self.run_id, self.spec, cmpn)
            except Exception as exc:  # noqa: BLE001 - metadata only: warn, do not stop tracking
                say(f"WARNING: the dataset input was not logged: {type(exc).__name__}: {str(exc)[:200]}")
        write_setup_files(root, self.spec, self.config, self.spec_data, golden)
        for sub in ("campaign", "golden"):
            self.track(f"uploading {sub}/", lambda sub=sub: self.client.log_artifacts(self.run_id, str(root / sub), sub))
        self.track("tagging", lambda: self.client.set_tag(self.run_id, T + "setup_done", "1"))

    def _collect_done(self, wanted: set[int]) -> set[int]:
        """Round ids already finished (local files and artifacts); makes both sides and the
        metric histories complete for them."""
        if self.run_id is None:
            raise RuntimeError("the campaign run has not been created yet")
        local = self.local_dir / art.CHUNKS_DIR
        local.mkdir(parents=True, exist_ok=True)
        remote = self.track("listing chunks", lambda: {
            Path(f.path).name for f in self.client.list_artifacts(self.run_id, art.CHUNKS_DIR) if not f.is_dir})
        remote = remote or set()
        missing_here = [n for n in remote if art.read_chunk(local / n) is None]
        if missing_here:
            with tempfile.TemporaryDirectory() as tmp:
                got = self.track("downloading chunks", lambda: self.client.download_artifacts(
                    self.run_id, art.CHUNKS_DIR, tmp))
                for name in missing_here if got else []:
                    src = Path(got) / name
                    if src.is_file() and art.read_chunk(src) is not None:
                        shutil.copyfile(src, local / name)
        done: dict[int, dict[str, Any]] = {}
        for path in sorted(local.glob("rounds-*.parquet")):
            read = art.read_chunk(path)
            if read is None:
                say(f"WARNING: {path} is unreadable (torn write); its rounds are recomputed")
                path.unlink()
                continue
            rows, _ = read
            if path.name not in remote:
                self.track("uploading a chunk", lambda path=path: self.client.log_artifact(
                    self.run_id, str(path), art.CHUNKS_DIR))
            for row in rows.to_dict("records"):
                if int(row["round_id"]) in wanted:
                    done.setdefault(int(row["round_id"]), row)
        if done or remote:
            self.present_steps = log_missing_round_metrics(self.client, self.run_id, done, self.track)
        return set(done)

    def _flush(self, chunk: Any, t_start: float, n_rounds: int) -> None:
        """Persists a finished chunk: local file, artifact, then metric points and heartbeat."""
        if self.run_id is None:
            raise RuntimeError("the campaign run has not been created yet")
        info = {"chunk_index": chunk.chunk_index, "round_ids": chunk.round_ids, "seconds": chunk.seconds,
                "samples": chunk.samples, "attempt": self.attempt, "attempt_started": t_start,
                "finished_at": time.time(), "process": process_identity()}
        path = art.write_chunk(self.local_dir / art.CHUNKS_DIR, chunk.rows, info)
        self.track("uploading a chunk", lambda: self.client.log_artifact(self.run_id, str(path), art.CHUNKS_DIR))
        self.flushed += 1
        self.done_count += len(chunk.round_ids)
        _test_hold(self.flushed, "rows")
        now = time.time()
        self.max_chunk_s = max(self.max_chunk_s, chunk.seconds)
        metrics = [m for m in round_metric_points(chunk.rows, int(now * 1000))
                   if m.step not in self.present_steps.get(m.key, ())]  # points an earlier attempt logged
        tags = [RunTag(T + "heartbeat", f"{now:.3f}"), RunTag(T + "heartbeat_interval_s", f"{self.max_chunk_s:.1f}"),
                RunTag(T + "rounds_done", str(self.done_count))]
        self.track("logging metrics", lambda: self.client.log_batch(self.run_id, metrics=metrics, tags=tags))
        for other in self.heartbeat_runs:
            self.track("heartbeat", lambda other=other: self.client.set_tag(other, T + "heartbeat", f"{now:.3f}"))
        say(f"flushed chunk {self.flushed} (rounds {min(chunk.round_ids)}-{max(chunk.round_ids)}, "
            f"{chunk.seconds:.1f} s; {self.done_count}/{n_rounds} rounds done)")
        _test_hold(self.flushed, "metrics")

    def _local_table(self, wanted: set[int]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
        frames, infos = [], []
        for path in sorted((self.local_dir / art.CHUNKS_DIR).glob("rounds-*.parquet")):
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

    def _finalize(self, cmpn: Any, wanted: set[int], t_start: float) -> dict[str, Any]:
        if self.run_id is None:
            raise RuntimeError("the campaign run has not been created yet")
        table, infos = self._local_table(wanted)
        got = set(table["round_id"].astype(int)) if len(table) else set()
        if got != wanted:
            raise RuntimeError(f"internal error: {len(wanted - got)} rounds missing after the campaign")
        compute_s = float(sum(i["seconds"] for i in infos))
        meta = cmpn.metadata(self.spec.options["engine"], compute_s, float(self.spec.options["early_stop_tolerance"]))
        meta.update(rounds=len(table), campaign_rounds=len(cmpn.rounds), shard=self.shard_label, name=self.spec.name,
                    config_hash=self.hash, compute_seconds=compute_s, attempts=self.attempt)
        result = CampaignResult(table, {"schema_version": RESULT_SCHEMA_VERSION, **meta})
        root = self.local_dir
        summary = art.write_results(root, result)
        skipped = art.write_plots(root, table)
        art.write_manifest(root, self.kind, run_id=self.run_id, config_hash=self.hash, skipped_plots=skipped)
        duration = attempts_wall_seconds(infos, t_start)  # build + golden + chunks of every attempt
        extra = {"compute_s": compute_s, "duration_s": duration,
                 "faults_x_samples_per_s": len(table) * cmpn.num_samples / compute_s if compute_s > 0 else 0.0}
        self._publish(root, summary, extra)
        if self.offline_reason is not None:
            raise TrackingLostError(
                f"the campaign finished but MLflow tracking failed ({self.offline_reason}); every result is in "
                f"{root} (table: {root / 'results' / 'rounds.parquet'}). When the server is back, run the same "
                f"command with --resume {self.run_id}: it uploads what is missing and recomputes nothing")
        self.client.set_tag(self.run_id, T + "status_reason", "finished")
        self.client.set_terminated(self.run_id, "FINISHED")
        say(f"run {self.run_id} finished: critical-fault rate {summary['critical_fault_rate']:.4f} "
            f"[{summary['critical_fault_rate_low']:.4f}, {summary['critical_fault_rate_high']:.4f}] over "
            f"{summary['rounds']} rounds; files in {root}")
        out = {"run_id": self.run_id, "name": self.spec.name, "status": "FINISHED", "summary": summary,
               "local_dir": str(root), "table": table, **extra}
        return out

    def _publish(self, root: Path, summary: Mapping[str, Any], extra: Mapping[str, float]) -> None:
        if self.run_id is None:
            raise RuntimeError("the campaign run has not been created yet")
        publish_results(self.client, self.run_id, root, summary, extra, self.track)
        self.track("tagging", lambda: self.client.set_tag(self.run_id, T + "rounds_done", str(summary["rounds"])))

    def _fail(self, status: int, reason: str) -> None:
        if self.run_id is None:
            return
        try:
            _terminate(self.client, self.run_id, status, reason)
        except Exception:  # noqa: BLE001 - the server may be what failed; the reason goes to stderr anyway
            pass
        say(f"run {self.run_id} marked {RunStatus.to_string(status)}: {reason}")


# -- shared helpers -------------------------------------------------------------------------
def _test_hold(n: int, stage: str) -> None:
    """Test hook: ``SPIKEFI_TEST_HOLD_AFTER_CHUNK=N[:rows|metrics]`` stops after the N-th flushed
    chunk (after its rows, or after its metric points too) so a test can SIGKILL the process."""
    spec = os.environ.get("SPIKEFI_TEST_HOLD_AFTER_CHUNK")
    if not spec:
        return
    count, _, where = spec.partition(":")
    if int(count) == n and (where or "metrics") == stage:
        say(f"holding after chunk {n} ({stage} flushed) for the test hook")
        time.sleep(3600)


def attempts_wall_seconds(infos: Sequence[Mapping[str, Any]], current_start: float) -> float:
    """Wall-clock seconds of all attempts: killed ones up to their last flushed chunk."""
    ends: dict[float, float] = {}
    for i in infos:
        start = float(i.get("attempt_started", current_start))
        ends[start] = max(ends.get(start, start), float(i.get("finished_at", start)))
    ends[current_start] = time.time()
    return float(sum(end - start for start, end in ends.items()))


def round_metric_points(rows: Sequence[Mapping[str, Any]], timestamp: int) -> list[Metric]:
    return [Metric(key, float(row[col]), timestamp, int(row["round_id"]))
            for row in rows for key, col in ROUND_METRICS.items()]


def log_missing_round_metrics(client: MlflowClient, run_id: str, rows: Mapping[int, Mapping[str, Any]],
                              track: Callable[[str, Callable[[], Any]], Any]) -> dict[str, set[int]]:
    """Logs the per-round points of ``rows`` that the run's histories lack; returns the steps
    each history holds now."""
    missing: list[Metric] = []
    now = int(time.time() * 1000)
    present: dict[str, set[int]] = {}
    for key, col in ROUND_METRICS.items():
        history = track("reading metric history", lambda key=key: client.get_metric_history(run_id, key))
        if history is None:
            return {}
        have = {m.step for m in history}
        missing.extend(Metric(key, float(row[col]), now, int(rid)) for rid, row in sorted(rows.items()) if rid not in have)
        present[key] = have | {int(r) for r in rows}
    if missing:
        track("logging metrics", lambda: client.log_batch(run_id, metrics=missing))
    return present


def publish_results(client: MlflowClient, run_id: str, root: Path, summary: Mapping[str, Any],
                    extra: Mapping[str, float], track: Callable[[str, Callable[[], Any]], Any]) -> None:
    """Uploads results/, spikes/, plots/ and manifest.json; logs the summary metrics that are absent."""
    for sub in ("results", "spikes", "plots"):
        if (root / sub).is_dir():
            track(f"uploading {sub}/", lambda sub=sub: client.log_artifacts(run_id, str(root / sub), sub))
    track("uploading the manifest", lambda: client.log_artifact(run_id, str(root / "manifest.json")))
    run = track("reading the run", lambda: client.get_run(run_id))
    present = run.data.metrics if run is not None else {}
    now = int(time.time() * 1000)
    values = {name: float(summary[k]) for k, name in SUMMARY_METRICS.items() if k in summary}
    values.update({k: float(v) for k, v in extra.items()})
    metrics = [Metric(k, v, now, 0) for k, v in values.items() if k not in present]
    track("logging summary metrics", lambda: client.log_batch(run_id, metrics=metrics))


def golden_metrics(golden: Mapping[str, Any]) -> dict[str, float]:
    out = {"golden.accuracy": float(golden["accuracy"]), "golden.loss": float(golden["loss"]),
           "golden.tied_samples": float(golden["tied"]), "golden.samples": float(golden["samples"]),
           "golden.seconds": float(golden.get("seconds", 0.0))}
    out.update({f"golden.firing_rate.{k}": float(v) for k, v in golden["firing_rates"].items()})
    out.update({f"golden.spikes.{k}": float(v) for k, v in golden["spike_counts"].items()})
    return out


def campaign_kind(spec: CampaignSpec) -> str:
    kinds = []
    if spec.rounds:
        kinds.append("explicit")
    if spec.exhaustive:
        kinds.append("sampled" if all(e.get("sample") for e in spec.exhaustive) else "exhaustive")
    return "+".join(kinds) or "empty"


def _dataset_label(data: Mapping[str, Any]) -> str:
    if data["name"] == "spiking_digits":
        return f"spiking_digits(seed={data['seed']}, test_fraction={data['test_fraction']})/{data['split']}"
    return f"{data['name']}({data.get('root')})/{data['split']}"


def campaign_params(spec: CampaignSpec, cmpn: Any, chash: str) -> dict[str, str]:
    """The run's params (values as strings, at most 6000 characters each)."""
    rounds = cmpn.rounds
    models = sorted({f.model.name for r in rounds for f in r.faults})
    layers = list(dict.fromkeys(f.layer for r in rounds for f in r.faults))
    timings = list(dict.fromkeys(f.timing.describe() for r in rounds for f in r.faults))
    sampling = []
    if spec.rounds:
        sampling.append(f"explicit({len(spec.rounds)} rounds)")
    for e in spec.exhaustive:
        sampling.append(f"exhaustive(sample={e['sample']})" if e.get("sample") else "exhaustive")
    network = spec.network
    net_label = f"pretrained:{network['pretrained']}" if "pretrained" in network else f"path:{network['path']}"
    opts = spec.options
    data = spec.data
    params = {
        "campaign": spec.name, "network": net_label, "network.architecture": str(getattr(cmpn.net, "architecture", "?")),
        "network.sha256": network_digest(network), "config_hash": chash,
        "dataset": _dataset_label(data), "dataset.samples": cmpn.num_samples,
        "fault_models": ",".join(models) or "none", "layers": ",".join(layers) or "none",
        "rounds": len(rounds), "n_faults": sum(len(f.positions) for r in rounds for f in r.faults),
        "sampling": "+".join(sampling) or "none", "timing": ",".join(timings) or "none",
        "seed": opts["seed"], "engine": opts["engine"], "chunk_size": opts["chunk_size"],
        "batch_size": opts["batch_size"], "early_stop_tolerance": opts["early_stop_tolerance"],
        "quantization": json.dumps(opts["quantization"]) if opts["quantization"] else "none",
        "device": opts["device"], "dtype": opts["dtype"], "ci_confidence": 0.95,
    }
    return {k: str(v)[:6000] for k, v in params.items()}


def log_dataset_input(client: MlflowClient, run_id: str, spec: CampaignSpec, cmpn: Any) -> None:
    """``mlflow.log_input`` equivalent for the campaign's test inputs (digest, schema, profile)."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    data = spec.data
    if data["name"] == "spiking_digits":
        source = "https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_digits.html"
    else:
        source = str(Path(data.get("root") or ".").resolve())
    name = _dataset_label(data) + (f"[:{data['max_samples']}]" if data.get("max_samples") else "")
    ds = mlflow.data.from_numpy(cmpn.x.detach().cpu().numpy(), targets=cmpn.y.detach().cpu().numpy(),
                                source=source, name=name)
    inputs = [DatasetInput(ds._to_mlflow_entity(), [InputTag(MLFLOW_DATASET_CONTEXT, "test")])]
    for attempt in range(4):
        try:
            client.log_inputs(run_id, inputs)
            return
        except MlflowException:
            # two runs registering the same dataset at once (shards) race on the server's
            # unique (experiment, name, digest) key; the loser succeeds on a retry
            if attempt == 3:
                raise
            time.sleep(0.5 * (attempt + 1))


def write_setup_files(root: Path, spec: CampaignSpec, config: Mapping[str, Any], spec_data: Mapping[str, Any],
                      golden: Mapping[str, Any]) -> None:
    from spikefi.zoo import pretrained_path

    (root / "campaign").mkdir(parents=True, exist_ok=True)
    spec.to_yaml(root / "campaign" / "spec.yaml")
    (root / "campaign" / "config.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(config, default=str)),
                                                                  sort_keys=False))
    art.write_json(root / "campaign" / "hashed_spec.json", spec_data)
    art.write_json(root / "golden" / "baseline.json", {k: v for k, v in golden.items()})
    model_dir = root / "golden" / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    net = spec.network
    src = pretrained_path(net["pretrained"]) if "pretrained" in net else Path(net["path"])
    for path in (src, src.with_suffix(".yaml"), src.with_suffix(".md"), src.with_suffix(".json")):
        if path.is_file():
            shutil.copyfile(path, model_dir / path.name)


def point_launcher(client: MlflowClient, launcher_run_id: str, target: str) -> None:
    """Tags the run ``mlflow run`` created as a launcher whose results live in ``target``."""
    try:
        client.log_batch(launcher_run_id, tags=[
            RunTag(T + "kind", KIND_LAUNCHER), RunTag(T + "launched_run", target),
            RunTag("mlflow.note.content", f"Launcher created by `mlflow run`; it holds no results. "
                                          f"The campaign's results are in run {target}."),
        ])
    except MlflowException as exc:
        say(f"WARNING: could not tag the launcher run {launcher_run_id}: {exc}")


# -- shards ---------------------------------------------------------------------------------
def find_or_create_shard_parent(client: MlflowClient, experiment_id: str, spec: CampaignSpec, chash: str,
                                count: int, parent_run_id: str | None = None) -> str:
    """The parent run of a sharded campaign: given, found by config hash and shard count, or
    created. Two shards creating it at once converge on the earliest one (the other is deleted)."""
    if parent_run_id:
        run = client.get_run(parent_run_id)
        if run.data.tags.get(T + "kind") != KIND_SHARDED or run.data.tags.get(T + "config_hash") != chash:
            raise ConfigError(f"--parent {parent_run_id} is not the parent of this sharded campaign "
                              f"(kind {run.data.tags.get(T + 'kind')}, config hash {run.data.tags.get(T + 'config_hash')}, "
                              f"expected {chash})")
        return parent_run_id
    query = f"tags.`{T}config_hash` = '{chash}' and tags.`{T}kind` = '{KIND_SHARDED}' and tags.`{T}shards` = '{count}'"

    def search() -> list[Any]:
        runs = client.search_runs([experiment_id], query, max_results=100)
        return sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))

    runs = search()
    if runs:
        return runs[0].info.run_id
    tags = {"mlflow.runName": spec.name, **common_tags(KIND_SHARDED, **{
        "spikefi.config_hash": chash, "spikefi.shards": count, "spikefi.artifact_schema": art.ARTIFACT_SCHEMA_VERSION,
        "spikefi.status_reason": "shards running"})}
    mine = client.create_run(experiment_id, tags=tags, run_name=spec.name).info.run_id
    runs = search()
    winner = runs[0].info.run_id if runs else mine
    if winner != mine:
        client.delete_run(mine)
    return winner


def _converge_parents(client: MlflowClient, parent: Any) -> str:
    """The canonical parent of a sharded campaign: the earliest (start time, run id) of the
    parents with its config hash and shard count. Shards of any other such parent (two
    machines that created one each before seeing the other's) move to it, and the other
    parents, which hold no results yet, are deleted."""
    tags = parent.data.tags
    query = (f"tags.`{T}config_hash` = '{tags[T + 'config_hash']}' and tags.`{T}kind` = '{KIND_SHARDED}' "
             f"and tags.`{T}shards` = '{tags[T + 'shards']}'")
    parents = sorted(client.search_runs([parent.info.experiment_id], query, max_results=100),
                     key=lambda r: (r.info.start_time, r.info.run_id))
    if not parents:
        return parent.info.run_id
    canonical = parents[0].info.run_id  # also when the given parent was deleted by another shard
    for other in parents[1:]:
        if other.info.status == "FINISHED":
            continue
        moved = client.search_runs([parent.info.experiment_id],
                                   f"tags.`mlflow.parentRunId` = '{other.info.run_id}'", max_results=1000)
        for child in moved:
            client.set_tag(child.info.run_id, "mlflow.parentRunId", canonical)
        client.delete_run(other.info.run_id)
        say(f"moved {len(moved)} shard run(s) from duplicate parent {other.info.run_id} to {canonical}")
    return canonical


def merge_shards(client: MlflowClient, parent_run_id: str, output_dir: str | Path,
                 track: Callable[[str, Callable[[], Any]], Any] | None = None,
                 merger_run_id: str | None = None) -> dict[str, Any] | None:
    """Merges the finished shards' tables into the parent (idempotent); None while shards are
    missing, or when ``merger_run_id`` (a shard that just finished) is not the shard that
    finished last — so of several shards finishing at once exactly one merges."""
    track = track or (lambda what, fn: fn())
    parent = client.get_run(parent_run_id)
    count = int(parent.data.tags[T + "shards"])
    parent_run_id = _converge_parents(client, parent)
    parent = client.get_run(parent_run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_run_id}' "
                                  f"and tags.`{T}kind` = '{KIND_SHARD}'", max_results=1000)
    finished: dict[int, Any] = {}
    for c in sorted(children, key=lambda r: r.info.start_time):
        if c.info.status == "FINISHED":
            finished[int(c.data.tags[T + "shard_index"])] = c
    if sorted(finished) != list(range(count)):
        return None
    last = max(finished.values(), key=lambda r: (r.info.end_time or 0, r.info.run_id))
    if merger_run_id is not None and last.info.run_id != merger_run_id:
        return None
    sources = ",".join(finished[i].info.run_id for i in range(count))
    if parent.info.status == "FINISHED" and parent.data.tags.get(T + "merged_from") == sources:
        say(f"parent run {parent_run_id} already holds the merge of these shards")
        return {"run_id": parent_run_id, "status": "FINISHED", "local_dir": parent.data.tags.get(T + "local_dir")}
    root = Path(output_dir) / parent_run_id
    tables, metas = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            res = art.load_run_result(finished[i].info.run_id, client, Path(tmp) / str(i))
            tables.append(res.table)
            metas.append(res.meta)
        for sub in ("campaign", "golden"):
            got = client.download_artifacts(finished[0].info.run_id, sub, tmp)
            shutil.copytree(got, root / sub, dirs_exist_ok=True)
    table = pd.concat(tables, ignore_index=True).sort_values("round_id", kind="stable").reset_index(drop=True)
    total = int(metas[0]["campaign_rounds"])
    if table["round_id"].duplicated().any() or len(table) != total:
        raise RuntimeError(f"shards of {parent_run_id} hold {len(table)} rounds (duplicates: "
                           f"{int(table['round_id'].duplicated().sum())}), expected {total}")
    meta = dict(metas[0])
    compute_s = float(sum(m["compute_seconds"] for m in metas))
    meta.update(rounds=total, shard=None, shards=count, compute_seconds=compute_s, seconds=compute_s,
                shard_runs={str(i): finished[i].info.run_id for i in range(count)})
    result = CampaignResult(table, meta)
    summary = art.write_results(root, result)
    skipped = art.write_plots(root, table)
    art.write_manifest(root, KIND_SHARDED, run_id=parent_run_id, config_hash=meta["config_hash"],
                       shard_runs=meta["shard_runs"], skipped_plots=skipped)
    for sub in ("campaign", "golden"):
        track(f"uploading {sub}/", lambda sub=sub: client.log_artifacts(parent_run_id, str(root / sub), sub))
    if not parent.data.params:
        params = {"campaign": meta["name"], "config_hash": meta["config_hash"], "shards": count, "rounds": total,
                  "dataset.samples": meta["samples"], "engine": meta["engine"], "seed": meta["seed"],
                  "device": meta["device"], "dtype": meta["dtype"]}
        first = finished[0].data.params
        params.update({k: v for k, v in first.items() if k not in ("shard", "rounds", "n_faults")})
        params["rounds"] = total
        track("logging params", lambda: client.log_batch(parent_run_id, params=[Param(k, str(v)[:6000])
                                                                                 for k, v in params.items()]))
    now = int(time.time() * 1000)
    golden = [Metric(k, v, now, 0) for k, v in golden_metrics(meta["golden"]).items()
              if k not in parent.data.metrics]
    track("logging golden metrics", lambda: client.log_batch(parent_run_id, metrics=golden))
    parent = client.get_run(parent_run_id)
    if not parent.inputs.dataset_inputs and finished[0].inputs.dataset_inputs:
        track("logging the dataset input", lambda: client.log_inputs(parent_run_id, finished[0].inputs.dataset_inputs))
    rows = {int(r["round_id"]): r for r in table.to_dict("records")}
    log_missing_round_metrics(client, parent_run_id, rows, track)
    wall = max(float(c.data.metrics.get("duration_s", 0.0)) for c in finished.values())
    extra = {"compute_s": compute_s, "duration_s": wall,
             "faults_x_samples_per_s": total * int(meta["samples"]) / compute_s if compute_s > 0 else 0.0}
    publish_results(client, parent_run_id, root, summary, extra, track)
    client.log_batch(parent_run_id, tags=[RunTag(T + "rounds_done", str(total)), RunTag(T + "status_reason", "merged"),
                                          RunTag(T + "merged_from", sources),
                                          RunTag(T + "local_dir", str(root.resolve()))])
    client.set_terminated(parent_run_id, "FINISHED")
    say(f"merged {count} shards into run {parent_run_id}: {total} rounds, critical-fault rate "
        f"{summary['critical_fault_rate']:.4f}; files in {root}")
    return {"run_id": parent_run_id, "summary": summary, "local_dir": str(root), "table": table}


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, TrackingLostError):
        return 3
    return 2
