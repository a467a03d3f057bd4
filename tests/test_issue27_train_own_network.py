"""Issue 27, item 7: ``spikefi.training.train``/``evaluate`` work on any network a campaign
accepts -- a slayerPytorch-style module written by the user (no ``layer_names``), and a
``spikefi.nir.load`` import -- and agree with a campaign's golden run on the same network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import spikefi.snn as snn
from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError, SpikeFIError
from spikefi.training import evaluate, train
from spikefi.zoo import load_config


class DigitsMLP(nn.Module):
    """Written like a slayerPytorch example: a spiking layer, dense layers and an explicit forward."""

    def __init__(self, p) -> None:
        super().__init__()
        self.slayer = snn.layer(p["neuron"], p["simulation"])
        self.fc1 = self.slayer.dense((16, 16, 2), 32)
        self.fc2 = self.slayer.dense(32, 10)

    def forward(self, x):
        s = self.slayer.spike(self.slayer.psp(self.fc1(x)))
        return self.slayer.spike(self.slayer.psp(self.fc2(s)))


@pytest.fixture(scope="module")
def digits():
    return load_spiking_digits(seed=0)


def test_train_and_evaluate_a_slayer_style_network(digits):
    train_set, test_set = digits
    p = load_config("digits")
    torch.manual_seed(0)
    net = DigitsMLP(p)
    before = evaluate(net, test_set)
    result = train(net, p, train_set, test_set, epochs=2, batch_size=32, seed=0, max_samples=480)
    # e35710b: AttributeError: 'DigitsMLP' object has no attribute 'layer_names'
    after = evaluate(net, test_set)
    print(f"slayer-style MLP: test accuracy {before.accuracy:.3f} -> {after.accuracy:.3f}")
    assert after.accuracy > before.accuracy + 0.2 and result.final.test_accuracy == after.accuracy
    assert list(after.firing_rates) == ["fc1", "fc2"] and all(0 < r < 1 for r in after.firing_rates.values())
    golden = Campaign(net, test_set, batch_size=128).golden()  # the campaign sees the same network
    assert golden["accuracy"] == pytest.approx(after.accuracy)
    # seeded: the same run again gives the same weights
    torch.manual_seed(0)
    again = DigitsMLP(p)
    train(again, p, train_set, None, epochs=2, batch_size=32, seed=0, max_samples=480)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True))


def test_evaluate_and_train_a_nir_network(digits):
    nir = pytest.importorskip("nir")
    snir = pytest.importorskip("spikefi.nir")
    train_set, test_set = digits
    rng = np.random.default_rng(0)
    lif = {"tau": np.full(10, 0.01), "r": np.ones(10), "v_leak": np.zeros(10), "v_threshold": np.full(10, 0.2)}
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([512])),
                                "fc": nir.Linear(weight=rng.normal(0, 0.05, size=(10, 512))),
                                "lif": nir.LIF(**lif), "output": nir.Output(output_type=np.array([10]))},
                         edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    net = snir.load(graph, dt=1e-3, convention="euler")
    ev = evaluate(net, test_set)
    assert list(ev.firing_rates) == ["lif"]
    assert Campaign(net, test_set, batch_size=128).golden()["accuracy"] == pytest.approx(ev.accuracy)
    p = load_config("digits")
    with pytest.raises(ConfigError, match="no trainable parameter.*requires_grad_"):
        train(net, p, train_set, epochs=1)  # an import is frozen
    net.requires_grad_(True)
    result = train(net, p, train_set, test_set, epochs=1, batch_size=32, seed=0, max_samples=256)
    assert result.final.test_accuracy == pytest.approx(evaluate(net, test_set).accuracy)
    assert result.final.test_accuracy > ev.accuracy

    readout = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([512])),
                                  "fc": nir.Linear(weight=rng.normal(0, 0.05, size=(10, 512))),
                                  "li": nir.LI(tau=np.full(10, 0.01), r=np.ones(10), v_leak=np.zeros(10)),
                                  "output": nir.Output(output_type=np.array([10]))},
                           edges=[("input", "fc"), ("fc", "li"), ("li", "output")], type_check=False)
    with pytest.raises(ConfigError, match="non-spiking readout"):
        train(snir.load(readout, dt=1e-3, convention="euler").requires_grad_(True), p, train_set, epochs=1)


def test_a_module_without_a_spiking_layer_is_a_clear_error(digits):
    train_set, _ = digits
    net = nn.Sequential(nn.Flatten(), nn.Linear(512 * 30, 10))
    with pytest.raises(SpikeFIError, match="no spiking layer"):
        train(net, load_config("digits"), train_set, epochs=1)
