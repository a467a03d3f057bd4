"""The error-latency benchmark runs (one repetition of two cases); its numbers are not asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_error_latency_benchmark_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    out = subprocess.run([sys.executable, "benchmarks/error_latency.py", "--repeat", "1", "--cases", "option",
                          "model name", "--json", str(tmp_path / "e.json")], cwd=REPO, capture_output=True, text=True,
                         timeout=300, env={**env, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = json.loads((tmp_path / "e.json").read_text())["measurements"]
    assert [r["case"] for r in rows] == ["option", "model name"]
    assert all(r["exit_code"] == 2 and r["files_left"] == [] and "did you mean" in r["error"] for r in rows), rows
