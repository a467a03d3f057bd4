"""SpikeFI 1.3 style scripts (tests/compat/scripts, one per SpikeFI example scenario) run
unchanged on spikefi's compat modules, on the digits CNN and on SpikeFI's N-MNIST CNN with
32 real recordings; their per-round accuracies equal the native API's on the same faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikefi.campaign import Campaign as NativeCampaign
from spikefi.core import CampaignData

from .conftest import loader_tensors, native_accuracies

CASES = ["digits", pytest.param("nmnist", marks=pytest.mark.slow)]


def _accuracies(cmpn) -> list[float]:
    return [p.testing.accuracyLog[-1] for p in cmpn.performance]


@pytest.mark.parametrize("case", CASES)
def test_basic(run_script, case, tmp_path):
    g = run_script("basic", case)
    first = g["first_accuracies"]
    assert len(first) == 2 and all(0 <= a <= 1 for a in first)
    assert first == native_accuracies(g["net"], g["test_loader"], g["first_rounds"])
    # the round of fy + fz: one stuck synapse and four threshold faults in the hidden layer
    faults = g["first_rounds"][1]
    assert sorted(len(f) for f in faults.values()) == [1, 4]
    cmpn = g["cmpn"]
    assert len(cmpn.rounds) == 12 and _accuracies(cmpn) == native_accuracies(g["net"], g["test_loader"], cmpn.rounds)
    assert len(g["figs"]) == 1 and list((tmp_path / "out" / "fig").glob("*.png"))
    data = CampaignData.load(g["saved"])
    assert [p.testing.accuracyLog for p in data.performance] == [p.testing.accuracyLog for p in cmpn.performance]
    assert json.loads(Path(g["saved"]).read_text())["format"] == "spikefi.compat.CampaignData"


@pytest.mark.parametrize("case", CASES)
def test_bitflip(run_script, case):
    g = run_script("bitflip", case)
    campaigns = g["campaigns"]
    assert len(campaigns) == 3
    for cmpn in campaigns:
        assert _accuracies(cmpn) == native_accuracies(g["net"], g["test_loader"], cmpn.rounds)
        assert all(p.testing.lossLog[-1] > 0 for p in cmpn.performance)  # spike_loss given: loss logged
    # flipping the MSB of a uint8 code moves the weight by 128 steps: it hurts at least as much as the LSB
    lsb, msb = (sum(_accuracies(c)) for c in (campaigns[0], campaigns[2]))
    assert msb <= lsb


@pytest.mark.parametrize("case", CASES)
def test_optimizations(run_script, case):
    g = run_script("optimizations", case)
    records = g["records"]
    assert len(records) == 4
    first = records[0]
    for rec in records[1:]:  # every batch size and optimization level: identical results
        assert rec["accuracy"] == first["accuracy"] and rec["critical"] == first["critical"]
        assert rec["loss"] == pytest.approx(first["loss"], rel=1e-6)
    assert first["accuracy"] == native_accuracies(g["net"], g["test_loader"], g["cmpn"].rounds)


@pytest.mark.parametrize("case", CASES)
def test_parametric(run_script, case, tmp_path):
    g = run_script("parametric", case)
    for cmpn in g["campaigns"]:
        assert len(cmpn.rounds) == 8
        assert _accuracies(cmpn) == native_accuracies(g["net"], g["test_loader"], cmpn.rounds)
    assert list((tmp_path / "out" / "fig").glob("*_scatter.png"))


def _native_accuracy(net, loader, rnd) -> float:
    return native_accuracies(net, loader, [rnd])[0]


@pytest.mark.parametrize("case", CASES)
def test_train_golden(run_script, case):
    g = run_script("train_golden", case)
    perf = g["cmpn"].performance[0]
    assert len(perf.training.lossLog) == 1 and perf.training.numSamples == 0
    assert perf.testing.accuracyLog[-1] == _native_accuracy(g["golden"], g["test_loader"], g["cmpn"].rounds[0])
    state = torch.load(g["net_path"], map_location="cpu", weights_only=True)
    assert all(torch.equal(state[k], v) for k, v in g["golden"].state_dict().items())
    assert len(g["figs"]) == 1


@pytest.mark.parametrize("case", CASES)
def test_train_faulty(run_script, case, tmp_path):
    g = run_script("train_faulty", case)
    cmpn, faulties = g["cmpn"], g["faulties"]
    assert len(faulties) == len(cmpn.rounds) == 2
    for r, (net, rnd) in enumerate(zip(faulties, cmpn.rounds, strict=True)):
        # the trained network under its round's faults, evaluated by the native API
        assert cmpn.performance[r].testing.accuracyLog[-1] == _native_accuracy(net, g["test_loader"], rnd)
    sizes = [sum(len(f) for f in rnd.values()) for rnd in cmpn.rounds]
    layers = cmpn.layers_info.get_injectables()[:2]
    total = sum(cmpn.layers_info.get_size(True, name) for name in layers)
    assert sizes[0] < sizes[1] <= 0.3 * total + 2  # 10 % and 30 % of the synapses of the two first convolutions
    assert {layer for rnd in cmpn.rounds for (layer, _) in rnd} == set(layers)
    assert len(list((tmp_path / "out" / "net").glob("*.pt"))) == 2
    x, y = loader_tensors(g["test_loader"])
    golden = NativeCampaign(faulties[0], (x, y), net_params={}).golden()["accuracy"]
    assert 0 <= golden <= 1
