"""Issue 32: rate sweeps inside a multi-campaign sweep (``python -m experiments.sweep``), tracked
in a real sqlite MLflow store: ``sweep.base.rate_sweep`` shared by the campaigns (a campaign's
keys replace base's, ``rate_sweep: null`` turns it off), each rate-sweep child with its own curve
(param in plain words, ``results/rate_sweep.csv``, histories ``rate_sweep.*``, bounded per-round
histories), the sweep run with every curve in ``sweep/rate_sweeps.csv``; one-line errors."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from analysis.schema import PARAM_RATE_SWEEP, RATE_SWEEP_PREFIX, RATE_SWEEP_TABLE
from experiments import sweep as sweep_entry
from experiments.config import load_config
from experiments.sweep import merged_rate_sweep
from spikefi.errors import ConfigError

from .conftest import EXPERIMENT, runs_of, steps

BASE_SWEEP = {"model": "SoftErrors", "rates": [1.0e-4, 1.0e-3], "draws": 2, "layers": ["SF3", "SF4"]}


def sweep_config(path, out, campaigns, base_sweep=BASE_SWEEP):
    path.write_text(yaml.safe_dump({
        "sweep": {"name": "soft-errors",
                  "base": {"network": {"pretrained": "digits_cnn"},
                           "data": {"name": "spiking_digits", "seed": 0, "max_samples": 8},
                           "options": {"seed": 0, "batch_size": 8, "chunk_size": 2, "quantization": {"dtype": "int8"}},
                           "rate_sweep": base_sweep},
                  "campaigns": campaigns},
        "output_dir": str(out), "tracking": {"experiment": EXPERIMENT, "round_metrics": 3},
    }, sort_keys=False))
    return path


def test_rate_sweeps_in_a_sweep_tracked(store, tmp_path, capsys):
    cfg = sweep_config(tmp_path / "sweep.yaml", tmp_path / "out", [
        {"name": "int8-weights"},
        {"name": "float32-weights", "options": {"quantization": None}, "rate_sweep": {"model": "Float32SoftErrors"}},
        {"name": "dead-SF4", "rate_sweep": None, "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"], "sample": 2}]},
    ])
    assert sweep_entry.main(["--config", str(cfg), "--no-progress"]) == 0
    client = MlflowClient(store)
    runs = runs_of(store)
    parent = next(r for r in runs if r.data.tags.get("spikefi.kind") == "sweep")
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert parent.info.status == "FINISHED" and set(children) == {"int8-weights", "float32-weights", "dead-SF4"}
    assert all(c.info.status == "FINISHED" for c in children.values())
    int8, f32, dead = children["int8-weights"], children["float32-weights"], children["dead-SF4"]
    assert int8.data.tags["spikefi.campaign_kind"] == f32.data.tags["spikefi.campaign_kind"] == "rate-sweep"
    assert dead.data.tags["spikefi.campaign_kind"] == "sampled" and PARAM_RATE_SWEEP not in dead.data.params
    assert int8.data.params[PARAM_RATE_SWEEP] == ("SoftErrors (quantized weight codes): rates 0.0001, 0.001 per bit, "
                                                  "exposure 1; 2 draws per point, layers SF3, SF4")
    assert f32.data.params[PARAM_RATE_SWEEP] == ("Float32SoftErrors (float32 weights): rates 0.0001, 0.001 per bit, "
                                                 "exposure 1; 2 draws per point, layers SF3, SF4")
    assert f32.data.params["fault.model"] == "Float32SoftErrors" and f32.data.params["quantization"] == "none (float weights)"
    curves = {}
    for name in ("int8-weights", "float32-weights"):
        run_id = children[name].info.run_id
        assert children[name].data.params["rounds"] == "4"
        assert steps(client, run_id, RATE_SWEEP_PREFIX + "accuracy_mean") == [0, 1]
        assert len(steps(client, run_id, "round_acc")) <= 3  # tracking.round_metrics bounds the per-round histories
        curves[name] = pd.read_csv(client.download_artifacts(run_id, RATE_SWEEP_TABLE, str(tmp_path / name)))
    assert not any(k.startswith(RATE_SWEEP_PREFIX) for k in parent.data.metrics)  # the curves live in the children
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "sweep/rate_sweeps.csv", str(tmp_path / "p")))
    assert list(table["campaign"]) == ["int8-weights"] * 2 + ["float32-weights"] * 2
    assert list(table["point"]) == [0, 1, 0, 1] and list(table["draws"]) == [2] * 4
    assert list(table["run_id"]) == [int8.info.run_id] * 2 + [f32.info.run_id] * 2
    for name, curve in curves.items():
        mine = table[table["campaign"] == name].drop(columns=["campaign", "run_id", "point"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, curve)
    assert math.isclose(table["bit_upset_probability"].iloc[3], -math.expm1(-1e-3))
    # per point: float32 words hold 32 cells per weight, int8 codes 8: four times the upsets on average
    assert table["mean_upsets"].iloc[3] > table["mean_upsets"].iloc[1]
    campaigns = pd.read_csv(client.download_artifacts(parent.info.run_id, "sweep/campaigns.csv", str(tmp_path / "c")))
    assert list(campaigns["rate_sweep"].isna()) == [False, False, True]
    note = parent.data.tags["mlflow.note.content"]
    assert "**Rate sweeps** (every point in sweep/rate_sweeps.csv): int8-weights: accuracy" in note
    assert "- float32-weights: rate sweep of Float32SoftErrors (float32 weights)" in note
    # run again: the finished sweep and its children are found, the table rebuilt from their artifacts
    capsys.readouterr()
    assert sweep_entry.main(["--config", str(cfg), "--no-progress"]) == 0
    assert "already finished: nothing to compute" in capsys.readouterr().out
    assert len(runs_of(store)) == 4
    again = pd.read_csv(client.download_artifacts(parent.info.run_id, "sweep/rate_sweeps.csv", str(tmp_path / "p2")))
    pd.testing.assert_frame_equal(again, table)


def test_rate_sweep_sections_merge_over_base():
    base = {"model": "StateSoftErrors", "rates": [1e-5], "margin": 0.3, "state": "refractory", "width": 16}
    assert merged_rate_sweep(base, {}, "w") == base
    assert merged_rate_sweep(None, {}, "w") is None
    assert merged_rate_sweep(base, {"rate_sweep": None}, "w") is None
    assert merged_rate_sweep(base, {"rate_sweep": {"draws": 4}}, "w") == {**{k: v for k, v in base.items()
                                                                            if k != "margin"}, "draws": 4}
    assert merged_rate_sweep(base, {"rate_sweep": {"model": "SoftErrors"}}, "w") == {
        "model": "SoftErrors", "rates": [1e-5], "margin": 0.3}  # the register keys are StateSoftErrors'
    assert merged_rate_sweep(None, {"rate_sweep": {"rates": 1e-4, "draws": 2}}, "w") == {"rates": 1e-4, "draws": 2}


@pytest.mark.parametrize("campaigns, base_sweep, match", [
    ([{"name": "a", "rate_sweep": {"model": "SoftError"}}], BASE_SWEEP,
     r"^unknown fault model 'SoftError' \(in sweep.campaigns\[0\].rate_sweep\).*did you mean 'SoftErrors'\?$"),
    ([{"name": "a", "rate_sweep": {"model": "DeadNeuron"}}], BASE_SWEEP,
     r"^sweep.campaigns\[0\].rate_sweep.model must be one of \['SoftErrors', 'Float32SoftErrors', 'StateSoftErrors'\], "
     r"got 'DeadNeuron'$"),
    ([{"name": "a", "rate_sweep": {"seed": 3}}], BASE_SWEEP, r"^unknown key\(s\) \['seed'\] in sweep.campaigns\[0\]"),
    ([{"name": "a", "rate_sweep": [1e-3]}], BASE_SWEEP, r"^sweep.campaigns\[0\].rate_sweep must be a mapping"),
    ([{"name": "a"}], [1e-3], r"^sweep.base.rate_sweep must be a mapping"),
    ([{"name": "a", "rate_swep": {"draws": 3}}], BASE_SWEEP,
     r"^unknown config key 'sweep.campaigns\[0\].rate_swep'.*did you mean 'sweep.campaigns\[0\].rate_sweep'\?$"),
    ([{"name": "a", "rate_sweep": {"rates": [1e-3, 1e-2], "exposure": [1, 2, 3]}}], BASE_SWEEP,
     r"rates and exposures must pair up: 2 rates, 3 exposures$"),
])
def test_bad_rate_sweep_sections_one_line(tmp_path, capsys, campaigns, base_sweep, match):
    cfg = sweep_config(tmp_path / "bad.yaml", tmp_path / "out", campaigns, base_sweep)
    assert sweep_entry.main(["--config", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    with pytest.raises(ConfigError, match=match):
        sweep_entry.sweep_specs(load_config(cfg, sweep_entry.DEFAULTS)["sweep"])


def test_bundled_sweep_config_builds():
    from experiments.config import bundled_config

    config = load_config(bundled_config("sweep_soft_error_rates.yaml"), sweep_entry.DEFAULTS,
                         ["sweep.base.data.max_samples=4"])
    specs = sweep_entry.sweep_specs(config["sweep"])
    assert [s.name for s in specs] == ["int8-weight-codes", "float32-weights", "membrane-float32"]
    models = []
    for spec in specs:
        cmpn = spec.build()
        assert len(cmpn.rounds) == 3 * 20  # 3 rates x 20 draws
        models.append({r.specs[0].model.name for r in cmpn.rounds})
    assert models == [{"SoftErrors"}, {"Float32SoftErrors"}, {"StateSoftErrors"}]
    assert specs[2].rate_sweep == {"model": "StateSoftErrors", "rates": [1e-5, 1e-4, 1e-3], "exposure": 1.0,
                                   "draws": 20, "confidence": 0.95, "state": "membrane"}
