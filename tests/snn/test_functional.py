"""Unit tests of the engine's pure functions on hand-computed and random inputs."""

from __future__ import annotations

import math

import pytest
import torch

import spikefi.snn as snn
from spikefi.errors import ConfigError, DTypeError, ShapeError
from spikefi.snn import functional as fn

NEURON = dict(type="SRMALPHA", theta=10, tauSr=10.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
SIM = dict(Ts=1, tSample=40)


def test_alpha_kernel_values_and_truncation():
    k = fn.alpha_kernel(tau=2.0, mult=1, t_sample=100, ts=1)
    assert k[0] == 0.0
    assert k[2] == pytest.approx(1.0)  # peak at t = tau
    assert k[3] == pytest.approx(1.5 * math.exp(-0.5))
    # stops at the first value below eps once t > tau
    assert abs(k[-1]) >= 0.01 and abs(fn.alpha_kernel(2.0, 1, 100, 1, eps=0.0)[len(k)]) < 0.01


def test_psp_hand_computed():
    kernel = torch.tensor([0.0, 1.0, 0.5])
    x = torch.zeros(1, 6)
    x[0, 1] = 2.0
    x[0, 4] = 1.0
    y = fn.psp(x, kernel, ts=2.0)
    # y[t] = Ts * sum_i x[t-i] k[i]
    expected = torch.tensor([[0, 0, 4.0, 2.0, 0, 2.0]])
    assert torch.allclose(y, expected)


def test_psp_matches_loop_on_random_input():
    torch.manual_seed(0)
    slayer = snn.layer(NEURON, SIM)
    x = torch.rand(3, 4, 2, 2, 40, dtype=torch.float64)
    k = slayer.srmKernel.double()
    expected = torch.zeros_like(x)
    for t in range(40):
        for i in range(min(k.numel(), t + 1)):
            expected[..., t] += x[..., t - i] * k[i]
    slayer64 = slayer.double()
    assert torch.allclose(slayer64.psp(x), expected * 1.0, rtol=1e-12, atol=1e-12)


def test_spike_refractory_hand_computed():
    ref = torch.tensor([0.0, -5.0, -2.0])
    u = torch.tensor([[0.0, 10.0, 12.0, 11.0, 3.0, 10.0]])
    spikes, u_after = fn.spike_with_potential(u, 10.0, ref, ts=2.0)
    # t=1 fires (>=): u[2] -> 7, u[3] -> 9; t=5 fires
    assert torch.equal(spikes, torch.tensor([[0, 0.5, 0, 0, 0, 0.5]]))
    assert torch.equal(u_after, torch.tensor([[0.0, 10.0, 7.0, 9.0, 3.0, 10.0]]))


def test_spike_per_neuron_theta():
    ref = torch.tensor([0.0])
    u = torch.full((2, 3, 4), 5.0)
    theta = torch.tensor([4.0, 6.0])[:, None]  # neuron shape (2, 3)
    spikes = fn.spike(u, theta, ref, ts=1.0)
    assert spikes[0].eq(1).all() and spikes[1].eq(0).all()
    with pytest.raises(ShapeError, match="does not broadcast"):
        fn.spike(u, torch.ones(5), ref, 1.0)


def test_delay_shift_integer_and_fractional():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]])
    assert torch.equal(fn.delay_shift(x, 2.0, ts=1.0), torch.tensor([[0.0, 0.0, 1.0, 2.0, 3.0]]))
    assert torch.equal(fn.delay_shift(x, 4.0, ts=2.0), torch.tensor([[0.0, 0.0, 1.0, 2.0, 3.0]]))
    # 0.5 bins: linear interpolation between neighbours
    assert torch.allclose(fn.delay_shift(x, 0.5), torch.tensor([[0.5, 1.5, 2.5, 3.5, 4.5]]))
    # negative delay advances
    assert torch.equal(fn.delay_shift(x, -1.0), torch.tensor([[2.0, 3.0, 4.0, 5.0, 0.0]]))
    # per-neuron delays
    xx = x.repeat(2, 1)
    out = fn.delay_shift(xx, torch.tensor([0.0, 1.0]))
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], torch.tensor([0.0, 1, 2, 3, 4]))


def test_delay_layer_gradient_matches_finite_difference():
    torch.manual_seed(3)
    slayer = snn.layer(NEURON, dict(Ts=1, tSample=20))
    delay = slayer.delay((3, 1, 1)).double()
    x = torch.rand(2, 3, 1, 1, 20, dtype=torch.float64)
    with torch.no_grad():
        delay.delay.copy_(torch.tensor([0.3, 1.6, 2.25]).view(3, 1, 1))
    out = delay(x)
    w = torch.rand_like(out)
    (out * w).sum().backward()
    eps = 1e-6
    for i in range(3):
        with torch.no_grad():
            delay.delay[i] += eps
            up = (delay(x) * w).sum()
            delay.delay[i] -= 2 * eps
            down = (delay(x) * w).sum()
            delay.delay[i] += eps
        assert delay.delay.grad[i].item() == pytest.approx(((up - down) / (2 * eps)).item(), rel=1e-5)
    assert torch.equal(slayer.delayShift(x, 2, 1), fn.delay_shift(x, 2, 1))


def test_float64_end_to_end_and_dtype_errors():
    torch.manual_seed(1)
    slayer = snn.layer(NEURON, SIM)
    fc = slayer.dense(8, 4)
    x = (torch.rand(2, 8, 1, 1, 40) < 0.3).float()
    out32 = slayer.spike(slayer.psp(fc(x)))
    fc64, slayer64 = fc.double(), slayer.double()
    out64 = slayer64.spike(slayer64.psp(fc64(x.double())))
    assert out64.dtype == torch.float64
    assert (out64.float() != out32).sum() <= 2  # only near-threshold differences
    with pytest.raises(DTypeError, match="float64"):
        fc64(x)
    with pytest.raises(DTypeError, match="floating dtype"):
        slayer.psp(x.long())


def test_shape_errors_name_the_shape():
    slayer = snn.layer(NEURON, SIM)
    conv = slayer.conv(2, 4, 3, padding=1)
    with pytest.raises(ShapeError, match=r"\(N, C, H, W, T\)"):
        conv(torch.zeros(2, 8, 8, 10))
    with pytest.raises(ShapeError, match="3 channels"):
        conv(torch.zeros(1, 3, 8, 8, 10))
    dense = slayer.dense((5, 5, 2), 3)
    with pytest.raises(ShapeError, match="spatial size"):
        dense(torch.zeros(1, 2, 4, 5, 10))
    with pytest.raises(ConfigError, match="kernelSize"):
        slayer.conv(2, 4, 0)


def test_weight_layout_and_scale():
    torch.manual_seed(0)
    slayer = snn.layer(NEURON, SIM)
    assert slayer.conv(2, 24, 5, padding=2).weight.shape == (24, 2, 5, 5, 1)
    assert slayer.dense((5, 4, 96), 64).weight.shape == (64, 96, 4, 5, 1)
    assert slayer.dense(256, 10).weight.shape == (10, 256, 1, 1, 1)
    torch.manual_seed(0)
    a = slayer.conv(2, 3, 3, weightScale=1).weight
    torch.manual_seed(0)
    b = slayer.conv(2, 3, 3, weightScale=100).weight
    assert torch.allclose(b, 100 * a)
    hooked = slayer.dense(4, 2, preHookFx=lambda w: torch.zeros_like(w))
    assert hooked(torch.ones(1, 4, 1, 1, 5)).abs().sum() == 0


def test_dropout_drops_whole_neurons():
    torch.manual_seed(0)
    slayer = snn.layer(NEURON, SIM)
    drop = slayer.dropout(0.5).train()
    x = torch.ones(4, 3, 2, 2, 10)
    y = drop(x)
    per_neuron = y.reshape(4, 12, 10)
    # each neuron is either dropped at every time step or kept (and scaled by 2)
    assert ((per_neuron == 0).all(-1) | (per_neuron == 2).all(-1)).all()
    assert torch.equal(drop.eval()(x), x)


def test_predict_integer_counts_lowest_index_ties():
    out = torch.zeros(3, 4, 1, 1, 6)
    out[0, 1, ..., :3] = 1 / 6
    out[0, 2, ..., :3] = 1 / 6  # tie between 1 and 2 -> 1
    out[1, 3, ..., :5] = 1 / 6
    # sample 2: no spikes at all -> class 0
    assert snn.predict(out).tolist() == [1, 3, 0]
    assert snn.spike_counts(out)[1].tolist() == [0, 0, 0, 5]
    assert torch.equal(snn.spikeClassifier.getClass(out), snn.predict(out))


def test_learning_stats():
    stats = snn.learningStats()
    stats.training.lossSum += 10.0
    stats.training.correctSamples += 3
    stats.training.numSamples += 4
    stats.training.lossSum += 6.0
    stats.training.correctSamples += 1
    stats.training.numSamples += 4
    assert stats.training.accuracy() == 0.5 and stats.training.loss() == 2.0
    stats.update()
    assert stats.training.maxAccuracy == 0.5 and stats.training.numSamples == 0
    assert stats.training.accuracyLog == [0.5] and stats.testing.accuracyLog == [None]


def test_strict_fp32_is_noop_on_cpu():
    flag = torch.backends.cudnn.allow_tf32
    with snn.strict_fp32(torch.zeros(1)):
        assert torch.backends.cudnn.allow_tf32 == flag
    assert not snn.get_allow_tf32()
    with snn.allow_tf32():
        assert snn.get_allow_tf32()
    assert not snn.get_allow_tf32()


def test_strict_autograd_functions_match_plain_ops():
    """The CUDA strict-fp32 wrappers (TF32 off in backward too) compute the same
    values and gradients as the plain ops; checked on CPU in float64."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 6, 5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.rand(4, 3, 3, 3, 1, dtype=torch.float64, requires_grad=True)
    args = ((1, 2, 1), (1, 1, 0), (1, 1, 1), 1)
    y = fn._StrictConv3d.apply(x, w, *args)
    g = torch.rand_like(y)
    gx, gw = torch.autograd.grad((y * g).sum(), (x, w))
    y2 = torch.nn.functional.conv3d(x, w, None, *args)
    gx2, gw2 = torch.autograd.grad((y2 * g).sum(), (x, w))
    assert torch.allclose(y, y2) and torch.allclose(gx, gx2) and torch.allclose(gw, gw2)
    m = torch.rand(4, 4, dtype=torch.float64)
    z = fn._StrictMatmul.apply(x, m)
    (gz,) = torch.autograd.grad((z * 2).sum(), x)
    (gz2,) = torch.autograd.grad((x @ m * 2).sum(), x)
    assert torch.allclose(z, x @ m) and torch.allclose(gz, gz2)


def test_inf_and_nan_potentials_follow_ieee():
    """+Inf potential spikes, NaN and -Inf never do (documented for float bit flips)."""
    u = torch.tensor([[float("inf"), float("nan"), -float("inf"), 12.0]])
    s = fn.spike(u, 10.0, torch.tensor([0.0, -1.0]), 1.0)
    assert s.tolist() == [[1.0, 0.0, 0.0, 1.0]]


@pytest.mark.parametrize("region", [(0, 50), (40, 260)])
def test_num_spikes_loss_does_not_depend_on_the_memory_layout(region):
    """The NumSpikes loss of an output is a function of its values alone: time-major and
    permuted-channel layouts of the same spikes give bit-equal per-sample losses (the fused
    path's rows may arrive time-major while the naive engine's are time-last; a campaign
    compares the two engines' losses exactly)."""
    neuron = dict(type="SRMALPHA", theta=10, tauSr=10.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
    start, stop = region
    loss = snn.loss({"neuron": neuron, "simulation": {"Ts": 1, "tSample": 300},
                     "training": {"error": {"type": "NumSpikes", "tgtSpikeRegion": {"start": start, "stop": stop},
                                            "tgtSpikeCount": {True: 60, False: 10}}}})
    g = torch.Generator().manual_seed(21)
    out = (torch.rand(2000, 10, 1, 1, 300, generator=g) < 0.1).float()
    target = torch.zeros(2000, 10, 1, 1, 1)
    target[torch.arange(2000), torch.randint(0, 10, (2000,), generator=g)] = 1
    ref = loss.numSpikes(out, target, reduction="none")
    assert ref.abs().min() > 0
    tm = fn.time_major(out)
    assert not tm.is_contiguous()
    assert torch.equal(loss.numSpikes(tm, target, reduction="none"), ref)
    chan = out.transpose(0, 1).contiguous().transpose(0, 1)  # channels outermost in memory
    assert torch.equal(loss.numSpikes(chan, target, reduction="none"), ref)
    assert torch.equal(loss.numSpikes(tm, target), loss.numSpikes(out, target))


def test_num_spikes_per_sample_loss_does_not_depend_on_the_batch(device):
    """A sample's NumSpikes loss is the same bit for bit whether it is computed alone, in a batch
    of 5 or in one of 3,000 (on the test device: CUDA's reduction kernels pick their summation
    order by the tensor's size, so the count and the per-sample sum use orders that do not
    depend on it: a float64 count, exact for spike trains, and a fixed pairwise sum); and the
    fixed-order sum agrees with a float64 sum within float32 rounding, odd widths included."""
    from spikefi.snn.loss import _row_sums

    neuron = dict(type="SRMALPHA", theta=10, tauSr=10.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
    loss = snn.loss({"neuron": neuron, "simulation": {"Ts": 6, "tSample": 300},
                     "training": {"error": {"type": "NumSpikes", "tgtSpikeRegion": {"start": 30, "stop": 270},
                                            "tgtSpikeCount": {True: 60, False: 10}}}})
    g = torch.Generator().manual_seed(22)
    n = 3000
    out = ((torch.rand(n, 10, 1, 1, 50, generator=g) < 0.3).float() / 6).to(device)  # spike value 1/Ts
    target = torch.zeros(n, 10, 1, 1, 1)
    target[torch.arange(n), torch.randint(0, 10, (n,), generator=g)] = 1
    target = target.to(device)
    whole = loss.numSpikes(out, target, reduction="none")
    assert whole.abs().min() > 0
    for rows in (slice(0, 1), slice(7, 12), slice(100, 2100)):
        assert torch.equal(loss.numSpikes(out[rows], target[rows], reduction="none"), whole[rows]), rows
    for k in (1, 2, 7, 500, 513):
        x = torch.randn(40, k, generator=g)
        assert torch.allclose(_row_sums(x).double(), x.double().sum(1), rtol=0, atol=1e-5 * k), k
    assert _row_sums(torch.zeros(3, 0)).shape == (3,)
