"""A small real N-MNIST campaign through the campaign entry point into a real sqlite store,
and the reliability report on it; the shipped N-MNIST configs parse."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from experiments import campaign as entry
from experiments import report as report_entry
from spikefi.campaign.spec import CampaignSpec

from ..nmnist_real import nmnist_dir
from .conftest import REPO

CONFIGS = sorted((REPO / "experiments" / "configs").glob("nmnist_*.yaml"))


def test_shipped_nmnist_configs_are_valid() -> None:
    assert [c.name for c in CONFIGS] == ["nmnist_int8_bitflips.yaml", "nmnist_neurons.yaml",
                                         "nmnist_synapses.yaml", "nmnist_transient.yaml"]
    models = set()
    for path in CONFIGS:
        config = yaml.safe_load(path.read_text())
        spec = CampaignSpec.from_dict(config["campaign"])
        assert spec.network == {"pretrained": "nmnist_cnn"}
        assert spec.data["name"] == "nmnist" and spec.data["root"] is None  # from SPIKEFI_NMNIST_DIR
        assert (spec.data["train_list"], spec.data["test_list"]) == ("train1K.txt", "test100.txt")
        assert config["tracking"]["experiment"] == "spikefi-nmnist"
        models |= {(e["model"], "timing" in e, bool(spec.options["quantization"])) for e in spec.exhaustive}
    assert {("DeadNeuron", False, False), ("SaturatedNeuron", False, False), ("DeadSynapse", False, False),
            ("BitFlipSynapse", False, True), ("SaturatedNeuron", True, False)} <= models


def test_real_nmnist_campaign_through_the_entry_point(store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SPIKEFI_NMNIST_DIR", str(nmnist_dir()))
    config = yaml.safe_load((REPO / "experiments" / "configs" / "nmnist_transient.yaml").read_text())
    campaign = config["campaign"]
    campaign["data"]["max_samples"] = 8
    for entry_spec in campaign["exhaustive"]:
        entry_spec["sample"] = 2
    config["output_dir"] = str(tmp_path / "out")
    path = tmp_path / "nmnist_transient_small.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))

    assert entry.main(["--config", str(path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "4 rounds" in printed and "critical-fault rate" in printed
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("spikefi-nmnist")
    (run,) = client.search_runs([exp.experiment_id], "tags.`spikefi.kind` = 'campaign'")
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["network"] == "pretrained:nmnist_cnn" and params["dataset.samples"] == "8"
    assert params["rounds"] == "4"
    # root: null in the config: the dataset is named by the folder SPIKEFI_NMNIST_DIR gave and its list
    assert params["dataset"] == f"nmnist({nmnist_dir().resolve()})/{campaign['data']['test_list'] or 'test'}"
    (ds,) = [i for i in run.inputs.dataset_inputs if i.tags[0].value == "test"]  # beside the fault list
    assert str(nmnist_dir().resolve()) in ds.dataset.source
    table = pd.read_parquet(next((tmp_path / "out").rglob("results/rounds.parquet")))
    assert len(table) == 4 and set(table["layer"]) == {"SC2", "SF4a"} and (table["samples"] == 8).all()
    assert set(table["timing"]) == {"Window(t_start=15, t_end=25)"} and set(table["model"]) == {"SaturatedNeuron"}
    # the zoo CNN classifies the first 8 real test recordings correctly (its card: 0.99 on 100)
    assert (table["golden_accuracy"] == 1.0).all() and table["accuracy"].between(0, 1).all()

    out = tmp_path / "report"
    assert report_entry.main(["--experiment", "spikefi-nmnist", "--output-dir", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "nmnist-transient-saturation" in text and "SaturatedNeuron" in text
