"""Command line (issue 17 item 6): ``--help`` of every entry point imports neither torch nor
MLflow, every option has a help text, search and sweep do not repeat the campaign's, ``spikefi
--help`` lists the entry points; the progress bar is weighted by work and log lines go through
tqdm instead of cutting it."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from experiments import cli
from spikefi.campaign.progress import WorkProgress, round_weights

from .conftest import REPO, entry_env, write_campaign_config

HEAVY = ("torch", "mlflow", "optuna", "matplotlib", "ray", "pandas")
PROBE = """
import contextlib, io, json, runpy, sys, time
t0 = time.perf_counter()
sys.argv = ["x", "--help"]
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        runpy.run_module("experiments.{name}", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "seconds": time.perf_counter() - t0, "help": out.getvalue(),
                  "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


@pytest.fixture(scope="module")
def helps() -> dict[str, dict]:
    out = {}
    for name in cli.ENTRY_POINTS:
        done = subprocess.run([sys.executable, "-c", PROBE.format(name=name, heavy=HEAVY)], cwd=REPO,
                              capture_output=True, text=True, timeout=120, env=entry_env("sqlite:///unused.db"))
        assert done.returncode == 0, done.stderr
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize("name", list(cli.ENTRY_POINTS))
def test_help_imports_neither_torch_nor_mlflow(helps, name):
    got = helps[name]
    assert got["code"] == 0 and got["help"].startswith("usage: ")
    assert got["heavy"] == [], f"{name} --help imported {got['heavy']}"


@pytest.mark.parametrize("name", list(cli.ENTRY_POINTS))
def test_every_option_has_a_help_text(helps, name):
    lines = helps[name]["help"].split("options:", 1)[1].splitlines()[1:]
    for i, line in enumerate(lines):
        if line.startswith("  -"):
            has_text = len(line.strip().split("  ", 1)) > 1 and line.strip().split("  ", 1)[1].strip()
            continued = i + 1 < len(lines) and lines[i + 1].startswith(" " * 8) and not lines[i + 1].strip().startswith("-")
            assert has_text or continued, f"{name}: option without help: {line.strip()}"


def test_search_and_sweep_help_do_not_repeat_the_campaign_text(helps):
    for name in ("search", "sweep"):
        text = helps[name]["help"]
        assert "campaign.data" not in text and "shard" not in text
    assert "--set search.data.max_samples=32" in helps["search"]["help"].replace("\n", " ").replace("  ", " ") \
        or "search.data.max_samples" in helps["search"]["help"]
    assert "--resume" not in helps["search"]["help"]  # a search does not resume runs
    assert "sweep.base.data.max_samples" in helps["sweep"]["help"]


def test_spikefi_help_lists_the_entry_points(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    listed = [line.split()[0] for line in text.splitlines() if line.startswith("  ")]
    assert listed == list(cli.ENTRY_POINTS)
    for name, summary in cli.SUMMARIES.items():
        assert f"  {name}" in text and summary in text
    assert cli.main(["bogus"]) == 2


def _netmap(sizes: list[tuple[str, tuple[int, ...], tuple[int, ...] | None]]):
    layers = {name: SimpleNamespace(neuron_shape=shape, synapse_shape=syn) for name, shape, syn in sizes}
    return SimpleNamespace(order=[n for n, _, _ in sizes], layers=layers)


def _round(rid: int, layer: str):
    return SimpleNamespace(round_id=rid, faults=[SimpleNamespace(layer=layer)])


def test_progress_is_weighted_by_work_and_does_not_stall_near_the_end():
    netmap = _netmap([("conv", (8, 16, 16), (8, 2, 3, 3)), ("fc", (10, 1, 1), (10, 64, 1, 1))])
    rounds = [_round(i, "fc") for i in range(90)] + [_round(90 + i, "conv") for i in range(10)]
    weights = round_weights(netmap, rounds)
    assert weights[95] > 5 * weights[0]  # a first-layer round recomputes the whole network
    assert sum(weights.values()) == pytest.approx(len(rounds))  # mean 1: the unit stays faults x samples
    bar = WorkProgress(netmap, rounds, samples=4, desc="t", enabled=True)
    try:
        bar.chunk_done(range(90))  # 90% of the rounds, the cheap ones
        assert bar.bar.n / bar.bar.total < 0.5  # counted by rounds this would read 90%
        bar.advance(5, 4)  # inside the last chunk: estimated, never past the end
        assert bar.bar.n < bar.bar.total
        bar.chunk_done(range(90, 100))
        assert bar.bar.n == pytest.approx(bar.bar.total)
    finally:
        bar.close()


def test_log_lines_do_not_cut_the_progress_bar(tmp_path):
    config = write_campaign_config(tmp_path / "c.yaml", tmp_path / "out")
    # the bar (stderr) and the log lines (stdout) share one terminal (here: one pipe)
    done = subprocess.run([sys.executable, "-u", "-m", "experiments.campaign", "--config", str(config)], cwd=tmp_path,
                          env=entry_env(f"sqlite:///{tmp_path / 'mlflow.db'}"), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    merged = done.stdout
    assert done.returncode == 0, merged
    assert "flushed chunk" in merged and "campaign (sequential)" in merged
    # each log line starts a line of its own (tqdm clears the bar first), never after a bar's text
    for segment in merged.replace("\r", "\n").splitlines():
        if "[spikefi]" in segment:
            assert segment.startswith("[spikefi]"), segment
