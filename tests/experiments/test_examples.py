"""The examples in experiments/examples run in quick mode and produce the files they announce."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch

from experiments.examples import EXAMPLES

# files each example promises (relative to its --output-dir), besides files.json
EXPECTED = {
    "basic": ["result/rounds.parquet", "result/rounds.csv", "result/meta.json", "per_layer.csv",
              "critical_per_layer.png", "heatmap.png"],
    "bitflips": ["result_int8/rounds.parquet", "result_float32/rounds.parquet", "accuracy_per_bit.csv",
                 "critical_per_layer_and_bit_int8.csv", "critical_per_layer_and_bit_float32.csv",
                 "accuracy_vs_bit_int8.png", "accuracy_vs_bit_float32.png"],
    "optimizations": ["result_naive/rounds.parquet", "result_sequential/rounds.parquet", "timings.json"],
    "parametric": ["result/rounds.parquet", "sweep.csv", "accuracy_vs_theta_factor.png",
                   "accuracy_vs_tauSr_factor.png"],
    "train_golden": ["digits_cnn.pt", "digits_cnn.yaml", "history.csv", "training_curves.png"],
    "train_faulty": ["history.csv", "summary.csv", "training_curves.png"],
    "deployment": ["accuracy_vs_bits.csv", "spikes_per_layer.csv", "accuracy_vs_bits.png"],
}


# examples that need optional frameworks (not in EXAMPLES: they are skipped when these are missing)
OPTIONAL = {
    "nir_snntorch": ["digits_snntorch.nir", "report/report.html", "report/report.md", "per_model.csv", "mlflow.db"],
}


def test_every_example_is_listed():
    assert set(EXPECTED) == set(EXAMPLES)


def _run_quick(name: str, expected: list[str], tmp_path: Path, capsys) -> str:
    """Runs example ``name`` with ``--quick`` in-process; checks its announced and expected files."""
    module = importlib.import_module(f"experiments.examples.{name}")
    threads = torch.get_num_threads()
    rc = module.main(["--quick", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert torch.get_num_threads() == threads  # --threads is undone when main returns
    assert f"example '{name}'" in out and "wall time" in out

    # every file the example announced exists and is not empty
    announced = re.findall(r"^saved: (.+?)  \(", out, flags=re.MULTILINE)
    assert announced, out
    for path in announced:
        assert Path(path).is_file() and Path(path).stat().st_size > 0, path
        assert Path(path).resolve().is_relative_to(tmp_path.resolve()), path
    manifest = json.loads((tmp_path / "files.json").read_text())
    assert [f["path"] for f in manifest["files"]] == announced
    for rel in expected:
        f = tmp_path / rel
        assert f.is_file() and f.stat().st_size > 0, rel
    return out


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_quick(name, tmp_path, capsys):
    out = _run_quick(name, EXPECTED[name], tmp_path, capsys)

    if name == "optimizations":
        assert "result tables identical: True" in out
        timings = json.loads((tmp_path / "timings.json").read_text())
        assert timings["tables_identical"] is True
        assert timings["speedup_sequential_over_naive"] > 0
        naive = pd.read_parquet(tmp_path / "result_naive" / "rounds.parquet")
        sequential = pd.read_parquet(tmp_path / "result_sequential" / "rounds.parquet")
        pd.testing.assert_frame_equal(naive, sequential)
    elif name == "bitflips":
        table = pd.read_parquet(tmp_path / "result_int8" / "rounds.parquet")
        assert sorted(set(table["param"].astype(int))) == list(range(8))
        assert set(table["model"]) == {"BitFlipSynapse"}
    elif name == "parametric":
        table = pd.read_parquet(tmp_path / "result" / "rounds.parquet")
        assert set(table["param_name"]) == {"theta_factor", "tauSr_factor"}
    elif name == "train_golden":
        from spikefi.zoo import load_network

        net, _, meta = load_network(tmp_path / "digits_cnn.pt")
        assert net.architecture == "digits_cnn" and 0 <= meta["test_accuracy"] <= 1
    elif name == "train_faulty":
        history = pd.read_csv(tmp_path / "history.csv")
        assert set(history["scenario"]) == {"pre", "during"}
    elif name == "deployment":
        table = pd.read_csv(tmp_path / "accuracy_vs_bits.csv")
        assert list(table["format"]) == ["w8-channel", "w2-channel", "w2-first-last-8", "w4-fixed-neuron"]
        assert table["float_golden"].nunique() == 1  # the same float network and samples behind every format
        assert (table["rounds"] == 4).all()


def test_nir_snntorch_quick(tmp_path, capsys):
    pytest.importorskip("snntorch", reason="snnTorch not installed: pip install 'spikefi[nir]' snntorch==1.0.0 --no-deps")
    pytest.importorskip("nir", reason="spikefi[nir] extra (nir==1.0.8) not installed")
    out = _run_quick("nir_snntorch", OPTIONAL["nir_snntorch"], tmp_path, capsys)
    # the import reproduces snnTorch's spikes and predictions
    assert "prediction agreement: 100.00%" in out
    assert re.search(r"spike agreement: (\d+) of \1 spike values identical", out), out
    (results,) = tmp_path.glob("campaigns/*/results")
    table = pd.read_parquet(results / "rounds.parquet")
    assert (results / "rounds.csv").is_file() and (results / "summary.json").is_file()
    assert set(table["model"]) == {"DeadNeuron", "SaturatedNeuron", "NeuronDrift", "DeadSynapse", "PerturbedSynapse"}
    assert set(table["layer"]) == {"1", "3"}
    assert set(table.loc[table["model"] == "NeuronDrift", "param_name"]) == {"v_threshold_factor", "tau_mem_factor"}
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("spikefi-nir-snntorch")
    kinds = sorted(r.data.tags.get("spikefi.kind") for r in client.search_runs([exp.experiment_id]))
    assert kinds == ["campaign", "report"]
    assert "nir-snntorch-digits" in (tmp_path / "report" / "report.md").read_text()


def test_example_error_is_reported_with_exit_code_2(tmp_path, capsys):
    from experiments.examples import basic

    threads = torch.get_num_threads()
    rc = basic.main(["--quick", "--threads", "2", "--layers", "NOPE", "--output-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert rc == 2
    assert "error: unknown layer 'NOPE'" in captured.err and "=== done" not in captured.out
    assert torch.get_num_threads() == threads
