"""A campaign as an MLflow run: what is logged (read back through mlflow.search_runs and the
artifacts), sweeps as nested runs, shards merged into one parent, tracking failures."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
import requests
from mlflow.tracking import MlflowClient

from experiments import campaign as entry
from experiments import campaign_run as cr
from experiments import sink_base
from experiments import sweep as sweep_entry
from experiments.artifacts import ARTIFACT_SCHEMA_VERSION, load_run_result
from spikefi.campaign import CampaignSpec
from spikefi.zoo import load_network

from .conftest import EXPERIMENT, runs_of, steps


def _walk(client, run_id, path=None):
    out = set()
    for f in client.list_artifacts(run_id, path):
        out |= _walk(client, run_id, f.path) if f.is_dir else {f.path}
    return out


def test_campaign_run_logs_params_metrics_artifacts_and_input(store, small_config, tmp_path, capsys, reference_table):
    assert entry.main(["--config", str(small_config), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "critical-fault rate" in printed and "mlflow ui --backend-store-uri" in printed

    df = mlflow.search_runs(experiment_names=[EXPERIMENT])
    assert len(df) == 1
    row = df.iloc[0]
    run_id = row["run_id"]
    assert row["status"] == "FINISHED"
    # params
    assert row["params.network"] == "pretrained:digits_cnn"
    assert row["params.network.architecture"] == "digits_cnn"
    assert row["params.dataset"].startswith("spiking_digits(seed=0")
    assert row["params.dataset.samples"] == "32"
    assert row["params.fault.model"] == "DeadNeuron" and row["params.fault.layers"] == "SF4"
    assert row["params.fault.parameter"] == "none" and row["params.fault.timing"] == "permanent"
    assert row["params.rounds"] == "10" and row["params.n_faults"] == "10"
    assert row["params.sampling"] == "exhaustive"
    assert (row["params.seed"], row["params.engine"], row["params.chunk_size"]) == ("0", "sequential", "2")
    assert (row["params.device"], row["params.dtype"]) == ("cpu", "float32")
    assert row["params.quantization"] == "none (float weights)"
    note = row["tags.mlflow.note.content"]
    # the first line states the result (the run page shows it before "Show more"), then what was injected
    first, _, rest = note.partition("\n\n")
    k = int((reference_table["critical"] > 0).sum())
    assert first.startswith(f"**Result:** {100 * k / 10:.1f}% of 10 faults critical [") and "mean accuracy drop" in first
    assert rest.startswith("**dead-SF4**: fault-injection campaign of 10 rounds on 32 samples")
    assert "- dead neuron (never fires) in SF4: 10 rounds, 1 neuron per fault; permanent" in note
    assert note.count("**Result:**") == 1
    assert row["params.config_hash"] == row["tags.spikefi.config_hash"]
    # tags
    assert row["tags.spikefi.kind"] == "campaign" and row["tags.spikefi.campaign_kind"] == "exhaustive"
    assert row["tags.spikefi.artifact_schema"] == str(ARTIFACT_SCHEMA_VERSION)
    assert row["tags.spikefi.version"] and len(row["tags.spikefi.git_commit"]) >= 7
    # golden baseline and summary metrics
    table = reference_table
    golden_acc = float(table["golden_accuracy"].iloc[0])
    assert row["metrics.golden.accuracy"] == pytest.approx(golden_acc)
    assert {f"metrics.golden.firing_rate.{n}" for n in ("SC1", "SP1", "SC2", "SP2", "SF3", "SF4")} <= set(df.columns)
    assert row["metrics.golden.loss"] > 0
    critical = int((table["critical"] > 0).sum())
    assert row["metrics.critical"] == critical
    assert row["metrics.crit_rate"] == pytest.approx(critical / 10)
    assert row["metrics.crit_ci_low"] <= row["metrics.crit_rate"] <= row["metrics.crit_ci_high"]
    assert row["metrics.acc_mean"] == pytest.approx(table["accuracy"].mean())
    assert row["metrics.acc_min"] == pytest.approx(table["accuracy"].min())
    assert row["metrics.acc_q50"] == pytest.approx(table["accuracy"].median())
    assert row["metrics.acc_drop"] == pytest.approx(golden_acc - table["accuracy"].mean())
    assert row["metrics.throughput"] > 0 and row["metrics.duration_s"] > 0
    # per-round histories: step = round id, one point each, values from the table
    client = MlflowClient(store)
    for key, col in cr.ROUND_METRICS.items():
        history = sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
        assert [m.step for m in history] == list(range(10))
        assert [m.value for m in history] == pytest.approx(table[col].astype(float).tolist())
    # artifacts (the documented layout)
    files = _walk(client, run_id)
    assert {"manifest.json", "campaign/spec.yaml", "campaign/config.yaml", "golden/baseline.json",
            "golden/model/digits_cnn.pt", "golden/model/digits_cnn.yaml", "results/rounds.parquet",
            "results/rounds.csv", "results/meta.json", "results/summary.json", "spikes/per_layer.parquet",
            "spikes/per_layer.csv", "plots/critical_faults_per_layer.png", "plots/site_heatmap_SF4.png"} <= files
    assert {f for f in files if f.startswith("progress/chunks/")} == {
        f"progress/chunks/rounds-{i:06d}-{i + 1:06d}.parquet" for i in range(0, 10, 2)}
    result = load_run_result(run_id, client, tmp_path / "dl")
    pd.testing.assert_frame_equal(result.table, table)
    (tmp_path / "dl2").mkdir()
    with open(client.download_artifacts(run_id, "manifest.json", str(tmp_path / "dl2"))) as fh:
        manifest = json.load(fh)
    assert manifest["artifact_schema_version"] == ARTIFACT_SCHEMA_VERSION and manifest["kind"] == "campaign"
    assert "results/rounds.parquet" in manifest["files"]
    # results/summary.json: the summary under the names the run logged its metrics with
    with open(client.download_artifacts(run_id, "results/summary.json", str(tmp_path / "dl4"))) as fh:
        summary = json.load(fh)
    logged = client.get_run(run_id).data.metrics
    assert {"crit_rate", "crit_ci_low", "acc_mean", "acc_drop", "golden.accuracy"} <= set(summary) <= set(logged)
    assert all(summary[k] == pytest.approx(logged[k]) for k in summary)
    spec_path = client.download_artifacts(run_id, "campaign/spec.yaml", str(tmp_path / "dl3"))
    assert cr.campaign_hash(CampaignSpec.from_yaml(spec_path)) == row["tags.spikefi.config_hash"]
    model_path = client.download_artifacts(run_id, "golden/model/digits_cnn.pt", str(tmp_path / "dl4"))
    assert load_network(model_path)[0].architecture == "digits_cnn"
    spikes = pd.read_csv(client.download_artifacts(run_id, "spikes/per_layer.csv", str(tmp_path / "dl5")))
    assert list(spikes["layer"]) == ["SC1", "SP1", "SC2", "SP2", "SF3", "SF4"]
    assert (spikes.loc[spikes["layer"] == "SF4", "rounds_changed"] == 10).all()
    # the dataset input
    run = client.get_run(run_id)
    by_context = {{t.key: t.value for t in i.tags}["mlflow.data.context"]: i for i in run.inputs.dataset_inputs}
    assert set(by_context) == {"test", "faults"}  # the test set and the fault list
    ds_input = by_context["test"]
    assert ds_input.dataset.name.endswith("[:32]") and ds_input.dataset.digest
    assert {t.key: t.value for t in ds_input.tags}["mlflow.data.context"] == "test"
    assert json.loads(ds_input.dataset.profile)["features_shape"][0] == 32


def test_sweep_parent_with_nested_children_resumes_after_interrupt(store, tmp_path, monkeypatch, capsys):
    import yaml

    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump({
        "sweep": {"name": "mini-sweep",
                  "base": {"network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 32},
                           "options": {"chunk_size": 4, "batch_size": 32}},
                  "campaigns": [{"name": "dead-SF4", "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]},
                                {"name": "saturated-SF4", "exhaustive": [{"model": "SaturatedNeuron", "layers": ["SF4"]}]}]},
        # each chunk written by itself (flush_every_s: 0): the interrupt comes at a given flush
        "output_dir": str(tmp_path / "out"), "tracking": {"experiment": EXPERIMENT, "flush_every_s": 0}}))
    real_hold = cr._test_hold
    calls = {"n": 0}

    def interrupt_second_campaign(n, stage):
        if stage == "metrics":
            calls["n"] += 1
            if calls["n"] == 4:  # dead-SF4 has 3 chunks; the 4th flush is saturated-SF4's first
                raise KeyboardInterrupt
        real_hold(n, stage)

    monkeypatch.setattr(sink_base, "_test_hold", interrupt_second_campaign)
    assert sweep_entry.main(["--config", str(cfg), "--no-progress"]) == 130
    runs = {r.info.run_name: r for r in runs_of(store)}
    assert runs["mini-sweep"].info.status == "KILLED"
    assert "saturated-SF4" in runs["mini-sweep"].data.tags["spikefi.status_reason"]
    assert runs["dead-SF4"].info.status == "FINISHED" and runs["saturated-SF4"].info.status == "KILLED"
    first_dead = runs["dead-SF4"].info.run_id
    monkeypatch.setattr(sink_base, "_test_hold", real_hold)
    capsys.readouterr()

    assert sweep_entry.main(["--config", str(cfg), "--no-progress"]) == 0  # automatic resume by config hash
    printed = capsys.readouterr().out
    assert "already finished: nothing to compute" in printed
    assert "4 of 10 rounds already done, computing 6" in printed
    runs = runs_of(store)
    assert len(runs) == 3  # no second sweep, no second child
    parent = next(r for r in runs if r.data.tags["spikefi.kind"] == "sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and len(children) == 2
    assert first_dead in {c.info.run_id for c in children}
    assert all(c.info.status == "FINISHED" for c in children)
    # same metric names in every child, so the UI compares them side by side
    names = [set(c.data.metrics) for c in children]
    assert names[0] == names[1] and {"crit_rate", "round_acc", "golden.accuracy"} <= names[0]
    client = MlflowClient(store)
    for c in children:
        assert steps(client, c.info.run_id, "round_acc") == list(range(10))
    sat = next(c for c in children if c.info.run_name == "saturated-SF4")
    assert sat.data.tags["spikefi.attempts"] == "2" and sat.data.metrics["crit_rate"] == 1.0
    comparison = pd.read_csv(client.download_artifacts(parent.info.run_id, "sweep/campaigns.csv", str(tmp_path / "c")))
    assert set(comparison["campaign"]) == {"dead-SF4", "saturated-SF4"}
    assert parent.data.metrics["campaigns_finished"] == 2


def test_tracking_failure_mid_run_keeps_results_and_resume_uploads(store, small_config, tmp_path, monkeypatch,
                                                                   capsys, reference_table):
    real = MlflowClient.log_batch
    state = {"metric_batches": 0}

    def flaky(self, run_id, metrics=(), params=(), tags=(), **kw):
        if any(m.key == "round_acc" for m in metrics):
            state["metric_batches"] += 1
            if state["metric_batches"] >= 2:
                raise requests.exceptions.ConnectionError("connection refused (simulated outage)")
        return real(self, run_id, metrics=metrics, params=params, tags=tags, **kw)

    monkeypatch.setattr(MlflowClient, "log_batch", flaky)
    monkeypatch.setattr(MlflowClient, "log_artifacts", lambda *a, **k: (_ for _ in ()).throw(
        requests.exceptions.ConnectionError("down")) if state["metric_batches"] >= 2 else None)
    assert entry.main(["--config", str(small_config), "--no-progress"]) == 3
    err = capsys.readouterr().err
    assert "MLflow tracking failed" in err and "--resume" in err
    (run,) = runs_of(store)
    run_id = run.info.run_id
    local = tmp_path / "out" / run_id / "results" / "rounds.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(local), reference_table)  # nothing lost
    assert run.info.status == "RUNNING"
    client = MlflowClient(store)
    assert steps(client, run_id, "round_acc") == [0, 1]

    monkeypatch.undo()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert entry.main(["--config", str(small_config), "--resume", run_id, "--no-progress"]) == 0
    assert "10 of 10 rounds already done, computing 0" in capsys.readouterr().out
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    for key in cr.ROUND_METRICS:
        assert steps(client, run_id, key) == list(range(10))
    assert len([f for f in client.list_artifacts(run_id, "progress/chunks")]) == 5
    pd.testing.assert_frame_equal(load_run_result(run_id, client, tmp_path / "dl").table, reference_table)


def test_unexpected_failure_marks_the_run_failed_with_reason(store, small_config, monkeypatch):
    real_hold = cr._test_hold

    def boom(n, stage):
        if n == 2 and stage == "metrics":
            raise RuntimeError("simulated engine crash")
        real_hold(n, stage)

    monkeypatch.setattr(sink_base, "_test_hold", boom)
    with pytest.raises(RuntimeError, match="simulated engine crash"):
        entry.main(["--config", str(small_config), "--no-progress"])
    (run,) = runs_of(store)
    assert run.info.status == "FAILED"
    assert run.data.tags["spikefi.status_reason"] == "RuntimeError: simulated engine crash"
    assert "crit_rate" not in run.data.metrics  # nothing looks complete


def test_shards_split_over_two_parents_converge_into_one(store, small_config, tmp_path, capsys, reference_table):
    """Two machines that each created a parent before seeing the other's: the merge moves
    every shard under the earliest parent, deletes the other, and merges there."""
    from experiments.campaign import DEFAULTS
    from experiments.config import load_config

    spec = CampaignSpec.from_dict(load_config(small_config, DEFAULTS)["campaign"])
    chash = cr.campaign_hash(spec)
    client = MlflowClient(store)
    exp = client.create_experiment(EXPERIMENT)
    tags = {"spikefi.kind": "sharded-campaign", "spikefi.config_hash": chash, "spikefi.shards": "2"}
    first = client.create_run(exp, tags=tags, start_time=1000).info.run_id
    second = client.create_run(exp, tags=tags, start_time=2000).info.run_id
    assert entry.main(["--config", str(small_config), "--shard", "0/2", "--parent", second, "--no-progress"]) == 0
    assert entry.main(["--config", str(small_config), "--shard", "1/2", "--parent", first, "--no-progress"]) == 0
    assert "moved 1 shard run(s) from duplicate parent" in capsys.readouterr().out
    assert client.get_run(second).info.lifecycle_stage == "deleted"
    runs = runs_of(store)
    assert {r.data.tags["spikefi.kind"] for r in runs} == {"sharded-campaign", "shard"} and len(runs) == 3
    assert {r.data.tags["mlflow.parentRunId"] for r in runs if r.data.tags["spikefi.kind"] == "shard"} == {first}
    parent = client.get_run(first)
    assert parent.info.status == "FINISHED"
    merged = load_run_result(first, client, tmp_path / "merged")
    pd.testing.assert_frame_equal(merged.table, reference_table)
    assert steps(client, first, "round_acc") == list(range(10))
    assert parent.data.params["shards"] == "2" and parent.data.params["rounds"] == "10"
