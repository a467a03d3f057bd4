"""Search workers as Ray tasks: ``python -m experiments.search --executor ray --workers N``.

The driver validates the config and creates the Optuna study (so the workers only join
it), then starts N tasks; task ``i`` is search worker ``--worker base+i`` (its sampler seed
offset by its index), builds its own evaluator on its own device (``cuda`` when it has a
GPU), runs its trials against the shared study and logs them to MLflow itself, exactly as
a ``--worker`` process would. The tracking URI and the study storage must therefore be
reachable from every worker: on one machine any store works (paths are made absolute);
across machines only an RDB storage URL (PostgreSQL, MySQL) does, so a journal file or
sqlite storage is refused with a remote ``--address``.

A task whose worker dies is not re-run by Ray (it would add trials beyond ``trials``): its
RUNNING trials are failed by the next worker on its host, and the driver reports the lost
worker; finished trials stay in the study.

Imports go one way: the command line (:mod:`experiments.search`) -> this module -> the job
(:mod:`experiments.search_job`), which each task runs.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from spikefi.errors import ConfigError

from .search_job import SearchJob, run_job

__all__ = ["run_search_on_ray", "absolute_store", "check_storage_for_cluster"]


def absolute_store(url: str | None) -> str | None:
    """``sqlite:///rel.db`` and ``journal:rel.log`` with absolute paths (workers may run in
    another working directory); other URLs unchanged."""
    if not url:
        return url
    if url.startswith("journal:"):
        return "journal:" + str(Path(url[len("journal:"):]).resolve())
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
        return "sqlite:///" + str(Path(url[len("sqlite:///"):]).resolve())
    return url


def _is_remote(address: str | None, ray: Any) -> bool:
    if address is None:
        return False
    host = address.removeprefix("ray://").rsplit(":", 1)[0]
    if host not in ("auto", "localhost", "127.0.0.1", "::1", os.uname().nodename):
        return True
    return sum(1 for n in ray.nodes() if n.get("Alive")) > 1


def check_storage_for_cluster(storage_url: str, tracking_uri: str | None, address: str | None, ray: Any) -> None:
    """Refuses stores that workers on other machines cannot share."""
    if not _is_remote(address, ray):
        return
    if storage_url.startswith(("journal:", "sqlite:")):
        raise ConfigError(f"study storage {storage_url!r} is a local file: Ray workers on other machines cannot share "
                          "it; set search.study.storage to an RDB URL (postgresql://USER:PASS@HOST/DB or mysql://...)")
    if tracking_uri and (tracking_uri.startswith(("sqlite:", "file:")) or "://" not in tracking_uri):
        raise ConfigError(f"tracking URI {tracking_uri!r} is local to this machine: Ray workers on other machines log "
                          "their trials themselves; point MLFLOW_TRACKING_URI to an `mlflow server` they can reach")


def _search_task(config: dict[str, Any], worker: int, tracking_uri: str | None, experiment_id: str | None,
                 parent_run_id: str | None, use_gpu: bool) -> dict[str, Any]:
    """One search worker (runs inside a Ray task)."""
    import json

    config = copy.deepcopy(config)
    if use_gpu:
        config["search"]["options"]["device"] = "cuda"
    client = None
    if tracking_uri:
        import mlflow
        from mlflow.tracking import MlflowClient

        mlflow.set_tracking_uri(tracking_uri)
        client = MlflowClient(tracking_uri)
    job = SearchJob(config, worker=worker)
    summary = run_job(job, client, experiment_id, None, progress=False, parent_run_id=parent_run_id)
    return json.loads(json.dumps(summary, default=str))


def run_search_on_ray(config: dict[str, Any], executor: Any, worker_base: int, tracking_uri: str | None,
                      experiment_id: str | None) -> list[dict[str, Any]]:
    """Runs ``executor.workers`` search workers as Ray tasks on one study; returns their
    summaries in worker order."""
    config = copy.deepcopy(config)
    s = config["search"]
    out = Path(config["output_dir"]).resolve()
    config["output_dir"] = str(out)
    s["study"]["storage"] = absolute_store(s["study"]["storage"] or f"sqlite:///{out / 'optuna.db'}")
    tracking_uri = absolute_store(tracking_uri)
    ray = executor.connect()
    check_storage_for_cluster(s["study"]["storage"], tracking_uri, executor.address, ray)
    workers = executor.check_resources(ray)
    # the driver validates the whole config and creates the study once, on the CPU; workers join it
    probe = copy.deepcopy(config)
    probe["search"]["options"]["device"] = "cpu"
    SearchJob(probe, worker=worker_base)
    task = ray.remote(_search_task).options(num_gpus=executor.gpus_per_worker, num_cpus=executor.cpus_each,
                                           max_retries=0)
    refs = {task.remote(config, worker_base + i, tracking_uri, experiment_id, None, executor.gpus_per_worker > 0): i
            for i in range(workers)}
    summaries: dict[int, dict[str, Any]] = {}
    errors: list[str] = []
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        index = refs[ready[0]]
        try:
            summaries[index] = ray.get(ready[0])
            print(f"[spikefi] search worker {worker_base + index} done: {summaries[index]['trials_this_worker']} "
                  f"trials", flush=True)
        except Exception as exc:  # noqa: BLE001 - reported together below; finished trials stay in the study
            text = str(getattr(exc, "cause", None) or exc).strip().splitlines()
            errors.append(f"worker {worker_base + index}: {type(exc).__name__}: {text[-1] if text else ''}"[:400])
    if errors:
        from spikefi.campaign.executors.ray import ExecutorError

        raise ExecutorError(f"{len(errors)} of {workers} search worker(s) failed (finished trials are in the study "
                            f"{s['study']['storage']}): " + "; ".join(errors))
    return [summaries[i] for i in sorted(summaries)]
