"""Issue 27, item 5: configs are checked before PyTorch, MLflow or Optuna is imported, with
``did you mean`` suggestions for options, keys, models, engines and datasets; a bad layer name
(which needs the network) creates no tracking store; a search's expected Optuna warnings stay
out of the console. Timings are measured by ``benchmarks/error_latency.py`` (not a timed test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
import yaml

from .conftest import REPO, SMALL_CAMPAIGN

#: runs entry points in one fresh interpreter; prints, per case, the exit code, stderr and
#: which of torch/mlflow/optuna had been imported by then
PROBE = r"""
import contextlib, io, json, sys
from experiments import campaign, search, sweep
mains = {"campaign": campaign.main, "search": search.main, "sweep": sweep.main}
out = []
for entry, argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = mains[entry](argv)
    out.append({"code": code, "err": err.getvalue().strip(),
                "heavy": sorted(m for m in ("torch", "mlflow", "optuna") if m in sys.modules)})
print(json.dumps(out))
"""


def _config(tmp_path, name: str, section: str, body: dict) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({section: body, "output_dir": str(tmp_path / "out")}, sort_keys=False))
    return str(path)


def test_config_errors_suggest_and_import_nothing_heavy(tmp_path):
    good = _config(tmp_path, "c.yaml", "campaign", SMALL_CAMPAIGN)
    typo_file = _config(tmp_path, "typo.yaml", "campaign", {**SMALL_CAMPAIGN, "optons": {"seed": 1}})
    search = _config(tmp_path, "s.yaml", "search", {
        "name": "s", "network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 8}, "trials": 2, "batch": 2,
        "space": {"k": 1, "models": [{"model": "SaturatedNeuronn"}]}})
    sweep = _config(tmp_path, "w.yaml", "sweep", {
        "name": "w", "base": {"network": {"pretrained": "digits_cnn"}},
        "campaigns": [{"name": "a", "exhaustive": [{"model": "DeadSynapes", "layers": ["SF4"]}]}]})
    cases = [
        (["campaign", ["--confg", good]], "did you mean '--config'?"),
        (["campaign", ["--config", typo_file]], "unknown config key 'campaign.optons'"),
        (["campaign", ["--config", good, "--set", "campaign.optons.seed=1"]], "did you mean 'campaign.options'?"),
        (["campaign", ["--config", good, "--set", "campaign.options.seeed=1"]], "did you mean 'campaign.options.seed'?"),
        (["campaign", ["--config", good, "--set", "campaign.exhaustive=[{model: DeadNeuronn, layers: [SF4]}]"]],
         "unknown fault model 'DeadNeuronn' (in campaign.exhaustive[0]); built-in: ["),
        (["campaign", ["--config", good, "--set", "campaign.rounds=[[{model: StuckNeuronn}]]"]],
         "(in campaign.rounds[0][0])"),
        (["campaign", ["--config", good, "--set", "campaign.network={pretrained: digits_cnn, pretraned: x}"]],
         "unknown key(s) ['pretraned'] in 'network'; allowed: ["),
        (["campaign", ["--config", good, "--set", "campaign.options.engine=paralel"]], "did you mean 'parallel'?"),
        (["campaign", ["--config", good, "--set", "campaign.data.name=spiking_digit"]],
         "did you mean 'spiking_digits'?"),
        (["search", ["--config", search]], "(in search.space.models[0])"),
        (["search", ["--config", search, "--set", "search.netwrk=1"]], "did you mean 'search.network'?"),
        (["sweep", ["--config", sweep]], "(in sweep.campaigns[0].exhaustive[0])"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(PYTHONPATH=str(REPO), MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'never.db'}")
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps([c for c, _ in cases])], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    suggestions = ["'--config'", "'campaign.options'", "'campaign.options'", "'campaign.options.seed'", "'DeadNeuron'",
                   "'StuckNeuron'", "'pretrained'", "'parallel'", "'spiking_digits'", "'SaturatedNeuron'",
                   "'search.network'", "'DeadSynapse'"]
    for (case, needle), got, meant in zip(cases, results, suggestions, strict=True):
        assert got["code"] == 2, (case, got)
        assert got["err"].endswith(f"; did you mean {meant}?"), (case, got["err"])
        assert needle in got["err"] and len(got["err"].splitlines()) == 1, (case, got["err"])
        assert got["heavy"] == [], (case, got)  # e35710b: torch and mlflow imported on every error path
    assert not (tmp_path / "never.db").exists() and not (tmp_path / "out").exists()


@pytest.fixture()
def bare_folder(tmp_path, monkeypatch):
    """cwd = an empty folder and no MLFLOW_TRACKING_URI: the default store would be ./mlflow.db."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_bad_layer_name_creates_no_store(bare_folder, capsys):
    from experiments import campaign, search, sweep

    good = _config(bare_folder, "c.yaml", "campaign", SMALL_CAMPAIGN)
    assert campaign.main(["--config", good, "--set", "campaign.exhaustive=[{model: DeadNeuron, layers: [SF9]}]",
                          "--no-progress"]) == 2
    assert "unknown layer 'SF9'" in capsys.readouterr().err
    sw = _config(bare_folder, "w.yaml", "sweep", {
        "name": "w", "base": {"network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 8}},
        "campaigns": [{"name": "a", "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]},
                      {"name": "b", "exhaustive": [{"model": "DeadNeuron", "layers": ["SF9"]}]}]})
    assert sweep.main(["--config", sw, "--no-progress"]) == 2
    assert "unknown layer 'SF9'" in capsys.readouterr().err
    se = _config(bare_folder, "s.yaml", "search", {
        "name": "s", "network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 8}, "trials": 2, "batch": 2,
        "space": {"k": 1, "layers": ["SF9"], "models": [{"model": "DeadNeuron"}]}})
    assert search.main(["--config", se, "--no-progress"]) == 2
    assert "unknown layer 'SF9'" in capsys.readouterr().err
    # e35710b: mlflow.db (and the search's optuna.db) were created before the layer was checked
    assert sorted(p.name for p in bare_folder.iterdir()) == ["c.yaml", "s.yaml", "w.yaml"]


def test_expected_optuna_warnings_stay_out_of_the_console_others_do_not(tmp_path, monkeypatch, capsys):

    import spikefi.plots as plots
    from experiments import search

    real = plots.param_importances  # the search's importance figure (top parameters, plain names; issue 35)

    def plot_and_warn(*args, **kwargs):
        warnings.warn("an unexpected warning", UserWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(plots, "param_importances", plot_and_warn)
    config = _config(tmp_path, "s.yaml", "search", {
        "name": "s", "network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 16}, "trials": 8, "batch": 4,
        "options": {"batch_size": 16}, "space": {"k": 2, "exclude_layers": ["SF4"],
                                                 "models": [{"model": "DeadNeuron"}, {"model": "SaturatedNeuron"}]}})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert search.main(["--config", config, "--no-progress", "--no-mlflow"]) == 0
    messages = [str(w.message) for w in seen if issubclass(w.category, UserWarning)]
    assert "an unexpected warning" in messages
    assert not [m for m in messages if "have less than 2 trials" in m or "select the same set of trials" in m], \
        messages  # e35710b: 24 such warnings on the quick search
    assert (tmp_path / "out" / "s").is_dir()


def test_the_static_name_lists_equal_the_real_ones():
    from spikefi.campaign.spec import ENGINES, NETWORK_KEYS
    from spikefi.faults.models import model_registry
    from spikefi.spec_defaults import DATASET_NAMES, ENGINE_NAMES, FAULT_MODEL_NAMES, NETWORK_KEY_NAMES

    assert sorted(FAULT_MODEL_NAMES) == sorted([*model_registry(), "RandomModel"])
    assert tuple(ENGINE_NAMES) == tuple(ENGINES)
    assert tuple(NETWORK_KEY_NAMES) == tuple(NETWORK_KEYS)
    from spikefi.campaign.spec import load_splits
    from spikefi.errors import ConfigError

    with pytest.raises(ConfigError, match="allowed: " + ", ".join(DATASET_NAMES)):
        load_splits({"name": "other"})
