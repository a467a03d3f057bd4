"""Real campaign runs in a temporary sqlite MLflow store, created once per session through the
project's own campaign entry point (24 samples of the spiking digits, layer SF4 of digits_cnn)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

EXPERIMENT = "analysis-tests"
SWEEP_EXPERIMENT = "analysis-sweep"

BASE = {
    "network": {"pretrained": "digits_cnn"},
    "data": {"name": "spiking_digits", "seed": 0, "max_samples": 24},
    "options": {"seed": 0, "batch_size": 24, "chunk_size": 10},
}
# the sweep's campaign: dead-a's 10 faults on other samples (paired with dead-a in comparisons)
DEAD_B = {"data": {"name": "spiking_digits", "seed": 1, "max_samples": 24},
          "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]}
CAMPAIGNS = {
    # 10 rounds: one dead output neuron at a time
    "dead-a": {"exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]},
    # 30 rounds: a saturated output neuron (made critical on purpose: it wins every sample),
    # and the threshold of one neuron scaled by 0.5 or 2 (a parameter that varies)
    "mixed": {"exhaustive": [
        {"model": "SaturatedNeuron", "layers": ["SF4"]},
        {"model": "ParametricNeuron", "parameter": "theta", "factor": 0.5, "layers": ["SF4"]},
        {"model": "ParametricNeuron", "parameter": "theta", "factor": 2.0, "layers": ["SF4"]},
    ]},
}


@dataclass
class Store:
    uri: str
    directory: Path
    run_ids: dict[str, str]   # campaign name -> run id (dead-a, mixed in EXPERIMENT; dead-b in the sweep)
    failed_id: str
    sweep_id: str

    def table_path(self, name: str) -> Path:
        """The run's local copy of its per-round table (written by the campaign, not via MLflow)."""
        return self.directory / "out" / self.run_ids[name] / "results" / "rounds.parquet"


@pytest.fixture(scope="session")
def campaign_store(tmp_path_factory) -> Store:
    from experiments import campaign as entry

    tmp = tmp_path_factory.mktemp("analysis-store")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID")}
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    os.environ.pop("MLFLOW_RUN_ID", None)
    try:
        run_ids = {}
        for name, updates in CAMPAIGNS.items():
            config = tmp / f"{name}.yaml"
            config.write_text(yaml.safe_dump({"campaign": {"name": name, **BASE, **updates},
                                              "output_dir": str(tmp / "out"),
                                              "tracking": {"experiment": EXPERIMENT}}, sort_keys=False))
            assert entry.main(["--config", str(config), "--no-progress", "--resume", "never"]) == 0
            client = MlflowClient(uri)
            exp = client.get_experiment_by_name(EXPERIMENT)
            (run,) = client.search_runs([exp.experiment_id], f"tags.mlflow.runName = '{name}'")
            run_ids[name] = run.info.run_id
        # a sweep (its own experiment): one parent, one nested campaign run
        from experiments import sweep as sweep_entry

        sweep_config = tmp / "sweep.yaml"
        sweep_config.write_text(yaml.safe_dump({
            "sweep": {"name": "sweep-SF4", "base": BASE, "campaigns": [
                {"name": "dead-b", **DEAD_B}]},
            "output_dir": str(tmp / "out"), "tracking": {"experiment": SWEEP_EXPERIMENT}}, sort_keys=False))
        assert sweep_entry.main(["--config", str(sweep_config), "--no-progress"]) == 0
        sweep_exp = client.get_experiment_by_name(SWEEP_EXPERIMENT)
        (parent,) = client.search_runs([sweep_exp.experiment_id], "tags.`spikefi.kind` = 'sweep'")
        (child,) = client.search_runs([sweep_exp.experiment_id], "tags.`spikefi.kind` = 'campaign'")
        run_ids["dead-b"] = child.info.run_id
        # runs holding a results table that analysis must not count: a shard (its sharded parent
        # counts) and a launcher, both FINISHED, both with dead-a's table as artifacts
        for kind in ("shard", "launcher"):
            extra = client.create_run(exp.experiment_id, run_name=f"a-{kind}", tags={"spikefi.kind": kind})
            client.log_artifacts(extra.info.run_id, str(tmp / "out" / run_ids["dead-a"] / "results"), "results")
            client.set_terminated(extra.info.run_id, "FINISHED")
        # a campaign run that died before writing results
        failed = client.create_run(exp.experiment_id, run_name="crashed",
                                   tags={"spikefi.kind": "campaign", "spikefi.status_reason": "killed by test"})
        client.set_terminated(failed.info.run_id, "FAILED")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        mlflow.set_tracking_uri(None)
    return Store(uri, tmp, run_ids, failed.info.run_id, parent.info.run_id)


@pytest.fixture()
def store(campaign_store, monkeypatch, tmp_path) -> Store:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", campaign_store.uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    yield campaign_store
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def cli_report(campaign_store, tmp_path_factory):
    """The report of the whole experiment, written once through the entry point: (markdown, html, stdout)."""
    import contextlib
    import io

    from experiments import report as entry

    out = tmp_path_factory.mktemp("report")
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = campaign_store.uri
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            assert entry.main(["--experiment", EXPERIMENT, "--output-dir", str(out)]) == 0
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
        mlflow.set_tracking_uri(None)
    return (out / "report.md").read_text(), (out / "report.html").read_text(), stdout.getvalue(), out
