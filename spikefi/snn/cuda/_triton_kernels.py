"""Triton kernels of :mod:`spikefi.snn.cuda.spike_kernel` (imported only where Triton is)."""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["spike_kernel", "sum_pool_kernel", "psp_spike_kernel", "sum_pool_time_major_kernel", "sums_psp_spike_kernel",
           "compare_kernel"]


@triton.jit
def _bin(u, hist, theta, ref_ptr, K: tl.constexpr):  # noqa: N803
    """One time bin: refractory additions (oldest firing first), threshold, history."""
    acc = u
    for i in tl.static_range(1, K):
        j = K - i  # K-1, K-2, ..., 1
        r = tl.load(ref_ptr + j)
        acc = tl.where(((hist >> (j - 1)) & 1) != 0, acc + r, acc)
    fired = acc >= theta
    hist = (hist << 1) | fired.to(hist.dtype)
    return acc, fired, hist


@triton.jit
def _join8(c0, c1, c2, c3, c4, c5, c6, c7, BLOCK: tl.constexpr):  # noqa: N803
    """Inverse of the splits in the kernel: 8 vectors -> a (BLOCK, 8) tile."""
    y0 = tl.join(tl.join(c0, c4), tl.join(c2, c6))
    y1 = tl.join(tl.join(c1, c5), tl.join(c3, c7))
    return tl.reshape(tl.join(y0, y1), [BLOCK, 8])


# no specialisation on the values of the arguments (sizes divisible by 16, aligned
# pointers): one compiled kernel per constexpr set, not one more per new tensor shape
@triton.jit(do_not_specialize=["u_ptr", "s_ptr", "ua_ptr", "theta_ptr", "ref_ptr", "value_ptr", "mask_ptr", "gold_ptr",
                               "count_ptr", "diff_ptr", "n_neurons", "steps"])
def spike_kernel(u_ptr, s_ptr, ua_ptr, theta_ptr, ref_ptr, value_ptr,  # noqa: PLR0913
                 mask_ptr, gold_ptr, count_ptr, diff_ptr, n_neurons, steps,
                 K: tl.constexpr, PER_NEURON: tl.constexpr, WRITE_U: tl.constexpr,  # noqa: N803
                 HIST64: tl.constexpr, MASK: tl.constexpr, COUNT: tl.constexpr,  # noqa: N803
                 COMPARE: tl.constexpr, BLOCK: tl.constexpr):  # noqa: N803
    """Spikes (and optionally the refractory-updated potential) of ``BLOCK`` neurons.

    Optional statistics of the same pass: ``MASK`` writes the firing mask (bool, one byte
    per bin) to ``mask_ptr``; ``COUNT`` adds the number of spikes to ``count_ptr[0]``
    (int64); ``COMPARE`` raises ``diff_ptr[0]`` (int32) to 1 when the mask differs from the
    bool tensor at ``gold_ptr`` anywhere."""
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    nmask = offs < n_neurons
    row = offs.to(tl.int64) * steps
    cols = tl.arange(0, 8)
    # theta and the spike value are read from tensors of u's dtype (float64 stays float64)
    if PER_NEURON:
        theta = tl.load(theta_ptr + offs, mask=nmask, other=0.0)
    else:
        theta = tl.load(theta_ptr)
    value = tl.load(value_ptr)
    zero = value * 0
    if HIST64:
        hist = tl.zeros([BLOCK], dtype=tl.int64)
    else:
        hist = tl.zeros([BLOCK], dtype=tl.int32)
    total = tl.zeros([BLOCK], dtype=tl.int32)
    differs = tl.zeros([BLOCK], dtype=tl.int32)
    for t0 in tl.range(0, steps, 8):
        tcol = t0 + cols
        m = nmask[:, None] & (tcol[None, :] < steps)
        ptr = row[:, None] + tcol[None, :]
        tile = tl.load(u_ptr + ptr, mask=m, other=0.0)
        x0, x1 = tl.split(tl.reshape(tile, [BLOCK, 2, 2, 2]))  # bins 4a+2b+c -> c
        x00, x01 = tl.split(x0)
        x10, x11 = tl.split(x1)
        c0, c4 = tl.split(x00)
        c2, c6 = tl.split(x01)
        c1, c5 = tl.split(x10)
        c3, c7 = tl.split(x11)
        a0, f0, hist = _bin(c0, hist, theta, ref_ptr, K)
        a1, f1, hist = _bin(c1, hist, theta, ref_ptr, K)
        a2, f2, hist = _bin(c2, hist, theta, ref_ptr, K)
        a3, f3, hist = _bin(c3, hist, theta, ref_ptr, K)
        a4, f4, hist = _bin(c4, hist, theta, ref_ptr, K)
        a5, f5, hist = _bin(c5, hist, theta, ref_ptr, K)
        a6, f6, hist = _bin(c6, hist, theta, ref_ptr, K)
        a7, f7, hist = _bin(c7, hist, theta, ref_ptr, K)
        s = _join8(tl.where(f0, value, zero), tl.where(f1, value, zero), tl.where(f2, value, zero),
                   tl.where(f3, value, zero), tl.where(f4, value, zero), tl.where(f5, value, zero),
                   tl.where(f6, value, zero), tl.where(f7, value, zero), BLOCK)
        tl.store(s_ptr + ptr, s, mask=m)
        if MASK or COUNT or COMPARE:
            f = _join8(f0.to(tl.int8), f1.to(tl.int8), f2.to(tl.int8), f3.to(tl.int8), f4.to(tl.int8),
                       f5.to(tl.int8), f6.to(tl.int8), f7.to(tl.int8), BLOCK)
            f = tl.where(m, f, 0)  # lanes past the data may "fire" on their zero potential
            if MASK:
                tl.store(mask_ptr + ptr, f, mask=m)
            if COUNT:
                total += tl.sum(f.to(tl.int32), axis=1)
            if COMPARE:
                g = tl.load(gold_ptr + ptr, mask=m, other=0)
                differs = tl.maximum(differs, tl.max((f != g.to(tl.int8)).to(tl.int32), axis=1))
        if WRITE_U:
            tl.store(ua_ptr + ptr, _join8(a0, a1, a2, a3, a4, a5, a6, a7, BLOCK), mask=m)
    if COUNT:
        tl.atomic_add(count_ptr, tl.sum(total.to(tl.int64), axis=0))
    if COMPARE:
        tl.atomic_max(diff_ptr, tl.max(differs, axis=0))


@triton.jit(do_not_specialize=["x_ptr", "w_ptr", "out_ptr", "n_out", "h_in", "w_in", "h_out", "w_out", "steps"])
def sum_pool_kernel(x_ptr, w_ptr, out_ptr, n_out, h_in, w_in, h_out, w_out, steps,
                    KH: tl.constexpr, KW: tl.constexpr, FMA: tl.constexpr, ROW_MAJOR: tl.constexpr,  # noqa: N803
                    BLOCK: tl.constexpr):  # noqa: N803
    """Weighted sum pooling, stride = kernel, of ``(P, h_in, w_in, T)`` planes; input
    rows/columns past the map count as zeros. Accumulates ``acc = x * w + acc`` from 0 over
    the kernel window (row-major, or column-major), with fused multiply-adds or not."""
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_out
    o = offs.to(tl.int64)
    t = o % steps
    rest = o // steps
    ow = rest % w_out
    rest = rest // w_out
    oh = rest % h_out
    plane = rest // h_out
    acc = tl.zeros([BLOCK], dtype=x_ptr.dtype.element_ty)
    for a in tl.static_range(0, KH * KW):
        if ROW_MAJOR:
            i = a // KW
            j = a % KW
        else:
            i = a % KH
            j = a // KH
        hi = oh * KH + i
        wi = ow * KW + j
        ok = mask & (hi < h_in) & (wi < w_in)
        xv = tl.load(x_ptr + ((plane * h_in + hi) * w_in + wi) * steps + t, mask=ok, other=0.0)
        wv = tl.load(w_ptr + i * KW + j)
        if FMA:
            acc = tl.fma(xv, wv, acc)
        else:
            acc = acc + xv * wv
    tl.store(out_ptr + offs, acc, mask=mask)


@triton.jit
def _neurons(n_neurons, feat, BLOCK: tl.constexpr):  # noqa: N803
    """This program's ``BLOCK`` neurons: their flat index, mask, and ``(n, f)`` of the
    ``(N, F, T)`` addressing (64-bit)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    o = offs.to(tl.int64)
    return offs, offs < n_neurons, o, o // feat, o % feat


@triton.jit
def _fire_bin(x_ptr, xb, xs_t, t, nmask, srm_ptr, ts, hist, theta, ref_ptr, zero,
              L: tl.constexpr, K: tl.constexpr, DENSE: tl.constexpr, steps):  # noqa: N803
    """Bin ``t`` of the fused psp + spike: the potential ``Ts * sum_s x[s] * srm[t - s]``
    accumulated with fused multiply-adds from 0 in ascending ``s`` (the order of a GEMM
    with the Toeplitz matrix ``K[s, t] = srm[t - s]``), then the refractory additions and
    the threshold (:func:`_bin`). ``DENSE`` sums over every ``s`` of the row, zero taps
    included (what the GEMM does: a non-finite input spreads as ``inf * 0 = nan``);
    otherwise over the kernel's band only (the same value for finite inputs)."""
    acc = zero
    if DENSE:
        for s in tl.range(0, steps):
            iv = xb * 0 + (t - s)  # the tap, as a vector (masks are vectors)
            inband = (iv >= 0) & (iv < L)
            w = tl.load(srm_ptr + tl.minimum(tl.maximum(iv, 0), L - 1), mask=nmask & inband, other=0.0)
            xv = tl.load(x_ptr + xb + s * xs_t, mask=nmask, other=0.0)
            acc = tl.fma(xv, w, acc)
    else:
        for j in tl.static_range(0, L):
            s = t - (L - 1 - j)  # the oldest input first
            xv = tl.load(x_ptr + xb + s * xs_t, mask=nmask & ((xb * 0 + s) >= 0), other=0.0)
            acc = tl.fma(xv, tl.load(srm_ptr + (L - 1 - j)), acc)
    u = acc * ts
    a, fired, hist = _bin(u, hist, theta, ref_ptr, K)
    return u, fired, hist


@triton.jit(do_not_specialize=["x_ptr", "s_ptr", "u_ptr", "theta_ptr", "srm_ptr", "ref_ptr", "value_ptr", "ts_ptr",
                               "mask_ptr", "gold_ptr", "count_ptr", "diff_ptr", "n_neurons", "feat", "steps",
                               "xs_n", "xs_f", "xs_t", "ss_n", "ss_f", "ss_t", "ms_n", "ms_f", "ms_t",
                               "gs_n", "gs_f", "gs_t"])
def psp_spike_kernel(x_ptr, s_ptr, u_ptr, theta_ptr, srm_ptr, ref_ptr, value_ptr, ts_ptr,  # noqa: PLR0913, PLR0915
                     mask_ptr, gold_ptr, count_ptr, diff_ptr, n_neurons, feat, steps,
                     xs_n, xs_f, xs_t, ss_n, ss_f, ss_t, ms_n, ms_f, ms_t, gs_n, gs_f, gs_t,
                     L: tl.constexpr, K: tl.constexpr, PER_NEURON: tl.constexpr,  # noqa: N803
                     HIST64: tl.constexpr, WRITE_U: tl.constexpr, MASK: tl.constexpr,  # noqa: N803
                     COUNT: tl.constexpr, COMPARE: tl.constexpr, BLOCK: tl.constexpr):  # noqa: N803
    """Spikes of ``BLOCK`` neurons from their synaptic input ``x``: psp, refractory
    response and threshold over all ``T`` bins in one pass, the potential kept in registers.

    Every tensor is addressed as ``(N, F, T)`` through its strides (``*s_n, *s_f, *s_t``),
    so the time-major layout ``(N, T, F)`` (coalesced: one bin of many neurons is
    contiguous) and SLAYER's ``(N, F, T)`` take the same kernel. ``WRITE_U`` stores the
    potential before refractory responses (the psp, for tests); ``MASK``, ``COUNT`` and
    ``COMPARE`` are the statistics of :func:`spike_kernel`. A neuron whose input holds a
    non-finite value is computed again with the dense sum (the GEMM's result there)."""
    offs, nmask, o, n, f = _neurons(n_neurons, feat, BLOCK)
    xb = n * xs_n + f * xs_f
    sb = n * ss_n + f * ss_f
    mb = n * ms_n + f * ms_f
    gb = n * gs_n + f * gs_f
    if PER_NEURON:
        theta = tl.load(theta_ptr + offs, mask=nmask, other=0.0)
    else:
        theta = tl.load(theta_ptr)
    value = tl.load(value_ptr)
    ts = tl.load(ts_ptr)
    zero = tl.zeros([BLOCK], dtype=x_ptr.dtype.element_ty)
    if HIST64:
        hist = tl.zeros([BLOCK], dtype=tl.int64)
    else:
        hist = tl.zeros([BLOCK], dtype=tl.int32)
    total = tl.zeros([BLOCK], dtype=tl.int32)
    differs = tl.zeros([BLOCK], dtype=tl.int32)
    bad = offs < 0  # no non-finite input seen yet
    for t in tl.range(0, steps):
        u, fired, hist = _fire_bin(x_ptr, xb, xs_t, t, nmask, srm_ptr, ts, hist, theta, ref_ptr, zero,
                                   L, K, False, steps)
        xt = tl.load(x_ptr + xb + t * xs_t, mask=nmask, other=0.0)
        bad = bad | ((xt - xt) != 0)  # inf or nan
        tl.store(s_ptr + sb + t * ss_t, tl.where(fired, value, zero), mask=nmask)
        if WRITE_U:
            tl.store(u_ptr + sb + t * ss_t, u, mask=nmask)
        fi = (fired & nmask).to(tl.int8)
        if MASK:
            tl.store(mask_ptr + mb + t * ms_t, fi, mask=nmask)
        if COUNT:
            total += fi.to(tl.int32)
        if COMPARE:
            g = tl.load(gold_ptr + gb + t * gs_t, mask=nmask, other=0)
            differs = tl.maximum(differs, (fi != g.to(tl.int8)).to(tl.int32))
    if tl.max(bad.to(tl.int32), axis=0) > 0:
        # rows with a non-finite input: the dense sum, stored for those rows only
        rmask = nmask & bad
        if HIST64:
            hist = tl.zeros([BLOCK], dtype=tl.int64)
        else:
            hist = tl.zeros([BLOCK], dtype=tl.int32)
        total2 = tl.zeros([BLOCK], dtype=tl.int32)
        differs2 = tl.zeros([BLOCK], dtype=tl.int32)
        for t in tl.range(0, steps):
            u, fired, hist = _fire_bin(x_ptr, xb, xs_t, t, rmask, srm_ptr, ts, hist, theta, ref_ptr, zero,
                                       L, K, True, steps)
            tl.store(s_ptr + sb + t * ss_t, tl.where(fired, value, zero), mask=rmask)
            if WRITE_U:
                tl.store(u_ptr + sb + t * ss_t, u, mask=rmask)
            fi = (fired & rmask).to(tl.int8)
            if MASK:
                tl.store(mask_ptr + mb + t * ms_t, fi, mask=rmask)
            if COUNT:
                total2 += fi.to(tl.int32)
            if COMPARE:
                g = tl.load(gold_ptr + gb + t * gs_t, mask=rmask, other=0)
                differs2 = tl.maximum(differs2, (fi != g.to(tl.int8)).to(tl.int32))
        total = tl.where(bad, total2, total)
        differs = tl.where(bad, differs2, differs)
    if COUNT:
        tl.atomic_add(count_ptr, tl.sum(total.to(tl.int64), axis=0))
    if COMPARE:
        tl.atomic_max(diff_ptr, tl.max(differs, axis=0))


@triton.jit
def _sum_at(g_ptr, gb, gs_t, d_ptr, db, ds_t, mult, scale, s, ok, MULT: tl.constexpr):  # noqa: N803
    """Synaptic input at bin ``s`` (a 64-bit vector) of rows of an integer-exact layer:
    ``(gold + change [* mult]) * scale``, 0 where not ``ok`` (before the first bin, past the
    neurons)."""
    g = tl.load(g_ptr + gb + s * gs_t, mask=ok, other=0.0)
    d = tl.load(d_ptr + db + s * ds_t, mask=ok, other=0.0)
    if MULT:
        d = d * mult
    return (g + d) * scale


@triton.jit
def _sums_bin(g_ptr, gb, gs_t, d_ptr, db, ds_t, mult, scale, tv, live, srm_ptr, ts, hist, theta, ref_ptr, zero,
              L: tl.constexpr, K: tl.constexpr, MULT: tl.constexpr):  # noqa: N803
    """Bin ``tv`` of :func:`sums_psp_spike_kernel` for the ``live`` lanes: the psp of the
    computed inputs (:func:`_sum_at`), oldest first as :func:`_fire_bin`, then :func:`_bin`."""
    acc = zero
    for j in tl.static_range(0, L):
        sv = tv - (L - 1 - j)  # the oldest input first, as _fire_bin
        xv = _sum_at(g_ptr, gb, gs_t, d_ptr, db, ds_t, mult, scale, sv, live & (sv >= 0), MULT)
        acc = tl.fma(xv, tl.load(srm_ptr + (L - 1 - j)), acc)
    a, fired, hist = _bin(acc * ts, hist, theta, ref_ptr, K)
    return fired, hist


@triton.jit(do_not_specialize=["g_ptr", "gbase_ptr", "d_ptr", "dbase_ptr", "mult_ptr", "scale_ptr", "s_ptr",
                               "theta_ptr", "srm_ptr", "ref_ptr", "value_ptr", "ts_ptr", "k_ptr", "kbase_ptr",
                               "n_neurons", "feat", "steps", "gs_f", "gs_t", "ds_f", "ds_t", "ss_n", "ss_f", "ss_t",
                               "ks_f", "ks_t"])
def sums_psp_spike_kernel(g_ptr, gbase_ptr, d_ptr, dbase_ptr, mult_ptr, scale_ptr, s_ptr,  # noqa: PLR0913, PLR0915
                          theta_ptr, srm_ptr, ref_ptr, value_ptr, ts_ptr, k_ptr, kbase_ptr, n_neurons, feat, steps,
                          gs_f, gs_t, ds_f, ds_t, ss_n, ss_f, ss_t, ks_f, ks_t,
                          L: tl.constexpr, K: tl.constexpr, HIST64: tl.constexpr,  # noqa: N803
                          MULT: tl.constexpr, GOLDEN: tl.constexpr, BLOCK: tl.constexpr):  # noqa: N803
    """:func:`psp_spike_kernel`'s spikes (one threshold) of rows whose synaptic input is never
    written: neuron ``(n, f)`` at bin ``t`` has the input ``(g[gbase[n] + f*gs_f + t*gs_t] +
    d[dbase[n] + f*ds_f + t*ds_t] [* mult[n]]) * scale``, computed where the psp reads it.
    The same operations in the same order as writing that input first and firing it (no
    contraction: launched with ``enable_fp_fusion=False``), so the same spikes; the inputs
    are finite (integer sums times a finite scale), so the dense re-sum is not needed.

    ``GOLDEN``: the layer's golden spikes (bytes, 0/1) at ``k[kbase[n] + f*ks_f + t*ks_t]``.
    Before a neuron's first bin with a non-zero ``d`` (as stored; ``mult`` finite) its input
    is golden, so its spikes and refractory history are the golden ones (the psp and the
    refractory response are causal): they are copied, not computed; bins before the block's
    earliest change are not computed at all."""
    offs, nmask, o, n, f = _neurons(n_neurons, feat, BLOCK)
    gb = tl.load(gbase_ptr + n, mask=nmask, other=0) + f * gs_f
    db = tl.load(dbase_ptr + n, mask=nmask, other=0) + f * ds_f
    sb = n * ss_n + f * ss_f
    zero = tl.zeros([BLOCK], dtype=g_ptr.dtype.element_ty)
    if MULT:
        mult = tl.load(mult_ptr + n, mask=nmask, other=0.0)
    else:
        mult = zero
    scale = tl.load(scale_ptr)
    theta = tl.load(theta_ptr)
    value = tl.load(value_ptr)
    ts = tl.load(ts_ptr)
    if HIST64:
        hist = tl.zeros([BLOCK], dtype=tl.int64)
    else:
        hist = tl.zeros([BLOCK], dtype=tl.int32)
    if GOLDEN:
        kb = tl.load(kbase_ptr + n, mask=nmask, other=0) + f * ks_f
        first = o * 0 + steps  # each neuron's first bin with a change (steps: none)
        for t in tl.range(0, steps):
            d = tl.load(d_ptr + db + t * ds_t, mask=nmask, other=0.0)
            first = tl.where((d != 0) & (first == steps), t, first)
        start = tl.min(tl.where(nmask, first, steps), axis=0).to(tl.int32)
        for t in tl.range(0, start):  # golden for every lane of the block
            tv = o * 0 + t
            gk = tl.load(k_ptr + kb + tv * ks_t, mask=nmask, other=0) != 0
            hist = (hist << 1) | gk.to(hist.dtype)
            tl.store(s_ptr + sb + tv * ss_t, tl.where(gk, value, zero), mask=nmask)
        for t in tl.range(start, steps):
            tv = o * 0 + t
            live = nmask & (tv >= first)
            fired_c, hist_c = _sums_bin(g_ptr, gb, gs_t, d_ptr, db, ds_t, mult, scale, tv, live, srm_ptr, ts, hist,
                                        theta, ref_ptr, zero, L, K, MULT)
            gk = tl.load(k_ptr + kb + tv * ks_t, mask=nmask & (tv < first), other=0) != 0
            fired = tl.where(live, fired_c, gk)
            hist = tl.where(live, hist_c, (hist << 1) | gk.to(hist.dtype))
            tl.store(s_ptr + sb + tv * ss_t, tl.where(fired, value, zero), mask=nmask)
    else:
        for t in tl.range(0, steps):
            tv = o * 0 + t  # 64-bit offsets from here on
            fired, hist = _sums_bin(g_ptr, gb, gs_t, d_ptr, db, ds_t, mult, scale, tv, nmask, srm_ptr, ts, hist,
                                    theta, ref_ptr, zero, L, K, MULT)
            tl.store(s_ptr + sb + tv * ss_t, tl.where(fired, value, zero), mask=nmask)


@triton.jit(do_not_specialize=["x_ptr", "w_ptr", "out_ptr", "n_out", "h_in", "w_in", "h_out", "w_out"])
def sum_pool_time_major_kernel(x_ptr, w_ptr, out_ptr, n_out, h_in, w_in, h_out, w_out,
                               KH: tl.constexpr, KW: tl.constexpr, BLOCK: tl.constexpr):  # noqa: N803
    """:func:`sum_pool_kernel` (fused multiply-adds, row-major window) on the time-major
    layout: input ``(N, T, C, h_in, w_in)`` and output ``(N, T, C, h_out, w_out)``,
    both contiguous; each output element is the same sum of the same products."""
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_out
    o = offs.to(tl.int64)
    ow = o % w_out
    rest = o // w_out
    oh = rest % h_out
    plane = rest // h_out  # (n * T + t) * C + c
    acc = tl.zeros([BLOCK], dtype=x_ptr.dtype.element_ty)
    for a in tl.static_range(0, KH * KW):
        i = a // KW
        j = a % KW
        hi = oh * KH + i
        wi = ow * KW + j
        ok = mask & (hi < h_in) & (wi < w_in)
        xv = tl.load(x_ptr + (plane * h_in + hi) * w_in + wi, mask=ok, other=0.0)
        acc = tl.fma(xv, tl.load(w_ptr + i * KW + j), acc)
    tl.store(out_ptr + offs, acc, mask=mask)


@triton.jit(do_not_specialize=["p_ptr", "g_ptr", "smp_ptr", "h0_ptr", "w0_ptr", "ch_ptr", "diff_ptr", "delta_ptr",
                               "n_cells", "pw", "n_k", "inner", "g_h", "g_w", "ps_m", "ps_c", "ps_h", "ps_w", "ps_t",
                               "gs_b", "gs_c", "gs_h", "gs_w", "gs_t"])
def compare_kernel(p_ptr, g_ptr, smp_ptr, h0_ptr, w0_ptr, ch_ptr, diff_ptr, delta_ptr,  # noqa: PLR0913
                   n_cells, pw, n_k, inner, g_h, g_w, ps_m, ps_c, ps_h, ps_w, ps_t, gs_b, gs_c, gs_h, gs_w, gs_t,
                   CHANNEL: tl.constexpr, TIME_OUTER: tl.constexpr,  # noqa: N803
                   BLOCK_P: tl.constexpr, BLOCK_K: tl.constexpr):  # noqa: N803
    """Rows against golden in one pass: row ``m``'s window ``p[m]`` (C, h, w, T; any
    dtype, a spike where non-zero) against the golden spikes ``g`` (bytes, 0/1) of sample
    ``smp[m]`` at origin ``(h0[m], w0[m])`` (channel ``ch[m]`` alone with ``CHANNEL``; cells
    outside the map are not spikes). Writes ``diff[m, i, j]`` (1 where any bin of any channel
    differs) and adds the row's spike-count difference (window minus golden) to ``delta[m]``
    (int32 atomics: integers, so the order does not matter).

    One program: row ``m`` (axis 0), ``BLOCK_P`` cells (axis 1), all ``n_k = C*T`` (channel,
    bin) pairs in tiles of ``BLOCK_K``; ``inner`` is the pair index's fastest dimension's size
    (T, or C with ``TIME_OUTER`` for time-major windows)."""
    m = tl.program_id(0).to(tl.int64)
    cells = tl.program_id(1) * BLOCK_P + tl.arange(0, BLOCK_P)
    cmask = cells < n_cells
    i = cells // pw
    j = cells % pw
    b = tl.load(smp_ptr + m).to(tl.int64)
    hh = tl.load(h0_ptr + m) + i
    ww = tl.load(w0_ptr + m) + j
    inside = cmask & (hh >= 0) & (hh < g_h) & (ww >= 0) & (ww < g_w)
    p_row = m * ps_m + i * ps_h + j * ps_w
    g_row = b * gs_b + hh.to(tl.int64) * gs_h + ww.to(tl.int64) * gs_w
    if CHANNEL:
        g_row += tl.load(ch_ptr + m) * gs_c
    diff = tl.zeros([BLOCK_P], dtype=tl.int32)
    count = tl.zeros([BLOCK_P], dtype=tl.int32)
    for k0 in tl.range(0, n_k, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        kmask = k < n_k
        if TIME_OUTER:
            t = k // inner
            c = k % inner
        else:
            c = k // inner
            t = k % inner
        pk = c.to(tl.int64) * ps_c + t * ps_t
        if CHANNEL:
            gk = t.to(tl.int64) * gs_t
        else:
            gk = c.to(tl.int64) * gs_c + t * gs_t
        pv = tl.load(p_ptr + p_row[:, None] + pk[None, :], mask=cmask[:, None] & kmask[None, :], other=0)
        gv = tl.load(g_ptr + g_row[:, None] + gk[None, :], mask=inside[:, None] & kmask[None, :], other=0)
        fired = (pv != 0).to(tl.int32)
        gold = (gv != 0).to(tl.int32)
        diff = tl.maximum(diff, tl.max(fired ^ gold, axis=1))
        count += tl.sum(fired - gold, axis=1)
    tl.store(diff_ptr + m * n_cells + cells, diff.to(tl.int8), mask=cmask)
    tl.atomic_add(delta_ptr + m, tl.sum(count, axis=0))
