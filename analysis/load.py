"""Load tracked campaign runs into one tidy pandas frame (one row per fault round per campaign).

Only runs whose ``spikefi.kind`` tag is ``campaign`` or ``sharded-campaign`` hold results that
count (docs/mlflow.md, "Run roles"); shards, launchers, sweeps and reports are left aside.
A sweep parent given as a run id stands for its children. Runs that did not finish or have
no ``results/rounds.parquet`` are skipped and listed in :attr:`LoadedRuns.skipped`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from spikefi.errors import ConfigError

from .schema import (
    CAMPAIGN_PARAM_COLUMNS,
    KIND_SWEEP,
    PARAM_NETWORK_DIGEST,
    RESULT_KINDS,
    RESULTS_META,
    RESULTS_TABLE,
    TAG_KIND,
    TAG_STATUS_REASON,
    summary_from_metrics,
)

__all__ = ["LoadedRuns", "load_runs", "load_results", "RESULT_KINDS"]

_TABLE = RESULTS_TABLE
_META = RESULTS_META
#: run metadata columns added to every row (column -> MLflow param or tag)
_PARAM_COLUMNS = CAMPAIGN_PARAM_COLUMNS


@dataclass
class LoadedRuns:
    """Campaign runs read back from MLflow."""

    #: one row per fault round per campaign run, with run metadata columns in front
    rounds: pd.DataFrame
    #: one row per loaded run: run_id, run_name, network, ..., network_digest (``network.digest``, "" when
    #: not logged), golden_accuracy, samples, rounds, and the
    #: summary metrics the run logged as ``logged.<summary key>`` (``logged.critical_fault_rate``, ...;
    #: read under the legacy metric names in stores written before the renaming)
    runs: pd.DataFrame
    #: result metadata (``results/meta.json``) per run id
    meta: dict[str, dict[str, Any]]
    #: runs left out: dicts with run_id, run_name, status and reason
    skipped: list[dict[str, str]] = field(default_factory=list)
    tracking_uri: str = ""
    experiment_id: str | None = None
    experiment_name: str | None = None


def _client(tracking_uri: str | None):
    from mlflow.tracking import MlflowClient

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    return MlflowClient(uri), uri


def _search(client, experiment_ids: list[str], filter_string: str = "") -> list:
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _children(client, run) -> list:
    return _search(client, [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")


def _select(client, experiment: str | None, run_ids: list[str] | None, parent: str | None):
    """The candidate runs and the experiment they belong to."""
    from mlflow.exceptions import MlflowException

    def get(run_id: str):
        try:
            return client.get_run(run_id)
        except MlflowException:
            raise ConfigError(f"run {run_id!r} does not exist in this tracking store") from None

    exp = None
    if experiment is not None:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            known = sorted(e.name for e in client.search_experiments())
            raise ConfigError(f"experiment {experiment!r} does not exist; known experiments: {known}")
    if parent:
        root = get(parent)
        runs = _children(client, root)
        if not runs:
            raise ConfigError(f"run {parent!r} has no child runs (not a sweep or sharded parent?)")
        exp_id = root.info.experiment_id
    elif run_ids:
        runs = []
        for run_id in run_ids:
            run = get(run_id)
            if run.data.tags.get(TAG_KIND) == KIND_SWEEP:
                runs.extend(_children(client, run))
            else:
                runs.append(run)
        exp_id = runs[0].info.experiment_id if runs else (exp.experiment_id if exp else None)
    elif exp is not None:
        runs = _search(client, [exp.experiment_id])
        exp_id = exp.experiment_id
    else:
        raise ConfigError("nothing selected: give an experiment name, run ids or a parent run")
    return runs, exp_id


def load_runs(
    experiment: str | None = None,
    run_ids: list[str] | None = None,
    parent: str | None = None,
    tracking_uri: str | None = None,
) -> LoadedRuns:
    """Loads the per-round tables of campaign runs.

    Args:
        experiment: MLflow experiment name (all its campaign runs unless ``run_ids`` narrows).
        run_ids: Explicit run ids; a sweep run id stands for its children.
        parent: A sweep parent whose children are loaded.
        tracking_uri: Tracking URI; defaults to ``MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db``.

    Raises:
        ConfigError: The experiment or a run id does not exist, or no selected run holds results.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client, uri = _client(tracking_uri)
    candidates, exp_id = _select(client, experiment, run_ids, parent)
    explicit = bool(run_ids)
    tables, rows, metas, skipped = [], [], {}, []
    seen = set()
    for run in candidates:
        info, tags, params = run.info, run.data.tags, run.data.params
        if info.run_id in seen:
            continue
        seen.add(info.run_id)
        kind = tags.get(TAG_KIND, "")
        name = info.run_name or tags.get("mlflow.runName", "")
        if kind not in RESULT_KINDS:
            if explicit:
                skipped.append({"run_id": info.run_id, "run_name": name, "status": info.status,
                                "reason": f"run kind {kind or 'unknown'!r} holds no campaign results"})
            continue
        if info.status != "FINISHED":
            why = tags.get(TAG_STATUS_REASON, "")
            skipped.append({"run_id": info.run_id, "run_name": name, "status": info.status,
                            "reason": f"status {info.status}" + (f": {why}" if why else "")})
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="spikefi-analysis-") as tmp:
                table = pd.read_parquet(client.download_artifacts(info.run_id, _TABLE, tmp))
                meta = json.loads(Path(client.download_artifacts(info.run_id, _META, tmp)).read_text())
        except Exception as exc:  # noqa: BLE001 - any store error means: no readable results
            skipped.append({"run_id": info.run_id, "run_name": name, "status": info.status,
                            "reason": f"no readable {_TABLE} ({type(exc).__name__})"})
            continue
        if table.empty:
            skipped.append({"run_id": info.run_id, "run_name": name, "status": info.status,
                            "reason": "empty results table (0 rounds)"})
            continue
        run_row = {"run_id": info.run_id, "run_name": name, "kind": kind}
        run_row.update({col: params.get(key, "") for col, key in _PARAM_COLUMNS.items()})
        run_row["network_digest"] = params.get(PARAM_NETWORK_DIGEST, "")
        run_row["golden_health"] = tags.get("spikefi.golden_health", "")
        golden = meta.get("golden", {})
        run_row.update({
            "golden_accuracy": float(golden.get("accuracy", table["golden_accuracy"].iloc[0])),
            "samples": int(meta.get("samples", table["samples"].iloc[0])),
            "rounds": len(table),
            "start_time": info.start_time,
        })
        # the logged summary (metric names of this version or, in older stores, the legacy ones)
        run_row.update({f"logged.{k}": v for k, v in summary_from_metrics(run.data.metrics).items()})
        rows.append(run_row)
        metas[info.run_id] = meta
        front = pd.DataFrame({k: [run_row[k]] * len(table) for k in ("run_id", "run_name", *_PARAM_COLUMNS)})
        tables.append(pd.concat([front, table.drop(columns=[c for c in front.columns if c in table.columns])],
                                axis=1))
    if not tables:
        detail = "; ".join(f"{s['run_id']} ({s['reason']})" for s in skipped) or "no campaign runs"
        raise ConfigError(f"empty selection: no finished campaign run with results ({detail})")
    exp_name = experiment
    if exp_name is None and exp_id is not None:
        exp_name = client.get_experiment(exp_id).name
    runs = pd.DataFrame(rows).sort_values("start_time", kind="stable").reset_index(drop=True)
    order = {run_id: i for i, run_id in enumerate(runs["run_id"])}
    rounds = pd.concat(tables, ignore_index=True)
    rounds = rounds.sort_values(["run_id", "round_id"], key=lambda s: s.map(order) if s.name == "run_id" else s,
                                kind="stable").reset_index(drop=True)
    return LoadedRuns(rounds=rounds, runs=runs, meta=metas, skipped=skipped, tracking_uri=uri,
                      experiment_id=exp_id, experiment_name=exp_name)


def _result_dir(path: Path) -> Path:
    """The folder holding ``meta.json`` + ``rounds.parquet``: ``path`` itself or its ``results/``."""
    if (path / "meta.json").is_file():
        return path
    if (path / "results" / "meta.json").is_file():
        return path / "results"
    raise ConfigError(f"{str(path)!r} holds no campaign result: expected meta.json and rounds.parquet in it or in "
                      "its results/ folder (CampaignResult.save(DIR), or a tracked run's local folder)")


def load_results(directories: list[str | Path]) -> LoadedRuns:
    """Campaign results saved on disk (``CampaignResult.save(DIR)``, or a tracked campaign's
    local folder ``<output_dir>/<run id>``) as :class:`LoadedRuns`, without MLflow.

    Each folder is one campaign; its name is the ``name`` in its metadata, else the folder's
    name. Network and data come from ``campaign/spec.yaml`` next to the results when present.

    Raises:
        ConfigError: A folder does not exist or holds no readable result, or two share a name.
    """
    import yaml

    from spikefi.campaign.result import CampaignResult

    from .describe import network_label

    if not directories:
        raise ConfigError("--from-results needs at least one result folder")
    tables, rows, metas = [], [], {}
    for i, given in enumerate(directories):
        path = Path(given)
        if path.is_file():
            hint = (f" (give its folder: {str(path.parent)!r})" if path.name in ("meta.json", "rounds.parquet")
                    else "")
            raise ConfigError(f"{str(path)!r} is a file, not a result folder: --from-results takes folders holding "
                              f"meta.json and rounds.parquet (CampaignResult.save(DIR), or a tracked run's local "
                              f"folder){hint}")
        if not path.is_dir():
            raise ConfigError(f"result folder {str(path)!r} does not exist")
        folder = _result_dir(path)
        result = CampaignResult.load(folder)
        table, meta = result.table, result.meta
        if table.empty:
            raise ConfigError(f"{str(folder)!r} holds an empty results table (0 rounds)")
        root = folder.parent if folder.name == "results" else folder
        spec: dict[str, Any] = {}
        if (root / "campaign" / "spec.yaml").is_file():
            spec = yaml.safe_load((root / "campaign" / "spec.yaml").read_text()) or {}
        name = str(meta.get("name") or spec.get("name") or root.name)
        run_id = f"local-{i}"
        network = spec.get("network") or meta.get("network") or {}
        run_row = {"run_id": run_id, "run_name": name, "kind": "local",
                   "campaign": name, "network": network_label(network) if network else "",
                   "architecture": "", "config_hash": str(meta.get("config_hash", "")), "network_digest": "",
                   "dataset": str((spec.get("data") or {}).get("name", "")), "sampling": "",
                   "golden_accuracy": float(meta.get("golden", {}).get("accuracy", table["golden_accuracy"].iloc[0])),
                   "samples": int(meta.get("samples", table["samples"].iloc[0])), "rounds": len(table),
                   "start_time": i, "local_dir": str(root)}
        rows.append(run_row)
        metas[run_id] = meta
        front = pd.DataFrame({k: [run_row[k]] * len(table) for k in ("run_id", "run_name", *_PARAM_COLUMNS)})
        tables.append(pd.concat([front, table.drop(columns=[c for c in front.columns if c in table.columns])], axis=1))
    runs = pd.DataFrame(rows)
    if runs["run_name"].duplicated().any():
        dup = sorted(runs.loc[runs["run_name"].duplicated(), "run_name"])
        raise ConfigError(f"several result folders are named {dup}; give each campaign its own name")
    return LoadedRuns(rounds=pd.concat(tables, ignore_index=True), runs=runs, meta=metas,
                      experiment_name="local results")
