"""The report's numbers equal an independent computation from the same Parquet tables (read from
the campaigns' local copies, not through MLflow); the on-purpose critical fault ranks first;
comparisons use McNemar's test for paired faults and Fisher's otherwise; bad input is reported."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy.stats import binomtest, fisher_exact, norm

from analysis.load import load_runs
from analysis.stats import compare_groups, holm
from experiments import report as entry
from spikefi.errors import ConfigError

from .conftest import EXPERIMENT, SWEEP_EXPERIMENT

MAIN = ("dead-a", "mixed")  # the campaign runs of EXPERIMENT, oldest first


def f4(x: float) -> str:
    return f"{x:.4f}"


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Written out here on purpose (not spikefi's implementation)."""
    z = norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def md_tables(markdown: str) -> dict[str, list[list[dict[str, str]]]]:
    """Section title -> its tables, each a list of rows (column -> cell text)."""
    out: dict[str, list[list[dict[str, str]]]] = {}
    for block in re.split(r"^## ", markdown, flags=re.M)[1:]:
        title, _, body = block.partition("\n")
        tables, lines = [], body.splitlines()
        i = 0
        while i < len(lines):
            if lines[i].startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
                head = [c.strip() for c in lines[i].strip("|").split(" | ")]
                rows, i = [], i + 2
                while i < len(lines) and lines[i].startswith("| "):
                    rows.append(dict(zip(head, [c.strip() for c in lines[i].strip("|").split(" | ")], strict=True)))
                    i += 1
                tables.append(rows)
            else:
                i += 1
        out[title.strip()] = tables
    return out


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images, self.cells, self.links = [], [], []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("td", "th"):
            self._cell = ""
        if tag in ("link", "script") or (tag == "a" and attrs.get("href", "").startswith("http")):
            self.links.append(tag)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None


def test_load_one_row_per_round_with_run_metadata_and_failed_run_skipped(store):
    loaded = load_runs(EXPERIMENT)
    assert list(loaded.runs["run_name"]) == list(MAIN)  # not the shard, launcher or failed run
    assert len(loaded.rounds) == 10 + 30
    for name in MAIN:
        run_id = store.run_ids[name]
        table = pd.read_parquet(store.table_path(name))
        mine = loaded.rounds[loaded.rounds["run_id"] == run_id]
        assert (mine["run_name"] == name).all() and (mine["network"] == "pretrained:digits_cnn").all()
        assert mine["round_id"].tolist() == table["round_id"].tolist()
        assert mine["critical"].tolist() == table["critical"].tolist()
        assert mine["accuracy"].tolist() == pytest.approx(table["accuracy"].tolist())
    assert [(s["run_id"], s["status"]) for s in loaded.skipped] == [(store.failed_id, "FAILED")]
    # the summary metrics each run logged, read back (legacy names in older stores: test_legacy_metrics)
    for row in loaded.runs.to_dict("records"):
        table = pd.read_parquet(store.table_path(row["run_name"]))
        assert row["logged.critical_fault_rate"] == pytest.approx((table["critical"] > 0).mean())
        assert row["logged.rounds"] == len(table)
    assert "killed by test" in loaded.skipped[0]["reason"]
    # explicit selection
    only = load_runs(run_ids=[store.run_ids["mixed"]])
    assert set(only.rounds["run_name"]) == {"mixed"} and only.experiment_name == EXPERIMENT


def test_report_numbers_equal_independent_computation(store, cli_report):
    markdown, html_text, printed, out = cli_report
    assert str(out / "report.html") in printed and str(out / "report.md") in printed
    sections = md_tables(markdown)

    tables = {name: pd.read_parquet(store.table_path(name)) for name in MAIN}
    golden_rows = {r["run_name"]: r for r in sections["Golden baseline"][0]}
    summary_rows = {r["run_name"]: r for r in sections["Campaign summary"][0]}
    layer_rows = {(r["run_name"], r["layer"]): r for r in sections["Critical-fault rate per layer and per fault model"][0]}
    model_rows = {(r["run_name"], r["model"]): r for r in sections["Critical-fault rate per layer and per fault model"][1]}
    for name, t in tables.items():
        golden = float(t["golden_accuracy"].iloc[0])
        n, k = len(t), int((t["critical"] > 0).sum())
        assert golden_rows[name]["golden_accuracy"] == f4(golden)
        row = summary_rows[name]
        assert (row["rounds"], row["critical_faults"]) == (str(n), str(k))
        low, high = wilson(k, n)
        assert (row["critical_rate"], row["ci_low"], row["ci_high"]) == (f4(k / n), f4(low), f4(high))
        assert row["accuracy_mean"] == f4(t["accuracy"].mean())
        assert row["mean_drop_pp"] == f4(100 * (golden - t["accuracy"].mean()))  # one unit for drops: pp
        for layer, g in t.groupby("layer"):
            kl = int((g["critical"] > 0).sum())
            row = layer_rows[(name, layer)]
            assert row["target"] == "neuron" and row["multi_site_rounds"] == "0"
            assert (row["rounds"], row["critical_faults"], row["critical_rate"]) == (str(len(g)), str(kl), f4(kl / len(g)))
            assert (row["ci_low"], row["ci_high"]) == tuple(map(f4, wilson(kl, len(g))))
        for model, g in t.groupby("model"):
            km = int((g["critical"] > 0).sum())
            row = model_rows[(name, model)]
            assert (row["critical_rate"], row["ci_low"], row["ci_high"]) == (f4(km / len(g)), *map(f4, wilson(km, len(g))))
            # exhaustive over the 10 output neurons (x 2 factors for the parametric model): margin 0
            assert row["population"] == str(len(g)) and row["margin"] == f4(0.0)
    drops = {r["run_name"]: r for r in sections["Accuracy-drop distribution"][0]}
    for name, t in tables.items():
        drop = t["golden_accuracy"] - t["accuracy"]
        assert (drops[name]["drop_median_pp"], drops[name]["drop_max_pp"]) == (f4(100 * drop.median()),
                                                                                f4(100 * drop.max()))
        assert drops[name]["rounds_with_drop"] == str(int((drop > 0).sum()))
    # the executive summary comes first; the failed run is named as left out; sections without
    # data are left out and listed once (not shown as "not available")
    assert markdown.index("## Executive summary") < markdown.index("## Campaigns") < markdown.index("## Golden")
    assert "Runs left out: skipped run" in markdown and store.failed_id in markdown
    assert "## Search" not in markdown and "not available" not in markdown
    assert markdown.count("search: worst faults and Pareto front (no search runs)") == 1

    parsed = _Html()
    parsed.feed(html_text)
    assert not parsed.links
    # rates figure, drop distribution, one heat map per campaign, fault model and parameter value
    # (dead-a; mixed: saturated, theta x0.5, theta x2), accuracy vs theta factor
    assert len(parsed.images) == 1 + 1 + (1 + 3) + 1
    assert all(src.startswith("data:image/png;base64,iVBOR") for src in parsed.images)
    for t in tables.values():
        assert f4(100 * (float(t["golden_accuracy"].iloc[0]) - t["accuracy"].mean())) in parsed.cells
    # the Markdown links the same figures as PNG files next to it
    links = re.findall(r"!\[[^]]*\]\((figures/[^)]+\.png)\)", markdown)
    assert len(links) == len(parsed.images) and all((out / link).is_file() for link in links)

    # logged as a report run (which analysis then ignores)
    client = MlflowClient(store.uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    (run,) = client.search_runs([exp.experiment_id], "tags.`spikefi.kind` = 'report'", max_results=5)[-1:]
    assert run.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(run.info.run_id, "report")} == {
        "report/report.html", "report/report.md", "report/figures"}
    assert len(load_runs(EXPERIMENT).runs) == 2


def test_on_purpose_critical_fault_ranks_first(store, cli_report):
    """Most critical fault sites per campaign; a campaign without any says so."""
    markdown = cli_report[0]
    section = markdown.split("## Most critical fault sites")[1].split("\n## ")[0]
    tables = iter(md_tables(markdown)["Most critical fault sites"])
    for name in MAIN:
        t = pd.read_parquet(store.table_path(name))
        hits = t[t["critical"] > 0].sort_values(["critical", "accuracy"], ascending=[False, True], kind="stable")
        if hits.empty:
            assert f"- {name}: no critical faults." in section
            continue
        assert f"**{name}**" in section
        ranking = next(tables)
        first = ranking[0]
        assert (first["rank"], first["round_id"]) == ("1", str(hits.iloc[0]["round_id"]))
        assert first["critical"] == str(int(hits.iloc[0]["critical"]))
        assert first["site"] == f"SF4 ({int(hits.iloc[0]['pos0'])}, 0, 0)"
        assert [int(r["critical"]) for r in ranking] == hits["critical"].tolist()[:len(ranking)]
        if name == "mixed":  # the saturated output neuron wins every sample: the fault made critical on purpose
            assert first["fault"] == "SaturatedNeuron" and int(first["critical"]) >= 12
    assert "accuracy vs fault parameter" not in markdown.split("## Golden baseline")[0]


def test_compare_paired_mcnemar_and_independent_fisher(store):
    a, b, mixed = (store.run_ids[n] for n in ("dead-a", "dead-b", "mixed"))
    ta, tb, tm = (pd.read_parquet(store.table_path(n)) for n in ("dead-a", "dead-b", "mixed"))
    paired = compare_groups(load_runs(run_ids=[a]), load_runs(run_ids=[b]))
    assert list(zip(paired["by"], paired["group"], strict=True)) == [("layer", "SF4"), ("model", "DeadNeuron")]
    row = paired.to_dict("records")[0]
    assert row["test"] == "McNemar (exact)" and paired["test"].tolist()[1] == "McNemar (exact)"
    hit_a = ta.set_index("pos0")["critical"] > 0
    hit_b = tb.set_index("pos0")["critical"] > 0
    only_a, only_b = int((hit_a & ~hit_b).sum()), int((~hit_a & hit_b).sum())
    expected = binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
    assert row["p_value"] == pytest.approx(expected) and row["detail"] == f"discordant {only_a}/{only_b}"
    # the same faults with six of them made harmless in group B: 6 discordant pairs, all one way
    same_a, harmless_b = load_runs(run_ids=[a]), load_runs(run_ids=[a])
    harmless_b.rounds.loc[harmless_b.rounds["round_id"] < 6, "critical"] = 0
    row = compare_groups(same_a, harmless_b).to_dict("records")[0]
    assert (row["test"], row["detail"]) == ("McNemar (exact)", "discordant 6/0")
    assert row["p_value"] == pytest.approx(2 * 0.5**6)
    # Holm over two identical p-values (layer SF4 and model DeadNeuron hold the same 10 faults)
    assert paired["p_holm"].tolist() == pytest.approx([min(1.0, 2 * expected)] * 2)

    independent = compare_groups(load_runs(run_ids=[a]), load_runs(run_ids=[mixed]))
    (row,) = independent.to_dict("records")  # no fault model in common: the layer only
    ka, km = int((ta["critical"] > 0).sum()), int((tm["critical"] > 0).sum())
    assert row["test"] == "Fisher exact" and (row["rate_a"], row["rate_b"]) == (ka / 10, km / 30)
    assert row["p_value"] == pytest.approx(fisher_exact([[ka, 10 - ka], [km, 30 - km]])[1])


def test_compare_cli_writes_the_comparison_section(store, tmp_path):
    a, b = store.run_ids["dead-a"], store.run_ids["dead-b"]
    assert entry.main(["--compare", a, b, "--output-dir", str(tmp_path), "--no-log"]) == 0
    (section,) = [v for k, v in md_tables((tmp_path / "report.md").read_text()).items() if k.startswith("Comparison")]
    assert (section[0][0]["by"], section[0][0]["group"], section[0][0]["test"]) == ("layer", "SF4", "McNemar (exact)")


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])


def test_bad_input_missing_experiment_empty_selection_unknown_run(store, capsys):
    with pytest.raises(ConfigError, match="experiment 'no-such' does not exist"):
        load_runs("no-such")
    assert entry.main(["--experiment", "no-such"]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="does not exist in this tracking store"):
        load_runs(run_ids=["0123456789abcdef0123456789abcdef"])
    # a selection holding only the failed run: nothing to report, and the message says why
    with pytest.raises(ConfigError, match=f"empty selection.*{store.failed_id}.*FAILED"):
        load_runs(run_ids=[store.failed_id])
    client = MlflowClient(store.uri)
    client.create_experiment("empty-one")
    with pytest.raises(ConfigError, match="empty selection"):
        load_runs("empty-one")
    with pytest.raises(ConfigError, match="nothing selected"):
        load_runs()


def test_compare_groups_without_a_common_layer_is_refused(store):
    a = load_runs(run_ids=[store.run_ids["dead-a"]])
    other = load_runs(run_ids=[store.run_ids["dead-b"]])
    other.rounds["layer"] = "FC9"  # as if another architecture had been injected
    with pytest.raises(ConfigError, match="share no injected layer"):
        compare_groups(a, other)
    wider = load_runs(run_ids=[store.run_ids["dead-b"]])
    for meta in wider.meta.values():
        meta["layers"]["SF4"]["neuron_shape"] = [12, 1, 1]  # as if another network had a wider output layer
    with pytest.raises(ConfigError, match=r"incompatible networks: layer 'SF4' has neuron shape\(s\) \[\(10, 1, 1\)\]"):
        compare_groups(a, wider)


def test_report_cli_skips_a_failed_run_given_explicitly(store, tmp_path, capsys):
    ids = [store.run_ids["dead-a"], store.failed_id]
    assert entry.main(["--runs", *ids, "--output-dir", str(tmp_path), "--no-log"]) == 0
    markdown = (tmp_path / "report.md").read_text()
    assert f"skipped run {store.failed_id} (crashed): status FAILED: killed by test" in markdown
    assert [r["run_name"] for r in md_tables(markdown)["Campaign summary"][0]] == ["dead-a"]


def test_sweep_parent_stands_for_its_children(store, tmp_path):
    by_parent = load_runs(parent=store.sweep_id)
    by_id = load_runs(run_ids=[store.sweep_id])
    by_experiment = load_runs(SWEEP_EXPERIMENT)
    for loaded in (by_parent, by_id, by_experiment):
        assert list(loaded.runs["run_name"]) == ["dead-b"]
        assert len(loaded.rounds) == 10 and not loaded.skipped
    assert by_parent.experiment_name == SWEEP_EXPERIMENT
    with pytest.raises(ConfigError, match="has no child runs"):
        load_runs(parent=store.run_ids["dead-a"])
    assert entry.main(["--parent", store.sweep_id, "--output-dir", str(tmp_path)]) == 0
    summary = md_tables((tmp_path / "report.md").read_text())["Campaign summary"][0]
    assert [r["run_name"] for r in summary] == ["dead-b"]
