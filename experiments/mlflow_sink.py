"""The MLflow campaign sink: a campaign (or shard) as one resumable MLflow run.

Each durable chunk is, in this order:

1. written atomically to ``<output_dir>/<run id>/progress/chunks/`` (local);
2. logged as an artifact under ``progress/chunks/``;
3. followed by its metric points (step = round id; only the rounds ``tracking.round_metrics``
   selects, ``experiments/round_metrics.py``) and a heartbeat in one ``log_batch``.

A failing tracking call never loses results: :meth:`MlflowSink.track` records the reason in
``offline_reason`` and the campaign goes on locally (it ends with exit code 3).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from analysis.schema import (
    TAG_ARTIFACT_SCHEMA,
    TAG_CONFIG_HASH,
    TAG_ROUND_METRICS,
)
from spikefi.campaign.result import CampaignResult

from . import artifacts as art
from .chunk_flush import (
    log_dataset_input,
    log_missing_round_metrics,
    publish_finished,
    round_metric_points,
    write_setup_files,
)
from .chunk_writer import DEFAULT_CAPACITY
from .run_lookup import (
    DEFAULT_STALE_AFTER_S,
    T,
    _terminate,
    point_launcher,
    say,
    select_run,
)
from .sink import FINISHED, SetupInfo, SinkRun
from .sink_base import DEFAULT_COMPACT_EVERY, FolderSink
from .tracking import common_tags, process_identity

__all__ = ["MlflowSink"]


class MlflowSink(FolderSink):
    """Records a campaign run in MLflow (see the module docstring and :mod:`experiments.sink`).

    Args:
        client, experiment_id: where the run lives.
        output_dir: local folder; the run's files go to ``output_dir/<run id>/``.
        parent_run_id: nest the run under this one (sweeps, shards).
        launcher_run_id: the run ``mlflow run`` created for this process (``MLFLOW_RUN_ID``);
            a new campaign run adopts it, a resumed one tags it as pointing to the original.
        heartbeat_runs: other runs whose heartbeat follows this run's (a sweep parent).
    """

    name = "mlflow"

    def __init__(self, client: MlflowClient, experiment_id: str, output_dir: str | Path, *,
                 parent_run_id: str | None = None, launcher_run_id: str | None = None,
                 heartbeat_runs: Sequence[str] = (), stale_after_s: float = DEFAULT_STALE_AFTER_S,
                 writer_capacity: int = DEFAULT_CAPACITY, compact_every: int = DEFAULT_COMPACT_EVERY,
                 flush_every_s: float = 0.0) -> None:
        super().__init__(output_dir, writer_capacity=writer_capacity, compact_every=compact_every,
                         flush_every_s=flush_every_s)
        self.client = client
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.launcher_run_id = launcher_run_id
        self.heartbeat_runs = list(heartbeat_runs)
        self.stale_after_s = stale_after_s
        self.present_steps: dict[str, set[int]] = {}
        self._remote: set[str] = set()

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

    # -- identity --------------------------------------------------------------------------
    @staticmethod
    def _as_sink_run(run: Any) -> SinkRun:
        tags = run.data.tags
        return SinkRun(run_id=run.info.run_id, status=run.info.status, attempts=int(tags.get(T + "attempts", "1")),
                       name=tags.get("mlflow.runName", ""), round_metrics=tags.get(TAG_ROUND_METRICS),
                       metrics=dict(run.data.metrics), local_dir=tags.get(T + "local_dir"),
                       reason=tags.get(T + "status_reason", ""))

    def find(self, kind: str, config_hash: str, resume: str, *, shard: str | None = None,
             spec_data: Mapping[str, Any] | None = None) -> SinkRun | None:
        run = select_run(self.client, self.experiment_id, kind, config_hash, resume, self.parent_run_id, shard,
                         spec_data)
        if run is None:
            return None
        self.run_id = run.info.run_id
        self.point_launcher(self.run_id)
        return self._as_sink_run(run)

    def point_launcher(self, target: str) -> None:
        if self.launcher_run_id and self.launcher_run_id != target:
            point_launcher(self.client, self.launcher_run_id, target)
            self.launcher_run_id = None

    def create(self, *, name: str, kind: str, config_hash: str, round_metrics: str,
               shard: str | None = None) -> SinkRun:
        # owner, kind and hash from the first moment, so a kill at any point leaves a run that
        # stale marking and automatic resume recognize
        tags = {"mlflow.runName": name, T + "kind": kind, T + "config_hash": config_hash,
                T + "process": process_identity(), T + "heartbeat": f"{time.time():.3f}", T + "attempts": "1",
                TAG_ROUND_METRICS: round_metrics}
        if shard:
            tags["mlflow.runName"] = f"{name} [shard {shard}]"
            tags[T + "shard"] = str(shard)
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        if self.launcher_run_id and not self.parent_run_id:
            run_id = self.launcher_run_id
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            self.launcher_run_id = None
        else:
            run_id = self.client.create_run(self.experiment_id, tags=tags, run_name=tags["mlflow.runName"]).info.run_id
        self.run_id = run_id
        return SinkRun(run_id=run_id, status="RUNNING", attempts=1, name=tags["mlflow.runName"],
                       round_metrics=round_metrics)

    def claim(self, run: SinkRun, *, attempt: int, rounds_total: int, campaign_rounds: int, resumed: bool,
              shard: tuple[int, int] | None = None) -> None:
        self.run_id = run.run_id
        self.attempt = attempt
        if resumed:
            self.client.update_run(self.run_id, status="RUNNING")
        tags_now = self.client.get_run(self.run_id).data.tags
        tags = {
            T + "process": process_identity(), T + "heartbeat": f"{time.time():.3f}", T + "attempts": str(attempt),
            T + "local_dir": str(self.local_dir.resolve()), T + "rounds_total": str(rounds_total),
            T + "status_reason": "running" if not resumed else f"resumed (attempt {attempt})",
            **common_tags(tags_now.get(T + "kind", "campaign"), **{TAG_CONFIG_HASH: tags_now.get(T + "config_hash"),
                                   TAG_ARTIFACT_SCHEMA: art.ARTIFACT_SCHEMA_VERSION}),
        }
        if shard:
            tags.update({T + "shard": f"{shard[0]}/{shard[1]}", T + "shard_index": str(shard[0]),
                         T + "shards": str(shard[1]), T + "campaign_rounds": str(campaign_rounds)})
        self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        if shard and self.parent_run_id:
            parent = self.client.get_run(self.parent_run_id)
            if parent.info.status != "RUNNING":
                self.client.update_run(self.parent_run_id, status="RUNNING")
                self.client.set_tag(self.parent_run_id, T + "status_reason", "shards running")

    def setup(self, make: Callable[[], SetupInfo]) -> None:
        """Params, tags, golden baseline, dataset input, spec and golden artifacts (idempotent)."""
        run = self.client.get_run(str(self.run_id))
        if run.data.tags.get(T + "setup_done") == "1":
            return
        info = make()
        root = self.local_dir
        present = run.data.params
        new_params = [Param(k, v) for k, v in info.params.items() if k not in present]
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in info.golden_metrics.items() if k not in run.data.metrics]
        self.track("logging params", lambda: self.client.log_batch(
            self.run_id, metrics=metrics, params=new_params, tags=[RunTag(k, v) for k, v in info.tags.items()]))
        if not run.inputs.dataset_inputs and self.offline_reason is None:
            try:
                log_dataset_input(self.client, str(self.run_id), info.spec, info.cmpn, root / "campaign" / "spec.yaml")
            except Exception as exc:  # noqa: BLE001 - metadata only: warn, do not stop tracking
                say(f"WARNING: the dataset input was not logged: {type(exc).__name__}: {str(exc)[:200]}")
        write_setup_files(root, info.spec, info.config, info.spec_data, info.golden,
                          {k: v for k, v in info.params.items() if k.startswith("network.digest")})
        for sub in ("campaign", "golden"):
            self.track(f"uploading {sub}/", lambda sub=sub: self.client.log_artifacts(self.run_id, str(root / sub), sub))
        self.track("tagging", lambda: self.client.set_tag(self.run_id, T + "setup_done", "1"))

    # -- chunks ----------------------------------------------------------------------------
    def done_rows(self, wanted: set[int]) -> dict[int, dict[str, Any]]:
        """Round ids already finished (local files and artifacts); makes both sides and the
        metric histories complete for them."""
        local = self.chunks_dir
        local.mkdir(parents=True, exist_ok=True)
        remote = self.track("listing chunks", lambda: {
            Path(f.path).name for f in self.client.list_artifacts(self.run_id, art.CHUNKS_DIR) if not f.is_dir})
        self._remote = remote or set()
        # every chunk is checked (Parquet, embedded JSON, rows sha256) before reuse; a local copy
        # that fails is replaced by a sound artifact copy, else its rounds are recomputed
        problems = {n: art.check_chunk(local / n)[1] for n in self._remote}
        missing_here = [n for n, problem in problems.items() if problem]
        if missing_here:
            with tempfile.TemporaryDirectory() as tmp:
                got = self.track("downloading chunks", lambda: self.client.download_artifacts(
                    self.run_id, art.CHUNKS_DIR, tmp))
                for name in missing_here if got else []:
                    src = Path(got) / name
                    if art.read_chunk(src) is not None:
                        if problems[name] != "missing":
                            say(f"WARNING: {local / name}: {problems[name]}; replaced by the run's artifact copy")
                        shutil.copyfile(src, local / name)
        done = self.local_chunks(wanted)
        if done or self._remote:
            self.present_steps = log_missing_round_metrics(self.client, str(self.run_id), done, self.track,
                                                           self.selected)
        self.done_count = len(done)
        return done

    def _also_damaged(self, path: Path) -> str:
        return " (and so is the run's artifact copy)" if path.name in self._remote else ""

    def _chunk_seen(self, path: Path) -> None:
        if path.name not in self._remote:
            self.track("uploading a chunk", lambda: self.client.log_artifact(self.run_id, str(path), art.CHUNKS_DIR))

    def _publish_chunk(self, path: Path) -> None:
        self.track("uploading a chunk", lambda: self.client.log_artifact(self.run_id, str(path), art.CHUNKS_DIR))

    def _unpublish_chunks(self, names: Sequence[str]) -> None:
        """Deletes the artifact copies of merged chunk files (the merged file is logged first).
        A store whose artifact repository cannot delete keeps them (a warning, once): reading
        back takes each round once either way."""
        if not names or self.offline_reason is not None:
            return
        try:
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            repo = get_artifact_repository(self.client.get_run(str(self.run_id)).info.artifact_uri,
                                           tracking_uri=self.client.tracking_uri)
            for name in names:
                repo.delete_artifacts(f"{art.CHUNKS_DIR}/{name}")
        except Exception as exc:  # noqa: BLE001 - tidiness only: the merged file holds every row
            if not getattr(self, "_delete_warned", False):
                self._delete_warned = True
                say(f"WARNING: merged chunk artifacts were not deleted ({type(exc).__name__}: {str(exc)[:200]}); "
                    "they stay beside the merged file")

    def _record_progress(self, rows: Sequence[Mapping[str, Any]], now: float) -> None:
        metrics = [m for m in round_metric_points(list(rows), int(now * 1000), self.selected)
                   if m.step not in self.present_steps.get(m.key, ())]  # points an earlier attempt logged
        tags = [RunTag(T + "heartbeat", f"{now:.3f}"), RunTag(T + "heartbeat_interval_s", f"{self.max_chunk_s:.1f}"),
                RunTag(T + "rounds_done", str(self.done_count))]
        self.track("logging metrics", lambda: self.client.log_batch(self.run_id, metrics=metrics, tags=tags))
        for other in self.heartbeat_runs:
            self.track("heartbeat", lambda other=other: self.client.set_tag(other, T + "heartbeat", f"{now:.3f}"))

    def heartbeat(self) -> None:
        now = f"{time.time():.3f}"
        self.track("heartbeat", lambda: self.client.set_tag(self.run_id, T + "heartbeat", now))

    # -- end -------------------------------------------------------------------------------
    def finish(self, summary: Mapping[str, Any], extra: Mapping[str, float], table: Any, mode: Any,
               description: str) -> None:
        root = self.local_dir
        run_id = str(self.run_id)
        publish_finished(self.client, run_id, root, summary, extra, table, mode, description, self.track)
        if self.offline_reason is not None:
            return
        self.client.set_tag(run_id, T + "status_reason", "finished")
        self.client.set_terminated(run_id, FINISHED)

    def fail(self, status: str, reason: str) -> None:
        if self.run_id is None:
            return
        try:
            _terminate(self.client, self.run_id, RunStatus.from_string(status), reason)
        except Exception:  # noqa: BLE001 - the server may be what failed; the reason goes to stderr anyway
            pass
        say(f"run {self.run_id} marked {status}: {reason}")

    def status(self, run_id: str) -> tuple[str, str]:
        run = self.client.get_run(run_id)
        return run.info.status, run.data.tags.get(T + "status_reason", "")

    def read_result(self, run_id: str) -> CampaignResult:
        return art.load_run_result(run_id, self.client)
