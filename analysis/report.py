"""Reliability report: self-contained HTML (figures as base64 PNG) plus Markdown (figures as
linked PNG files in ``figures/``).

Every number comes from :mod:`analysis.stats`, computed from the per-round Parquet tables.
The report opens with an executive summary; sections that do not apply to the selection
(no search runs, no single-fault rounds, ...) are left out and listed once at the end of
that summary. Accuracy drops are in percentage points (pp) throughout; rates are fractions.
Figures are drawn inside a matplotlib style context: a global style set by other code
(Optuna's plots use ``ggplot``) does not reach them, and theirs does not leak out.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from spikefi import plots
from spikefi.campaign.stats import format_percent
from spikefi.errors import SpikeFIError

from . import schema as sc
from . import severity as sv
from . import stats
from .deployment import deployment_section_text, deployment_tables
from .describe import describe_fault_id
from .extras import ToolRun
from .load import LoadedRuns

__all__ = ["Report", "Section", "build_report", "write_report", "fmt", "styled", "heatmap_figures",
           "to_markdown", "to_html"]

T = TypeVar("T")


def fmt(value: Any) -> str:
    """How every number appears in the report (tests format their own numbers the same way)."""
    if value is None or value is pd.NA:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "n/a" if math.isnan(value) else f"{float(value):.4f}"
    return str(value)


def styled(make: Callable[[], T]) -> T:
    """Runs ``make`` (which draws figures) in matplotlib's default style, whatever the global
    style is; the global style is unchanged afterwards."""
    with matplotlib.style.context("default"):
        return make()


@dataclass
class Section:
    title: str
    text: str = ""
    bullets: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (heading, table); heading may be ""
    figures: list[tuple[str, str, str]] = field(default_factory=list)  # (caption, base64 png, file name)


@dataclass
class Report:
    title: str
    sections: list[Section]
    skipped: list[dict[str, str]]
    left_out: list[str]


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class _Figures:
    """Numbers figures in report order and names their PNG files."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, section: Section, caption: str, png_b64: str) -> None:
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", caption.lower()).strip("-")[:60]
        section.figures.append((caption, png_b64, f"{self.count:02d}-{slug}.png"))


def _drop_figure(loaded: LoadedRuns) -> Figure:
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    drops = [(r.run_name, 100.0 * (r.golden_accuracy - loaded.rounds.loc[loaded.rounds["run_id"] == r.run_id,
                                                                         "accuracy"].to_numpy(dtype=float)))
             for r in loaded.runs.itertuples()]
    values = np.concatenate([d for _, d in drops])
    bins = np.histogram_bin_edges(values, bins=min(30, max(5, len(values) // 3)))
    for i, (name, d) in enumerate(drops):
        ax.hist(d, bins=bins, alpha=0.6, color=plots.OKABE_ITO[i % len(plots.OKABE_ITO)], edgecolor="black",
                linewidth=0.5, label=name)
    ax.set_xlabel("Accuracy drop vs golden (percentage points)", fontsize=12)
    ax.set_ylabel("Fault rounds (count)", fontsize=12)
    ax.set_title("Distribution of the accuracy drop per fault round", fontsize=13)
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def _rates_figure(loaded: LoadedRuns, confidence: float) -> Figure:
    df = loaded.rounds[["run_name", "layer", "critical"]].copy()
    if loaded.runs["run_name"].nunique() > 1:
        df["layer"] = df["run_name"].astype(str) + ":" + df["layer"].astype(str)
    return plots.critical_faults_per_layer(df, confidence)


def heatmap_figures(rounds: pd.DataFrame, layer_shapes: Mapping[str, Sequence[int]] | None = None,
                    scale: tuple[float, float] | None = None) -> list[tuple[str, Figure]]:
    """``(caption, figure)`` of every per-site heat map of each run in ``rounds`` (a ``run_name``
    column), drawn by :func:`spikefi.plots.site_heatmaps` like the campaign artifacts; ``scale``:
    one ``(low, high)`` colour scale for all of them (default: each map its own)."""
    out = []
    for run_name, t in rounds.groupby("run_name", sort=False):
        for _name, caption, fig in plots.site_heatmaps(t, layer_shapes, scale=scale):
            out.append((f"{run_name}: {caption}", fig))
    return out


def _pct(low: float, high: float) -> str:
    return f"[{format_percent(low)}, {format_percent(high)}]"


def _worst(ranked: pd.DataFrame, rates: pd.DataFrame, by: str, thresholds: Sequence[float]) -> str | None:
    """The most severe ``by`` (layer or fault model) of a ranked severity table in words; every
    entry tied with it is named too (a tie is said, never broken silently)."""
    if ranked.empty:
        return None
    top = ranked[ranked["rank"].str.rstrip("=") == "1"]
    t3 = thresholds[-1]

    def words(row: Mapping[str, Any]) -> str:
        crit = rates[(rates["run_name"] == row["run_name"]) & (rates[by] == row[by]) & (rates["target"] == row["target"])]
        ci = f" {_pct(crit['ci_low'].iloc[0], crit['ci_high'].iloc[0])}" if len(crit) else ""
        return (f"{row[by]} ({row['target']} faults, campaign {row['run_name']}): "
                f"{100 * row[sv.drop_column(t3)]:.1f}% of its {int(row['rounds'])} faults severe (> {t3:g} pp), "
                f"median drop {row['median_drop_pp']:.2f} pp; critical-fault rate {100 * row['critical_rate']:.1f}%{ci}")

    if len(top) == 1:
        return words(top.iloc[0])
    return (f"a tie of {len(top)}, equal in every severity class and in the critical-fault rate: "
            + "; ".join(words(r) for r in top.to_dict("records")))


def _campaign_words(row: Mapping[str, Any], thresholds: Sequence[float]) -> str:
    """``typically negligible (median drop 0.28 pp); 0.0% of faults severe (> 10 pp), 2.7% above 1 pp``."""
    t1, _t2, t3 = thresholds
    return (f"typically {row['typical']} (median drop {row['median_drop_pp']:.2f} pp); "
            f"{100 * row[sv.drop_column(t3)]:.1f}% of its faults severe (> {t3:g} pp), "
            f"{100 * row[sv.drop_column(t1)]:.1f}% drop accuracy by more than {t1:g} pp")


def _baseline_bullet(loaded: LoadedRuns, searches: list[ToolRun]) -> str:
    """Every golden baseline of the report with the number of samples it was measured on."""
    parts = []
    golden = stats.golden_baseline(loaded)
    keys = golden.assign(_acc=golden["golden_accuracy"].round(10))
    for (acc, samples, network), g in keys.groupby(["_acc", "samples", "golden network"], sort=False):
        weights = "float weights" if str(network).startswith("none") else str(network)
        parts.append(f"{acc:.4f} on {int(samples)} samples ({weights}: {', '.join(g['run_name'])})")
    for r in searches:
        samples = r.params.get(sc.PARAM_TEST_SAMPLES)
        acc = r.metrics.get(sc.METRIC_GOLDEN_ACCURACY, math.nan)
        parts.append(f"{acc:.4f} on {samples or 'an unlogged number of'} samples (search {r.run_name}; its trials are "
                     "measured against this baseline, on its own samples)")
    return "Golden baselines (fault-free accuracy): " + "; ".join(parts) + "."


def _severity_bullets(loaded: LoadedRuns, confidence: float, thresholds: Sequence[float]) -> list[str]:
    """Severity in words: what the classes mean, then per network the campaigns ranked most severe
    first and the worst layer and fault model (ties stated), never ranked across networks."""
    t1, t2, t3 = thresholds
    out = [f"Severity: a fault round is negligible when it lowers accuracy by at most {t1:g} pp, mild up to "
           f"{t2:g} pp, moderate up to {t3:g} pp and severe beyond {t3:g} pp. A critical fault (one sample flipped) "
           "can be negligible: the critical-fault rate says how often a fault matters, the classes how much."]
    groups = sv.network_groups(loaded)
    campaigns = sv.severity_table(loaded, None, thresholds)
    per_layer, per_model = (sv.severity_table(loaded, by, thresholds) for by in ("layer", "model"))
    rates = {by: stats.critical_rates(loaded, by, confidence) for by in ("layer", "model")}
    if len(groups) > 1:
        out.append(f"These campaigns ran on {len(groups)} different networks ("
                   + "; ".join(f"{g.label}: {len(g.run_ids)} campaign(s)" for g in groups)
                   + "); they are ranked within each network, never across networks.")
    unknown = [g for g in groups if g.key.startswith("label:")]
    if unknown and len(groups) == 1 and len(unknown[0].run_ids) > 1:
        out.append(f"No network digest was logged for these campaigns ({unknown[0].label}): they are ranked together "
                   "on the assumption that they share one network.")
    for g in groups:
        where = f"On {g.label}: " if len(groups) > 1 else ""
        names = set(loaded.runs.loc[loaded.runs["run_id"].isin(g.run_ids), "run_name"])
        ranked = campaigns[campaigns["run_name"].isin(names)]
        if len(ranked) > 1:
            out.append(f"{where or 'C'}{'c' if where else ''}ampaigns by severity (share of severe faults, then moderate, mild, critical): "
                       + ", ".join(f"{r['rank']}. {r['run_name']} ({100 * r[sv.drop_column(t3)]:.1f}% severe, "
                                   f"{100 * r['critical_rate']:.1f}% critical)" for r in ranked.to_dict("records"))
                       + "." + (" Rank numbers with = are ties." if ranked["rank"].str.endswith("=").any() else ""))
        for label, table, by in (("Worst layer", per_layer, "layer"), ("Worst fault model", per_model, "model")):
            worst = _worst(table[table["run_name"].isin(names)].reset_index(drop=True), rates[by], by, thresholds)
            if worst:
                out.append(f"{where}{label}: {worst}.")
    return out


def _summary_section(loaded: LoadedRuns, confidence: float, summary: pd.DataFrame, facts: pd.DataFrame,
                     searches: list[ToolRun], testgens: list[ToolRun], notes: list[str],
                     thresholds: Sequence[float]) -> Section:
    section = Section("Executive summary", f"{len(loaded.runs)} campaign(s), {len(loaded.rounds)} fault rounds; "
                      f"a fault is critical when it makes at least one sample that the golden network gets right "
                      f"wrong; intervals are {confidence:.0%} Wilson intervals; drops in percentage points (pp).")
    section.bullets += _severity_bullets(loaded, confidence, thresholds)
    section.bullets.append(_baseline_bullet(loaded, searches))
    words = {r["run_name"]: _campaign_words(r, thresholds) for r in
             sv.severity_table(loaded, None, thresholds).to_dict("records")}
    golden_of = dict(zip(loaded.runs["run_id"], loaded.runs["golden_accuracy"], strict=True))  # run names may repeat
    for s, f in zip(summary.to_dict("records"), facts.to_dict("records"), strict=True):
        section.bullets.append(
            f"{s['run_name']} ({f['faults injected']} in {f['layers']}; {f['timing']}; quantization "
            f"{f['quantization']}): critical-fault rate {100 * s['critical_rate']:.1f}% "
            f"{_pct(s['ci_low'], s['ci_high'])} over {s['rounds']} faults; mean accuracy drop "
            f"{s['mean_drop_pp']:.2f} pp, worst {100 * (golden_of[s['run_id']] - s['accuracy_min']):.2f} pp; "
            f"{words[s['run_name']]}.")
    for r in searches:
        m = r.metrics
        worst = r.tags.get(sc.TAG_BEST_FAULTS) or "n/a"
        samples = r.params.get(sc.PARAM_TEST_SAMPLES)
        section.bullets.append(
            f"Search {r.run_name}: the worst fault set found in {int(m.get(sc.METRIC_TRIALS_TOTAL, 0))} trials "
            f"({worst}) leaves accuracy {m.get(sc.METRIC_BEST_ACCURACY, math.nan):.4f}, a drop of "
            f"{100 * m.get(sc.METRIC_BEST_ACCURACY_DROP, math.nan):.2f} pp from its golden accuracy "
            f"{m.get(sc.METRIC_GOLDEN_ACCURACY, math.nan):.4f}" + (f" on {samples} samples" if samples else "") + ".")
    for r in testgens:
        m = r.metrics
        if sc.METRIC_COVERAGE_ALL in m:
            hindsight = (f"; the best {int(m[sc.METRIC_HINDSIGHT_TEST_LENGTH])} inputs chosen with hindsight on all "
                         f"faults: {100 * m[sc.METRIC_HINDSIGHT_COVERAGE_HELDOUT]:.2f}%"
                         if sc.METRIC_HINDSIGHT_COVERAGE_HELDOUT in m else "")
            section.bullets.append(
                f"Test program {r.run_name}: {int(m.get(sc.METRIC_TEST_LENGTH, 0))} inputs detect "
                f"{100 * m.get(sc.METRIC_COVERAGE_HELDOUT, math.nan):.2f}% of the held-out faults the selection never "
                f"saw{hindsight} ({100 * m[sc.METRIC_COVERAGE_ALL]:.2f}% of all {int(m.get(sc.METRIC_FAULTS, 0))} "
                "faults).")
    section.bullets += notes
    return section


def build_report(loaded: LoadedRuns, confidence: float = 0.95, top: int = 10,
                 comparison: pd.DataFrame | None = None, compare_names: tuple[str, str] = ("A", "B"),
                 searches: list[ToolRun] | None = None, testgens: list[ToolRun] | None = None,
                 severity: Sequence[float] = sc.SEVERITY_THRESHOLDS_PP) -> Report:
    """The report's sections from campaign runs (and optional search / test-generation runs);
    ``severity``: the three accuracy-drop thresholds in pp of the severity classes
    (:mod:`analysis.severity`). Figures are drawn in matplotlib's default style (:func:`styled`).

    Raises:
        ConfigError: ``severity`` is not three increasing positive numbers.
    """
    thresholds = sv.check_thresholds(severity)
    return styled(lambda: _build(loaded, confidence, top, comparison, compare_names, searches or [], testgens or [],
                                 thresholds))


def _severity_section(loaded: LoadedRuns, thresholds: Sequence[float]) -> Section:
    t1, t2, t3 = thresholds
    groups = sv.network_groups(loaded)
    return Section(
        "Severity of the faults",
        f"Share of fault rounds whose accuracy drop exceeds {t1:g}, {t2:g} and {t3:g} pp (the classes "
        + ", ".join(sv.band_label(c, thresholds) for c in sc.SEVERITY_CLASSES)
        + "); typical = the class of the median round. Ranked within each network (network = first 12 hex digits of "
        "its canonical digest) by the share above the highest threshold, then the next ones, then the critical-fault "
        "rate; rows equal in all of them share a rank (2=)."
        + (f" {len(groups)} networks: rows of different networks are not ranked against each other." if len(groups) > 1
           else ""),
        tables=[("Per campaign", sv.severity_table(loaded, None, thresholds)),
                ("Per layer", sv.severity_table(loaded, "layer", thresholds)),
                ("Per fault model", sv.severity_table(loaded, "model", thresholds))])


def _heatmap_scale(loaded: LoadedRuns) -> tuple[float, float]:
    """One accuracy colour scale for every heat map of the report: from the lowest single-fault
    round accuracy to the highest golden accuracy (so a flat map of 0.10 reads as uniformly bad)."""
    rounds = loaded.rounds[loaded.rounds["pos0"] >= 0]
    if "n_faults" in rounds.columns:
        rounds = rounds[rounds["n_faults"] == 1]
    acc = rounds["accuracy"].to_numpy(dtype=float)
    low = float(acc.min()) if len(acc) else 0.0
    high = max(float(loaded.runs["golden_accuracy"].max()), float(acc.max()) if len(acc) else 1.0)
    if high - low < 1e-9:
        low, high = low - 0.05, high + 0.05
    return max(0.0, low), min(1.0, high)


def _build(loaded: LoadedRuns, confidence: float, top: int, comparison: pd.DataFrame | None,
           compare_names: tuple[str, str], searches: list[ToolRun], testgens: list[ToolRun],
           thresholds: Sequence[float]) -> Report:
    rounds, sections, left_out = loaded.rounds, [], []
    figures = _Figures()
    summary = stats.campaign_summary(loaded, confidence)
    facts = stats.campaign_facts(loaded)
    per_layer = stats.critical_rates(loaded, "layer", confidence)
    per_model = stats.critical_rates(loaded, "model", confidence)
    notes = stats.golden_warnings(loaded) + stats.golden_notes(loaded)
    head = _summary_section(loaded, confidence, summary, facts, searches, testgens, notes, thresholds)
    sections.append(head)

    sections.append(Section("Campaigns", "What each campaign injected, where, when, and on which golden network.",
                            tables=[("", facts)]))
    golden = Section("Golden baseline", "Fault-free accuracy of each campaign's golden network on its samples "
                     "(a quantized campaign's golden network is the quantized one).",
                     tables=[("", stats.golden_baseline(loaded))])
    golden.bullets += notes
    sections.append(golden)
    gap, gap_layers = deployment_tables(loaded.runs, loaded.meta, rounds)
    if len(gap):  # quantized or deployed campaigns: float golden vs deployed golden, apart from faults
        sections.append(Section("Deployment gap", deployment_section_text(),
                                tables=[("Accuracy", gap), ("Spikes per layer (golden, no faults)", gap_layers)]))
    sections.append(Section(
        "Campaign summary",
        f"A round is critical when at least one sample the golden network gets right is misclassified; "
        f"intervals are {confidence:.0%} Wilson intervals; mean_drop_pp = golden accuracy - mean accuracy, in "
        "percentage points.", tables=[("", summary)]))
    sections.append(_severity_section(loaded, thresholds))

    section = Section(
        "Critical-fault rate per layer and per fault model",
        f"Rate = critical rounds / rounds, {confidence:.0%} Wilson interval. Neuron and synapse faults are separate "
        "rows (separate fault populations). margin = statistical-FI margin of error that the single-fault rounds "
        "achieve over the single-fault population of that target (sites x parameter values; 0 = exhaustive); "
        "multi-site rounds count in the rate but not against that population.",
        tables=[("Per layer", per_layer), ("Per fault model", per_model)])
    try:
        figures.add(section, "Critical fault rounds per layer", _png(_rates_figure(loaded, confidence)))
    except SpikeFIError as exc:
        left_out.append(f"critical-rate figure ({exc})")
    sections.append(section)

    drops = Section("Accuracy-drop distribution", "Golden accuracy minus the round's accuracy, in percentage points.",
                    tables=[("", stats.accuracy_drops(loaded))])
    figures.add(drops, "Accuracy drop per round", _png(_drop_figure(loaded)))
    sections.append(drops)

    scale = _heatmap_scale(loaded)
    heat = Section("Per-site heat maps", "Mean accuracy over the fault sites of each injected layer, per fault model "
                   "and parameter value (single-fault rounds; blank cells: no fault; dense layers one cell per "
                   f"neuron). One colour scale for every map of this report: accuracy {scale[0]:.4f} (darkest) to "
                   f"{scale[1]:.4f} (brightest, the highest golden accuracy), so maps compare by colour. The campaign "
                   "runs' plots/ scale each map to its own values.")
    for run in loaded.runs.itertuples():
        shapes = {k: v.get("neuron_shape") for k, v in loaded.meta.get(run.run_id, {}).get("layers", {}).items()}
        try:
            for caption, fig in heatmap_figures(rounds[rounds["run_id"] == run.run_id], shapes, scale):
                figures.add(heat, caption, _png(fig))
        except SpikeFIError as exc:
            left_out.append(f"heat maps of {run.run_name} ({exc})")
    if heat.figures:
        sections.append(heat)
    else:
        left_out.append("per-site heat maps (no single-fault rounds)")

    param = Section("Accuracy vs fault parameter", "Mean accuracy (min-max band) against the fault model's parameter.")
    for run in loaded.runs.itertuples():
        t = rounds[rounds["run_id"] == run.run_id]
        for model in pd.unique(t["model"]):
            mt = t[(t["model"] == model) & t["param"].notna()]
            if mt["param"].nunique() < 2:
                continue
            try:
                figures.add(param, f"{run.run_name}: {model}", _png(plots.accuracy_vs_parameter(mt, model)))
            except SpikeFIError as exc:
                left_out.append(f"accuracy vs parameter of {run.run_name}/{model} ({exc})")
    if param.figures:
        sections.append(param)
    else:
        left_out.append("accuracy vs fault parameter (no fault model with a varying parameter)")

    spikes = stats.spike_changes(loaded)
    if len(spikes):
        sections.append(Section("Spike statistics per layer",
                                "Golden spike counts and the mean relative change under faults.", tables=[("", spikes)]))
    else:
        left_out.append("spike statistics (no spikes.<layer> columns)")

    ranking = Section("Most critical fault sites",
                      f"Per campaign, its (up to) {top} rounds with the most critical samples; multi-site rounds list "
                      "their sites.")
    for run_name, table in stats.site_ranking(loaded, top).items():
        if len(table):
            ranking.tables.append((run_name, table))
        else:
            ranking.bullets.append(f"{run_name}: no critical faults.")
    sections.append(ranking)

    if searches:
        sections.append(_search_section(searches, top, figures))
    else:
        left_out.append("search: worst faults and Pareto front (no search runs)")
    if testgens:
        sections.append(_testgen_section(testgens, figures))
    else:
        left_out.append("test program coverage (no test-generation runs)")

    if comparison is not None:
        a, b = compare_names
        sections.append(Section(
            f"Comparison: {a} vs {b}",
            "Critical-fault rate per layer and per fault model of both groups; McNemar's exact test where both "
            "evaluated the same faults (paired by layer, site, model, parameter), else Fisher's exact test; p-values "
            "Holm-adjusted across layers and models.", tables=[("", comparison)]))

    if loaded.skipped:
        head.bullets.append("Runs left out: " + "; ".join(
            f"skipped run {s['run_id']} ({s['run_name']}): {s['reason']}" for s in loaded.skipped) + ".")
    if left_out:
        head.bullets.append("Not in this report (does not apply to this selection): " + "; ".join(left_out) + ".")
    title = f"Reliability report: {loaded.experiment_name or 'selected runs'}"
    return Report(title, sections, loaded.skipped, left_out)


def _search_section(searches: list[ToolRun], top: int, figures: _Figures) -> Section:
    section = Section("Search: worst faults and Pareto front",
                      "Worst-case fault search (experiments.search): each row is one complete trial's fault set, "
                      "evaluated on the whole test set; drop_pp = golden accuracy - faulty accuracy, in percentage "
                      "points.")
    overview = []
    for r in searches:
        m, p = r.metrics, r.params
        overview.append({
            "search": r.run_name, "objective": p.get(sc.PARAM_OBJECTIVE, ""), "sampler": p.get(sc.PARAM_SAMPLER, ""),
            "models": p.get(sc.PARAM_MODELS, ""), "k": p.get(sc.PARAM_K, ""),
            "trials": int(m.get(sc.METRIC_TRIALS_TOTAL, 0)), "pruned": int(m.get(sc.METRIC_TRIALS_PRUNED, 0)),
            "golden accuracy": m.get(sc.METRIC_GOLDEN_ACCURACY, math.nan),
            "worst accuracy": m.get(sc.METRIC_BEST_ACCURACY, math.nan),
            "drop_pp": 100 * m.get(sc.METRIC_BEST_ACCURACY_DROP, math.nan),
            "sites": int(m.get(sc.METRIC_BEST_SITES, 0)), "study": p.get(sc.PARAM_STUDY_NAME, ""),
        })
        best = r.tables.get("pareto_front.csv", r.tables.get("best_faults.csv"))
        if best is not None and "state" in best.columns:
            best = best[best["state"] == "COMPLETE"]  # complete trials only: pruned ones saw part of the test set
        if best is not None and len(best):
            best = best.assign(drop_pp=100 * best["accuracy_drop"]) if "accuracy_drop" in best.columns else best
            cols = [c for c in ("trial", "accuracy", "drop_pp", "critical_samples", "sites", "description")
                    if c in best.columns]
            section.tables.append((f"Worst fault sets of {r.run_name}", best[cols].head(top)))
        for name, caption in (("optimization_history.png", "optimization history"),
                              ("pareto_front.png", "Pareto front: accuracy drop vs faulty sites"),
                              ("param_importances.png", "parameter importances")):
            if name in r.images:
                figures.add(section, f"{r.run_name}: {caption}", base64.b64encode(r.images[name]).decode("ascii"))
    section.tables.insert(0, ("", pd.DataFrame(overview)))
    return section


def _testgen_section(testgens: list[ToolRun], figures: _Figures) -> Section:
    section = Section("Test program coverage", "Test programs (experiments.testgen): coverage = detected / detectable "
                      "faults, measured by applying the program to the faulty networks; the held-out half of the "
                      "fault list was not used to select the tests.")
    overview = []
    shown = {sc.METRIC_FAULTS: "faults", sc.METRIC_TEST_LENGTH: "test length",
             sc.METRIC_COVERAGE_HELDOUT: "coverage (held-out half)",
             sc.METRIC_HINDSIGHT_COVERAGE_HELDOUT: "held-out, best set in hindsight",
             sc.METRIC_COVERAGE_SELECTION: "coverage (selection half)", sc.METRIC_COVERAGE_ALL: "coverage (all)",
             sc.METRIC_UNDETECTED: "undetected", sc.METRIC_GENERATED_IN_PROGRAM: "generated inputs in program",
             sc.METRIC_GENERATED_GAIN_ALL: "faults gained by generated inputs"}
    for r in testgens:
        row: dict[str, object] = {"test generation": r.run_name, "fault source": r.params.get(sc.PARAM_FAULT_SOURCE, "")}
        row.update({label: int(r.metrics[k]) if "coverage" not in k else r.metrics[k]
                    for k, label in shown.items() if k in r.metrics})
        row["network"] = r.params.get("network", "")
        row["network digest"] = (r.params.get(sc.PARAM_NETWORK_DIGEST_QUANTIZED)
                                 or r.params.get(sc.PARAM_NETWORK_DIGEST, ""))[:12]
        overview.append(row)
        curve = r.tables.get("coverage_curve.csv")
        if curve is not None and len(curve):
            section.tables.append((f"Coverage curve of {r.run_name}", curve.assign(**{"test generation": r.run_name})))
        inputs = r.tables.get("program_inputs.csv")
        if inputs is not None and len(inputs):
            cols = [c for c in ("test", "origin", "sample", "label", "expected_class", "detects", "new_detections",
                                "faults") if c in inputs]
            section.tables.append((f"Inputs of the test program of {r.run_name} (sample id in the test split, label, "
                                   "faults each detects)", inputs[cols]))
        undetected = r.tables.get("undetected.csv")
        if undetected is not None and len(undetected):
            if "fault_id" in undetected:  # the JSON fault specs in words: "dead neuron SF4 (4, 0, 0)"
                undetected = undetected.assign(fault=undetected["fault_id"].map(describe_fault_id))
            cols = [c for c in ("fault", "half", "detectable", "detected_by_samples") if c in undetected]
            shown = undetected[cols or list(undetected.columns)[:6]]
            section.tables.append((f"Undetected faults of {r.run_name}"
                                   + (f" (first 25 of {len(shown)})" if len(shown) > 25 else ""), shown.head(25)))
        for name, img in r.images.items():
            figures.add(section, f"{r.run_name}: {name.removesuffix('.png').replace('_', ' ')}",
                        base64.b64encode(img).decode("ascii"))
    section.tables.insert(0, ("", pd.DataFrame(overview)))
    return section


def _md_cell(value: Any) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def _md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<div class='table'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def to_markdown(report: Report, figure_dir: str = "figures") -> str:
    """The report as Markdown; figures are links to ``<figure_dir>/<file>`` (written by :func:`write_report`)."""
    out = [f"# {report.title}", ""]
    for s in report.sections:
        out += [f"## {s.title}", "", s.text, ""]
        if s.bullets:
            out += [f"- {b}" for b in s.bullets] + [""]
        for heading, table in s.tables:
            if heading:
                out += [f"**{heading}**", ""]
            out += [_md_table(table), ""]
        for caption, _b64, name in s.figures:
            out += [f"![{caption}]({figure_dir}/{name})", ""]
    return "\n".join(out)


#: fits a laptop window (1280 px and less): long cells wrap, a table wider than the page scrolls
#: inside its own box instead of being clipped, figures shrink to the page
_CSS = """body{font-family:sans-serif;max-width:min(1200px,96vw);margin:2em auto;padding:0 1em;color:#222;
background:#fff;box-sizing:border-box}.table{overflow-x:auto;max-width:100%;margin:1em 0}
table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #bbb;padding:3px 6px;max-width:30em;
overflow-wrap:anywhere;vertical-align:top}th{background:#eee;position:sticky;top:0}
figure{display:inline-block;margin:0.5em;max-width:100%}img{max-width:min(560px,100%)}"""


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page (figures inline, no external links)."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(report.title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(report.title)}</h1>"]
    for s in report.sections:
        parts.append(f"<section><h2>{html.escape(s.title)}</h2><p>{html.escape(s.text)}</p>")
        if s.bullets:
            parts.append("<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in s.bullets) + "</ul>")
        for heading, table in s.tables:
            if heading:
                parts.append(f"<h3>{html.escape(heading)}</h3>")
            parts.append(_html_table(table))
        parts += [f"<figure><img alt='{html.escape(c)}' src='data:image/png;base64,{b64}'>"
                  f"<figcaption>{html.escape(c)}</figcaption></figure>" for c, b64, _name in s.figures]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: Report, output_dir: str | Path) -> tuple[Path, Path]:
    """Writes ``report.html``, ``report.md`` and the Markdown's figures (``figures/*.png``) into
    ``output_dir``; returns the paths of the two reports."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    figure_dir = output_dir / "figures"
    names = [(name, b64) for s in report.sections for _c, b64, name in s.figures]
    if names:
        figure_dir.mkdir(exist_ok=True)
        for old in figure_dir.glob("*.png"):
            old.unlink()
        for name, b64 in names:
            (figure_dir / name).write_bytes(base64.b64decode(b64))
    html_path, md_path = output_dir / "report.html", output_dir / "report.md"
    html_path.write_text(to_html(report), encoding="utf-8")
    md_path.write_text(to_markdown(report), encoding="utf-8")
    return html_path, md_path
