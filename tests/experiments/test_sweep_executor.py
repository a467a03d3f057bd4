"""A sweep hands its executor (``--executor ray`` and the Ray options) to each of its
campaigns: here a counting executor stands in for Ray (the Ray executor itself is tested in
tests/campaign/test_ray_executor.py and tests/experiments/test_ray_entry.py), so the sweep's
plumbing is checked without starting Ray."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from experiments import campaign as campaign_entry
from experiments import sweep as sweep_entry
from spikefi.campaign import Campaign
from spikefi.campaign.executors import Executor, InProcessExecutor
from spikefi.data import load_spiking_digits
from spikefi.faults import DeadNeuron, SaturatedNeuron
from spikefi.zoo import load_pretrained

from .conftest import runs_of


class CountingExecutor(Executor):
    """Runs chunks in-process but is not the in-process executor: campaigns take the remote
    path (the driver builds on the CPU, the executor runs the golden pass and the chunks)."""

    name = "counting"

    def __init__(self) -> None:
        self.chunks: list[int] = []
        self.campaigns = 0
        self.address, self.workers, self.gpus_per_worker, self.cpus_per_worker = None, 1, 0.0, 1

    def connect(self) -> None:
        return None

    def check_resources(self, ray: object) -> int:
        return 1

    def golden(self, campaign, options):
        self.campaigns += 1
        return campaign.golden()

    def run(self, campaign, rounds, options, on_chunk=None):
        for chunk in InProcessExecutor().run(campaign, rounds, options, on_chunk):
            self.chunks.append(len(chunk.round_ids))
            yield chunk


def test_a_sweep_runs_every_campaign_through_the_executor_it_was_given(store, tmp_path, monkeypatch):
    counting = CountingExecutor()
    seen = {}

    def fake_executor_from_args(args):
        seen["args"] = (args.executor, args.workers, args.gpus_per_worker)
        return counting

    monkeypatch.setattr(campaign_entry, "executor_from_args", fake_executor_from_args)
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump({
        "sweep": {"name": "exec-sweep",
                  "base": {"network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 24},
                           "options": {"chunk_size": 4, "batch_size": 24}},
                  "campaigns": [{"name": "dead-SF4", "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]},
                                {"name": "saturated-SF4",
                                 "exhaustive": [{"model": "SaturatedNeuron", "layers": ["SF4"]}]}]},
        "output_dir": str(tmp_path / "out"), "tracking": {"experiment": "exec-sweep"}}))
    assert sweep_entry.main(["--config", str(cfg), "--no-progress", "--executor", "ray", "--workers", "2",
                             "--gpus-per-worker", "0"]) == 0
    assert seen["args"] == ("ray", "2", "0")
    assert counting.campaigns == 2 and counting.chunks == [4, 4, 2] * 2  # 10 rounds each, chunks of 4
    children = {r.data.tags["mlflow.runName"]: r for r in runs_of(store, "exec-sweep")
                if r.data.tags.get("spikefi.kind") == "campaign"}
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    for name, model in (("dead-SF4", DeadNeuron()), ("saturated-SF4", SaturatedNeuron())):
        run = children[name]
        assert run.data.params["executor"] == "counting" and run.info.status == "FINISHED"
        table = pd.read_parquet(tmp_path / "out" / run.info.run_id / "results" / "rounds.parquet")
        here = Campaign(net, test, max_samples=24, batch_size=24, seed=0)
        here.exhaustive(model, layers=["SF4"])
        expected = here.run(engine="parallel", progress=False).table
        for column in ("round_id", "accuracy", "critical", "changed", "spikes.SF4"):
            assert table[column].tolist() == pytest.approx(expected[column].tolist()), (name, column)


def test_a_ray_option_without_executor_ray_is_refused_by_the_sweep(store, capsys):
    assert sweep_entry.main(["--config", "sweep_neuron_faults.yaml", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--workers is a Ray option: add --executor ray" in err and len(err.strip().splitlines()) == 1
