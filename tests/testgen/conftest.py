"""Fixtures for the test-generation tests: the shipped digits CNN, its first 64 test
samples, a small campaign over them (dead/saturated neurons of SF4, a few of SF3) with
per-sample predictions, and real sqlite MLflow stores in temporary folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from spikefi.campaign import Campaign
from spikefi.campaign.spec import load_splits
from spikefi.faults import DeadNeuron, SaturatedNeuron
from spikefi.training import dataset_tensors
from spikefi.zoo import load_pretrained

REPO = Path(__file__).resolve().parents[2]
N_SAMPLES = 64


@pytest.fixture(scope="session")
def digits():
    """``(net, x, y)``: the pretrained digits CNN and the first 64 test samples."""
    net, _, _ = load_pretrained("digits_cnn")
    _, test, _ = load_splits({"name": "spiking_digits", "seed": 0})
    x, y = dataset_tensors(test)
    return net, x[:N_SAMPLES].to(torch.float32), y[:N_SAMPLES]


@pytest.fixture(scope="session")
def small_result(digits):
    """A campaign result with predictions: every dead and saturated SF4 neuron, 8 dead SF3 neurons."""
    net, x, y = digits
    cmpn = Campaign(net, (x, y), seed=0)
    cmpn.exhaustive(DeadNeuron(), layers=["SF4"])
    cmpn.exhaustive(SaturatedNeuron(), layers=["SF4"])
    cmpn.exhaustive(DeadNeuron(), layers=["SF3"], sample=8)
    return cmpn.run(engine="parallel", keep_predictions=True, progress=False)


@pytest.fixture(scope="session")
def empty_store_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture()
def store(tmp_path, monkeypatch, empty_store_file):
    """A real sqlite tracking store in tmp_path (MLFLOW_TRACKING_URI); cwd is tmp_path."""
    shutil.copyfile(empty_store_file, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    return uri
