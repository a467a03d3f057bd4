"""Numbers of a reliability report, recomputed from the per-round tables (never from logged summaries).

A round is *critical* when at least one sample that the golden network classifies correctly is
misclassified under the round's faults (``critical > 0``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest, fisher_exact

from spikefi.campaign.stats import margin_of_error, wilson_interval
from spikefi.errors import ConfigError

from .load import LoadedRuns

__all__ = [
    "campaign_summary", "golden_baseline", "accuracy_drops", "critical_rates", "site_ranking", "spike_changes",
    "site_label", "holm", "compare_groups",
]


def _population(meta: dict[str, Any], layer: str, target: str) -> int | None:
    """Number of fault sites of ``target`` kind (neuron/synapse) in ``layer``; None when unknown."""
    info = meta.get("layers", {}).get(layer) or {}
    shape = info.get("synapse_shape" if target == "synapse" else "neuron_shape")
    return int(np.prod(shape)) if shape else None


def golden_baseline(loaded: LoadedRuns) -> pd.DataFrame:
    runs = loaded.runs
    return runs[["run_name", "run_id", "network", "dataset", "samples", "golden_accuracy"]].copy()


def campaign_summary(loaded: LoadedRuns, confidence: float = 0.95) -> pd.DataFrame:
    rows = []
    for run in loaded.runs.itertuples():
        t = loaded.rounds[loaded.rounds["run_id"] == run.run_id]
        n = len(t)
        k = int((t["critical"] > 0).sum())
        low, high = wilson_interval(k, n, confidence)
        acc = t["accuracy"].to_numpy(dtype=float)
        rows.append({
            "run_name": run.run_name, "run_id": run.run_id, "models": ", ".join(sorted(t["model"].unique())),
            "layers": ", ".join(pd.unique(t["layer"])), "rounds": n, "critical_faults": k,
            "critical_rate": k / n, "ci_low": low, "ci_high": high,
            "accuracy_mean": float(acc.mean()), "accuracy_min": float(acc.min()),
            "mean_accuracy_drop": float(run.golden_accuracy - acc.mean()),
        })
    return pd.DataFrame(rows)


def accuracy_drops(loaded: LoadedRuns) -> pd.DataFrame:
    """Per run: quantiles of the accuracy drop (golden minus round accuracy, fractions)."""
    rows = []
    for run in loaded.runs.itertuples():
        t = loaded.rounds[loaded.rounds["run_id"] == run.run_id]
        drop = t["golden_accuracy"].to_numpy(dtype=float) - t["accuracy"].to_numpy(dtype=float)
        rows.append({"run_name": run.run_name, "rounds": len(t), "drop_min": float(drop.min()),
                     "drop_median": float(np.median(drop)), "drop_q95": float(np.quantile(drop, 0.95)),
                     "drop_max": float(drop.max()), "rounds_with_drop": int((drop > 0).sum())})
    return pd.DataFrame(rows)


def critical_rates(loaded: LoadedRuns, by: str, confidence: float = 0.95) -> pd.DataFrame:
    """Critical-fault rate per run and ``by`` (``"layer"`` or ``"model"``) with Wilson interval and margin.

    ``margin`` is the statistical-FI margin of error (Leveugle et al.) that the number of rounds
    achieves over the fault population of the group (sites x distinct parameter values per fault
    model); 0 for an exhaustive group, NaN when the population is unknown or smaller than the rounds.
    """
    if by not in ("layer", "model"):
        raise ConfigError(f"by must be 'layer' or 'model', got {by!r}")
    rows = []
    for run in loaded.runs.itertuples():
        t = loaded.rounds[loaded.rounds["run_id"] == run.run_id]
        meta = loaded.meta.get(run.run_id, {})
        for value, g in t.groupby(by, sort=False):
            n = len(g)
            k = int((g["critical"] > 0).sum())
            low, high = wilson_interval(k, n, confidence)
            population = 0
            for (layer, _model, target), part in g.groupby(["layer", "model", "target"], sort=False):
                sites = _population(meta, layer, target)
                if sites is None:
                    population = None
                    break
                params = part["param"].dropna().nunique()
                population += sites * max(1, int(params))
            margin = math.nan
            if population and n <= population:
                margin = margin_of_error(n, population, confidence)
            rows.append({"run_name": run.run_name, "run_id": run.run_id, by: value, "rounds": n,
                         "critical_faults": k, "critical_rate": k / n, "ci_low": low, "ci_high": high,
                         "population": population if population else math.nan, "margin": margin})
    return pd.DataFrame(rows)


def site_label(row: Any) -> str:
    pos = [int(getattr(row, f"pos{i}")) for i in range(4)]
    return "(" + ", ".join(str(p) for p in (pos if pos[3] >= 0 else pos[:3])) + ")"


def site_ranking(loaded: LoadedRuns, top: int = 10) -> pd.DataFrame:
    """The ``top`` rounds with the most critical samples (ties: lower accuracy first, then run/round order)."""
    t = loaded.rounds.copy()
    t["_order"] = np.arange(len(t))
    t = t.sort_values(["critical", "accuracy", "_order"], ascending=[False, True, True], kind="stable").head(top)
    rows = []
    for rank, r in enumerate(t.itertuples(), start=1):
        rows.append({"rank": rank, "run_name": r.run_name, "round_id": int(r.round_id), "layer": r.layer,
                     "model": r.model, "target": r.target, "site": site_label(r),
                     "param": "" if pd.isna(r.param) else f"{r.param_name}={r.param:g}",
                     "critical": int(r.critical), "samples": int(r.samples),
                     "accuracy": float(r.accuracy), "accuracy_drop": float(r.golden_accuracy - r.accuracy)})
    return pd.DataFrame(rows)


def spike_changes(loaded: LoadedRuns) -> pd.DataFrame:
    """Per run and layer: golden spikes and the mean relative change of spikes under faults."""
    rows = []
    for run in loaded.runs.itertuples():
        t = loaded.rounds[loaded.rounds["run_id"] == run.run_id]
        golden = loaded.meta.get(run.run_id, {}).get("golden", {}).get("spike_counts", {})
        for layer, count in golden.items():
            col = f"spikes.{layer}"
            if col not in t.columns or not count:
                continue
            spikes = t[col].to_numpy(dtype=float)
            rows.append({"run_name": run.run_name, "layer": layer, "golden_spikes": int(count),
                         "mean_spikes": float(spikes.mean()),
                         "mean_relative_change": float((spikes.mean() - count) / count),
                         "rounds_changed": int((spikes != count).sum())})
    return pd.DataFrame(rows)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


_KEY = ["layer", "model", "target", "pos0", "pos1", "pos2", "pos3", "param_key"]


def _keyed(rounds: pd.DataFrame) -> pd.DataFrame:
    t = rounds[rounds["n_faults"] == 1].copy() if "n_faults" in rounds else rounds.copy()
    t["param_key"] = t["param"].fillna(-1.0).astype(float)
    t["hit"] = t["critical"] > 0
    return t


def _layer_shapes(loaded: LoadedRuns, layer: str) -> set[tuple[int, ...]]:
    shapes = set()
    for meta in loaded.meta.values():
        shape = (meta.get("layers", {}).get(layer) or {}).get("neuron_shape")
        if shape:
            shapes.add(tuple(int(x) for x in shape))
    return shapes


def compare_groups(a: LoadedRuns, b: LoadedRuns, confidence: float = 0.95) -> pd.DataFrame:
    """Critical rates of two groups per layer and per fault model, with McNemar's (paired) or
    Fisher's exact test; p-values Holm-adjusted across all rows (layers and models).

    Rounds are paired by layer, site, fault model and parameter when both groups evaluated exactly
    the same single faults of the layer (or model), once each; otherwise the groups count as
    independent samples. Layers or models only one group has are left out.
    """
    layers_a, layers_b = list(pd.unique(a.rounds["layer"])), set(b.rounds["layer"])
    common = [layer for layer in layers_a if layer in layers_b]
    if not common:
        raise ConfigError(f"the groups share no injected layer (A: {sorted(layers_a)}, B: {sorted(layers_b)}); "
                          "they cannot be compared layer by layer")
    for layer in common:
        shapes_a, shapes_b = _layer_shapes(a, layer), _layer_shapes(b, layer)
        if shapes_a and shapes_b and shapes_a != shapes_b:
            raise ConfigError(f"incompatible networks: layer {layer!r} has neuron shape(s) {sorted(shapes_a)} in "
                              f"group A and {sorted(shapes_b)} in group B; compare runs of networks with the same layers")
    models_b = set(b.rounds["model"])
    common_models = [m for m in pd.unique(a.rounds["model"]) if m in models_b]
    ka, kb = _keyed(a.rounds), _keyed(b.rounds)
    rows = []
    for by, values in (("layer", common), ("model", common_models)):
        for value in values:
            ra, rb = a.rounds[a.rounds[by] == value], b.rounds[b.rounds[by] == value]
            na, nb = len(ra), len(rb)
            ca, cb = int((ra["critical"] > 0).sum()), int((rb["critical"] > 0).sum())
            pa, pb = ka[ka[by] == value], kb[kb[by] == value]
            paired = (len(pa) == na and len(pb) == nb and not pa.duplicated(_KEY).any()
                      and not pb.duplicated(_KEY).any()
                      and set(map(tuple, pa[_KEY].to_numpy())) == set(map(tuple, pb[_KEY].to_numpy())))
            if paired:
                merged = pa[_KEY + ["hit"]].merge(pb[_KEY + ["hit"]], on=_KEY, suffixes=("_a", "_b"))
                only_a = int((merged["hit_a"] & ~merged["hit_b"]).sum())
                only_b = int((~merged["hit_a"] & merged["hit_b"]).sum())
                p = float(binomtest(only_a, only_a + only_b, 0.5).pvalue) if only_a + only_b else 1.0
                test, detail = "McNemar (exact)", f"discordant {only_a}/{only_b}"
            else:
                p = float(fisher_exact([[ca, na - ca], [cb, nb - cb]])[1])
                test, detail = "Fisher exact", ""
            la, ha = wilson_interval(ca, na, confidence)
            lb, hb = wilson_interval(cb, nb, confidence)
            rows.append({"by": by, "group": value,
                         "rounds_a": na, "critical_a": ca, "rate_a": ca / na, "ci_a": f"[{la:.4f}, {ha:.4f}]",
                         "rounds_b": nb, "critical_b": cb, "rate_b": cb / nb, "ci_b": f"[{lb:.4f}, {hb:.4f}]",
                         "difference": ca / na - cb / nb, "test": test, "detail": detail, "p_value": p})
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p_value"].tolist())
    return out
