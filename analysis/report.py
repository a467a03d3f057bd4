"""Reliability report: self-contained HTML (figures as base64 PNG) plus a Markdown summary.

Every number comes from :mod:`analysis.stats`, computed from the per-round Parquet tables.
Sections whose data is absent say "not available"; the report lists the runs it left out.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from spikefi import plots  # noqa: E402
from spikefi.errors import SpikeFIError  # noqa: E402

from . import stats  # noqa: E402
from .extras import ToolRun  # noqa: E402
from .load import LoadedRuns  # noqa: E402

__all__ = ["Report", "build_report", "write_report", "fmt"]

NOT_AVAILABLE = "not available"


def fmt(value) -> str:
    """How every number appears in the report (tests format their own numbers the same way)."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "n/a" if math.isnan(value) else f"{float(value):.4f}"
    return str(value)


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[pd.DataFrame] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, base64 png)
    available: bool = True


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


def _dense_as_grid(rows: pd.DataFrame, width: int = 16) -> tuple[pd.DataFrame, str]:
    """Neurons of a dense layer (shape C x 1 x 1) laid out as rows of ``width`` (else unchanged).

    Pooling over channels would collapse a dense layer into one cell; here every output neuron
    gets its own cell: neuron index = width * row + column.
    """
    neurons = rows["pos3"] < 0
    if not neurons.any() or (rows.loc[neurons, ["pos1", "pos2"]] != 0).any().any():
        return rows, ""
    rows = rows.copy()
    index = rows.loc[neurons, "pos0"].astype(int)
    w = min(width, int(index.max()) + 1)
    rows.loc[neurons, "pos1"] = index // w
    rows.loc[neurons, "pos2"] = index % w
    rows.loc[neurons, "pos0"] = 0
    return rows, f"; dense layer: neuron index = {w} x row + column"


def _heatmap(rows: pd.DataFrame, layer: str, kind: str, label: str) -> tuple[str, Figure]:
    """Mean accuracy per fault site of one layer, fault model and parameter value."""
    caption, note = f"{layer}, {label} ({kind} faults)", ""
    if kind == "neuron":
        rows, note = _dense_as_grid(rows)
        caption += note
    fig = plots.site_heatmap(rows, layer, kind=kind)
    ax = fig.axes[0]
    rows_drawn = ax.images[0].get_array().shape[0]
    if rows_drawn <= 2:  # a strip of neurons: integer row ticks, a flatter figure
        ax.set_yticks(range(rows_drawn))
        fig.set_size_inches(7.0, 2.2 + 0.6 * rows_drawn)
    if note:
        ax.set_title(f"{layer}: accuracy per neuron under {label}", fontsize=12)
    else:
        ax.set_title(ax.get_title() + f"\n{label}", fontsize=12)
    return caption, fig


def build_report(loaded: LoadedRuns, confidence: float = 0.95, top: int = 10,
                 comparison: pd.DataFrame | None = None, compare_names: tuple[str, str] = ("A", "B"),
                 searches: list[ToolRun] | None = None, testgens: list[ToolRun] | None = None) -> Report:
    """The report's sections from campaign runs (and optional search / test-generation runs)."""
    rounds, sections, left_out = loaded.rounds, [], []

    golden = stats.golden_baseline(loaded)
    sections.append(Section("Golden baseline", "Fault-free accuracy of each campaign's network on its samples.",
                            [golden]))
    summary = stats.campaign_summary(loaded, confidence)
    sections.append(Section(
        "Campaign summary",
        f"A round is critical when at least one sample the golden network gets right is misclassified; "
        f"intervals are {confidence:.0%} Wilson intervals.", [summary]))

    per_layer = stats.critical_rates(loaded, "layer", confidence)
    per_model = stats.critical_rates(loaded, "model", confidence)
    section = Section(
        "Critical-fault rate per layer and per fault model",
        f"Rate = critical rounds / rounds, {confidence:.0%} Wilson interval; margin = statistical-FI margin of "
        "error the number of rounds achieves over the fault population (0 = exhaustive).",
        [per_layer, per_model])
    try:
        section.figures.append(("Critical fault rounds per layer", _png(_rates_figure(loaded, confidence))))
    except SpikeFIError as exc:
        section.text += f" Figure not available ({exc})."
    sections.append(section)

    sections.append(Section("Accuracy-drop distribution", "Golden accuracy minus the round's accuracy (fractions).",
                            [stats.accuracy_drops(loaded)], figures=[("Accuracy drop per round", _png(_drop_figure(loaded)))]))

    heat = Section("Per-site heat maps", "Mean accuracy over the fault sites of each injected layer "
                   "(single-fault rounds; blank cells: no fault).")
    for run in loaded.runs.itertuples():
        t = rounds[(rounds["run_id"] == run.run_id) & (rounds["n_faults"] == 1)]
        t = t.assign(_param=t["param"].fillna(-1.0))
        for (layer, model, param_value), group in t.groupby(["layer", "model", "_param"], sort=False):
            label = model if param_value == -1.0 else f"{model}, {group['param_name'].iloc[0]}={param_value:g}"
            for kind in ("neuron", "synapse"):
                if not ((group["pos3"] >= 0) == (kind == "synapse")).any():
                    continue
                try:
                    caption, fig = _heatmap(group, layer, kind, label)
                except SpikeFIError as exc:
                    left_out.append(f"heat map {run.run_name}/{layer}/{label}/{kind}: {exc}")
                    continue
                heat.figures.append((f"{run.run_name}: {caption}", _png(fig)))
    if not heat.figures:
        heat.available, heat.text = False, f"Per-site heat maps: {NOT_AVAILABLE} (no single-fault rounds)."
        left_out.append("per-site heat maps (no single-fault rounds)")
    sections.append(heat)

    param = Section("Accuracy vs fault parameter", "Mean accuracy (min-max band) against the fault model's parameter.")
    for run in loaded.runs.itertuples():
        t = rounds[rounds["run_id"] == run.run_id]
        for model in pd.unique(t["model"]):
            mt = t[(t["model"] == model) & t["param"].notna()]
            if mt["param"].nunique() < 2:
                continue
            try:
                param.figures.append((f"{run.run_name}: {model}", _png(plots.accuracy_vs_parameter(mt, model))))
            except SpikeFIError as exc:
                left_out.append(f"accuracy vs parameter {run.run_name}/{model}: {exc}")
    if not param.figures:
        param.available = False
        param.text = f"Accuracy vs fault parameter: {NOT_AVAILABLE} (no fault model with a varying parameter)."
        left_out.append("accuracy vs fault parameter (no varying parameter)")
    sections.append(param)

    spikes = stats.spike_changes(loaded)
    if len(spikes):
        sections.append(Section("Spike statistics per layer",
                                "Golden spike counts and the mean relative change under faults.", [spikes]))
    else:
        sections.append(Section("Spike statistics per layer", f"Spike statistics: {NOT_AVAILABLE}.", available=False))
        left_out.append("spike statistics (no spikes.<layer> columns)")

    ranking = stats.site_ranking(loaded, top)
    sections.append(Section("Most critical fault sites",
                            f"The {len(ranking)} rounds with the most critical samples.", [ranking]))

    sections.append(_search_section(searches or [], top, left_out))
    sections.append(_testgen_section(testgens or [], left_out))

    if comparison is not None:
        a, b = compare_names
        sections.append(Section(
            f"Comparison: {a} vs {b}",
            "Critical-fault rate per layer and per fault model of both groups; McNemar's exact test where both evaluated the same "
            "faults (paired by layer, site, model, parameter), else Fisher's exact test; p-values Holm-adjusted "
            "across layers and models.", [comparison]))

    title = f"Reliability report: {loaded.experiment_name or 'selected runs'}"
    return Report(title, sections, loaded.skipped, left_out)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _search_section(searches: list[ToolRun], top: int, left_out: list[str]) -> Section:
    title = "Search: worst faults and Pareto front"
    if not searches:
        left_out.append("search: worst faults and pareto front (no search runs)")
        return Section(title, f"{title}: {NOT_AVAILABLE} (no search runs in the selection).", available=False)
    section = Section(title, "Worst-case fault search (experiments.search): each row is one trial's fault set, "
                      "evaluated on the whole test set; accuracy drop = golden accuracy - faulty accuracy.")
    overview = []
    for r in searches:
        m, p = r.metrics, r.params
        overview.append({
            "search": r.run_name, "objective": p.get("objective", ""), "sampler": p.get("sampler", ""),
            "models": p.get("models", ""), "k": p.get("k", ""), "trials": int(m.get("trials_total", 0)),
            "pruned": int(m.get("trials_pruned", 0)), "golden accuracy": m.get("golden_accuracy", math.nan),
            "worst accuracy": m.get("best_accuracy", math.nan), "drop": m.get("best_accuracy_drop", math.nan),
            "sites": int(m.get("best_sites", 0)), "study": p.get("study_name", ""),
        })
        best = r.tables.get("pareto_front.csv", r.tables.get("best_faults.csv"))
        if best is not None and "state" in best.columns:
            best = best[best["state"] == "COMPLETE"]  # complete trials only: pruned ones saw part of the test set
        if best is not None and len(best):
            cols = [c for c in ("trial", "accuracy", "accuracy_drop", "critical_samples", "sites", "description")
                    if c in best.columns]
            section.tables.append(best[cols].head(top).rename(columns={"description": f"fault set ({r.run_name})"}))
        for name, caption in (("optimization_history.png", "optimization history"),
                              ("pareto_front.png", "Pareto front: accuracy drop vs faulty sites"),
                              ("param_importances.png", "parameter importances")):
            if name in r.images:
                section.figures.append((f"{r.run_name}: {caption}", _b64(r.images[name])))
    section.tables.insert(0, pd.DataFrame(overview))
    return section


def _testgen_section(testgens: list[ToolRun], left_out: list[str]) -> Section:
    title = "Test program coverage"
    if not testgens:
        left_out.append("test program coverage (no test-generation runs)")
        return Section(title, f"{title}: {NOT_AVAILABLE} (no test-generation runs in the selection).",
                       available=False)
    section = Section(title, "Test programs (experiments.testgen): coverage = detected / detectable faults, "
                      "measured by applying the program to the faulty networks; the held-out half of the fault "
                      "list was not used to select the tests.")
    overview = []
    shown = {"faults": "faults", "test_length": "test length", "coverage.selection": "coverage (selection half)",
             "coverage.heldout": "coverage (held-out half)", "coverage.all": "coverage (all)",
             "undetected": "undetected", "generated.in_program": "generated inputs in program",
             "generated.gain.all": "faults gained by generated inputs"}
    for r in testgens:
        row: dict[str, object] = {"test generation": r.run_name, "fault source": r.params.get("fault_source", "")}
        row.update({label: int(r.metrics[k]) if not k.startswith("coverage") else r.metrics[k]
                    for k, label in shown.items() if k in r.metrics})
        overview.append(row)
        curve = r.tables.get("coverage_curve.csv")
        if curve is not None and len(curve):
            section.tables.append(curve.assign(**{"test generation": r.run_name}))
        undetected = r.tables.get("undetected.csv")
        if undetected is not None and len(undetected):
            cols = [c for c in ("layer", "model", "half", "detectable", "detected_by_samples", "fault_id")
                    if c in undetected]
            section.tables.append(undetected[cols or list(undetected.columns)[:6]].head(25))
        for name, img in r.images.items():
            section.figures.append((f"{r.run_name}: {name.removesuffix('.png').replace('_', ' ')}", _b64(img)))
    section.tables.insert(0, pd.DataFrame(overview))
    return section


def _md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(fmt(v).replace("|", "\\|") for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _left_out_lines(report: Report) -> list[str]:
    lines = [f"skipped run {s['run_id']} ({s['run_name']}): {s['reason']}" for s in report.skipped]
    return lines + [f"left out: {item}" for item in report.left_out]


def to_markdown(report: Report) -> str:
    out = [f"# {report.title}", ""]
    lines = _left_out_lines(report)
    if lines:
        out += ["**Partial report.**", "", *[f"- {line}" for line in lines], ""]
    for s in report.sections:
        out += [f"## {s.title}", "", s.text, ""]
        for table in s.tables:
            out += [_md_table(table), ""]
        if s.figures:
            out += [f"_{len(s.figures)} figure(s) in the HTML report._", ""]
    return "\n".join(out)


_CSS = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #bbb;padding:3px 7px}
th{background:#eee}figure{display:inline-block;margin:0.5em}img{max-width:560px}.na{color:#a00}"""


def to_html(report: Report) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(report.title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(report.title)}</h1>"]
    lines = _left_out_lines(report)
    if lines:
        parts.append("<p><b>Partial report.</b></p><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines)
                     + "</ul>")
    for s in report.sections:
        cls = "" if s.available else " class='na'"
        parts.append(f"<section><h2>{html.escape(s.title)}</h2><p{cls}>{html.escape(s.text)}</p>")
        parts += [_html_table(t) for t in s.tables]
        parts += [f"<figure><img alt='{html.escape(c)}' src='data:image/png;base64,{b64}'>"
                  f"<figcaption>{html.escape(c)}</figcaption></figure>" for c, b64 in s.figures]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: Report, output_dir: str | Path) -> tuple[Path, Path]:
    """Writes ``report.html`` and ``report.md`` into ``output_dir``; returns their paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    html_path, md_path = output_dir / "report.html", output_dir / "report.md"
    html_path.write_text(to_html(report), encoding="utf-8")
    md_path.write_text(to_markdown(report), encoding="utf-8")
    return html_path, md_path
