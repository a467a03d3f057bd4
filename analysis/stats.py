"""Numbers of a reliability report, recomputed from the per-round tables (never from logged summaries).

A round is *critical* when at least one sample that the golden network classifies correctly is
misclassified under the round's faults (``critical > 0``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest, fisher_exact

from spikefi.campaign.stats import margin_of_error, wilson_interval
from spikefi.errors import ConfigError

from .describe import (
    describe_model,
    describe_quantization,
    describe_round_sites,
    describe_timing,
    model_parameter,
    round_faults,
)
from .load import LoadedRuns

__all__ = [
    "campaign_summary", "campaign_facts", "golden_baseline", "golden_notes", "golden_warnings", "accuracy_drops", "critical_rates",
    "site_ranking", "spike_changes", "site_label", "round_site", "round_fault", "run_faults", "merge_bit_flips", "holm",
    "compare_groups",
]


def _population(meta: dict[str, Any], layer: str, target: str) -> int | None:
    """Number of fault sites of ``target`` kind (neuron/synapse) in ``layer``; None when unknown."""
    info = meta.get("layers", {}).get(layer) or {}
    shape = info.get("synapse_shape" if target == "synapse" else "neuron_shape")
    return int(np.prod(shape)) if shape else None


def _specs(series: pd.Series) -> list[list[dict[str, Any]]]:
    """The fault specs of each distinct ``faults`` value (parsed once per value)."""
    return [round_faults(v) for v in pd.unique(series.dropna())] if len(series) else []


def run_faults(rounds: pd.DataFrame) -> dict[str, str]:
    """What a campaign injected, in plain words: ``faults`` (models with their parameters),
    ``layers`` and ``timing`` (from the ``faults`` column; the model column when it is absent)."""
    models: dict[str, None] = {}
    timings: dict[str, None] = {}
    if "faults" in rounds.columns:
        for faults in _specs(rounds["faults"]):
            for f in faults:
                spec = {k: v for k, v in f.items() if k not in ("layer", "positions", "timing")}
                models[describe_model(spec)] = None
                timings[describe_timing(f.get("timing"))] = None
    else:
        models.update(dict.fromkeys(rounds["model"].astype(str)))
    layers = dict.fromkeys(x for v in pd.unique(rounds["layer"]) for x in str(v).split(";"))
    return {"faults": "; ".join(merge_bit_flips(list(models))) or "none", "layers": ", ".join(layers),
            "timing": "; ".join(timings) or "permanent"}


_ONE_BIT = re.compile(r"^bit flip of bit (\d+) of (.+)$")


def _bit_ranges(bits: Sequence[int]) -> str:
    """``[0, 1, 2, 3, 5, 7]`` -> ``0-3, 5, 7``."""
    out: list[str] = []
    run: list[int] = []
    for b in sorted(set(bits)):
        if run and b != run[-1] + 1:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)))
            run = []
        run.append(b)
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)))
    return ", ".join(out)


def merge_bit_flips(descriptions: Sequence[str]) -> list[str]:
    """Single-bit flips of the same word that differ only in the bit, in one phrase: a campaign over
    every bit of an int8 code reads ``bit flips of bits 0-7 of the quantized weight code (one bit per
    fault)`` instead of eight phrases. Other descriptions keep their place and wording."""
    bits: dict[str, list[int]] = {}
    for d in descriptions:
        m = _ONE_BIT.match(d)
        if m:
            bits.setdefault(m.group(2), []).append(int(m.group(1)))
    out: list[str] = []
    for d in descriptions:
        m = _ONE_BIT.match(d)
        if not m or len(bits[m.group(2)]) == 1:
            out.append(d)
        elif int(m.group(1)) == bits[m.group(2)][0]:  # the first of the group stands for all of them
            out.append(f"bit flips of bits {_bit_ranges(bits[m.group(2)])} of {m.group(2)} (one bit per fault)")
    return out


def golden_baseline(loaded: LoadedRuns) -> pd.DataFrame:
    """Per run: network, data, samples, the golden network (float or quantized) and its accuracy."""
    runs = loaded.runs
    out = runs[["run_name", "run_id", "network", "dataset", "samples"]].copy()
    out["golden network"] = [describe_quantization(loaded.meta.get(r, {}).get("quantization")).split(";")[0]
                             for r in runs["run_id"]]
    out["golden_accuracy"] = runs["golden_accuracy"].to_numpy()
    return out


def golden_warnings(loaded: LoadedRuns) -> list[str]:
    """A warning per campaign whose golden network looks degenerate (ties in more than half of
    the samples, a silent output layer, accuracy at chance: :mod:`spikefi.golden_health`),
    from the run's ``spikefi.golden_health`` tag, else from its stored golden summary."""
    from spikefi.golden_health import golden_problems

    out = []
    for row in loaded.runs.to_dict("records"):
        tag = str(row.get("golden_health") or "")
        if tag:
            problems = tag.removeprefix("degenerate: ") if tag.startswith("degenerate") else ""
        else:  # a local result folder or a run tracked before the tag existed (chance level unknown)
            problems = "; ".join(golden_problems(loaded.meta.get(row["run_id"], {}).get("golden", {})))
        if problems:
            out.append(f"WARNING: {row['run_name']}: the golden network looks degenerate ({problems}); faults "
                       "cannot make it much worse, so its critical-fault rates say little.")
    return out


def golden_notes(loaded: LoadedRuns) -> list[str]:
    """Why golden accuracies differ between campaigns (quantized golden network, other samples,
    other data, another network); empty when they agree."""
    golden = golden_baseline(loaded)
    if golden["golden_accuracy"].round(10).nunique() <= 1:
        return []
    notes = []
    floats = golden[~golden["golden network"].str.contains("weight codes")]
    for row in golden.to_dict("records"):
        reasons = []
        if "weight codes" in row["golden network"]:
            reasons.append(f"its golden network is the quantized one ({row['golden network']}): the baseline and "
                           "every fault are evaluated on the quantized weights")
        others = floats[floats["run_id"] != row["run_id"]]
        for column, what in (("samples", "it evaluates {} samples"), ("dataset", "its data is {}"),
                             ("network", "its network is {}")):
            if len(others) and not (others[column] == row[column]).all():
                reasons.append(what.format(row[column]))
        if reasons:
            notes.append(f"{row['run_name']}: golden accuracy {row['golden_accuracy']:.4f} because "
                         + "; ".join(reasons) + ".")
    return notes


def campaign_summary(loaded: LoadedRuns, confidence: float = 0.95) -> pd.DataFrame:
    """Per run: what was injected, rounds, critical faults and rate with its Wilson interval,
    accuracy and the mean accuracy drop in percentage points."""
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
            "mean_drop_pp": 100.0 * float(run.golden_accuracy - acc.mean()),
        })
    return pd.DataFrame(rows)


def campaign_facts(loaded: LoadedRuns) -> pd.DataFrame:
    """Per run, in plain words: the faults injected, layers, timing and quantization."""
    rows = []
    for run in loaded.runs.itertuples():
        t = loaded.rounds[loaded.rounds["run_id"] == run.run_id]
        facts = run_faults(t)
        meta = loaded.meta.get(run.run_id, {})
        sites = t["n_faults"].astype(int) if "n_faults" in t.columns else pd.Series([1] * len(t))
        per_round = f"{sites.min()}" if sites.min() == sites.max() else f"{sites.min()}-{sites.max()}"
        rows.append({"run_name": run.run_name, "faults injected": facts["faults"], "layers": facts["layers"],
                     "sites per round": per_round, "timing": facts["timing"],
                     "quantization": describe_quantization(meta.get("quantization")).split(";")[0],
                     "rounds": len(t), "samples": int(run.samples)})
    return pd.DataFrame(rows)


def accuracy_drops(loaded: LoadedRuns) -> pd.DataFrame:
    """Per run: quantiles of the accuracy drop (golden minus round accuracy) in percentage points."""
    rows = []
    for run in loaded.runs.itertuples():
        t = loaded.rounds[loaded.rounds["run_id"] == run.run_id]
        drop = 100.0 * (t["golden_accuracy"].to_numpy(dtype=float) - t["accuracy"].to_numpy(dtype=float))
        rows.append({"run_name": run.run_name, "rounds": len(t), "drop_min_pp": float(drop.min()),
                     "drop_median_pp": float(np.median(drop)), "drop_q95_pp": float(np.quantile(drop, 0.95)),
                     "drop_max_pp": float(drop.max()), "rounds_with_drop": int((drop > 0).sum())})
    return pd.DataFrame(rows)


def _site_kind(target: Any) -> str:
    """A round's fault target as a site population: ``synapse``, ``neuron`` (neuron-output and
    parametric faults both sit on neurons) or ``neuron+synapse`` for a mixed round."""
    kinds = {"synapse" if t == "synapse" else "neuron" for t in str(target).split(";") if t}
    return "+".join(sorted(kinds)) or "neuron"


def critical_rates(loaded: LoadedRuns, by: str, confidence: float = 0.95) -> pd.DataFrame:
    """Critical-fault rate per run, ``by`` (``"layer"`` or ``"model"``) and fault target
    (neuron or synapse) with Wilson interval and the statistical-FI margin.

    ``margin`` is the statistical-FI margin of error (Leveugle et al.) that the group's
    single-fault rounds achieve over the single-fault population of their target (sites of the
    layer x distinct parameter values per fault model): 0 for an exhaustive group, NaN when the
    population is unknown or smaller than the rounds. Neuron and synapse faults are separate
    populations (separate rows); rounds with several faults (``multi_site_rounds``) count in the
    rate but not against a single-site population.
    """
    if by not in ("layer", "model"):
        raise ConfigError(f"by must be 'layer' or 'model', got {by!r}")
    rows = []
    for run in loaded.runs.itertuples():
        t = loaded.rounds[loaded.rounds["run_id"] == run.run_id]
        meta = loaded.meta.get(run.run_id, {})
        single_mask = (t["n_faults"] == 1) if "n_faults" in t.columns else pd.Series(True, index=t.index)
        t = t.assign(target=t["target"].map(_site_kind))
        for (value, target), g in t.groupby([by, "target"], sort=False):
            n = len(g)
            k = int((g["critical"] > 0).sum())
            low, high = wilson_interval(k, n, confidence)
            single = g[single_mask.loc[g.index]]
            population: int | None = 0
            for (layer, _model), part in single.groupby(["layer", "model"], sort=False):
                sites = _population(meta, layer, target)
                if sites is None:
                    population = None
                    break
                params = part["param"].dropna().nunique()
                population += sites * max(1, int(params))  # type: ignore[operator]
            margin = math.nan
            if population and 0 < len(single) <= population:
                margin = margin_of_error(len(single), population, confidence)
            rows.append({"run_name": run.run_name, "run_id": run.run_id, by: value, "target": target, "rounds": n,
                         "critical_faults": k, "critical_rate": k / n, "ci_low": low, "ci_high": high,
                         "multi_site_rounds": int(n - len(single)),
                         "population": population or None, "margin": margin})
    out = pd.DataFrame(rows)
    if len(out):
        out["population"] = pd.array(out["population"].tolist(), dtype="Int64")  # n/a where unknown
    return out


def site_label(row: Any) -> str:
    pos = [int(getattr(row, f"pos{i}")) for i in range(4)]
    return "(" + ", ".join(str(p) for p in (pos if pos[3] >= 0 else pos[:3])) + ")"


def round_site(row: Any) -> str:
    """Where a round's faults sit: the layer and position of a single fault, otherwise the sites
    listed from the ``faults`` column (never ``(-1, -1, -1)``)."""
    single = int(getattr(row, "n_faults", 1)) == 1 and int(row.pos0) >= 0
    if single:
        return f"{row.layer} {site_label(row)}"
    return describe_round_sites(getattr(row, "faults", None))


def round_fault(row: Any) -> str:
    """The round's fault model with its parameter and timing, in a few words."""
    faults = round_faults(getattr(row, "faults", None))
    if not faults:
        return str(row.model) + ("" if pd.isna(row.param) else f" ({row.param_name}={row.param:g})")
    parts = {}
    for f in faults:
        spec = {k: v for k, v in f.items() if k not in ("layer", "positions", "timing")}
        param = model_parameter(spec)
        timing = describe_timing(f.get("timing"))
        text = str(spec.get("model")) + (f" ({param})" if param else "")
        parts[text + ("" if timing == "permanent" else f", {timing}")] = None
    return "; ".join(parts)


def site_ranking(loaded: LoadedRuns, top: int = 10) -> dict[str, pd.DataFrame]:
    """Per campaign (run name): its ``top`` rounds with critical samples, most critical first
    (ties: lower accuracy first, then round order); an empty frame for a campaign without any."""
    out: dict[str, pd.DataFrame] = {}
    for run in loaded.runs.itertuples():
        t = loaded.rounds[(loaded.rounds["run_id"] == run.run_id) & (loaded.rounds["critical"] > 0)].copy()
        t["_order"] = np.arange(len(t))
        t = t.sort_values(["critical", "accuracy", "_order"], ascending=[False, True, True], kind="stable").head(top)
        rows = []
        for rank, r in enumerate(t.itertuples(), start=1):
            rows.append({"rank": rank, "round_id": int(r.round_id), "fault": round_fault(r), "site": round_site(r),
                         "critical": int(r.critical), "samples": int(r.samples), "accuracy": float(r.accuracy),
                         "drop_pp": 100.0 * float(r.golden_accuracy - r.accuracy)})
        out[run.run_name] = pd.DataFrame(rows)
    return out


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
