"""Every command in a ``bash`` block of README.md runs as written on a CPU machine (issue 17
item 1), in README order, in a copy of the repository with its own MLflow store; commands
marked ``[long ...]``, ``[needs ...]`` or ``[shell]`` (a line's comment, or the first comment
of a block for the whole block) are the ones that need minutes, CUDA, a cluster or data.

The documented placeholders are filled in: ``RUN_ID`` with the latest campaign run, the test
program folder ``outputs/testgen/RUN/program`` with the one the testgen command wrote."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parents[1]
SKIP_TAGS = ("[long", "[needs", "[shell]")


def readme_commands(text: str) -> tuple[list[str], list[str]]:
    """``(commands to run, commands marked as not run)`` of the README's bash blocks."""
    run, marked = [], []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        if lines and lines[0].lstrip().startswith("#") and any(t in lines[0] for t in SKIP_TAGS):
            marked += [ln for ln in lines[1:] if not ln.lstrip().startswith("#")]
            continue
        for line in lines:
            if line.lstrip().startswith("#"):
                continue
            found = re.match(r"^(.*?)\s+#\s(.*)$", line)
            command, comment = (found.group(1), found.group(2)) if found else (line, "")
            (marked if any(t in comment for t in SKIP_TAGS) else run).append(command.strip())
    return run, marked


def test_readme_marks_what_it_does_not_run():
    run, marked = readme_commands((REPO / "README.md").read_text())
    assert "make demo" in marked and "make test" in marked
    assert any(c.startswith("mlflow run . -e campaign") for c in run)
    assert any(c.startswith("mlflow run . -e report") for c in run)
    assert all(" X " not in f" {c} " and " Y " not in f" {c} " for c in run), "placeholders left in runnable commands"


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    run, _ = readme_commands((REPO / "README.md").read_text())
    work = tmp_path / "repo"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(".git", ".venv", "outputs", "mlruns", "mlflow.db",
                                                               "__pycache__", ".pytest_cache", "*.egg-info"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    drop = ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "SPIKEFI_TEST_HOLD_AFTER_CHUNK")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(MLFLOW_TRACKING_URI=uri, PYTHONPATH=str(work), OMP_NUM_THREADS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    client = MlflowClient(uri)
    for command in run:
        if "RUN_ID" in command:
            campaigns = [r for e in client.search_experiments() for r in client.search_runs(
                [e.experiment_id], "tags.`spikefi.kind` = 'campaign' and attributes.status = 'FINISHED'")]
            assert campaigns, f"no campaign run for {command!r}"
            command = command.replace("RUN_ID", max(campaigns, key=lambda r: r.info.start_time).info.run_id)
        if "outputs/testgen/RUN/program" in command:
            programs = sorted((work / "outputs" / "testgen").rglob("program.json"))
            assert programs, f"no test program for {command!r}"
            command = command.replace("outputs/testgen/RUN/program", str(programs[-1].parent))
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"README command failed: {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        if command == "spikefi --help":
            assert "campaign" in done.stdout and "report" in done.stdout
    # the `mlflow run` flow: the campaign and its report in the experiment named with --experiment-name,
    # the demo's; nothing in Default
    spikefi = client.get_experiment_by_name("spikefi")
    runs = client.search_runs([spikefi.experiment_id])
    kinds = [r.data.tags.get("spikefi.kind") for r in runs]
    assert "campaign" in kinds and "report" in kinds
    default = client.get_experiment_by_name("Default")
    assert default is None or not client.search_runs([default.experiment_id])
    # the sharded flow: four shards, one merged parent, none left RUNNING
    parents = [r for r in runs if r.data.tags.get("spikefi.kind") == "sharded-campaign"]
    shards = [r for r in runs if r.data.tags.get("spikefi.kind") == "shard"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(shards) == 4
    assert all(r.info.status == "FINISHED" for r in shards)
