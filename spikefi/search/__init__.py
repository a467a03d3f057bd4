"""Worst-case fault search: fault spaces, batched fault-set evaluation and the Optuna loop.

``spikefi.search.space`` and ``spikefi.search.evaluate`` need only torch; the Optuna parts
(``spikefi.search.study``) import Optuna when first used, so ``import spikefi.search`` works
on machines without it.
"""

from __future__ import annotations

from typing import Any

from .evaluate import FaultSetEvaluator, FaultSetScore
from .space import Choice, FaultSpace, Range, describe_faults

__all__ = [
    "FaultSpace", "Range", "Choice", "describe_faults", "FaultSetEvaluator", "FaultSetScore",
    "TrialRecord", "make_sampler", "make_pruner", "open_storage", "create_study", "run_search", "trials_table",
    "pareto_table", "parse_faults", "OBJECTIVES",
]

_STUDY = {"TrialRecord", "make_sampler", "make_pruner", "open_storage", "create_study", "run_search", "trials_table",
          "pareto_table", "parse_faults", "OBJECTIVES"}


def __getattr__(name: str) -> Any:
    if name in _STUDY:
        from . import study

        return getattr(study, name)
    raise AttributeError(f"module 'spikefi.search' has no attribute {name!r}")
