"""Bounded chunk artifacts: every ``tracking.compact_every`` chunks of an attempt become one
file, locally and in the run's store; a kill and resume lists the merged files and recomputes
nothing they hold."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from experiments import campaign as entry
from experiments.artifacts import CHUNKS_DIR, read_chunk
from experiments.tracked_campaign import compact_every
from spikefi.errors import ConfigError

from .conftest import kill_when_held, runs_of, steps, write_campaign_config


def test_compact_every_is_checked():
    assert compact_every({}) == 64 and compact_every({"tracking": {"compact_every": 0}}) == 0
    with pytest.raises(ConfigError, match="compact_every"):
        compact_every({"tracking": {"compact_every": -2}})


@pytest.mark.parametrize("sink", ["mlflow", "local"])
def test_chunks_are_merged_every_n_and_a_resume_lists_the_merged_files(sink, store, tmp_path, capsys,
                                                                       reference_table):
    config = write_campaign_config(tmp_path / "campaign.yaml", tmp_path / "out")
    args = ["--config", str(config), "--no-progress", "--set", "tracking.compact_every=2"]
    if sink == "local":
        args += ["--sink", "local", "--sink-dir", str(tmp_path / "runs")]
    # chunks 1 and 2 are merged once chunk 2 is durable; the kill comes after chunk 3
    kill_when_held(["experiments.campaign", *args], store, tmp_path, "3:metrics")
    folder = tmp_path / ("runs" if sink == "local" else "out")
    (run_dir,) = [p for p in folder.iterdir() if p.is_dir()]
    chunks = run_dir / CHUNKS_DIR
    assert sorted(p.name for p in chunks.glob("rounds-*.parquet")) == [
        "rounds-000000-000003.parquet", "rounds-000004-000005.parquet"]
    rows, info = read_chunk(chunks / "rounds-000000-000003.parquet")
    assert list(rows["round_id"]) == [0, 1, 2, 3] and info["compacted"] == 2
    client = MlflowClient(store)
    if sink == "mlflow":
        (run,) = runs_of(store)
        listed = sorted(f.path for f in client.list_artifacts(run.info.run_id, CHUNKS_DIR))
        assert listed == [f"{CHUNKS_DIR}/rounds-000000-000003.parquet", f"{CHUNKS_DIR}/rounds-000004-000005.parquet"]
    capsys.readouterr()
    assert entry.main(args) == 0
    assert "6 of 10 rounds already done, computing 4" in capsys.readouterr().out
    names = sorted(p.name for p in chunks.glob("rounds-*.parquet"))
    assert names == ["rounds-000000-000003.parquet", "rounds-000004-000005.parquet", "rounds-000006-000009.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / "results" / "rounds.parquet"), reference_table)
    if sink == "mlflow":
        listed = sorted(f.path.rsplit("/", 1)[1] for f in client.list_artifacts(run.info.run_id, CHUNKS_DIR))
        assert listed == names
        assert steps(client, run.info.run_id, "round_acc") == list(range(10))
        assert client.get_run(run.info.run_id).info.status == "FINISHED"
    else:
        assert json.loads((run_dir / "run.json").read_text())["status"] == "FINISHED"
