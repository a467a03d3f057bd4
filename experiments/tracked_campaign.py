"""One campaign (or one shard of it) as one resumable MLflow run: :class:`TrackedCampaign`.

Each finished chunk is flushed before the next one is used, in this order:

1. its rows are written atomically to ``<output_dir>/<run id>/progress/chunks/`` (local);
2. that file is logged as an artifact under ``progress/chunks/``;
3. its metric points (step = round id; only the rounds ``tracking.round_metrics`` selects,
   ``experiments/round_metrics.py``) and a heartbeat go out in one ``log_batch``.

Where the chunks are computed is the executor's concern (in-process or Ray actors); the
tracked campaign only consumes the ``ChunkResult`` stream, in completion order.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from analysis.schema import (
    PARAM_ROUND_METRICS,
    ROUND_METRICS_DEFAULT,
    TAG_ARTIFACT_SCHEMA,
    TAG_CONFIG_HASH,
    TAG_ROUND_METRICS,
)
from spikefi.campaign import CampaignResult, CampaignSpec
from spikefi.campaign.executors import Executor, InProcessExecutor, RunOptions
from spikefi.campaign.result import RESULT_SCHEMA_VERSION
from spikefi.golden_health import HEALTH_TAG, golden_problems, health_tag, warning_line

from . import artifacts as art
from .chunk_flush import (
    THROUGHPUT_METRIC,
    _test_hold,
    attempts_wall_seconds,
    campaign_description,
    campaign_kind,
    campaign_params,
    golden_metrics,
    log_curves,
    log_dataset_input,
    log_missing_round_metrics,
    log_round_table,
    publish_results,
    round_metric_points,
    summary_from_metrics,
    write_setup_files,
)
from .config import config_hash
from .deployment_tracking import deployment_metrics
from .rate_sweep_run import publish_rate_sweep
from .round_metrics import RoundMetricsMode, mode_label, parse_round_metrics, selected_rounds
from .run_lookup import (
    DEFAULT_STALE_AFTER_S,
    KIND_CAMPAIGN,
    KIND_SHARD,
    T,
    Terminated,
    TrackingLostError,
    _terminate,
    hashed_spec,
    point_launcher,
    say,
    select_run,
)
from .tracking import common_tags, process_identity


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
        round_metrics: ``all``, ``none`` or at most N per-round points per key (default: the
            config's ``tracking.round_metrics``, else ``ROUND_METRICS_DEFAULT``). A resumed run
            keeps the mode it was created with (tag ``spikefi.round_metrics``).
    """

    def __init__(self, spec: CampaignSpec, config: Mapping[str, Any], client: MlflowClient, experiment_id: str,
                 output_dir: str | Path, *, resume: str = "auto", parent_run_id: str | None = None,
                 shard: tuple[int, int] | None = None, launcher_run_id: str | None = None, progress: bool = True,
                 stale_after_s: float = DEFAULT_STALE_AFTER_S, heartbeat_runs: Sequence[str] = (),
                 executor: Executor | None = None, round_metrics: str | int | None = None) -> None:
        self.spec = spec
        self.executor = executor or InProcessExecutor()
        #: the campaign the entry point already built from ``spec`` (in-process runs), used once
        self.prebuilt: Any = None
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
        if round_metrics is None:
            round_metrics = (self.config.get("tracking") or {}).get("round_metrics", ROUND_METRICS_DEFAULT)
        self.round_mode: RoundMetricsMode = parse_round_metrics(round_metrics)
        #: round ids whose per-round points are logged (None: every round); see plan_round_metrics
        self.selected: set[int] | None = None

    def plan_round_metrics(self, round_ids: Sequence[int]) -> None:
        """Chooses the rounds whose per-round points this run logs, from its own rounds alone
        (the same choice on every attempt)."""
        self.selected = selected_rounds(round_ids, self.round_mode)

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
            say(f"already done: run {self.run_id} ({existing.data.tags.get('mlflow.runName')}) already finished: "
                "nothing to compute (--resume never starts a new run)")
            self._point_launcher(self.run_id)
            return self._summary_of(existing, resumed=True, computed=[])
        t_start = time.time()
        opts = self.spec.options
        options = RunOptions(opts["engine"], int(opts["chunk_size"]), float(opts["early_stop_tolerance"]))
        remote = not isinstance(self.executor, InProcessExecutor)
        # with a remote executor the driver only holds the campaign (on the CPU); workers
        # compute the golden pass and the chunks on their own devices
        prebuilt, self.prebuilt = self.prebuilt, None
        cmpn = prebuilt if prebuilt is not None and not remote else (
            self.spec if not remote else driver_spec(self.spec)).build()
        try:
            golden = self.executor.golden(cmpn, options)
        except BaseException:
            self.executor.close()
            raise
        cmpn.adopt_golden_summary(golden)
        problems = golden_problems(golden, int(cmpn.netmap.output_shape[0]))
        if problems:
            say(warning_line(problems))
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
            # the run keeps its mode (runs of older versions logged every round)
            kept = parse_round_metrics(existing.data.tags.get(TAG_ROUND_METRICS, "all"))
            if kept != self.round_mode:
                say(f"run {self.run_id} was started with round_metrics={mode_label(kept)}: it keeps that mode "
                    f"(not {mode_label(self.round_mode)})")
                self.round_mode = kept
        self.plan_round_metrics([r.round_id for r in rounds])
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
            for chunk in cmpn.iter_chunks(options.engine, options.chunk_size, rounds=todo, progress=self.progress,
                                          early_stop_tolerance=options.early_stop_tolerance, executor=self.executor):
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
        finally:
            self.executor.close()
        summary.update(resumed=resumed, computed=computed)
        return summary

    def _summary_of(self, run: Any, resumed: bool, computed: list[int]) -> dict[str, Any]:
        metrics = dict(run.data.metrics)
        summary = summary_from_metrics(metrics)
        return {"run_id": run.info.run_id, "name": run.data.tags.get("mlflow.runName"), "status": run.info.status,
                "metrics": metrics, "summary": summary or None, "local_dir": run.data.tags.get(T + "local_dir"),
                "resumed": resumed, "computed": computed, "skipped": True}

    def _create_run(self) -> str:
        # owner, kind and hash from the first moment, so a kill at any point leaves a run that
        # stale marking and automatic resume recognize
        tags = {"mlflow.runName": self.spec.name, T + "kind": self.kind, T + "config_hash": self.hash,
                T + "process": process_identity(), T + "heartbeat": f"{time.time():.3f}", T + "attempts": "1",
                TAG_ROUND_METRICS: mode_label(self.round_mode)}
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
            **common_tags(self.kind, **{TAG_CONFIG_HASH: self.hash,
                                        TAG_ARTIFACT_SCHEMA: art.ARTIFACT_SCHEMA_VERSION}),
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
        params.update(executor_params(self.executor))
        params[PARAM_ROUND_METRICS] = mode_label(self.round_mode)
        present = run.data.params
        new_params = [Param(k, v) for k, v in params.items() if k not in present]
        tags = {T + "campaign_kind": campaign_kind(self.spec),
                "mlflow.note.content": campaign_description(self.spec, cmpn),
                HEALTH_TAG: health_tag(golden_problems(golden, int(cmpn.netmap.output_shape[0])))}
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in {**golden_metrics(golden), **deployment_metrics(cmpn)}.items()
                   if k not in run.data.metrics]
        self.track("logging params", lambda: self.client.log_batch(
            self.run_id, metrics=metrics, params=new_params, tags=[RunTag(k, v) for k, v in tags.items()]))
        if not run.inputs.dataset_inputs and self.offline_reason is None:
            try:
                log_dataset_input(self.client, self.run_id, self.spec, cmpn, root / "campaign" / "spec.yaml")
            except Exception as exc:  # noqa: BLE001 - metadata only: warn, do not stop tracking
                say(f"WARNING: the dataset input was not logged: {type(exc).__name__}: {str(exc)[:200]}")
        write_setup_files(root, self.spec, self.config, self.spec_data, golden,
                          {k: v for k, v in params.items() if k.startswith("network.digest")})
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
        # every chunk is checked (Parquet, embedded JSON, rows sha256) before reuse; a local copy
        # that fails is replaced by a sound artifact copy, else its rounds are recomputed
        problems = {n: art.check_chunk(local / n)[1] for n in remote}
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
        done: dict[int, dict[str, Any]] = {}
        for path in sorted(local.glob("rounds-*.parquet")):
            read, problem = art.check_chunk(path)
            if read is None:
                where = " (and so is the run's artifact copy)" if path.name in remote else ""
                say(f"WARNING: {path}: {problem}{where}; its rounds are recomputed")
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
            self.present_steps = log_missing_round_metrics(self.client, self.run_id, done, self.track, self.selected)
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
        metrics = [m for m in round_metric_points(chunk.rows, int(now * 1000), self.selected)
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
        meta.update(self.executor.describe())
        result = CampaignResult(table, {"schema_version": RESULT_SCHEMA_VERSION, **meta})
        root = self.local_dir
        summary = art.write_results(root, result)
        skipped = art.write_plots(root, table, result.meta.get("layers"))
        art.write_manifest(root, self.kind, run_id=self.run_id, config_hash=self.hash, skipped_plots=skipped)
        duration = attempts_wall_seconds(infos, t_start)  # build + golden + chunks of every attempt
        extra = {"compute_s": compute_s, "duration_s": duration,
                 THROUGHPUT_METRIC: len(table) * cmpn.num_samples / compute_s if compute_s > 0 else 0.0}
        self._publish(root, summary, extra)
        log_curves(self.client, self.run_id, table, float(summary["golden_accuracy"]), self.round_mode, self.track)
        log_round_table(self.client, self.run_id, table, self.track)
        if self.spec.rate_sweep and self.shard_label is None:  # a shard holds part of the draws only
            publish_rate_sweep(self.client, self.run_id, root, cmpn, result, self.track)
        self.track("describing the run", lambda: self.client.set_tag(
            self.run_id, "mlflow.note.content", campaign_description(self.spec, cmpn, summary)))
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


def driver_spec(spec: CampaignSpec) -> CampaignSpec:
    """The spec the driver of a remote executor builds: the same campaign on the CPU (the
    workers move it to their own devices)."""
    data = spec.to_dict()
    data["options"] = {**data["options"], "device": "cpu"}
    return CampaignSpec.from_dict(data)


def executor_params(executor: Executor) -> dict[str, str]:
    """Where the first attempt's chunks ran, as run params (a resume may run elsewhere: the
    table does not depend on it)."""
    out = {"executor": executor.name}
    for key in ("address", "workers", "gpus_per_worker", "cpus_per_worker"):
        if hasattr(executor, key):
            value = getattr(executor, key)
            if key == "cpus_per_worker" and value is None:
                value = getattr(executor, "cpus_each", value)
            out[f"executor.{key}"] = str(value)
    return out
