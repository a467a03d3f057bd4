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
from typing import Any

import torch

__all__ = ["triton_available", "fused_spikes", "fused_sum_pool", "MAX_KERNEL_LENGTH"]

#: longest refractory kernel the fused kernel handles (the firing history is an int64 mask)
MAX_KERNEL_LENGTH = 64


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
