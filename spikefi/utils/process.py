"""Process identity on Linux: a pid plus its start time names one process even after the pid is reused."""

from __future__ import annotations

from pathlib import Path

__all__ = ["process_start_ticks"]


def process_start_ticks(pid: int) -> str:
    """When process ``pid`` started, in clock ticks since boot (field 22 of ``/proc/PID/stat``);
    ``''`` where unknown (no such process, no ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat[stat.rfind(")") + 2:].split()  # the process name may hold spaces and ')'
    return fields[19] if len(fields) > 19 else ""
