"""The Ray executor: an actor pool that hands out chunks on demand and re-runs lost ones."""

from __future__ import annotations

import time
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ....errors import ConfigError
from ...context import ShippableCampaign
from ...types import ChunkResult, Round, RunOptions
from ..base import Executor, ExecutorError, ExecutorLostError, plan_chunks
from .cluster import check_resources, connect, cpu_share
from .health import ClusterWatch, kill_hook
from .worker import _Worker

__all__ = ["RayExecutor"]


@dataclass
class _Slot:
    handle: Any
    ready_ref: Any
    state: str = "starting"  # starting | ready | dead
    inflight: int = 0
    facts: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)


class RayExecutor(Executor):
    """Runs chunks on Ray actors (see the module docstring).

    Args:
        address: ``None`` starts a local Ray (or uses the one this process already started),
            ``"auto"`` joins the cluster of this machine, ``"HOST:PORT"`` (or
            ``ray://HOST:PORT``) a remote one.
        workers: number of actors (default: one per GPU of the cluster, else 2).
        gpus_per_worker: GPUs per actor: 1 (one actor per GPU), a fraction such as 0.5 (two
            actors share a GPU) or 0 (CPU actors).
        cpus_per_worker: CPU cores per actor (its torch threads). ``None`` (default): a GPU
            actor gets its GPU's share of its node's cores (16 on a 32-core node with 2
            GPUs), a CPU actor gets 1.
        prefetch: chunks each actor holds at most (one running, the others queued).
        max_retries: times one chunk is re-run after its actor died or it raised.
        max_restarts: replacement actors started in all after actors died.
        start_timeout_s: how long to wait for the first actor (resources, image pulls).
        temp_dir: Ray's temp folder when starting a local Ray (keep it SHORT: Ray refuses
            socket paths over ~107 bytes).
        init_kwargs: extra ``ray.init`` arguments for a local start (e.g. ``num_cpus``).
        runtime_env: Ray runtime environment of the actors (``env_vars``, ``pip``,
            ``working_dir`` for a user's own network module on a cluster).
        health_interval_s: how often the driver checks, while it waits for results, that its
            own Ray node and the cluster's head are alive (:mod:`.health`; a loss ends the
            campaign with :class:`ExecutorLostError`).
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, gpus_per_worker: float = 0.0,
                 cpus_per_worker: int | None = None, prefetch: int = 2, max_retries: int = 3, max_restarts: int = 4,
                 start_timeout_s: float = 300.0, temp_dir: str | None = None,
                 init_kwargs: dict[str, Any] | None = None, runtime_env: dict[str, Any] | None = None,
                 health_interval_s: float = 1.0) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"workers must be an int >= 1, got {workers!r}")
        if isinstance(gpus_per_worker, bool) or not isinstance(gpus_per_worker, (int, float)) \
                or not 0 <= gpus_per_worker <= 1:
            raise ConfigError(f"gpus_per_worker must be a number in [0, 1] (0: CPU workers, 0.5: two workers "
                              f"share a GPU), got {gpus_per_worker!r}")
        if cpus_per_worker is not None and (isinstance(cpus_per_worker, bool) or not isinstance(cpus_per_worker, int)
                                            or cpus_per_worker < 1):
            raise ConfigError(f"cpus_per_worker must be an int >= 1 (or None: a GPU's share of its node's cores), "
                              f"got {cpus_per_worker!r}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
            raise ConfigError(f"prefetch must be an int >= 1, got {prefetch!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries must be an int >= 0, got {max_retries!r}")
        self.address = address
        self.workers = workers
        self.gpus_per_worker = float(gpus_per_worker)
        self.cpus_per_worker = cpus_per_worker
        #: the CPU cores each actor asks for (``cpus_per_worker`` resolved by :meth:`check_resources`)
        self.cpus_each = cpus_per_worker or 1
        self.prefetch = prefetch
        self.max_retries = max_retries
        self.max_restarts = max_restarts
        self.start_timeout_s = start_timeout_s
        self.temp_dir = temp_dir
        self.init_kwargs = dict(init_kwargs or {})
        self.runtime_env = dict(runtime_env) if runtime_env else None
        if isinstance(health_interval_s, bool) or not isinstance(health_interval_s, (int, float)) \
                or not 0 < health_interval_s <= 60:
            raise ConfigError(f"health_interval_s must be a number of seconds in (0, 60], got {health_interval_s!r}")
        self.health_interval_s = float(health_interval_s)
        #: golden summary of the first worker that came up (the driver adopts it)
        self.golden_summary: dict[str, Any] | None = None
        #: timings and facts of the last run: actor start, build, golden, evaluation, retries
        self.last_run: dict[str, Any] = {}
        self._session: dict[str, Any] | None = None
        self._slots: list[_Slot] = []
        self._starting: dict[Any, _Slot] = {}

    # -- cluster ----------------------------------------------------------------------
    def connect(self) -> Any:
        """Starts or joins Ray (once per process); returns the ``ray`` module. A local Ray this
        process starts is watched by a guard (:mod:`.guard`): it goes down with the driver,
        also after a SIGKILL."""
        ray = connect(self.address, self.temp_dir, self.init_kwargs)
        if self.address is None:
            from .guard import ensure_guard

            ensure_guard(ray)
        return ray

    def check_resources(self, ray: Any) -> int:
        """The worker count, checked against the cluster's GPUs and CPUs (sets :attr:`cpus_each`)."""
        workers, self.cpus_each = check_resources(ray, self.workers, self.gpus_per_worker, self.cpus_per_worker)
        return workers

    def _cpu_share(self, ray: Any) -> int:
        return cpu_share(ray, self.gpus_per_worker)

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "executor_workers": self.last_run.get("workers"),
                "executor_devices": self.last_run.get("devices"), "executor_retries": self.last_run.get("retries", 0)}

    # -- running ----------------------------------------------------------------------
    def _start(self, ray: Any, actor_cls: Any, ref: Any, options: RunOptions) -> _Slot:
        use_gpu = self.gpus_per_worker > 0
        extra = {"runtime_env": self.runtime_env} if self.runtime_env else {}
        handle = actor_cls.options(num_gpus=self.gpus_per_worker, num_cpus=self.cpus_each, max_restarts=0,
                                   max_task_retries=0, **extra).remote(ref, options, self.cpus_each, use_gpu)
        return _Slot(handle, handle.ready.remote())

    def start(self, campaign: ShippableCampaign, options: RunOptions) -> None:
        """Ships the campaign and starts the actors (idempotent for the same campaign)."""
        if self._session is not None and self._session["campaign"] is campaign \
                and self._session["options"] == options:
            return
        self.close()
        self.golden_summary = None  # an executor used again for another campaign
        ray = self.connect()
        n_workers = self.check_resources(ray)
        t0 = time.perf_counter()
        shipped = campaign if campaign.device.type == "cpu" else campaign.portable_copy()
        ref = ray.put(shipped)
        actor_cls = ray.remote(_Worker)
        self._session = {"campaign": campaign, "options": options, "ray": ray, "ref": ref, "actor_cls": actor_cls,
                         "watch": ClusterWatch(ray, interval_s=self.health_interval_s), "t0": t0, "ship_s": time.perf_counter() - t0, "workers": n_workers,
                         "restarts_left": self.max_restarts, "facts": [], "first_ready": None}
        self._slots = [self._start(ray, actor_cls, ref, options) for _ in range(n_workers)]
        self._starting = {s.ready_ref: s for s in self._slots}

    def golden(self, campaign: ShippableCampaign, options: RunOptions) -> dict[str, Any]:
        """Starts the actors and returns the golden summary of the first one that is up."""
        self.start(campaign, options)
        while self.golden_summary is None:
            self._wait_started(block=True)
        return self.golden_summary

    def close(self) -> None:
        """Stops this executor's actors (Ray itself keeps running for later campaigns)."""
        if self._session is None:
            return
        ray = self._session["ray"]
        for s in self._slots:
            if s.state != "dead":
                try:
                    ray.kill(s.handle, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        self._session = None
        self._slots = []
        self._starting = {}

    def _lost_errors(self) -> tuple[type[BaseException], ...]:
        ray = self._session["ray"]  # type: ignore[index]
        return tuple(getattr(ray.exceptions, n) for n in ("RayActorError", "WorkerCrashedError", "NodeDiedError",
                                                          "ObjectLostError", "OwnerDiedError", "ActorUnavailableError")
                     if hasattr(ray.exceptions, n))

    def _on_started(self, ref: Any) -> _Slot | None:
        """Handles a finished ``ready()`` call: the slot is ready, or dead (and replaced)."""
        ray = self._session["ray"]  # type: ignore[index]
        slot = self._starting.pop(ref)
        try:
            slot.facts = ray.get(ref)
        except self._lost_errors() as exc:
            self._session["watch"].check(force=True)  # type: ignore[index]
            self._retire(slot, type(exc).__name__)
            return None
        except ray.exceptions.RayTaskError as exc:
            raise ExecutorError(f"a Ray worker could not build the campaign: {_cause(exc)}") from None
        slot.state = "ready"
        self._session["facts"].append(slot.facts)  # type: ignore[index]
        if self.gpus_per_worker >= 1:  # actors sharing a GPU see each other's memory
            _warn_if_gpu_shared(slot.facts)
        if self.golden_summary is None:
            self.golden_summary = slot.facts["golden"]
        if self._session["first_ready"] is None:  # type: ignore[index]
            self._session["first_ready"] = time.perf_counter()  # type: ignore[index]
        return slot

    def _wait_started(self, block: bool) -> None:
        ray = self._session["ray"]  # type: ignore[index]
        self._session["watch"].check()  # type: ignore[index]
        if not self._starting:
            if not any(s.state == "ready" for s in self._slots):
                raise ExecutorLostError(f"every Ray worker died and no restarts are left ({self.max_restarts} used)")
            return
        ready, _ = ray.wait(list(self._starting), num_returns=1, timeout=self.health_interval_s if block else 0)
        if ready:
            self._on_started(ready[0])
        else:
            self._check_start_timeout()

    def _check_start_timeout(self) -> None:
        if any(s.state == "ready" for s in self._slots) or not self._starting:
            return
        waited = time.perf_counter() - min(s.started for s in self._starting.values())
        if waited > self.start_timeout_s:
            ray = self._session["ray"]  # type: ignore[index]
            raise ExecutorError(f"no Ray worker started within {self.start_timeout_s:.0f} s (asked for "
                                f"{self.gpus_per_worker:g} GPU and {self.cpus_each} CPU each; the cluster has "
                                f"{ray.cluster_resources()})")

    def _retire(self, slot: _Slot, why: str) -> None:
        session = self._session
        if slot.state == "dead" or session is None:
            return
        slot.state = "dead"
        try:
            session["ray"].kill(slot.handle, no_restart=True)
        except Exception:  # noqa: BLE001 - it is already gone
            pass
        if session["restarts_left"] > 0:
            session["restarts_left"] -= 1
            new = self._start(session["ray"], session["actor_cls"], session["ref"], session["options"])
            self._slots.append(new)
            self._starting[new.ready_ref] = new

    def run(self, campaign: ShippableCampaign, rounds: Sequence[Round], options: RunOptions,
            on_chunk: Any = None) -> Iterator[ChunkResult]:
        self.start(campaign, options)
        session = self._session
        if session is None:  # start() always sets it; a clear error rather than an AttributeError below
            raise ExecutorError("the Ray executor did not start its workers")
        ray = session["ray"]
        watch: ClusterWatch = session["watch"]
        lost = self._lost_errors()
        queue: deque[tuple[int, list[int]]] = deque(plan_chunks(rounds, options.chunk_size))
        attempts: dict[int, int] = {}
        inflight: dict[Any, tuple[_Slot, tuple[int, list[int]]]] = {}
        retries = 0
        received = 0
        busy: dict[str, float] = {}  # engine seconds per actor (the rest of the evaluation is Ray and waiting)
        eval_start = time.perf_counter() if session["first_ready"] is not None else None

        def feed(slot: _Slot) -> None:
            while slot.state == "ready" and slot.inflight < self.prefetch and queue:
                item = queue.popleft()
                inflight[slot.handle.run_chunk.remote(*item)] = (slot, item)
                slot.inflight += 1

        def requeue(item: tuple[int, list[int]], error: str) -> None:
            nonlocal retries
            attempts[item[0]] = attempts.get(item[0], 0) + 1
            retries += 1
            if attempts[item[0]] > self.max_retries:
                raise ExecutorError(f"chunk {item[0]} (rounds {item[1][0]}-{item[1][-1]}) failed "
                                    f"{attempts[item[0]]} times; last error: {error}")
            queue.appendleft(item)

        try:
            for s in self._slots:
                feed(s)
            while queue or inflight:
                watch.check()
                if not any(s.state != "dead" for s in self._slots):
                    raise ExecutorLostError(f"every Ray worker died and no restarts are left ({self.max_restarts} "
                                            f"used); {len(queue)} chunk(s) not computed")
                try:
                    ready, _ = ray.wait(list(inflight) + list(self._starting), num_returns=1,
                                        timeout=self.health_interval_s)
                except ray.exceptions.RayError as exc:
                    watch.check(force=True)
                    raise ExecutorLostError(f"Ray failed while waiting for results: {_cause(exc)}") from None
                if not ready:
                    self._check_start_timeout()
                    continue
                done_ref = ready[0]
                if done_ref in self._starting:
                    slot = self._on_started(done_ref)
                    if slot is not None:
                        if eval_start is None:
                            eval_start = time.perf_counter()
                        feed(slot)
                    continue
                slot, item = inflight.pop(done_ref)
                slot.inflight -= 1
                try:
                    chunk = ray.get(done_ref)
                except lost as exc:
                    watch.check(force=True)  # the driver's node or the head: the campaign ends here
                    self._retire(slot, type(exc).__name__)
                    requeue(item, f"{type(exc).__name__}: worker or node lost")
                except ray.exceptions.RayTaskError as exc:
                    requeue(item, _cause(exc))
                except ray.exceptions.RayError as exc:  # RaySystemError and the like: Ray itself failed
                    watch.check(force=True)
                    raise ExecutorLostError(f"Ray failed on chunk {item[0]}: {_cause(exc)}") from None
                else:
                    received += 1
                    kill_hook(ray, received)
                    who = f"{slot.facts.get('host')}:{slot.facts.get('device')}:{slot.facts.get('pid')}"
                    busy[who] = busy.get(who, 0.0) + chunk.seconds
                    # the actors get their next chunks before the consumer (e.g. a tracked
                    # campaign flushing to MLflow) takes its time over this one
                    for s in self._slots:
                        feed(s)
                    if on_chunk is not None:
                        on_chunk(len(chunk.round_ids), chunk.samples)
                    yield chunk
                for s in self._slots:
                    feed(s)
        finally:
            end = time.perf_counter()
            facts = session["facts"]
            self.last_run = {
                "workers": session["workers"], "retries": retries,
                "restarts": self.max_restarts - session["restarts_left"],
                "devices": sorted({f"{f['host']}:{f['device']}" for f in facts}),
                "ship_s": session["ship_s"], "first_worker_ready_s": (session["first_ready"] or end) - session["t0"],
                "build_s_max": max((f["build_s"] for f in facts), default=0.0),
                "golden_s_max": max((f["golden_s"] for f in facts), default=0.0),
                "gpu_free_gib_min": min((f["gpu_memory_gib"][0] for f in facts if f.get("gpu_memory_gib")),
                                        default=None),
                "evaluation_s": end - (eval_start or end), "total_s": end - session["t0"],
                "engine_s_by_worker": dict(sorted(busy.items())), "lost": watch.lost,
            }
            self.close()


def _warn_if_gpu_shared(facts: dict[str, Any], least_free: float = 0.5) -> bool:
    """Warns (and returns True) when an actor's GPU had less than ``least_free`` of its memory
    free when the actor started: another process (a notebook, the driver's own earlier
    run) holds it, and the parallel engine then sizes its fault rows smaller (slower chunks)."""
    memory = facts.get("gpu_memory_gib")
    if not memory or memory[1] <= 0 or memory[0] / memory[1] >= least_free:
        return False
    warnings.warn(f"Ray actor on {facts.get('host')}:{facts.get('device')} had {memory[0]:.0f} of {memory[1]:.0f} GiB "
                  "free on its GPU: another process holds GPU memory, so its chunks run in smaller pieces "
                  "(keep the driver and other jobs off the actors' GPUs)", RuntimeWarning, stacklevel=3)
    return True


def _cause(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}"[:500]
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:500]
