"""Issue 34 in MLflow: a campaign on a deployed network logs its format in plain words
(``deployment.*`` params, every run) and the deployment gap (metrics, results/meta.json), and
the report shows the gap apart from the fault effects."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from analysis.load import load_runs
from analysis.report import build_report, to_markdown
from experiments import campaign as entry

from .conftest import EXPERIMENT, REPO, runs_of, write_campaign_config

INT4 = {"weights": {"bits": 4, "scale": "channel"}, "membrane": {"int_bits": 7, "frac_bits": 4},
        "psp_kernel": {"int_bits": 0, "frac_bits": 6, "signed": False}}


def test_formats_compare_across_runs_and_the_report_separates_deployment_from_faults(store, tmp_path, capsys):
    for name, quant, dtype in (("float", None, "float32"), ("int4", INT4, "float64"),
                               ("int8", {"dtype": "int8"}, "float32")):
        config = write_campaign_config(tmp_path / f"{name}.yaml", tmp_path / "out", name=name,
                                       options={"seed": 0, "batch_size": 32, "chunk_size": 5, "quantization": quant,
                                                "dtype": dtype},
                                       data={"name": "spiking_digits", "seed": 0, "max_samples": 16})
        assert entry.main(["--config", str(config), "--no-progress"]) == 0
    runs = {r.info.run_name: r for r in runs_of(store)}
    p = {k: r.data.params for k, r in runs.items()}
    assert p["float"]["deployment.weights"] == "float (not quantized)"
    assert p["int4"]["deployment.weights"] == "int4 codes, per-channel float scale, symmetric, nearest_even"
    assert p["int4"]["deployment.membrane"] == "Q7.4 signed (12 bits), nearest_even, saturate"
    assert p["int4"]["deployment.threshold"] == p["int4"]["deployment.membrane"]
    assert p["int4"]["deployment.psp_kernel"] == "Q0.6 unsigned (6 bits), nearest_even, saturate"
    assert p["int8"]["deployment.weights"] == "int8 codes, per-layer float scale, affine, nearest_even"
    assert p["int4"]["quantization"].startswith("deployment format (weights int4 codes")
    m = {k: r.data.metrics for k, r in runs.items()}
    assert "golden.float_accuracy" not in m["float"]
    for name in ("int4", "int8"):
        assert m[name]["deployment.accuracy_change"] == m[name]["golden.accuracy"] - m[name]["golden.float_accuracy"]
        assert 0 <= m[name]["deployment.prediction_agreement"] <= 1
        assert {"deployment.spike_change.SF4", "deployment.mismatched_share.SC1"} <= set(m[name])
    assert m["int4"]["deployment.mismatched_share.SC1"] > 0
    # the float golden pass runs in float64 here, so it need not equal the float32 run's to the bit
    assert abs(m["int4"]["golden.float_accuracy"] - m["float"]["golden.accuracy"]) <= 1 / 16

    loaded = load_runs(EXPERIMENT)
    report = build_report(loaded)
    section = next(s for s in report.sections if s.title == "Deployment gap")
    gap = dict(section.tables)["Accuracy"].set_index("run")
    assert set(gap.index) == {"int4", "int8"}
    row = gap.loc["int4"]
    assert row["deployment_change_pp"] == 100 * (row["deployed_golden_accuracy"] - row["float_golden_accuracy"])
    assert abs(row["total_drop_from_float_pp"] - (row["fault_drop_pp"] - row["deployment_change_pp"])) < 1e-9
    assert row["rounds"] == 10
    layers = dict(section.tables)["Spikes per layer (golden, no faults)"]
    assert set(layers["layer"]) == {"SC1", "SP1", "SC2", "SP2", "SF3", "SF4"}
    assert "Deployment gap" in to_markdown(report)
    assert MlflowClient(store).get_experiment_by_name(EXPERIMENT) is not None


def test_the_shipped_bits_sweep_runs_and_tabulates_accuracy_vs_format(store, tmp_path):
    import pandas as pd
    import yaml

    from experiments import sweep as sweep_entry

    shipped = yaml.safe_load((REPO / "experiments/configs/sweep_deployment_bits.yaml").read_text())
    specs = sweep_entry.sweep_specs(shipped["sweep"])  # every campaign of the shipped sweep validates
    assert len(specs) == 9 and all(s.options["dtype"] == "float64" for s in specs)
    small = shipped["sweep"]
    small["base"]["data"]["max_samples"] = 8
    small["base"]["exhaustive"] = [{"model": "DeadNeuron", "layers": ["SF4"], "sample": 2}]
    small["campaigns"] = [c for c in small["campaigns"] if c["name"] in ("float", "w2-channel", "w3-first-last-8",
                                                                         "w4-fixed-neuron")]
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump({"sweep": small, "output_dir": str(tmp_path / "out"),
                                   "tracking": {"experiment": EXPERIMENT}}))
    assert sweep_entry.main(["--config", str(cfg), "--no-progress"]) == 0
    parent = next(r for r in runs_of(store) if r.data.tags["spikefi.kind"] == "sweep")
    table = pd.read_csv(MlflowClient(store).download_artifacts(parent.info.run_id, "sweep/campaigns.csv",
                                                               str(tmp_path / "c"))).set_index("campaign")
    assert table.loc["float", "deployment.weights"] == "float (not quantized)"
    assert pd.isna(table.loc["float", "golden.float_accuracy"])
    assert table.loc["w2-channel", "deployment.weights"] == "int2 codes, per-channel float scale, symmetric, nearest_even"
    assert table.loc["w3-first-last-8", "deployment.layers"].startswith("SC1: int8 codes")
    assert table.loc["w4-fixed-neuron", "deployment.membrane"] == "Q7.4 signed (12 bits), floor, saturate"
    for name in ("w2-channel", "w3-first-last-8", "w4-fixed-neuron"):
        assert table.loc[name, "golden.float_accuracy"] == table.loc["float", "golden.accuracy"]
        assert table.loc[name, "deployment.accuracy_change"] == pytest.approx(
            table.loc[name, "golden.accuracy"] - table.loc["float", "golden.accuracy"])
        assert not pd.isna(table.loc[name, "acc_mean"])


def test_a_bad_format_on_the_command_line_is_one_line_exit_2_without_a_run(store, small_config, capsys):
    assert entry.main(["--config", str(small_config), "--no-progress",
                       "--set", "campaign.options.quantization={weights: {bits: 17, scale: channel}}"]) == 2
    err = capsys.readouterr().err
    assert "weight bits must be an int in [2, 16], got 17" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert runs_of(store) == []
