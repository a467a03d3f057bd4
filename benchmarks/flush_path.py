"""How many rows per second the tracked campaign's flush path sustains: is logging the limit?

    .venv/bin/python benchmarks/flush_path.py                  # sqlite and mlflow server, ~3-5 min
    .venv/bin/python benchmarks/flush_path.py --quick          # a tiny version (CI)
    .venv/bin/python benchmarks/flush_path.py --stores sqlite --chunk-sizes 512
    .venv/bin/python benchmarks/flush_path.py --stores sqlite --chunk-sizes 2048 --round-metrics 1000,all,none

With the Ray executor the campaign driver flushes every chunk that comes back from any GPU,
one after the other, through ``TrackedCampaign._flush`` (experiments/tracked_campaign.py):

1. the rows are written atomically as a Parquet chunk file (``artifacts.write_chunk``:
   DataFrame, rows sha256, fsync + rename);
2. that file is logged as an artifact (``MlflowClient.log_artifact``);
3. the per-round metric points (``ROUND_METRICS``, step = round id) of the rounds that
   ``tracking.round_metrics`` selects and the heartbeat tags go out in one
   ``MlflowClient.log_batch`` (which the client splits into requests of at most 1000 metrics).

The benchmark sets ``tracking.writer_queue: 0`` and ``tracking.flush_every_s: 0`` (a campaign's
defaults are a background writer and coalesced fast chunks), so every step is synchronous and
each timed chunk is one flush: a flush's time is its *durable* time: when ``_flush`` returns the
chunk is on disk (fsync + rename), its artifact copy is written and its points are in the store.

This script drives that real code: a ``TrackedCampaign`` whose run is created as a campaign's
is, fed ``ChunkResult`` s whose rows are real rows (a small digits-net campaign run once on the
CPU: dead neurons of SF4, dead synapses of SC2, synapses x2 of SF3) replicated with new round
ids. It times each flush and its three steps (``write_chunk`` and the client's
``log_artifact`` / ``log_batch`` wrapped with timers; "other" is the rest: building the metric
points, the progress line) against

* ``sqlite``: a local sqlite store in a temporary folder (artifacts in a local folder), and
* ``server``: a local ``mlflow server`` started here on a free port (sqlite backend, artifacts
  served by the server from a local folder, so uploads go over HTTP as to a remote server),

for each chunk size and ``round_metrics`` mode (``--round-metrics``, default ``1000,all,none``):
a fresh run of a campaign of ``--campaign-rounds`` rounds (default 162,216, the 2-H200 run
below; the mode's stride is planned over them, as a real run plans it over its rounds), one
warm-up chunk (not timed), then chunks until ``--seconds`` have passed (at least
``--min-chunks``; at most the campaign's rounds). Afterwards it checks that the run holds the
metric points of every flushed round the mode selects exactly once per key, no other, and one
chunk artifact per flush. Besides the
wall-clock rate it prints rows per CPU second of this process (the driver) and of the server:
about the rate on an idle machine, since the flush is one serial path. Then, at one chunk size
(``--what-if-chunk``), what ``log_batch`` alone costs with fewer metric points than ``_flush``
logs (one key per round; one chunk mean per key): what a change of the flush would gain.

The rates are compared with what 8 GPUs produce: 2 H200s evaluated 162,216 rounds x 359
samples of the digits net in 30.13 s (benchmarks/results/scaling_2h200_2026-11-30.txt), about
5,384 rows/s; 8 GPUs at linear scaling give about 21,535 rows/s at 359 samples per round, and
rows/s scale inversely with the samples per round. The machine's load average is printed:
other processes on the same cores slow every number down.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from analysis.schema import ROUND_METRICS, ROUND_METRICS_DEFAULT
from experiments import artifacts as art
from experiments.tracked_campaign import TrackedCampaign
from spikefi.campaign.spec import CampaignSpec
from spikefi.campaign.types import ChunkResult

#: the 2-H200 measurement the rates are compared with (digits net, every single fault)
MEASURED_ROUNDS = 162_216
MEASURED_SAMPLES = 359
MEASURED_EVAL_S = 30.13
MEASURED_GPUS = 2
TARGET_GPUS = 8
#: rows/s of one GPU, and of 8 GPUs at linear scaling (at MEASURED_SAMPLES samples per round)
ROWS_PER_S_PER_GPU = MEASURED_ROUNDS / MEASURED_EVAL_S / MEASURED_GPUS
ROWS_PER_S_TARGET = ROWS_PER_S_PER_GPU * TARGET_GPUS
#: faults x samples per second of 8 GPUs: rows/s at S samples per round = this / S
FS_PER_S_TARGET = ROWS_PER_S_TARGET * MEASURED_SAMPLES

PHASES = ("parquet", "artifact", "log_batch")


# -- real rows ------------------------------------------------------------------------------
def seed_spec(sampled: int, samples: int) -> CampaignSpec:
    """The small digits-net campaign whose real rows are replicated: every dead neuron of SF4,
    ``sampled`` dead synapses of SC2 and ``sampled`` synapses x2 of SF3, on ``samples`` inputs."""
    return CampaignSpec.from_dict({
        "name": "flush-path",
        "network": {"pretrained": "digits_cnn"},
        "data": {"name": "spiking_digits", "seed": 0, "max_samples": samples},
        "options": {"seed": 0, "batch_size": 64, "engine": "parallel", "chunk_size": 512, "device": "cpu"},
        "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]},
                       {"model": "DeadSynapse", "layers": ["SC2"], "sample": sampled},
                       {"model": "PerturbedSynapse", "factor": 2.0, "layers": ["SF3"], "sample": sampled}],
    })


def real_rows(spec: CampaignSpec) -> list[dict[str, Any]]:
    """Every row of ``spec``'s campaign, computed in-process on the CPU (``result_row`` rows)."""
    cmpn = spec.build()
    rows: list[dict[str, Any]] = []
    for chunk in cmpn.iter_chunks("parallel", 512, progress=False):
        rows.extend(chunk.rows)
    return sorted(rows, key=lambda r: int(r["round_id"]))


def make_chunk(template: Sequence[dict[str, Any]], index: int, first_round: int, size: int) -> ChunkResult:
    """A ``ChunkResult`` of ``size`` rounds from ``first_round`` on: the template's rows in turn,
    each with its new round id."""
    rows = [{**template[(first_round + i) % len(template)], "round_id": first_round + i} for i in range(size)]
    return ChunkResult(chunk_index=index, round_ids=[r["round_id"] for r in rows], rows=rows,
                       seconds=0.1, samples=int(template[0]["samples"]))


# -- timing the flush's steps ---------------------------------------------------------------
@dataclass
class Timers:
    """Seconds spent in each flush step since the last :meth:`reset`."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    requests: int = 0

    def reset(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.requests = 0

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0


class TimedClient(MlflowClient):
    """An ``MlflowClient`` whose ``log_artifact`` and ``log_batch`` add their time to ``timers``."""

    def __init__(self, tracking_uri: str, timers: Timers) -> None:
        super().__init__(tracking_uri)
        self.timers = timers

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        with self.timers.phase("artifact"):
            super().log_artifact(run_id, local_path, artifact_path)

    def log_batch(self, run_id: str, metrics: Sequence[Any] = (), params: Sequence[Any] = (),
                  tags: Sequence[Any] = (), synchronous: bool | None = None) -> Any:
        with self.timers.phase("log_batch"):
            # the client sends at most 1000 metrics per request
            self.timers.requests += max(1, -(-len(metrics) // 1000))
            return super().log_batch(run_id, metrics=metrics, params=params, tags=tags, synchronous=synchronous)


@contextlib.contextmanager
def timed_write_chunk(timers: Timers) -> Iterator[None]:
    """``artifacts.write_chunk`` (what ``_flush`` calls as ``art.write_chunk``) timed."""
    original: Callable[..., Path] = art.write_chunk

    def write_chunk(directory: Path, rows: list[dict[str, Any]], info: Any) -> Path:
        with timers.phase("parquet"):
            return original(directory, rows, info)

    art.write_chunk = write_chunk
    try:
        yield
    finally:
        art.write_chunk = original


# -- stores ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def mlflow_server(work: Path, timeout_s: float = 180.0) -> Iterator[tuple[str, int]]:
    """A local ``mlflow server`` (sqlite backend, artifacts served from a local folder) on a free
    port for the duration; yields its URL and process group id (the server and its workers)."""
    port = free_port()
    exe = str(Path(sys.executable).with_name("mlflow"))
    cmd = [exe, "server", "--backend-store-uri", f"sqlite:///{work / 'server.db'}",
           "--artifacts-destination", str(work / "server-artifacts"), "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # no GenAI job runner: its 7 idle queue consumers would share the cores with the measured path
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    log = open(work / "server.log", "wb")  # noqa: SIM115 - closed below, after the process
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with code {proc.returncode}:\n"
                                   + (work / "server.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server not up after {timeout_s:.0f} s:\n"
                                   + (work / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url, proc.pid
    finally:
        stop_group(proc)
        log.close()


def stop_group(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """Stops ``proc`` and the processes it started (its own session's group: the server starts
    uvicorn workers), SIGTERM first, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _group_alive(proc.pid):
            time.sleep(0.2)
        if not _group_alive(proc.pid):
            return


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True



def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group ``pgid``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp, ..., utime (12), stime (13)
            total += int(fields[11]) + int(fields[12])
    return total / tick


@dataclass
class Store:
    """Where the flushes go: an MLflow tracking URI and how to read the CPU time its server
    process (if any) has used."""

    name: str
    uri: str
    server_cpu: Callable[[], float] = lambda: 0.0
    artifact_location: str | None = None


# -- one measurement ------------------------------------------------------------------------
@dataclass
class Measurement:
    """One store and chunk size: the timed chunks, their rows and seconds, split by step, and
    the CPU seconds of this process (the driver) and of the server."""

    store: str
    mode: str
    chunk_size: int
    chunks: int
    rows: int
    seconds: float
    split: dict[str, float]
    requests: int
    driver_cpu_s: float
    server_cpu_s: float
    check: str
    points: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def rows_per_cpu_s(self) -> float:
        """Rows per CPU second of driver and server together: about the rate on an idle machine
        (the flush is one serial path; I/O waits such as fsync are not counted)."""
        cpu = self.driver_cpu_s + self.server_cpu_s
        return self.rows / cpu if cpu > 0 else 0.0

    @property
    def ms_per_chunk(self) -> dict[str, float]:
        other = self.seconds - sum(self.split.values())
        return {**{k: 1000 * v / self.chunks for k, v in self.split.items()}, "other": 1000 * other / self.chunks}

    @property
    def us_per_metric_point(self) -> float:
        return 1e6 * self.split["log_batch"] / self.points if self.points else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"store": self.store, "round_metrics": self.mode, "chunk_size": self.chunk_size,
                "metric_points": self.points, "chunks": self.chunks, "rows": self.rows,
                "seconds": self.seconds, "rows_per_s": self.rows_per_s, "rows_per_cpu_s": self.rows_per_cpu_s,
                "split_s": self.split, "ms_per_chunk": self.ms_per_chunk,
                "log_batch_us_per_metric_point": self.us_per_metric_point, "log_batch_requests": self.requests,
                "driver_cpu_s": self.driver_cpu_s, "server_cpu_s": self.server_cpu_s, "check": self.check}


def check_run(client: MlflowClient, run_id: str, round_ids: Sequence[int], chunks: int) -> str:
    """``"ok"`` when the run holds each of ``round_ids``' metric points exactly once per
    ``ROUND_METRICS`` key (and no other) and ``chunks`` chunk artifacts; else what is wrong."""
    wanted = sorted(round_ids)
    for key in ROUND_METRICS:
        steps = sorted(m.step for m in client.get_metric_history(run_id, key))
        if steps != wanted:
            repeated, missing = len(steps) - len(set(steps)), len(set(wanted) - set(steps))
            return f"{key}: {len(steps)} points for {len(wanted)} rounds ({missing} missing, {repeated} repeated)"
    files = [f for f in client.list_artifacts(run_id, art.CHUNKS_DIR) if not f.is_dir]
    if len(files) != chunks:
        return f"{len(files)} chunk artifacts for {chunks} flushed chunks"
    return "ok"


def measure(store: Store, experiment_id: str, spec: CampaignSpec, template: Sequence[dict[str, Any]],
            chunk_size: int, seconds: float, min_chunks: int, max_chunks: int, out_dir: Path,
            mode: str = str(ROUND_METRICS_DEFAULT), campaign_rounds: int = 162_216) -> Measurement:
    """Flushes one warm-up chunk, then chunks of ``chunk_size`` rounds until ``seconds`` have
    passed (at least ``min_chunks``, at most ``max_chunks`` and ``campaign_rounds`` rounds in
    all) through a fresh run's ``_flush`` under ``round_metrics`` = ``mode`` (its rounds planned
    over a campaign of ``campaign_rounds``); checks the run afterwards."""
    timers = Timers()
    client = TimedClient(store.uri, timers)
    # every chunk written by itself, synchronously: one durable flush per timed chunk (no compaction every
    # 64 chunks: its cost is not a flush's, and the check counts one chunk artifact per flush)
    tracked = TrackedCampaign(spec, {"tracking": {"writer_queue": 0, "flush_every_s": 0, "compact_every": 0}}, client,
                              experiment_id, out_dir, resume="never", progress=False, round_metrics=mode)
    tracked.plan_round_metrics(range(campaign_rounds))
    tracked.run_id = tracked._create_run()
    flushed: list[int] = []
    quiet = io.StringIO()  # _flush's progress lines
    with timed_write_chunk(timers), contextlib.redirect_stdout(quiet):
        warm = make_chunk(template, 0, 0, chunk_size)
        t_start = time.time()
        tracked._flush(warm, t_start, 0)
        flushed += warm.round_ids
        timers.reset()
        elapsed = driver_cpu = server_cpu = 0.0
        chunks = 0
        while (chunks < max_chunks and len(flushed) + chunk_size <= campaign_rounds
               and (elapsed < seconds or chunks < min_chunks)):
            chunk = make_chunk(template, chunks + 1, len(flushed), chunk_size)
            cpu0, server0, t0 = time.process_time(), store.server_cpu(), time.perf_counter()
            tracked._flush(chunk, t_start, 0)
            elapsed += time.perf_counter() - t0
            driver_cpu += time.process_time() - cpu0
            server_cpu += store.server_cpu() - server0
            flushed += chunk.round_ids
            chunks += 1
            quiet.seek(0)
            quiet.truncate()
    if tracked.offline_reason is not None:
        raise RuntimeError(f"{store.name}: tracking failed during the flushes: {tracked.offline_reason}")
    selected = tracked.selected
    logged = [r for r in flushed if selected is None or r in selected]
    check = check_run(client, str(tracked.run_id), logged, chunks + 1)
    timed = set(flushed[chunk_size:])  # the warm-up chunk is not timed
    points = len(ROUND_METRICS) * sum(1 for r in logged if r in timed)
    return Measurement(store.name, mode, chunk_size, chunks, chunks * chunk_size, elapsed, dict(timers.seconds),
                       timers.requests, driver_cpu, server_cpu, check, points)


# -- what if the flush logged fewer metric points -------------------------------------------
def what_if(store: Store, experiment_id: str, template: Sequence[dict[str, Any]], chunk_size: int,
            repeats: int) -> dict[str, float]:
    """Milliseconds per ``log_batch`` of one chunk (with the heartbeat tags) when it carries the
    real points (every ``ROUND_METRICS`` key per round), one key per round, or one point per key
    per chunk (chunk means, step = the chunk's last round id). Not what ``_flush`` does: what a
    change of it would cost."""
    client = MlflowClient(store.uri)
    run_id = client.create_run(experiment_id, run_name=f"what-if-{chunk_size}").info.run_id
    now = int(time.time() * 1000)
    keys = list(ROUND_METRICS.items())
    out: dict[str, float] = {}
    for label, per_round_keys, per_chunk in (("3 keys per round (as now)", keys, False),
                                             ("1 key per round", keys[:1], False),
                                             ("3 chunk means per chunk", keys, True)):
        spent = 0.0
        for i in range(repeats):
            first = (len(out) * repeats + i) * chunk_size
            rows = make_chunk(template, i, first, chunk_size).rows
            if per_chunk:
                metrics = [Metric(k, sum(float(r[c]) for r in rows) / len(rows), now, first + chunk_size - 1)
                           for k, c in per_round_keys]
            else:
                metrics = [Metric(k, float(r[c]), now, int(r["round_id"])) for r in rows for k, c in per_round_keys]
            tags = [RunTag("spikefi.heartbeat", f"{time.time():.3f}"), RunTag("spikefi.rounds_done", str(first))]
            t0 = time.perf_counter()
            client.log_batch(run_id, metrics=metrics, tags=tags)
            spent += time.perf_counter() - t0
        out[label] = 1000 * spent / repeats
    return out


def run_store(store: Store, work: Path, spec: CampaignSpec, template: Sequence[dict[str, Any]],
              chunk_sizes: Sequence[int], args: argparse.Namespace) -> tuple[list[Measurement], dict[str, float]]:
    """Every chunk size and ``round_metrics`` mode against one store (one experiment, one fresh
    run each), then the what-if ``log_batch`` variants at chunk size ``--what-if-chunk`` (0: none)."""
    client = MlflowClient(store.uri)
    experiment_id = client.create_experiment(f"flush-path-{store.name}", artifact_location=store.artifact_location)
    out = []
    for size in chunk_sizes:
        for mode in args.modes:
            m = measure(store, experiment_id, spec, template, size, args.seconds, args.min_chunks, args.max_chunks,
                        work / f"out-{store.name}", mode, args.campaign_rounds)
            print_row(m)
            out.append(m)
    variants = what_if(store, experiment_id, template, args.what_if_chunk, 3) if args.what_if_chunk else {}
    return out, variants


# -- output ---------------------------------------------------------------------------------
HEADER = (f"{'store':<7} {'mode':>5} {'chunk':>5} {'chunks':>6} {'rows':>7} {'wall s':>6} {'rows/s':>7} {'rows/CPU-s':>10}  "
          f"{'ms per chunk: parquet':>21} {'artifact':>8} {'log_batch':>9} {'other':>5}  "
          f"{'share p/a/l/o':<15} {'us/point':>8} {'requests':>8}  check")


def print_row(m: Measurement) -> None:
    ms = m.ms_per_chunk
    total_ms = 1000 * m.seconds / m.chunks
    share = "/".join(f"{100 * v / total_ms:.0f}" for v in ms.values())
    print(f"{m.store:<7} {m.mode:>5} {m.chunk_size:>5} {m.chunks:>6} {m.rows:>7,} {m.seconds:>6.1f} {m.rows_per_s:>7,.0f} "
          f"{m.rows_per_cpu_s:>10,.0f}  {ms['parquet']:>21.1f} {ms['artifact']:>8.1f} {ms['log_batch']:>9.1f} "
          f"{ms['other']:>5.1f}  {share + ' %':<15} {m.us_per_metric_point:>8.0f} {m.requests / m.chunks:>8.0f}  "
          f"{m.check}", flush=True)


def verdict(m: Measurement) -> str:
    """Whether ``m``'s rate keeps up with 8 GPUs at 359 samples per round, and down to how few
    samples per round it would."""
    ratio = m.rows_per_s / ROWS_PER_S_TARGET
    break_even = FS_PER_S_TARGET / m.rows_per_s if m.rows_per_s > 0 else float("inf")
    idle = m.rows_per_cpu_s / ROWS_PER_S_TARGET
    if ratio >= 1:
        head = (f"logging is NOT the limit at chunk size {m.chunk_size}, round_metrics={m.mode} "
                f"({ratio:.1f}x the 8-GPU rate)")
    else:
        head = (f"logging IS the limit at chunk size {m.chunk_size}, round_metrics={m.mode}: {ratio:.2f}x the 8-GPU rate "
                f"(8 GPUs would run at ~{ratio * TARGET_GPUS:.1f} GPUs' speed)")
    return (f"{m.store:<7} {head}; idle-machine estimate {idle:.2f}x; it keeps up with 8 GPUs only at "
            f">= ~{break_even:,.0f} samples per round")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny: chunk sizes 64 and 256, ~0.5 s each, few real rows")
    ap.add_argument("--stores", default="sqlite,server", help="comma-separated: sqlite, server (default both)")
    ap.add_argument("--chunk-sizes", default=None, help="comma-separated rounds per chunk (default 64,256,512,2048)")
    ap.add_argument("--seconds", type=float, default=None, help="timed flushing per store and chunk size (default 10)")
    ap.add_argument("--min-chunks", type=int, default=None, help="timed chunks at least (default 3; --quick 2)")
    ap.add_argument("--max-chunks", type=int, default=2000, help="timed chunks at most (default 2000)")
    ap.add_argument("--round-metrics", default=None,
                    help="comma-separated round_metrics modes: all, none, N (default 1000,all,none; --quick 1000,all)")
    ap.add_argument("--campaign-rounds", type=int, default=162_216,
                    help="rounds of the campaign the modes' strides are planned over (default 162,216)")
    ap.add_argument("--what-if-chunk", type=int, default=None,
                    help="chunk size of the what-if log_batch variants (default 512; --quick 0: none)")
    ap.add_argument("--keep", default=None, help="keep the stores and chunk files in this folder")
    ap.add_argument("--json", default=None, help="also write the measurements to this JSON file")
    args = ap.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not stores or set(stores) - {"sqlite", "server"}:
        ap.error(f"--stores: sqlite and/or server, got {args.stores!r}")
    chunk_sizes = [int(s) for s in (args.chunk_sizes or ("64,256" if args.quick else "64,256,512,2048")).split(",")]
    if min(chunk_sizes) < 1:
        ap.error("--chunk-sizes: positive numbers of rounds")
    if args.seconds is None:
        args.seconds = 0.5 if args.quick else 10.0
    if args.min_chunks is None:
        args.min_chunks = 2 if args.quick else 3
    args.modes = [m.strip() for m in (args.round_metrics or ("1000,all" if args.quick else "1000,all,none")).split(",")
                  if m.strip()]
    from experiments.round_metrics import parse_round_metrics
    from spikefi.errors import ConfigError

    try:
        for mode in args.modes:
            parse_round_metrics(mode)
    except ConfigError as exc:
        ap.error(f"--round-metrics: {exc}")
    if args.campaign_rounds < max(chunk_sizes) * 2:
        ap.error(f"--campaign-rounds must hold at least two chunks of {max(chunk_sizes)} rounds")
    if args.what_if_chunk is None:
        args.what_if_chunk = 0 if args.quick else 512
    sampled, samples = (10, 16) if args.quick else (120, 32)

    import mlflow

    t0 = time.perf_counter()
    print(f"# flush path of a tracked campaign (TrackedCampaign._flush: Parquet chunk, artifact, log_batch); "
          f"MLflow {mlflow.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    print(f"# 8-GPU estimate: {MEASURED_ROUNDS:,} rounds x {MEASURED_SAMPLES} samples in {MEASURED_EVAL_S} s on "
          f"{MEASURED_GPUS} H200s = {ROWS_PER_S_PER_GPU:,.0f} rows/s per GPU -> {TARGET_GPUS} GPUs "
          f"{ROWS_PER_S_TARGET:,.0f} rows/s at {MEASURED_SAMPLES} samples per round "
          f"({FS_PER_S_TARGET / 1e6:.2f}M f·s/s; rows/s = that / samples per round)")
    spec = seed_spec(sampled, samples)
    template = real_rows(spec)
    print(f"# real rows: {len(template)} rounds of the digits net ({samples} samples, {len(template[0])} columns) "
          f"computed in {time.perf_counter() - t0:.1f} s, replicated with new round ids; per store and chunk size "
          f"a fresh run, one warm-up chunk, then >= {args.seconds:g} s and >= {args.min_chunks} chunks of flushes, "
          "timed", flush=True)
    print("# rows/s: wall clock on this machine (shared: see the load average); rows/CPU-s: rows per CPU second "
          "of driver + server, about the rate on an idle core; us/point: log_batch time per metric point; "
          "requests: log_batch requests per chunk (<= 1000 metrics each)")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="spikefi-flush-"))
    work.mkdir(parents=True, exist_ok=True)
    results: list[Measurement] = []
    variants: dict[str, dict[str, float]] = {}
    try:
        print("\n" + HEADER)
        for name in stores:
            if name == "sqlite":
                store = Store("sqlite", f"sqlite:///{work / 'store.db'}",
                              artifact_location=(work / "sqlite-artifacts").as_uri())
                MlflowClient(store.uri).search_experiments()  # creates the tables outside the timing
                got, variants[name] = run_store(store, work, spec, template, chunk_sizes, args)
                results += got
            else:
                t_server = time.perf_counter()
                with mlflow_server(work) as (url, pgid):
                    print(f"# mlflow server {url} up in {time.perf_counter() - t_server:.1f} s (1 worker, sqlite "
                          "backend, artifacts served from a local folder, job runner off)", flush=True)
                    store = Store("server", url, server_cpu=lambda pgid=pgid: group_cpu_seconds(pgid))
                    got, variants[name] = run_store(store, work, spec, template, chunk_sizes, args)
                    results += got
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if any(variants.values()):
        print(f"\n# what if (not the real flush): log_batch of one {args.what_if_chunk}-round chunk, ms "
              "(mean of 3), and the rows/s that log_batch alone would allow")
        for name, got in variants.items():
            print(f"{name:<7} " + "; ".join(f"{label}: {ms:,.0f} ms ({args.what_if_chunk / ms * 1000:,.0f} rows/s)"
                                           for label, ms in got.items()))
    print(f"\n# verdict (8 GPUs ~{ROWS_PER_S_TARGET:,.0f} rows/s at {MEASURED_SAMPLES} samples per round; "
          f"the 2-GPU run used chunk size 512)")
    for m in results:
        print(verdict(m))
    print(f"# load average {os.getloadavg()[0]:.2f}; whole benchmark {time.perf_counter() - t0:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "rows_per_s_8_gpus": ROWS_PER_S_TARGET, "samples_per_round": MEASURED_SAMPLES,
            "template_rounds": len(template), "measurements": [m.as_dict() for m in results],
            "what_if_chunk": args.what_if_chunk, "what_if_ms": variants}, indent=2))
    return 0 if all(m.check == "ok" for m in results) else 1


if __name__ == "__main__":
    sys.exit(main())
