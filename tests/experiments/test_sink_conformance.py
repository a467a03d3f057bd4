"""Runs the sink conformance suite (``sink_conformance.py``) against every campaign sink: the
MLflow sink on a real sqlite store in tmp_path, and the local-folder sink (with its background
writer, and writing synchronously)."""

from __future__ import annotations

import json
import shutil

import pytest
from mlflow.tracking import MlflowClient

from .sink_conformance import *  # noqa: F403 - the suite's tests run here, once per sink
from .sink_conformance import dead_owner  # noqa: F401 - a fixture of the suite


@pytest.fixture(params=["mlflow", "local", "local-sync"])
def make_sink(request, tmp_path, empty_store_file, monkeypatch):
    from experiments.local_sink import LocalSink
    from experiments.mlflow_sink import MlflowSink
    from experiments.tracking import ensure_experiment

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPIKEFI_TEST_HOLD_AFTER_CHUNK", raising=False)
    if request.param == "mlflow":
        shutil.copyfile(empty_store_file, tmp_path / "mlflow.db")
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        client = MlflowClient(uri)
        experiment_id = ensure_experiment(client, "conformance")

        def make():
            return MlflowSink(MlflowClient(uri), experiment_id, tmp_path / "out")

        make.heartbeat = lambda run_id: float(client.get_run(run_id).data.tags["spikefi.heartbeat"])
    else:
        capacity = 0 if request.param == "local-sync" else 4  # without / with the background writer

        def make():
            return LocalSink(tmp_path / "runs", writer_capacity=capacity)

        make.heartbeat = lambda run_id: float(json.loads((tmp_path / "runs" / run_id / "run.json").read_text())
                                              ["heartbeat"])
    return make
