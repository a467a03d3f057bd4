"""Everything MLflow: where runs go, reachability, process liveness and small helpers.

The default store is a local sqlite database ``mlflow.db`` in the working directory
(``MLFLOW_TRACKING_URI`` overrides it), so ``mlflow ui --backend-store-uri
sqlite:///mlflow.db`` shows the runs.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import mlflow

import spikefi
from analysis.schema import TAG_GIT_COMMIT, TAG_KIND, TAG_VERSION
from spikefi.errors import SpikeFIError
from spikefi.utils.process import process_start_ticks

from .config import DEFAULT_EXPERIMENT

__all__ = [
    "DEFAULT_TRACKING_URI", "DEFAULT_EXPERIMENT", "EXPERIMENT_KIND_TAG", "EXPERIMENT_KIND", "ensure_experiment",
    "mark_experiment_kind", "TrackingUnavailableError", "BrokenStoreError", "prepare_store", "setup_tracking", "resolve_tracking_uri", "probe_tracking",
    "common_tags", "git_commit", "process_identity", "process_state", "where_line",
]

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
#: experiment tag that makes the MLflow UI open the classic runs view (not the GenAI one)
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


class TrackingUnavailableError(SpikeFIError, ConnectionError):
    """The MLflow tracking server cannot be reached."""


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


class BrokenStoreError(SpikeFIError, RuntimeError):
    """A local sqlite tracking store that cannot be used as it is (half-created, other schema)."""


def _create_sqlite_store(tmp: Path) -> None:
    """A complete, empty MLflow sqlite store (tables, migrations, Default experiment) in ``tmp``,
    with the artifact root MLflow itself would give it."""
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    root = os.environ.get("_MLFLOW_SERVER_ARTIFACT_ROOT") or DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    tmp_uri = f"sqlite:///{tmp}"
    store = SqlAlchemyStore(tmp_uri, root)
    store.engine.dispose()
    SqlAlchemyStore._engine_map.pop(tmp_uri, None)


def prepare_store(uri: str) -> None:
    """Makes first use of a local sqlite store safe and refuses a broken one.

    A missing store is created completely under an inter-process lock in a temporary file,
    then renamed into place (:func:`spikefi.sqlite_store.create_once`): processes starting
    together on a new folder, or one killed while creating the store, leave either no store
    or a complete one. A hot rollback journal that a process killed during a write left beside
    the store is rolled back first (:func:`spikefi.sqlite_store.recover_journal`): the store
    and all its runs stay usable. An existing store whose schema version is not this MLflow's
    is a one-line :class:`BrokenStoreError` naming the repair. Other URIs are left alone.
    """
    from spikefi.sqlite_store import create_once, schema_state, sqlite_file

    path = sqlite_file(uri)
    if path is None:
        return
    create_once(path, _create_sqlite_store)
    try:
        from mlflow.store.db.utils import _get_latest_schema_revision

        head = _get_latest_schema_revision()
    except Exception:  # noqa: BLE001 - another MLflow layout: MLflow's own checks apply
        return
    try:
        version, runs, _ = schema_state(path, "alembic_version", "runs")
    except Exception as exc:  # noqa: BLE001 - not a database at all
        raise BrokenStoreError(f"the MLflow store {path} is not a readable sqlite database ({exc}); move it aside "
                               f"(mv {path} {path}.broken) and run again") from None
    if version == head:
        return
    if not runs:
        raise BrokenStoreError(
            f"the MLflow store {path} was left half-created (schema version {version or 'none'}, this MLflow needs "
            f"{head}), most likely by a process killed while creating it; it holds no runs: delete it (rm {path}) "
            "and run again")
    raise BrokenStoreError(
        f"the MLflow store {path} holds {runs} run(s) at schema version {version or 'none'}, this MLflow needs "
        f"{head}: back it up, then run `mlflow db upgrade sqlite:///{path}` (if that fails, keep the backup and "
        "use a new store: MLFLOW_TRACKING_URI=sqlite:///other.db)")


def probe_tracking(uri: str, timeout: float = 5.0) -> None:
    """Raises :class:`TrackingUnavailableError` when an http(s) tracking server does not answer,
    and prepares a local sqlite store (:func:`prepare_store`: safe first use, broken stores refused).

    Any HTTP answer (even an error status) counts as reachable; only a refused or timed-out
    connection does not.
    """
    if not uri.startswith(("http://", "https://")):
        prepare_store(uri)
        return
    import requests

    url = uri.rstrip("/") + "/api/2.0/mlflow/experiments/get-by-name"
    try:
        requests.get(url, params={"experiment_name": "Default"}, timeout=timeout)
    except requests.RequestException as exc:
        raise TrackingUnavailableError(
            f"the MLflow tracking server at {uri} is not reachable ({type(exc).__name__}); "
            "start it or point MLFLOW_TRACKING_URI elsewhere (nothing was run)"
        ) from None


def setup_tracking(experiment: str, tracking_uri: str | None = None) -> str:
    """Selects the tracking store and experiment; returns the tracking URI used.

    Under ``mlflow run`` (``MLFLOW_RUN_ID`` set) the experiment is the one of the run ``mlflow
    run`` created, whatever ``experiment`` says, so that the fluent API continues that run."""
    uri = resolve_tracking_uri(tracking_uri)
    probe_tracking(uri)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    launcher = os.environ.get("MLFLOW_RUN_ID")
    if launcher:
        experiment_id = client.get_run(launcher).info.experiment_id
        mark_experiment_kind(client, experiment_id)
    else:
        experiment_id = ensure_experiment(client, experiment)
    mlflow.set_experiment(experiment_id=experiment_id)
    return uri


def ensure_experiment(client: Any, name: str) -> str:
    """The id of experiment ``name``, created when missing (also by a concurrent process) with
    the tag ``mlflow.experimentKind = custom_model_development``, so that the MLflow UI opens
    it in the classic runs view; an existing experiment without that tag gets it."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        except MlflowException:
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    mark_experiment_kind(client, exp.experiment_id)
    return exp.experiment_id


def mark_experiment_kind(client: Any, experiment_id: str) -> None:
    """Tags an experiment ``mlflow.experimentKind = custom_model_development`` unless it has a
    kind already (e.g. the experiment ``mlflow run`` logs into)."""
    exp = client.get_experiment(experiment_id)
    if EXPERIMENT_KIND_TAG not in (exp.tags or {}):
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)


#: the URL parameter that opens MLflow 3's classic runs view of an experiment (MLflow 3.x with
#: the GenAI / model-training switch opens GenAI otherwise, whatever the experiment's kind tag)
CLASSIC_VIEW = "workflowType=machine_learning"


def experiment_link(uri: str, experiment_id: str) -> str:
    """The UI address of an experiment's runs table (classic view) on a server, or on a local
    ``mlflow ui`` at its default address."""
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{experiment_id}?{CLASSIC_VIEW}"


def where_line(uri: str, run_id: str | None = None, experiment_id: str | None = None) -> str:
    """``MLflow [run ID]: URI`` plus how to view a local store and the experiment's address
    (printed by entry points)."""
    head = f"MLflow run {run_id}: {uri}" if run_id else f"MLflow: {uri}"
    if not uri.startswith(("http://", "https://")):
        head = f"{head}  (view with: mlflow ui --backend-store-uri {uri})"
    return head + (f"\n  runs table: {experiment_link(uri, experiment_id)}" if experiment_id else "")


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The checkout's commit (read once per process: every run and trial run is tagged with it)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parents[1],
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def common_tags(kind: str, **extra: Any) -> dict[str, str]:
    tags = {TAG_VERSION: spikefi.__version__, TAG_GIT_COMMIT: git_commit(), TAG_KIND: kind}
    tags.update({k: str(v) for k, v in extra.items()})
    return tags


# -- process liveness (stale RUNNING runs) ---------------------------------------------------


def _machine() -> str:
    """Host name plus the PID namespace (containers on one host do not see each other's pids)."""
    try:
        ns = "".join(ch for ch in os.readlink("/proc/self/ns/pid") if ch.isdigit())
    except OSError:
        ns = ""
    return f"{socket.gethostname()}/{ns}"


def process_identity() -> str:
    """``host/pidns:pid:start`` of this process, stored on the runs it owns."""
    return f"{_machine()}:{os.getpid()}:{process_start_ticks(os.getpid())}"


def process_state(identity: str) -> bool | None:
    """True/False whether the process ``identity`` names is alive; None when it runs elsewhere."""
    try:
        host, pid_text, start = identity.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return None
    if host != _machine():
        return None
    if Path("/proc").is_dir():
        ticks = process_start_ticks(pid)
        return bool(ticks) and (not start or ticks == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def now_s() -> float:
    return time.time()
