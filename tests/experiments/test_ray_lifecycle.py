"""Ray runs end cleanly (local Ray, CPU actors): the local Ray a driver started goes down with it,
also after a SIGKILL of the driver (no orphaned Ray helpers)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from .conftest import start_entry, wait_for_line

pytest.importorskip("ray", reason="the Ray tests need spikefi[ray]")

RAY = ["--executor", "ray", "--workers", "2", "--gpus-per-worker", "0"]


def _children(pid: int) -> dict[int, str]:
    """Every descendant of ``pid``: ``{pid: command line}``."""
    parents: dict[int, int] = {}
    for entry_ in Path("/proc").iterdir():
        if entry_.name.isdigit():
            try:
                stat = (entry_ / "stat").read_text()
                parents[int(entry_.name)] = int(stat[stat.rfind(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        for child, parent in parents.items():
            if parent == p and child not in found:
                try:
                    found[child] = (Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode())
                except OSError:
                    found[child] = ""
                todo.append(child)
    return found


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    live = pids
    while time.monotonic() < deadline:
        live = [p for p in pids if Path(f"/proc/{p}").exists()
                and " Z " not in Path(f"/proc/{p}/stat").read_text()[:60]]
        if not live:
            return []
        time.sleep(0.2)
    return live


def _start_held(store, small_config, tmp_path):
    args = ["experiments.campaign", "--config", str(small_config), "--no-progress", *RAY]
    proc = start_entry(args, store, tmp_path, SPIKEFI_TEST_HOLD_AFTER_CHUNK="1:metrics")
    wait_for_line(proc, "holding after chunk 1", timeout=300)
    ray_procs = {p: cmd for p, cmd in _children(proc.pid).items() if "ray" in cmd or "gcs_server" in cmd}
    assert any("raylet" in cmd for cmd in ray_procs.values()), ray_procs
    return proc, ray_procs


def test_sigkill_of_the_driver_takes_its_local_ray_down(store, small_config, tmp_path):
    proc, ray_procs = _start_held(store, small_config, tmp_path)
    try:
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    assert _gone_within(list(ray_procs), 20) == []  # no orphans
