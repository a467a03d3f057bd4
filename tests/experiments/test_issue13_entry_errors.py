"""Issue 13, items 8-12 at the entry points: a bad config, a bad name or a bad option is a
one-line error, exit 2, before any MLflow run (or file outside the output folder) exists."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from experiments import campaign as entry
from experiments import report as report_entry
from experiments import search as search_entry
from experiments import testgen as testgen_entry

from .conftest import runs_of

SEARCH = {"name": "s", "network": {"pretrained": "digits_cnn"}, "data": {"name": "spiking_digits", "max_samples": 8},
          "space": {"k": 1, "layers": ["SF4"], "models": ["DeadNeuron"]}, "trials": 2, "batch": 2}
TESTGEN = {"name": "t", "network": {"pretrained": "digits_cnn"}, "data": {"name": "spiking_digits", "max_samples": 8},
           "faults": {"critical_only": False, "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]}}


def _write(path, section, body, out):
    path.write_text(yaml.safe_dump({section: body, "output_dir": str(out)}, sort_keys=False))
    return path


def _no_runs_anywhere(uri):
    client = MlflowClient(uri)
    return [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]


@pytest.mark.parametrize("override, message", [
    # item 8: a typo next to pretrained
    ("campaign.network={pretrained: digits_cnn, pretraned: other}",
     "unknown key(s) ['pretraned'] in 'network'; allowed: ["),
    # item 9
    ("campaign.options.seed=abc", "options.seed must be an int >= 0, got 'abc'"),
    ("campaign.options=[1, 2]", "'options' must be a mapping, got [1, 2]"),
    ("campaign.network=[x]", "network must be a mapping"),
    ("campaign.exhaustive=[]", "has no faults"),
    # item 10
    ("campaign.options.chunk_size=0", "options.chunk_size must be an int >= 1, got 0"),
    ("campaign.options.engine=turbo", "unknown engine 'turbo'; allowed: ['naive', 'parallel', 'sequential']"),
    # item 12
    ("campaign.network={pretrained: ../../../../elsewhere/model}", "network.pretrained must be a plain name"),
    ("campaign.name=../../x", "campaign name must be a plain name"),
])
def test_campaign_config_errors_exit_2_without_a_run(store, small_config, capsys, override, message):
    assert entry.main(["--config", str(small_config), "--set", override, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert runs_of(store) == []


def test_merge_of_an_unknown_run_is_a_one_line_error(store, small_config, capsys):
    assert entry.main(["--config", str(small_config), "--merge", "0" * 32]) == 2
    err = capsys.readouterr().err
    assert "--merge 00000000000000000000000000000000: no such run" in err
    assert runs_of(store) == []


@pytest.mark.parametrize("override, message", [
    ("search.network={pretrained: digits_cnn, path: x.pt}", "must name exactly one of ['pretrained', 'path'"),
    ("search.network={pretrained: digits_cnn, weigths: x}", "unknown key(s) ['weigths'] in 'search.network'"),
    ("search.name=../../../x", "search.name must be a plain name"),
    ("search.study.name=a/b", "search.study.name must be a plain name"),
    ("search.options.chunk_size=0", "search.options.chunk_size must be an int >= 1, got 0"),
    ("search.options.engine=fast", "unknown engine 'fast'"),
    ("search.sampler.seed=abc", "search.sampler.seed must be null or an int >= 0, got 'abc'"),
    ("search.pruner.first_stage=abc", "search.pruner.first_stage must be a fraction in (0, 1) or null"),
])
def test_search_config_errors_exit_2_before_anything(store, tmp_path, capsys, override, message):
    cfg = _write(tmp_path / "search.yaml", "search", SEARCH, tmp_path / "out")
    assert search_entry.main(["--config", str(cfg), "--set", override, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "out").exists()
    assert _no_runs_anywhere(store) == []


def test_testgen_config_and_corrupt_result_folder_exit_2(store, tmp_path, capsys):
    cfg = _write(tmp_path / "testgen.yaml", "testgen", TESTGEN, tmp_path / "out")
    assert testgen_entry.main(["--config", str(cfg), "--set", "testgen.network={path: a.pt, pretrained: x}"]) == 2
    assert "must name exactly one of" in capsys.readouterr().err
    assert testgen_entry.main(["--config", str(cfg), "--set", "testgen.name=../t"]) == 2
    assert "testgen.name must be a plain name" in capsys.readouterr().err
    results = tmp_path / "res" / "results"
    results.mkdir(parents=True)
    pd.DataFrame({"round_id": [0], "faults": ["[]"], "critical": [0]}).to_parquet(results / "rounds.parquet")
    (results / "meta.json").write_text('{"schema_version": 1, "golden": {"acc')
    # a plain result folder stores no golden model: --network names it (issue 26)
    assert testgen_entry.main(["--config", str(cfg), "--from-results", str(tmp_path / "res"), "--network",
                               "pretrained:digits_cnn", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "meta.json" in err and "is not valid JSON" in err and "Traceback" not in err
    assert _no_runs_anywhere(store) == []


@pytest.mark.parametrize("args, message", [(["--top", "-3"], "--top must be an int >= 1, got -3"),
                                           (["--top", "0"], "--top must be an int >= 1"),
                                           (["--confidence", "1.5"], "--confidence must be in (0, 1)")])
def test_report_refuses_meaningless_numbers(store, capsys, args, message):
    assert report_entry.main(["--experiment", "spikefi-campaigns", "--no-log", *args]) == 2
    assert message in capsys.readouterr().err


def test_testgen_never_imports_a_model_named_in_stored_results(store, tmp_path, capsys, monkeypatch):
    """Item 13: a results table naming ``sidefx13.Evil`` (a module in the working directory) is
    refused without importing it; the user's own --fault may still name a dotted path."""
    import json
    import sys

    marker = tmp_path / "ran.txt"
    (tmp_path / "sidefx13e.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
                                           "class Evil:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sidefx13e", raising=False)
    cell = json.dumps([{"model": "sidefx13e.Evil", "layer": "SF4", "positions": [[3, 0, 0]],
                        "timing": {"timing": "Permanent"}}])
    results = tmp_path / "res" / "results"
    results.mkdir(parents=True)
    pd.DataFrame({"round_id": [0], "faults": [cell], "critical": [1]}).to_parquet(results / "rounds.parquet")
    (results / "meta.json").write_text(json.dumps({"schema_version": 1}))
    cfg = _write(tmp_path / "testgen.yaml", "testgen", TESTGEN, tmp_path / "out")
    assert testgen_entry.main(["--config", str(cfg), "--from-results", str(tmp_path / "res"), "--network",
                               "pretrained:digits_cnn", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "'sidefx13e.Evil' is neither built in nor registered through the entry-point group " \
           "'spikefi.fault_models'" in err
    assert not marker.exists()
    assert _no_runs_anywhere(store) == []
    sys.modules.pop("sidefx13e", None)
