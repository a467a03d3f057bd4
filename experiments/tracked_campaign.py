"""One campaign (or one shard of it) as one resumable run: :class:`TrackedCampaign`.

The tracked campaign computes (the golden pass, then the chunks of the rounds still to do)
and hands each finished chunk to its sink (:mod:`experiments.sink`): an MLflow run
(:class:`~experiments.mlflow_sink.MlflowSink`, the default) or a local folder
(:class:`~experiments.local_sink.LocalSink`). The sink makes each chunk durable (its Parquet
file in ``<run folder>/progress/chunks/``, then the store's copy, metric points and
heartbeat); resume reads back the durable chunks only.

Where the chunks are computed is the executor's concern (in-process or Ray actors); the
tracked campaign only consumes the ``ChunkResult`` stream, in completion order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from analysis.schema import PARAM_ROUND_METRICS, RATE_SWEEP_TABLE, ROUND_METRICS_DEFAULT
from spikefi.campaign import CampaignResult, CampaignSpec
from spikefi.campaign.executors import Executor, ExecutorLostError, InProcessExecutor, RunOptions
from spikefi.campaign.result import RESULT_SCHEMA_VERSION
from spikefi.errors import ConfigError
from spikefi.golden_health import HEALTH_TAG, golden_problems, health_tag, warning_line

from . import artifacts as art
from .chunk_flush import (
    THROUGHPUT_METRIC,
    attempts_wall_seconds,
    campaign_description,
    campaign_kind,
    campaign_params,
    golden_metrics,
    summary_from_metrics,
)
from .chunk_writer import DEFAULT_CAPACITY, DRAIN_ON_SIGNAL_S
from .config import config_hash
from .deployment_tracking import deployment_metrics
from .mlflow_sink import MlflowSink
from .rate_sweep_run import publish_rate_sweep
from .round_metrics import RoundMetricsMode, mode_label, parse_round_metrics, selected_rounds
from .run_lookup import (
    DEFAULT_STALE_AFTER_S,
    KIND_CAMPAIGN,
    KIND_SHARD,
    T,
    Terminated,
    TrackingLostError,
    hashed_spec,
    say,
)
from .sink import FAILED, KILLED, CampaignSink, SetupInfo, SinkRun
from .sink_base import DEFAULT_COMPACT_EVERY, DEFAULT_FLUSH_EVERY_S
from .tracking import process_identity

__all__ = ["TrackedCampaign", "driver_spec", "executor_params", "writer_queue", "compact_every", "flush_every_s"]


# -- the tracked campaign -------------------------------------------------------------------
class TrackedCampaign:
    """One campaign (or one shard of it) as a resumable run of a :class:`~experiments.sink.CampaignSink`.

    Args:
        spec: the campaign.
        config: the experiment config (logged as ``campaign/config.yaml``).
        client, experiment_id: where the MLflow run lives (the default sink, :class:`MlflowSink`).
        output_dir: local folder; the run's files go to ``output_dir/<run id>/``.
        resume: run id, ``"auto"`` or ``"never"`` (see :meth:`~experiments.sink.CampaignSink.find`).
        parent_run_id: nest the run under this one (sweeps, shards).
        shard: ``(index, count)``: evaluate the rounds with ``round_id % count == index``.
        launcher_run_id: the run ``mlflow run`` created for this process (``MLFLOW_RUN_ID``);
            a new campaign run adopts it, a resumed one tags it as pointing to the original.
        round_metrics: ``all``, ``none`` or at most N per-round points per key (default: the
            config's ``tracking.round_metrics``, else ``ROUND_METRICS_DEFAULT``). A resumed run
            keeps the mode it was created with (tag ``spikefi.round_metrics``).
        sink: record the run here instead (e.g. a :class:`~experiments.local_sink.LocalSink`);
            ``client``, ``experiment_id``, ``parent_run_id``, ``launcher_run_id`` and
            ``heartbeat_runs`` are then unused.
    """

    def __init__(self, spec: CampaignSpec, config: Mapping[str, Any], client: MlflowClient | None,
                 experiment_id: str | None, output_dir: str | Path, *, resume: str = "auto",
                 parent_run_id: str | None = None, shard: tuple[int, int] | None = None,
                 launcher_run_id: str | None = None, progress: bool = True,
                 stale_after_s: float = DEFAULT_STALE_AFTER_S, heartbeat_runs: Sequence[str] = (),
                 executor: Executor | None = None, round_metrics: str | int | None = None,
                 sink: CampaignSink | None = None) -> None:
        self.spec = spec
        self.executor = executor or InProcessExecutor()
        #: the campaign the entry point already built from ``spec`` (in-process runs), used once
        self.prebuilt: Any = None
        self.config = dict(config)
        if sink is None:
            if client is None or experiment_id is None:
                raise ValueError("TrackedCampaign needs an MLflow client and experiment id, or a sink")
            sink = MlflowSink(client, experiment_id, output_dir, parent_run_id=parent_run_id,
                              launcher_run_id=launcher_run_id, heartbeat_runs=heartbeat_runs,
                              stale_after_s=stale_after_s, writer_capacity=writer_queue(self.config),
                              compact_every=compact_every(self.config), flush_every_s=flush_every_s(self.config))
        self.sink: Any = sink
        self.output_dir = Path(output_dir)
        self.resume = resume
        self.shard = shard
        self.progress = progress
        self.kind = KIND_SHARD if shard else KIND_CAMPAIGN
        self.spec_data = hashed_spec(spec)
        self.hash = config_hash(self.spec_data)
        self.attempt = 1
        if round_metrics is None:
            round_metrics = (self.config.get("tracking") or {}).get("round_metrics", ROUND_METRICS_DEFAULT)
        self.round_mode: RoundMetricsMode = parse_round_metrics(round_metrics)

    # -- what the sink holds, under the names scripts and benchmarks use ------------------
    @property
    def run_id(self) -> str | None:
        return self.sink.run_id

    @run_id.setter
    def run_id(self, value: str | None) -> None:
        self.sink.run_id = value

    @property
    def offline_reason(self) -> str | None:
        return self.sink.offline_reason

    @property
    def launcher_run_id(self) -> str | None:
        return getattr(self.sink, "launcher_run_id", None)

    @property
    def selected(self) -> set[int] | None:
        """Round ids whose per-round points are logged (None: every round); see plan_round_metrics."""
        return self.sink.selected

    @property
    def flushed(self) -> int:
        return self.sink.flushed

    @property
    def local_dir(self) -> Path:
        return self.sink.local_dir

    def track(self, what: str, fn: Callable[[], Any]) -> Any:
        track = getattr(self.sink, "track", None)
        return track(what, fn) if track is not None else fn()

    def plan_round_metrics(self, round_ids: Sequence[int]) -> None:
        """Chooses the rounds whose per-round points this run logs, from its own rounds alone
        (the same choice on every attempt)."""
        self.sink.plan(selected_rounds(round_ids, self.round_mode))

    @property
    def shard_label(self) -> str | None:
        return f"{self.shard[0]}/{self.shard[1]}" if self.shard else None

    def _create_run(self) -> str:
        return self.sink.create(name=self.spec.name, kind=self.kind, config_hash=self.hash,
                                round_metrics=mode_label(self.round_mode), shard=self.shard_label).run_id

    # -- main flow -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Runs (or resumes, or skips when finished) the campaign; returns a summary dict."""
        existing = self.sink.find(self.kind, self.hash, self.resume, shard=self.shard_label,
                                  spec_data=self.spec_data)
        if existing is not None and existing.status == "FINISHED":
            say(f"already done: run {existing.run_id} ({existing.name}) already finished: "
                "nothing to compute (--resume never starts a new run)")
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
            self._create_run()
            run = SinkRun(run_id=str(self.run_id), status="RUNNING")
            resumed = False
        else:
            run = existing
            resumed = True
            self.attempt = existing.attempts + 1
            # the run keeps its mode (runs of older versions logged every round)
            kept = parse_round_metrics(existing.round_metrics or "all")
            if kept != self.round_mode:
                say(f"run {self.run_id} was started with round_metrics={mode_label(kept)}: it keeps that mode "
                    f"(not {mode_label(self.round_mode)})")
                self.round_mode = kept
        self.plan_round_metrics([r.round_id for r in rounds])
        computed: list[int] = []
        try:
            self.sink.claim(run, attempt=self.attempt, rounds_total=len(rounds), campaign_rounds=len(cmpn.rounds),
                            resumed=resumed, shard=self.shard)
            self.sink.setup(lambda: self._setup_info(cmpn, golden))
            done = self.sink.done_rows({r.round_id for r in rounds})
            todo = [r for r in rounds if r.round_id not in done]
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
            self.sink.drain()
            summary = self._finalize(cmpn, {r.round_id for r in rounds}, t_start)
        except Terminated as exc:
            self._settle()
            self._stop(KILLED, f"{exc} after {self.flushed} chunk(s) of this attempt; resume with "
                               f"--resume {self.run_id}")
            raise
        except KeyboardInterrupt:
            self._settle()
            self._stop(KILLED, f"interrupted (SIGINT) after {self.flushed} chunk(s) of this attempt; "
                               f"resume with --resume {self.run_id}")
            raise
        except TrackingLostError:
            raise
        except ExecutorLostError as exc:
            # the chunks delivered before the loss are durable once the writer has drained
            self._settle()
            reason = (f"{exc}; the {self.flushed} chunk(s) written by this attempt are kept: the same command "
                      f"resumes run {self.run_id}")
            self._stop(FAILED, f"{type(exc).__name__}: {reason}")
            raise ExecutorLostError(reason) from None
        except Exception as exc:
            self._settle()
            self._stop(FAILED, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.sink.close()
            self.executor.close()
        summary.update(resumed=resumed, computed=computed)
        return summary

    def _settle(self) -> None:
        """On the way out (a signal, an error): lets the writer make the chunks it holds
        durable, for at most ``DRAIN_ON_SIGNAL_S``; what is left is recomputed on resume. A
        second signal, or the writer's own error, abandons them at once."""
        try:
            if not self.sink.drain(DRAIN_ON_SIGNAL_S):
                say(f"{self.sink.pending()} chunk(s) not written within {DRAIN_ON_SIGNAL_S:.0f} s: abandoned "
                    "(a resume recomputes their rounds)")
        except BaseException:  # noqa: BLE001 - the writer's error or a second signal: abandon
            pass

    def _stop(self, status: str, reason: str) -> None:
        """Marks the run ``status`` with ``reason`` (see :meth:`~experiments.sink.CampaignSink.fail`)."""
        self.sink.fail(status, reason)

    def _summary_of(self, run: SinkRun, resumed: bool, computed: list[int]) -> dict[str, Any]:
        metrics = dict(run.metrics)
        summary = summary_from_metrics(metrics)
        return {"run_id": run.run_id, "name": run.name, "status": run.status,
                "metrics": metrics, "summary": summary or None, "local_dir": run.local_dir,
                "resumed": resumed, "computed": computed, "skipped": True}

    def _setup_info(self, cmpn: Any, golden: Mapping[str, Any]) -> SetupInfo:
        params = campaign_params(self.spec, cmpn, self.hash)
        if self.shard:
            params["shard"] = str(self.shard_label)
        params.update(executor_params(self.executor))
        params[PARAM_ROUND_METRICS] = mode_label(self.round_mode)
        tags = {T + "campaign_kind": campaign_kind(self.spec),
                "mlflow.note.content": campaign_description(self.spec, cmpn),
                HEALTH_TAG: health_tag(golden_problems(golden, int(cmpn.netmap.output_shape[0])))}
        return SetupInfo(spec=self.spec, cmpn=cmpn, golden=golden, config=self.config, spec_data=self.spec_data,
                         params=params, tags=tags,
                         golden_metrics={**golden_metrics(golden), **deployment_metrics(cmpn)})

    def _flush(self, chunk: Any, t_start: float, n_rounds: int) -> None:
        """Hands a finished chunk to the sink (durable when it returns, or once the sink's
        writer has drained)."""
        if self.run_id is None:
            raise RuntimeError("the campaign run has not been created yet")
        info = {"chunk_index": chunk.chunk_index, "round_ids": chunk.round_ids, "seconds": chunk.seconds,
                "samples": chunk.samples, "attempt": self.attempt, "attempt_started": t_start,
                "finished_at": time.time(), "process": process_identity()}
        self.sink.write_chunk(chunk.rows, info, n_rounds)

    def _finalize(self, cmpn: Any, wanted: set[int], t_start: float) -> dict[str, Any]:
        if self.run_id is None:
            raise RuntimeError("the campaign run has not been created yet")
        table, infos = self.sink.read_table(wanted)
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
        if self.spec.rate_sweep and self.shard_label is None:  # a shard holds part of the draws only
            if isinstance(self.sink, MlflowSink):
                publish_rate_sweep(self.sink.client, str(self.run_id), root, cmpn, result, self.track)
            else:
                from spikefi.campaign.rate_sweep import RateSweep

                path = root / RATE_SWEEP_TABLE
                path.parent.mkdir(parents=True, exist_ok=True)
                RateSweep.of_campaign(cmpn).summary(result).to_csv(path, index=False)
        self.sink.finish(summary, extra, table, self.round_mode, campaign_description(self.spec, cmpn, summary))
        if self.offline_reason is not None:
            raise TrackingLostError(
                f"the campaign finished but MLflow tracking failed ({self.offline_reason}); every result is in "
                f"{root} (table: {root / 'results' / 'rounds.parquet'}). When the server is back, run the same "
                f"command with --resume {self.run_id}: it uploads what is missing and recomputes nothing")
        say(f"run {self.run_id} finished: critical-fault rate {summary['critical_fault_rate']:.4f} "
            f"[{summary['critical_fault_rate_low']:.4f}, {summary['critical_fault_rate_high']:.4f}] over "
            f"{summary['rounds']} rounds; files in {root}")
        out = {"run_id": self.run_id, "name": self.spec.name, "status": "FINISHED", "summary": summary,
               "local_dir": str(root), "table": table, **extra}
        return out


def writer_queue(config: Mapping[str, Any]) -> int:
    """``tracking.writer_queue`` of a config: chunks the background writer may hold before the
    engine waits (default ``DEFAULT_CAPACITY``); 0 writes every chunk before the next is computed."""
    value = (config.get("tracking") or {}).get("writer_queue", DEFAULT_CAPACITY)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or isinstance(value, bool):
        raise ConfigError(f"tracking.writer_queue must be a whole number >= 0 (0: no background writer), got {value!r}")
    return number


def compact_every(config: Mapping[str, Any]) -> int:
    """``tracking.compact_every`` of a config: every this many chunks of an attempt are merged
    into one file (default ``DEFAULT_COMPACT_EVERY``; 0: never)."""
    value = (config.get("tracking") or {}).get("compact_every", DEFAULT_COMPACT_EVERY)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or isinstance(value, bool):
        raise ConfigError(f"tracking.compact_every must be a whole number >= 0 (0: never merge chunk files), "
                          f"got {value!r}")
    return number


def flush_every_s(config: Mapping[str, Any]) -> float:
    """``tracking.flush_every_s`` of a config: chunks finished within this many seconds of the
    last flush are written together (default ``DEFAULT_FLUSH_EVERY_S``; 0: every chunk by itself)."""
    value = (config.get("tracking") or {}).get("flush_every_s", DEFAULT_FLUSH_EVERY_S)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number >= 0 or number == float("inf") or isinstance(value, bool):
        raise ConfigError(f"tracking.flush_every_s must be a number of seconds >= 0 (0: write every chunk by "
                          f"itself), got {value!r}")
    return number


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
