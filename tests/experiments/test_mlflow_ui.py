"""Campaigns a user can compare in the MLflow UI (issue 17 item 3): the experiment tag and the
printed link open the classic runs view, campaigns sit two levels deep under their sweep, and
docs/screenshots.py shows them in a real headless Chromium (where Chromium and Playwright are
installed; skipped otherwise)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest
import yaml
from mlflow.tracking import MlflowClient

from experiments import sweep as sweep_entry
from experiments.tracking import experiment_link, where_line

from .conftest import REPO, SMALL_CAMPAIGN

SWEEP = {
    "sweep": {"name": "ui-sweep", "base": {k: v for k, v in SMALL_CAMPAIGN.items() if k not in ("name", "exhaustive")},
              "campaigns": [{"name": "dead-SF4", "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]},
                            {"name": "flip-SF4", "options": {"quantization": {"dtype": "int8"}},
                             "exhaustive": [{"model": "BitFlipSynapse", "bits": 7, "layers": ["SF4"], "sample": 4}]}]},
    "tracking": {"experiment": "ui"},
}


@pytest.fixture()
def ui_store(store, tmp_path, capsys):
    """The store after a sweep of two small campaigns, and what the sweep printed."""
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({**SWEEP, "output_dir": str(tmp_path / "out")}, sort_keys=False))
    assert sweep_entry.main(["--config", str(config), "--no-progress"]) == 0
    return store, capsys.readouterr().out


def test_sweep_campaigns_two_levels_deep_in_a_classic_view_experiment(ui_store):
    uri, printed = ui_store
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("ui")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    sweep = runs["ui-sweep"]
    assert "mlflow.parentRunId" not in sweep.data.tags
    note = sweep.data.tags["mlflow.note.content"]
    assert "\n\n**ui-sweep**: a sweep of 2 fault-injection campaigns" in note
    # the first line answers "which campaign hurts most": by mean accuracy drop, with the critical rate
    drops = {n: runs[n].data.metrics["acc_drop"] for n in ("dead-SF4", "flip-SF4")}
    first, second = sorted(drops, key=lambda n: -drops[n])
    assert note.startswith(f"**Result:** mean accuracy drop per campaign, largest first: {first} "
                           f"{100 * drops[first]:.2f} pp (")
    assert f"; {second} {100 * drops[second]:.2f} pp (" in note.split("\n")[0]
    for name in ("dead-SF4", "flip-SF4"):
        assert runs[name].data.tags["mlflow.parentRunId"] == sweep.info.run_id
    flip = runs["flip-SF4"].data.params
    assert (flip["fault.model"], flip["fault.parameter"], flip["quantization"]) == \
        ("BitFlipSynapse", "bit 7", "int8 weight codes")
    # the printed address opens the runs table in the classic view
    assert f"runs table: http://127.0.0.1:5000/#/experiments/{exp.experiment_id}?workflowType=machine_learning" in printed
    assert experiment_link("http://mlflow:5000/", "7") == "http://mlflow:5000/#/experiments/7?workflowType=machine_learning"
    assert "view with: mlflow ui" in where_line("sqlite:///x.db")


@pytest.mark.skipif(not os.environ.get("CHROMIUM") and shutil.which("chromium") is None
                    and shutil.which("chromium-browser") is None,
                    reason="Chromium is not installed (apt-get install chromium, or CHROMIUM=PATH)")
@pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="Playwright is not installed")
def test_screenshots_script_in_headless_chromium(ui_store, tmp_path):
    sys.path.insert(0, str(REPO / "docs"))
    try:
        import screenshots
    finally:
        sys.path.remove(str(REPO / "docs"))
    out = tmp_path / "img"
    assert screenshots.main(["--store", ui_store[0], "--out", str(out), "--prefix", "t"]) == 0
    for name in ("runs-table", "campaigns", "charts", "charts-acc_drop", "compare", "run"):
        assert (out / f"t-{name}.png").stat().st_size > 10_000
