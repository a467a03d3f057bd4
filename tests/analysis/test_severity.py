"""Severity classes and network grouping of the report (issue 35 item 1): rounds classed by their
accuracy drop (thresholds configurable, checked), rankings that state ties, every baseline with its
sample count, campaigns of two networks grouped by digest and never ranked across, one colour scale
across the report's heat maps. Real campaign runs in real MLflow stores (the session store of
conftest.py, and a store of two networks in tmp_path)."""

from __future__ import annotations

import os

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from analysis import report as rep
from analysis.load import load_runs
from analysis.schema import PARAM_REPORT_NETWORKS, PARAM_REPORT_SEVERITY
from analysis.severity import parse_thresholds, rank_rows, severity_class
from experiments import report as entry
from spikefi.errors import ConfigError
from spikefi.zoo import load_pretrained, save_network

from .conftest import EXPERIMENT
from .test_report import MAIN, f4, md_tables


def test_severity_class_boundaries_and_custom_thresholds():
    assert [severity_class(d) for d in (0.0, 1.0, 1.01, 5.0, 5.000000000000004, 10.0, 10.5)] == [
        "negligible", "negligible", "mild", "mild", "mild", "moderate", "severe"]
    assert [severity_class(d, (2, 20, 50)) for d in (1.5, 19.0, 49.0, 51.0)] == [
        "negligible", "mild", "moderate", "severe"]


@pytest.mark.parametrize(("text", "message"), [
    ("1,5", "give three"), ("5,1,10", "strictly increasing"), ("0,5,10", "> 0"), ("1,x,10", "numbers"),
    ("1,5,inf", "> 0"),
])
def test_bad_thresholds_are_refused_with_the_value(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_thresholds(text)


def test_bad_thresholds_on_the_command_line_exit_2(tmp_path, capsys):
    assert entry.main(["--from-results", str(tmp_path), "--severity-pp", "5,1,10"]) == 2
    err = capsys.readouterr().err
    assert "--severity-pp" in err and "[5.0, 1.0, 10.0]" in err and err.count("\n") == 1


def test_rank_rows_states_ties_instead_of_breaking_them():
    table = pd.DataFrame({"name": ["a", "b", "c", "d"], "critical_rate": [1.0, 0.5, 1.0, 0.1],
                          "drop>1pp": [0.2, 0.9, 0.2, 0.0], "drop>5pp": [0.1, 0.1, 0.1, 0.0],
                          "drop>10pp": [0.0, 0.0, 0.0, 0.0]})
    ranked = rank_rows(table, (1, 5, 10))
    # b has the most rounds above 1 pp; a and c are equal in everything (tied, table order kept)
    assert list(zip(ranked["rank"], ranked["name"], strict=True)) == [("1", "b"), ("2=", "a"), ("2=", "c"), ("4", "d")]


def _drops(table: pd.DataFrame) -> np.ndarray:
    return np.round(100 * (table["golden_accuracy"].to_numpy(float) - table["accuracy"].to_numpy(float)), 9)


def test_severity_table_and_summary_equal_independent_computation(store, cli_report):
    markdown = cli_report[0]
    rows = {r["run_name"]: r for r in md_tables(markdown)["Severity of the faults"][0]}
    expected = {}
    for name in MAIN:
        drop = _drops(pd.read_parquet(store.table_path(name)))
        row = rows[name]
        for t in (1, 5, 10):
            assert row[f"drop>{t}pp"] == f4((drop > t).mean())
        assert row["median_drop_pp"] == f4(np.median(drop))
        assert row["network"] == row["network"] and len(row["network"]) == 12  # the digest's first 12 hex digits
        expected[name] = ((drop > 10).mean(), (drop > 5).mean(), (drop > 1).mean())
    worst, other = sorted(MAIN, key=expected.get, reverse=True)
    assert expected[worst] != expected[other]  # no tie here: ranks 1 and 2
    assert (rows[worst]["rank"], rows[other]["rank"]) == ("1", "2")
    summary = markdown.split("## Executive summary")[1].split("\n## ")[0]
    assert f"- Campaigns by severity (share of severe faults, then moderate, mild, critical): 1. {worst} (" in summary
    assert "different networks" not in summary  # one network: nothing to group
    # every baseline with the number of samples it was measured on
    golden = pd.read_parquet(store.table_path("dead-a"))
    assert f"Golden baselines (fault-free accuracy): {golden['golden_accuracy'].iloc[0]:.4f} on " \
           f"{int(golden['samples'].iloc[0])} samples (float weights: dead-a, mixed)" in summary
    assert "typically " in summary and "% of its faults severe (> 10 pp)" in summary


def test_one_colour_scale_across_the_reports_heat_maps(store):
    loaded = load_runs(EXPERIMENT)
    low, high = rep._heatmap_scale(loaded)
    single = loaded.rounds[(loaded.rounds["n_faults"] == 1) & (loaded.rounds["pos0"] >= 0)]
    # from the worst single-fault round to the golden accuracy (or a round above it: a fault can help)
    top = max(loaded.runs["golden_accuracy"].max(), single["accuracy"].max())
    assert (low, high) == pytest.approx((single["accuracy"].min(), top))
    figures = rep.heatmap_figures(loaded.rounds, None, (low, high))
    assert len(figures) >= 3  # dead-a, and mixed's saturated and two parametric groups
    assert {fig.axes[0].images[0].get_clim() for _, fig in figures} == {(low, high)}
    with pytest.raises(ConfigError, match="scale must be"):
        rep.heatmap_figures(loaded.rounds, None, (0.5, 0.2))


def _other_network(path):
    """The digits CNN with its output layer's weights scaled by 1.05: other weights, other digest."""
    net, params, _ = load_pretrained("digits_cnn")
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith("SF4"):
                p.mul_(1.05)
    return save_network(net, path, params)


def test_campaigns_of_two_networks_are_grouped_and_never_ranked_across(tmp_path, monkeypatch):
    from experiments import campaign as campaign_entry

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    other = _other_network(tmp_path / "other" / "digits_other.pt")
    networks = {"dead-trained": {"pretrained": "digits_cnn"}, "dead-other": {"path": str(other)},
                "saturated-trained": {"pretrained": "digits_cnn"}}
    models = {"dead-trained": "DeadNeuron", "dead-other": "DeadNeuron", "saturated-trained": "SaturatedNeuron"}
    try:
        for name, network in networks.items():
            config = tmp_path / f"{name}.yaml"
            config.write_text(yaml.safe_dump({
                "campaign": {"name": name, "network": network,
                             "data": {"name": "spiking_digits", "seed": 0, "max_samples": 16},
                             "options": {"seed": 0, "batch_size": 16, "chunk_size": 10},
                             "exhaustive": [{"model": models[name], "layers": ["SF4"]}]},
                "output_dir": str(tmp_path / "out"), "tracking": {"experiment": "two-networks"}}))
            assert campaign_entry.main(["--config", str(config), "--no-progress", "--resume", "never"]) == 0
        out = tmp_path / "report"
        assert entry.main(["--experiment", "two-networks", "--output-dir", str(out), "--severity-pp", "2,5,20"]) == 0
    finally:
        mlflow.set_tracking_uri(None)
    markdown = (out / "report.md").read_text()
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("two-networks")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    digest = {name: runs[name].data.params["network.digest"] for name in networks}
    assert digest["dead-trained"] == digest["saturated-trained"] != digest["dead-other"]
    trained, changed = digest["dead-trained"][:12], digest["dead-other"][:12]

    summary = markdown.split("## Executive summary")[1].split("\n## ")[0]
    assert f"These campaigns ran on 2 different networks (network {trained} (pretrained:digits_cnn): 2 campaign(s); " \
           f"network {changed} (path:{other}): 1 campaign(s)); they are ranked within each network, never across " \
           "networks." in summary
    # the ranking of campaigns and the worst layer are stated per network
    assert f"- On network {trained} (pretrained:digits_cnn): campaigns by severity" in summary
    assert f"- On network {changed} (path:{other}): Worst layer: SF4 (neuron faults, campaign dead-other)" in summary
    assert "severe beyond 20 pp" in summary and "(> 20 pp)" in summary
    ranked = md_tables(markdown)["Severity of the faults"][0]
    assert [(r["network"], r["run_name"]) for r in ranked] == [
        (trained, "saturated-trained"), (trained, "dead-trained"), (changed, "dead-other")]
    assert [r["rank"] for r in ranked] == ["1", "2", "1"]  # ranks restart per network
    assert {"drop>2pp", "drop>5pp", "drop>20pp"} <= set(ranked[0])
    (report_run,) = [r for r in runs.values() if r.data.tags.get("spikefi.kind") == "report"]
    assert report_run.data.params[PARAM_REPORT_SEVERITY] == "2,5,20"
    assert report_run.data.params[PARAM_REPORT_NETWORKS] == "2"
    assert os.path.isfile(out / "report.html")
