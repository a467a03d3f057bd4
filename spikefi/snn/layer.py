"""``layer(neuron, simulation)``: SLAYER's spiking layer factory, in pure PyTorch.

The class mirrors slayerPytorch's ``spikeLayer`` API (constructor arguments, method
names, buffers ``srmKernel``/``refKernel``, weight layout of the synaptic layers: every
synaptic layer is a ``Conv3d`` whose weight has shape ``(out, in, kh, kw, 1)``), so a
``state_dict`` saved from a slayerPytorch network loads into the same architecture built
with spikefi.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as tf
from torch import nn

from ..errors import ConfigError, DTypeError, ShapeError
from . import functional as fn
from .params import time_steps, validate_neuron, validate_simulation
from .paths import fused_active, triton_usable
from .precision import strict_fp32

__all__ = [
    "layer",
    "DenseLayer",
    "ConvLayer",
    "PoolLayer",
    "DropoutLayer",
    "DelayLayer",
    "PspLayer",
    "PspFilter",
]

WeightHook = Callable[[torch.Tensor], torch.Tensor]


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return int(value[0]), int(value[1])
    raise ConfigError(f"{name} must be an int or a pair of ints, got {value!r}")


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_input(x: Any, weight: torch.Tensor, name: str, in_channels: int) -> torch.Tensor:
    fn.check_spike_tensor(x, f"{name} input", min_rank=5)
    if x.dim() != 5:
        raise ShapeError(
            f"{name} input has shape {tuple(x.shape)}; expected rank 5 (N, C, H, W, T)"
        )
    if x.shape[1] != in_channels:
        raise ShapeError(
            f"{name} input has {x.shape[1]} channels (shape {tuple(x.shape)}); "
            f"expected {in_channels}"
        )
    if x.dtype != weight.dtype:
        raise DTypeError(
            f"{name} input dtype {x.dtype} differs from its weight dtype {weight.dtype}; "
            "convert the input or the network (e.g. net.to(torch.float64))"
        )
    if x.device != weight.device:
        raise ShapeError(
            f"{name} input is on {x.device} but its weight is on {weight.device}"
        )
    return x


class DenseLayer(nn.Conv3d):
    """Fully connected synapses, stored as a Conv3d (SLAYER's ``_denseLayer``).

    ``inFeatures`` is an int (a vector input ``(N, C, 1, 1, T)``) or ``(W, H)`` /
    ``(W, H, C)`` for an input that is flattened spatially; the weight has shape
    ``(out, C, H, W, 1)``.
    """

    def __init__(
        self,
        inFeatures: int | tuple[int, ...],  # noqa: N803 - SLAYER argument names
        outFeatures: int,  # noqa: N803
        weightScale: float = 1,  # noqa: N803
        preHookFx: WeightHook | None = None,  # noqa: N803
    ) -> None:
        if isinstance(inFeatures, int) and not isinstance(inFeatures, bool):
            kernel, in_channels = (1, 1, 1), _positive(inFeatures, "inFeatures")
        elif isinstance(inFeatures, (tuple, list)) and len(inFeatures) in (2, 3):
            dims = [_positive(v, "inFeatures entries") for v in inFeatures]
            kernel = (dims[1], dims[0], 1)
            in_channels = dims[2] if len(dims) == 3 else 1
        else:
            raise ConfigError(
                f"inFeatures must be an int, (W, H) or (W, H, C), got {inFeatures!r}"
            )
        out_channels = _positive(outFeatures, "outFeatures")
        super().__init__(in_channels, out_channels, kernel, bias=False)
        if weightScale != 1:
            self.weight = nn.Parameter(weightScale * self.weight)
        self.preHookFx = preHookFx

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.weight, "dense", self.in_channels)
        kh, kw = self.kernel_size[0], self.kernel_size[1]
        if x.shape[2] != kh or x.shape[3] != kw:
            raise ShapeError(
                f"dense input has spatial size {tuple(x.shape[2:4])} (shape {tuple(x.shape)}); "
                f"expected ({kh}, {kw}) to match the layer's inFeatures"
            )
        weight = self.weight if self.preHookFx is None else self.preHookFx(self.weight)
        return fn.conv3d(x, weight)


class ConvLayer(nn.Conv3d):
    """2-D convolution applied at every time step (SLAYER's ``_convLayer``)."""

    def __init__(
        self,
        inFeatures: int,  # noqa: N803
        outFeatures: int,  # noqa: N803
        kernelSize: int | tuple[int, int],  # noqa: N803
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        weightScale: float = 1,  # noqa: N803
        preHookFx: WeightHook | None = None,  # noqa: N803
    ) -> None:
        kh, kw = _pair(kernelSize, "kernelSize")
        sh, sw = _pair(stride, "stride")
        ph, pw = _pair(padding, "padding")
        dh, dw = _pair(dilation, "dilation")
        for v, n in ((kh, "kernelSize"), (kw, "kernelSize"), (sh, "stride"), (sw, "stride"),
                     (dh, "dilation"), (dw, "dilation")):
            _positive(v, n)
        if ph < 0 or pw < 0:
            raise ConfigError(f"padding must be >= 0, got {padding!r}")
        _positive(inFeatures, "inFeatures")
        _positive(outFeatures, "outFeatures")
        _positive(groups, "groups")
        if inFeatures % groups or outFeatures % groups:
            raise ConfigError(
                f"groups={groups} must divide inFeatures={inFeatures} and outFeatures={outFeatures}"
            )
        super().__init__(
            inFeatures, outFeatures, (kh, kw, 1), (sh, sw, 1), (ph, pw, 0), (dh, dw, 1),
            groups, bias=False,
        )
        if weightScale != 1:
            self.weight = nn.Parameter(weightScale * self.weight)
        self.preHookFx = preHookFx

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.weight, "conv", self.in_channels)
        weight = self.weight if self.preHookFx is None else self.preHookFx(self.weight)
        reach_h = self.dilation[0] * (self.kernel_size[0] - 1) + 1
        reach_w = self.dilation[1] * (self.kernel_size[1] - 1) + 1
        if x.shape[2] + 2 * self.padding[0] < reach_h or x.shape[3] + 2 * self.padding[1] < reach_w:
            raise ShapeError(
                f"conv input spatial size {tuple(x.shape[2:4])} is smaller than the kernel "
                f"{tuple(self.kernel_size[:2])} (padding {tuple(self.padding[:2])})"
            )
        return fn.conv3d(x, weight, self.stride, self.padding, self.dilation, self.groups)


class PoolLayer(nn.Conv3d):
    """Sum pooling with a fixed weight of ``1.1 * theta`` (SLAYER's ``_poolLayer``).

    Odd spatial sizes are zero-padded at the end (by ``size % kernel`` rows/columns, as
    SLAYER does) before pooling; every channel is pooled independently.
    """

    def __init__(
        self,
        theta: float,
        kernelSize: int | tuple[int, int],  # noqa: N803
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        preHookFx: WeightHook | None = None,  # noqa: N803
    ) -> None:
        kh, kw = _pair(kernelSize, "kernelSize")
        _positive(kh, "kernelSize")
        _positive(kw, "kernelSize")
        sh, sw = (kh, kw) if stride is None else _pair(stride, "stride")
        ph, pw = _pair(padding, "padding")
        dh, dw = _pair(dilation, "dilation")
        super().__init__(1, 1, (kh, kw, 1), (sh, sw, 1), (ph, pw, 0), (dh, dw, 1), bias=False)
        self.weight = nn.Parameter(
            torch.full(self.weight.shape, 1.1 * theta, dtype=torch.float32), requires_grad=False
        )
        self.preHookFx = preHookFx

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fn.check_spike_tensor(x, "pool input", min_rank=5)
        if x.dim() != 5:
            raise ShapeError(f"pool input has shape {tuple(x.shape)}; expected (N, C, H, W, T)")
        if x.dtype != self.weight.dtype:
            raise DTypeError(
                f"pool input dtype {x.dtype} differs from its weight dtype {self.weight.dtype}"
            )
        kh, kw = self.weight.shape[2], self.weight.shape[3]
        weight = self.weight if self.preHookFx is None else self.preHookFx(self.weight)
        if self._time_major_ok(x, weight):
            return self._pool_time_major(x, weight)
        if self._fused_ok(x, weight):
            from .cuda import fused_sum_pool

            return fused_sum_pool(x, weight)
        pad_h, pad_w = x.shape[2] % kh, x.shape[3] % kw
        if pad_h or pad_w:
            x = tf.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        n, c, h, w, t = x.shape
        if h % kh == 0 and self.stride[0] == kh and not self.padding[0] and self.dilation[0] == 1:
            # channels are folded into the height axis (a kernel never straddles two
            # channels because h is a multiple of the kernel height and the stride)
            y = fn.conv3d(x.reshape(n, 1, c * h, w, t), weight, self.stride, self.padding, self.dilation)
        else:  # channels folded into the batch
            y = fn.conv3d(x.reshape(n * c, 1, h, w, t), weight, self.stride, self.padding, self.dilation)
        return y.reshape(n, c, -1, y.shape[3], y.shape[4])

    def _time_major_ok(self, x: torch.Tensor, weight: torch.Tensor) -> bool:
        """Whether the fused path pools this call on the time-major layout (a time-major
        input, inference, the default stride, no padding or dilation)."""
        if not fused_active(x) or (torch.is_grad_enabled() and weight.requires_grad):
            return False
        if not x.permute(0, 4, 1, 2, 3).is_contiguous():
            return False
        return tuple(self.stride[:2]) == tuple(weight.shape[2:4]) and not any(self.padding) and all(
            d == 1 for d in self.dilation)

    def _pool_time_major(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Sum pooling of every (sample, bin, channel) plane at once; a time-major result
        holding the values of the reference pooling."""
        if triton_usable(x.device):
            from .cuda.spike_kernel import fused_sum_pool_time_major

            return fused_sum_pool_time_major(x, weight)
        kh, kw = weight.shape[2], weight.shape[3]
        n, c, h, w, steps = x.shape
        xt = x.permute(0, 4, 1, 2, 3)
        pad_h, pad_w = h % kh, w % kw
        if pad_h or pad_w:
            xt = tf.pad(xt, (0, pad_w, 0, pad_h))
        planes = xt.contiguous().reshape(n * steps * c, 1, xt.shape[3], xt.shape[4])
        with strict_fp32(x):
            y = tf.conv2d(planes, weight.detach()[..., 0], None, (kh, kw))
        return y.reshape(n, steps, c, y.shape[2], y.shape[3]).permute(0, 2, 3, 4, 1)

    def _fused_ok(self, x: torch.Tensor, weight: torch.Tensor) -> bool:
        """Whether the fused CUDA pooling kernel computes this call (float32 inference with
        the default stride, padding and dilation; it equals the convolution bit for bit)."""
        if not (x.is_cuda and x.dtype == torch.float32 and weight.dtype == torch.float32):
            return False
        if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
            return False
        if tuple(self.stride[:2]) != tuple(weight.shape[2:4]) or any(self.padding) or any(d != 1 for d in self.dilation):
            return False
        from .functional import _fused

        return _fused() is not None


class DropoutLayer(nn.Dropout3d):
    """Dropout of whole neurons (all time steps together), SLAYER's ``_dropoutLayer``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fn.check_spike_tensor(x, "dropout input", min_rank=2)
        shape = x.shape
        y = tf.dropout3d(x.reshape(shape[0], -1, 1, 1, shape[-1]), self.p, self.training, self.inplace)
        return y.reshape(shape)


class DelayLayer(nn.Module):
    """Learnable per-neuron axonal delay (in ms), SLAYER's ``_delayLayer``.

    ``inputSize`` is an int (``C`` neurons) or ``(C, H, W)``; the parameter ``delay`` has
    shape ``(C, H, W)`` and is initialised uniformly in ``[0, 1)`` (use
    ``torch.manual_seed`` for reproducibility).
    """

    def __init__(self, inputSize: int | tuple[int, int, int], Ts: float) -> None:  # noqa: N803
        super().__init__()
        if isinstance(inputSize, int) and not isinstance(inputSize, bool):
            shape = (_positive(inputSize, "inputSize"), 1, 1)
        elif isinstance(inputSize, (tuple, list)) and len(inputSize) == 3:
            shape = tuple(_positive(v, "inputSize entries") for v in inputSize)
        else:
            raise ConfigError(f"inputSize must be an int or (C, H, W), got {inputSize!r}")
        self.Ts = float(Ts)
        self.delay = nn.Parameter(torch.rand(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fn.check_spike_tensor(x, "delay input", min_rank=5)
        if tuple(x.shape[1:4]) != tuple(self.delay.shape):
            raise ShapeError(
                f"delay input has neuron shape {tuple(x.shape[1:4])}; expected "
                f"{tuple(self.delay.shape)}"
            )
        return fn.delay_shift(x, self.delay.to(x.dtype), self.Ts)


def _causal_filter(x: torch.Tensor, taps: torch.Tensor, ts: float) -> torch.Tensor:
    """``Ts * sum_k taps[f, k] * x[..., t - (L - 1) + k]`` for every filter ``f``.

    ``x`` is ``(rows, T)``, ``taps`` ``(F, L)``; returns ``(rows, F, T)``. Differentiable
    in both arguments.
    """
    length = taps.shape[-1]
    padded = tf.pad(x.unsqueeze(1), (length - 1, 0))
    return tf.conv1d(padded, taps.unsqueeze(1)) * ts


class PspLayer(nn.Conv3d):
    """The post-synaptic potential as a layer with a learnable temporal filter
    (slayerPytorch's ``_pspLayer``), initialised with the SRM kernel.

    The weight ``(1, 1, 1, 1, L)`` holds the kernel reversed in time (a correlation
    filter), so that at initialisation ``forward(x)`` equals ``layer.psp(x)`` (up to
    float summation order).
    """

    def __init__(self, kernel: torch.Tensor, Ts: float) -> None:  # noqa: N803
        length = int(kernel.numel())
        if length < 1:
            raise ConfigError("the psp kernel is empty; check the neuron's tauSr and the simulation")
        super().__init__(1, 1, (1, 1, length), bias=False)
        self.Ts = float(Ts)
        flipped = torch.flip(kernel.detach().to(torch.float32).reshape(-1), dims=(0,))
        self.weight = nn.Parameter(flipped.reshape(self.weight.shape).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fn.check_spike_tensor(x, "pspLayer input", min_rank=2)
        if x.dtype != self.weight.dtype:
            raise DTypeError(f"pspLayer input dtype {x.dtype} differs from its weight dtype {self.weight.dtype}")
        steps = x.shape[-1]
        out = _causal_filter(x.reshape(-1, steps), self.weight.reshape(1, -1), self.Ts)
        return out.reshape(x.shape)


class PspFilter(nn.Conv3d):
    """``nFilter`` learnable causal temporal filters of ``filterLength`` taps applied to
    every neuron (slayerPytorch's ``_pspFilter``).

    An input ``(N, C, H, W, T)`` gives ``(N, nFilter * C, H, W, T)``; output channel
    ``f * C + c`` is filter ``f`` applied to input channel ``c``. The weight has shape
    ``(nFilter, 1, 1, 1, filterLength)`` (a correlation filter: the last tap weighs the
    current time bin), initialised like a ``Conv3d`` and multiplied by ``filterScale``.
    """

    def __init__(self, nFilter: int, filterLength: int, Ts: float, filterScale: float = 1) -> None:  # noqa: N803
        _positive(nFilter, "nFilter")
        _positive(filterLength, "filterLength")
        super().__init__(1, nFilter, (1, 1, filterLength), bias=False)
        self.Ts = float(Ts)
        if filterScale != 1:
            with torch.no_grad():
                self.weight.mul_(float(filterScale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fn.check_spike_tensor(x, "pspFilter input", min_rank=5)
        if x.dim() != 5:
            raise ShapeError(f"pspFilter input has shape {tuple(x.shape)}; expected (N, C, H, W, T)")
        if x.dtype != self.weight.dtype:
            raise DTypeError(f"pspFilter input dtype {x.dtype} differs from its weight dtype {self.weight.dtype}")
        n, c, h, w, steps = x.shape
        taps = self.weight.reshape(self.weight.shape[0], -1)
        out = _causal_filter(x.reshape(n * c * h * w, steps), taps, self.Ts)  # (n*c*h*w, F, T)
        out = out.reshape(n, c * h * w, taps.shape[0], steps).transpose(1, 2)
        return out.reshape(n, taps.shape[0] * c, h, w, steps)


class layer(nn.Module):  # noqa: N801 - SLAYER's name
    """SLAYER-compatible spiking layer factory and neuron dynamics.

    Args:
        neuron: the ``neuron`` section of a SLAYER yaml file (``type``, ``theta``,
            ``tauSr``, ``tauRef``, ``scaleRef``, ``tauRho``, ``scaleRho``).
        simulation: the ``simulation`` section (``Ts``, ``tSample``).
        fullRefKernel: use the long (``eps = 1e-4``) refractory kernel.

    Example:
        >>> import torch
        >>> neuron = dict(type="SRMALPHA", theta=10, tauSr=10.0, tauRef=1.0,
        ...               scaleRef=2, tauRho=1, scaleRho=1)
        >>> slayer = layer(neuron, dict(Ts=1.0, tSample=20))
        >>> fc = slayer.dense(4, 3)
        >>> x = (torch.rand(2, 4, 1, 1, 20) < 0.3).float()
        >>> slayer.spike(slayer.psp(fc(x))).shape
        torch.Size([2, 3, 1, 1, 20])
    """

    def __init__(
        self,
        neuron: Mapping[str, Any],
        simulation: Mapping[str, Any],
        fullRefKernel: bool = False,  # noqa: N803
    ) -> None:
        super().__init__()
        self.neuron = dict(validate_neuron(neuron))
        self.simulation = dict(validate_simulation(simulation))
        self.fullRefKernel = bool(fullRefKernel)
        self.Ts = float(self.simulation["Ts"])
        self.T = time_steps(self.simulation)
        self.register_buffer("srmKernel", fn.srm_kernel(self.neuron, self.simulation))
        self.register_buffer(
            "refKernel", fn.ref_kernel(self.neuron, self.simulation, full=self.fullRefKernel)
        )
        self._psp_cache: dict[tuple[Any, ...], torch.Tensor] = {}

    # -- neuron dynamics -------------------------------------------------------------
    def _psp_matrix(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.srmKernel
        key = (x.shape[-1], x.dtype, x.device, kernel.data_ptr(), kernel._version)
        matrix = self._psp_cache.get(key)
        if matrix is None:
            matrix = fn.psp_matrix(kernel.to(device=x.device, dtype=x.dtype), x.shape[-1])
            self._psp_cache = {key: matrix}
        return matrix

    def psp(self, spike: torch.Tensor) -> torch.Tensor:
        """Post-synaptic potential of ``spike`` (time last), SLAYER's ``psp``."""
        fn.check_spike_tensor(spike, "psp input", min_rank=1)
        return fn.psp(spike, self.srmKernel, self.Ts, matrix=self._psp_matrix(spike))

    def _own_dynamics(self, replaced_ok: bool = False) -> bool:
        """Whether ``psp`` and ``spike`` are this class's SRM neuron: not overridden by a
        subclass (a deployed fixed-point neuron) nor replaced on this instance
        (``replaced_ok``: a wrapper that handles an instance's replacement asks)."""
        cls = type(self)
        if cls.psp is not layer.psp or cls.spike is not layer.spike:
            return False
        return replaced_ok or ("spike" not in vars(self) and "psp" not in vars(self))

    def _fuses(self, a: torch.Tensor, replaced_ok: bool = False) -> bool:
        """Whether :meth:`fire` runs the fused kernel for ``a``: the fused path, and the
        layer's own neuron dynamics (:meth:`_own_dynamics`)."""
        if not self._own_dynamics(replaced_ok):
            return False
        return fused_active(a) and fn._fire_kernel_ok(a, self.srmKernel, self.refKernel)

    def fire(self, a: torch.Tensor) -> torch.Tensor:
        """Spikes of synaptic input ``a``: ``spike(psp(a))``, fused into one kernel on the
        fused path (see :mod:`spikefi.snn.paths`) where the neuron dynamics are the layer's
        own (:meth:`_own_dynamics`)."""
        if self._fuses(a):
            return self.fire_fused(a)
        return self.spike(self.psp(a))

    def fire_fused(self, a: torch.Tensor) -> torch.Tensor:
        """:meth:`fire` by the fused kernel, whatever replaces ``spike`` (for wrappers)."""
        n = self.neuron
        return fn.fire(a, self.srmKernel, self.refKernel, n["theta"], self.Ts, n["tauRho"], n["scaleRho"])

    def fire_stats(self, a: torch.Tensor, keep_mask: bool = False, golden: torch.Tensor | None = None,
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
        """:meth:`fire` with the statistics of :meth:`spike_stats`, from the same pass."""
        if self._fuses(a):
            n = self.neuron
            return fn.fire_stats(a, self.srmKernel, self.refKernel, n["theta"], self.Ts, n["tauRho"], n["scaleRho"],
                                 keep_mask=keep_mask, golden=golden)
        return self.spike_stats(self.psp(a), keep_mask=keep_mask, golden=golden)

    def spike(self, membranePotential: torch.Tensor) -> torch.Tensor:  # noqa: N803
        """Spikes (value ``1/Ts``) of a membrane potential, with refractory response."""
        n = self.neuron
        return fn.spike(membranePotential, n["theta"], self.refKernel, self.Ts, n["tauRho"], n["scaleRho"])

    def spike_stats(self, membranePotential: torch.Tensor, keep_mask: bool = False,  # noqa: N803
                    golden: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
        """Spikes with their count, firing mask and comparison with ``golden`` computed in
        the same pass (see :func:`spikefi.snn.functional.spike_stats`)."""
        n = self.neuron
        return fn.spike_stats(membranePotential, n["theta"], self.refKernel, self.Ts, n["tauRho"], n["scaleRho"],
                              keep_mask=keep_mask, golden=golden)

    def spike_with_potential(self, membranePotential: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: N803
        """``(spikes, u_after)``: spikes and the refractory-updated membrane potential."""
        n = self.neuron
        return fn.spike_with_potential(
            membranePotential, n["theta"], self.refKernel, self.Ts, n["tauRho"], n["scaleRho"]
        )

    # -- synaptic layers -------------------------------------------------------------
    def dense(
        self,
        inFeatures: int | tuple[int, ...],  # noqa: N803
        outFeatures: int,  # noqa: N803
        weightScale: float = 10,  # noqa: N803
        preHookFx: WeightHook | None = None,  # noqa: N803
    ) -> DenseLayer:
        """Fully connected synapses (weights ``(out, C, H, W, 1)``), scaled by ``weightScale``."""
        return DenseLayer(inFeatures, outFeatures, weightScale, preHookFx)

    def conv(
        self,
        inFeatures: int,  # noqa: N803
        outFeatures: int,  # noqa: N803
        kernelSize: int | tuple[int, int],  # noqa: N803
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        weightScale: float = 100,  # noqa: N803
        preHookFx: WeightHook | None = None,  # noqa: N803
    ) -> ConvLayer:
        """2-D convolution synapses (weights ``(out, in, kh, kw, 1)``)."""
        return ConvLayer(
            inFeatures, outFeatures, kernelSize, stride, padding, dilation, groups,
            weightScale, preHookFx,
        )

    def pool(
        self,
        kernelSize: int | tuple[int, int],  # noqa: N803
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        preHookFx: WeightHook | None = None,  # noqa: N803
    ) -> PoolLayer:
        """Sum pooling with weight ``1.1 * theta``."""
        return PoolLayer(self.neuron["theta"], kernelSize, stride, padding, dilation, preHookFx)

    def dropout(self, p: float = 0.5, inplace: bool = False) -> DropoutLayer:
        """Dropout of whole neurons."""
        if not 0 <= p <= 1:
            raise ConfigError(f"dropout probability must be in [0, 1], got {p!r}")
        return DropoutLayer(p, inplace)

    def delay(self, inputSize: int | tuple[int, int, int]) -> DelayLayer:  # noqa: N803
        """A learnable axonal delay per neuron."""
        return DelayLayer(inputSize, self.Ts)

    def delayShift(self, input: torch.Tensor, delay: float | torch.Tensor, Ts: float = 1) -> torch.Tensor:  # noqa: N802, N803, A002
        """Shifts ``input`` later in time by ``delay`` (same units as ``Ts``)."""
        return fn.delay_shift(input, delay, Ts)

    def pspLayer(self) -> PspLayer:  # noqa: N802
        """The psp as a layer whose temporal filter (initialised to the SRM kernel) is learnable."""
        return PspLayer(self.srmKernel, self.Ts)

    def pspFilter(self, nFilter: int, filterLength: int, filterScale: float = 1) -> PspFilter:  # noqa: N802, N803
        """``nFilter`` learnable causal temporal filters of ``filterLength`` taps (see :class:`PspFilter`)."""
        return PspFilter(nFilter, filterLength, self.Ts, filterScale)

    def replicateInTime(self, input: torch.Tensor, mode: str = "nearest") -> torch.Tensor:  # noqa: N802, A002
        """Repeat a static input ``(N, C, H, W)`` over the ``T = tSample / Ts`` time bins.

        Args:
            input: The static tensor.
            mode: ``"nearest"`` (the only mode: every bin gets the same value).

        Returns:
            ``(N, C, H, W, T)``.

        Raises:
            ConfigError: If ``mode`` is not ``"nearest"``.
            ShapeError: If ``input`` is not 4-D.
        """
        if mode != "nearest":
            raise ConfigError(f"replicateInTime supports mode='nearest' only, got {mode!r}")
        if not isinstance(input, torch.Tensor) or input.dim() != 4:
            shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input).__name__
            raise ShapeError(f"replicateInTime needs a 4-D tensor (N, C, H, W), got {shape}")
        return input.unsqueeze(-1).expand(*input.shape, self.T).contiguous()

    def extra_repr(self) -> str:
        n = self.neuron
        return (
            f"theta={n['theta']}, tauSr={n['tauSr']}, tauRef={n['tauRef']}, "
            f"scaleRef={n['scaleRef']}, Ts={self.Ts:g}, T={self.T}"
        )
