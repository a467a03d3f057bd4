"""``spike_stats`` (spikes with their count, mask and golden comparison) on any device."""

from __future__ import annotations

import pytest
import torch

import spikefi.snn as snn
from spikefi.errors import ShapeError
from spikefi.snn import functional as fn


def _layer() -> snn.layer:
    return snn.layer(dict(type="SRMALPHA", theta=10, tauSr=10.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1),
                     dict(Ts=1, tSample=40))


def test_spike_stats_equal_spike_and_its_statistics():
    slayer = _layer()
    g = torch.Generator().manual_seed(4)
    u = torch.randn(6, 3, 4, 4, 40, generator=g) * 8 + 6
    s_ref = slayer.spike(u)
    fired = s_ref != 0
    assert 0 < int(fired.sum()) < fired.numel()
    other = fired.clone()
    other[2, 1, 3, 0, 17] ^= True
    for golden, differs in ((fired, False), (other, True)):
        s, st = slayer.spike_stats(u, keep_mask=True, golden=golden)
        assert torch.equal(s, s_ref) and torch.equal(st["fired"], fired)
        assert int(st["count"]) == int(fired.sum()) and bool(st["differs"]) is differs
    s, st = slayer.spike_stats(u)
    assert torch.equal(s, s_ref) and st["fired"] is None and st["differs"] is None


def test_spike_stats_rejects_a_golden_of_another_shape():
    slayer = _layer()
    u = torch.randn(2, 3, 40)
    with pytest.raises(ShapeError, match="golden must be a bool tensor of shape"):
        slayer.spike_stats(u, golden=torch.zeros(2, 3, 39, dtype=torch.bool))
    with pytest.raises(ShapeError, match="golden must be a bool tensor"):
        fn.spike_stats(u, 10.0, slayer.refKernel, 1.0, golden=torch.zeros(2, 3, 40))
