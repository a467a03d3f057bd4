"""Pure functions of the SRM (spike response model) neuron, SLAYER-compatible.

Tensors use SLAYER's layout ``(N, C, H, W, T)``: time is the last dimension. A spike in
time bin ``t`` has the value ``1/Ts`` (computed in the tensor's dtype), so that
``sum(spikes) * Ts`` counts spikes.

Semantics (identical to slayerPytorch's CUDA kernels):

* alpha kernel: for ``t = 0, Ts, 2 Ts, ... < tSample`` the value is
  ``mult * t / tau * exp(1 - t / tau)``; the kernel stops at the first value with
  ``|value| < eps`` once ``t > tau``. The SRM kernel uses ``tau = tauSr, mult = 1,
  eps = 0.01``; the refractory kernel ``tau = tauRef, mult = -scaleRef * theta``
  (``eps = 0.01``, or ``1e-4`` for the "full" kernel).
* ``psp(x)[..., t] = Ts * sum_i x[..., t - i] * srm[i]`` (causal, truncated at ``T``).
* ``spike(u)``: each neuron is processed in time order; when ``u[t] >= theta`` it emits
  ``1/Ts`` at ``t`` and ``u[t + j] += ref[j]`` for every ``t + j < T``. The returned
  ``u_after`` holds that refractory-updated potential.
* surrogate gradient of ``spike``: ``scaleRho / (tauRho * theta) *
  exp(-|u_after - theta| / (tauRho * theta))``, evaluated on ``u_after``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DTypeError, ShapeError
from .paths import fused_active, time_major_convolutions, triton_usable
from .precision import get_allow_tf32, strict_fp32

__all__ = [
    "alpha_kernel",
    "srm_kernel",
    "ref_kernel",
    "psp",
    "psp_matrix",
    "spike",
    "spike_with_potential",
    "spike_stats",
    "stats_of_spikes",
    "count_true",
    "differs_from",
    "surrogate_pdf",
    "delay_shift",
    "check_spike_tensor",
    "conv3d",
    "fire",
    "fire_stats",
    "time_major",
]

_FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def check_spike_tensor(x: Any, name: str = "input", min_rank: int = 2) -> torch.Tensor:
    """Validates a floating tensor with time as its last dimension.

    Raises:
        ShapeError: rank below ``min_rank`` or an empty time dimension.
        DTypeError: not a floating-point tensor.
    """
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOAT_DTYPES:
        raise DTypeError(
            f"{name} has dtype {x.dtype}; expected a floating dtype "
            "(torch.float32 by default, torch.float64 supported)"
        )
    if x.dim() < min_rank:
        raise ShapeError(
            f"{name} has shape {tuple(x.shape)} (rank {x.dim()}); expected rank >= {min_rank} "
            "with time last, e.g. (N, C, H, W, T)"
        )
    if x.shape[-1] == 0:
        raise ShapeError(f"{name} has an empty time dimension: shape {tuple(x.shape)}")
    return x


def alpha_kernel(
    tau: float, mult: float, t_sample: float, ts: float, eps: float = 0.01
) -> list[float]:
    """The truncated alpha kernel ``mult * t/tau * exp(1 - t/tau)`` as python floats.

    Evaluated in float64 exactly as SLAYER does (the caller casts to float32).
    """
    if tau <= 0:
        raise ConfigError(f"kernel time constant must be > 0, got tau={tau!r}")
    if ts <= 0 or t_sample <= 0:
        raise ConfigError(f"Ts and tSample must be > 0, got Ts={ts!r}, tSample={t_sample!r}")
    values: list[float] = []
    for t in np.arange(0, t_sample, ts):
        value = mult * t / tau * math.exp(1 - t / tau)
        if abs(value) < eps and t > tau:
            break
        values.append(float(value))
    return values


def srm_kernel(neuron: Any, simulation: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """SLAYER's SRM (synaptic response) kernel for a neuron/simulation description."""
    values = alpha_kernel(neuron["tauSr"], 1, simulation["tSample"], simulation["Ts"])
    return torch.tensor(values, dtype=torch.float32).to(dtype)


def ref_kernel(
    neuron: Any, simulation: Any, full: bool = False, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """SLAYER's refractory kernel (``full=True``: the longer ``eps = 1e-4`` variant)."""
    values = alpha_kernel(
        neuron["tauRef"],
        -neuron["scaleRef"] * neuron["theta"],
        simulation["tSample"],
        simulation["Ts"],
        eps=1e-4 if full else 0.01,
    )
    return torch.tensor(values, dtype=torch.float32).to(dtype)


def psp_matrix(kernel: torch.Tensor, steps: int) -> torch.Tensor:
    """The ``(T, T)`` Toeplitz matrix ``K`` with ``psp(x) = (x @ K) * Ts``.

    ``K[s, t] = kernel[t - s]`` for ``0 <= t - s < len(kernel)``, on the kernel's device
    and dtype.
    """
    kernel = kernel.detach()
    length = min(kernel.numel(), steps)
    idx = torch.arange(steps, device=kernel.device)
    lag = idx[None, :] - idx[:, None]  # t - s
    valid = (lag >= 0) & (lag < length)
    values = kernel[lag.clamp(0, max(length - 1, 0))] if length > 0 else torch.zeros_like(lag, dtype=kernel.dtype)
    return torch.where(valid, values, torch.zeros((), dtype=kernel.dtype, device=kernel.device))


def psp(
    x: torch.Tensor, kernel: torch.Tensor, ts: float, matrix: torch.Tensor | None = None
) -> torch.Tensor:
    """Post-synaptic potential: causal convolution of ``x`` with ``kernel`` along time, times Ts.

    Args:
        x: tensor with time last, e.g. ``(N, C, H, W, T)``.
        kernel: 1-D SRM kernel (``layer.srmKernel``).
        ts: sampling time ``Ts``.
        matrix: optional precomputed :func:`psp_matrix` of ``kernel`` for ``T`` steps
            (same dtype and device as ``x``).

    Differentiable in ``x``; the gradient is the anti-causal correlation SLAYER uses.
    """
    check_spike_tensor(x, "psp input", min_rank=1)
    if matrix is None:
        matrix = psp_matrix(kernel.to(device=x.device, dtype=x.dtype), x.shape[-1])
    rows = x.numel() // max(x.shape[-1], 1)
    if 0 < rows < _MIN_GEMM_ROWS:
        # BLAS picks other kernels (another summation order) for very few rows; padding
        # keeps every neuron's potential bit-identical whatever the batch composition
        flat = x.reshape(rows, x.shape[-1])
        padded = torch.cat([flat, flat.new_zeros(_MIN_GEMM_ROWS - rows, x.shape[-1])])
        return psp(padded, kernel, ts, matrix)[:rows].reshape(x.shape)
    if _needs_strict(x):
        return _StrictMatmul.apply(x, matrix) * ts
    return torch.matmul(x, matrix) * ts


_MIN_GEMM_ROWS = 256


def _needs_strict(x: torch.Tensor) -> bool:
    return x.device.type == "cuda" and x.dtype == torch.float32 and not get_allow_tf32()


class _StrictMatmul(torch.autograd.Function):
    """``x @ m`` (m constant) with TF32 off in the forward *and* the backward pass."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(m)
        with strict_fp32(x):
            return torch.matmul(x, m)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:  # type: ignore[override]
        (m,) = ctx.saved_tensors
        with strict_fp32(grad):
            return torch.matmul(grad, m.t()), None


class _StrictConv3d(torch.autograd.Function):
    """``conv3d`` with TF32 off in the forward *and* the backward pass (CUDA fp32)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, stride: Any, padding: Any, dilation: Any, groups: int) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, w)
        ctx.conf = (list(stride), list(padding), list(dilation), groups)
        with strict_fp32(x):
            return torch.nn.functional.conv3d(x, w, None, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:  # type: ignore[override]
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        with strict_fp32(grad):
            gx, gw, _ = torch.ops.aten.convolution_backward(
                grad.contiguous(), x, w, None, stride, padding, dilation, False, [0, 0, 0], groups,
                [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False],
            )
        return gx, gw, None, None, None, None


def _triple(v: Any) -> tuple[int, int, int]:
    return (v, v, v) if isinstance(v, int) else tuple(v)


def time_major(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(N, C, H, W, T)`` with its memory laid out as a contiguous ``(N, T, C, H, W)``
    (the same values; no copy when it already is)."""
    return x.permute(0, 4, 1, 2, 3).contiguous().permute(0, 2, 3, 4, 1)


def _conv_time_major(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int, int],
                     padding: tuple[int, int, int], dilation: tuple[int, int, int], groups: int) -> torch.Tensor:
    """A ``(k, k, 1)`` convolution of all time bins at once: ``conv2d`` over ``(N*T, C, H, W)``
    (the same ``C*k*k`` products per output as ``conv3d``); the result is time-major."""
    n, c, h, w, steps = x.shape
    xt = x.permute(0, 4, 1, 2, 3).contiguous().reshape(n * steps, c, h, w)
    w2 = weight.detach()[..., 0]
    with strict_fp32(x):
        y = torch.nn.functional.conv2d(xt, w2, None, stride[:2], padding[:2], dilation[:2], groups)
    return y.reshape(n, steps, *y.shape[1:]).permute(0, 2, 3, 4, 1)


def conv3d(
    x: torch.Tensor, weight: torch.Tensor, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1
) -> torch.Tensor:
    """``torch.nn.functional.conv3d`` (no bias) computed in true fp32 on CUDA, gradients included.

    On the fused path (:mod:`spikefi.snn.paths`; inference only) a kernel with one time
    tap and no time stride or padding runs as ``conv2d`` over all time bins at once and
    returns a time-major tensor (see :func:`time_major`), except a kernel that covers the
    whole map (a dense layer), which stays ``conv3d``."""
    st, pd, dl = _triple(stride), _triple(padding), _triple(dilation)
    # a kernel covering the whole (padded) map is a dense layer: cuDNN's conv2d takes an FFT
    # for it (20x slower on the H100, other bits); conv3d keeps the reference's kernel
    dense = (weight.dim() == 5 and x.dim() == 5 and weight.shape[2] == x.shape[2] + 2 * pd[0]
             and weight.shape[3] == x.shape[3] + 2 * pd[1])
    if (not dense and weight.dim() == 5 and weight.shape[-1] == 1 and st[2] == 1 and pd[2] == 0 and x.dim() == 5
            and fused_active(x) and not (torch.is_grad_enabled() and weight.requires_grad)
            and time_major_convolutions()):
        return _conv_time_major(x, weight, st, pd, dl, groups)
    if x.shape[0] == 1:
        # a batch of one takes another convolution algorithm (another summation order)
        return conv3d(torch.cat([x, x]), weight, stride, padding, dilation, groups)[:1]
    if _needs_strict(x):
        return _StrictConv3d.apply(x, weight, _triple(stride), _triple(padding), _triple(dilation), groups)
    return torch.nn.functional.conv3d(x, weight, None, stride, padding, dilation, groups)


def _fire_kernel_ok(x: torch.Tensor, srm: torch.Tensor, ref: torch.Tensor) -> bool:
    from .cuda.spike_kernel import MAX_KERNEL_LENGTH, MAX_PSP_LENGTH

    return (triton_usable(x.device) and ref.numel() <= MAX_KERNEL_LENGTH
            and min(srm.numel(), x.shape[-1]) <= MAX_PSP_LENGTH)


def fire(
    x: torch.Tensor, srm: torch.Tensor, ref: torch.Tensor, theta: float | torch.Tensor, ts: float,
    tau_rho: float = 1.0, scale_rho: float = 1.0,
) -> torch.Tensor:
    """Spikes of synaptic input ``x``: ``spike(psp(x))``.

    On the fused path (:mod:`spikefi.snn.paths`) one Triton kernel computes psp,
    refractory response and threshold without writing the potential, keeping ``x``'s
    memory layout (time-major stays time-major); elsewhere the reference functions.
    """
    check_spike_tensor(x, "synaptic input", min_rank=1)
    if fused_active(x) and _fire_kernel_ok(x, srm, ref):
        from .cuda.spike_kernel import fused_fire

        return fused_fire(x, srm, ref, _check_theta(theta, x), float(ts))[0]
    return spike(psp(x, srm, ts), theta, ref, ts, tau_rho, scale_rho)


def fire_stats(
    x: torch.Tensor, srm: torch.Tensor, ref: torch.Tensor, theta: float | torch.Tensor, ts: float,
    tau_rho: float = 1.0, scale_rho: float = 1.0, *, keep_mask: bool = False, golden: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    """:func:`fire` with :func:`spike_stats`'s statistics of the same pass."""
    check_spike_tensor(x, "synaptic input", min_rank=1)
    if golden is not None and (golden.shape != x.shape or golden.dtype != torch.bool):
        raise ShapeError(f"golden must be a bool tensor of shape {tuple(x.shape)}, got {golden.dtype} {tuple(golden.shape)}")
    if fused_active(x) and _fire_kernel_ok(x, srm, ref):
        from .cuda.spike_kernel import fused_fire

        stats: dict[str, Any] = {"mask": keep_mask, "golden": golden}
        s, _ = fused_fire(x, srm, ref, _check_theta(theta, x), float(ts), stats=stats)
        return s, {"count": stats["count"], "fired": stats["fired"], "differs": stats["differs"]}
    return spike_stats(psp(x, srm, ts), theta, ref, ts, tau_rho, scale_rho, keep_mask=keep_mask, golden=golden)


def surrogate_pdf(
    u_after: torch.Tensor, theta: float | torch.Tensor, tau_rho: float, scale_rho: float
) -> torch.Tensor:
    """SLAYER's spike-escape density used as the derivative of ``spike``."""
    dtype, device = u_after.dtype, u_after.device
    theta_t = torch.as_tensor(theta, dtype=dtype, device=device)
    if theta_t.dim() > 0:
        theta_t = theta_t.unsqueeze(-1)
    scale = torch.as_tensor(scale_rho, dtype=dtype, device=device)
    time_constant = torch.as_tensor(tau_rho, dtype=dtype, device=device) * theta_t
    return scale / time_constant * torch.exp(-torch.abs(u_after - theta_t) / time_constant)


def _fused() -> Any:
    """The fused CUDA kernel's entry point, or ``None`` (no Triton, or disabled)."""
    global _FUSED
    if _FUSED is None:
        from .cuda.spike_kernel import MAX_KERNEL_LENGTH, fused_spikes, triton_available

        _FUSED = (fused_spikes, MAX_KERNEL_LENGTH) if triton_available() else False
    return _FUSED or None


_FUSED: Any = None


def _simulate_spikes(
    u: torch.Tensor, theta: float | torch.Tensor, ref: torch.Tensor, ts: float, need_potential: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Threshold + refractory simulation; returns ``(spikes, u_after)`` (no autograd).

    On CUDA (float32/float64) the fused Triton kernel runs it, bit-identical to
    :func:`_simulate_spikes_torch`; with ``need_potential=False`` it may skip writing
    ``u_after`` and return ``None`` for it.
    """
    if u.is_cuda and u.dtype in (torch.float32, torch.float64):
        fused = _fused()
        if fused is not None and ref.numel() <= fused[1]:
            return fused[0](u, theta, ref, ts, need_potential)
    return _simulate_spikes_torch(u, theta, ref, ts)


def _simulate_spikes_torch(
    u: torch.Tensor, theta: float | torch.Tensor, ref: torch.Tensor, ts: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference implementation of :func:`_simulate_spikes` (any device)."""
    shape = u.shape
    steps = shape[-1]
    # time-major copy: each time step is one contiguous row of all neurons
    ut = u.detach().reshape(-1, steps).t().contiguous()
    st = torch.zeros_like(ut)
    theta_row: float | torch.Tensor
    if isinstance(theta, torch.Tensor) and theta.dim() > 0:
        theta_row = theta.to(dtype=u.dtype, device=u.device).expand(shape[:-1]).reshape(-1)
    else:
        theta_row = float(theta)
    ref = ref.to(dtype=u.dtype, device=u.device)
    klen = ref.numel()
    spike_value = torch.tensor(1.0 / ts, dtype=u.dtype, device=u.device)
    for t in range(steps):
        fired = (ut[t] >= theta_row).to(ut.dtype)  # 1.0 where the neuron fires, else 0.0
        st[t] = fired
        span = min(klen - 1, steps - 1 - t)
        if span > 0:
            # u += ref * fired: exactly u + ref where fired, u (+ -0.0) elsewhere
            ut[t + 1 : t + 1 + span].addcmul_(ref[1 : 1 + span, None], fired)
    st.mul_(spike_value)
    return st.t().reshape(shape), ut.t().reshape(shape)


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        u: torch.Tensor,
        theta: float | torch.Tensor,
        ref: torch.Tensor,
        ts: float,
        tau_rho: float,
        scale_rho: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        spikes, u_after = _simulate_spikes(u, theta, ref, ts)
        ctx.save_for_backward(u_after)
        ctx.theta, ctx.tau_rho, ctx.scale_rho = theta, tau_rho, scale_rho
        ctx.mark_non_differentiable(u_after)
        return spikes, u_after

    @staticmethod
    def backward(ctx: Any, grad_spikes: torch.Tensor, _grad_u: torch.Tensor | None) -> tuple:  # type: ignore[override]
        (u_after,) = ctx.saved_tensors
        pdf = surrogate_pdf(u_after, ctx.theta, ctx.tau_rho, ctx.scale_rho)
        return grad_spikes * pdf, None, None, None, None, None


def _check_theta(theta: float | torch.Tensor, u: torch.Tensor) -> float | torch.Tensor:
    if isinstance(theta, torch.Tensor) and theta.dim() > 0:
        try:
            torch.broadcast_shapes(theta.shape, u.shape[:-1])
        except RuntimeError:
            raise ShapeError(
                f"per-neuron theta of shape {tuple(theta.shape)} does not broadcast to the "
                f"neuron shape {tuple(u.shape[:-1])} of the membrane potential"
            ) from None
        return theta
    value = float(theta)
    if not value > 0:
        raise ConfigError(f"theta must be > 0, got {value!r}")
    return value


def spike_with_potential(
    u: torch.Tensor,
    theta: float | torch.Tensor,
    ref: torch.Tensor,
    ts: float,
    tau_rho: float = 1.0,
    scale_rho: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes of membrane potential ``u`` and the refractory-updated potential ``u_after``.

    Args:
        u: membrane potential, time last.
        theta: firing threshold (a float, or a tensor broadcastable to ``u.shape[:-1]``).
        ref: 1-D refractory kernel (``layer.refKernel``).
        ts: sampling time; spikes have the value ``1/Ts``.
        tau_rho, scale_rho: surrogate-gradient parameters.

    Returns:
        ``(spikes, u_after)``; ``spikes`` is differentiable in ``u`` through the surrogate.
    """
    check_spike_tensor(u, "membrane potential", min_rank=1)
    theta = _check_theta(theta, u)
    return _SpikeFunction.apply(u, theta, ref, float(ts), float(tau_rho), float(scale_rho))


def spike(
    u: torch.Tensor,
    theta: float | torch.Tensor,
    ref: torch.Tensor,
    ts: float,
    tau_rho: float = 1.0,
    scale_rho: float = 1.0,
) -> torch.Tensor:
    """Spikes of membrane potential ``u`` (see :func:`spike_with_potential`)."""
    if u.requires_grad and torch.is_grad_enabled():
        return spike_with_potential(u, theta, ref, ts, tau_rho, scale_rho)[0]
    # inference: no graph, and the refractory-updated potential is not needed
    check_spike_tensor(u, "membrane potential", min_rank=1)
    return _simulate_spikes(u, _check_theta(theta, u), ref, float(ts), need_potential=False)[0]


def count_true(fired: torch.Tensor) -> torch.Tensor:
    """Number of True entries of a bool tensor with time last (an int64 scalar). On the
    CPU ``count_nonzero``; elsewhere summed over time in uint8 first (no int64 copy of the
    whole tensor) when ``T`` < 256 (faster than ``count_nonzero`` on CUDA)."""
    if fired.device.type == "cpu":
        return torch.count_nonzero(fired)
    if fired.dim() > 1 and fired.shape[-1] < 256:
        return fired.view(torch.uint8).sum(-1, dtype=torch.uint8).sum()
    return fired.sum()


def differs_from(fired: torch.Tensor, golden: torch.Tensor) -> torch.Tensor:
    """Whether two bool tensors differ anywhere (0-dim bool tensor; no host synchronisation
    on accelerators, ``torch.equal`` with its early exit on the CPU)."""
    if fired.device.type == "cpu":
        return torch.tensor(not torch.equal(fired, golden))
    return (fired != golden).any()


def stats_of_spikes(s: torch.Tensor, keep_mask: bool = False,
                    golden: torch.Tensor | None = None) -> dict[str, torch.Tensor | None]:
    """:func:`spike_stats`'s statistics computed from spikes ``s``."""
    fired = s.detach() != 0
    return {"count": count_true(fired), "fired": fired if keep_mask else None,
            "differs": None if golden is None else differs_from(fired, golden)}


def spike_stats(
    u: torch.Tensor,
    theta: float | torch.Tensor,
    ref: torch.Tensor,
    ts: float,
    tau_rho: float = 1.0,
    scale_rho: float = 1.0,
    *,
    keep_mask: bool = False,
    golden: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    """Spikes of ``u`` (as :func:`spike`) with statistics of the same pass, left on the device.

    Returns ``(spikes, stats)`` with ``stats["count"]`` the number of spikes (0-dim int64),
    ``stats["fired"]`` the bool firing mask (with ``keep_mask``, else ``None``) and
    ``stats["differs"]`` whether the firing mask differs from the bool tensor ``golden``
    anywhere (0-dim bool; ``None`` without ``golden``). On CUDA the fused kernel computes
    them while it simulates (no extra pass over the layer); elsewhere they are computed
    from the spikes.
    """
    check_spike_tensor(u, "membrane potential", min_rank=1)
    if golden is not None and (golden.shape != u.shape or golden.dtype != torch.bool):
        raise ShapeError(f"golden must be a bool tensor of shape {tuple(u.shape)}, got {golden.dtype} {tuple(golden.shape)}")
    grad = u.requires_grad and torch.is_grad_enabled()
    if not grad and u.is_cuda and u.dtype in (torch.float32, torch.float64):
        fused = _fused()
        if fused is not None and ref.numel() <= fused[1]:
            stats: dict[str, Any] = {"mask": keep_mask, "golden": golden}
            s, _ = fused[0](u, _check_theta(theta, u), ref, float(ts), False, stats=stats)
            return s, {"count": stats["count"], "fired": stats["fired"], "differs": stats["differs"]}
    s = spike(u, theta, ref, ts, tau_rho, scale_rho)
    return s, stats_of_spikes(s, keep_mask, golden)


def delay_shift(x: torch.Tensor, delay: float | torch.Tensor, ts: float = 1.0) -> torch.Tensor:
    """Delays signals along time by ``delay`` (in the units of ``Ts``), zero-filled.

    ``out[..., t] = x[..., t - d]`` with ``d = delay / Ts`` time bins. A fractional ``d``
    interpolates linearly between the two neighbouring bins, so the result is
    differentiable in ``delay`` (``d out / d delay = (x[t-n-1] - x[t-n]) / Ts``).

    Args:
        x: tensor with time last.
        delay: a number, or a tensor broadcastable to ``x.shape[:-1]`` (per-neuron delays).
        ts: sampling time.
    """
    check_spike_tensor(x, "delayShift input", min_rank=1)
    if ts <= 0:
        raise ConfigError(f"Ts must be > 0, got {ts!r}")
    steps = x.shape[-1]
    d = torch.as_tensor(delay, dtype=x.dtype, device=x.device) / ts
    if d.dim() > 0:
        try:
            torch.broadcast_shapes(d.shape, x.shape[:-1])
        except RuntimeError:
            raise ShapeError(
                f"delay of shape {tuple(d.shape)} does not broadcast to the neuron shape "
                f"{tuple(x.shape[:-1])}"
            ) from None
    d = d.unsqueeze(-1)
    whole = torch.floor(d.detach())
    frac = d - whole
    t = torch.arange(steps, device=x.device)
    src0 = t - whole.to(torch.long)  # index of x feeding out[t] with weight (1 - frac)
    src1 = src0 - 1  # index feeding out[t] with weight frac

    def gather(src: torch.Tensor) -> torch.Tensor:
        valid = (src >= 0) & (src < steps)
        idx = src.clamp(0, steps - 1).expand(*x.shape[:-1], steps)
        return torch.where(valid, torch.gather(x, -1, idx), torch.zeros((), dtype=x.dtype, device=x.device))

    return (1 - frac) * gather(src0) + frac * gather(src1)
