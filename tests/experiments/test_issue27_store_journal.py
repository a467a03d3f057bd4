"""Issue 27, item 1: a store that a SIGKILL during a write left with a hot sqlite rollback
journal (``mlflow.db-journal``) is recovered, not refused: the journal is rolled back by a
read-write open under the store lock and every run (every Optuna trial) is still there. A
killed first creation leaves no ``.mlflow.db.<pid>.tmp-journal`` litter."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import entry_env

#: the issue's reproducer: a big write in an open transaction with a one-page cache (so sqlite
#: writes changed pages into the database file, their originals into the journal), then SIGKILL
KILL_IN_WRITE = """
import os, signal, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size=1")
con.execute("BEGIN IMMEDIATE")
con.execute(sys.argv[2])
os.kill(os.getpid(), signal.SIGKILL)
"""


def _kill_during_write(tmp_path: Path, db: Path, sql: str) -> None:
    (tmp_path / "kill.py").write_text(KILL_IN_WRITE)
    done = subprocess.run([sys.executable, "kill.py", str(db), sql], cwd=tmp_path, env=entry_env(""),
                          capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    journal = Path(f"{db}-journal")
    assert journal.is_file() and journal.stat().st_size > 0  # a hot journal is left behind


@pytest.fixture()
def default_store(tmp_path, monkeypatch, empty_store_file):
    """cwd = tmp_path holding a copy of an empty store as ``mlflow.db`` (the default store)."""
    import shutil

    shutil.copyfile(empty_store_file, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "mlflow.db"


#: the next command in that folder (a fresh process, as after a real kill): the default store
NEXT_COMMAND = """
import json
from pathlib import Path
from experiments.campaign import connect
client, uri, exp, _ = connect({"experiment": "spikefi-campaigns", "uri": None})
runs = client.search_runs([exp])
values = sorted(m.value for m in client.get_metric_history(runs[0].info.run_id, "m3"))
client.create_run(exp)
print(json.dumps({"uri": uri, "exp": exp, "runs": [(r.info.run_id, r.info.status) for r in runs], "m3": values,
                  "after": len(client.search_runs([exp])), "journal": Path("mlflow.db-journal").exists()}))
"""


def test_a_hot_journal_left_by_a_kill_is_rolled_back_and_every_run_kept(tmp_path, default_store):
    import json

    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{default_store}")
    exp = client.create_experiment("spikefi-campaigns")
    run = client.create_run(exp).info.run_id
    for part in range(4):
        client.log_batch(run, metrics=[Metric(f"m{part}", float(i), 0, i) for i in range(1000)])
    client.set_terminated(run)
    _kill_during_write(tmp_path, default_store, "UPDATE metrics SET value = value + 1")
    env = entry_env("")
    env.pop("MLFLOW_TRACKING_URI")
    done = subprocess.run([sys.executable, "-c", NEXT_COMMAND], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]  # e35710b: exit 2, "not a readable sqlite database"
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["uri"] == "sqlite:///mlflow.db" and got["exp"] == exp and not got["journal"]
    assert got["runs"] == [[run, "FINISHED"]]
    assert got["m3"] == [float(i) for i in range(1000)]  # the killed transaction's +1 was rolled back
    assert got["after"] == 2  # and the store takes new runs


def test_the_campaign_entry_point_runs_on_a_store_with_a_hot_journal(tmp_path, default_store, monkeypatch, capsys):
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from experiments import campaign as entry

    from .conftest import write_campaign_config

    uri = f"sqlite:///{default_store}"  # absolute: MLflow caches engines by URI, the test above used the relative one
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri)
    exp = client.create_experiment("spikefi-campaigns")
    for _ in range(3):
        run = client.create_run(exp).info.run_id
        client.log_batch(run, metrics=[Metric("loss", float(i), 0, i) for i in range(1000)])
        client.set_terminated(run)
    _kill_during_write(tmp_path, default_store, "UPDATE metrics SET value = value + 1")
    config = write_campaign_config(tmp_path / "c.yaml", tmp_path / "out")
    code = entry.main(["--config", str(config), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert len(MlflowClient(uri).search_runs([exp])) == 4


def test_a_hot_journal_in_the_optuna_store_is_rolled_back(tmp_path):
    import optuna

    from spikefi.search.study import create_study, make_sampler, open_storage

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = create_study(open_storage(url), "s", "accuracy", make_sampler("random", 0, 1), None, {"space": 1})
    for i in range(40):
        trial = study.ask()
        for k in range(8):  # enough pages for the kill to leave a hot journal
            trial.set_user_attr(f"pad{k}", "x" * 1000)
        study.tell(trial, i / 40)
    _kill_during_write(tmp_path, tmp_path / "optuna.db", "UPDATE trial_user_attributes SET value_json = value_json || ' '")
    storage = open_storage(url)  # ConfigError ("attempt to write a readonly database") before
    loaded = optuna.load_study(study_name="s", storage=storage)
    assert [t.value for t in loaded.trials] == [i / 40 for i in range(40)]
    assert not (tmp_path / "optuna.db-journal").exists()


def test_a_killed_creation_leaves_no_temporary_journal_behind(tmp_path):
    from spikefi.sqlite_store import create_once

    # what a creation killed in the middle of a transaction leaves: its temporary database and journal
    for suffix in (".tmp", ".tmp-journal", ".tmp-wal", ".tmp-shm"):
        (tmp_path / f".store.db.4242{suffix}").write_bytes(b"x" * 100)

    def create(tmp: Path) -> None:
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(tmp)) as con:
            con.execute("CREATE TABLE t (x)")
            con.commit()

    assert create_once(tmp_path / "store.db", create)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".store.db.lock", "store.db"]


def test_a_file_that_is_not_sqlite_is_still_refused_with_the_repair(tmp_path, monkeypatch, capsys):
    (tmp_path / "mlflow.db").write_bytes(b"not a database at all" * 100)
    monkeypatch.chdir(tmp_path)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    from experiments.tracking import BrokenStoreError, prepare_store

    with pytest.raises(BrokenStoreError, match="not a readable sqlite database"):
        prepare_store("sqlite:///mlflow.db")
