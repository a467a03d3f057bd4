"""A tracked campaign's soft-error rate sweep (``campaign.rate_sweep``): its summary table and
MLflow metric histories, and its param in plain words.

The summary (:meth:`spikefi.campaign.rate_sweep.RateSweep.summary`) is written to
``results/rate_sweep.csv`` and logged as the histories ``rate_sweep.<column>`` with the point
index as step (the accuracy vs. rate curve in the MLflow UI's chart view).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from analysis.schema import RATE_SWEEP_METRICS, RATE_SWEEP_PREFIX, RATE_SWEEP_TABLE

__all__ = ["describe_rate_sweep", "publish_rate_sweep", "collect_rate_sweeps", "rate_sweeps_result"]


def describe_rate_sweep(section: Mapping[str, Any]) -> str:
    """A ``rate_sweep:`` section in plain words (the run's ``rate_sweep`` param)."""
    rates = section["rates"] if isinstance(section["rates"], list) else [section["rates"]]
    exposure = section.get("exposure", 1.0)
    exposures = exposure if isinstance(exposure, list) else [exposure]
    model = section.get("model", "SoftErrors")
    what = {"SoftErrors": "quantized weight codes", "Float32SoftErrors": "float32 weights",
            "StateSoftErrors": f"neuron {section.get('state', 'membrane')} state"}[model]
    draws = (f"{section['draws']} draws per point" if section.get("draws") is not None else
             f"draws per point for ±{section['margin']:g} on the critical-draw share at "
             f"{100 * float(section.get('confidence', 0.95)):g} %")
    where = f", layers {', '.join(section['layers'])}" if section.get("layers") else ""
    return (f"{model} ({what}): rates {', '.join(f'{float(r):g}' for r in rates)} per bit, exposure "
            f"{', '.join(f'{float(e):g}' for e in exposures)}; {draws}{where}")


def publish_rate_sweep(client: Any, run_id: str, root: Path, cmpn: Any, result: Any,
                       track: Callable[[str, Callable[[], Any]], Any]) -> Any:
    """Writes and uploads the sweep's summary table and logs its metric histories; returns the table."""
    from mlflow.entities import Metric

    from spikefi.campaign.rate_sweep import RateSweep

    table = RateSweep.of_campaign(cmpn).summary(result)
    path = root / RATE_SWEEP_TABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    track("uploading the rate sweep", lambda: client.log_artifact(run_id, str(path), str(Path(RATE_SWEEP_TABLE).parent)))
    now = int(time.time() * 1000)
    metrics = [Metric(RATE_SWEEP_PREFIX + name, float(row[name]), now, i)
               for i, row in table.iterrows() for name in RATE_SWEEP_METRICS]
    track("logging the rate sweep", lambda: client.log_batch(run_id, metrics=metrics))
    return table


def collect_rate_sweeps(client: Any, campaigns: Sequence[tuple[str, str]]) -> Any:
    """The curves of a sweep's rate-sweep campaigns in one table: ``campaign``, ``run_id``,
    ``point`` (the step of the run's ``rate_sweep.*`` histories), then the columns of
    ``results/rate_sweep.csv``, read back from each ``(campaign name, run id)``'s artifacts
    (so a resumed sweep reads the curves of campaigns finished in an earlier attempt)."""
    import pandas as pd

    frames = []
    with tempfile.TemporaryDirectory(prefix="spikefi-rate-sweeps-") as tmp:
        for name, run_id in campaigns:
            table = pd.read_csv(client.download_artifacts(run_id, RATE_SWEEP_TABLE, str(Path(tmp) / run_id)))
            table.insert(0, "point", range(len(table)))
            table.insert(0, "run_id", run_id)
            table.insert(0, "campaign", name)
            frames.append(table)
    return pd.concat(frames, ignore_index=True)


def rate_sweeps_result(table: Any) -> str:
    """A line for the sweep's description: each curve's first and last point."""
    parts = []
    for name, curve in table.groupby("campaign", sort=False):
        a, b = curve.iloc[0], curve.iloc[-1]
        parts.append(f"{name}: accuracy {100 * a['accuracy_mean']:.1f} % at upset probability "
                     f"{a['bit_upset_probability']:.3g} per bit, {100 * b['accuracy_mean']:.1f} % at "
                     f"{b['bit_upset_probability']:.3g} (critical draws {a['critical_draw_rate']:.2f} -> "
                     f"{b['critical_draw_rate']:.2f})")
    return "**Rate sweeps** (every point in sweep/rate_sweeps.csv): " + "; ".join(parts) + "."
