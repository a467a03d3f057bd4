"""The tracked-vs-untracked benchmark in CI size (``--quick``: 10 dead neurons of SF4, so the
whole command and the 10-round command run the same campaign): it runs the real commands
against fresh sqlite stores and reports wall and CPU seconds for each mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_tracking_overhead_quick(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    out = subprocess.run(
        [sys.executable, "benchmarks/tracking_overhead.py", "--quick", "--round-metrics", "none",
         "--json", str(tmp_path / "o.json")],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**env, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads((tmp_path / "o.json").read_text())
    (m,) = data["measurements"]
    assert m["round_metrics"] == "none" and m["rounds"] == 10
    assert m["whole_s"] > 0 and m["ten_round_s"] > 0 and m["untracked_s"] > 0 and m["untracked_cpu_s"] > 0
    assert m["tracked_s"] == m["whole_s"] - m["ten_round_s"]
    assert "medians over 1 repeat(s)" in out.stdout


def test_gpu_case_is_every_single_fault_on_all_samples():
    """``--faults all`` (the issue's GPU case): every dead neuron, dead synapse and synapse x2 of
    the digits net on all 359 test samples; its 10-round command keeps 10 rounds."""
    from benchmarks import tracking_overhead as bench
    from spikefi.campaign import CampaignSpec

    whole = CampaignSpec.from_dict(bench.campaign(8, "SF3", "DeadSynapse", device="cpu", faults="all")).build()
    assert (len(whole.rounds), whole.num_samples) == (40554, 359)
    ten = CampaignSpec.from_dict(bench.campaign(8, "SF3", "DeadSynapse", sample=10, faults="all")).build()
    assert (len(ten.rounds), ten.num_samples) == (10, 359)
    assert bench.campaign(8, "SF3", "DeadSynapse", device="cuda")["options"]["device"] == "cuda"
