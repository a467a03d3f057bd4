"""A NIR graph file as a campaign's and a search's network (issue 19 item 4):
``network: {nir: FILE, dt, convention, reset}`` through MLflow, resume and the report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments import campaign as entry
from experiments import report as report_entry
from experiments import search as search_entry
from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.faults import DeadNeuron, NeuronDrift

from .conftest import runs_of

nir = pytest.importorskip("nir", reason="spikefi[nir] extra (nir==1.0.8) not installed")
snir = pytest.importorskip("spikefi.nir")

SAMPLES, HIDDEN = 24, 24


@pytest.fixture()
def nir_file(tmp_path):
    """A dense 512 -> 24 -> 10 LIF graph for the bundled digits (Euler convention), written as HDF5."""
    rng = np.random.default_rng(4)

    def lif(n: int):
        return nir.LIF(tau=rng.uniform(5e-3, 2e-2, n), r=np.full(n, 1.0), v_leak=np.zeros(n),
                       v_threshold=rng.uniform(0.2, 0.4, n), v_reset=np.zeros(n))

    nodes = {"input": nir.Input(input_type=np.array([512])),
             "fc1": nir.Affine(weight=rng.normal(0.02, 0.15, (HIDDEN, 512)), bias=np.zeros(HIDDEN)),
             "hidden": lif(HIDDEN),
             "fc2": nir.Linear(weight=rng.normal(0.1, 0.6, (10, HIDDEN))),
             "out": lif(10), "output": nir.Output(output_type=np.array([10]))}
    edges = [("input", "fc1"), ("fc1", "hidden"), ("hidden", "fc2"), ("fc2", "out"), ("out", "output")]
    path = tmp_path / "digits_lif.nir"
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    return path


def _config(tmp_path, network) -> str:
    path = tmp_path / "nir.yaml"
    path.write_text(yaml.safe_dump({
        "campaign": {"name": "nir-lif", "network": network,
                     "data": {"name": "spiking_digits", "seed": 0, "max_samples": SAMPLES},
                     "options": {"seed": 0, "batch_size": SAMPLES, "chunk_size": 8, "engine": "parallel"},
                     "exhaustive": [{"model": "DeadNeuron", "layers": ["out"]},
                                    {"model": "NeuronDrift", "parameter": "v_threshold", "factor": 0.5,
                                     "layers": ["hidden"], "sample": 6}]},
        "output_dir": str(tmp_path / "out"), "tracking": {"experiment": "nir"}}, sort_keys=False))
    return str(path)


def test_a_nir_file_runs_as_a_tracked_campaign_resumes_and_reports(store, tmp_path, nir_file, capsys):
    network = {"nir": str(nir_file), "dt": 1e-3, "convention": "euler"}
    assert entry.main(["--config", _config(tmp_path, network), "--no-progress"]) == 0
    (run,) = runs_of(store, "nir")
    assert run.info.status == "FINISHED"
    assert run.data.params["network"] == f"nir:{nir_file} dt:0.001 convention:euler"
    assert run.data.params["rounds"] == "16"
    # the same campaign built in Python
    _, test = load_spiking_digits()
    cmpn = Campaign(snir.load(nir_file, dt=1e-3, convention="euler"), test, max_samples=SAMPLES, batch_size=SAMPLES)
    cmpn.exhaustive(DeadNeuron(), layers=["out"])
    cmpn.exhaustive(NeuronDrift("v_threshold", factor=0.5), layers=["hidden"], sample=6)
    expected = cmpn.run(engine="naive", progress=False).table
    assert 0 < cmpn.golden()["spike_counts"]["hidden"] and (expected["changed"] > 0).any()
    table = pd.read_parquet(tmp_path / "out" / run.info.run_id / "results" / "rounds.parquet")
    for column in ("accuracy", "critical", "changed", "spikes.hidden", "spikes.out"):
        assert table[column].tolist() == pytest.approx(expected[column].tolist()), column
    assert run.data.metrics["golden.accuracy"] == pytest.approx(cmpn.golden()["accuracy"])
    assert (tmp_path / "out" / run.info.run_id / "golden" / "model" / "digits_lif.nir").is_file()
    # the same command: nothing recomputed; another dt is another campaign
    capsys.readouterr()
    assert entry.main(["--config", _config(tmp_path, network), "--no-progress"]) == 0
    assert len(runs_of(store, "nir")) == 1
    out = tmp_path / "report"
    assert report_entry.main(["--experiment", "nir", "--output-dir", str(out), "--no-log"]) == 0
    assert "nir-lif" in (out / "report.md").read_text()


@pytest.mark.parametrize("network, message", [
    ({"nir": "missing.nir"}, "file not found"),
    ({"nir": "x.nir", "convention": "brian"}, "convention must be auto, snntorch, norse or euler"),
    ({"nir": "x.nir", "dt": -1}, "dt must be a positive number"),
    ({"pretrained": "digits_cnn", "dt": 1e-3}, "network.dt goes with network.nir"),
    ({"nir": "x.nir", "reset": "zero"}, "reset must be value, subtract or none"),
    ({"nir": "x.nir", "readout": "sum"}, "readout must be max, mean or last"),
])
def test_bad_nir_sections_are_one_line_errors_and_create_no_run(store, tmp_path, capsys, network, message):
    assert entry.main(["--config", _config(tmp_path, network), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert runs_of(store, "nir") == []


def test_a_search_on_a_nir_network(store, tmp_path, nir_file):
    config = tmp_path / "search.yaml"
    config.write_text(yaml.safe_dump({
        "search": {"name": "nir-worst", "network": {"nir": str(nir_file), "dt": 1e-3, "convention": "euler"},
                   "data": {"name": "spiking_digits", "seed": 0, "max_samples": SAMPLES},
                   "options": {"seed": 0, "batch_size": SAMPLES, "engine": "parallel", "chunk_size": 8},
                   "space": {"k": 2, "models": [{"model": "DeadNeuron"}, {"model": "SaturatedNeuron"}]},
                   "objective": "accuracy", "sampler": {"name": "tpe", "seed": 0}, "trials": 6, "batch": 3,
                   "study": {"name": None, "storage": None}},
        "output_dir": str(tmp_path / "search"), "tracking": {"experiment": "nir-search"}}, sort_keys=False))
    assert search_entry.main(["--config", str(config), "--no-progress"]) == 0
    runs = runs_of(store, "nir-search")
    assert len(runs) >= 6


def test_testgen_on_a_nir_network_selects_generates_and_applies(store, tmp_path, nir_file, capsys):
    """Test programs for a NIR network: detection by the campaign engine, selection, input
    generation through the stages' surrogate gradients, the program and --apply."""
    from mlflow.tracking import MlflowClient

    from experiments import testgen as testgen_entry
    from spikefi.testgen import TestProgram

    config = tmp_path / "testgen.yaml"
    config.write_text(yaml.safe_dump({
        "testgen": {"name": "nir-tg", "network": {"nir": str(nir_file), "dt": 1e-3, "convention": "euler"},
                    "data": {"name": "spiking_digits", "seed": 0, "max_samples": 32},
                    "faults": {"critical_only": False,
                               "exhaustive": [{"model": "DeadNeuron", "layers": ["out"]},
                                              {"model": "SaturatedNeuron", "layers": ["hidden"], "sample": 6},
                                              {"model": "NeuronDrift", "parameter": "v_threshold", "factor": 3.0,
                                               "layers": ["hidden"], "sample": 6}]},
                    "selection": {"max_tests": 5}, "generation": {"max_faults": 2, "steps": 15},
                    "options": {"batch_size": 32}},
        "output_dir": str(tmp_path / "tg"), "tracking": {"experiment": "nir-tg"}}, sort_keys=False))
    assert testgen_entry.main(["--config", str(config), "--no-progress"]) == 0
    (run,) = runs_of(store, "nir-tg")
    m, p = run.data.metrics, run.data.params
    assert run.info.status == "FINISHED" and p["network"] == f"nir:{nir_file} dt:0.001 convention:euler"
    assert p["faults"] == "22" and 1 <= m["test_length"] <= 5 and m["coverage.all"] > 0
    assert "generated.verified" in m
    client = MlflowClient(store)
    local = client.download_artifacts(run.info.run_id, "program", str(tmp_path / "dl"))
    program = TestProgram.load(local)
    assert len(program) == m["test_length"] and program.fingerprint["neuron"]["convention"] == "euler"
    capsys.readouterr()
    assert testgen_entry.main(["--config", str(config), "--apply", local]) == 0
    assert json.loads(capsys.readouterr().out.strip())["verdict"] == "pass"


def test_the_stages_surrogate_gradient_reaches_the_input(nir_file):
    import torch

    net = snir.load(nir_file, dt=1e-3, convention="euler")
    x = (torch.rand(4, 512, 1, 1, 20, generator=torch.Generator().manual_seed(0)) < 0.3).float().requires_grad_(True)
    out = net(x)
    with torch.no_grad():
        assert torch.equal(out, net(x))  # the same spikes with and without autograd
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()


def test_input_generation_finds_a_verified_input_through_the_surrogate(nir_file):
    """A dead output neuron no test sample detects: gradient descent through the NIR stages'
    surrogate finds an input that does, verified by the campaign engine."""
    import torch

    from spikefi.faults import Fault, Site
    from spikefi.testgen import FaultList, generate_inputs
    from spikefi.testgen.detection import fault_campaign, golden_responses

    net = snir.load(nir_file, dt=1e-3, convention="euler")
    _, test = load_spiking_digits()
    x = torch.stack([test[i][0] for i in range(32)])
    golden, _ = golden_responses(net, x)
    faults = FaultList.from_rounds([[Fault(DeadNeuron(), Site("out", (1, 0, 0)))]])
    result = fault_campaign(net, x, golden, faults).run(engine="parallel", progress=False, keep_predictions=True)
    assert not (np.asarray(result.predictions) != golden[None]).any()  # no sample detects it
    report = generate_inputs(net, faults, x, steps=40, restarts=4, seed=0)
    (generated,) = report.inputs
    assert generated.input is not None and generated.verified and generated.faulty_class != generated.golden_class
