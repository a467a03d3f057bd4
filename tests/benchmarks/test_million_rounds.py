"""benchmarks/million_rounds.py in CI size: a tracked slice through the normal entry point, the
store measured, the report built (the UI part, which needs Chromium and Playwright, left out
with --skip-ui). Only that it runs and measures is asserted; the numbers come from
running the benchmark itself (benchmarks/results/million_rounds_*.txt)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_million_rounds_slice_runs_and_measures(tmp_path):
    out_file = tmp_path / "million.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "benchmarks/million_rounds.py", "--work", str(tmp_path / "work"), "--hidden", "4",
         "--rounds", "16", "--chunk-size", "8", "--train-epochs", "1", "--skip-ui", "--out", str(out_file)],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out_file.read_text()
    assert text.startswith("# million_rounds: commit ") and "load average" in text.splitlines()[0]
    assert "every synapse x bit of fc1+fc2 (16,704 faults), slice of ~16" in text
    assert "rounds: 16;" in text
    assert "mlflow.db: " in text and " metric rows" in text
    assert "UI: skipped" in text
    assert "exited 0" in text and "report.md lists the campaign" in text
    assert (tmp_path / "work" / "report" / "report.md").is_file()
