"""Sharded campaigns (``--shard i/n``: Slurm arrays, Kubernetes Indexed Jobs): the parent
run, converging duplicate parents, and merging the finished shards' tables into it.

Each shard is an ordinary tracked campaign and writes its chunks through its sink
(:class:`~experiments.mlflow_sink.MlflowSink`). The merge writes no chunks: it reads the
finished shards' tables and publishes the parent's result with
:func:`~experiments.chunk_flush.publish_finished`, the step ``MlflowSink.finish`` takes too. It
keeps its own ``MlflowClient`` calls rather than going through a
:class:`~experiments.sink.CampaignSink`: a sharded parent exists only in MLflow (the local sink
refuses ``--shard``), it is found and converged by search across runs, and it ends differently
(status reason ``merged``, the ``merged_from`` tag that makes a second merge a no-op, no
offline fallback).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from analysis.schema import (
    TAG_ARTIFACT_SCHEMA,
    TAG_CONFIG_HASH,
    TAG_ROUND_METRICS,
    TAG_SHARDS,
    TAG_STATUS_REASON,
)
from spikefi.campaign import CampaignResult, CampaignSpec
from spikefi.errors import ConfigError

from . import artifacts as art
from .chunk_flush import (
    THROUGHPUT_METRIC,
    golden_metrics,
    log_missing_round_metrics,
    publish_finished,
    with_result,
)
from .round_metrics import mode_label, parse_round_metrics, selected_rounds
from .run_lookup import KIND_SHARD, KIND_SHARDED, T, say
from .tracking import common_tags


# -- shards ---------------------------------------------------------------------------------
def find_or_create_shard_parent(client: MlflowClient, experiment_id: str, spec: CampaignSpec, chash: str,
                                count: int, parent_run_id: str | None = None) -> str:
    """The parent run of a sharded campaign: given, found by config hash and shard count, or
    created. Two shards creating it at once converge on the earliest one (the other is deleted)."""
    if parent_run_id:
        run = client.get_run(parent_run_id)
        if run.data.tags.get(T + "kind") != KIND_SHARDED or run.data.tags.get(T + "config_hash") != chash:
            raise ConfigError(f"--parent {parent_run_id} is not the parent of this sharded campaign "
                              f"(kind {run.data.tags.get(T + 'kind')}, config hash {run.data.tags.get(T + 'config_hash')}, "
                              f"expected {chash})")
        return parent_run_id
    query = f"tags.`{T}config_hash` = '{chash}' and tags.`{T}kind` = '{KIND_SHARDED}' and tags.`{T}shards` = '{count}'"

    def search() -> list[Any]:
        runs = client.search_runs([experiment_id], query, max_results=100)
        return sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))

    runs = search()
    if runs:
        return runs[0].info.run_id
    tags = {"mlflow.runName": spec.name, **common_tags(KIND_SHARDED, **{
        TAG_CONFIG_HASH: chash, TAG_SHARDS: count, TAG_ARTIFACT_SCHEMA: art.ARTIFACT_SCHEMA_VERSION,
        TAG_STATUS_REASON: "shards running"})}
    mine = client.create_run(experiment_id, tags=tags, run_name=spec.name).info.run_id
    runs = search()
    winner = runs[0].info.run_id if runs else mine
    if winner != mine:
        client.delete_run(mine)
    return winner


def _converge_parents(client: MlflowClient, parent: Any) -> str:
    """The canonical parent of a sharded campaign: the earliest (start time, run id) of the
    parents with its config hash and shard count. Shards of any other such parent (two
    machines that created one each before seeing the other's) move to it, and the other
    parents, which hold no results yet, are deleted."""
    tags = parent.data.tags
    query = (f"tags.`{T}config_hash` = '{tags[T + 'config_hash']}' and tags.`{T}kind` = '{KIND_SHARDED}' "
             f"and tags.`{T}shards` = '{tags[T + 'shards']}'")
    parents = sorted(client.search_runs([parent.info.experiment_id], query, max_results=100),
                     key=lambda r: (r.info.start_time, r.info.run_id))
    if not parents:
        return parent.info.run_id
    canonical = parents[0].info.run_id  # also when the given parent was deleted by another shard
    for other in parents[1:]:
        if other.info.status == "FINISHED":
            continue
        moved = client.search_runs([parent.info.experiment_id],
                                   f"tags.`mlflow.parentRunId` = '{other.info.run_id}'", max_results=1000)
        for child in moved:
            client.set_tag(child.info.run_id, "mlflow.parentRunId", canonical)
        client.delete_run(other.info.run_id)
        say(f"moved {len(moved)} shard run(s) from duplicate parent {other.info.run_id} to {canonical}")
    return canonical


def merge_shards(client: MlflowClient, parent_run_id: str, output_dir: str | Path,
                 track: Callable[[str, Callable[[], Any]], Any] | None = None,
                 merger_run_id: str | None = None) -> dict[str, Any] | None:
    """Merges the finished shards' tables into the parent (idempotent); None while shards are
    missing, or when ``merger_run_id`` (a shard that just finished) is not the shard that
    finished last — so of several shards finishing at once exactly one merges."""
    track = track or (lambda what, fn: fn())
    try:
        parent = client.get_run(parent_run_id)
    except MlflowException:
        raise ConfigError(f"--merge {parent_run_id}: no such run in the tracking store") from None
    if parent.data.tags.get(T + "kind") != KIND_SHARDED or not parent.data.tags.get(T + "shards", "").isdigit():
        raise ConfigError(f"--merge {parent_run_id}: that run is a {parent.data.tags.get(T + 'kind') or 'non-spikefi'} "
                          "run, not the parent of a sharded campaign")
    count = int(parent.data.tags[T + "shards"])
    parent_run_id = _converge_parents(client, parent)
    parent = client.get_run(parent_run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_run_id}' "
                                  f"and tags.`{T}kind` = '{KIND_SHARD}'", max_results=1000)
    finished: dict[int, Any] = {}
    for c in sorted(children, key=lambda r: r.info.start_time):
        if c.info.status == "FINISHED":
            finished[int(c.data.tags[T + "shard_index"])] = c
    if sorted(finished) != list(range(count)):
        return None
    last = max(finished.values(), key=lambda r: (r.info.end_time or 0, r.info.run_id))
    if merger_run_id is not None and last.info.run_id != merger_run_id:
        return None
    sources = ",".join(finished[i].info.run_id for i in range(count))
    if parent.info.status == "FINISHED" and parent.data.tags.get(T + "merged_from") == sources:
        say(f"parent run {parent_run_id} already holds the merge of these shards")
        return {"run_id": parent_run_id, "status": "FINISHED", "local_dir": parent.data.tags.get(T + "local_dir")}
    root = Path(output_dir) / parent_run_id
    tables, metas = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            res = art.load_run_result(finished[i].info.run_id, client, Path(tmp) / str(i))
            tables.append(res.table)
            metas.append(res.meta)
        for sub in ("campaign", "golden"):
            got = client.download_artifacts(finished[0].info.run_id, sub, tmp)
            shutil.copytree(got, root / sub, dirs_exist_ok=True)
    table = pd.concat(tables, ignore_index=True).sort_values("round_id", kind="stable").reset_index(drop=True)
    total = int(metas[0]["campaign_rounds"])
    if table["round_id"].duplicated().any() or len(table) != total:
        raise RuntimeError(f"shards of {parent_run_id} hold {len(table)} rounds (duplicates: "
                           f"{int(table['round_id'].duplicated().sum())}), expected {total}")
    meta = dict(metas[0])
    compute_s = float(sum(m["compute_seconds"] for m in metas))
    meta.update(rounds=total, shard=None, shards=count, compute_seconds=compute_s, seconds=compute_s,
                shard_runs={str(i): finished[i].info.run_id for i in range(count)})
    result = CampaignResult(table, meta)
    summary = art.write_results(root, result)
    skipped = art.write_plots(root, table, meta.get("layers"))
    art.write_manifest(root, KIND_SHARDED, run_id=parent_run_id, config_hash=meta["config_hash"],
                       shard_runs=meta["shard_runs"], skipped_plots=skipped)
    for sub in ("campaign", "golden"):
        track(f"uploading {sub}/", lambda sub=sub: client.log_artifacts(parent_run_id, str(root / sub), sub))
    if not parent.data.params:
        params = {"campaign": meta["name"], "config_hash": meta["config_hash"], "shards": count, "rounds": total,
                  "dataset.samples": meta["samples"], "engine": meta["engine"], "seed": meta["seed"],
                  "device": meta["device"], "dtype": meta["dtype"]}
        first = finished[0].data.params
        params.update({k: v for k, v in first.items() if k not in ("shard", "rounds", "n_faults")})
        params["rounds"] = total
        track("logging params", lambda: client.log_batch(parent_run_id, params=[Param(k, str(v)[:6000])
                                                                                 for k, v in params.items()]))
    now = int(time.time() * 1000)
    golden = [Metric(k, v, now, 0) for k, v in golden_metrics(meta["golden"]).items()
              if k not in parent.data.metrics]
    track("logging golden metrics", lambda: client.log_batch(parent_run_id, metrics=golden))
    parent = client.get_run(parent_run_id)
    if not parent.inputs.dataset_inputs and finished[0].inputs.dataset_inputs:
        track("logging the dataset input", lambda: client.log_inputs(parent_run_id, finished[0].inputs.dataset_inputs))
    rows = {int(r["round_id"]): r for r in table.to_dict("records")}
    # the parent follows its shards' round_metrics mode, capped over all rounds
    mode = parse_round_metrics(finished[0].data.tags.get(TAG_ROUND_METRICS, "all"))
    track("tagging", lambda: client.set_tag(parent_run_id, TAG_ROUND_METRICS, mode_label(mode)))
    log_missing_round_metrics(client, parent_run_id, rows, track, selected_rounds(rows, mode))
    wall = max(float(c.data.metrics.get("duration_s", 0.0)) for c in finished.values())
    extra = {"compute_s": compute_s, "duration_s": wall,
             THROUGHPUT_METRIC: total * int(meta["samples"]) / compute_s if compute_s > 0 else 0.0}
    note = finished[0].data.tags.get("mlflow.note.content")
    publish_finished(client, parent_run_id, root, summary, extra, table, mode,
                     with_result(note, summary) if note else None, track)
    client.log_batch(parent_run_id, tags=[RunTag(T + "status_reason", "merged"), RunTag(T + "merged_from", sources),
                                          RunTag(T + "local_dir", str(root.resolve()))])
    client.set_terminated(parent_run_id, "FINISHED")
    say(f"merged {count} shards into run {parent_run_id}: {total} rounds, critical-fault rate "
        f"{summary['critical_fault_rate']:.4f}; files in {root}")
    return {"run_id": parent_run_id, "summary": summary, "local_dir": str(root), "table": table}
