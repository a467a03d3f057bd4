"""A dense layer recomputes only the time steps whose input differs from golden
(``_time_sparse_dense``): its synaptic output equals the whole-row computation bit for bit,
the shortcut is taken in campaigns, and tables are the same with it on or off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikefi.campaign import Campaign
from spikefi.campaign.engines.parallel import engine as par
from spikefi.campaign.engines.parallel.patches import _Patch
from spikefi.data import load_spiking_digits
from spikefi.faults import DeadNeuron, DeadSynapse, Fault, PerturbedSynapse, Site, StuckSynapse
from spikefi.zoo import load_pretrained


@pytest.fixture(scope="module")
def digits():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    return net, test


def _rows(cmpn: Campaign, share: float, seed: int):
    """Rows of SF3's input (SP2 spikes, bool) with a random share of their steps changed."""
    golden = cmpn.golden_batch(0)
    g_prev = golden.spikes["SP2"]  # (B, 16, 4, 4, T) bool
    gen = torch.Generator().manual_seed(seed)
    b, steps = g_prev.shape[0], g_prev.shape[-1]
    samples = torch.randint(0, b, (40,), generator=gen)
    value = cmpn.netmap.spike_value
    xin = g_prev[samples].to(cmpn.dtype) * value
    steps_hit = torch.rand(40, steps, generator=gen) < share
    flips = (torch.rand(xin.shape, generator=gen) < 0.05) & steps_hit[:, None, None, None, :]
    xin = torch.where(flips, value - xin, xin)
    rows = _Patch.whole(torch.zeros(40, dtype=torch.long), samples, xin)
    return rows, xin, g_prev, value


@pytest.mark.parametrize("share", [0.0, 0.05, 0.3])
def test_changed_steps_only_equal_the_whole_rows_bit_for_bit(digits, share):
    net, test = digits
    cmpn = Campaign(net, test, batch_size=48, max_samples=48, seed=1)
    cmpn.golden()
    rows, xin, g_prev, value = _rows(cmpn, share, seed=int(share * 100))
    netmap = cmpn.netmap
    g_a = netmap.layer_forward("SF3", g_prev.to(cmpn.dtype) * value)
    a = par._time_sparse_dense(netmap, "SF3", rows, xin, g_prev, lambda: g_a)
    full = netmap.layer_forward("SF3", xin)
    assert a is not None and a.shape == full.shape and torch.equal(a, full)
    assert torch.equal(netmap.fire("SF3", a), netmap.fire("SF3", full))
    if share:
        assert not torch.equal(full, g_a[rows.samples])  # the rows do differ from golden


def test_mostly_changed_rows_take_the_whole_row_path(digits):
    net, test = digits
    cmpn = Campaign(net, test, batch_size=48, max_samples=48, seed=1)
    cmpn.golden()
    rows, xin, g_prev, value = _rows(cmpn, 0.9, seed=3)
    assert par._time_sparse_dense(cmpn.netmap, "SF3", rows, xin, g_prev, lambda: None) is None


def _campaign(net, test) -> Campaign:
    cmpn = Campaign(net, test, batch_size=24, seed=5, max_samples=48)
    rng = np.random.default_rng(1)
    for name in ("SC1", "SC2"):
        shape = cmpn.netmap.layers[name].synapse_shape
        for k in range(12):
            model = (DeadSynapse(), StuckSynapse(3.0), PerturbedSynapse(2.0))[k % 3]
            cmpn.then_inject(Fault(model, Site(name, tuple(int(rng.integers(0, d)) for d in shape))))
    cmpn.exhaustive(DeadNeuron(), layers=["SP1"], sample=10)
    return cmpn


def test_campaign_takes_the_shortcut_and_keeps_its_tables(digits, monkeypatch):
    net, test = digits
    cmpn = _campaign(net, test)
    ref = cmpn.run(engine="naive", progress=False, keep_predictions=True)
    taken, taken_ch = [], []
    original, original_ch = par._time_sparse_dense, par._time_sparse_dense_channel
    monkeypatch.setattr(par, "_time_sparse_dense", lambda *a, **k: taken.append(1) or original(*a, **k))
    monkeypatch.setattr(par, "_time_sparse_dense_channel", lambda *a, **k: taken_ch.append(1) or original_ch(*a, **k))
    on = cmpn.run(engine="parallel", chunk_size=64, progress=False, keep_predictions=True)
    assert taken and taken_ch  # whole rows and channel patches (an SC2 synapse's channel through SP2)
    monkeypatch.setenv(par.TIME_SPARSE_ENV, "0")
    taken.clear()
    taken_ch.clear()
    off = cmpn.run(engine="parallel", chunk_size=64, progress=False, keep_predictions=True)
    assert not taken and not taken_ch
    cols = [c for c in ref.table if c not in ("seconds", "loss")]
    for res in (on, off):
        assert (res.predictions == ref.predictions).all() and res.table[cols].equals(ref.table[cols])
    assert (ref.table["changed"] > 0).any()


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("share", [0.05, 0.3])
def test_channel_patches_equal_the_whole_rows_bit_for_bit(digits, share, time_major):
    """``_time_sparse_dense_channel``: rows that differ in one channel inside a window (whole-map
    and smaller windows) give the synaptic output of their whole rows bit for bit, without the
    whole rows being written, with time-last and time-major golden spikes; mostly changed rows
    are refused (None)."""
    from spikefi.snn import functional as fn

    net, test = digits
    cmpn = Campaign(net, test, batch_size=48, max_samples=48, seed=1)
    g_prev = cmpn.golden_batch(0).spikes["SP2"]  # (B, 16, 4, 4, T) bool
    if time_major:
        g_prev = fn.time_major(g_prev)
    value, netmap = cmpn.netmap.spike_value, cmpn.netmap
    gen = torch.Generator().manual_seed(int(share * 100) + time_major)
    b, c, h, w, steps = g_prev.shape
    m = 40
    samples = torch.randint(0, b, (m,), generator=gen)
    channel = torch.randint(0, c, (m,), generator=gen)
    size = torch.tensor([h if i % 2 else 2 for i in range(m)])  # whole-map windows and 2x2 ones
    g_a = netmap.layer_forward("SF3", g_prev.to(cmpn.dtype) * value)
    for ph in (h, 2):
        pick = torch.nonzero(size == ph).flatten()
        k = pick.numel()
        h0 = torch.randint(0, h - ph + 1, (k,), generator=gen)
        w0 = torch.randint(0, w - ph + 1, (k,), generator=gen)
        rows = _Patch(torch.zeros(k, dtype=torch.long), samples[pick], torch.zeros(k, 1, ph, ph, steps), h0, w0,
                      channel=channel[pick])
        win = rows.golden_window(g_prev).to(cmpn.dtype) * value
        steps_hit = torch.rand(k, steps, generator=gen) < share
        flips = (torch.rand(win.shape, generator=gen) < 0.3) & steps_hit[:, None, None, None, :]
        rows.patch = torch.where(flips, value - win, win)
        full = netmap.layer_forward("SF3", rows.full(g_prev, cmpn.dtype, value))
        a = par._time_sparse_dense_channel(netmap, "SF3", rows, g_prev, lambda: g_a, cmpn.dtype, value)
        assert a is not None and a.shape == full.shape and torch.equal(a, full), ph
        assert not torch.equal(full, g_a[rows.samples])  # the rows do differ from golden
    rows.patch = torch.where(torch.rand(rows.patch.shape, generator=gen) < 0.5, value - win, win)
    assert par._time_sparse_dense_channel(netmap, "SF3", rows, g_prev, lambda: g_a, cmpn.dtype, value) is None
