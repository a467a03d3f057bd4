"""The flush-path benchmark in CI size: ``--quick`` against a local sqlite store.

It drives the real ``TrackedCampaign._flush``; here only its sanity is asserted: positive
rates, a time split that adds up, and every flushed round's metric points in the store
exactly once per key (under ``round_metrics`` 1000: exactly those of the rounds on its stride) (the benchmark checks the store itself and reports ``ok``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_flush_path_quick_on_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    out = subprocess.run(
        [sys.executable, "benchmarks/flush_path.py", "--quick", "--stores", "sqlite", "--json", str(tmp_path / "f.json")],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**env, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    data = json.loads((tmp_path / "f.json").read_text())
    measurements = data["measurements"]
    assert [(m["store"], m["chunk_size"], m["round_metrics"]) for m in measurements] == [
        ("sqlite", 64, "1000"), ("sqlite", 64, "all"), ("sqlite", 256, "1000"), ("sqlite", 256, "all")]
    for m in measurements:
        assert m["check"] == "ok", m  # every round's points present exactly once, one artifact per chunk
        assert m["chunks"] >= 2 and m["rows"] == m["chunks"] * m["chunk_size"]
        assert m["rows_per_s"] > 0 and m["rows_per_cpu_s"] > 0
        assert all(v > 0 for v in m["split_s"].values()), m["split_s"]  # parquet, artifact, log_batch
        assert sum(m["split_s"].values()) <= m["seconds"] * 1.001
        assert m["log_batch_requests"] == m["chunks"]  # <= 1000 metric points per chunk: one request each
        if m["round_metrics"] == "all":
            assert m["metric_points"] == 3 * m["rows"]
        else:  # a stride of ceil(162,216 / 1000) = 163 rounds
            assert m["metric_points"] == 3 * sum(1 for r in range(m["chunk_size"], m["chunk_size"] + m["rows"])
                                                 if r % 163 == 0)
    assert data["rows_per_s_8_gpus"] > 20_000
    verdicts = [line for line in out.stdout.splitlines() if line.startswith("sqlite ") and "the limit at chunk size" in line]
    assert len(verdicts) == 4, out.stdout
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("sqlite ") and line.rstrip().endswith(" ok")]
    assert [(r[1], r[2]) for r in rows] == [("1000", "64"), ("all", "64"), ("1000", "256"), ("all", "256")], out.stdout
