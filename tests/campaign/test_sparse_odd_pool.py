"""Sparse rows through a pooling layer whose windows leave the map's last rows and columns
out (7x7 pooled by 3: row and column 6 feed no pooled neuron): a changed neuron there
changes nothing downstream, and the parallel engine's table equals the naive engine's."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

import spikefi.snn as snn
from spikefi.campaign import Campaign
from spikefi.campaign import integer_synapses as isyn
from spikefi.faults import BitFlipSynapse

NEURON = dict(type="SRMALPHA", theta=4, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
SIM = dict(Ts=1, tSample=12)


class OddPool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.slayer = snn.layer(NEURON, SIM)
        self.conv = self.slayer.conv(2, 3, 3, padding=1, weightScale=40)
        self.pool = self.slayer.pool(3)
        self.fc = self.slayer.dense((2, 2, 3), 4, weightScale=40)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.slayer.spike(self.slayer.psp(self.conv(x)))
        s = self.slayer.spike(self.slayer.psp(self.pool(s)))
        return self.slayer.spike(self.slayer.psp(self.fc(s)))


def test_sparse_rows_through_a_pool_that_drops_the_last_rows():
    torch.manual_seed(4)
    net = OddPool()
    x = (torch.rand(12, 2, 7, 7, 12) < 0.4).float()
    y = torch.randint(0, 4, (12,))
    with torch.no_grad():
        assert net(x).shape[2:4] == (1, 1)
        assert net.pool(torch.zeros(1, 3, 7, 7, 12)).shape[2:4] == (2, 2)  # row and column 6 are left out
    tables = {}
    for engine in ("naive", "parallel"):
        cmpn = Campaign(net, (x, y), batch_size=6, seed=1, quantization={"dtype": "int8"})
        cmpn.exhaustive(BitFlipSynapse(7), layers=["conv"])
        isyn.exact_calls.clear()
        tables[engine] = cmpn.run(engine=engine, progress=False, chunk_size=64).table
        if engine == "parallel":
            assert isyn.exact_calls.get("pool: changed neurons only", 0) > 0  # the sparse rows are taken
    pd.testing.assert_frame_equal(tables["parallel"], tables["naive"], check_exact=True)
    assert tables["naive"]["spikes.pool"].nunique() > 5  # the faults change the pooled spikes
