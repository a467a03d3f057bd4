"""Issue 32: weight-memory faults (a fault map, soft errors) tracked in a real MLflow store:
the run's params name them in plain words."""

from __future__ import annotations

import mlflow

from experiments import campaign as entry
from spikefi.faults import write_fault_map

from .conftest import EXPERIMENT, write_campaign_config


def test_fault_map_and_soft_errors_params(store, tmp_path):
    chip = write_fault_map(tmp_path / "chip.csv", [("SC1", (0, 1, 2, 2), 6, 1), ("SF4", (9, 63, 0, 0), 7, 0)])
    config = write_campaign_config(
        tmp_path / "cfg.yaml", tmp_path / "out",
        options={"seed": 0, "batch_size": 16, "chunk_size": 2, "quantization": {"dtype": "int8"},
                 "check_model_card": False},
        data={"name": "spiking_digits", "seed": 0, "max_samples": 16},
        exhaustive=[],
        rounds=[[{"model": "FaultMap", "file": str(chip)}], [{"model": "SoftErrors", "rate": 1e-4, "exposure": 2.0}]],
    )
    assert entry.main(["--config", str(config), "--no-progress"]) == 0
    row = mlflow.search_runs(experiment_names=[EXPERIMENT]).iloc[0]
    assert row["status"] == "FINISHED"
    assert row["params.fault.model"] == "FaultMap, SoftErrors"
    parameter = row["params.fault.parameter"]
    assert parameter.startswith(f"FaultMap: fault map {chip} (sha256 ")
    assert "SoftErrors: rate 0.0001 per bit, exposure 2 (bit upset probability 0.0002)" in parameter
    assert row["params.fault.layers"].startswith("SC1")


def test_neuron_state_and_float32_params(store, tmp_path):
    config = write_campaign_config(
        tmp_path / "cfg.yaml", tmp_path / "out",
        options={"seed": 0, "batch_size": 16, "chunk_size": 2, "check_model_card": False},
        data={"name": "spiking_digits", "seed": 0, "max_samples": 16},
        exhaustive=[],
        rounds=[[{"model": "MembraneUpset", "bits": 30, "steps": [3, 7],
                  "sites": [{"layer": "SF4", "position": [1, 0, 0]}]}],
                [{"model": "StateSoftErrors", "rate": 1e-5, "state": "refractory", "width": 16, "frac_bits": 8}],
                [{"model": "Float32SoftErrors", "rate": 1e-5}]],
    )
    assert entry.main(["--config", str(config), "--no-progress"]) == 0
    row = mlflow.search_runs(experiment_names=[EXPERIMENT]).iloc[0]
    assert row["status"] == "FINISHED"
    assert row["params.fault.model"] == "MembraneUpset, StateSoftErrors, Float32SoftErrors"
    parameter = row["params.fault.parameter"]
    assert "MembraneUpset: bit 30 of the float32 membrane potential at steps 3, 7" in parameter
    assert ("StateSoftErrors: rate 1e-05 per bit per step, exposure 1 (bit upset probability 1e-05), "
            "16-bit fixed-point (8 fractional bits) refractory state") in parameter
    assert "Float32SoftErrors: rate 1e-05 per bit, exposure 1 (bit upset probability 1e-05)" in parameter
