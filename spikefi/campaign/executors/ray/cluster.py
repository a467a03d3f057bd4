"""Reaching Ray and checking a cluster's resources (the Ray executor's set-up checks).

``ray`` is imported only through :func:`import_ray`, when an executor runs.
"""

from __future__ import annotations

import socket
from typing import Any

from ....errors import ConfigError, MissingDependencyError
from ..base import ExecutorError

__all__ = ["import_ray", "connect", "check_resources", "cpu_share"]


def import_ray() -> Any:
    """``ray``, or a one-line error naming the fix."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "the Ray executor needs Ray: pip install 'spikefi[ray]' (or pip install 'ray[default]==2.60.0')"
        ) from None
    return ray


def connect(address: str | None, temp_dir: str | None, init_kwargs: dict[str, Any]) -> Any:
    """Starts or joins Ray (once per process); returns the ``ray`` module.

    ``address``: ``None`` starts a local Ray (or uses the one this process started),
    ``"auto"`` joins this machine's cluster, ``"HOST:PORT"`` (or ``ray://HOST:PORT``) a
    remote one; ``temp_dir`` and ``init_kwargs`` apply to a local start.
    """
    ray = import_ray()
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address in (None, "auto") or address.removeprefix("ray://") == current:
            return ray
        ray.shutdown()  # this process was attached to another cluster
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False,
                              "include_dashboard": False, **init_kwargs}
    if address is None:
        if temp_dir:
            kwargs["_temp_dir"] = temp_dir
    else:
        _probe_address(address)
        kwargs["address"] = address
        for key in ("num_cpus", "num_gpus", "_temp_dir", "include_dashboard"):
            kwargs.pop(key, None)
    try:
        ray.init(**kwargs)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        where = address or "a local Ray"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExecutorError(f"cannot reach Ray at {where!r} ({first[:200]}); start a cluster with "
                            "`ray start --head` and pass --address auto or HOST:PORT") from None
    return ray


def check_resources(ray: Any, workers: int | None, gpus_per_worker: float,
                    cpus_per_worker: int | None) -> tuple[int, int]:
    """The worker count and each worker's CPU cores, checked against the cluster's GPUs and CPUs."""
    res = ray.cluster_resources()
    gpus, cpus = float(res.get("GPU", 0.0)), float(res.get("CPU", 0.0))
    if workers is None:
        workers = int(gpus / gpus_per_worker) if gpus_per_worker > 0 else max(1, min(2, int(cpus)))
    if workers < 1:
        raise ConfigError(f"no worker fits: the cluster has {gpus:g} GPU(s) and {gpus_per_worker:g} asked per worker")
    if gpus_per_worker > 0 and workers * gpus_per_worker > gpus + 1e-9:
        raise ConfigError(f"{workers} worker(s) x {gpus_per_worker:g} GPU need {workers * gpus_per_worker:g} "
                          f"GPU(s), the Ray cluster has {gpus:g}; lower --workers or --gpus-per-worker "
                          "(0 runs CPU workers)")
    cpus_each = cpus_per_worker or cpu_share(ray, gpus_per_worker)
    if workers * cpus_each > cpus + 1e-9:
        raise ConfigError(f"{workers} worker(s) x {cpus_each} CPU need {workers * cpus_each} "
                          f"CPU(s), the Ray cluster has {cpus:g}; lower --workers or --cpus-per-worker")
    return workers, cpus_each


def cpu_share(ray: Any, gpus_per_worker: float) -> int:
    """Default cores of one actor: for GPU actors, the smallest share of a GPU node's
    cores that one actor's GPUs give (so an actor fits on every GPU node); else 1."""
    if gpus_per_worker <= 0:
        return 1
    shares = []
    for node in ray.nodes():
        res = node.get("Resources", {}) if node.get("Alive", True) else {}
        gpus, cpus = float(res.get("GPU", 0.0)), float(res.get("CPU", 0.0))
        if gpus > 0:
            shares.append(int(cpus * gpus_per_worker / gpus))
    return max(1, min(shares, default=1))


def _probe_address(address: str, timeout: float = 5.0) -> None:
    """A quick TCP check of ``HOST:PORT`` (``ray.init`` itself retries for minutes)."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"Ray address must be 'auto', HOST:PORT or ray://HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ExecutorError(f"cannot reach Ray at {address!r} ({type(exc).__name__}: {exc.strerror or exc}); start a "
                            "cluster with `ray start --head` and pass --address auto or its HOST:PORT") from None
