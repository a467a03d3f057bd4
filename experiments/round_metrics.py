"""How many per-round metric points a campaign run logs (``tracking.round_metrics``), which
rounds they are, and the sorted curves logged at the end.

``round_metrics`` is ``all`` (every round), ``none`` (no per-round histories) or a number N
(the default, :data:`~analysis.schema.ROUND_METRICS_DEFAULT`): at most N points per
``ROUND_METRICS`` key. The rounds are chosen before anything runs, from the run's own round
ids alone: sorted, every ``ceil(len / N)``-th one from the first on (:func:`selected_rounds`).
A resume, each shard (over its own rounds) and a sharded parent (over all rounds) therefore
choose the same rounds every time, and each history holds at most N points. Whatever the mode,
every round is in the Parquet table; the curves (``CURVE_METRICS``) summarize all of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # mlflow loads only where points are made: config errors stay fast
    from mlflow.entities import Metric

from analysis.schema import CURVE_METRICS, ROUND_METRICS, ROUND_METRICS_DEFAULT
from spikefi.errors import ConfigError

__all__ = ["RoundMetricsMode", "parse_round_metrics", "mode_label", "selected_rounds", "round_metric_points",
           "curve_points", "curve_metric_points"]

#: ``None``: every round (``all``); ``0``: none; ``N >= 1``: at most N points per key
RoundMetricsMode = int | None


def parse_round_metrics(value: Any) -> RoundMetricsMode:
    """``"all"`` -> None, ``"none"`` -> 0, a positive integer (or its text) -> itself."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "all":
            return None
        if text == "none":
            return 0
        if text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"tracking.round_metrics must be 'all', 'none' or a positive number of points per "
                          f"metric (default {ROUND_METRICS_DEFAULT}), got {value!r}")
    return value


def mode_label(mode: RoundMetricsMode) -> str:
    """The mode as written in configs, params and tags: ``all``, ``none`` or the number."""
    return "all" if mode is None else "none" if mode == 0 else str(mode)


def selected_rounds(round_ids: Iterable[int], mode: RoundMetricsMode) -> set[int] | None:
    """The round ids whose points are logged: None for every round (``all``), else at most
    ``mode`` ids: every ``ceil(n / mode)``-th of the sorted ids, starting with the first."""
    if mode is None:
        return None
    if mode == 0:
        return set()
    ids = sorted({int(r) for r in round_ids})
    stride = max(1, math.ceil(len(ids) / mode))
    return set(ids[::stride])


def round_metric_points(rows: Sequence[Mapping[str, Any]], timestamp: int,
                        selected: set[int] | None = None) -> list[Metric]:
    """The ``ROUND_METRICS`` points (step = round id) of ``rows`` whose round is selected."""
    from mlflow.entities import Metric

    return [Metric(key, float(row[col]), timestamp, int(row["round_id"]))
            for row in rows if selected is None or int(row["round_id"]) in selected
            for key, col in ROUND_METRICS.items()]


def curve_points(n_rounds: int, mode: RoundMetricsMode) -> list[int]:
    """Ranks (0 .. n_rounds-1) a curve is logged at: all of them up to the cap (the default cap
    for ``all`` and ``none``), else that many evenly spaced ranks including first and last."""
    cap = mode if mode else ROUND_METRICS_DEFAULT
    if n_rounds <= cap:
        return list(range(n_rounds))
    if cap == 1:
        return [0]
    return sorted({round(i * (n_rounds - 1) / (cap - 1)) for i in range(cap)})


def curve_metric_points(accuracy: Sequence[float], critical: Sequence[float], golden_accuracy: float,
                        mode: RoundMetricsMode, timestamp: int) -> list[Metric]:
    """``curve_drop`` and ``curve_crit`` over every round: sorted worst first, step = rank."""
    from mlflow.entities import Metric

    drops = sorted((golden_accuracy - float(a) for a in accuracy), reverse=True)
    crits = sorted((float(c) for c in critical), reverse=True)
    ranks = curve_points(len(drops), mode)
    names = list(CURVE_METRICS)
    return ([Metric(names[0], drops[r], timestamp, r) for r in ranks]
            + [Metric(names[1], crits[r], timestamp, r) for r in ranks])
