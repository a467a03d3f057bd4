"""The fused path's Triton kernels in Triton's CPU interpreter against the reference path.

Run with ``TRITON_INTERPRET=1`` (tests/snn/test_fused_path.py starts it in a subprocess:
the variable must be set before Triton compiles anything). Exits non-zero on a mismatch.
"""

from __future__ import annotations

import os
import sys
import warnings

import torch

import spikefi.snn as snn
from spikefi.snn import functional as fn
from spikefi.snn.cuda.spike_kernel import fused_fire, fused_sum_pool_time_major, is_time_major
from spikefi.zoo import LayerSpec, SpikingNetwork

warnings.filterwarnings("ignore", category=RuntimeWarning)  # numpy: inf - inf in the interpreter


def check(name: str, ok: bool) -> None:
    print(f"{name}: {'ok' if ok else 'MISMATCH'}")
    if not ok:
        sys.exit(1)


def fire_checks() -> None:
    g = torch.Generator().manual_seed(5)
    neuron = dict(type="SRMALPHA", theta=4, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
    for dtype, steps, tau_ref in ((torch.float32, 9, 1.0), (torch.float32, 21, 4.0), (torch.float64, 21, 4.0)):
        slayer = snn.layer({**neuron, "tauRef": tau_ref}, {"Ts": 1, "tSample": steps})
        x = (torch.randn(3, 2, 3, 5, steps, generator=g) * 3).to(dtype)
        x[0, 1, 2, 1, 4] = float("inf")
        x[1, 0, 0, 0, steps - 2] = float("nan")
        x[2, 1, 1, 3, 1] = float("-inf")
        u = slayer.psp(x)
        ref = slayer.spike(u)
        theta_n = 3 + torch.rand(2, 3, 5, generator=g).to(dtype) * 2
        ref_n = fn.spike(u, theta_n, slayer.refKernel.to(dtype), 1.0)
        for layout in ("standard", "time-major"):
            xx = x if layout == "standard" else fn.time_major(x)
            st: dict = {"mask": True, "golden": ref != 0}
            s, p = fused_fire(xx, slayer.srmKernel, slayer.refKernel, 4.0, 1.0, stats=st, want_psp=True)
            tag = f"fire {dtype} T={steps} K={slayer.refKernel.numel()} {layout}"
            check(f"{tag} spikes", torch.equal(s, ref))
            check(f"{tag} layout kept", is_time_major(s) == (layout == "time-major"))
            # the CPU's GEMM need not sum in the kernel's order (tests/snn/test_fused_cuda.py
            # compares with cuBLAS bit for bit): here within float rounding, non-finite alike
            finite = torch.isfinite(u)
            scale = float(u[finite].abs().max())
            check(f"{tag} psp", torch.equal(finite, torch.isfinite(p)) and torch.equal(u.isnan(), p.isnan())
                  and float((p[finite] - u[finite]).abs().max()) <= 1e-6 * scale
                  and torch.equal(p[~finite & ~u.isnan()], u[~finite & ~u.isnan()]))
            check(f"{tag} stats", int(st["count"]) == int((ref != 0).sum()) and not bool(st["differs"])
                  and torch.equal(st["fired"], ref != 0))
            flipped = (ref != 0).clone()
            flipped[2, 0, 0, 0, 3] ^= True
            st2: dict = {"golden": flipped}
            fused_fire(xx, slayer.srmKernel, slayer.refKernel, 4.0, 1.0, stats=st2)
            check(f"{tag} differs", bool(st2["differs"]))
            s_n, _ = fused_fire(xx, slayer.srmKernel, slayer.refKernel, theta_n, 1.0)
            check(f"{tag} per-neuron theta", torch.equal(s_n, ref_n))


def pool_checks() -> None:
    g = torch.Generator().manual_seed(6)
    for h, w, k in ((6, 6, 2), (7, 5, 2), (9, 9, 3)):
        x = (torch.rand(2, 3, h, w, 7, generator=g) < 0.4).float() / 3
        pool = snn.layer(dict(type="SRMALPHA", theta=10, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1),
                         {"Ts": 1, "tSample": 7}).pool(k)
        with snn.compute_path("reference"):
            ref = pool(x)
        out = fused_sum_pool_time_major(fn.time_major(x), pool.weight)
        check(f"pool {h}x{w} k={k}", torch.equal(out, ref) and is_time_major(out))


def network_checks() -> None:
    neuron = dict(type="SRMALPHA", theta=5, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
    cfg = {"neuron": neuron, "simulation": {"Ts": 1, "tSample": 12}}
    layers = [
        LayerSpec("C1", "conv", dict(inFeatures=2, outFeatures=3, kernelSize=3, padding=1, weightScale=8)),
        LayerSpec("P1", "pool", dict(kernelSize=2)),
        LayerSpec("D1", "dense", dict(inFeatures=(3, 3, 3), outFeatures=6, weightScale=12)),
        LayerSpec("D2", "dense", dict(inFeatures=6, outFeatures=4, weightScale=12)),
    ]
    with torch.random.fork_rng():
        torch.manual_seed(7)
        net = SpikingNetwork(cfg, layers, (2, 6, 6), "tiny").eval()
    x = (torch.rand(3, 2, 6, 6, 12, generator=torch.Generator().manual_seed(8)) < 0.3).float()
    with torch.no_grad():
        with snn.compute_path("reference"):
            ref = net.forward_layers(x)
        with snn.compute_path("fused"):
            check("network path", snn.path_name("cpu") == "fused-interpreted")
            out = net.forward_layers(x)
    for name in ref:
        check(f"network {name} ({int((ref[name] != 0).sum())} spikes)", torch.equal(out[name], ref[name]))


if __name__ == "__main__":
    if os.environ.get("TRITON_INTERPRET") != "1":
        sys.exit("run with TRITON_INTERPRET=1")
    fire_checks()
    pool_checks()
    network_checks()
    print("all interpreted checks passed")
