"""What the report says about what was injected (issue 17 item 4), from result folders saved by
campaigns built in Python (``--from-results``, item 2): timing and quantization per campaign, sites
of multi-site and transient rounds, the int8 golden explained, critical sites per campaign (or
"no critical faults"), an executive summary first, drops in percentage points, left-out sections
listed once, figures linked from the Markdown, the statistical-FI margin per fault target."""

from __future__ import annotations

import re

import pytest

from experiments import report as entry
from spikefi.campaign import CampaignSpec
from spikefi.campaign.stats import margin_of_error

from .test_report import md_tables

SAMPLES = 32
FLOAT = {  # 10 single dead output neurons, 5 sampled dead synapses, one round of two dead neurons
    "name": "float-dead", "network": {"pretrained": "digits_cnn"}, "data": {"max_samples": SAMPLES},
    "rounds": [[{"model": "DeadNeuron", "sites": [{"layer": "SF4", "position": [3, 0, 0]}]},
                {"model": "DeadNeuron", "sites": [{"layer": "SF4", "position": [5, 0, 0]}]}]],
    "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}, {"model": "DeadSynapse", "layers": ["SF4"], "sample": 5}],
}
INT8 = {  # sign-bit flips of the int8 weight codes (none critical), two at once, a transient 5% of SC1
    "name": "int8-flips", "network": {"pretrained": "digits_cnn"}, "data": {"max_samples": SAMPLES},
    "options": {"quantization": {"dtype": "int8"}},
    "rounds": [[{"model": "BitFlipSynapse", "bits": 7, "sites": [{"layer": "SF4"}], "count": 2}],
               [{"model": "DeadNeuron", "sites": [{"layer": "SC1"}], "density": 0.05,
                 "timing": {"timing": "Window", "t_start": 3, "t_end": 9}}]],
    "exhaustive": [{"model": "BitFlipSynapse", "bits": 7, "layers": ["SF4"], "sample": 3}],
}


@pytest.fixture(scope="module")
def local_report(tmp_path_factory):
    """Both campaigns run in Python and saved with CampaignResult.save, then reported from disk."""
    tmp = tmp_path_factory.mktemp("local-results")
    results = {}
    for spec in (FLOAT, INT8):
        result = CampaignSpec.from_dict(spec).build().run(progress=False)
        result.meta["name"] = spec["name"]
        result.save(tmp / spec["name"])
        results[spec["name"]] = result
    out = tmp / "report"
    assert entry.main(["--from-results", str(tmp / "float-dead"), str(tmp / "int8-flips"), "--output-dir", str(out)]) == 0
    return (out / "report.md").read_text(), results, out


def test_executive_summary_first_and_left_out_sections_listed_once(local_report):
    markdown, results, _ = local_report
    assert markdown.index("## Executive summary") < markdown.index("## Campaigns") < markdown.index("## Golden")
    summary = markdown.split("## Executive summary")[1].split("\n## ")[0]
    assert "- Worst layer: SF4 (neuron faults, campaign float-dead)" in summary
    assert "- Worst fault model: DeadNeuron (neuron faults, campaign float-dead)" in summary
    t = results["float-dead"].table
    k, n = int((t["critical"] > 0).sum()), len(t)
    assert f"float-dead (dead neuron (never fires); dead synapse (weight 0) in SF4; permanent; quantization none " \
           f"(float weights)): critical-fault rate {100 * k / n:.1f}%" in summary
    assert "Not in this report (does not apply to this selection): " in summary
    assert "not available" not in markdown and "## Search" not in markdown and "## Test program" not in markdown
    assert markdown.count("test program coverage (no test-generation runs)") == 1


def test_each_campaign_states_timing_quantization_and_the_int8_golden(local_report):
    markdown, results, _ = local_report
    campaigns = {r["run_name"]: r for r in md_tables(markdown)["Campaigns"][0]}
    assert campaigns["int8-flips"]["timing"] == "permanent; transient: time bins 3-8 of every sample"
    assert campaigns["int8-flips"]["quantization"] == "int8 weight codes"
    assert campaigns["int8-flips"]["faults injected"] == "bit flip of bit 7 of the quantized weight code; " \
                                                        "dead neuron (never fires)"
    assert campaigns["float-dead"]["quantization"] == "none (float weights)"
    golden = {r["run_name"]: r for r in md_tables(markdown)["Golden baseline"][0]}
    q, f = (results[n].meta["golden"]["accuracy"] for n in ("int8-flips", "float-dead"))
    assert q != f  # the int8 network classifies one of the 32 samples differently
    assert golden["int8-flips"]["golden network"] == "int8 weight codes"
    assert f"- int8-flips: golden accuracy {q:.4f} because its golden network is the quantized one" in markdown


def test_multi_site_and_transient_rounds_show_their_sites_and_no_critical_faults_is_said(local_report):
    markdown, results, _ = local_report
    assert "(-1, -1, -1)" not in markdown and "(-1, -1, -1, -1)" not in markdown
    section = markdown.split("## Most critical fault sites")[1].split("\n## ")[0]
    assert "- int8-flips: no critical faults." in section
    ranking = md_tables(markdown)["Most critical fault sites"][0]
    t = results["float-dead"].table
    multi = t[t["n_faults"] == 2].iloc[0]
    assert multi["critical"] > 0  # two dead output neurons at once: critical, and ranked with both sites
    (row,) = [r for r in ranking if r["round_id"] == str(multi["round_id"])]
    assert row["site"] == "2 sites in SF4: (3, 0, 0); (5, 0, 0)"
    assert all(re.fullmatch(r"SF4 \(\d+, \d+, \d+(, \d+)?\)|\d+ sites in SF4: .*", r["site"]) for r in ranking)
    assert all(float(r["drop_pp"]) >= 1.0 for r in ranking)  # percentage points, not fractions
    from analysis.stats import round_site

    transient = results["int8-flips"].table.iloc[1]
    assert round_site(transient).startswith(f"{int(transient['n_faults'])} sites in SC1: (")


def test_margin_per_fault_target(local_report):
    markdown, results, _ = local_report
    per_layer = {(r["run_name"], r["layer"], r["target"]): r
                 for r in md_tables(markdown)["Critical-fault rate per layer and per fault model"][0]}
    neurons = per_layer[("float-dead", "SF4", "neuron")]
    # 10 single dead neurons cover the 10 output neurons (exhaustive: margin 0); the two-fault round
    # counts in the rate but not against that population
    assert (neurons["rounds"], neurons["multi_site_rounds"], neurons["population"], neurons["margin"]) == \
        ("11", "1", "10", "0.0000")
    synapses = per_layer[("float-dead", "SF4", "synapse")]
    assert (synapses["rounds"], synapses["population"]) == ("5", "640")
    assert synapses["margin"] == f"{margin_of_error(5, 640, 0.95):.4f}"


def test_markdown_links_its_figures(local_report):
    markdown, _, out = local_report
    links = re.findall(r"!\[([^]]*)\]\((figures/[^)]+\.png)\)", markdown)
    assert len(links) >= 3 and all((out / path).stat().st_size > 1000 for _, path in links)
    assert any("SF4: accuracy per neuron under DeadNeuron (dense layer" in caption for caption, _ in links)


def test_from_results_needs_result_folders(tmp_path, capsys):
    assert entry.main(["--from-results", str(tmp_path / "nope"), "--output-dir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert entry.main(["--from-results", str(tmp_path), "--output-dir", str(tmp_path)]) == 2
    assert "holds no campaign result" in capsys.readouterr().err
    assert entry.main(["--from-results", str(tmp_path), "--experiment", "x"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
