"""How much accuracy a fault costs: severity classes of rounds, rankings that state their ties,
and the networks a selection of campaigns ran on.

A round is *critical* when it flips at least one sample (SpikeFI's definition), which says
nothing about how much accuracy it costs: one flipped sample of 359 is critical. The severity
classes sort rounds by their accuracy drop (golden minus round accuracy, in percentage points)
against three thresholds ``t1 < t2 < t3`` (:data:`analysis.schema.SEVERITY_THRESHOLDS_PP`, by
default 1, 5 and 10 pp): *negligible* (drop <= t1), *mild* (<= t2), *moderate* (<= t3) and
*severe* (> t3). Rankings order by the share of rounds above t3, then above t2, then above t1,
then by the critical-fault rate; entries equal in all four are tied and share a rank (``2=``):
no hidden tie-breaker decides between them.

Campaigns of different networks are never ranked together: :func:`network_groups` groups runs
by the canonical digest of the network as loaded (``network.digest``, :mod:`spikefi.digest`;
a quantized campaign of the same network stays in its group, its golden network being the
quantized one), falling back to the network's label for runs that logged no digest.

Example:
    >>> severity_class(0.3), severity_class(7.0), severity_class(12.5)
    ('negligible', 'moderate', 'severe')
    >>> parse_thresholds("2, 5, 20")
    (2.0, 5.0, 20.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spikefi.errors import ConfigError

from .load import LoadedRuns
from .schema import SEVERITY_CLASSES, SEVERITY_THRESHOLDS_PP

__all__ = [
    "check_thresholds", "parse_thresholds", "severity_class", "drop_pp", "drop_column", "band_label",
    "severity_table", "rank_rows", "NetworkGroup", "network_groups",
]


def check_thresholds(values: Iterable[float]) -> tuple[float, float, float]:
    """Three finite, positive, strictly increasing thresholds in percentage points.

    Raises:
        ConfigError: another count, a non-number, a value <= 0, or an order that does not increase.
    """
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(f"severity thresholds must be numbers (percentage points), got {values!r}") from None
    if len(out) != 3:
        raise ConfigError(f"severity thresholds: give three accuracy drops in percentage points (mild, moderate, "
                          f"severe boundaries, e.g. 1,5,10), got {len(out)}: {list(out)}")
    if not all(math.isfinite(v) and v > 0 for v in out) or not out[0] < out[1] < out[2]:
        raise ConfigError(f"severity thresholds must be > 0 and strictly increasing (e.g. 1,5,10), got {list(out)}")
    return out  # type: ignore[return-value]


def parse_thresholds(text: str | Sequence[float]) -> tuple[float, float, float]:
    """``"1,5,10"`` (commas or spaces) or a sequence of numbers, checked by :func:`check_thresholds`."""
    if isinstance(text, str):
        try:
            values = [float(p) for p in text.replace(",", " ").split() if p]
        except ValueError:
            raise ConfigError(f"severity thresholds must be numbers such as 1,5,10, got {text!r}") from None
        return check_thresholds(values)
    return check_thresholds(text)


def severity_class(drop: float, thresholds: Sequence[float] = SEVERITY_THRESHOLDS_PP) -> str:
    """The class of one accuracy drop in percentage points (rounded to 1e-9 pp first, so that a
    drop of exactly 5 pp computed as 5.000000000000004 is not above 5)."""
    d = round(float(drop), 9)
    for name, limit in zip(SEVERITY_CLASSES, thresholds, strict=False):
        if d <= limit:
            return name
    return SEVERITY_CLASSES[-1]


def drop_pp(rounds: pd.DataFrame) -> np.ndarray:
    """Accuracy drop of each round in percentage points (rounded to 1e-9 pp)."""
    drop = 100.0 * (rounds["golden_accuracy"].to_numpy(dtype=float) - rounds["accuracy"].to_numpy(dtype=float))
    return np.round(drop, 9)


def drop_column(threshold: float) -> str:
    """Column name of the share of rounds whose drop exceeds ``threshold`` pp: ``drop>5pp``."""
    return f"drop>{threshold:g}pp"


def band_label(name: str, thresholds: Sequence[float] = SEVERITY_THRESHOLDS_PP) -> str:
    """``mild (1-5 pp)``: a class with its range."""
    t1, t2, t3 = thresholds
    ranges = {"negligible": f"<= {t1:g} pp", "mild": f"{t1:g}-{t2:g} pp", "moderate": f"{t2:g}-{t3:g} pp",
              "severe": f"> {t3:g} pp"}
    return f"{name} ({ranges[name]})"


def _row(t: pd.DataFrame, thresholds: Sequence[float], per_run: bool = True) -> dict[str, float | int | str]:
    drop = drop_pp(t)
    n = len(t)
    out: dict[str, float | int | str] = {"rounds": n, "critical_rate": float((t["critical"] > 0).mean())}
    for limit in thresholds:
        out[drop_column(limit)] = float((drop > limit).mean())
    out["median_drop_pp"] = float(np.median(drop))
    if per_run:
        out["mean_drop_pp"] = float(drop.mean())
        out["max_drop_pp"] = float(drop.max())
    out["typical"] = severity_class(float(np.median(drop)), thresholds)
    return out


def rank_rows(table: pd.DataFrame, thresholds: Sequence[float]) -> pd.DataFrame:
    """``table`` sorted most severe first with a ``rank`` column in front: ``1``, ``2=``, ``2=``,
    ``4`` (entries equal in every severity class and in the critical-fault rate share a rank);
    the order among tied rows is the table's."""
    keys = [drop_column(t) for t in reversed(list(thresholds))] + ["critical_rate"]
    if table.empty:
        return table.assign(rank=pd.Series(dtype=str))[["rank", *table.columns]]
    ordered = table.assign(_order=np.arange(len(table))).sort_values(
        [*keys, "_order"], ascending=[False] * len(keys) + [True], kind="stable")
    values = [tuple(round(float(v), 12) for v in row) for row in ordered[keys].itertuples(index=False)]
    ranks, counts = [], {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    position = 0
    first: dict[tuple[float, ...], int] = {}
    for v in values:
        position += 1
        first.setdefault(v, position)
        ranks.append(f"{first[v]}=" if counts[v] > 1 else str(first[v]))
    ordered = ordered.drop(columns="_order")
    ordered.insert(0, "rank", ranks)
    return ordered.reset_index(drop=True)


@dataclass(frozen=True)
class NetworkGroup:
    """Campaign runs on one network."""

    #: the canonical digest (64 hex), or ``label:<network label>`` for runs that logged none
    key: str
    #: how tables name the network: the digest's first 12 hex digits, else the network label
    short: str
    #: in words: ``network 0123456789ab (path:model.pt)``
    label: str
    run_ids: tuple[str, ...]


def network_groups(loaded: LoadedRuns) -> list[NetworkGroup]:
    """The networks of the loaded runs, in order of their first run: one group per network digest
    (``network_digest`` of :attr:`LoadedRuns.runs`), else per network label."""
    groups: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for run in loaded.runs.to_dict("records"):
        digest = str(run.get("network_digest") or "")
        name = str(run.get("network") or "")
        key = digest or f"label:{name}"
        groups.setdefault(key, []).append(str(run["run_id"]))
        names.setdefault(key, name)
    out = []
    for key, ids in groups.items():
        if key.startswith("label:"):
            label = f"network {names[key]} (no digest logged)" if names[key] else "a network not recorded"
            out.append(NetworkGroup(key, names[key] or "not recorded", label, tuple(ids)))
        else:
            out.append(NetworkGroup(key, key[:12], f"network {key[:12]} ({names[key]})", tuple(ids)))
    return out


def severity_table(loaded: LoadedRuns, by: str | None = None,
                   thresholds: Sequence[float] = SEVERITY_THRESHOLDS_PP) -> pd.DataFrame:
    """Per campaign run (``by=None``) or per run, ``by`` (``"layer"`` or ``"model"``) and fault
    target: rounds, critical-fault rate, the share of rounds above each threshold
    (``drop>1pp`` ...), median drop in pp (per run also the mean and max), the median round's class (``typical``)
    and the network (``network``: short digest); ranked by :func:`rank_rows` within each network."""
    if by not in (None, "layer", "model"):
        raise ConfigError(f"by must be None, 'layer' or 'model', got {by!r}")
    thresholds = check_thresholds(thresholds)
    groups = network_groups(loaded)
    tables = []
    for group in groups:
        rows = []
        for run in loaded.runs[loaded.runs["run_id"].isin(group.run_ids)].itertuples():
            t = loaded.rounds[loaded.rounds["run_id"] == run.run_id]
            if by is None:
                rows.append({"run_name": run.run_name, **_row(t, thresholds)})
                continue
            kinds = t["target"].map(lambda x: "+".join(sorted({"synapse" if v == "synapse" else "neuron"
                                                                 for v in str(x).split(";") if v})) or "neuron")
            for (value, target), g in t.assign(target=kinds).groupby([by, "target"], sort=False):
                rows.append({"run_name": run.run_name, by: value, "target": target, **_row(g, thresholds, per_run=False)})
        table = rank_rows(pd.DataFrame(rows), thresholds)
        table.insert(1, "network", group.short)
        tables.append(table)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
