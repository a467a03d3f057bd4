"""``track_campaign`` logs into the experiment MLflow's fluent API would choose
(``mlflow.set_experiment``, ``MLFLOW_EXPERIMENT_NAME``, ``MLFLOW_EXPERIMENT_ID``) and stores the
golden baseline and model as config runs do."""

from __future__ import annotations

import json

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from experiments.track import track_campaign
from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError
from spikefi.faults import DeadNeuron
from spikefi.zoo import load_pretrained
from spikefi.zoo.serialization import load_network


@pytest.fixture(scope="module")
def small_campaign():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    cmpn = Campaign(net, test, max_samples=8, batch_size=8, seed=0)
    cmpn.exhaustive(DeadNeuron(), layers=["SF4"])
    return cmpn, cmpn.run(progress=False)


def _experiment_of(store: str, run_id: str) -> str:
    client = MlflowClient(store)
    return client.get_experiment(client.get_run(run_id).info.experiment_id).name


def test_experiment_follows_set_experiment_then_the_environment(store, tmp_path, monkeypatch, small_campaign):
    cmpn, result = small_campaign
    kw = {"result": result, "output_dir": tmp_path / "py", "progress": False}
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    assert _experiment_of(store, track_campaign(cmpn, "a", **kw)["run_id"]) == "spikefi"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    assert _experiment_of(store, track_campaign(cmpn, "b", **kw)["run_id"]) == "from-env"
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME")
    exp_id = MlflowClient(store).create_experiment("by-id")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", exp_id)
    assert _experiment_of(store, track_campaign(cmpn, "c", **kw)["run_id"]) == "by-id"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "987654")
    with pytest.raises(ConfigError, match="MLFLOW_EXPERIMENT_ID=987654"):
        track_campaign(cmpn, "d", **kw)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")
    mlflow.set_tracking_uri(store)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "0")  # set_experiment exports it: undone after the test
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")
    mlflow.set_experiment("active-one")  # the active experiment wins over the environment
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    run_id = track_campaign(cmpn, "e", **kw)["run_id"]
    assert _experiment_of(store, run_id) == "active-one"
    assert MlflowClient(store).get_experiment_by_name("active-one").tags["mlflow.experimentKind"] == \
        "custom_model_development"
    assert _experiment_of(store, track_campaign(cmpn, "f", experiment="named", **kw)["run_id"]) == "named"
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)


def test_the_golden_model_and_baseline_are_stored_like_config_runs(store, tmp_path, monkeypatch, small_campaign):
    cmpn, result = small_campaign
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    out = track_campaign(cmpn, "golden", result=result, output_dir=tmp_path / "py", progress=False)
    client = MlflowClient(store)
    run = client.get_run(out["run_id"])
    files = {f.path for f in client.list_artifacts(out["run_id"], "golden/model")}
    assert {"golden/model/digits_cnn.pt", "golden/model/digits_cnn.yaml", "golden/model/network.json"} <= files
    model_dir = client.download_artifacts(out["run_id"], "golden", str(tmp_path / "dl"))
    net, _, _ = load_network(f"{model_dir}/model/digits_cnn.pt")  # loads with weights_only
    for (k, v), (k2, v2) in zip(net.state_dict().items(), cmpn.net.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2.cpu())
    record = json.loads(open(f"{model_dir}/model/network.json").read())
    assert record["network.digest"] == run.data.params["network.digest"] and record["file"] == "digits_cnn.pt"
    baseline = json.loads(open(f"{model_dir}/baseline.json").read())
    assert baseline["accuracy"] == pytest.approx(run.data.metrics["golden.accuracy"])
