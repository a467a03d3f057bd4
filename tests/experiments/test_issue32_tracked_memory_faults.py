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
