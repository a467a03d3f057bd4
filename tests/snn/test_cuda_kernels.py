"""The fused CUDA spike kernel equals the PyTorch reference bit for bit (GPU only)."""

from __future__ import annotations

import pytest
import torch

from spikefi.snn import functional as fn
from spikefi.snn.cuda import fused_spikes, triton_available

pytestmark = pytest.mark.skipif(not torch.cuda.is_available() or not triton_available(),
                                reason="needs a CUDA GPU and Triton")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("klen", [1, 2, 5, 11, 33, 64])
def test_fused_spikes_equal_reference(dtype, klen):
    g = torch.Generator().manual_seed(klen)
    u = (torch.randn(3, 7, 5, 4, 37, generator=g, dtype=dtype) * 8 + 6).cuda()
    u[0, 0, 0, 0, 5] = 10.0  # exactly theta
    ref = -torch.rand(klen, generator=g, dtype=dtype).cuda() * 9
    ref[0] = 0
    s_ref, u_ref = fn._simulate_spikes_torch(u, 10.0, ref, 6.0)
    s, ua = fused_spikes(u, 10.0, ref, 6.0)
    assert torch.equal(s, s_ref) and torch.equal(ua, u_ref)
    s_only, none = fused_spikes(u, 10.0, ref, 6.0, need_potential=False)
    assert none is None and torch.equal(s_only, s_ref)
    theta = (torch.rand(7, 5, 4, generator=g, dtype=dtype) * 10 + 5).cuda()
    s_ref, u_ref = fn._simulate_spikes_torch(u, theta, ref, 6.0)
    s, ua = fused_spikes(u, theta, ref, 6.0)
    assert torch.equal(s, s_ref) and torch.equal(ua, u_ref)


def test_inf_and_nan_potentials():
    u = torch.tensor([[float("inf"), float("nan"), -float("inf"), 12.0]], device="cuda")
    s, _ = fused_spikes(u, 10.0, torch.tensor([0.0, -1.0], device="cuda"), 1.0)
    assert s.tolist() == [[1.0, 0.0, 0.0, 1.0]]


def test_spike_inference_path_equals_autograd_path():
    g = torch.Generator().manual_seed(3)
    u = (torch.randn(5, 4, 3, 3, 50, generator=g) * 8 + 6).cuda()
    ref = torch.tensor([0.0, -20.0, -3.0], device="cuda")
    with torch.no_grad():
        s = fn.spike(u, 10.0, ref, 6.0)  # no u_after written
    ug = u.clone().requires_grad_(True)
    s_grad = fn.spike(ug, 10.0, ref, 6.0)
    s_cpu, _ = fn._simulate_spikes_torch(u.cpu(), 10.0, ref.cpu(), 6.0)
    assert torch.equal(s, s_grad.detach()) and torch.equal(s.cpu(), s_cpu)


def test_long_refractory_kernel_falls_back_to_pytorch():
    u = (torch.randn(2, 3, 90) * 8 + 6).cuda()
    ref = -torch.rand(80, device="cuda")
    s, ua = fn._simulate_spikes(u, 10.0, ref, 1.0)
    s_ref, u_ref = fn._simulate_spikes_torch(u, 10.0, ref, 1.0)
    assert torch.equal(s, s_ref) and torch.equal(ua, u_ref)


@pytest.mark.parametrize(("kernel", "size"), [(2, (34, 34)), (2, (17, 17)), (2, (8, 5)), (2, (1, 1)),
                                              (3, (9, 9)), (3, (34, 7)), ((2, 3), (17, 9)), ((2, 3), (8, 4))])
def test_fused_pool_equals_convolution(kernel, size):
    """The fused pooling kernel equals the cuDNN convolution path bit for bit, on random
    real-valued inputs and random weights as well as on spikes."""
    import spikefi.snn as snn

    slayer = snn.layer(dict(type="SRMALPHA", theta=10, tauSr=10.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1),
                       dict(Ts=6, tSample=120)).cuda()
    pool = slayer.pool(kernel).cuda()
    g = torch.Generator(device="cuda").manual_seed(size[0])
    inputs = [torch.randn(5, 6, *size, 20, device="cuda", generator=g) * 30,
              (torch.rand(5, 6, *size, 20, device="cuda", generator=g) < 0.3).float() / 6]
    weights = [pool.weight.detach(), torch.randn(pool.weight.shape, device="cuda", generator=g)]
    for w in weights:
        pool.weight.data.copy_(w)
        for x in inputs:
            with torch.no_grad():
                fused = pool(x)
            x_grad = x.clone().requires_grad_(True)  # the convolution path (autograd)
            reference = pool(x_grad).detach()
            assert fused.shape == reference.shape and torch.equal(fused, reference)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("shape", "klen"), [((3, 7, 5, 4, 37), 5), ((300, 50), 2), ((2, 129, 1, 1, 8), 33),
                                             ((1, 1, 1, 1, 3), 64)])
def test_spike_stats_of_the_kernel_equal_the_spikes(dtype, shape, klen):
    """Count, firing mask and golden comparison computed inside the kernel equal those
    computed from its spikes (odd sizes: partial tiles in time and neurons)."""
    g = torch.Generator().manual_seed(sum(shape) + klen)
    u = (torch.randn(*shape, generator=g, dtype=dtype) * 8 + 6).cuda()
    ref = -torch.rand(klen, generator=g, dtype=dtype).cuda() * 9
    s_ref, _ = fn._simulate_spikes_torch(u, 10.0, ref, 6.0)
    fired = s_ref != 0
    assert 0 < int(fired.sum()) < fired.numel()
    other = fired.contiguous().clone()
    other.view(-1)[fired.numel() // 2] ^= True
    for golden, differs in ((None, None), (fired, False), (other, True)):
        s, st = fn.spike_stats(u, 10.0, ref, 6.0, keep_mask=True, golden=golden)
        assert torch.equal(s, s_ref)
        assert st["fired"].dtype == torch.bool and torch.equal(st["fired"], fired)
        assert int(st["count"]) == int(fired.sum())
        assert (st["differs"] is None) if differs is None else (bool(st["differs"]) is differs)
    s, st = fn.spike_stats(u, 10.0, ref, 6.0)
    assert st["fired"] is None and st["differs"] is None and int(st["count"]) == int(fired.sum())
