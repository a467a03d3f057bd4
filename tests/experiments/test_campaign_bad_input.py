"""Bad input to the campaign and sweep entry points: each a clear error, and no run left
looking complete."""

from __future__ import annotations

import torch
import yaml
from mlflow.tracking import MlflowClient

from experiments import campaign as entry
from experiments import cli
from experiments import sweep as sweep_entry
from spikefi.zoo import build, pretrained_path, save_network

from .conftest import free_port, runs_of, write_campaign_config


def test_missing_and_malformed_configs(store, tmp_path, capsys):
    assert entry.main(["--config", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("campaign: {name: x, network: [unclosed\n")
    assert entry.main(["--config", str(bad)]) == 2
    assert "is not valid yaml" in capsys.readouterr().err
    no_net = tmp_path / "nonet.yaml"
    no_net.write_text(yaml.safe_dump({"campaign": {"name": "x", "exhaustive": [{"model": "DeadNeuron"}]}}))
    assert entry.main(["--config", str(no_net)]) == 2
    assert "campaign.network is required" in capsys.readouterr().err
    assert sweep_entry.main(["--config", str(no_net)]) == 2
    assert "unknown config key 'campaign'" in capsys.readouterr().err
    assert runs_of(store) == []


def test_unknown_keys_models_and_parameters(store, small_config, capsys):
    assert entry.main(["--config", str(small_config), "--set", "campaign.options.chunksize=3"]) == 2
    assert "unknown config key 'campaign.options.chunksize'" in capsys.readouterr().err
    assert entry.main(["--config", str(small_config), "--set", "campaign.exhaustive=[{model: DeadNeuronz}]"]) == 2
    assert "unknown fault model 'DeadNeuronz'" in capsys.readouterr().err
    assert entry.main(["--config", str(small_config), "--bogus", "1"]) == 2  # what `mlflow run -P bogus=1` passes
    err = capsys.readouterr().err
    assert "unknown parameter(s) --bogus 1" in err and "--config" in err
    assert entry.main(["--config", str(small_config), "--shard", "3/2"]) == 2
    assert "0 <= i < n" in capsys.readouterr().err
    assert cli.main(["campaign", "--config", str(small_config), "--overrides", "campaign.options.seed=-1"]) == 2
    assert "seed must be an int >= 0" in capsys.readouterr().err
    assert runs_of(store) == []


def test_tracking_server_down_is_a_clear_error_before_any_work(store, small_config, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    assert entry.main(["--config", str(small_config), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "tracking server at http://127.0.0.1:" in err and "not reachable" in err and "nothing was run" in err
    assert not (tmp_path / "out").exists()


def test_resume_id_of_another_campaign_is_refused(store, small_config, tmp_path, capsys):
    assert entry.main(["--config", str(small_config), "--no-progress"]) == 0
    (run,) = runs_of(store)
    other = write_campaign_config(tmp_path / "other.yaml", tmp_path / "out",
                                  options={"seed": 1, "batch_size": 32, "chunk_size": 2})
    capsys.readouterr()
    assert entry.main(["--config", str(other), "--resume", run.info.run_id, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "belongs to another campaign" in err and "options.seed: run has 0, config has 1" in err
    assert entry.main(["--config", str(small_config), "--resume", "0" * 32]) == 2
    assert "no such run" in capsys.readouterr().err
    assert [r.info.run_id for r in runs_of(store)] == [run.info.run_id]
    assert MlflowClient(store).get_run(run.info.run_id).data.tags["spikefi.attempts"] == "1"  # untouched


def test_model_file_of_the_wrong_architecture(store, tmp_path, capsys):
    mlp, params = build("digits_mlp", seed=0)
    path = save_network(mlp, tmp_path / "mlp.pt", params)
    payload = torch.load(path, weights_only=True)
    payload["architecture"] = "digits_cnn"  # claims to be the CNN, holds the MLP's weights
    wrong = tmp_path / "wrong.pt"
    torch.save(payload, wrong)
    cfg = write_campaign_config(tmp_path / "c.yaml", tmp_path / "out", network={"path": str(wrong)})
    assert entry.main(["--config", str(cfg), "--no-progress"]) == 2
    assert "does not fit architecture 'digits_cnn'" in capsys.readouterr().err
    # a real MLP file with faults in a layer it does not have
    cfg = write_campaign_config(tmp_path / "c2.yaml", tmp_path / "out", network={"path": str(path)})
    assert entry.main(["--config", str(cfg), "--no-progress"]) == 2
    assert "unknown layer 'SF4'" in capsys.readouterr().err
    assert entry.main(["--config", str(write_campaign_config(tmp_path / "c3.yaml", tmp_path / "out",
                                                              network={"path": str(tmp_path / "absent.pt")}))]) == 2
    assert "network file not found" in capsys.readouterr().err
    assert runs_of(store) == []  # nothing left looking complete (nor started)
    assert pretrained_path("digits_cnn").is_file()
