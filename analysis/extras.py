"""Search and test-generation runs read back from MLflow for the report.

A search run (``spikefi.kind=search``, experiments.search) holds its best fault sets
(``search/best_faults.csv`` or ``search/pareto_front.csv``) and plots; a test-generation run
(``spikefi.kind=testgen``, experiments.testgen) holds its coverage tables and plots. Runs
that did not finish or lack their tables are skipped with the reason.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from spikefi.errors import ConfigError

from .schema import TAG_KIND

__all__ = ["ToolRun", "load_tool_runs", "SEARCH_FILES", "TESTGEN_FILES"]

#: artifacts a search run's report section uses: (path, required)
SEARCH_FILES = {
    "search/best_faults.csv": False, "search/pareto_front.csv": False, "search/optimization_history.png": False,
    "search/pareto_front.png": False, "search/param_importances.png": False,
}
#: artifacts a test-generation run's report section uses
TESTGEN_FILES = {
    "testgen/coverage_curve.csv": True, "testgen/undetected.csv": False, "testgen/program_inputs.csv": False,
    "plots/coverage_curve.png": False,
}


@dataclass
class ToolRun:
    """One search or test-generation run: its params, metrics, tables and images."""

    run_id: str
    run_name: str
    kind: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)


def load_tool_runs(kind: str, files: dict[str, bool], experiment: str | None = None,
                   run_ids: list[str] | None = None, tracking_uri: str | None = None
                   ) -> tuple[list[ToolRun], list[dict[str, str]]]:
    """Finished runs of ``kind`` (explicit ids, or every one in ``experiment``) with the
    artifacts in ``files``; returns ``(runs, skipped)``.

    Raises:
        ConfigError: an explicit run id does not exist or is of another kind.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    client = MlflowClient(uri)
    if run_ids:
        candidates = []
        for rid in run_ids:
            try:
                run = client.get_run(rid)
            except MlflowException:
                raise ConfigError(f"run {rid!r} does not exist in this tracking store") from None
            if run.data.tags.get(TAG_KIND) != kind:
                raise ConfigError(f"run {rid!r} is a {run.data.tags.get(TAG_KIND) or 'untagged'} run, not {kind}")
            candidates.append(run)
    elif experiment is not None:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            return [], []
        candidates = client.search_runs([exp.experiment_id], f"tags.`{TAG_KIND}` = '{kind}'", max_results=1000)
    else:
        return [], []
    runs, skipped = [], []
    for run in sorted(candidates, key=lambda r: r.info.start_time):
        info = run.info
        name = info.run_name or ""
        if info.status != "FINISHED":
            skipped.append({"run_id": info.run_id, "run_name": name, "reason": f"status {info.status}"})
            continue
        out = ToolRun(info.run_id, name, kind, dict(run.data.params), dict(run.data.metrics), dict(run.data.tags))
        with tempfile.TemporaryDirectory(prefix="spikefi-analysis-") as tmp:
            for path in files:
                try:
                    local = Path(client.download_artifacts(info.run_id, path, tmp))
                except Exception:  # noqa: BLE001 - an absent optional artifact
                    continue
                if path.endswith(".csv"):
                    out.tables[Path(path).name] = pd.read_csv(local)
                else:
                    out.images[Path(path).name] = local.read_bytes()
        missing = [p for p, required in files.items() if required and Path(p).name not in out.tables | out.images]
        if missing:
            skipped.append({"run_id": info.run_id, "run_name": name, "reason": f"missing {', '.join(missing)}"})
            continue
        runs.append(out)
    return runs, skipped

