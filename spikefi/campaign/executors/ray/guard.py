"""A local Ray goes down with the driver that started it.

When a driver starts a local Ray (``RayExecutor`` without an address), :func:`ensure_guard`
launches a small watchdog process (``python -m spikefi.campaign.executors.ray.guard``, standard
library only) in a session of its own. It polls the driver; while the driver lives it also
records what the Ray processes started since (the raylet's agents and workers). Once the driver
has ended (normally, by an exception, or by SIGKILL), every one of those processes still alive
gets SIGTERM, then SIGKILL after 3 s: no Ray helper outlives the driver. The guard touches only
processes whose pid *and* start time it recorded, and ends right after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ....utils.process import process_start_ticks

__all__ = ["ensure_guard", "start_guard", "local_ray_pids"]

_POLL_S = 0.5
_GUARD: dict[str, Any] = {}




def _alive(pid: int, ticks: str) -> bool:
    now = process_start_ticks(pid)
    if now:
        return not ticks or now == ticks
    if Path("/proc").is_dir():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def local_ray_pids(ray: Any) -> list[int]:
    """The pids of the Ray processes this driver started (empty when it joined a cluster)."""
    node = getattr(getattr(getattr(ray, "_private", None), "worker", None), "_global_node", None)
    processes = getattr(node, "all_processes", None) or {}
    return [int(info.process.pid) for infos in processes.values() for info in infos
            if getattr(getattr(info, "process", None), "pid", None) is not None]


def start_guard(pids: Sequence[int]) -> subprocess.Popen | None:
    """Starts the watchdog of this driver and the Ray processes ``pids``; returns it (None when
    there is nothing to watch)."""
    if not pids:
        return None
    args = [sys.executable, "-m", "spikefi.campaign.executors.ray.guard", "--driver",
            f"{os.getpid()}:{process_start_ticks(os.getpid())}", *[f"{p}:{process_start_ticks(p)}" for p in pids]]
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)


def ensure_guard(ray: Any) -> bool:
    """Starts the guard once per process for the local Ray this driver started; True when one
    watches it."""
    if _GUARD.get("pid") != os.getpid():
        _GUARD.update(pid=os.getpid(), proc=start_guard(local_ray_pids(ray)))
    return _GUARD.get("proc") is not None


def _descendants(roots: set[int]) -> list[tuple[int, str]]:
    """``(pid, start ticks)`` of every live descendant of ``roots`` (Linux ``/proc``): the
    processes the raylet starts (agents, workers) are not in the driver's own list."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rfind(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: dict[int, str] = {}
    frontier = set(roots)
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in found}
        for pid in frontier:
            found[pid] = process_start_ticks(pid)
    return list(found.items())


def _stop(targets: list[tuple[int, str]]) -> None:
    live = [(p, t) for p, t in targets if _alive(p, t)]
    for pid, _ in live:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and any(_alive(p, t) for p, t in live):
        time.sleep(0.1)
    for pid, ticks in live:
        if _alive(pid, ticks):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m spikefi.campaign.executors.ray.guard")
    ap.add_argument("--driver", required=True, help="PID:START_TICKS of the driver")
    ap.add_argument("pids", nargs="*", help="PID:START_TICKS of the Ray processes the driver started")
    args = ap.parse_args(argv)
    driver_pid, _, driver_ticks = args.driver.partition(":")
    known = {int(p): t for p, _, t in (x.partition(":") for x in args.pids)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of the terminal is the driver's to handle
    polls = 0
    while _alive(int(driver_pid), driver_ticks):
        if polls % 5 == 0:  # what the Ray processes started since (agents, workers), while they have parents
            known.update(_descendants({p for p, t in known.items() if _alive(p, t)}))
        polls += 1
        time.sleep(_POLL_S)
    known.update(_descendants({p for p, t in known.items() if _alive(p, t)}))
    _stop(list(known.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
