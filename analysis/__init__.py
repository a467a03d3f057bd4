"""Analysis of tracked fault-injection campaigns: load runs from MLflow, build reports.

* :func:`analysis.load.load_runs` - campaign runs (of an experiment, given run ids or a sweep's
  children) as one tidy frame, one row per fault round, with run metadata columns.
* :mod:`analysis.stats` - every report number, recomputed from the per-round tables.
* :mod:`analysis.report` - the HTML (self-contained) and Markdown report.

Entry point: ``python -m experiments.report --experiment NAME`` (docs in experiments/report.py).
"""

from .load import LoadedRuns, load_runs

__all__ = ["LoadedRuns", "load_runs"]
