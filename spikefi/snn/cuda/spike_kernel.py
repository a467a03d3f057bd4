"""A fused threshold + refractory kernel (Triton) for CUDA tensors.

The membrane potential ``u`` has SLAYER's layout: one row of ``T`` contiguous time bins
per neuron. One program handles ``BLOCK`` neurons (one thread each) and walks through
time in chunks of 8 bins: a chunk is loaded as a ``(BLOCK, 8)`` tile (32 contiguous bytes
of every row, so a warp reads whole sectors), split into 8 per-bin vectors in registers,
processed bin by bin, and written back as tiles.

The refractory response needs no read-modify-write of later bins: a neuron keeps the
firing pattern of its last ``K - 1`` bins as a bit mask, and the potential of bin ``t``
after refractory updates is

    u[t] (+ ref[K-1] if it fired at t-K+1) (+ ref[K-2] if it fired at t-K+2) ... (+ ref[1] if it fired at t-1)

added in exactly this order — the order in which
:func:`spikefi.snn.functional._simulate_spikes_torch` adds them (a refractory kernel is
added at the firing time, earliest firing first), so spikes and ``u_after`` are
bit-identical to the PyTorch path, which stays the reference and the fallback. The
neuron fires when that value is ``>= theta``.

Set ``SPIKEFI_DISABLE_TRITON=1`` to force the PyTorch path.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["triton_available", "interpreted", "fused_spikes", "fused_fire", "fused_fire_sums", "fused_sum_pool",
           "fused_sum_pool_time_major", "is_time_major", "nft_strides", "fused_compare", "MAX_KERNEL_LENGTH",
           "MAX_PSP_LENGTH"]

#: longest refractory kernel the fused kernel handles (the firing history is an int64 mask)
MAX_KERNEL_LENGTH = 64
#: longest SRM (psp) kernel the fused psp + spike kernel unrolls
MAX_PSP_LENGTH = 64


@functools.lru_cache(maxsize=1)
def _triton() -> Any:
    try:
        import triton
        import triton.language as tl
    except ImportError:
        return None
    return triton, tl


def triton_available() -> bool:
    """Whether the fused kernel can run (Triton importable and not disabled)."""
    return os.environ.get("SPIKEFI_DISABLE_TRITON", "0") != "1" and _triton() is not None


def interpreted() -> bool:
    """Whether Triton kernels run in Triton's CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


@functools.lru_cache(maxsize=1)
def _kernel() -> Any:
    from ._triton_kernels import spike_kernel

    return spike_kernel


_SCALARS: dict[tuple[float, torch.dtype, torch.device], torch.Tensor] = {}


def _scalar(value: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A one-element device tensor, cached (no host-to-device copy, no sync per call)."""
    key = (value, dtype, device)
    t = _SCALARS.get(key)
    if t is None:
        if len(_SCALARS) > 256:
            _SCALARS.clear()
        t = _SCALARS[key] = torch.tensor([value], dtype=dtype, device=device)
    return t


def fused_spikes(
    u: torch.Tensor, theta: float | torch.Tensor, ref: torch.Tensor, ts: float, need_potential: bool = True,
    *, stats: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(spikes, u_after)`` of a membrane potential (time last), one kernel launch.

    With ``need_potential=False`` the refractory-updated potential is not written
    (``None`` is returned in its place): inference needs only the spikes.
    Refractory kernels longer than :data:`MAX_KERNEL_LENGTH` raise ``ValueError``.

    ``stats`` asks for statistics computed in the same pass and receives them: with
    ``stats["mask"] = True`` the bool firing mask (``stats["fired"]``), always the spike
    count (``stats["count"]``, a 0-dim int64 device tensor) and, with a bool tensor of
    ``u``'s shape in ``stats["golden"]``, whether the firing mask differs from it anywhere
    (``stats["differs"]``, 0-dim bool). Nothing is synchronised with the host.
    """
    triton, _ = _triton()
    shape = u.shape
    steps = shape[-1]
    flat = u.detach().reshape(-1, steps)
    if not flat.is_contiguous():
        flat = flat.contiguous()
    n = flat.shape[0]
    spikes = torch.empty_like(flat)
    u_after = torch.empty_like(flat) if need_potential else spikes
    k = max(int(ref.numel()), 1)
    if k > MAX_KERNEL_LENGTH:
        raise ValueError(f"refractory kernel of {k} bins; the fused kernel handles at most {MAX_KERNEL_LENGTH}")
    if ref.device != u.device or ref.dtype != u.dtype or not ref.is_contiguous():
        ref = ref.to(device=u.device, dtype=u.dtype).contiguous()
    per_neuron = isinstance(theta, torch.Tensor) and theta.dim() > 0
    if per_neuron:
        theta_t = theta.to(device=u.device, dtype=u.dtype).expand(shape[:-1]).reshape(-1).contiguous()  # type: ignore[union-attr]
    else:
        theta_t = _scalar(float(theta), u.dtype, u.device)
    value = _scalar(1.0 / ts, u.dtype, u.device)
    mask = count = differs = gold = None
    if stats is not None:
        count = torch.zeros((), dtype=torch.int64, device=u.device)
        if stats.get("mask"):
            mask = torch.empty(flat.shape, dtype=torch.bool, device=u.device)
        golden = stats.get("golden")
        if golden is not None:
            if golden.shape != shape or golden.dtype != torch.bool or golden.device != u.device:
                raise ValueError(f"golden must be a bool tensor of shape {tuple(shape)} on {u.device}, "
                                 f"got {golden.dtype} {tuple(golden.shape)} on {golden.device}")
            gold = golden.reshape(-1, steps).contiguous().view(torch.uint8)
            differs = torch.zeros((), dtype=torch.int32, device=u.device)
    if n and steps:
        block = 128
        grid = (triton.cdiv(n, block),)
        _kernel()[grid](flat, spikes, u_after, theta_t, ref, value,
                        spikes if mask is None else mask.view(torch.uint8), spikes if gold is None else gold,
                        spikes if count is None else count, spikes if differs is None else differs, n, steps,
                        K=k, PER_NEURON=per_neuron, WRITE_U=need_potential, HIST64=k > 32,
                        MASK=mask is not None, COUNT=count is not None, COMPARE=differs is not None,
                        BLOCK=block, num_warps=4)
    if stats is not None:
        stats["count"] = count
        stats["fired"] = None if mask is None else mask.reshape(shape)
        stats["differs"] = None if differs is None else differs.bool()
    return spikes.reshape(shape), (u_after.reshape(shape) if need_potential else None)


def fused_sum_pool(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """SLAYER's sum pooling (stride = kernel, the map zero-padded at its end) of a float32
    CUDA tensor ``(N, C, H, W, T)`` with a ``(1, 1, kh, kw, 1)`` weight, in one kernel.

    Each output accumulates ``x * w`` from zero over the window in row-major order with
    fused multiply-adds, which reproduces cuDNN's convolution (the PyTorch path) bit for
    bit on the H100 (checked on random inputs and weights by the CUDA tests).
    """
    triton, _ = _triton()
    from ._triton_kernels import sum_pool_kernel

    n, c, h, w, steps = x.shape
    kh, kw = int(weight.shape[2]), int(weight.shape[3])
    h_out = (h + h % kh - kh) // kh + 1
    w_out = (w + w % kw - kw) // kw + 1
    x = x.contiguous()
    out = torch.empty((n, c, h_out, w_out, steps), dtype=x.dtype, device=x.device)
    total = out.numel()
    if total:
        block = 512
        sum_pool_kernel[(triton.cdiv(total, block),)](
            x, weight.detach().reshape(-1).to(x.dtype).contiguous(), out, total, h, w, h_out, w_out, steps,
            KH=kh, KW=kw, FMA=True, ROW_MAJOR=True, BLOCK=block)
    return out


def nft_strides(x: torch.Tensor) -> tuple[int, int, int, int, int] | None:
    """``(N, F, stride_n, stride_f, stride_t)`` addressing a tensor with time last as
    ``(N, F, T)`` (``N`` the first dimension, ``F`` the product of the middle ones), or
    ``None`` where its memory layout does not allow it (the middle dimensions are not
    contiguous among themselves). Works for SLAYER's ``(N, C, H, W, T)`` and for its
    time-major form ``(N, T, C, H, W)`` seen as ``(N, C, H, W, T)``; middle dimensions of size
    1 address nothing and may have any stride (a ``(P, C, 1, 1, T)`` view of a time-major
    ``(P, T, C)`` tensor is addressed as it lies). A stride of 0 (an expanded tensor) is
    accepted: fine for inputs; outputs are always allocated dense."""
    if x.dim() < 2:
        return (1, 1, 0, 0, x.stride(0)) if x.dim() == 1 else None
    n = x.shape[0]
    mid = x.shape[1:-1]
    feat = 1
    for d in mid:
        feat *= d
    dims = [i for i in range(len(mid)) if mid[i] != 1]  # a dimension of size 1 addresses nothing
    sf = x.stride(1 + dims[-1]) if dims else 1
    expected = sf
    for i in reversed(dims):
        if x.stride(1 + i) != expected:
            return None
        expected *= mid[i]
    return n, feat, x.stride(0), sf, x.stride(-1)


def _addressable(t: torch.Tensor, dense: Callable[[torch.Tensor], torch.Tensor]
                 ) -> tuple[torch.Tensor, tuple[int, int, int, int, int]]:
    """``t`` (or ``dense(t)``, a dense copy, where ``t``'s layout cannot be addressed as
    ``(N, F, T)``) with its :func:`nft_strides`; ``ValueError`` for a tensor no layout
    addresses (fewer than one dimension)."""
    geo = nft_strides(t)
    if geo is None:
        t = dense(t)
        geo = nft_strides(t)
    if geo is None:
        raise ValueError(f"the fused spike kernel needs a tensor with time last and at least one dimension, "
                         f"got shape {tuple(t.shape)}")
    return t, geo


def _dense_like(x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """An empty tensor of ``x``'s shape with ``x``'s memory layout where that is dense."""
    return torch.empty_like(x, dtype=dtype or x.dtype)


def _kernels(srm: torch.Tensor, ref: torch.Tensor, steps: int, dev: torch.device, dt: torch.dtype
             ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """``(srm, ref, L, K)``: the psp and refractory kernels on ``dev`` as ``dt`` and the
    lengths the fused kernels unroll (``ValueError`` past :data:`MAX_PSP_LENGTH` /
    :data:`MAX_KERNEL_LENGTH`)."""
    k = max(int(ref.numel()), 1)
    if k > MAX_KERNEL_LENGTH:
        raise ValueError(f"refractory kernel of {k} bins; the fused kernel handles at most {MAX_KERNEL_LENGTH}")
    length = min(int(srm.numel()), steps)
    if length > MAX_PSP_LENGTH:
        raise ValueError(f"psp kernel of {length} taps; the fused kernel handles at most {MAX_PSP_LENGTH}")
    ref = ref.detach().to(device=dev, dtype=dt).contiguous()
    srm = srm.detach().to(device=dev, dtype=dt).contiguous()
    if length == 0:
        srm = torch.zeros(1, dtype=dt, device=dev)
    return srm, ref, max(length, 1), k


def fused_fire(
    x: torch.Tensor, srm: torch.Tensor, ref: torch.Tensor, theta: float | torch.Tensor, ts: float,
    *, stats: dict[str, Any] | None = None, want_psp: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Spikes of the synaptic input ``x`` (time last): ``spike(psp(x))`` in one kernel,
    the potential never written to memory. Returns ``(spikes, psp)`` (``psp`` with
    ``want_psp=True``, for tests; else ``None``).

    The spikes (and the firing mask of ``stats``) keep ``x``'s memory layout, so a
    time-major input gives time-major spikes. ``stats`` as in :func:`fused_spikes`.
    The SRM kernel must have at most :data:`MAX_PSP_LENGTH` taps and the refractory one at
    most :data:`MAX_KERNEL_LENGTH` (``ValueError`` otherwise).
    """
    triton, _ = _triton()
    from ._triton_kernels import psp_spike_kernel

    x, geo = _addressable(x.detach(), lambda t: t.contiguous())
    n, feat, xs_n, xs_f, xs_t = geo
    steps = x.shape[-1]
    dev, dt = x.device, x.dtype
    srm, ref, length, k = _kernels(srm, ref, steps, dev, dt)
    spikes, sg = _addressable(_dense_like(x), lambda t: torch.empty(t.shape, dtype=dt, device=dev))
    psp = torch.empty_like(spikes) if want_psp else None
    per_neuron = isinstance(theta, torch.Tensor) and theta.dim() > 0
    if per_neuron:
        theta_t = theta.to(device=dev, dtype=dt).expand(x.shape[:-1]).reshape(-1).contiguous()  # type: ignore[union-attr]
    else:
        theta_t = _scalar(float(theta), dt, dev)
    value = _scalar(1.0 / ts, dt, dev)
    ts_t = _scalar(float(ts), dt, dev)
    mask = count = differs = gold = None
    mg = gg = (0, 0, 0, 0, 0)
    if stats is not None:
        count = torch.zeros((), dtype=torch.int64, device=dev)
        if stats.get("mask"):
            mask = torch.empty_like(spikes, dtype=torch.bool)
            mg = nft_strides(mask) or mg
        golden = stats.get("golden")
        if golden is not None:
            if golden.shape != x.shape or golden.dtype != torch.bool or golden.device != dev:
                raise ValueError(f"golden must be a bool tensor of shape {tuple(x.shape)} on {dev}, "
                                 f"got {golden.dtype} {tuple(golden.shape)} on {golden.device}")
            if nft_strides(golden) is None:
                golden = golden.contiguous()
            gold = golden.view(torch.uint8)
            gg = nft_strides(gold) or gg
            differs = torch.zeros((), dtype=torch.int32, device=dev)
    rows = n * feat
    if rows and steps:
        block = 128
        spare = spikes
        psp_spike_kernel[(triton.cdiv(rows, block),)](
            x, spikes, spare if psp is None else psp, theta_t, srm, ref, value, ts_t,
            spare if mask is None else mask.view(torch.uint8), spare if gold is None else gold,
            spare if count is None else count, spare if differs is None else differs,
            rows, feat, steps, xs_n, xs_f, xs_t, sg[2], sg[3], sg[4], mg[2], mg[3], mg[4], gg[2], gg[3], gg[4],
            L=length, K=k, PER_NEURON=per_neuron, HIST64=k > 32, WRITE_U=psp is not None,
            MASK=mask is not None, COUNT=count is not None, COMPARE=differs is not None, BLOCK=block, num_warps=4,
            # no contraction of ``psp * Ts + ref`` into one rounding: the reference rounds the
            # psp first (the psp's own sum uses explicit fused multiply-adds, as the GEMM)
            enable_fp_fusion=False)
    if stats is not None:
        stats["count"] = count
        stats["fired"] = mask
        stats["differs"] = None if differs is None else differs.bool()
    return spikes, psp


def fused_fire_sums(
    gold: torch.Tensor, gold_base: torch.Tensor, gold_strides: tuple[int, int],
    change: torch.Tensor, change_base: torch.Tensor, change_strides: tuple[int, int],
    scale: torch.Tensor, srm: torch.Tensor, ref: torch.Tensor, theta: float, ts: float, out: torch.Tensor,
    mult: torch.Tensor | None = None,
    golden: tuple[torch.Tensor, torch.Tensor, tuple[int, int]] | None = None,
) -> torch.Tensor:
    """Spikes of rows of an integer-exact layer (:mod:`spikefi.campaign.integer_synapses`)
    whose synaptic input is never written: neuron ``(n, f)`` of ``out`` (``(N, F, T)``, any
    strides; written and returned) has at bin ``t`` the input

        (gold[gold_base[n] + f * gs_f + t * gs_t] + change[change_base[n] + f * cs_f + t * cs_t] [* mult[n]]) * scale

    (``gold_strides = (gs_f, gs_t)``, ``change_strides = (cs_f, cs_t)``: element offsets from
    the first element of ``gold`` and ``change``, e.g. from their strides; ``gold_base`` and
    ``change_base`` int64 ``(N,)``; ``scale`` one value; ``mult`` ``(N,)`` contiguous). The spikes equal :func:`fused_fire` of that
    input written out first: the kernel computes each value with the same operations and
    fires it as :func:`fused_fire` does. The offsets are the caller's to keep in range.

    ``golden = (spikes, base, (ks_f, ks_t))``: the layer's golden spikes (a bool tensor, the
    spikes of the input with no change) at ``spikes[base[n] + f * ks_f + t * ks_t]``. A
    neuron's spikes before its first bin where ``change`` (as stored, before ``mult``) is
    non-zero are then copied from them, not computed (the same spikes where they are golden
    spikes of that input: the psp and the refractory response depend on past bins only;
    ``mult`` must then be finite, as a 0 change times it must be 0)."""
    triton, _ = _triton()
    from ._triton_kernels import sums_psp_spike_kernel

    if out.dim() != 3:
        raise ValueError(f"out must be (N, F, T), got shape {tuple(out.shape)}")
    n, feat, steps = out.shape
    dev, dt = out.device, out.dtype
    tensors = {"gold": gold, "change": change, "scale": scale, **({"mult": mult} if mult is not None else {})}
    for label, t in tensors.items():
        if t.dtype != dt or t.device != dev:
            raise ValueError(f"{label} must be a {dt} tensor on {dev} (out's), got {t.dtype} on {t.device}")
    if scale.numel() != 1 or (mult is not None and mult.shape != (n,)):
        raise ValueError(f"scale must hold one value and mult ({n},) values, got shapes {tuple(scale.shape)} and "
                         f"{None if mult is None else tuple(mult.shape)}")
    bases = [("gold_base", gold_base), ("change_base", change_base)]
    k_spikes, k_base, k_strides = golden if golden is not None else (None, gold_base, (0, 0))
    if k_spikes is not None:
        if k_spikes.dtype != torch.bool or k_spikes.device != dev:
            raise ValueError(f"golden spikes must be a bool tensor on {dev}, got {k_spikes.dtype} on "
                             f"{k_spikes.device}")
        bases.append(("golden base", k_base))
    for label, t in bases:
        if t.dtype != torch.int64 or t.shape != (n,) or t.device != dev:
            raise ValueError(f"{label} must be an int64 tensor of shape ({n},) on {dev}, "
                             f"got {t.dtype} {tuple(t.shape)} on {t.device}")
    if isinstance(theta, torch.Tensor):
        raise ValueError("fused_fire_sums takes one threshold for all neurons (a float), got a tensor")
    srm, ref, length, k = _kernels(srm, ref, steps, dev, dt)
    if n * feat and steps:
        block = 128
        sums_psp_spike_kernel[(triton.cdiv(n * feat, block),)](
            gold, gold_base.contiguous(), change, change_base.contiguous(), change if mult is None else mult.contiguous(),
            scale.reshape(1), out,
            _scalar(float(theta), dt, dev), srm, ref, _scalar(1.0 / ts, dt, dev), _scalar(float(ts), dt, dev),
            out if k_spikes is None else k_spikes.view(torch.uint8), k_base.contiguous(),
            n * feat, feat, steps, gold_strides[0], gold_strides[1], change_strides[0], change_strides[1],
            out.stride(0), out.stride(1), out.stride(2), k_strides[0], k_strides[1],
            L=length, K=k, HIST64=k > 32, MULT=mult is not None, GOLDEN=k_spikes is not None, BLOCK=block,
            num_warps=4, enable_fp_fusion=False)
    return out


def is_time_major(x: torch.Tensor) -> bool:
    """Whether a ``(N, C, H, W, T)`` tensor lies in memory as a contiguous ``(N, T, C, H, W)``."""
    return x.dim() == 5 and x.permute(0, 4, 1, 2, 3).is_contiguous()


def fused_sum_pool_time_major(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """:func:`fused_sum_pool` of a time-major ``(N, C, H, W, T)`` tensor (see
    :func:`is_time_major`); the output is time-major too and holds the same values."""
    triton, _ = _triton()
    from ._triton_kernels import sum_pool_time_major_kernel

    n, c, h, w, steps = x.shape
    kh, kw = int(weight.shape[2]), int(weight.shape[3])
    h_out = (h + h % kh - kh) // kh + 1
    w_out = (w + w % kw - kw) // kw + 1
    xt = x.permute(0, 4, 1, 2, 3).contiguous()
    out = torch.empty((n, steps, c, h_out, w_out), dtype=x.dtype, device=x.device)
    total = out.numel()
    if total:
        block = 512
        sum_pool_time_major_kernel[(triton.cdiv(total, block),)](
            xt, weight.detach().reshape(-1).to(x.dtype).contiguous(), out, total, h, w, h_out, w_out,
            KH=kh, KW=kw, BLOCK=block)
    return out.permute(0, 2, 3, 4, 1)


def fused_compare(patch: torch.Tensor, golden: torch.Tensor, samples: torch.Tensor, h0: torch.Tensor,
                  w0: torch.Tensor, channel: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of rows against a layer's golden spikes, in one kernel: ``(diff_map, delta)``.

    ``patch`` ``(M, C, h, w, T)`` (any dtype and strides; a spike where non-zero) holds row
    ``m``'s spikes in the window at ``(h0[m], w0[m])`` of sample ``samples[m]``'s golden
    spikes ``golden`` ``(B, C_all, H, W, T)`` (bool) — channel ``channel[m]`` alone when
    ``channel`` is given (``C`` is then 1), else all ``C = C_all`` channels (the index tensors
    ``(M,)`` of any integer dtype, on the patch's device); window cells
    outside the map compare with no spike. ``diff_map`` ``(M, h, w)`` (bool): where any
    channel or bin differs; ``delta`` ``(M,)`` (int64): the window's spike count minus the
    golden one's. Nothing is synchronised with the host."""
    triton, _ = _triton()
    from ._triton_kernels import compare_kernel

    if patch.dim() != 5 or golden.dim() != 5 or golden.dtype != torch.bool:
        raise ValueError(f"patch must be (M, C, h, w, T) and golden a bool (B, C, H, W, T) tensor, got shapes "
                         f"{tuple(patch.shape)} and {tuple(golden.shape)} ({golden.dtype})")
    m, c, ph, pw, steps = patch.shape
    dev = patch.device
    if golden.shape[-1] != steps or (channel is None and golden.shape[1] != c) or (channel is not None and c != 1):
        raise ValueError(f"patch {tuple(patch.shape)} does not fit golden spikes {tuple(golden.shape)} "
                         f"({'one channel per row' if channel is not None else 'all channels'})")
    index = [("samples", samples), ("h0", h0), ("w0", w0), *([("channel", channel)] if channel is not None else [])]
    for label, t in index:
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool or t.shape != (m,) \
                or t.device != dev:
            raise ValueError(f"{label} must be an integer tensor of shape ({m},) on {dev}, "
                             f"got {t.dtype} {tuple(t.shape)} on {t.device}")
    samples, h0, w0 = (t.to(torch.int64).contiguous() for t in (samples, h0, w0))
    if channel is not None:
        channel = channel.to(torch.int64).contiguous()
    if golden.device != dev:
        raise ValueError(f"golden spikes must be on {dev} (the patch's), got {golden.device}")
    diff = torch.empty((m, ph, pw), dtype=torch.uint8, device=dev)
    delta = torch.zeros(m, dtype=torch.int32, device=dev)
    cells, n_k = ph * pw, c * steps
    if m and cells:
        if n_k:
            time_outer = c > 1 and patch.stride(4) < patch.stride(1)  # time-major windows: channels fastest
            block_p = min(16, triton.next_power_of_2(cells))
            block_k = max(16, min(2048 // block_p, triton.next_power_of_2(n_k)))
            gold = golden.view(torch.uint8)
            if patch.dtype == torch.bool:
                patch = patch.view(torch.uint8)
            ps, gs = patch.stride(), gold.stride()
            compare_kernel[(m, triton.cdiv(cells, block_p))](
                patch, gold, samples, h0, w0, samples if channel is None else channel, diff, delta,
                cells, pw, n_k, c if time_outer else steps, golden.shape[2], golden.shape[3], *ps, *gs,
                CHANNEL=channel is not None, TIME_OUTER=time_outer, BLOCK_P=block_p, BLOCK_K=block_k, num_warps=4)
        else:
            diff.zero_()
    return diff.view(torch.bool), delta.long()
