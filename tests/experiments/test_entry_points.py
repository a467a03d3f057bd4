"""Entry points against a real MLflow store (sqlite in a temporary folder)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from experiments import cli
from experiments import main as demo
from experiments import train as train_entry
from spikefi.zoo import pretrained_path


def test_train_entry_point_tracks_a_real_run(store, tmp_path, capsys):
    rc = train_entry.main([
        "--set", "training.epochs=1", "--set", "training.max_samples=160",
        "--set", f"output_dir={tmp_path / 'out'}", "--no-progress",
    ])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "MLflow run" in printed
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("spikefi")  # the one default experiment of every entry point
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.params["architecture"] == "digits_cnn"
    assert run.data.params["training.max_samples"] == "160"
    history = client.get_metric_history(run.info.run_id, "test_accuracy")
    assert [m.step for m in history] == [1]
    card = json.loads((tmp_path / "out" / "digits_cnn.json").read_text())
    assert card["test_accuracy"] == pytest.approx(run.data.metrics["final_test_accuracy"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/digits_cnn.pt", "model/digits_cnn.yaml", "model/digits_cnn.md"} <= artifacts
    from spikefi.digest import network_digest
    from spikefi.zoo import load_network

    assert run.data.params["network.digest"] == network_digest(load_network(tmp_path / "out" / "digits_cnn.pt")[0])


def test_demo_with_given_model(store, tmp_path, capsys):
    rc = demo.main(["--set", f"model={pretrained_path('digits_cnn')}", "--set", f"output_dir={tmp_path / 'demo'}",
                    "--set", "campaigns.sweep.base.data.max_samples=32", "--set", "search.search.trials=8",
                    "--set", "search.search.data.max_samples=32", "--set", "testgen.testgen.data.max_samples=48",
                    "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "golden accuracy" in printed and "what was produced and where" in printed
    assert "3/6 fault-injection campaigns" in printed and "mlflow ui --backend-store-uri" in printed
    assert "4/6 worst-case fault search: 8 trials" in printed and "worst-case search : 8 trials" in printed
    assert "5/6 test program for the faults of campaign 'dead-neurons-SF3-SF4'" in printed
    assert "test program      : " in printed
    assert "6/6 reliability report" in printed and "reliability report:" in printed
    html = tmp_path / "demo" / "report" / "report.html"
    text = html.read_text()
    assert "<h2>Golden baseline</h2>" in text and "data:image/png;base64," in text
    assert "search-demo-worst-2-faults-w0: optimization history" in text
    assert "testgen-demo-test-program: coverage curve" in text
    assert "Inputs of the test program of testgen-demo-test-program" in text and "held-out faults" in text
    for name in ("dead-neurons-SF3-SF4", "saturated-neurons-SF4", "sign-bit-flips-SF4"):
        assert name in printed
    table = pd.read_parquet(tmp_path / "demo" / "golden" / "golden_predictions.parquet")
    summary = json.loads((tmp_path / "demo" / "golden" / "golden_summary.json").read_text())
    assert summary["accuracy"] == pytest.approx(table["correct"].mean())
    assert summary["accuracy"] >= 0.9
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("spikefi")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI's classic runs view
    runs = client.search_runs([exp.experiment_id])
    names = {r.info.run_name for r in runs}
    assert {"demo", "golden-digits_cnn"} <= names
    golden = next(r for r in runs if r.info.run_name == "golden-digits_cnn")
    parent = next(r for r in runs if r.info.run_name == "demo")
    assert golden.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert golden.data.metrics["accuracy"] == pytest.approx(summary["accuracy"])
    from spikefi.digest import network_digest
    from spikefi.zoo import load_pretrained

    assert golden.data.params["network.digest"] == network_digest(load_pretrained("digits_cnn")[0])
    sweep = next(r for r in runs if r.data.tags.get("spikefi.kind") == "sweep")
    # campaigns at most two levels deep: the sweep is top-level, related to the demo by a tag
    assert "mlflow.parentRunId" not in sweep.data.tags and sweep.info.status == "FINISHED"
    assert sweep.data.tags["spikefi.demo_run"] == parent.info.run_id
    campaigns = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == sweep.info.run_id]
    assert sorted(r.info.run_name for r in campaigns) == ["dead-neurons-SF3-SF4", "saturated-neurons-SF4",
                                                          "sign-bit-flips-SF4"]
    assert all(r.info.status == "FINISHED" and r.data.params["dataset.samples"] == "32" for r in campaigns)
    assert next(r for r in campaigns if r.info.run_name == "sign-bit-flips-SF4").data.params["rounds"] == "64"
    search = next(r for r in runs if r.data.tags.get("spikefi.kind") == "search")
    assert "mlflow.parentRunId" not in search.data.tags and search.info.status == "FINISHED"
    assert search.data.tags["spikefi.demo_run"] == parent.info.run_id
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == search.info.run_id]
    assert len(trials) == 8 and all(r.data.tags["spikefi.kind"] == "search-trial" for r in trials)
    assert search.data.tags["spikefi.optuna_storage"] == f"sqlite:///{tmp_path / 'demo' / 'search' / 'optuna.db'}"
    testgen = next(r for r in runs if r.data.tags.get("spikefi.kind") == "testgen")
    assert testgen.data.tags["mlflow.parentRunId"] == parent.info.run_id and testgen.info.status == "FINISHED"
    dead = next(r for r in campaigns if r.info.run_name == "dead-neurons-SF3-SF4")
    assert testgen.data.params["fault_source"] == f"run:{dead.info.run_id}"
    assert 1 <= testgen.data.metrics["test_length"] <= 20
    # the program is built on the campaign run's own golden model and data (issue 26)
    assert testgen.data.params["network.source"] == f"golden model of run:{dead.info.run_id}"
    assert testgen.data.params["network.digest"] == dead.data.params["network.digest"]
    assert testgen.data.params["candidates"] == "32"  # the campaign's 32 samples, not the testgen config's 48
    report = next(r for r in runs if r.data.tags.get("spikefi.kind") == "report")
    assert {a.path for a in client.list_artifacts(report.info.run_id, "report")} == {
        "report/report.html", "report/report.md", "report/figures"}


def test_bad_config_values_give_clear_errors(store, capsys):
    assert train_entry.main(["--set", "training.epochz=3"]) == 2
    assert "unknown config key 'training.epochz'" in capsys.readouterr().err
    assert train_entry.main(["--set", "architecture=resnet"]) == 2
    assert "unknown architecture 'resnet'" in capsys.readouterr().err
    assert cli.main(["nope"]) == 2


def test_train_reads_the_nmnist_sample_list_layout():
    """``dataset: {name: nmnist, root, train_list, test_list}`` is a training config too (the
    keys were refused before); the splits are the lists' recordings."""
    from experiments.config import bundled_config, load_config
    from experiments.datasets import load_dataset

    from ..nmnist_real import TEST_LIST, TRAIN_LIST, nmnist_dir

    root = nmnist_dir()
    config = load_config(bundled_config("train_digits.yaml"), train_entry.DEFAULTS,
                         ["dataset.name=nmnist", f"dataset.root={root}", f"dataset.train_list={TRAIN_LIST}",
                          f"dataset.test_list={TEST_LIST}"])
    train, test, description = load_dataset(config["dataset"])
    assert (len(train), len(test)) == (1000, 100) and TEST_LIST in description
    with pytest.raises(Exception, match="go together"):
        load_dataset({**config["dataset"], "test_list": None})
