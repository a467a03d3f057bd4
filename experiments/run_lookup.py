"""Which MLflow run a campaign continues, and whether a run's process is still alive.

Run kinds and tags, config hashing (a campaign's identity), liveness of RUNNING runs
(owner process on this machine, heartbeat elsewhere), marking stale runs, the choice of
the run to resume, and the small helpers every entry point shares (``say``, signals,
exit codes).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from analysis.schema import (  # noqa: F401 - run kinds, re-exported for the tracked-campaign modules
    KIND_CAMPAIGN,
    KIND_LAUNCHER,
    KIND_SHARD,
    KIND_SHARDED,
    KIND_SWEEP,
    TAG_PREFIX,
)
from spikefi.campaign import CampaignSpec, ExecutorLostError
from spikefi.errors import ConfigError, SpikeFIError

from .config import config_hash
from .signals import Terminated, install_signal_handlers  # noqa: F401 - re-exported (campaign_run, tracked_campaign)
from .tracking import process_identity, process_state

DEFAULT_STALE_AFTER_S = 1800.0

T = TAG_PREFIX


class TrackingLostError(SpikeFIError, ConnectionError):
    """The tracking server failed mid-campaign; results are complete in the local folder."""



def say(message: str) -> None:
    """A progress line on stdout, written through tqdm so that it never cuts a progress bar."""
    from tqdm import tqdm

    tqdm.write(f"[spikefi] {message}", file=sys.stdout)
    sys.stdout.flush()


# -- hashing --------------------------------------------------------------------------------
def network_file(network: Mapping[str, Any]) -> Path:
    """The file a spec's ``pretrained``, ``path`` or ``nir`` network section names."""
    from spikefi.zoo import pretrained_path

    if "pretrained" in network:
        return Path(pretrained_path(network["pretrained"]))
    return Path(network["nir"] if "nir" in network else network["path"])


def network_digest(network: Mapping[str, Any]) -> str:
    """sha256 (16 hex) of the network file a spec names (pretrained, path or nir); for a factory
    network, of the factory, its module's source and the weights file."""

    if "factory" in network:
        from spikefi.campaign.factory import factory_digest

        return factory_digest(network)
    path = network_file(network)
    if not path.is_file():
        raise ConfigError(f"network file not found: {str(path)!r}")
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def hashed_spec(spec: CampaignSpec) -> dict[str, Any]:
    """What the config hash covers: the spec without its name and chunk size, plus the
    network file's digest (results never depend on chunking; a renamed campaign is the same)."""
    data = spec.to_dict()
    data.pop("name", None)
    data["options"].pop("chunk_size", None)
    data["network_sha256"] = network_digest(spec.network)
    return data


def campaign_hash(spec: CampaignSpec) -> str:
    return config_hash(hashed_spec(spec))


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): data}


# -- run lookup -----------------------------------------------------------------------------
def run_liveness(run: Any, stale_after_s: float = DEFAULT_STALE_AFTER_S, now: float | None = None) -> str:
    """'alive', 'dead' or 'unknown' for a RUNNING run that records its owner process."""
    tags = run.data.tags
    owner = tags.get(T + "process")
    if not owner:
        return "unknown"
    state = process_state(owner)
    if state is not None:
        return "alive" if state else "dead"
    beat = float(tags.get(T + "heartbeat", run.info.start_time / 1000))
    interval = float(tags.get(T + "heartbeat_interval_s", 0) or 0)
    age = (now or time.time()) - beat
    return "dead" if age > max(stale_after_s, 3 * interval) else "alive"


def mark_stale_runs(client: MlflowClient, experiment_ids: Sequence[str],
                    stale_after_s: float = DEFAULT_STALE_AFTER_S) -> list[tuple[str, str]]:
    """Marks RUNNING spikefi runs whose process is gone as KILLED, with the reason in the
    ``spikefi.status_reason`` tag; returns ``[(run id, reason)]``.

    A run's owner is ``host/pid-namespace:pid:start``: on the same machine the process is
    checked directly; elsewhere a run counts as gone when its heartbeat (updated after each
    chunk) is older than ``max(stale_after_s, 3 x the longest chunk so far)``. A sharded
    parent is marked when no shard runs, some shard is unfinished and one was killed or failed.
    """
    marked: list[tuple[str, str]] = []
    if not experiment_ids:
        return marked
    running = client.search_runs(list(experiment_ids), "attributes.status = 'RUNNING'", max_results=5000)
    now = time.time()
    for run in running:
        tags = run.data.tags
        if not tags.get(T + "process") or tags.get(T + "kind") == KIND_SHARDED:
            continue
        if run_liveness(run, stale_after_s, now) != "dead":
            continue
        beat = tags.get(T + "heartbeat")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(beat))) if beat else "never"
        reason = (f"process {tags[T + 'process']} stopped without finishing (killed or crashed); "
                  f"last heartbeat {when} with {tags.get(T + 'rounds_done', '0')}/{tags.get(T + 'rounds_total', '?')} "
                  f"rounds flushed; resume with --resume {run.info.run_id}")
        _terminate(client, run.info.run_id, RunStatus.KILLED, reason)
        marked.append((run.info.run_id, reason))
    for run in running:
        if run.data.tags.get(T + "kind") != KIND_SHARDED:
            continue
        children = client.search_runs(list(experiment_ids), f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
        if any(c.info.status == "RUNNING" and run_liveness(c, stale_after_s, now) == "alive" for c in children):
            continue
        shards = int(run.data.tags.get(T + "shards", "0"))
        finished = {c.data.tags.get(T + "shard_index") for c in children if c.info.status == "FINISHED"}
        missing = [str(i) for i in range(shards) if str(i) not in finished]
        stopped = [c for c in children if c.info.status in ("KILLED", "FAILED")
                   and c.data.tags.get(T + "shard_index") not in finished]
        if not missing or not stopped:  # shards not started yet are awaited, not a kill
            continue
        reason = (f"shard(s) {', '.join(missing)} of {shards} not finished and none running; run them with "
                  f"--shard i/{shards} (they resume and merge into this run)")
        _terminate(client, run.info.run_id, RunStatus.KILLED, reason)
        marked.append((run.info.run_id, reason))
    return marked


def _terminate(client: MlflowClient, run_id: str, status: int, reason: str) -> None:
    client.set_tag(run_id, T + "status_reason", reason[:5000])
    client.set_terminated(run_id, RunStatus.to_string(status))


def _describe_owner(run: Any) -> str:
    tags = run.data.tags
    return f"process {tags.get(T + 'process', '?')}, heartbeat {time.time() - float(tags.get(T + 'heartbeat', 0)):.0f} s ago"


def select_run(client: MlflowClient, experiment_id: str, kind: str, chash: str, resume: str,
               parent_run_id: str | None = None, shard: str | None = None,
               spec_data: Mapping[str, Any] | None = None) -> Any:
    """The run to continue, or None for a new one.

    ``resume``: a run id, ``"auto"`` (the latest finished run with this config hash, kind,
    parent and shard, which is then skipped as already done; else the latest unfinished one)
    or ``"never"`` (always a new run). Raises :class:`ConfigError` for a run of another campaign or one that is
    still running.
    """
    if resume not in ("auto", "never"):
        try:
            run = client.get_run(resume)
        except MlflowException:
            raise ConfigError(f"--resume {resume}: no such run in the tracking store") from None
        if run.info.lifecycle_stage != "active":
            raise ConfigError(f"--resume {resume}: the run is deleted")
        got_kind = run.data.tags.get(T + "kind")
        if got_kind != kind:
            hint = {KIND_SWEEP: "experiments.sweep", KIND_SHARDED: "--shard i/n (its shards resume themselves)",
                    KIND_SHARD: "--shard " + run.data.tags.get(T + "shard", "i/n")}.get(got_kind or "", "")
            raise ConfigError(f"--resume {resume}: that run is a {got_kind or 'non-spikefi'} run, not a {kind} run"
                              + (f"; use {hint}" if hint else ""))
        other = run.data.tags.get(T + "config_hash")
        if other != chash:
            raise ConfigError(f"--resume {resume}: that run belongs to another campaign "
                              f"({run.data.tags.get('mlflow.runName', '?')!r}, config hash {other}); this config hashes to "
                              f"{chash}" + _spec_diff(client, resume, spec_data))
        if shard is not None and run.data.tags.get(T + "shard") != shard:
            raise ConfigError(f"--resume {resume}: that run is shard {run.data.tags.get(T + 'shard')}, not {shard}")
        if run.info.status == "RUNNING" and run_liveness(run) == "alive" \
                and run.data.tags.get(T + "process") != process_identity():
            raise ConfigError(f"--resume {resume}: the run is still running ({_describe_owner(run)})")
        return run
    if resume == "never":
        return None
    query = f"tags.`{T}config_hash` = '{chash}' and tags.`{T}kind` = '{kind}'"
    if parent_run_id:
        query += f" and tags.`mlflow.parentRunId` = '{parent_run_id}'"
    if shard is not None:
        query += f" and tags.`{T}shard` = '{shard}'"
    runs = client.search_runs([experiment_id], query, order_by=["attributes.start_time DESC"], max_results=200)
    if not parent_run_id:
        runs = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    live = [r for r in runs if r.info.status == "RUNNING" and run_liveness(r) == "alive"]
    if live:
        raise ConfigError(f"this campaign is already running as run {live[0].info.run_id} ({_describe_owner(live[0])}); "
                          "wait for it, or pass --resume never to start a separate run")
    finished = [r for r in runs if r.info.status == "FINISHED"]
    if finished:  # done already (also when a kill came right after FINISHED): never computed twice
        return finished[0]
    unfinished = [r for r in runs if r.info.status != "FINISHED"]
    return unfinished[0] if unfinished else None


def _spec_diff(client: MlflowClient, run_id: str, spec_data: Mapping[str, Any] | None) -> str:
    if spec_data is None:
        return ""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, "campaign/hashed_spec.json", tmp)
            theirs = _flatten(json.loads(Path(path).read_text()))
    except (MlflowException, OSError, ValueError):
        return ""
    ours = _flatten(json.loads(json.dumps(spec_data, default=str)))
    keys = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    if not keys:
        return ""
    shown = "; ".join(f"{k}: run has {theirs.get(k)!r}, config has {ours.get(k)!r}" for k in keys[:5])
    return f" (differences: {shown}{'; ...' if len(keys) > 5 else ''})"


def point_launcher(client: MlflowClient, launcher_run_id: str, target: str) -> None:
    """Tags the run ``mlflow run`` created as a launcher whose results live in ``target``."""
    try:
        client.log_batch(launcher_run_id, tags=[
            RunTag(T + "kind", KIND_LAUNCHER), RunTag(T + "launched_run", target),
            RunTag("mlflow.note.content", f"Launcher created by `mlflow run`; it holds no results. "
                                          f"The campaign's results are in run {target}."),
        ])
    except MlflowException as exc:
        say(f"WARNING: could not tag the launcher run {launcher_run_id}: {exc}")


#: exit codes of the entry points (besides 0 done, 130/143 interrupted or terminated)
EXIT_FAILED, EXIT_TRACKING_LOST, EXIT_EXECUTOR_LOST = 2, 3, 4


def exit_code_for(exc: BaseException) -> int:
    """2: bad input or a failed run; 3: the tracking server failed mid-run (results kept
    locally); 4: the Ray executor lost the driver's node, the head or every worker (the run is
    marked FAILED with the reason; the same command resumes it)."""
    if isinstance(exc, TrackingLostError):
        return EXIT_TRACKING_LOST
    if isinstance(exc, ExecutorLostError):
        return EXIT_EXECUTOR_LOST
    return EXIT_FAILED
