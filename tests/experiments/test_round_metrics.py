"""``tracking.round_metrics``: a cap on the per-round metric points of a campaign run (real
sqlite stores, the small 10-round campaign): the cap holds for new, resumed and sharded runs,
sweeps and ``track_campaign``; ``all`` and ``none`` behave; the sorted curves are logged."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from analysis.schema import CURVE_METRICS, ROUND_METRICS, ROUND_TABLE_VIEW
from experiments import campaign as entry
from experiments import chunk_flush
from experiments import sweep as sweep_entry
from experiments.round_metrics import curve_points, parse_round_metrics, selected_rounds
from spikefi.errors import ConfigError

from .conftest import EXPERIMENT, kill_when_held, runs_of, steps


def raw_steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    """Steps of a history, repeats kept (a duplicate point shows up twice)."""
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def test_parse_and_select_are_bounded_and_deterministic():
    assert parse_round_metrics("all") is None and parse_round_metrics(" None ") == 0
    assert parse_round_metrics("250") == 250 and parse_round_metrics(7) == 7
    for bad in (0, -3, "many", 2.5, True, None):
        with pytest.raises(ConfigError, match="round_metrics must be 'all', 'none' or a positive number"):
            parse_round_metrics(bad)
    assert selected_rounds(range(10), None) is None and selected_rounds(range(10), 0) == set()
    assert selected_rounds(range(10), 3) == {0, 4, 8}
    for n, cap in ((16_384, 1000), (2_500, 1000), (999, 1000), (1_000_001, 1000)):
        chosen = selected_rounds(range(n), cap)
        assert 0 < len(chosen) <= cap and 0 in chosen
        assert chosen == selected_rounds(reversed(range(n)), cap)  # the order given does not matter
    shard = [r for r in range(16_384) if r % 3 == 1]
    assert len(selected_rounds(shard, 1000)) <= 1000 and selected_rounds(shard, 1000) <= set(shard)
    assert curve_points(10, 3) == [0, 4, 9] and curve_points(5, 1000) == [0, 1, 2, 3, 4]
    assert len(curve_points(50_000, None)) == 1000 and curve_points(50_000, 0)[-1] == 49_999


def test_cap_all_and_none_on_real_runs(store, small_config, tmp_path, capsys):
    client = MlflowClient(store)
    assert entry.main(["--config", str(small_config), "--no-progress", "--round-metrics", "3"]) == 0
    (run,) = runs_of(store)
    run_id = run.info.run_id
    for key in ROUND_METRICS:
        assert raw_steps(client, run_id, key) == [0, 4, 8]
    assert run.data.params["round_metrics"] == "3" and run.data.tags["spikefi.round_metrics"] == "3"
    for key in CURVE_METRICS:
        assert raw_steps(client, run_id, key) == [0, 4, 9]
    # the round table in MLflow's table view, and the fault list as a second dataset input
    (tmp_path / "view").mkdir()
    with open(client.download_artifacts(run_id, ROUND_TABLE_VIEW, str(tmp_path / "view"))) as fh:
        view = json.load(fh)
    assert [row[0] for row in view["data"]] == list(range(10)) and "accuracy" in view["columns"]
    assert {"path": ROUND_TABLE_VIEW, "type": "table"} in json.loads(run.data.tags["mlflow.loggedArtifacts"])
    inputs = {i.tags[0].value: i.dataset for i in client.get_run(run_id).inputs.dataset_inputs}
    assert set(inputs) == {"test", "faults"}
    from spikefi.campaign import CampaignSpec

    spec = CampaignSpec.from_yaml(tmp_path / "out" / run_id / "campaign" / "spec.yaml")
    expected = chunk_flush.fault_list_input(spec.build().rounds, "x", ".").digest
    assert inputs["faults"].digest == expected and inputs["faults"].name == "faults(dead-SF4, 10 rounds)"
    drop = [m.value for m in sorted(client.get_metric_history(run_id, "curve_drop"), key=lambda m: m.step)]
    assert drop == sorted(drop, reverse=True)
    assert drop[0] == pytest.approx(run.data.metrics["golden.accuracy"] - run.data.metrics["acc_min"])

    assert entry.main(["--config", str(small_config), "--no-progress", "--resume", "never",
                       "--set", "tracking.round_metrics=none"]) == 0
    assert entry.main(["--config", str(small_config), "--no-progress", "--resume", "never",
                       "--round-metrics", "all"]) == 0
    by_mode = {r.data.tags["spikefi.round_metrics"]: r for r in runs_of(store)}
    assert set(by_mode) == {"3", "none", "all"}
    none_id, all_id = by_mode["none"].info.run_id, by_mode["all"].info.run_id
    for key in ROUND_METRICS:
        assert raw_steps(client, none_id, key) == []
        assert raw_steps(client, all_id, key) == list(range(10))
    for key in CURVE_METRICS:  # the curves cover every round in every mode
        assert raw_steps(client, none_id, key) == list(range(10))
    assert by_mode["none"].data.metrics["crit_rate"] == by_mode["all"].data.metrics["crit_rate"]

    capsys.readouterr()
    assert entry.main(["--config", str(small_config), "--no-progress", "--round-metrics", "0"]) == 2
    assert "round_metrics must be 'all', 'none' or a positive number" in capsys.readouterr().err


def test_resume_after_a_kill_under_a_cap_logs_no_duplicates(store, small_config, tmp_path, capsys):
    # killed between chunk 3's rows (rounds 4, 5) and its metric points: round 4's point is missing
    kill_when_held(["experiments.campaign", "--config", str(small_config), "--no-progress", "--round-metrics", "3"],
                   store, tmp_path, "3:rows")
    (run,) = runs_of(store)
    run_id = run.info.run_id
    client = MlflowClient(store)
    assert raw_steps(client, run_id, "round_acc") == [0]
    # the resume adds round 4's point from the chunk file and logs 8 when computed; 0 is not repeated
    capsys.readouterr()
    # resumed with another mode on the command line: the run keeps the mode it started with
    assert entry.main(["--config", str(small_config), "--no-progress", "--round-metrics", "all"]) == 0
    out = capsys.readouterr().out
    assert "6 of 10 rounds already done" in out and "keeps that mode" in out
    assert [r.info.run_id for r in runs_of(store)] == [run_id]
    for key in ROUND_METRICS:
        assert raw_steps(client, run_id, key) == [0, 4, 8]
    for key in CURVE_METRICS:
        assert raw_steps(client, run_id, key) == [0, 4, 9]
    # a re-run of the finished campaign logs nothing more; the round table is registered once
    assert entry.main(["--config", str(small_config), "--no-progress"]) == 0
    assert raw_steps(client, run_id, "round_acc") == [0, 4, 8]
    table = pd.read_parquet(tmp_path / "out" / run_id / "results" / "rounds.parquet")
    chunk_flush.log_round_table(client, run_id, table, lambda what, fn: fn())
    (tmp_path / "view").mkdir()
    with open(client.download_artifacts(run_id, ROUND_TABLE_VIEW, str(tmp_path / "view"))) as fh:
        assert len(json.load(fh)["data"]) == 10


def test_round_table_view_keeps_the_worst_rounds_when_too_long(monkeypatch):
    monkeypatch.setattr(chunk_flush, "ROUND_TABLE_VIEW_ROWS", 3)
    table = pd.DataFrame({"round_id": range(6), "layer": ["SF4"] * 6, "accuracy": [0.9, 0.2, 0.9, 0.5, 0.1, 0.9],
                          "critical": [0, 5, 0, 2, 5, 0], "faults": ["[]"] * 6})
    view = chunk_flush.round_table_view(table)
    assert list(view["round_id"]) == [1, 3, 4] and "faults" not in view.columns
    assert list(chunk_flush.round_table_view(table.head(3))["round_id"]) == [0, 1, 2]


def test_shards_cap_each_shard_and_the_parent(store, small_config):
    for index in (0, 1):
        assert entry.main(["--config", str(small_config), "--shard", f"{index}/2", "--round-metrics", "3",
                           "--no-progress"]) == 0
    client = MlflowClient(store)
    runs = {r.data.tags.get("spikefi.shard", "parent"): r for r in runs_of(store)}
    assert steps(client, runs["0/2"].info.run_id, "round_acc") == [0, 4, 8]  # of 0, 2, 4, 6, 8
    assert steps(client, runs["1/2"].info.run_id, "round_acc") == [1, 5, 9]  # of 1, 3, 5, 7, 9
    parent = runs["parent"].info.run_id
    assert client.get_run(parent).info.status == "FINISHED"
    for key in ROUND_METRICS:
        assert raw_steps(client, parent, key) == [0, 4, 8]
    assert raw_steps(client, parent, "curve_crit") == [0, 4, 9]
    assert client.get_run(parent).data.tags["spikefi.round_metrics"] == "3"


def test_sweep_passes_the_cap_to_its_campaigns(store, tmp_path):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump({
        "sweep": {"name": "capped-sweep",
                  "base": {"network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 16},
                           "options": {"chunk_size": 5, "batch_size": 16}},
                  "campaigns": [{"name": "dead-SF4", "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]}]},
        "output_dir": str(tmp_path / "out"), "tracking": {"experiment": EXPERIMENT}}))
    assert sweep_entry.main(["--config", str(cfg), "--no-progress", "--round-metrics", "2"]) == 0
    client = MlflowClient(store)
    (child,) = [r for r in runs_of(store) if r.data.tags["spikefi.kind"] == "campaign"]
    assert steps(client, child.info.run_id, "round_acc") == [0, 5]
    assert child.data.params["round_metrics"] == "2"


def test_track_campaign_caps_its_points(store, tmp_path):
    from experiments.track import track_campaign
    from spikefi.campaign import CampaignSpec

    from .conftest import SMALL_CAMPAIGN

    cmpn = CampaignSpec.from_dict({**SMALL_CAMPAIGN, "data": {**SMALL_CAMPAIGN["data"], "max_samples": 16}}).build()
    with pytest.raises(ConfigError, match="round_metrics"):
        track_campaign(cmpn, "bad", round_metrics="some", output_dir=tmp_path / "py", progress=False)
    tracked = track_campaign(cmpn, "py-capped", output_dir=tmp_path / "py", chunk_size=4, progress=False,
                             round_metrics=4)
    client = MlflowClient(store)
    assert raw_steps(client, tracked["run_id"], "round_changed") == [0, 3, 6, 9]
    assert raw_steps(client, tracked["run_id"], "curve_drop") == [0, 3, 6, 9]
