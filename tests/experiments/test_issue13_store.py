"""Issue 13, items 3-4: first use of the default sqlite stores (MLflow's ``mlflow.db`` and the
search's Optuna database) is safe when several processes start together or one is killed
while creating the store; a half-created store is a one-line error naming the repair."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from .conftest import entry_env, wait_for_line, write_campaign_config

#: waits at a barrier (a file), then does what an entry point does first with the store
MLFLOW_WORKER = """
import os, sys, time
from pathlib import Path
from experiments.campaign import connect
Path(f"ready-{sys.argv[1]}").touch()
while not Path("go").exists():
    time.sleep(0.01)
client, uri, exp, _ = connect({"experiment": "spikefi-campaigns", "uri": None})
client.set_terminated(client.create_run(exp).info.run_id)
print("ok", uri)
"""

OPTUNA_WORKER = """
import sys, time
from pathlib import Path
from spikefi.search.study import create_study, make_sampler, open_storage
Path(f"ready-{sys.argv[1]}").touch()
while not Path("go").exists():
    time.sleep(0.01)
study = create_study(open_storage("sqlite:///optuna.db"), "s", "accuracy", make_sampler("random", int(sys.argv[1]), 1),
                     None, {"space": 1})
trial = study.ask()
study.tell(trial, 0.5)
print("ok")
"""

#: MLflow's first creation of the store is stopped in the middle of a schema migration: the
#: migration's columns exist, but the recorded schema version is still the one before it
HALF_MIGRATION = """
import sys, time
import mlflow.store.db.utils as u
from alembic import command
from alembic.script import ScriptDirectory



def half(engine):
    config = u._get_alembic_config(str(engine.url))
    chain = list(ScriptDirectory.from_config(config).walk_revisions())[::-1]  # base first
    mid, after = chain[2].revision, chain[3].revision  # early: the test stays short
    assert chain[3].down_revision == mid
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, after)  # the next migration's columns exist ...
        command.stamp(config, mid, purge=True)  # ... but the recorded version is the one before
    print("half-migrated", flush=True)
    if sys.argv[1] == "hang":
        time.sleep(600)


u._upgrade_db = half
if sys.argv[1] == "hang":
    from experiments.campaign import connect
    connect({"experiment": "spikefi-campaigns", "uri": None})
else:  # what an earlier spikefi left: the half-migrated tables in mlflow.db itself
    u._initialize_tables(u.create_sqlalchemy_engine_with_retry("sqlite:///mlflow.db"))
"""


def _env() -> dict[str, str]:
    env = entry_env("")
    env.pop("MLFLOW_TRACKING_URI")  # the default store: sqlite:///mlflow.db in the working directory
    return env


def _together(tmp_path: Path, script: str, n: int = 3) -> list[subprocess.CompletedProcess]:
    (tmp_path / "worker.py").write_text(script)
    procs = [subprocess.Popen([sys.executable, "worker.py", str(i)], cwd=tmp_path, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(n)]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{i}").exists() for i in range(n)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), \
            [p.communicate() for p in procs if p.poll() is not None]
        time.sleep(0.05)
    (tmp_path / "go").touch()
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=180)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def test_three_processes_start_together_on_a_new_mlflow_store(tmp_path):
    done = _together(tmp_path, MLFLOW_WORKER)
    assert [p.returncode for p in done] == [0, 0, 0], [p.stderr[-2000:] for p in done]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("spikefi-campaigns")
    assert len(client.search_runs([exp.experiment_id])) == 3
    assert not list(tmp_path.glob(".mlflow.db.*.tmp"))  # no temporary file left behind


def test_three_search_workers_start_together_on_a_new_optuna_study(tmp_path):
    done = _together(tmp_path, OPTUNA_WORKER)
    assert [p.returncode for p in done] == [0, 0, 0], [p.stderr[-2000:] for p in done]
    import optuna

    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3


def test_a_kill_during_the_first_creation_leaves_a_usable_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "half.py").write_text(HALF_MIGRATION)
    proc = subprocess.Popen([sys.executable, "-u", "half.py", "hang"], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_line(proc, "half-migrated", timeout=120)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    # the next command in that folder works: the killed creation left no mlflow.db behind
    monkeypatch.chdir(tmp_path)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    from experiments.campaign import connect

    client, uri, exp, _ = connect({"experiment": "spikefi-campaigns", "uri": None})
    assert uri == "sqlite:///mlflow.db"
    client.create_run(exp)
    assert len(client.search_runs([exp])) == 1


def test_a_half_migrated_store_is_a_one_line_error_with_the_repair(tmp_path, monkeypatch, capsys):
    (tmp_path / "half.py").write_text(HALF_MIGRATION)
    subprocess.run([sys.executable, "half.py", "direct"], cwd=tmp_path, env=_env(), check=True,
                   capture_output=True, timeout=180)
    monkeypatch.chdir(tmp_path)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    from experiments import campaign as entry

    config = write_campaign_config(tmp_path / "c.yaml", tmp_path / "out")
    assert entry.main(["--config", str(config), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "mlflow.db" in err and "half-created" in err and "holds no runs" in err
    assert "delete it" in err
    assert not (tmp_path / "out").exists()


def test_a_half_created_optuna_store_is_a_one_line_error_with_the_repair(tmp_path):
    import sqlalchemy
    from optuna.storages._rdb import models

    path = tmp_path / "optuna.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    models.BaseModel.metadata.create_all(engine)  # tables, but killed before the version was recorded
    engine.dispose()
    from spikefi.errors import ConfigError
    from spikefi.search.study import open_storage

    with pytest.raises(ConfigError, match=r"half-created.*holds no studies.*delete it"):
        open_storage(f"sqlite:///{path}")
