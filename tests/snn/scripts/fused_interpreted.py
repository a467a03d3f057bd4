"""The fused path's Triton kernels in Triton's CPU interpreter against the reference path.

Run with ``TRITON_INTERPRET=1`` (tests/snn/test_fused_path.py starts it in a subprocess:
the variable must be set before Triton compiles anything). Exits non-zero on a mismatch.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import cast

import torch

import spikefi.snn as snn
from spikefi.snn import functional as fn
from spikefi.snn.cuda.spike_kernel import (
    fused_fire,
    fused_fire_sums,
    fused_sum_pool_time_major,
    is_time_major,
)
from spikefi.zoo import LayerSpec, SpikingNetwork

warnings.filterwarnings("ignore", category=RuntimeWarning)  # numpy: inf - inf in the interpreter


def check(name: str, ok: bool) -> None:
    print(f"{name}: {'ok' if ok else 'MISMATCH'}", flush=True)
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


def sharp(x: torch.Tensor, slayer: snn.layer, g: torch.Generator, n: int = 4,
          srm: torch.Tensor | None = None) -> list[float]:
    """Thresholds that potentials of ``x`` meet exactly (some of its positive psp values, with
    the layer's psp kernel or ``srm``): a spike there depends on the last rounding of the
    psp, so a kernel that rounds any differently fires differently."""
    psp = fused_fire(x, slayer.srmKernel if srm is None else srm, slayer.refKernel, 1e9, 1.0, want_psp=True)[1]
    vals = cast(torch.Tensor, psp)[cast(torch.Tensor, psp) > 0].unique()
    return vals[torch.randperm(vals.numel(), generator=g)[:n]].tolist()


def sums_checks() -> None:
    """fused_fire_sums against fused_fire of the same inputs written out: integer golden sums
    plus an integer change (times a per-neuron factor or not), times a scale (negative too),
    for time-major and time-last sums, gathered at random rows; a psp kernel longer than T; a
    refractory kernel past 32 bins (the 64-bit history); thresholds a potential meets exactly
    (:func:`sharp`), where one rounding of the psp decides the spike."""
    g = torch.Generator().manual_seed(9)
    neuron = dict(type="SRMALPHA", theta=3, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
    for steps, tau_ref, dtype, scale_v in ((21, 1.0, torch.float32, 0.37), (21, 1.0, torch.float32, -0.37),
                                           (5, 1.0, torch.float32, 0.37), (40, 12.0, torch.float64, 0.1)):
        slayer = snn.layer({**neuron, "tauRef": tau_ref}, {"Ts": 1, "tSample": steps})
        scale = torch.tensor(scale_v, dtype=dtype)
        gold = torch.randint(-40, 41, (4, 3, 5, steps), generator=g).to(dtype)  # (B, C, H, T)
        rows_b = torch.randint(0, 4, (7,), generator=g)
        rows_h = torch.randint(0, 5, (7,), generator=g)
        change = torch.randint(-9, 10, (7, steps, 3), generator=g).to(dtype)  # (M, T, C) per row and channel
        written = ((gold[rows_b, :, rows_h] + change.transpose(1, 2)) * scale)  # (M, C, T)
        tm = gold.permute(0, 2, 3, 1).contiguous()  # (B, H, T, C)
        tag = f"T={steps} K={slayer.refKernel.numel()} {dtype} scale {scale_v}"
        for theta in [3.0, *sharp(written, slayer, g)]:
            ref = fused_fire(written, slayer.srmKernel, slayer.refKernel, theta, 1.0)[0]
            for layout, sums in (("time-major", tm), ("time-last", gold))[:2 if theta == 3.0 else 1]:
                st = sums.stride()
                base = rows_b * st[0] + rows_h * (st[1] if layout == "time-major" else st[2])
                strides = (st[3], st[2]) if layout == "time-major" else (st[1], st[3])
                outs = [torch.empty(7, steps, 3, dtype=dtype).transpose(1, 2), torch.empty(7, 3, steps, dtype=dtype)]
                for out in outs[:2 if theta == 3.0 else 1]:  # every layout at the plain threshold
                    s = fused_fire_sums(sums, base, strides, change, torch.arange(7) * change.stride(0),
                                        (change.stride(2), change.stride(1)), scale, slayer.srmKernel,
                                        slayer.refKernel, theta, 1.0, out)
                    check(f"sums {layout} {tag} theta {theta:.6g} out {tuple(out.stride())} "
                          f"({int((ref != 0).sum())} spikes)", torch.equal(s, ref) and s is out)
        # per-neuron factor: one change train per neuron times an integer
        mult = torch.randint(-3, 4, (7,), generator=g).to(dtype)
        trains = torch.randint(0, 2, (5, steps), generator=g).to(dtype)
        pick = torch.randint(0, 5, (7,), generator=g)
        c_of = torch.randint(0, 3, (7,), generator=g)
        written = (gold[rows_b, c_of, rows_h] + trains[pick] * mult[:, None]) * scale  # (E, T)
        st = gold.stride()
        for theta in [3.0, *sharp(written[:, None], slayer, g)]:
            ref = fused_fire(written[:, None], slayer.srmKernel, slayer.refKernel, theta, 1.0)[0]
            s = fused_fire_sums(gold, rows_b * st[0] + c_of * st[1] + rows_h * st[2], (0, st[3]), trains,
                                pick * trains.stride(0), (0, 1), scale, slayer.srmKernel, slayer.refKernel, theta, 1.0,
                                torch.empty(7, 1, steps, dtype=dtype), mult)
            check(f"sums x factor {tag} theta {theta:.6g} ({int((ref != 0).sum())} spikes)", torch.equal(s, ref))


def prefix_sums(tm: torch.Tensor, rows_b: torch.Tensor, change: torch.Tensor, scale: torch.Tensor,
                kernels: tuple[torch.Tensor, torch.Tensor], theta: float, golden: torch.Tensor) -> torch.Tensor:
    """fused_fire_sums of time-major golden sums ``tm`` (B, T, C) at samples ``rows_b`` plus
    ``change`` (M, T, C), with the golden spikes ``golden`` (B, C, T) at the same samples;
    ``kernels`` = (psp, refractory)."""
    (n, steps, feat), gst, kst = change.shape, tm.stride(), golden.stride()
    return fused_fire_sums(tm, rows_b * gst[0], (gst[2], gst[1]), change, torch.arange(n) * change.stride(0),
                           (change.stride(2), change.stride(1)), scale, *kernels, theta, 1.0,
                           torch.empty(n, feat, steps, dtype=tm.dtype), golden=(golden, rows_b * kst[0],
                                                                                (kst[1], kst[2])))


def prefix_checks() -> None:
    """fused_fire_sums with the layer's golden spikes: a change that starts late (at a bin of
    its own per neuron, none for some, bin 0 for one) gives the spikes of the written inputs;
    the spikes before the change are the golden ones given (a wrong golden train there shows),
    and with K past 32 bins the copied history feeds the refractory response. A psp kernel
    whose first tap is not zero (SLAYER's is) makes the input at a neuron's first changed bin
    count at that bin: a kernel that copies that bin, or starts a block one bin late, fails."""
    g = torch.Generator().manual_seed(11)
    neuron = dict(type="SRMALPHA", theta=3, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
    for steps, tau_ref, dtype, feat, n, own_srm in ((21, 1.0, torch.float32, 3, 7, False),
                                                    (40, 12.0, torch.float64, 3, 7, False),
                                                    (30, 1.0, torch.float32, 1, 150, False),  # one feature: 2 blocks
                                                    (24, 1.0, torch.float32, 3, 50, True)):  # 2 blocks
        slayer = snn.layer({**neuron, "tauRef": tau_ref}, {"Ts": 1, "tSample": steps})
        srm = slayer.srmKernel
        if own_srm:
            srm = torch.rand(9, generator=g).to(dtype) + 0.5  # srm[0] != 0
        kernels = (srm, slayer.refKernel)
        scale = torch.tensor(0.37, dtype=dtype)
        gold = torch.randint(-40, 41, (4, feat, steps), generator=g).to(dtype)  # (B, C, T)
        rows_b = torch.randint(0, 4, (n,), generator=g)
        change = torch.randint(-9, 10, (n, steps, feat), generator=g).to(dtype)  # (M, T, C)
        change[change == 0] = 1  # every bin from a neuron's first on changes
        first = torch.randint(0, steps + 3, (n, feat), generator=g).clamp(max=steps)  # steps: no change
        if dtype == torch.float32 and feat == 3 and not own_srm:
            first[0, 0] = 0  # one block, one change from bin 0: every bin computed, the lanes' prefixes copied
        else:
            first.clamp_(min=2)  # the blocks' first bins skipped: golden spikes and history alone
        change[torch.arange(steps)[None, :, None] < first[:, None, :]] = 0
        written = (gold[rows_b] + change.transpose(1, 2)) * scale
        tm = gold.transpose(1, 2).contiguous()  # (B, T, C)
        tag = f"T={steps} K={slayer.refKernel.numel()} {dtype} F={feat} N={n}{' own psp kernel' if own_srm else ''}"
        for theta in [3.0, *sharp(written, slayer, g, 2, srm)]:
            ref = fused_fire(written, *kernels, theta, 1.0)[0]
            gold_t = fused_fire(gold * scale, *kernels, theta, 1.0)[0] != 0
            check(f"prefix {tag} theta {theta:.6g} ({int((ref != 0).sum())} spikes, first {first[:3].tolist()})",
                  torch.equal(prefix_sums(tm, rows_b, change, scale, kernels, theta, gold_t), ref))
        # the copied prefix is the given golden train: a spike added before a late change shows
        late = int(torch.argmax(first[:, 0]))
        if int(first[late, 0]) > 1:
            golden = fused_fire(gold * scale, *kernels, 3.0, 1.0)[0] != 0  # (B, C, T)
            golden[rows_b[late], 0, 0] ^= True
            moved = prefix_sums(tm, rows_b, change, scale, kernels, 3.0, golden)
            check(f"prefix {tag}: golden spikes copied before the change",
                  bool(moved[late, 0, 0] != 0) == bool(golden[rows_b[late], 0, 0]))


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


def tiny_network(layers: list[LayerSpec], seed: int) -> SpikingNetwork:
    """A network of ``layers`` over (2, 6, 6) inputs and 12 time bins, seeded weights."""
    neuron = dict(type="SRMALPHA", theta=5, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
    cfg = {"neuron": neuron, "simulation": {"Ts": 1, "tSample": 12}}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return SpikingNetwork(cfg, layers, (2, 6, 6), "tiny").eval()


def network_checks() -> None:
    net = tiny_network([
        LayerSpec("C1", "conv", dict(inFeatures=2, outFeatures=3, kernelSize=3, padding=1, weightScale=8)),
        LayerSpec("P1", "pool", dict(kernelSize=2)),
        LayerSpec("D1", "dense", dict(inFeatures=(3, 3, 3), outFeatures=6, weightScale=12)),
        LayerSpec("D2", "dense", dict(inFeatures=6, outFeatures=4, weightScale=12)),
    ], seed=7)
    x = (torch.rand(3, 2, 6, 6, 12, generator=torch.Generator().manual_seed(8)) < 0.3).float()
    with torch.no_grad():
        with snn.compute_path("reference"):
            ref = net.forward_layers(x)
        with snn.compute_path("fused"):
            check("network path", snn.path_name("cpu") == "fused-interpreted")
            out = net.forward_layers(x)
    for name in ref:
        check(f"network {name} ({int((ref[name] != 0).sum())} spikes)", torch.equal(out[name], ref[name]))


def engine_checks() -> None:
    """An int8 campaign's parallel engine on the fused path (a tiny network), its integer rows
    fired from their golden sums (fused_fire_sums): the table and predictions equal the naive
    engine's, with the golden spikes copied before each row's first change and without
    (SPIKEFI_SUMS_PREFIX=0), and with the inputs written first (SPIKEFI_FUSED_SUMS=0); rows compared
    with golden by the kernel (fused_compare, the default: in every run above) and without it
    (SPIKEFI_FUSED_COMPARE=0)."""
    from spikefi.campaign import Campaign
    from spikefi.campaign import integer_synapses as isyn
    from spikefi.campaign.engines.parallel.engine import FUSED_COMPARE_ENV, FUSED_SUMS_ENV, SUMS_PREFIX_ENV
    from spikefi.faults import BitFlipSynapse, DeadSynapse

    net = tiny_network([
        LayerSpec("C1", "conv", dict(inFeatures=2, outFeatures=4, kernelSize=3, padding=1, weightScale=30)),
        LayerSpec("C2", "conv", dict(inFeatures=4, outFeatures=4, kernelSize=3, padding=1, weightScale=30)),
        LayerSpec("P2", "pool", dict(kernelSize=2)),
        LayerSpec("D1", "dense", dict(inFeatures=(3, 3, 4), outFeatures=6, weightScale=40)),
        LayerSpec("D2", "dense", dict(inFeatures=6, outFeatures=3, weightScale=40)),
    ], seed=11)
    x = (torch.rand(6, 2, 6, 6, 12, generator=torch.Generator().manual_seed(12)) < 0.4).float()
    labels = torch.arange(6) % 3
    with snn.compute_path("fused"):
        cmpn = Campaign(net, (x, labels), batch_size=6, seed=3, quantization={"dtype": "int8"})
        cmpn.exhaustive(BitFlipSynapse(7), layers=["C2"], sample=6)  # entry neurons, channel rows on
        cmpn.exhaustive(DeadSynapse(), layers=["C1"], sample=4)  # conv channel rows into C2
        cmpn.exhaustive(BitFlipSynapse(7), layers=["D1"], sample=3)
        runs = {}
        # fused sums with the golden prefix (the default when on), without it, and off
        for flag, prefix in (("1", ""), ("1", "0"), ("0", "")):
            os.environ[FUSED_SUMS_ENV], os.environ[SUMS_PREFIX_ENV] = flag, prefix
            isyn.exact_calls.clear()
            key = f"fused sums={flag}, prefix={prefix or 'unset'}"
            runs[key] = cmpn.run(engine="parallel", progress=False, keep_predictions=True, chunk_size=32)
            taken = {k: v for k, v in isyn.exact_calls.items() if "delta" in k or "sums" in k}
            sites = ("entry", "conv channel", "dense channel", "sparse dense")
            fused = [taken.get(f"fused sums: {site}", 0) > 0 for site in sites]
            golden = [taken.get(f"fused sums: {site}: golden prefix", 0) > 0 for site in sites]
            check(f"engine {key}: {taken}", (all(fused) and all(golden) == (prefix == "") and any(golden) == all(golden))
                  if flag == "1" else not any(fused) and not any(golden))
            # rows compared with golden in one kernel by default (fused_compare)
            check(f"engine {key}: {isyn.exact_calls.get('fused compare', 0)} kernel comparisons",
                  isyn.exact_calls.get("fused compare", 0) > 0)
        os.environ.pop(FUSED_SUMS_ENV)
        os.environ.pop(SUMS_PREFIX_ENV)
        # rows compared with golden by tensor operations in place of the kernel (fused_compare)
        os.environ[FUSED_COMPARE_ENV] = "0"
        isyn.exact_calls.clear()
        runs["fused compare=0"] = cmpn.run(engine="parallel", progress=False, keep_predictions=True, chunk_size=32)
        check(f"engine fused compare=0: {isyn.exact_calls.get('fused compare', 0)} kernel comparisons",
              isyn.exact_calls.get("fused compare", 0) == 0)
        os.environ.pop(FUSED_COMPARE_ENV)
        naive = cmpn.run(engine="naive", progress=False, keep_predictions=True, chunk_size=32)
    cols = [c for c in naive.table if c != "seconds"]
    for key, res in runs.items():
        check(f"engine {key} equals naive ({int(naive.table['spike_count_deviation'].gt(0).sum())} "
              "rounds with changed spikes)",
              res.table[cols].equals(naive.table[cols]) and bool((res.predictions == naive.predictions).all()))


if __name__ == "__main__":
    if os.environ.get("TRITON_INTERPRET") != "1":
        sys.exit("run with TRITON_INTERPRET=1")
    fire_checks()
    sums_checks()
    prefix_checks()
    pool_checks()
    network_checks()
    engine_checks()
    print("all interpreted checks passed")
