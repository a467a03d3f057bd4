"""Phase guard of the GPU suite: this run's phases against the committed numbers of the same GPU model.

``campaign_throughput.py --suite gpu`` times every run in three phases: set-up (building the
campaign: network copy, fault resolution, input checks), golden pass and evaluation. The
repository keeps one file of those phases per GPU model (``benchmarks/results/gpu_guard/
<model>.json``, written with ``--guard-write``). Each later run compares its phases with the
file of its own GPU model and prints a flagged line for every phase that is more than
``REL_SLOWER`` (15%) *and* more than ``ABS_SLOWER_MS`` (3 ms) slower, the set-up per sample
(µs) beside its milliseconds. The fastest of a run's repeats is compared (``min``): on a
shared machine the minimum is the least noisy estimate of what the code costs.

No committed file for the model: the guard says so and compares nothing. The guard prints;
it never fails a run (benchmarks stay out of timed tests), so a flagged line is for a
person to read and to explain in the closing note of the change that caused it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["GUARD_DIR", "REL_SLOWER", "ABS_SLOWER_MS", "SCHEMA", "Flag", "model_slug", "guard_file",
           "phases_of", "compare", "check", "write"]

GUARD_DIR = Path(__file__).resolve().parent / "results" / "gpu_guard"
REL_SLOWER = 0.15
ABS_SLOWER_MS = 3.0
SCHEMA = 1
PHASES = ("setup_ms", "golden_ms", "eval_ms")


@dataclass(frozen=True)
class Flag:
    """One phase of one workload and engine slower than the committed number."""

    key: str
    phase: str
    now: float
    committed: float
    excess_ms: float

    def line(self) -> str:
        unit = "µs/sample" if self.phase.endswith("_us_per_sample") else "ms"
        pct = 100 * (self.now / self.committed - 1) if self.committed > 0 else float("inf")
        return (f"GUARD FLAG {self.key} {self.phase}: {self.now:.1f} {unit} now vs {self.committed:.1f} committed "
                f"(+{pct:.0f}%, +{self.excess_ms:.1f} ms)")


def model_slug(device_name: str) -> str:
    """``'NVIDIA H100 80GB HBM3'`` -> ``'nvidia_h100_80gb_hbm3'`` (a file name)."""
    slug = re.sub(r"[^a-z0-9]+", "_", device_name.lower()).strip("_")
    if not slug:
        raise ValueError(f"device name {device_name!r} gives no file name")
    return slug


def guard_file(device_name: str, guard_dir: Path = GUARD_DIR) -> Path:
    return Path(guard_dir) / f"{model_slug(device_name)}.json"


def phases_of(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{"<workload>/<engine>": {setup_ms, golden_ms, eval_ms, setup_us_per_sample, samples}}``
    from the GPU suite's results: the minimum over a run's repeats of each phase."""
    out: dict[str, dict[str, float]] = {}
    for workload, res in results.items():
        if not isinstance(res, dict) or "modes" not in res:
            continue
        for engine, mode in res["modes"].items():
            runs = mode.get("phases") or [mode.get("phases_ms")]
            runs = [r for r in runs if r]
            if not runs:
                continue
            samples = int(mode["samples"])
            best = {p: min(float(r[i]) for r in runs) for i, p in enumerate(PHASES)}
            best["setup_us_per_sample"] = 1e3 * best["setup_ms"] / samples
            best["samples"] = samples
            out[f"{workload}/{engine}"] = best
    return out


def compare(now: dict[str, dict[str, float]], committed: dict[str, dict[str, float]],
            rel: float = REL_SLOWER, abs_ms: float = ABS_SLOWER_MS) -> tuple[list[Flag], list[str]]:
    """Flags of the phases slower than committed by more than ``rel`` and ``abs_ms``, and
    the keys compared. The per-sample set-up is flagged when it is ``rel`` slower and the
    excess over this run's samples exceeds ``abs_ms``."""
    flags: list[Flag] = []
    compared: list[str] = []
    for key in sorted(set(now) & set(committed)):
        cur, old = now[key], committed[key]
        compared.append(key)
        for phase in PHASES:
            if phase in old and cur[phase] > old[phase] * (1 + rel) and cur[phase] - old[phase] > abs_ms:
                flags.append(Flag(key, phase, cur[phase], old[phase], cur[phase] - old[phase]))
        per = "setup_us_per_sample"
        if per in old and cur[per] > old[per] * (1 + rel):
            excess_ms = (cur[per] - old[per]) * cur["samples"] / 1e3
            if excess_ms > abs_ms:
                flags.append(Flag(key, per, cur[per], old[per], excess_ms))
    return flags, compared


def check(results: dict[str, Any], device_name: str, guard_dir: Path = GUARD_DIR) -> list[str]:
    """The guard's lines for this run (printed by the caller)."""
    path = guard_file(device_name, guard_dir)
    if not path.is_file():
        return [f"guard: no committed phases for {device_name!r} ({path}): nothing compared "
                "(write them with --guard-write on a clean tree)"]
    data = json.loads(path.read_text())
    if data.get("schema") != SCHEMA:
        return [f"guard: {path} has schema {data.get('schema')!r}, this script reads {SCHEMA}: nothing compared"]
    flags, compared = compare(phases_of(results), data["phases"])
    lines = [f.line() for f in flags]
    missing = sorted(set(phases_of(results)) - set(data["phases"]))
    if missing:
        lines.append(f"guard: no committed numbers for {', '.join(missing)}")
    lines.append(f"guard: {len(compared)} workload/engine pairs compared with {path.name} (commit "
                 f"{data.get('commit', '?')}, {data.get('date', '?')}): {len(flags)} phase(s) flagged "
                 f"(> {100 * REL_SLOWER:.0f}% and > {ABS_SLOWER_MS:g} ms slower, min of repeats)")
    return lines


def write(results: dict[str, Any], device_name: str, command: str, guard_dir: Path = GUARD_DIR) -> Path:
    """Writes this run's phases as the committed numbers of its GPU model."""
    commit = os.environ.get("SPIKEFI_GIT_COMMIT", "")  # a copy of the tree without .git (a GPU machine)
    try:
        commit = commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    path = guard_file(device_name, guard_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"schema": SCHEMA, "device": device_name, "commit": commit,
               "date": _dt.date.today().isoformat(), "command": command,
               "rule": f"flag a phase > {100 * REL_SLOWER:.0f}% and > {ABS_SLOWER_MS:g} ms slower (min of repeats)",
               "phases": phases_of(results)}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
