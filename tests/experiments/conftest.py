"""Fixtures for the MLflow campaign tests: real sqlite stores in temporary folders, small
campaigns (10 rounds: one dead neuron of SF4 at a time, 32 samples, chunks of 2, each chunk
written by itself: ``tracking.flush_every_s: 0``, so that tests can stop after a given chunk)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = "spikefi-campaigns"

SMALL_CAMPAIGN = {
    "name": "dead-SF4",
    "network": {"pretrained": "digits_cnn"},
    "data": {"name": "spiking_digits", "seed": 0, "max_samples": 32},
    "options": {"seed": 0, "batch_size": 32, "chunk_size": 2},
    "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}],
}


def write_campaign_config(path: Path, output_dir: Path, **campaign_updates) -> Path:
    campaign = {**SMALL_CAMPAIGN, **campaign_updates}
    path.write_text(yaml.safe_dump({"campaign": campaign, "output_dir": str(output_dir),
                                    "tracking": {"experiment": EXPERIMENT, "flush_every_s": 0}}, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def empty_store_file(tmp_path_factory) -> Path:
    """An initialized, empty sqlite store (MLflow's schema migrations take seconds; run them once)."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def fresh_store(directory: Path, template: Path) -> str:
    shutil.copyfile(template, directory / "mlflow.db")
    return f"sqlite:///{directory / 'mlflow.db'}"


@pytest.fixture()
def store(tmp_path, monkeypatch, empty_store_file):
    """A real sqlite tracking store in tmp_path (MLFLOW_TRACKING_URI); cwd is tmp_path."""
    uri = fresh_store(tmp_path, empty_store_file)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("SPIKEFI_TEST_HOLD_AFTER_CHUNK", raising=False)
    monkeypatch.chdir(tmp_path)
    yield uri
    mlflow.set_tracking_uri(None)


@pytest.fixture()
def small_config(tmp_path) -> Path:
    return write_campaign_config(tmp_path / "campaign.yaml", tmp_path / "out")


@pytest.fixture(scope="session")
def reference_table(tmp_path_factory, empty_store_file) -> pd.DataFrame:
    """The small campaign's table from an uninterrupted tracked run (its own store)."""
    from experiments import campaign as entry

    tmp = tmp_path_factory.mktemp("reference")
    config = write_campaign_config(tmp / "campaign.yaml", tmp / "out")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = fresh_store(tmp, empty_store_file)
    try:
        assert entry.main(["--config", str(config), "--no-progress"]) == 0
        client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
        (run,) = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
        table = pd.read_parquet(tmp / "out" / run.info.run_id / "results" / "rounds.parquet")
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
        mlflow.set_tracking_uri(None)
    assert list(table["round_id"]) == list(range(10))
    return table


def runs_of(uri: str, experiment: str = EXPERIMENT) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id], max_results=1000)


def steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def entry_env(uri: str, **extra: str) -> dict[str, str]:
    # mlflow.set_experiment (in-process tests) exports MLFLOW_EXPERIMENT_ID: keep it from subprocesses
    drop = ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "SPIKEFI_TEST_HOLD_AFTER_CHUNK")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(MLFLOW_TRACKING_URI=uri, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", **extra)
    return env


def start_entry(args: list[str], uri: str, cwd: Path, **extra: str) -> subprocess.Popen:
    """A real ``python -m experiments.<...>`` subprocess, stdout piped line by line."""
    return subprocess.Popen([sys.executable, "-u", "-m", *args], cwd=cwd, env=entry_env(uri, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)


def kill_when_held(args: list[str], uri: str, cwd: Path, hold: str) -> None:
    """Runs an entry point that holds after a chunk (``hold``: ``"N:rows"`` or ``"N:metrics"``)
    and SIGKILLs it there: a crash at a known point of the flush."""
    proc = start_entry(args, uri, cwd, SPIKEFI_TEST_HOLD_AFTER_CHUNK=hold)
    try:
        wait_for_line(proc, f"holding after chunk {hold.split(':')[0]}")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        assert proc.stdout is not None
        proc.stdout.close()


def wait_for_line(proc: subprocess.Popen, marker: str, timeout: float = 180.0) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"process ended before {marker!r}:\n{''.join(lines)}")
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} within {timeout} s:\n{''.join(lines)}")
