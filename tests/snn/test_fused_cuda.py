"""The fused path on CUDA (GPU only): the psp + spike kernel against the reference
psp (cuBLAS) and spike kernel, time-major pooling against cuDNN, the N-MNIST CNN against
SLAYER (the parity rule) and against the reference path, the engines on both paths.

Bit identity of the psp with cuBLAS is reported (printed), not required: the project's
rule is that spikes differ only where the float64 potential lies within 1e-5*theta of theta.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

import spikefi.snn as snn
from spikefi.snn import functional as fn
from spikefi.snn.cuda import triton_available
from spikefi.snn.parity import classify_mismatches
from spikefi.zoo import build

from ..conftest import unpack_spikes

pytestmark = pytest.mark.skipif(not torch.cuda.is_available() or not triton_available(),
                                reason="needs a CUDA GPU and Triton")

NEURON = dict(type="SRMALPHA", theta=10, tauSr=10.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)


@pytest.mark.parametrize("layout", ["standard", "time-major"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fire_kernel_against_cublas_psp(layout, dtype):
    from spikefi.snn.cuda.spike_kernel import fused_fire

    slayer = snn.layer(NEURON, dict(Ts=6, tSample=300)).cuda().to(dtype)
    g = torch.Generator(device="cuda").manual_seed(4)
    # synaptic inputs of SC1's magnitude: sums of a few weights per spike
    x = (torch.randn(64, 24, 17, 17, 50, device="cuda", generator=g) * 4).to(dtype)
    x[0, 0, 0, 0, 7] = float("inf")
    x[1, 0, 0, 0, 3] = float("nan")
    u = slayer.psp(x)
    ref = slayer.spike(u)
    xx = x if layout == "standard" else fn.time_major(x)
    st: dict = {"mask": True, "golden": ref != 0}
    s, p = fused_fire(xx, slayer.srmKernel, slayer.refKernel, 10.0, 6.0, stats=st, want_psp=True)
    same = (p == u) | (p.isnan() & u.isnan())
    print(f"psp bit-identical with cuBLAS ({dtype}, {layout}): {float(same.double().mean()):.6f}")
    with snn.compute_path("reference"):
        u64 = slayer.double().psp(x.double())
    report = classify_mismatches(s, ref, u64, 10.0, slayer.refKernel)
    print(f"fused fire vs reference ({dtype}, {layout}): {report}")
    assert report.unexplained == 0
    assert int(st["count"]) == int((s != 0).sum()) and torch.equal(st["fired"], s != 0)
    assert bool(st["differs"]) == bool(report.mismatches)


@pytest.mark.parametrize(("kernel", "size"), [(2, (34, 34)), (2, (17, 17)), (2, (9, 9)), (3, (9, 7))])
def test_time_major_pool_equals_convolution(kernel, size):
    from spikefi.snn.cuda.spike_kernel import fused_sum_pool_time_major, is_time_major

    pool = snn.layer(NEURON, dict(Ts=6, tSample=120)).pool(kernel).cuda()
    g = torch.Generator(device="cuda").manual_seed(size[0])
    for x in (torch.randn(5, 6, *size, 20, device="cuda", generator=g) * 30,
              (torch.rand(5, 6, *size, 20, device="cuda", generator=g) < 0.3).float() / 6):
        reference = pool(x.clone().requires_grad_(True)).detach()  # the cuDNN convolution (autograd)
        out = fused_sum_pool_time_major(fn.time_major(x), pool.weight)
        assert is_time_major(out) and torch.equal(out, reference)


@pytest.fixture(scope="module")
def nmnist(nmnist_state_dict):
    net, _ = build("nmnist_cnn")
    net.load_state_dict(nmnist_state_dict)
    return net.cuda().eval()


def test_nmnist_fused_layer_by_layer_parity(nmnist, slayer_reference):
    """The parity rule on the fused path: each layer fed SLAYER's input spikes."""
    ref = slayer_reference["nmnist_cnn"]
    theta = float(ref["params"]["neuron"]["theta"])
    net64 = copy.deepcopy(nmnist).double()
    x = unpack_spikes(ref["input"]).cuda()
    reports = {}
    with torch.no_grad():
        for name in ref["layer_order"]:
            target = unpack_spikes(ref["spikes"][name]).cuda()
            assert nmnist.slayer._fuses(x)
            spikes = nmnist.slayer.fire(nmnist.layer_forward(name, x))
            with snn.compute_path("reference"):
                u64 = net64.membrane_potential(name, x.double())
            reports[name] = classify_mismatches(spikes, target, u64, theta, nmnist.slayer.refKernel)
            x = target
    for name, report in reports.items():
        print(f"fused path, N-MNIST CNN {name} layer by layer: {report}")
    assert all(r.unexplained == 0 for r in reports.values()), reports


def test_nmnist_fused_equals_reference_path(nmnist, slayer_reference):
    x = unpack_spikes(slayer_reference["nmnist_cnn"]["input"]).cuda()
    with torch.no_grad():
        with snn.compute_path("reference"):
            ref = nmnist.forward_layers(x)
        assert snn.path_name("cuda") == "fused"
        out = nmnist.forward_layers(x)
    counts = {k: int(((out[k] != 0) != (ref[k] != 0)).sum()) for k in ref}
    total = sum(int((v != 0).sum()) for v in ref.values())
    print(f"fused vs reference path, spike mismatches per layer: {counts} of {total} spikes")
    assert sum(counts.values()) <= 1e-5 * total
    assert torch.equal(snn.predict(out["SF4b"]), snn.predict(ref["SF4b"]))


@pytest.mark.parametrize("path", ["reference", "fused"])
def test_engines_equal_the_hook_path_on_each_path(path):
    from ..campaign.test_cuda_engines import _campaign

    with snn.compute_path(path):
        reference = _campaign(force_hooks=True)
        ref = reference.run(engine="naive", progress=False, keep_predictions=True)
        cols = [c for c in ref.table if c != "param"]
        for engine in ("naive", "sequential", "parallel"):
            cmpn = _campaign()
            assert cmpn.golden()["spike_counts"] == reference.golden()["spike_counts"]
            res = cmpn.run(engine=engine, progress=False, keep_predictions=True)
            pd.testing.assert_frame_equal(res.table[cols], ref.table[cols])
            assert np.array_equal(res.predictions, ref.predictions)
