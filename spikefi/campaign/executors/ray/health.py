"""What a Ray campaign cannot go on without, checked while it runs: :class:`ClusterWatch`.

A worker (actor) that dies is the pool's to replace (:mod:`.pool`: its chunks run again on
another actor). Three losses end the campaign instead, with an :class:`ExecutorLostError`
naming what was lost:

* the raylet or the GCS server of the local Ray this driver started (its process ended);
* the cluster's head (its GCS address no longer accepts connections);
* the driver's own node (the GCS reports it dead).

Ray itself would not end such a campaign cleanly: with the raylet gone, live actors keep
answering for a while (a short campaign may even finish on them), results held in that node's
object store are lost, and a replacement actor never starts (the pool would wait for it); with
the GCS gone, live actors keep computing but nothing new can start. The driver checks instead:
the local processes on every pass of its loop (a ``poll()`` of the child process), the GCS
address and the node table every ``interval_s`` seconds.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import Any

from ..base import ExecutorLostError

__all__ = ["ClusterWatch", "KILL_HOOK_ENV", "kill_hook"]

#: test hook: ``"<N>:raylet"`` or ``"<N>:gcs_server"`` makes the driver SIGKILL that process of
#: the local Ray it started right after the N-th chunk result arrived (a node lost mid-campaign)
KILL_HOOK_ENV = "SPIKEFI_TEST_RAY_KILL_AFTER_CHUNK"

_LOCAL = ("raylet", "gcs_server")


class ClusterWatch:
    """Checks that the driver's Ray node and the cluster's head are alive (see the module docstring).

    Args:
        ray: the ``ray`` module, connected.
        interval_s: seconds between the remote checks (GCS address, node table).
        probe_timeout_s: how long a TCP connection to the GCS may take before it counts as lost.
    """

    def __init__(self, ray: Any, interval_s: float = 2.0, probe_timeout_s: float = 3.0) -> None:
        self.ray = ray
        self.interval_s = interval_s
        self.probe_timeout_s = probe_timeout_s
        self.local = _local_processes(ray)
        context = _runtime_context(ray)
        self.gcs_address: str | None = getattr(context, "gcs_address", None) if context is not None else None
        try:
            self.node_id: str | None = context.get_node_id() if context is not None else None
        except Exception:  # noqa: BLE001 - Ray Client has no node of its own
            self.node_id = None
        self.client_mode = _client_mode()
        self._next_remote = time.monotonic() + interval_s
        #: what was lost (set once a check failed)
        self.lost: str | None = None

    def check(self, force: bool = False) -> None:
        """Raises :class:`ExecutorLostError` when the driver's node or the head is gone; the
        remote checks run every ``interval_s`` seconds, or now with ``force``."""
        if self.lost is None:
            self.lost = self._local_loss()
        if self.lost is None and (force or time.monotonic() >= self._next_remote):
            self._next_remote = time.monotonic() + self.interval_s
            self.lost = self._remote_loss()
        if self.lost is not None:
            raise ExecutorLostError(f"Ray lost {self.lost}")

    def _local_loss(self) -> str | None:
        for name, proc in self.local:
            code = proc.poll()
            if code is not None:
                how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                what = "the local Ray's raylet (its node)" if name == "raylet" else "the local Ray's GCS server (its head)"
                return f"{what}: process {proc.pid} ended ({how})"
        return None

    def _remote_loss(self) -> str | None:
        if self.local or self.client_mode:  # a local Ray: its processes are watched directly; Ray Client:
            return None                     # the GCS is the client server's to reach, not this machine's
        if self.gcs_address and not _accepts(self.gcs_address, self.probe_timeout_s):
            return f"the cluster's head: its GCS at {self.gcs_address} does not answer"
        if self.node_id:
            try:
                nodes = self.ray.nodes()
            except Exception:  # noqa: BLE001 - a GCS that fails mid-call
                return f"the cluster's head: its GCS at {self.gcs_address} does not answer"
            mine = next((n for n in nodes if n.get("NodeID") == self.node_id), None)
            if mine is not None and not mine.get("Alive", True):
                return f"the driver's own node {mine.get('NodeManagerAddress', '?')} (node {self.node_id[:12]})"
        return None


def kill_hook(ray: Any, received: int) -> None:
    """The :data:`KILL_HOOK_ENV` test hook: SIGKILLs a local Ray process after ``received`` results."""
    spec = os.environ.get(KILL_HOOK_ENV)
    if not spec:
        return
    count, _, name = spec.partition(":")
    if int(count) != received:
        return
    for which, proc in _local_processes(ray):
        if which == (name or "raylet"):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _local_processes(ray: Any) -> list[tuple[str, Any]]:
    """``(name, Popen)`` of the raylet and GCS server of the local Ray this process started."""
    node = getattr(getattr(getattr(ray, "_private", None), "worker", None), "_global_node", None)
    processes = getattr(node, "all_processes", None) or {}
    return [(name, info.process) for name in _LOCAL for info in processes.get(name, ())
            if hasattr(getattr(info, "process", None), "poll")]


def _client_mode() -> bool:
    """Whether this process reaches Ray through Ray Client (``ray://``)."""
    try:
        from ray.util.client import ray as client
    except ImportError:
        return False
    try:
        return bool(client.is_connected())
    except Exception:  # noqa: BLE001 - no verdict: treat as a direct connection
        return False


def _runtime_context(ray: Any) -> Any:
    try:
        return ray.get_runtime_context()
    except Exception:  # noqa: BLE001 - not connected
        return None


def _accepts(address: str, timeout: float) -> bool:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not port.isdigit():
        return True  # not an address this check understands: no verdict
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False
