"""The artifact layout of campaign runs (versioned; documented in docs/mlflow.md).

Every campaign run writes the same tree into a local folder
``<output_dir>/<run id>/`` and into the run's artifacts:

```
manifest.json                  artifact schema version, run kind, file list
campaign/spec.yaml             the CampaignSpec (re-runnable: CampaignSpec.from_yaml)
campaign/config.yaml           the experiment config after --set overrides
golden/baseline.json           golden accuracy, loss, ties, spike counts, firing rates
golden/model/<name>.pt|.yaml   the golden network (plain-data checkpoint + SLAYER yaml)
progress/chunks/rounds-<first>-<last>.parquet   rows of each finished chunk (resume)
results/rounds.parquet|.csv    the per-fault table, one row per round (merged for shards; CSV up to 100,000)
results/meta.json              CampaignResult metadata
results/summary.json           summary statistics under the run's metric names (crit_rate, crit_ci_low, ...)
spikes/per_layer.parquet|.csv  spike statistics per layer (golden and under faults)
plots/*.png                    critical faults per layer, site heatmaps, accuracy vs parameter
```

A sweep parent holds ``manifest.json``, ``sweep/config.yaml`` and ``sweep/campaigns.csv``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.schema import metrics_from_summary
from spikefi.campaign import CampaignResult
from spikefi.errors import ConfigError
from spikefi.jsonutil import json_default

__all__ = [
    "ARTIFACT_SCHEMA_VERSION", "CHUNKS_DIR", "write_chunk", "read_chunk", "check_chunk", "rows_digest",
    "chunk_name", "write_manifest",
    "spike_statistics", "write_results", "write_plots", "load_run_result", "json_default",
]

#: bump when the layout or a file's columns change incompatibly
ARTIFACT_SCHEMA_VERSION = 1
CHUNKS_DIR = "progress/chunks"




def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, json.dumps(data, indent=2, default=json_default).encode())
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- chunks ---------------------------------------------------------------------------------
def chunk_name(round_ids: list[int]) -> str:
    return f"rounds-{min(round_ids):06d}-{max(round_ids):06d}.parquet"


#: how ``write_chunk`` computes ``rows_sha256`` (recorded as ``rows_digest`` in the chunk's
#: metadata; chunks without it were written with version 1 and are still checked with it)
ROWS_DIGEST_VERSION = 2


def rows_digest(table: pa.Table, version: int = ROWS_DIGEST_VERSION) -> str:
    """sha256 of a chunk's rows (values and column names, in row order; not the file's bytes,
    which depend on the Parquet writer). Version 1 serializes row by row (a JSON object per
    row, keys sorted); version 2, the same information column by column (columns sorted by
    name), about 4x faster at 2,048 rows."""
    if version == 1:
        text = json.dumps(table.to_pylist(), sort_keys=True, default=json_default, allow_nan=True)
    else:
        text = json.dumps([[name, table.column(name).to_pylist()] for name in sorted(table.column_names)],
                          default=json_default, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def write_chunk(directory: Path, rows: list[dict[str, Any]], info: Mapping[str, Any]) -> Path:
    """Writes a chunk's rows atomically (fsync + rename); ``info`` and the rows' sha256
    (``rows_sha256``, checked before any reuse) go to the file metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / chunk_name([int(r["round_id"]) for r in rows])
    table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"spikefi.chunk"] = json.dumps({**dict(info), "rows_sha256": rows_digest(table),
                                         "rows_digest": ROWS_DIGEST_VERSION}, default=json_default).encode()
    table = table.replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    _atomic_write(path, sink.getvalue().to_pybytes())
    return path


def check_chunk(path: Path) -> tuple[tuple[pd.DataFrame, dict[str, Any]] | None, str]:
    """``((rows, info), "")`` for a sound chunk file, else ``(None, what is wrong)``: missing,
    not Parquet (a torn write), corrupt embedded JSON, no checksum, or rows that do not match
    their checksum (changed after they were written)."""
    if not Path(path).is_file():
        return None, "missing"
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        return None, f"not a readable Parquet file ({type(exc).__name__}; a torn write?)"
    raw = (table.schema.metadata or {}).get(b"spikefi.chunk")
    if raw is None:
        return None, "no spikefi chunk metadata"
    try:
        info = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"its embedded JSON is corrupt ({exc})"
    if not isinstance(info, dict) or not isinstance(info.get("rows_sha256"), str):
        return None, "it holds no rows checksum (written by an older spikefi)"
    version = info.get("rows_digest", 1)
    if version not in (1, ROWS_DIGEST_VERSION):
        return None, f"its rows checksum is of an unknown kind ({version!r}, written by a newer spikefi)"
    if rows_digest(table, version) != info["rows_sha256"]:
        return None, "its rows do not match their sha256 checksum (changed after they were written)"
    return (table.to_pandas(), info), ""


def read_chunk(path: Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """``(rows, info)`` of a sound chunk file, or None when it must not be reused (see :func:`check_chunk`)."""
    return check_chunk(path)[0]


# -- final artifacts ------------------------------------------------------------------------
def write_manifest(root: Path, kind: str, **extra: Any) -> Path:
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                   if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")
                   and not str(p.relative_to(root)).startswith("progress/"))
    return write_json(root / "manifest.json", {"artifact_schema_version": ARTIFACT_SCHEMA_VERSION, "kind": kind,
                                              "files": files, **extra})


def spike_statistics(table: pd.DataFrame, meta: Mapping[str, Any]) -> pd.DataFrame:
    """Spike statistics per layer: golden counts and rates, and under faults (per round)."""
    golden = meta["golden"]
    samples = int(meta["samples"])
    steps = None
    rows = []
    for layer, info in meta["layers"].items():
        neurons = int(np.prod(info["neuron_shape"]))
        g_count = int(golden["spike_counts"][layer])
        g_rate = float(golden["firing_rates"][layer])
        if steps is None and g_rate > 0:
            steps = g_count / (g_rate * samples * neurons)
        col = table[f"spikes.{layer}"].to_numpy(dtype=float) if f"spikes.{layer}" in table else np.array([np.nan])
        rows.append({
            "layer": layer, "kind": info["kind"], "neurons": neurons,
            "golden_spikes": g_count, "golden_firing_rate": g_rate,
            "faulty_spikes_mean": float(np.mean(col)), "faulty_spikes_min": float(np.min(col)),
            "faulty_spikes_max": float(np.max(col)),
            "relative_change_mean": float((np.mean(col) - g_count) / g_count) if g_count else float("nan"),
            "rounds_changed": int((col != g_count).sum()),
            "rounds_first_divergent_here": int((table.get("first_divergent_layer", pd.Series(dtype=str)) == layer).sum()),
        })
    stats = pd.DataFrame(rows)
    if steps:
        stats["faulty_firing_rate_mean"] = stats["faulty_spikes_mean"] / (samples * stats["neurons"] * steps)
    return stats


def write_results(root: Path, result: CampaignResult) -> dict[str, Any]:
    """``results/`` (table, meta, summary) and ``spikes/`` under ``root``; returns the summary."""
    result.save(root / "results")
    summary = result.summary()
    write_json(root / "results" / "summary.json", metrics_from_summary(summary))
    spikes = spike_statistics(result.table, result.meta)
    (root / "spikes").mkdir(parents=True, exist_ok=True)
    spikes.to_parquet(root / "spikes" / "per_layer.parquet", index=False)
    spikes.to_csv(root / "spikes" / "per_layer.csv", index=False)
    return summary


def write_plots(root: Path, table: pd.DataFrame, layers: Mapping[str, Any] | None = None) -> list[str]:
    """The standard figures of a campaign table into ``root/plots``; returns notes on skipped ones.

    ``layers`` is ``meta["layers"]`` (neuron shapes: dense layers are drawn one cell per
    neuron); the per-site heat maps are :func:`spikefi.plots.site_heatmaps`, as in the report."""
    from spikefi import plots

    out = root / "plots"
    out.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    figures: dict[str, Any] = {}

    def attempt(name: str, make: Any) -> None:
        try:
            figures[name] = make()
        except ConfigError as exc:
            skipped.append(f"{name}: {exc}")

    attempt("critical_faults_per_layer.png", lambda: plots.critical_faults_per_layer(table))
    shapes = {name: info["neuron_shape"] for name, info in (layers or {}).items() if info.get("neuron_shape")}
    try:
        for name, _caption, fig in plots.site_heatmaps(table, shapes) if len(table) else []:
            figures[f"{name}.png"] = fig
    except ConfigError as exc:
        skipped.append(f"site heat maps: {exc}")
    with_param = table[table["param"].notna()] if len(table) else table
    for model in dict.fromkeys(with_param["model"]) if len(with_param) else []:
        name = "accuracy_vs_parameter.png" if with_param["model"].nunique() == 1 else f"accuracy_vs_parameter_{model}.png"
        attempt(name, lambda model=model: plots.accuracy_vs_parameter(with_param, model=model))
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
    return skipped


def load_run_result(run_id: str, client: Any = None, dst: str | Path | None = None) -> CampaignResult:
    """The :class:`CampaignResult` of a finished campaign (or sharded parent) run."""
    from mlflow.tracking import MlflowClient

    client = client or MlflowClient()
    dst = Path(dst or tempfile.mkdtemp(prefix="spikefi-run-"))
    local = client.download_artifacts(run_id, "results", str(dst))
    return CampaignResult.load(local)
