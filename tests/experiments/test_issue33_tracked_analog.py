"""Issue 33: analog devices tracked in a real MLflow store: the run's params name them in
plain words, and the campaign table holds one row per draw."""

from __future__ import annotations

import mlflow

from experiments import campaign as entry

from .conftest import EXPERIMENT, write_campaign_config


def test_analog_devices_params(store, tmp_path):
    pcm = {"model": "AnalogDevices", "g_max": 25.0, "levels": 16, "program_sigma": 0.02, "read_sigma": 0.01,
           "age": 3600.0, "drift_nu_mean": 0.05, "drift_nu_std": 0.02, "sites": [{"layer": "SF3"}]}
    config = write_campaign_config(
        tmp_path / "cfg.yaml", tmp_path / "out",
        options={"seed": 0, "batch_size": 8, "chunk_size": 2, "engine": "parallel", "check_model_card": False},
        data={"name": "spiking_digits", "seed": 0, "max_samples": 8},
        exhaustive=[],
        rounds=[[pcm], [pcm], [{"model": "AnalogDevices", "mapping": "none", "threshold_sigma": 0.1}]],
    )
    assert entry.main(["--config", str(config), "--no-progress"]) == 0
    row = mlflow.search_runs(experiment_names=[EXPERIMENT]).iloc[0]
    assert row["status"] == "FINISHED"
    assert row["params.fault.model"] == "AnalogDevices"
    parameter = row["params.fault.parameter"]
    assert ("differential pairs, Gmax 25, 16 levels, programming noise 2% of Gmax, read noise per sample 1% of Gmax, "
            "age 3600 (t0 20, drift nu 0.05 +- 0.02)") in parameter
    assert "threshold mismatch 10%" in parameter
    assert row["params.fault.layers"].startswith("SF3")
