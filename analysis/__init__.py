"""Analysis of tracked fault-injection campaigns: load runs from MLflow, build reports.

* :func:`analysis.load.load_runs` - campaign runs (of an experiment, given run ids or a sweep's
  children) as one tidy frame, one row per fault round, with run metadata columns.
* :mod:`analysis.stats` - every report number, recomputed from the per-round tables.
* :mod:`analysis.report` - the HTML (self-contained) and Markdown report.

Entry point: ``python -m experiments.report --experiment NAME`` (docs in experiments/report.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LoadedRuns", "load_runs"]


def __getattr__(name: str) -> Any:
    # loaded on first use: ``analysis.schema`` (imported by experiments' entry points) stays
    # free of pandas and MLflow
    if name in __all__:
        from . import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
