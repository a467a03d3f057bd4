"""A fused threshold + refractory kernel (Triton) for CUDA tensors.

One program handles a block of neurons and walks through time: at step ``t`` a neuron
fires when ``u[t] >= theta``; it then adds ``ref[j]`` to ``u[t + j]`` for ``j = 1 ..
K-1`` — the same additions, in the same order, as
:func:`spikefi.snn.functional._simulate_spikes`, so spikes and ``u_after`` are
bit-identical to the PyTorch path (which stays the reference and the fallback). It
replaces ~3·T small kernel launches per layer by one.

Set ``SPIKEFI_DISABLE_TRITON=1`` to force the PyTorch path.
"""

from __future__ import annotations

import functools
import os

import torch

__all__ = ["triton_available", "fused_spikes"]


@functools.lru_cache(maxsize=1)
def _triton():
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
def _kernel():
    triton, tl = _triton()

    @triton.jit
    def spike_kernel(u_ptr, s_ptr, theta_ptr, ref_ptr, value_ptr, n_neurons, steps,
                     K: tl.constexpr, PER_NEURON: tl.constexpr, BLOCK: tl.constexpr):  # noqa: N803
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n_neurons
        row = offs.to(tl.int64) * steps
        # theta and the spike value are read from tensors of u's dtype (float64 stays float64)
        if PER_NEURON:
            theta = tl.load(theta_ptr + offs, mask=mask, other=0.0)
        else:
            theta = tl.load(theta_ptr)
        spike_value = tl.load(value_ptr)
        zero = spike_value * 0
        for t in range(0, steps):
            u = tl.load(u_ptr + row + t, mask=mask, other=0.0)
            fired = u >= theta
            tl.store(s_ptr + row + t, tl.where(fired, spike_value, zero), mask=mask)
            for j in tl.static_range(1, K):
                later = mask & fired & (t + j < steps)
                r = tl.load(ref_ptr + j)
                v = tl.load(u_ptr + row + t + j, mask=later, other=0.0)
                tl.store(u_ptr + row + t + j, v + r, mask=later)

    return spike_kernel


def fused_spikes(
    u: torch.Tensor, theta: float | torch.Tensor, ref: torch.Tensor, ts: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(spikes, u_after)`` of a CUDA membrane potential (time last), one kernel launch."""
    triton, _ = _triton()
    shape = u.shape
    steps = shape[-1]
    u_after = u.detach().reshape(-1, steps).contiguous().clone()
    spikes = torch.empty_like(u_after)
    n = u_after.shape[0]
    ref = ref.to(device=u.device, dtype=u.dtype).contiguous()
    per_neuron = isinstance(theta, torch.Tensor) and theta.dim() > 0
    theta_t = (theta.to(device=u.device, dtype=u.dtype).expand(shape[:-1]).reshape(-1).contiguous()
               if per_neuron else torch.tensor([float(theta)], dtype=u.dtype, device=u.device))
    value = torch.tensor([1.0 / ts], dtype=u.dtype, device=u.device)
    block = 128
    grid = (triton.cdiv(n, block),)
    _kernel()[grid](u_after, spikes, theta_t, ref, value, n, steps,
                    K=max(int(ref.numel()), 1), PER_NEURON=per_neuron, BLOCK=block)
    return spikes.reshape(shape), u_after.reshape(shape)
