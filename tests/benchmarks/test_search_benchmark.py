"""The TPE-vs-random benchmark in CI size: it runs, every run's rank is consistent with the
exhaustive campaign, and the JSON holds every (k, seed, sampler). Speed and the claim itself
come from running the benchmark (benchmarks/results/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_search_benchmark_quick(tmp_path):
    out = subprocess.run(
        [sys.executable, "benchmarks/search_tpe_vs_random.py", "--quick", "--json", str(tmp_path / "r.json")],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads((tmp_path / "r.json").read_text())
    runs = data["runs"]
    assert {(r["k"], r["seed"], r["sampler"]) for r in runs} == {(k, s, n) for k in (1, 2) for s in (0, 1)
                                                                 for n in ("tpe", "random")}
    worst = min(float(x) for x in out.stdout.split("worst accuracy ")[1].split(";")[0].split())
    for r in runs:
        assert 0.0 <= r["worst_accuracy"] <= data["golden_accuracy"]
        if r["k"] == 1:
            assert r["rank"] >= 1 and (r["rank"] == 1) == (r["worst_accuracy"] == worst)
    assert "k=1: mean worst accuracy TPE" in out.stdout and "k=2: mean worst accuracy TPE" in out.stdout
