"""A real tracking server (``mlflow server`` on 127.0.0.1, sqlite backend) with two shard
processes running at once against it, and the MLproject through ``mlflow run``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from mlflow.tracking import MlflowClient

from experiments import campaign as entry
from experiments.artifacts import load_run_result

from .conftest import EXPERIMENT, REPO, entry_env, free_port, runs_of, start_entry, steps

MLFLOW = str(Path(sys.executable).with_name("mlflow"))


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture()
def server(tmp_path):
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [MLFLOW, "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        try:
            if requests.get(uri + "/health", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "mlflow server did not come up:\n" + (tmp_path / "server.log").read_text()
        time.sleep(0.5)
    yield uri, proc, port
    if proc.poll() is None:  # stop it by its PID (its process group, should the test have failed)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    log.close()


def test_remote_server_with_concurrent_shards(server, small_config, tmp_path, monkeypatch, capsys, reference_table):
    uri, proc, port = server
    shards = [start_entry(["experiments.campaign", "--config", str(small_config), "--shard", f"{i}/2", "--no-progress"],
                          uri, tmp_path) for i in (0, 1)]
    outputs = []
    for p in shards:
        out, _ = p.communicate(timeout=400)
        outputs.append(out)
        assert p.returncode == 0, out
    assert sum("merged 2 shards into run" in out for out in outputs) == 1  # exactly one shard merges

    client = MlflowClient(uri)
    runs = runs_of(uri)
    parents = [r for r in runs if r.data.tags["spikefi.kind"] == "sharded-campaign"]
    shard_runs = [r for r in runs if r.data.tags["spikefi.kind"] == "shard"]
    assert len(parents) == 1 and len(shard_runs) == 2
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in shard_runs} == {parent.info.run_id}
    assert all(r.info.status == "FINISHED" for r in shard_runs)
    merged = load_run_result(parent.info.run_id, client, tmp_path / "dl")  # artifacts through the server
    pd.testing.assert_frame_equal(merged.table, reference_table)
    assert steps(client, parent.info.run_id, "round_acc") == list(range(10))
    assert steps(client, parent.info.run_id, "crit_rate") == [0]
    assert parent.data.params["rounds"] == "10" and parent.data.params["dataset.samples"] == "32"
    assert client.get_run(parent.info.run_id).inputs.dataset_inputs
    for s in shard_runs:
        i = int(s.data.tags["spikefi.shard_index"])
        assert steps(client, s.info.run_id, "round_acc") == [r for r in range(10) if r % 2 == i]
    # running a finished shard again computes nothing and changes nothing
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    assert entry.main(["--config", str(small_config), "--shard", "0/2", "--no-progress"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert len(runs_of(uri)) == 3
    assert steps(client, parent.info.run_id, "crit_rate") == [0]

    proc.send_signal(signal.SIGTERM)  # stop the server by its PID
    assert proc.wait(timeout=60) is not None
    deadline = time.monotonic() + 30
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _port_open(port)

    capsys.readouterr()
    assert entry.main(["--config", str(small_config), "--no-progress"]) == 2
    assert f"tracking server at {uri} is not reachable" in capsys.readouterr().err


def _mlflow_run(store: str, tmp_path: Path, *params: str) -> subprocess.CompletedProcess:
    cmd = [MLFLOW, "run", str(REPO), "-e", "campaign", "-P", "config=experiments/configs/dead_neurons_sf4.yaml",
           "-P", f"overrides=campaign.data.max_samples=32 output_dir={tmp_path / 'out'}", *params,
           "--env-manager", "local", "--experiment-name", EXPERIMENT]
    env = entry_env(store)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_mlflow_run_entry_point_launcher_becomes_or_points_to_the_campaign_run(store, tmp_path):
    MlflowClient(store).create_experiment(EXPERIMENT)
    done = _mlflow_run(store, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = runs_of(store)
    assert run.info.status == "FINISHED" and run.data.tags["spikefi.kind"] == "campaign"
    assert run.data.tags["mlflow.project.entryPoint"] == "campaign"  # the launcher run is the campaign run
    client = MlflowClient(store)
    assert steps(client, run.info.run_id, "round_acc") == list(range(10))

    bad = _mlflow_run(store, tmp_path, "-P", "bogus=1")
    assert bad.returncode != 0
    assert "unknown parameter(s) --bogus 1" in bad.stderr
    failed = [r for r in runs_of(store) if r.info.run_id != run.info.run_id]
    assert len(failed) == 1 and failed[0].info.status == "FAILED"
    assert "unknown parameter(s) --bogus 1" in failed[0].data.tags["spikefi.status_reason"]

    again = _mlflow_run(store, tmp_path, "-P", f"resume={run.info.run_id}")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already finished: nothing to compute" in again.stdout
    launcher = [r for r in runs_of(store) if r.info.run_id not in (run.info.run_id, failed[0].info.run_id)]
    assert len(launcher) == 1
    assert launcher[0].data.tags["spikefi.kind"] == "launcher"
    assert launcher[0].data.tags["spikefi.launched_run"] == run.info.run_id
    assert "round_acc" not in launcher[0].data.metrics  # holds no results
    assert client.get_run(run.info.run_id).data.tags["spikefi.attempts"] == "1"


def test_mlflow_run_with_the_local_sink_records_the_campaign_in_the_folder(store, tmp_path):
    """``-P sink=local -P sink_dir=...`` reach ``--sink`` / ``--sink-dir``: the campaign is a
    finished run of the folder, and the launcher run ``mlflow run`` created points to it."""
    from experiments.local_sink import LocalSink

    MlflowClient(store).create_experiment(EXPERIMENT)
    folder = tmp_path / "local sink"
    done = _mlflow_run(store, tmp_path, "-P", "sink=local", "-P", f"sink_dir={folder}")
    assert done.returncode == 0, done.stdout + done.stderr
    (local_run,) = [p.name for p in folder.iterdir() if p.is_dir()]
    assert LocalSink(str(folder)).status(local_run)[0] == "FINISHED"
    table = pd.read_parquet(folder / local_run / "results" / "rounds.parquet")
    assert list(table["round_id"]) == list(range(10))
    (launcher,) = runs_of(store)  # no campaign run in the store: only the launcher
    assert launcher.info.status == "FINISHED" and launcher.data.tags["spikefi.kind"] == "launcher"
    assert launcher.data.tags["spikefi.local_run"] == local_run
    assert launcher.data.tags["spikefi.local_dir"] == str(folder / local_run)
    # MLflow logs the parameter as it quoted it for the shell (the folder name holds a space)
    assert launcher.data.params["sink"] == "local" and launcher.data.params["sink_dir"].strip("'") == str(folder)
