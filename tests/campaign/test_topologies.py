"""Networks written like slayerPytorch examples (custom forward), chains or not."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
from torch import nn

import spikefi.snn as snn
from spikefi.campaign import Campaign
from spikefi.faults import (
    DeadNeuron,
    DeadSynapse,
    Fault,
    ParametricNeuron,
    PerSample,
    PerturbedSynapse,
    SaturatedNeuron,
    Site,
    StuckNeuron,
    Window,
)

NEURON = dict(type="SRMALPHA", theta=4, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
SIM = dict(Ts=1, tSample=12)


class SlayerStyleMLP(nn.Module):
    """The way slayerPytorch examples are written: attributes and an explicit forward."""

    def __init__(self):
        super().__init__()
        self.slayer = snn.layer(NEURON, SIM)
        self.fc1 = self.slayer.dense((5, 5, 2), 12, weightScale=20)
        self.fc2 = self.slayer.dense(12, 4, weightScale=20)

    def forward(self, x):
        s1 = self.slayer.spike(self.slayer.psp(self.fc1(x)))
        return self.slayer.spike(self.slayer.psp(self.fc2(s1)))


class SkipNet(nn.Module):
    """Not a chain: the output layer sees both hidden layers (concatenation)."""

    def __init__(self):
        super().__init__()
        self.slayer = snn.layer(NEURON, SIM)
        self.fc1 = self.slayer.dense((5, 5, 2), 8, weightScale=20)
        self.fc2 = self.slayer.dense(8, 8, weightScale=20)
        self.out = self.slayer.dense(16, 4, weightScale=20)

    def forward(self, x):
        s1 = self.slayer.spike(self.slayer.psp(self.fc1(x)))
        s2 = self.slayer.spike(self.slayer.psp(self.fc2(s1)))
        return self.slayer.spike(self.slayer.psp(self.out(torch.cat([s1, s2], dim=1))))


def data(net, n=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 2, 5, 5, 12, generator=g) < 0.3).double()
    with torch.no_grad():
        y = snn.predict(net.eval()(x))
    y[0] = (y[0] + 1) % 4
    return x, y


def faults_for(layers):
    out = []
    for layer in layers:
        out += [Fault(DeadNeuron(), Site(layer), count=2), Fault(SaturatedNeuron(), Site(layer), Window(2, 7)),
                Fault(StuckNeuron(probability=0.4), Site(layer), PerSample(0.5)),
                Fault(ParametricNeuron("theta", 0.6), Site(layer)), Fault(DeadSynapse(), Site(layer), count=5),
                Fault(PerturbedSynapse(-3.0), Site(layer), Window(3, 9))]
    return out


def test_slayer_style_chain_is_detected_and_hooks_equal_chain():
    torch.manual_seed(0)
    net = SlayerStyleMLP().double()
    x, y = data(net)
    cmpn = Campaign(net, (x, y), batch_size=5, seed=1)
    assert cmpn.netmap.chain and cmpn.netmap.order == ["fc1", "fc2"]
    for f in faults_for(["fc1", "fc2"]):
        cmpn.then_inject(f)
    cmpn.then_inject(faults_for(["fc1"])[:3] + faults_for(["fc2"])[3:])
    chain = cmpn.run(engine="sequential", progress=False).table
    cmpn.force_hooks = True
    hooked = cmpn.run(engine="naive", progress=False).table
    pd.testing.assert_frame_equal(chain, hooked)
    assert (chain["changed"] > 0).any()


def test_non_chain_network_through_hooks_matches_hand_written_faults():
    torch.manual_seed(1)
    net = SkipNet().double()
    x, y = data(net, seed=2)
    cmpn = Campaign(net, (x, y), batch_size=6, seed=3)
    assert not cmpn.netmap.chain and cmpn.netmap.order == ["fc1", "fc2", "out"]
    cmpn.then_inject(Fault(DeadNeuron(), Site("fc1", (2, 0, 0))))
    cmpn.then_inject(Fault(PerturbedSynapse(4.0), Site("out", (1, 3, 0, 0))))
    cmpn.then_inject(Fault(ParametricNeuron("theta", 0.5), Site("fc2", (5, 0, 0))))
    table = cmpn.run(progress=False).table

    def brute(kind):
        m = copy.deepcopy(net)
        sl = m.slayer
        if kind == 1:
            m.out.weight.data[1, 3, 0, 0, 0] *= 4.0
        s1 = sl.spike(sl.psp(m.fc1(x)))
        if kind == 0:
            s1 = s1.clone()
            s1[:, 2] = 0
        a2 = m.fc2(s1)
        s2 = sl.spike(sl.psp(a2))
        if kind == 2:
            faulty = snn.layer({**NEURON, "theta": NEURON["theta"] * 0.5}, SIM).double()
            s2 = s2.clone()
            s2[:, 5] = faulty.spike(faulty.psp(a2))[:, 5]
        return sl.spike(sl.psp(m.out(torch.cat([s1, s2], dim=1)))), (s1, s2)

    with torch.no_grad():
        golden, _ = brute(-1)
        for k in range(3):
            out, (s1, s2) = brute(k)
            pred, g_pred = snn.predict(out), snn.predict(golden)
            row = table.iloc[k]
            assert row["changed"] == int((pred != g_pred).sum())
            assert row["critical"] == int(((g_pred == y) & (pred != y)).sum())
            assert row["spikes.fc1"] == int((s1 != 0).sum())
            assert row["spikes.fc2"] == int((s2 != 0).sum())
            assert row["spikes.out"] == int((out != 0).sum())
    # and the scoped hooks are gone afterwards
    assert "spike" not in vars(net.slayer) and "spike" not in vars(cmpn.net.slayer)
    assert not any(m._forward_hooks for m in cmpn.net.modules())


def test_network_without_spiking_layer_is_refused():
    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(2, 2, (3, 3, 1))

        def forward(self, x):
            return self.conv(x)

    from spikefi.errors import FaultSpecError

    with pytest.raises(FaultSpecError, match="no spiking layer"):
        Campaign(Plain(), (torch.zeros(2, 2, 5, 5, 4), torch.tensor([0, 1])))
