"""Issue 32: the rate sweep as a YAML campaign kind (``campaign.rate_sweep``), tracked in a
real MLflow store: the kind tag, the sweep in plain words, per-point metric histories and the
summary table; one-line errors for a bad section."""

from __future__ import annotations

import math

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from analysis.schema import PARAM_RATE_SWEEP, RATE_SWEEP_PREFIX, RATE_SWEEP_TABLE
from experiments import campaign as entry
from spikefi.campaign import CampaignSpec
from spikefi.errors import ConfigError

from .conftest import EXPERIMENT, write_campaign_config


def test_rate_sweep_campaign_tracked(store, tmp_path):
    config = write_campaign_config(
        tmp_path / "cfg.yaml", tmp_path / "out",
        options={"seed": 0, "batch_size": 16, "chunk_size": 4, "quantization": {"dtype": "int8"},
                 "check_model_card": False},
        data={"name": "spiking_digits", "seed": 0, "max_samples": 16},
        exhaustive=[], rounds=[],
        rate_sweep={"model": "SoftErrors", "rates": [1e-5, 1e-3], "exposure": 2.0, "draws": 3, "layers": ["SF3", "SF4"]},
    )
    assert entry.main(["--config", str(config), "--no-progress"]) == 0
    row = mlflow.search_runs(experiment_names=[EXPERIMENT]).iloc[0]
    assert row["status"] == "FINISHED"
    assert row["tags.spikefi.campaign_kind"] == "rate-sweep"
    assert row[f"params.{PARAM_RATE_SWEEP}"] == ("SoftErrors (quantized weight codes): rates 1e-05, 0.001 per bit, "
                                                  "exposure 2; 3 draws per point, layers SF3, SF4")
    assert row["params.fault.model"] == "SoftErrors" and row["params.rounds"] == "6"
    client = MlflowClient()
    run_id = row["run_id"]
    acc = client.get_metric_history(run_id, RATE_SWEEP_PREFIX + "accuracy_mean")
    assert [m.step for m in sorted(acc, key=lambda m: m.step)] == [0, 1]
    probs = sorted(client.get_metric_history(run_id, RATE_SWEEP_PREFIX + "bit_upset_probability"), key=lambda m: m.step)
    assert math.isclose(probs[1].value, -math.expm1(-2e-3), rel_tol=1e-9)
    local = client.download_artifacts(run_id, RATE_SWEEP_TABLE, str(tmp_path / "dl"))
    table = pd.read_csv(local)
    assert list(table["draws"]) == [3, 3] and list(table["rate"]) == [1e-5, 1e-3]
    rounds = pd.read_parquet(client.download_artifacts(run_id, "results/rounds.parquet", str(tmp_path / "dl2")))
    assert math.isclose(table["accuracy_mean"].iloc[1], rounds.sort_values("round_id")["accuracy"].iloc[3:].mean())
    assert (table["accuracy_low"] <= table["accuracy_mean"]).all()


@pytest.mark.parametrize("section, match", [
    ({"model": "SoftError", "rates": [1e-3], "draws": 2}, "rate_sweep.model must be one of"),
    ({"rates": [1e-3]}, "needs draws .* or margin"),
    ({"rates": [], "draws": 2}, "rates must be a rate or a non-empty list"),
    ({"rates": [-1.0], "draws": 2}, "rate must be a finite number >= 0"),
    ({"rates": [1e-3], "draws": 2, "state": "membrane"}, "apply to StateSoftErrors only"),
    ({"rates": [1e-3], "margin": 0.7}, "margin must be a number in \\(0, 0.5\\)"),
    ({"rates": [1e-3], "draws": 2, "seed": 1}, "unknown key\\(s\\) \\['seed'\\] in rate_sweep"),
])
def test_bad_sections_one_line(section, match):
    with pytest.raises(ConfigError, match=match) as info:
        CampaignSpec.from_dict({"network": {"pretrained": "digits_cnn"}, "rate_sweep": section})
    assert "\n" not in str(info.value)


def test_state_sweep_spec_builds_draws():
    spec = CampaignSpec.from_dict({
        "network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 4}, "options": {"batch_size": 4},
        "rate_sweep": {"model": "StateSoftErrors", "rates": 1e-5, "exposure": [1.0, 4.0], "margin": 0.3,
                       "state": "refractory", "width": 16, "frac_bits": 8},
    })
    spec.check_runnable()
    cmpn = spec.build()
    assert len(cmpn.rounds) == 2 * 11  # ceil(1.96^2 * 0.25 / 0.3^2) = 11 draws per point
    from spikefi.campaign.rate_sweep import RateSweep

    sweep = RateSweep.of_campaign(cmpn)
    assert sweep.points == ((1e-5, 1.0), (1e-5, 4.0)) and [len(r) for r in sweep.rounds] == [11, 11]
    assert CampaignSpec.from_dict(spec.to_dict()).rate_sweep == spec.rate_sweep


@pytest.mark.parametrize("name, rounds", [("digits_soft_error_sweep.yaml", 3 * 43),
                                          ("digits_neuron_state_upsets.yaml", 4 + 3 * 20)])
def test_bundled_configs_build(name, rounds):
    from experiments.campaign import load_campaign_config
    from experiments.chunk_flush import campaign_kind
    from experiments.config import bundled_config

    _, spec = load_campaign_config(bundled_config(name), ["campaign.data.max_samples=4"])
    assert "rate-sweep" in campaign_kind(spec)
    assert len(spec.build().rounds) == rounds
