"""The campaign-sink conformance suite: one set of tests every :class:`~experiments.sink.CampaignSink`
must pass (crash and resume, duplicate chunk writes, status and reasons, heartbeat, read back).

A sink joins by a ``make_sink`` fixture (``tests/experiments/test_sink_conformance.py``):
``make_sink()`` returns a new sink object on the same store each call -- a second call stands
for another process (a resume after a crash) -- and ``make_sink.heartbeat(run_id)`` reads a
run's heartbeat (seconds since the epoch) from the store. Tests never call store-specific APIs
otherwise. "Crashed" processes are simulated by giving the first sink object the identity of a
process that no longer exists (:func:`dead_owner`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from experiments.sink import FAILED, FINISHED, KILLED, RUNNING, CampaignSink, SetupInfo
from spikefi.errors import ConfigError

HASH = "0123456789abcdef"
OTHER_HASH = "fedcba9876543210"


def rows_for(round_ids: list[int]) -> list[dict]:
    return [{"round_id": r, "accuracy": 0.5 + r / 100, "critical": r % 3, "changed": r, "faults": f"[{r}]"}
            for r in round_ids]


def info_for(round_ids: list[int], attempt: int = 1) -> dict:
    now = time.time()
    return {"chunk_index": round_ids[0] // 2, "round_ids": round_ids, "seconds": 0.01, "samples": 4,
            "attempt": attempt, "attempt_started": now, "finished_at": now, "process": "test"}


def dead_identity() -> str:
    """The identity (``host/pidns:pid:start``) of a process of this machine that has ended."""
    from experiments.tracking import _machine
    from spikefi.utils.process import process_start_ticks

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    ticks = process_start_ticks(proc.pid) or "1"
    proc.wait()
    return f"{_machine()}:{proc.pid}:{ticks}"


def live_other_identity() -> str:
    """The identity of a live process other than this one (the parent)."""
    from experiments.tracking import _machine
    from spikefi.utils.process import process_start_ticks

    return f"{_machine()}:{os.getppid()}:{process_start_ticks(os.getppid())}"


@pytest.fixture()
def dead_owner(monkeypatch):
    """While active, sinks record a process that has ended as the runs' owner."""
    import experiments.local_sink
    import experiments.mlflow_sink

    identity = dead_identity()

    class Owner:
        def __enter__(self):
            for mod in (experiments.local_sink, experiments.mlflow_sink):
                monkeypatch.setattr(mod, "process_identity", lambda: identity)
            return identity

        def __exit__(self, *exc):
            monkeypatch.undo()

    return Owner()


def start(sink: CampaignSink, config_hash: str = HASH, name: str = "conformance", rounds: int = 10):
    run = sink.create(name=name, kind="campaign", config_hash=config_hash, round_metrics="all")
    sink.plan(None)
    sink.claim(run, attempt=1, rounds_total=rounds, campaign_rounds=rounds, resumed=False)
    return run


# -- identity ------------------------------------------------------------------------------
def test_a_run_is_found_by_its_config_hash_and_only_after_it_exists(make_sink):
    sink = make_sink()
    assert isinstance(sink, CampaignSink)
    assert sink.find("campaign", HASH, "auto") is None
    run = start(sink)
    assert sink.status(run.run_id)[0] == RUNNING
    other = make_sink()
    assert other.find("campaign", OTHER_HASH, "auto") is None  # another campaign
    assert other.find("campaign", HASH, "never") is None  # never: always a new run
    with pytest.raises(ConfigError, match="another campaign"):
        other.find("campaign", OTHER_HASH, run.run_id)
    with pytest.raises(ConfigError):
        other.find("campaign", HASH, "no-such-run-0000")


def test_a_run_that_a_live_process_owns_is_not_taken_over(make_sink, monkeypatch):
    import experiments.local_sink
    import experiments.mlflow_sink

    identity = live_other_identity()
    for mod in (experiments.local_sink, experiments.mlflow_sink):
        monkeypatch.setattr(mod, "process_identity", lambda: identity)
    run = start(make_sink())
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="already running"):
        make_sink().find("campaign", HASH, "auto")
    with pytest.raises(ConfigError, match="still running"):
        make_sink().find("campaign", HASH, run.run_id)


# -- chunks --------------------------------------------------------------------------------
def test_duplicate_chunk_writes_read_back_once(make_sink):
    sink = make_sink()
    start(sink)
    sink.write_chunk(rows_for([0, 1]), info_for([0, 1]), 10)
    sink.write_chunk(rows_for([0, 1]), info_for([0, 1]), 10)  # the same chunk again (a retry)
    sink.write_chunk(rows_for([2, 3]), info_for([2, 3]), 10)
    sink.drain()
    table, infos = sink.read_table(set(range(10)))
    assert list(table["round_id"]) == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(table[["round_id", "accuracy"]],
                                  pd.DataFrame(rows_for([0, 1, 2, 3]))[["round_id", "accuracy"]])
    again = make_sink()
    found = again.find("campaign", HASH, sink.run_id)
    assert found is not None and found.run_id == sink.run_id
    assert sorted(again.done_rows(set(range(10)))) == [0, 1, 2, 3]
    assert sorted(again.done_rows({1, 2})) == [1, 2]  # only the rounds asked for
    sink.close()


def test_crash_then_resume_continues_the_same_run_with_the_durable_chunks(make_sink, dead_owner):
    with dead_owner:
        first = make_sink()
        run = start(first)
        first.write_chunk(rows_for([0, 1]), info_for([0, 1]), 10)
        first.write_chunk(rows_for([2, 3]), info_for([2, 3]), 10)
        first.drain()
        # the process dies here: no finish, no fail
    assert first.status(run.run_id)[0] == RUNNING
    second = make_sink()
    found = second.find("campaign", HASH, "auto")
    assert found is not None and found.run_id == run.run_id and found.status == RUNNING
    assert found.attempts == 1 and found.round_metrics == "all"
    second.plan(None)
    second.claim(found, attempt=2, rounds_total=10, campaign_rounds=10, resumed=True)
    assert second.status(run.run_id) == (RUNNING, "resumed (attempt 2)")
    done = second.done_rows(set(range(10)))
    assert sorted(done) == [0, 1, 2, 3]
    assert done[2]["accuracy"] == pytest.approx(0.52)
    second.write_chunk(rows_for([4, 5]), info_for([4, 5], attempt=2), 10)
    second.drain()
    table, _ = second.read_table(set(range(6)))
    assert list(table["round_id"]) == [0, 1, 2, 3, 4, 5]
    assert make_sink().find("campaign", HASH, run.run_id).attempts == 2
    second.close()


def test_a_damaged_chunk_file_never_yields_wrong_rows(make_sink, dead_owner):
    with dead_owner:
        first = make_sink()
        start(first)
        first.write_chunk(rows_for([0, 1]), info_for([0, 1]), 10)
        first.drain()
    (path,) = list(first.chunks_dir.glob("rounds-*.parquet"))
    path.write_bytes(path.read_bytes()[:40])  # a torn file
    second = make_sink()
    found = second.find("campaign", HASH, "auto")
    second.claim(found, attempt=2, rounds_total=10, campaign_rounds=10, resumed=True)
    done = second.done_rows(set(range(10)))
    # the store's copy may repair it (MLflow artifacts); otherwise its rounds are recomputed
    assert sorted(done) in ([0, 1], [])
    for rid, row in done.items():
        assert row["accuracy"] == pytest.approx(0.5 + rid / 100)


def test_heartbeat_moves_with_each_durable_chunk(make_sink):
    sink = make_sink()
    run = start(sink)
    before = make_sink.heartbeat(run.run_id)
    time.sleep(0.05)
    sink.write_chunk(rows_for([0, 1]), info_for([0, 1]), 10)
    sink.drain()
    after = make_sink.heartbeat(run.run_id)
    assert after > before
    time.sleep(0.05)
    sink.heartbeat()
    assert make_sink.heartbeat(run.run_id) > after
    sink.close()


# -- end -----------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [KILLED, FAILED])
def test_fail_records_status_and_reason_and_the_run_resumes(make_sink, status):
    sink = make_sink()
    run = start(sink)
    sink.write_chunk(rows_for([0, 1]), info_for([0, 1]), 10)
    sink.drain()
    sink.fail(status, f"stopped for the test ({status})")
    sink.close()
    assert sink.status(run.run_id) == (status, f"stopped for the test ({status})")
    again = make_sink()
    found = again.find("campaign", HASH, "auto")
    assert found is not None and found.run_id == run.run_id and found.status == status
    again.claim(found, attempt=2, rounds_total=10, campaign_rounds=10, resumed=True)
    assert again.status(run.run_id)[0] == RUNNING
    assert sorted(again.done_rows(set(range(10)))) == [0, 1]


def test_a_campaign_finishes_reads_back_and_is_not_computed_again(make_sink, tmp_path, capsys):
    from experiments.tracked_campaign import TrackedCampaign
    from spikefi.campaign import CampaignSpec

    spec = CampaignSpec.from_dict({
        "name": "conformance", "network": {"pretrained": "digits_cnn"},
        "data": {"name": "spiking_digits", "seed": 0, "max_samples": 8},
        "options": {"seed": 0, "batch_size": 8, "chunk_size": 3},
        "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"], "sample": 5}]})
    sink = make_sink()
    out = TrackedCampaign(spec, {"campaign": spec.to_dict()}, None, None, sink.root, progress=False,
                          sink=sink).run()
    assert out["status"] == FINISHED and sink.status(out["run_id"]) == (FINISHED, "finished")
    result = make_sink().read_result(out["run_id"])
    assert len(result.table) == 5 and result.table["round_id"].is_unique
    pd.testing.assert_frame_equal(result.table.reset_index(drop=True), out["table"].reset_index(drop=True),
                                  check_dtype=False)
    again = TrackedCampaign(spec, {"campaign": spec.to_dict()}, None, None, sink.root, progress=False,
                            sink=make_sink()).run()
    assert again["skipped"] and again["run_id"] == out["run_id"] and again["computed"] == []
    assert again["summary"]["rounds"] == 5
    # the local folder reads back without any store
    from analysis.load import load_results

    loaded = load_results([out["local_dir"]])
    assert len(loaded.rounds) == 5


def test_setup_is_recorded_once(make_sink):
    sink = make_sink()
    start(sink)
    calls = []

    def make() -> SetupInfo:
        calls.append(1)
        raise RuntimeError("the test's setup info")  # proves make() is called

    with pytest.raises(RuntimeError, match="setup info"):
        sink.setup(make)
    assert calls == [1]


def test_compaction_keeps_every_round_readable_once(make_sink, dead_owner):
    with dead_owner:
        sink = make_sink()
        start(sink)
        for first in (0, 2, 4):
            sink.write_chunk(rows_for([first, first + 1]), info_for([first, first + 1]), 10)
        sink.drain()
        merged = sink.compact()
    assert merged is not None and merged.name == "rounds-000000-000005.parquet"
    assert sorted(p.name for p in sink.chunks_dir.glob("rounds-*.parquet")) == [merged.name]
    assert sink.compact() is None  # one file: nothing to merge
    table, infos = sink.read_table(set(range(10)))
    assert list(table["round_id"]) == list(range(6)) and len(infos) == 1
    assert infos[0]["seconds"] == pytest.approx(0.03) and infos[0]["compacted"] == 3
    again = make_sink()
    found = again.find("campaign", HASH, "auto")
    again.claim(found, attempt=2, rounds_total=10, campaign_rounds=10, resumed=True)
    done = again.done_rows(set(range(10)))
    assert sorted(done) == list(range(6))
    assert done[5]["accuracy"] == pytest.approx(0.55)
