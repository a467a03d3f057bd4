"""The fused inference path (spikefi.snn.paths) equals the reference path on the CPU.

On the CPU the fused path runs its ``conv2d`` over time-major tensors and its pooling in
PyTorch; the Triton kernels run in Triton's interpreter (a subprocess with
``TRITON_INTERPRET=1``: tests/snn/scripts/fused_interpreted.py) where Triton installs.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import spikefi.snn as snn
from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError
from spikefi.faults import (
    DeadNeuron,
    DeadSynapse,
    Fault,
    ParametricNeuron,
    PerturbedSynapse,
    Site,
    StuckNeuron,
)
from spikefi.snn import functional as fn
from spikefi.snn.paths import REFERENCE_ENV, fused_active, fused_enabled
from spikefi.zoo import load_pretrained

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    return net.eval(), test


def test_switches(monkeypatch):
    assert snn.get_compute_path() in ("auto", "fused", "reference")
    with snn.compute_path("fused"):
        assert fused_enabled("cpu") and snn.path_name("cpu") in ("fused", "fused-interpreted")
        monkeypatch.setenv(REFERENCE_ENV, "1")  # the environment wins over everything
        assert not fused_enabled("cpu") and snn.path_name("cpu") == "reference"
        monkeypatch.delenv(REFERENCE_ENV)
        x = torch.zeros(2, 3, requires_grad=True)
        assert not fused_active(x)  # autograd: reference
        assert not fused_active(torch.zeros(2, 3, dtype=torch.float16))
        with torch.no_grad():
            assert fused_active(x)
    with snn.compute_path("reference"):
        assert snn.path_name("cpu") == "reference"
    with pytest.raises(ConfigError, match="compute path"):
        snn.set_compute_path("fast")


def test_time_major_conv_and_pool_equal_reference():
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(3, 4, 9, 7, 11, generator=g) < 0.3).float() / 2
    w = torch.randn(5, 4, 3, 3, 1, generator=g)
    pool = snn.layer(dict(type="SRMALPHA", theta=10, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1),
                     {"Ts": 1, "tSample": 11}).pool(2)
    with torch.no_grad():
        with snn.compute_path("reference"):
            ref = fn.conv3d(x, w, (2, 1, 1), (1, 0, 0), 1, 1)
            ref_pool = pool(x)
        with snn.compute_path("fused"):
            out = fn.conv3d(x, w, (2, 1, 1), (1, 0, 0), 1, 1)
            out_pool = pool(fn.time_major(x))
    assert out.permute(0, 4, 1, 2, 3).is_contiguous()  # time-major
    assert torch.equal(out, ref)
    assert torch.equal(out_pool, ref_pool) and out_pool.permute(0, 4, 1, 2, 3).is_contiguous()


def test_fused_network_equals_reference(digits):
    net, test = digits
    x = test.tensors[:3]
    with torch.no_grad():
        with snn.compute_path("reference"):
            ref = net.forward_layers(x)
        with snn.compute_path("fused"):
            out = net.forward_layers(x)
            final = net(x)
    for name in ref:
        assert torch.equal(out[name], ref[name]), name
    assert final.is_contiguous() and torch.equal(final, ref[net.layer_names[-1]])
    # training (autograd) takes the reference path whatever the switch
    with snn.compute_path("fused"):
        xg = x.clone().requires_grad_()
        net(xg).sum().backward()
    assert xg.grad is not None


def _campaign(net, test, force_hooks: bool = False) -> Campaign:
    cmpn = Campaign(net, (test.tensors[:24], test.labels[:24]), batch_size=10, seed=5)
    cmpn.force_hooks = force_hooks
    cmpn.then_inject(Fault(DeadSynapse(), Site("SC1"), count=2))
    cmpn.then_inject(Fault(PerturbedSynapse(3.0), Site("SF3"), count=3))
    cmpn.then_inject([Fault(StuckNeuron(probability=0.4), Site("SC2"), count=2), Fault(DeadNeuron(), Site("SF3"))])
    cmpn.then_inject(Fault(ParametricNeuron("theta", 0.6), Site("SP1"), count=2))
    cmpn.exhaustive(DeadNeuron(), layers=["SF4"])
    return cmpn


def test_engines_on_the_fused_path_equal_the_reference_path(digits):
    """Every engine (and the hook path) on the fused path gives the reference path's table."""
    net, test = digits
    with snn.compute_path("reference"):
        cmpn = _campaign(net, test)
        ref = cmpn.run(engine="naive", progress=False, keep_predictions=True)
        assert cmpn.snn_path == "reference" and cmpn.metadata("naive", 0.0)["snn_path"] == "reference"
    with snn.compute_path("fused"):
        assert cmpn.snn_path in ("fused", "fused-interpreted")
    cols = [c for c in ref.table if c != "param"]
    assert ref.table["critical"].sum() > 0
    with snn.compute_path("fused"):
        for engine, hooks in (("naive", False), ("sequential", False), ("parallel", False), ("naive", True)):
            res = _campaign(net, test, hooks).run(engine=engine, progress=False, keep_predictions=True)
            pd.testing.assert_frame_equal(res.table[cols], ref.table[cols], obj=f"{engine} hooks={hooks}")
            assert (res.predictions == ref.predictions).all(), engine


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="Triton is not installed (pip install triton)")
@pytest.mark.skipif(torch.cuda.is_available(), reason="a CPU test: with CUDA the kernels run compiled "
                    "(tests/snn/test_fused_cuda.py); the GPU machine's Triton interpreter failed on tl.range")
def test_triton_kernels_in_the_interpreter():
    """psp + spike kernel (both layouts, non-finite inputs, per-neuron theta, statistics),
    time-major pooling and a whole network, in Triton's CPU interpreter."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(REPO)}
    env.pop(REFERENCE_ENV, None)
    proc = subprocess.run([sys.executable, str(REPO / "tests/snn/scripts/fused_interpreted.py")], env=env,
                          capture_output=True, text=True, timeout=900)
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "all interpreted checks passed" in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="Triton is not installed (pip install triton)")
def test_triton_kernels_compile_for_the_h100():
    """The kernels compile to PTX for sm_90 without a GPU (Triton's own compiler and ptxas),
    with the options the launches use."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from spikefi.snn.cuda import _triton_kernels as kernels

    def compile_(fn, types: dict[str, str], const: dict[str, object], **options: object) -> str:
        sig = {**types, **dict.fromkeys(const, "constexpr")}
        src = ASTSource(fn=fn, signature=sig, constexprs={(list(sig).index(c),): v for c, v in const.items()})
        return triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 4, **options}).asm["ptx"]

    ptrs = ["x_ptr", "s_ptr", "u_ptr", "theta_ptr", "srm_ptr", "ref_ptr", "value_ptr", "ts_ptr"]
    ints = ["n_neurons", "feat", "steps", "xs_n", "xs_f", "xs_t", "ss_n", "ss_f", "ss_t", "ms_n", "ms_f", "ms_t",
            "gs_n", "gs_f", "gs_t"]
    types = {**{p: "*fp32" for p in ptrs}, "mask_ptr": "*u8", "gold_ptr": "*u8", "count_ptr": "*i64",
             "diff_ptr": "*i32", **{i: "i32" for i in ints}}
    for stats in (False, True):
        ptx = compile_(kernels.psp_spike_kernel, types,
                       dict(L=13, K=2, PER_NEURON=stats, HIST64=False, WRITE_U=stats, MASK=stats, COUNT=stats,
                            COMPARE=stats, BLOCK=128), enable_fp_fusion=False)
        assert ".entry psp_spike_kernel" in ptx
    sums_ptrs = ["g_ptr", "gbase_ptr", "d_ptr", "dbase_ptr", "mult_ptr", "scale_ptr", "s_ptr", "theta_ptr", "srm_ptr",
                 "ref_ptr", "value_ptr", "ts_ptr"]
    sums_types = {**{p: "*i64" if "base" in p else "*fp32" for p in sums_ptrs}, "k_ptr": "*u8", "kbase_ptr": "*i64",
                  **{i: "i32" for i in ["n_neurons", "feat", "steps", "gs_f", "gs_t", "ds_f", "ds_t", "ss_n", "ss_f",
                                        "ss_t", "ks_f", "ks_t"]}}
    for mult, golden, hist64 in itertools.product((False, True), repeat=3):
        ptx = compile_(kernels.sums_psp_spike_kernel, sums_types,
                       dict(L=13, K=40 if hist64 else 2, HIST64=hist64, MULT=mult, GOLDEN=golden, BLOCK=128),
                       enable_fp_fusion=False)
        assert ".entry sums_psp_spike_kernel" in ptx
    pool_types = {"x_ptr": "*fp32", "w_ptr": "*fp32", "out_ptr": "*fp32",
                  **{i: "i32" for i in ["n_out", "h_in", "w_in", "h_out", "w_out"]}}
    assert ".entry sum_pool_time_major_kernel" in compile_(kernels.sum_pool_time_major_kernel, pool_types,
                                                           dict(KH=2, KW=2, BLOCK=512))
    cmp_types = {"p_ptr": "*fp32", "g_ptr": "*u8", **{p: "*i64" for p in ("smp_ptr", "h0_ptr", "w0_ptr", "ch_ptr")},
                 "diff_ptr": "*u8", "delta_ptr": "*i32",
                 **{i: "i32" for i in ["n_cells", "pw", "n_k", "inner", "g_h", "g_w", "ps_m", "ps_c", "ps_h", "ps_w",
                                       "ps_t", "gs_b", "gs_c", "gs_h", "gs_w", "gs_t"]}}
    for channel, time_outer in itertools.product((False, True), repeat=2):
        ptx = compile_(kernels.compare_kernel, cmp_types,
                       dict(CHANNEL=channel, TIME_OUTER=time_outer, BLOCK_P=16, BLOCK_K=64))
        assert ".entry compare_kernel" in ptx


def test_fused_kernel_addressing_refuses_a_scalar_and_densifies_a_strided_tensor():
    """The fused kernel's (N, F, T) addressing: a strided view is copied dense, a 0-d tensor is
    refused with a ValueError naming its shape (no bare assert)."""
    from spikefi.snn.cuda.spike_kernel import _addressable

    x = torch.randn(2, 3, 4, 5)[:, ::2]  # middle dimensions not contiguous among themselves
    y, geo = _addressable(x, lambda t: t.contiguous())
    assert y.is_contiguous() and geo == (2, 2 * 4, 40, 5, 1)
    with pytest.raises(ValueError, match=r"shape \(\)"):
        _addressable(torch.tensor(1.0), lambda t: t.contiguous())


def test_fused_kernel_addressing_ignores_size_one_dimensions():
    """``nft_strides`` addresses a tensor as ``(N, F, T)`` where it lies: a ``(P, C, 1, 1, T)``
    view of a time-major ``(P, T, C)`` tensor (the parallel engine's time-major rows) is
    addressed without a copy, and every element it addresses is the logical one."""
    from spikefi.snn.cuda.spike_kernel import nft_strides

    base = torch.randn(5, 7, 4)  # (P, T, C) in memory
    layouts = [base.permute(0, 2, 1)[:, :, None, None, :], torch.randn(5, 4, 1, 1, 7),
               torch.randn(5, 7, 3, 4).permute(0, 2, 3, 1)[:, :, None],  # (P, 3, 1, 4, T) time-major
               torch.randn(2, 3, 4, 5, 6).permute(0, 4, 1, 2, 3).contiguous().permute(0, 2, 3, 4, 1)]
    for x in layouts:
        geo = nft_strides(x)
        assert geo is not None, tuple(x.stride())
        n, feat, sn, sf, st = geo
        logical = x.reshape(n, feat, x.shape[-1])
        addressed = torch.as_strided(x, (n, feat, x.shape[-1]), (sn, sf, st), x.storage_offset())
        assert torch.equal(addressed, logical)
    assert nft_strides(torch.randn(2, 3, 4, 5)[:, ::2]) is None  # still refused: copied dense
