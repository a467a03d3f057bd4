"""Issue 24, item 3: the realistic synapse benchmark in CI size (real recordings, int8 golden).

``nmnist_real_throughput.py --workload synapses --quick`` runs every engine on a seeded subset
of the workload (SC3 sign-bit flips, SC2 dead synapses) on the CPU and prints ``identical:
yes`` only when each engine's table and predictions equal the naive engine's. Only
correctness is asserted; speed is measured by running the benchmark on a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..nmnist_real import nmnist_dir

REPO = Path(__file__).resolve().parents[2]


def test_synapse_workload_quick_is_identical_across_engines(tmp_path):
    root = nmnist_dir()
    out = subprocess.run(
        [sys.executable, "benchmarks/nmnist_real_throughput.py", "--workload", "synapses", "--quick",
         "--root", str(root), "--json", str(tmp_path / "s.json")],
        cwd=REPO, capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert "identical: yes" in lines, out.stdout
    assert "identical (sequential vs naive): yes" in lines and "identical (parallel vs naive): yes" in lines
    assert any(line.startswith("recordings: ") and "test100.txt first 3 + train1K.txt first 3 = 6" in line
               for line in lines), out.stdout
    assert any(line.startswith("weights: zoo nmnist_cnn (nmnist_cnn.pt, sha256 ") for line in lines), out.stdout
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["identical"] == "yes" and data["check"]["rounds"] == 12 and data["samples"] == 6
    assert data["rounds_deviating"] > 0  # the subset is not trivially equal to golden
