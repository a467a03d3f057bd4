"""Issue 24, item 2: the GPU suite's phase guard (benchmarks/phase_guard.py).

The comparison rule is tested on hand-made phases; the file format on a real (CPU, quick)
run of the suite that writes it. Nothing here times anything.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REFERENCE_DIR, REQUIRE_REFERENCE

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import phase_guard  # noqa: E402


def _results(setup: float, golden: float, evaluation: float, samples: int = 256) -> dict:
    runs = [[setup + d, golden + d, evaluation + d] for d in (5.0, 0.0, 2.0)]  # min is the middle run
    return {"a": {"golden_samples_per_s": 1.0, "modes": {"parallel": {"samples": samples, "phases": runs}}}}


def test_phases_are_the_minimum_of_the_repeats_with_the_per_sample_setup():
    p = phase_guard.phases_of(_results(11.6, 37.0, 300.0))["a/parallel"]
    assert (p["setup_ms"], p["golden_ms"], p["eval_ms"], p["samples"]) == (11.6, 37.0, 300.0, 256)
    assert p["setup_us_per_sample"] == pytest.approx(11.6e3 / 256)


@pytest.mark.parametrize("now, flagged", [
    ((48.1, 37.0, 300.0), {"setup_ms", "setup_us_per_sample"}),  # the regression of issue 24: +36.5 ms, +315%
    ((14.0, 37.0, 300.0), set()),                                 # +21% but only +2.4 ms: noise on a short phase
    ((11.6, 37.0, 330.0), set()),                                 # +30 ms but only +10%
    ((11.6, 43.0, 346.0), {"golden_ms", "eval_ms"}),              # +16% and +6 ms / +46 ms
    ((5.0, 20.0, 100.0), set()),                                  # faster is never flagged
])
def test_a_phase_is_flagged_when_more_than_15_percent_and_3_ms_slower(now, flagged):
    committed = phase_guard.phases_of(_results(11.6, 37.0, 300.0))
    flags, compared = phase_guard.compare(phase_guard.phases_of(_results(*now)), committed)
    assert compared == ["a/parallel"]
    assert {f.phase for f in flags} == flagged
    for f in flags:
        assert f.line().startswith(f"GUARD FLAG a/parallel {f.phase}: ")


def test_per_sample_setup_is_compared_when_the_sample_count_differs():
    committed = phase_guard.phases_of(_results(10.0, 37.0, 300.0, samples=256))
    # same milliseconds on a quarter of the samples: 4x the cost per sample, 30 ms over 64 samples
    now = phase_guard.phases_of(_results(40.0, 37.0, 300.0, samples=64))
    flags, _ = phase_guard.compare(now, committed)
    assert [f.phase for f in flags] == ["setup_ms", "setup_us_per_sample"]


def test_no_committed_file_says_so(tmp_path):
    lines = phase_guard.check(_results(1, 2, 3), "NVIDIA H999", tmp_path)
    assert len(lines) == 1 and "no committed phases for 'NVIDIA H999'" in lines[0] and "nvidia_h999.json" in lines[0]
    assert phase_guard.model_slug("NVIDIA H100 80GB HBM3") == "nvidia_h100_80gb_hbm3"


def test_the_committed_files_are_readable():
    for path in sorted(phase_guard.GUARD_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        assert data["schema"] == phase_guard.SCHEMA and path.name == f"{phase_guard.model_slug(data['device'])}.json"
        assert {"a/parallel", "b/parallel", "b'/parallel", "c/parallel"} <= set(data["phases"]), path
        lines = phase_guard.check({}, data["device"])
        assert lines[-1].startswith("guard: 0 workload/engine pairs compared"), lines


def test_the_gpu_suite_writes_and_checks_its_guard_file(tmp_path):
    """A real (CPU, quick) run of the GPU suite writes the file; a slower copy of its results is flagged."""
    if not (REFERENCE_DIR / "nmnist_cnn_net.pt").is_file():
        assert not REQUIRE_REFERENCE, f"{REFERENCE_DIR}/nmnist_cnn_net.pt is absent and SPIKEFI_REQUIRE_REFERENCE=1"
        pytest.skip("SpikeFI's N-MNIST CNN weights are absent")
    cmd = [sys.executable, "benchmarks/campaign_throughput.py", "--suite", "gpu", "--quick", "--device", "cpu",
           "--modes", "parallel", "--workloads", "a", "--batch-size", "32", "--repeats", "2",
           "--json", str(tmp_path / "r.json"), "--guard", str(tmp_path / "guard"), "--guard-write"]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "guard: no committed phases for" in out.stdout and "guard: phases written to" in out.stdout
    (written,) = (tmp_path / "guard").glob("*.json")
    assert written.name.startswith("cpu_")
    data = json.loads(written.read_text())
    assert set(data["phases"]) == {"a/parallel"} and data["schema"] == phase_guard.SCHEMA
    results = json.loads((tmp_path / "r.json").read_text())
    assert phase_guard.check(results, data["device"], tmp_path / "guard")[-1].endswith("0 phase(s) flagged "
                                                                                        "(> 15% and > 3 ms slower, min of repeats)")
    slower = copy.deepcopy(results)
    for run in slower["a"]["modes"]["parallel"]["phases"]:
        run[0] = 2 * run[0] + 10.0  # set-up doubled plus 10 ms
    lines = phase_guard.check(slower, data["device"], tmp_path / "guard")
    assert [line.split(":")[0] for line in lines[:-1]] == ["GUARD FLAG a/parallel setup_ms",
                                                           "GUARD FLAG a/parallel setup_us_per_sample"]
    assert "2 phase(s) flagged" in lines[-1]
