"""The report's search section from a real search run (experiments.search) next to a campaign."""

from __future__ import annotations

import re

import yaml
from mlflow.tracking import MlflowClient

from .conftest import BASE

EXP = "analysis-search"


def test_report_shows_the_search_runs_worst_faults_and_plots(store, tmp_path, capsys):
    from experiments import campaign as campaign_entry
    from experiments import report as report_entry
    from experiments import search as search_entry

    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        "campaign": {"name": "dead-SF4", **BASE, "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]},
        "output_dir": str(tmp_path / "out"), "tracking": {"experiment": EXP}}))
    assert campaign_entry.main(["--config", str(tmp_path / "c.yaml"), "--no-progress", "--resume", "never"]) == 0
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "search": {"name": "worst-SF3", **BASE, "space": {"k": 1, "layers": ["SF3"], "models": ["SaturatedNeuron"]},
                   "sampler": {"name": "random", "seed": 0}, "pruner": {"name": "none"}, "trials": 6, "batch": 3},
        "output_dir": str(tmp_path / "out"), "tracking": {"experiment": EXP}}))
    assert search_entry.main(["--config", str(tmp_path / "s.yaml"), "--no-progress"]) == 0
    capsys.readouterr()
    client = MlflowClient(store.uri)
    exp = client.get_experiment_by_name(EXP)
    (search_run,) = client.search_runs([exp.experiment_id], "tags.`spikefi.kind` = 'search'")
    assert report_entry.main(["--experiment", EXP, "--output-dir", str(tmp_path / "rep"), "--no-log"]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    html = (tmp_path / "rep" / "report.html").read_text()
    section = md.split("## Search: worst faults and Pareto front")[1].split("\n## ")[0]
    assert "not available" not in section
    best = search_run.data.metrics["best_accuracy"]
    assert "| search-worst-SF3-w0 | accuracy | random | SaturatedNeuron |" in section
    assert f"{best:.4f}" in section
    assert search_run.data.tags["spikefi.best_faults"] in section  # the worst fault set, by name
    assert "search: worst faults" not in md.split("## Golden baseline")[0]  # not listed as left out
    assert "search-worst-SF3-w0: optimization history" in html
    # the search's own baseline, with the number of samples it was measured on
    summary = md.split("## Executive summary")[1].split("\n## ")[0]
    golden, samples = search_run.data.metrics["golden_accuracy"], search_run.data.params["test_samples"]
    assert f"{golden:.4f} on {samples} samples (search search-worst-SF3-w0;" in summary
    assert f"from its golden accuracy {golden:.4f} on {samples} samples." in summary
    assert len(re.findall(r"data:image/png;base64,iVBOR", html)) >= 3
