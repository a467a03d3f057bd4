"""Your own network in MLflow and in the report (issue 17 item 2): ``network: {factory, weights}``
in a campaign config (dotted paths honoured in the user's own config only), and a campaign
built in Python tracked in one call (``experiments.track.track_campaign``)."""

from __future__ import annotations

import sys
import textwrap

import pandas as pd
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from analysis.load import load_runs
from experiments import campaign as entry
from experiments import report as report_entry
from experiments.track import track_campaign
from spikefi.campaign import Campaign, CampaignSpec
from spikefi.campaign.spec import load_spec_network
from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError
from spikefi.faults import DeadNeuron

from .conftest import runs_of, steps

MODULE = "issue17_user_nets"
USER_CODE = '''
import torch
from torch import nn

import spikefi.snn as snn

NEURON = dict(type="SRMALPHA", theta=5, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
SIM = dict(Ts=1, tSample=30)


class DigitsMLP(nn.Module):
    """Written like a slayerPytorch example: attributes and an explicit forward."""

    def __init__(self):
        super().__init__()
        self.slayer = snn.layer(NEURON, SIM)
        self.fc1 = self.slayer.dense((16, 16, 2), 24, weightScale=40)
        self.fc2 = self.slayer.dense(24, 10, weightScale=40)

    def forward(self, x):
        s = self.slayer.spike(self.slayer.psp(self.fc1(x)))
        return self.slayer.spike(self.slayer.psp(self.fc2(s)))


def build(seed=0):
    torch.manual_seed(seed)
    return DigitsMLP()


def not_a_network():
    return 42
'''
SAMPLES = 16


@pytest.fixture()
def user_net(tmp_path, monkeypatch):
    """The user's module on sys.path and a weights file of another initialization than build()'s."""
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(USER_CODE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    import importlib

    module = importlib.import_module(MODULE)
    weights = tmp_path / "my_weights.pt"
    torch.save(module.build(seed=7).state_dict(), weights)
    yield module, weights
    sys.modules.pop(MODULE, None)


def _config(tmp_path, network) -> str:
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump({
        "campaign": {"name": "own-dead-fc2", "network": network,
                     "data": {"name": "spiking_digits", "seed": 0, "max_samples": SAMPLES},
                     "options": {"seed": 0, "batch_size": SAMPLES, "chunk_size": 5},
                     "exhaustive": [{"model": "DeadNeuron", "layers": ["fc2"]}]},
        "output_dir": str(tmp_path / "out"), "tracking": {"experiment": "own"}}, sort_keys=False))
    return str(path)


def test_factory_network_runs_as_a_tracked_campaign_and_in_the_report(store, tmp_path, user_net, capsys):
    module, weights = user_net
    network = {"factory": f"{MODULE}:build", "weights": str(weights)}
    assert entry.main(["--config", _config(tmp_path, network), "--no-progress"]) == 0
    (run,) = runs_of(store, "own")
    assert run.info.status == "FINISHED" and run.data.tags["spikefi.kind"] == "campaign"
    assert run.data.params["network"] == f"factory:{MODULE}:build weights:{weights}"
    assert run.data.params["network.architecture"] == "DigitsMLP"
    assert run.data.params["fault.layers"] == "fc2" and run.data.params["rounds"] == "10"
    # the weights were loaded: the golden accuracy is the one of the seed-7 network
    net = module.build(seed=7).eval()
    _, test = load_spiking_digits()
    reference = Campaign(net, test, max_samples=SAMPLES, batch_size=SAMPLES)
    reference.exhaustive(DeadNeuron(), layers=["fc2"])
    expected = reference.run(progress=False).table
    assert run.data.metrics["golden.accuracy"] == pytest.approx(float(expected["golden_accuracy"].iloc[0]))
    table = pd.read_parquet(tmp_path / "out" / run.info.run_id / "results" / "rounds.parquet")
    assert table["accuracy"].tolist() == pytest.approx(expected["accuracy"].tolist())
    assert (tmp_path / "out" / run.info.run_id / "golden" / "model" / "my_weights.pt").is_file()
    # the same command again: the network (factory source + weights) hashes the same, nothing recomputed
    capsys.readouterr()
    assert entry.main(["--config", _config(tmp_path, network), "--no-progress"]) == 0
    assert len(runs_of(store, "own")) == 1
    # and the report reads it
    out = tmp_path / "report"
    assert report_entry.main(["--experiment", "own", "--output-dir", str(out), "--no-log"]) == 0
    assert "| own-dead-fc2 | dead neuron (never fires) | fc2 |" in (out / "report.md").read_text()


def test_factory_errors_are_one_line_and_create_no_run(store, tmp_path, user_net, capsys):
    _, weights = user_net
    bad = [
        ({"factory": f"{MODULE}:nope"}, "does not import"),
        ({"factory": f"{MODULE}:not_a_network"}, "returned int, not a torch.nn.Module"),
        ({"factory": "no_such_module_x:build"}, "does not import"),
        ({"path": "x.pt", "weights": str(weights)}, "network.weights goes with network.factory"),
        ({"factory": f"{MODULE}:build", "weights": str(tmp_path / "missing.pt")}, "not found"),
        ({"factory": f"{MODULE}:build", "wieghts": str(weights)}, "unknown key(s) ['wieghts']"),
    ]
    torch.save({"fc1.weight": torch.zeros(3)}, tmp_path / "wrong.pt")
    bad.append(({"factory": f"{MODULE}:build", "weights": str(tmp_path / "wrong.pt")}, "do not fit the network"))
    for network, message in bad:
        capsys.readouterr()
        assert entry.main(["--config", _config(tmp_path, network), "--no-progress"]) == 2, network
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (network, err)
    assert runs_of(store, "own") == []


def test_a_factory_in_a_stored_spec_is_never_imported(user_net):
    """Specs read back from results and runs are data: a dotted-path factory there is refused."""
    section = {"factory": f"{MODULE}:build"}
    with pytest.raises(ConfigError, match="never imported by dotted path.*spikefi.network_factories"):
        load_spec_network(section, None, allow_import=False)
    net, _ = load_spec_network(section, None)  # the user's own config: allowed
    assert type(net).__name__ == "DigitsMLP"
    assert CampaignSpec.from_dict({"network": section, "exhaustive": [{"model": "DeadNeuron"}]}).network == section


def test_a_campaign_built_in_python_is_tracked_in_one_call(store, tmp_path, user_net):
    module, _ = user_net
    _, test = load_spiking_digits()
    cmpn = Campaign(module.build(seed=7), test, max_samples=SAMPLES, batch_size=SAMPLES, seed=0)
    cmpn.exhaustive(DeadNeuron(), layers=["fc2"])
    tracked = track_campaign(cmpn, "py-dead-fc2", experiment="own", output_dir=tmp_path / "py", chunk_size=4,
                             progress=False)
    client = MlflowClient(store)
    run = client.get_run(tracked["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["spikefi.kind"] == "campaign"
    assert run.data.params["network"] == "python:DigitsMLP" and run.data.params["fault.model"] == "DeadNeuron"
    assert steps(client, run.info.run_id, "round_acc") == list(range(10))
    assert run.data.metrics["crit_rate"] == pytest.approx((tracked["result"].table["critical"] > 0).mean())
    note = run.data.tags["mlflow.note.content"]
    assert note.startswith("**Result:** ") and "\n\n**py-dead-fc2**: fault-injection campaign of 10 rounds" in note
    assert client.get_experiment_by_name("own").tags["mlflow.experimentKind"] == "custom_model_development"
    # the golden model of a module that is not a spikefi SpikingNetwork: its state_dict, plain tensors
    golden = {f.path for f in client.list_artifacts(run.info.run_id, "golden/model")}
    assert {"golden/model/DigitsMLP.state_dict.pt", "golden/model/network.json"} <= golden
    weights = torch.load(client.download_artifacts(run.info.run_id, "golden/model/DigitsMLP.state_dict.pt",
                                                   str(tmp_path / "golden")), weights_only=True)
    assert set(weights) == set(cmpn.net.state_dict())
    # a result computed already is logged as it is
    again = track_campaign(cmpn, "py-again", experiment="own", result=tracked["result"], output_dir=tmp_path / "py")
    assert steps(client, again["run_id"], "round_critical") == list(range(10))
    loaded = load_runs("own")
    assert list(loaded.runs["run_name"]) == ["py-dead-fc2", "py-again"]
    by_run = loaded.rounds.groupby("run_name", sort=False)["accuracy"].apply(list)
    assert by_run["py-dead-fc2"] == by_run["py-again"] == tracked["result"].table["accuracy"].tolist()
