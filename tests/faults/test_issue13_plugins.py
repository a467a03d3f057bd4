"""Issue 13, item 13: dotted paths are imported only for a config or call the user gives
directly, and the class is checked right after import; fault specs read back from results
and tracked runs never import anything — a model there is built in or registered through
the entry-point group ``spikefi.fault_models``."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from spikefi.errors import ConfigError, FaultSpecError
from spikefi.faults import Fault, model_from_spec
from spikefi.faults.models import model_class
from spikefi.plugins import FAULT_MODELS_GROUP, load_object, registered_name
from spikefi.testgen import fault_list_from_result, fault_list_from_trials, faults_from_json

SIDEFX = '''
import pathlib
pathlib.Path({marker!r}).write_text("imported")


class NotAModel:
    pass


class Model:
    pass
'''

PLUGIN = '''
import torch

from spikefi.faults import NeuronFaultModel


class HalfNeuron(NeuronFaultModel):
    """Keeps every second spike."""

    def apply(self, spikes, spike_value, noise=None):
        keep = torch.zeros(spikes.shape[-1], device=spikes.device)
        keep[::2] = 1
        return spikes * keep


class NotAModel:
    pass
'''


@pytest.fixture()
def sidefx(tmp_path, monkeypatch):
    """A module ``sidefx13`` on the path that leaves a marker file when imported."""
    marker = tmp_path / "imported.txt"
    (tmp_path / "sidefx13.py").write_text(SIDEFX.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sidefx13", raising=False)
    yield marker
    sys.modules.pop("sidefx13", None)


@pytest.fixture()
def plugin(tmp_path, monkeypatch):
    """An installed distribution registering ``HalfNeuron`` (and a wrong entry) in spikefi.fault_models."""
    (tmp_path / "plugin13.py").write_text(PLUGIN)
    dist = tmp_path / "plugin13-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin13\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{FAULT_MODELS_GROUP}]\nHalfNeuron = plugin13:HalfNeuron\n"
                                           "Wrong = plugin13:NotAModel\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("plugin13", None)


def _cell(model: str) -> str:
    return json.dumps([{"model": model, "layer": "SF4", "positions": [[3, 0, 0]], "timing": {"timing": "Permanent"}}])


def test_specs_read_back_never_import(sidefx):
    with pytest.raises(FaultSpecError, match=r"'sidefx13.Model' is neither built in nor registered through the "
                                             r"entry-point group 'spikefi.fault_models'"):
        model_from_spec({"model": "sidefx13.Model"}, allow_import=False)
    with pytest.raises(FaultSpecError, match="never imported"):
        faults_from_json(_cell("sidefx13.Model"))
    table = pd.DataFrame({"round_id": [0], "critical": [1], "faults": [_cell("sidefx13.Model")]})

    class Result:
        meta: dict = {}

    result = Result()
    result.table = table
    with pytest.raises(FaultSpecError, match="never imported"):
        fault_list_from_result(result)
    trials = pd.DataFrame({"state": ["COMPLETE"], "trial": [0], "accuracy": [0.1], "critical_samples": [3],
                           "faults": [json.dumps([{"model": "sidefx13.Model",
                                                   "sites": [{"layer": "SF4", "position": [3, 0, 0]}]}])]})
    with pytest.raises(FaultSpecError, match="never imported"):
        fault_list_from_trials(trials)
    from spikefi.search.study import parse_faults

    with pytest.raises(FaultSpecError, match="never imported"):
        parse_faults(trials["faults"][0])
    assert not sidefx.exists()  # nothing of the module ran


def test_a_users_own_dotted_path_is_checked_right_after_import(sidefx):
    with pytest.raises(FaultSpecError, match=r"'sidefx13.NotAModel' is not a FaultModel subclass"):
        model_from_spec({"model": "sidefx13.NotAModel"})
    assert sidefx.exists()  # the user named it in their own config: imported, then refused
    with pytest.raises(FaultSpecError, match="does not import"):
        model_class("no_such_module_13.Model")
    with pytest.raises(FaultSpecError, match="not a valid dotted path"):
        model_class("os.path; import x.Y")


def test_registered_models_work_everywhere_without_dotted_imports(plugin):
    model = model_from_spec({"model": "HalfNeuron"}, allow_import=False)
    assert type(model).__name__ == "HalfNeuron"
    assert model.spec() == {"model": "HalfNeuron"}  # written back under its registered name
    assert registered_name(type(model), FAULT_MODELS_GROUP) == "HalfNeuron"
    # an artifact written before registration (dotted path) reads back through the registration
    (fault,) = faults_from_json(_cell("plugin13.HalfNeuron"))
    assert type(fault.model) is type(model)
    assert Fault.from_spec({"model": "HalfNeuron", "sites": [{"layer": "SF4", "position": [1, 0, 0]}]},
                           allow_import=False).model == model
    with pytest.raises(FaultSpecError, match=r"'Wrong'.*is not a FaultModel subclass"):
        model_from_spec({"model": "Wrong"}, allow_import=False)


def test_load_object_is_the_one_rule_for_other_plugins(sidefx):
    with pytest.raises(ConfigError, match=r"network factory 'sidefx13:Model' is neither built in nor registered "
                                          r"through the entry-point group 'spikefi.networks'"):
        load_object("sidefx13:Model", group="spikefi.networks", what="network factory", check=callable,
                    expected="a callable", allow_import=False)
    assert not sidefx.exists()
    assert load_object("sidefx13:Model", group="spikefi.networks", what="network factory", check=callable,
                       expected="a callable").__name__ == "Model"
    assert load_object("json.dumps", group="spikefi.networks", what="network factory", check=callable,
                       expected="a callable") is json.dumps
    with pytest.raises(ConfigError, match=r"'json:decoder' is not a callable"):
        load_object("json:decoder", group="spikefi.networks", what="network factory", check=callable,
                    expected="a callable")
