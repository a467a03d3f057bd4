"""The NIR engines benchmark in CI size: ``--quick`` on the CPU prints "identical: yes" for
the sequential and parallel engines on both networks (against naive) and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_nir_engines_quick_identical_tables():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "benchmarks/nir_engines.py", "--quick", "--device", "cpu"], cwd=REPO,
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    verdicts = [line for line in out.stdout.splitlines() if "/ naive:" in line]
    assert len(verdicts) == 4 and all(line.endswith("identical: yes") for line in verdicts), out.stdout
    assert out.stdout.count("## ") == 2 and "f·s/s" in out.stdout
