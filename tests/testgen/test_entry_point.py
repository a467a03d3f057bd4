"""experiments.testgen against a real temporary sqlite MLflow store: what one run logs,
fault lists from local results and tracked runs, --apply, bad input."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from experiments import testgen as entry
from spikefi.campaign import Campaign
from spikefi.faults import DeadNeuron
from spikefi.testgen import TestProgram
from spikefi.zoo import build

TESTGEN = {
    "name": "tiny",
    "network": {"pretrained": "digits_cnn"},
    "data": {"name": "spiking_digits", "seed": 0, "max_samples": 48},
    "faults": {"critical_only": False,
               "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]},
                              {"model": "DeadNeuron", "layers": ["SF3"], "sample": 10}]},
    "selection": {"max_tests": 5},
    "generation": {"max_faults": 1, "steps": 25},
    "options": {"batch_size": 48},
}


def write_config(tmp_path, **updates):
    t = {**TESTGEN, **updates}
    path = tmp_path / "testgen.yaml"
    path.write_text(yaml.safe_dump({"testgen": t, "output_dir": str(tmp_path / "out"),
                                    "tracking": {"experiment": "spikefi-testgen"}}, sort_keys=False))
    return path


def runs(uri):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("spikefi-testgen")
    return client, client.search_runs([exp.experiment_id]) if exp else []


def test_one_run_logs_metrics_curve_program_and_plot(store, tmp_path, capsys):
    assert entry.main(["--config", str(write_config(tmp_path)), "--no-progress"]) == 0
    out = capsys.readouterr().out
    client, (run,) = runs(store)
    assert run.info.status == "FINISHED" and run.data.tags["spikefi.kind"] == "testgen"
    m, p = run.data.metrics, run.data.params
    assert p["faults"] == "20" and p["candidates"] == "48" and p["critical_only"] == "False"
    assert p["detection.source"].startswith("campaign predictions")
    assert p["n_detect"] == "1" and p["class_cover"] == "True"  # the default, measured (docs/testgen.md)
    assert p["tie_break"] == "fragile" and p["fill_budget"] == "True"
    assert p["network.source"] == "config (inline campaign)" and len(p["network.digest"]) == 64
    for key in ("hindsight.coverage.heldout", "hindsight.test_length", "coverage.heldout_vs_hindsight",
                "min_detections.selection"):
        assert key in m, key
    for key in ("coverage.selection", "coverage.heldout", "coverage.all", "test_length", "undetected",
                "generated.gain.all", "generated.verified", "faults.selection", "faults.heldout"):
        assert key in m, key
    assert 1 <= m["test_length"] <= 5 and m["faults.selection"] == m["faults.heldout"] == 10
    history = client.get_metric_history(run.info.run_id, "curve.coverage.all")
    assert sorted(h.step for h in history) == list(range(1, int(m["test_length"]) + 1))
    by_step = {h.step: h.value for h in history}
    assert by_step[int(m["test_length"])] == pytest.approx(m["coverage.all"])
    assert all(by_step[k] <= by_step[k + 1] for k in range(1, int(m["test_length"])))
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "program")}
    assert arts == {"program/program.json", "program/program.npz"}
    assert {a.path for a in client.list_artifacts(run.info.run_id, "plots")} == {"plots/coverage_curve.png"}
    names = {a.path for a in client.list_artifacts(run.info.run_id, "testgen")}
    assert {"testgen/coverage_curve.csv", "testgen/undetected.csv", "testgen/faults.csv",
            "testgen/generated.csv", "testgen/summary.json"} <= names
    local = client.download_artifacts(run.info.run_id, "program", str(tmp_path / "dl"))
    program = TestProgram.load(local)
    assert len(program) == m["test_length"]
    assert program.info["metrics"]["coverage.all"] == pytest.approx(m["coverage.all"])
    assert "test program:" in out and run.info.run_id in out and "coverage of detectable faults" in out
    # the report's test-program section names the undetected faults in words, not as JSON
    from analysis.extras import TESTGEN_FILES, load_tool_runs
    from analysis.report import _Figures, _testgen_section

    (tool,), _ = load_tool_runs("testgen", TESTGEN_FILES, run_ids=[run.info.run_id], tracking_uri=store)
    tables = dict(_testgen_section([tool], _Figures()).tables)
    undetected = (tmp_path / "out" / run.info.run_id / "testgen" / "undetected.csv").read_text().splitlines()
    headings = [h for h in tables if h.startswith("Undetected faults")]
    assert len(headings) == (1 if len(undetected) > 1 else 0)
    for heading in headings:
        shown = tables[heading]
        assert list(shown.columns)[0] == "fault" and "fault_id" not in shown.columns
        assert len(shown) == min(25, len(undetected) - 1)
        assert all(re.fullmatch(r"dead neuron SF[34] \(\d+, 0, 0\)", f) for f in shown["fault"])
    # --apply: the golden network passes, a dead output neuron the program detects fails
    assert entry.main(["--config", str(write_config(tmp_path)), "--apply", local]) == 0
    assert json.loads(capsys.readouterr().out.strip())["verdict"] == "pass"
    faults = (tmp_path / "out" / run.info.run_id / "testgen" / "faults.csv").read_text().splitlines()
    rows = list(csv.DictReader(faults))
    hit = next(r for r in rows if r["detected_by_program"] == "True")
    fault = json.loads(hit["fault_id"])
    assert entry.main(["--config", str(write_config(tmp_path)), "--apply", local, "--fault", json.dumps(fault)]) == 1
    assert json.loads(capsys.readouterr().out.strip())["verdict"] == "fail"


def test_fault_list_from_results_and_from_a_tracked_run(store, tmp_path, capsys, digits):
    net, x, y = digits
    cmpn = Campaign(net, (x[:48], y[:48]), seed=0)
    cmpn.exhaustive(DeadNeuron(), layers=["SF4"])
    folder = cmpn.run(engine="parallel", progress=False).save(tmp_path / "res")  # no predictions: recomputed
    cfg = write_config(tmp_path, generation={"enabled": False})
    # a plain result folder stores no golden model: refused with a hint unless --network names one
    assert entry.main(["--config", str(cfg), "--from-results", str(folder), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stores no golden model record" in err[0] and "--network" in err[0]
    assert entry.main(["--config", str(cfg), "--from-results", str(folder), "--network", "pretrained:digits_cnn",
                       "--no-progress"]) == 0
    client, (run,) = runs(store)
    assert run.data.params["fault_source"] == f"dir:{folder}"
    assert run.data.params["network.source"] == "explicit (--network)"
    assert run.data.params["faults"] == "10" and run.data.params["detection.source"] == "recomputed"
    # a tracked campaign run as the source
    from experiments import campaign as campaign_entry

    ccfg = tmp_path / "campaign.yaml"
    ccfg.write_text(yaml.safe_dump({"campaign": {"name": "dead-SF4", "network": {"pretrained": "digits_cnn"},
                                                 "data": {"name": "spiking_digits", "seed": 0, "max_samples": 48},
                                                 "options": {"seed": 0, "batch_size": 48},
                                                 "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]},
                                    "output_dir": str(tmp_path / "camp"),
                                    "tracking": {"experiment": "spikefi-campaigns"}}))
    assert campaign_entry.main(["--config", str(ccfg), "--no-progress"]) == 0
    crun = client.search_runs([client.get_experiment_by_name("spikefi-campaigns").experiment_id])[0]
    capsys.readouterr()
    assert entry.main(["--config", str(cfg), "--campaign-run", crun.info.run_id, "--critical-only", "--no-progress"]) == 0
    _, all_runs = runs(store)
    latest = max(all_runs, key=lambda r: r.info.start_time)
    assert latest.data.params["fault_source"] == f"run:{crun.info.run_id}"
    assert int(latest.data.params["faults"]) == int(crun.data.metrics["critical"])
    # a fault list from another network: a clear error before any work runs
    mlp, _ = build("digits_mlp", seed=0)
    other = Campaign(mlp, (x[:8], y[:8]), seed=0)
    other.exhaustive(DeadNeuron(), layers=["SF2"])
    alien = other.run(progress=False).save(tmp_path / "alien")
    capsys.readouterr()
    assert entry.main(["--config", str(cfg), "--from-results", str(alien), "--network", "pretrained:digits_cnn",
                       "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "another network" in err and "SF2" in err
    _, after = runs(store)
    assert len(after) == len(all_runs)  # nothing was started


@pytest.mark.parametrize(("args", "updates", "match"), [
    (["--bogus", "1"], {}, "unknown parameter"),
    ([], {"selection": {"max_tests": 0}}, "max_tests must be an int >= 1"),
    ([], {"faults": {"exhaustive": []}}, "no fault list"),
    ([], {"generation": {"targets": "everything"}}, "generation_targets"),
    (["--set", "testgen.selection.unknown=1"], {}, "unknown config key"),
    (["--from-results", "/nonexistent/folder"], {}, "holds no campaign result"),
    (["--apply", "/nonexistent/program"], {}, "holds no test program"),
    (["--fault", "{model: DeadNeuron}"], {}, "only for --apply"),
])
def test_bad_input_exits_2_before_any_run(store, tmp_path, capsys, args, updates, match):
    cfg = write_config(tmp_path, **updates)
    assert entry.main(["--config", str(cfg), *args]) == 2
    assert match in capsys.readouterr().err
    _, existing = runs(store)
    assert not existing


def test_bundled_config_loads():
    config = entry.load_testgen_config(entry.resolve_config_path("testgen_digits", "testgen_digits.yaml"), [])
    cfg = entry.testgen_config(config["testgen"])
    assert cfg.max_tests == 20 and config["tracking"]["experiment"] == "spikefi"
    assert np.isclose(cfg.selection_fraction, 0.5)


def test_fault_list_from_a_search_run(store, tmp_path, capsys):
    import pandas as pd

    from spikefi.faults import Fault, SaturatedNeuron, Site

    sets = [[Fault(SaturatedNeuron(), Site("SF4", (2, 0, 0))).spec()],
            [Fault(DeadNeuron(), Site("SF3", (1, 0, 0))).spec(), Fault(DeadNeuron(), Site("SF4", (3, 0, 0))).spec()],
            [Fault(DeadNeuron(), Site("SF3", (9, 0, 0))).spec()]]
    table = pd.DataFrame({"trial": [0, 1, 2, 3], "state": ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL"],
                          "accuracy": [0.1, 0.8, 0.97, float("nan")], "critical_samples": [40, 8, 0, -1],
                          "faults": [json.dumps(s) for s in sets] + ["[]"]})
    client = MlflowClient(store)
    exp = client.create_experiment("spikefi-search")
    run_id = client.create_run(exp).info.run_id
    (tmp_path / "search").mkdir()
    table.to_csv(tmp_path / "search" / "trials.csv", index=False)
    client.log_artifact(run_id, str(tmp_path / "search" / "trials.csv"), "search")
    client.set_terminated(run_id)
    cfg = write_config(tmp_path, generation={"enabled": False})
    assert entry.main(["--config", str(cfg), "--search-run", run_id, "--critical-only", "--no-progress"]) == 2
    assert "stores no golden model record" in capsys.readouterr().err  # a search run made before records
    assert entry.main(["--config", str(cfg), "--search-run", run_id, "--critical-only", "--network",
                       "pretrained:digits_cnn", "--no-progress"]) == 0
    _, (run,) = runs(store)
    assert run.data.params["fault_source"] == f"search:{run_id}" and run.data.params["faults"] == "2"
    assert run.data.params["detection.source"] == "recomputed"
    assert entry.main(["--config", str(cfg), "--search-run", "0" * 32, "--no-progress"]) == 2
    assert "is not in the tracking store" in capsys.readouterr().err


def test_empty_mlproject_parameters_mean_unset(store, tmp_path):
    # mlflow run passes unset string parameters as '': they must not count as a fault source
    cfg = write_config(tmp_path, generation={"enabled": False}, selection={"max_tests": 2},
                       faults={"critical_only": True, "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]})
    assert entry.main(["--config", str(cfg), "--campaign-run", "", "--search-run", "", "--from-results", "",
                       "--overrides", "", "--network", "", "--no-progress"]) == 0
    _, (run,) = runs(store)
    assert run.data.params["fault_source"] == "inline campaign"
