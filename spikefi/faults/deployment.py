"""Deployment formats: the network as a chip stores and computes it.

A :class:`DeploymentFormat` says how a SLAYER network is deployed:

* **weights** (:class:`WeightFormat`): integer codes of 2 to 16 bits, signed (two's
  complement) or unsigned (with a zero point), one scale per layer (= per weight tensor:
  a SLAYER layer holds one) or per output channel, the scale a float or a power of two, a
  rounding mode; ``layers`` overrides the format of single layers (bits per layer).
* **neuron state** (:class:`FixedPoint` formats) of SLAYER's SRM neuron. The neuron has no
  recurrent decay: its membrane potential is the post-synaptic potential (the synaptic
  input filtered by the SRM kernel, a FIR filter of ``len(srmKernel)`` taps) plus the
  refractory response (the refractory kernel's taps, added after each spike). A chip stores
  the SRM kernel taps (``psp_kernel``: the neuron's decay factors), the membrane register
  (``membrane``; the refractory taps are added to it, so they are stored in its format) and
  the threshold (``threshold``, default: the membrane format). ``tauRho``/``scaleRho`` only
  shape the surrogate gradient of training: nothing on a chip.

The deployed neuron computes, per neuron and time step ``t``::

    a[t]   = sum_i w_q[i] * s_i[t]                      (exact: wide accumulator)
    P[t]   = Q_membrane_round(Ts * sum_k a[t-k] * K_q[k])   (K_q: psp_kernel taps)
    v[t]   = overflow_membrane(P[t] + sum_{spikes at t' < t} R_q[t - t'])
    spike at t  <=>  v[t] >= theta_q

``Q_round`` rounds to the format's grid (``2**-frac_bits``) with its rounding mode and
``overflow`` saturates (clamps) or wraps (two's complement) to its range. Every value is a
multiple of a power of two, so float64 computes this exactly for the widths allowed here
(see docs/faults.md, "Deployment formats"). The synaptic accumulator is not narrowed; pooling
layers keep their fixed weight ``1.1 * theta`` (not stored weights).

Example:
    >>> fmt = DeploymentFormat.from_spec({"weights": {"bits": 4, "scale": "channel"},
    ...                                   "membrane": {"int_bits": 7, "frac_bits": 4}})
    >>> fmt.weight_format("SF4").bits, fmt.threshold_format().describe()
    (4, 'Q7.4 signed (12 bits), nearest_even, saturate')
    >>> FixedPoint(3, 2).quantize(torch.tensor([1.13, 9.0, -9.0])).tolist()
    [1.25, 7.75, -8.0]
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from ..errors import DeploymentFormatError
from .quantization import QuantParams

__all__ = [
    "ROUNDING_MODES",
    "OVERFLOW_MODES",
    "SCALE_GRANULARITIES",
    "SCALE_TYPES",
    "NAMED_FORMATS",
    "FixedPoint",
    "WeightFormat",
    "DeploymentFormat",
    "DeployedQuantParams",
    "round_mode",
    "is_deployment_spec",
    "weight_qparams",
    "quantize_weight",
    "describe_quantization_option",
]

#: rounding modes of weights and fixed-point values
ROUNDING_MODES: tuple[str, ...] = ("nearest_even", "nearest_away", "floor", "toward_zero")
#: what a fixed-point register does with a value outside its range
OVERFLOW_MODES: tuple[str, ...] = ("saturate", "wrap")
#: one weight scale per layer (= per weight tensor; ``tensor`` is read as ``layer``) or per output channel
SCALE_GRANULARITIES: tuple[str, ...] = ("layer", "channel")
#: a float scale (rounded up to float32) or a power of two (a shift on a chip)
SCALE_TYPES: tuple[str, ...] = ("float", "power_of_two")
#: named formats of real chips; each needs a cited source for every width it states. None is
#: given: the chips we could cite run other neuron models (e.g. Loihi's CUBA neuron with two
#: decays) than SLAYER's SRM kernels, so their widths would not describe this computation.
NAMED_FORMATS: dict[str, dict[str, Any]] = {}

_WEIGHT_KEYS = ("bits", "signed", "scale", "scale_type", "symmetric", "rounding")
_FIXED_KEYS = ("int_bits", "frac_bits", "signed", "rounding", "overflow")
_FORMAT_KEYS = ("name", "weights", "layers", "membrane", "threshold", "psp_kernel")
_MAX_FIXED_BITS = 32


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise DeploymentFormatError(f"{what} must be an int in [{low}, {high}], got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise DeploymentFormatError(f"{what} must be an int in [{low}, {high}], got {value!r}") from None
    if not low <= v <= high:
        raise DeploymentFormatError(f"{what} must be an int in [{low}, {high}], got {v}")
    return int(v)


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise DeploymentFormatError(f"{what} must be true or false, got {value!r}")
    return bool(value)


def _choice(value: Any, what: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise DeploymentFormatError(f"{what} {value!r} is not supported; allowed: {list(allowed)}")
    return value


def round_mode(x: torch.Tensor, mode: str) -> torch.Tensor:
    """``x`` rounded to integers (as floats) with ``mode`` (one of :data:`ROUNDING_MODES`).

    Example:
        >>> x = torch.tensor([2.5, -2.5, 1.7, -1.7])
        >>> [round_mode(x, m).tolist() for m in ROUNDING_MODES]
        [[2.0, -2.0, 2.0, -2.0], [3.0, -3.0, 2.0, -2.0], [2.0, -3.0, 1.0, -2.0], [2.0, -2.0, 1.0, -1.0]]
    """
    if mode == "nearest_even":
        return torch.round(x)
    if mode == "nearest_away":
        return torch.sign(x) * torch.floor(x.abs() + 0.5)
    if mode == "floor":
        return torch.floor(x)
    if mode == "toward_zero":
        return torch.trunc(x)
    raise DeploymentFormatError(f"rounding {mode!r} is not supported; allowed: {list(ROUNDING_MODES)}")


# ---------------------------------------------------------------------------------
# fixed point


@dataclass(frozen=True)
class FixedPoint:
    """A fixed-point format ``Q<int_bits>.<frac_bits>``: values ``n * 2**-frac_bits`` with an
    integer ``n`` of ``int_bits + frac_bits (+ 1 sign bit)`` bits.

    Args:
        int_bits: integer bits (without the sign bit), ``>= 0``.
        frac_bits: fraction bits, ``>= 0``; the step is ``2**-frac_bits``.
        signed: two's complement (range ``[-2**int_bits, 2**int_bits - step]``) or unsigned
            (``[0, 2**int_bits - step]``).
        rounding: one of :data:`ROUNDING_MODES`.
        overflow: ``saturate`` (clamp to the range) or ``wrap`` (two's complement wrap-around).

    The total width is 2 to 32 bits.

    Raises:
        DeploymentFormatError: a width, rounding or overflow outside what is allowed.
    """

    int_bits: int
    frac_bits: int
    signed: bool = True
    rounding: str = "nearest_even"
    overflow: str = "saturate"

    def __post_init__(self) -> None:
        object.__setattr__(self, "int_bits", _int(self.int_bits, "int_bits", 0, _MAX_FIXED_BITS))
        object.__setattr__(self, "frac_bits", _int(self.frac_bits, "frac_bits", 0, _MAX_FIXED_BITS))
        object.__setattr__(self, "signed", _bool(self.signed, "signed"))
        _choice(self.rounding, "rounding", ROUNDING_MODES)
        _choice(self.overflow, "overflow", OVERFLOW_MODES)
        if not 2 <= self.bits <= _MAX_FIXED_BITS:
            raise DeploymentFormatError(
                f"fixed-point width int_bits + frac_bits{' + 1 sign bit' if self.signed else ''} = {self.bits} "
                f"bits (int_bits={self.int_bits}, frac_bits={self.frac_bits}); allowed: 2 to {_MAX_FIXED_BITS} bits")

    @classmethod
    def from_spec(cls, spec: Any, what: str = "fixed-point format") -> FixedPoint:
        """A format from ``{int_bits, frac_bits, signed, rounding, overflow}`` (or a FixedPoint)."""
        if isinstance(spec, FixedPoint):
            return spec
        if not isinstance(spec, Mapping):
            raise DeploymentFormatError(f"{what} must be a mapping such as {{int_bits: 7, frac_bits: 8}}, got {spec!r}")
        unknown = sorted(set(spec) - set(_FIXED_KEYS))
        if unknown:
            raise DeploymentFormatError(f"unknown {what} key(s) {unknown}; allowed: {list(_FIXED_KEYS)}")
        missing = [k for k in ("int_bits", "frac_bits") if k not in spec]
        if missing:
            raise DeploymentFormatError(f"{what} needs {missing} (e.g. {{int_bits: 7, frac_bits: 8}})")
        return cls(**dict(spec))

    def to_spec(self) -> dict[str, Any]:
        return {"int_bits": self.int_bits, "frac_bits": self.frac_bits, "signed": self.signed,
                "rounding": self.rounding, "overflow": self.overflow}

    @property
    def bits(self) -> int:
        """Total width in bits."""
        return self.int_bits + self.frac_bits + (1 if self.signed else 0)

    @property
    def step(self) -> float:
        """The value of one least significant bit, ``2**-frac_bits``."""
        return math.ldexp(1.0, -self.frac_bits)

    @property
    def nmin(self) -> int:
        """Smallest stored integer."""
        return -(1 << (self.int_bits + self.frac_bits)) if self.signed else 0

    @property
    def nmax(self) -> int:
        """Largest stored integer."""
        return (1 << (self.int_bits + self.frac_bits)) - 1

    @property
    def min(self) -> float:
        return self.nmin * self.step

    @property
    def max(self) -> float:
        return self.nmax * self.step

    def describe(self) -> str:
        """In words, e.g. ``Q7.8 signed (16 bits), nearest_even, saturate``."""
        return (f"Q{self.int_bits}.{self.frac_bits} {'signed' if self.signed else 'unsigned'} ({self.bits} bits), "
                f"{self.rounding}, {self.overflow}")

    def overflow_codes(self, n: torch.Tensor) -> torch.Tensor:
        """Stored integers ``n`` (as floats) brought into range by the overflow mode."""
        if self.overflow == "saturate":
            return n.clamp(self.nmin, self.nmax)
        span = float(1 << self.bits)
        return torch.remainder(n - self.nmin, span) + self.nmin

    def round_to_grid(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` rounded to the grid (no overflow handling), same dtype."""
        return round_mode(x * (1 << self.frac_bits), self.rounding) * self.step

    def apply_overflow(self, x: torch.Tensor) -> torch.Tensor:
        """Values on the grid brought into the range (saturated or wrapped), same dtype."""
        return self.overflow_codes(x * (1 << self.frac_bits)) * self.step

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` stored in this format and read back: rounded, then saturated or wrapped."""
        return self.overflow_codes(round_mode(x * (1 << self.frac_bits), self.rounding)) * self.step


# ---------------------------------------------------------------------------------
# weights


@dataclass(frozen=True)
class WeightFormat:
    """How a layer's weights are stored: ``bits``-bit integer codes ``q`` read back as
    ``(q - zero_point) * scale``.

    Args:
        bits: code width, 2 to 16.
        signed: two's complement codes (``[-2**(bits-1), 2**(bits-1) - 1]``) or unsigned
            (``[0, 2**bits - 1]``, with a zero point).
        scale: ``layer`` (one scale per weight tensor; ``tensor`` means the same) or
            ``channel`` (one per output channel).
        scale_type: ``float`` (rounded up to a float32 value) or ``power_of_two`` (the
            smallest power of two that covers the range: a shift on a chip).
        symmetric: symmetric range (zero point 0 for signed codes, ``2**(bits-1)`` for
            unsigned) or affine (the range ``[min(w, 0), max(w, 0)]`` onto the codes).
        rounding: one of :data:`ROUNDING_MODES` (for ``w / scale``).
    """

    bits: int = 8
    signed: bool = True
    scale: str = "layer"
    scale_type: str = "float"
    symmetric: bool = True
    rounding: str = "nearest_even"

    def __post_init__(self) -> None:
        object.__setattr__(self, "bits", _int(self.bits, "weight bits", 2, 16))
        object.__setattr__(self, "signed", _bool(self.signed, "weight signed"))
        scale = "layer" if self.scale == "tensor" else self.scale
        object.__setattr__(self, "scale", _choice(scale, "weight scale", SCALE_GRANULARITIES + ("tensor",)))
        _choice(self.scale_type, "weight scale_type", SCALE_TYPES)
        object.__setattr__(self, "symmetric", _bool(self.symmetric, "weight symmetric"))
        _choice(self.rounding, "weight rounding", ROUNDING_MODES)

    @classmethod
    def from_spec(cls, spec: Any, base: WeightFormat | None = None, what: str = "weights") -> WeightFormat:
        """A format from ``{bits, signed, scale, scale_type, symmetric, rounding}``; keys not
        given come from ``base`` (or the defaults)."""
        if isinstance(spec, WeightFormat):
            return spec
        if not isinstance(spec, Mapping):
            raise DeploymentFormatError(f"{what} must be a mapping such as {{bits: 8}}, got {spec!r}")
        unknown = sorted(set(spec) - set(_WEIGHT_KEYS))
        if unknown:
            raise DeploymentFormatError(f"unknown {what} key(s) {unknown}; allowed: {list(_WEIGHT_KEYS)}")
        return replace(base, **dict(spec)) if base is not None else cls(**dict(spec))

    def to_spec(self) -> dict[str, Any]:
        return {"bits": self.bits, "signed": self.signed, "scale": self.scale, "scale_type": self.scale_type,
                "symmetric": self.symmetric, "rounding": self.rounding}

    @property
    def dtype(self) -> str:
        """``int4``, ``uint12``, ...: the code type's name."""
        return f"{'' if self.signed else 'u'}int{self.bits}"

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def describe(self) -> str:
        """In words, e.g. ``int4 codes, per-channel float scale, symmetric, nearest_even``."""
        kind = "power-of-two" if self.scale_type == "power_of_two" else "float"
        return (f"{self.dtype} codes, per-{self.scale} {kind} scale, "
                f"{'symmetric' if self.symmetric else 'affine'}, {self.rounding}")


class DeployedQuantParams(QuantParams):
    """:class:`~spikefi.faults.quantization.QuantParams` of a :class:`WeightFormat`: any code
    width of 2 to 16 bits, and a scale and zero point that are numbers (per layer) or float64
    tensors broadcastable to the weight (per channel: shape ``(out, 1, 1, 1, 1)``) or to the
    codes of some sites (:meth:`at_sites`). The quantization helpers (``dequantize``,
    ``flip_bits_int``) and the bit-level fault models use it as they use the int8 one."""

    def __init__(self, dtype: str, scale: Any, zero_point: Any, bits: int, signed: bool) -> None:
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zero_point)
        object.__setattr__(self, "_bits", int(bits))
        object.__setattr__(self, "_signed", bool(signed))

    @property
    def bits(self) -> int:
        return self._bits  # type: ignore[attr-defined, no-any-return]

    @property
    def signed(self) -> bool:
        return self._signed  # type: ignore[attr-defined, no-any-return]

    @property
    def per_channel(self) -> bool:
        return isinstance(self.scale, torch.Tensor)

    def at_sites(self, index: tuple[torch.Tensor, ...]) -> DeployedQuantParams:
        """The parameters of the weights at ``index`` (a tuple of index tensors whose first is
        the output channel), in site order: per-channel scales become one per site."""
        if not self.per_channel:
            return self
        ch = index[0]
        scale = self.scale.to(ch.device).reshape(-1)[ch]
        zp = self.zero_point
        zp = zp.to(ch.device).reshape(-1)[ch] if isinstance(zp, torch.Tensor) else zp
        return DeployedQuantParams(self.dtype, scale, zp, self.bits, self.signed)

    def __repr__(self) -> str:
        kind = "per-channel" if self.per_channel else f"scale={self.scale!r}, zero_point={self.zero_point!r}"
        return f"DeployedQuantParams({self.dtype}, {kind})"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def _float32_up(scale: np.ndarray) -> np.ndarray:
    s32 = scale.astype(np.float32)
    low = s32.astype(np.float64) < scale
    s32[low] = np.nextafter(s32[low], np.float32(np.inf))
    return s32.astype(np.float64)


def _scales(lo: np.ndarray, hi: np.ndarray, fmt: WeightFormat) -> tuple[np.ndarray, np.ndarray]:
    """Scales and zero points (float64, int64 arrays) for value ranges ``[lo, hi]`` (per group)."""
    qmin, qmax = fmt.qmin, fmt.qmax
    if fmt.symmetric:
        zp0 = 0 if fmt.signed else 1 << (fmt.bits - 1)
        amax = np.maximum(np.abs(lo), np.abs(hi))
        scale = np.where(amax > 0, amax / max(qmax - zp0, 1), 1.0)
        zero = np.full(scale.shape, zp0, dtype=np.int64)
    else:
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
        span = qmax - qmin
        scale = np.where(hi > lo, hi / span - lo / span, 1.0)
        zero = None
    if fmt.scale_type == "power_of_two":
        scale = np.exp2(np.ceil(np.log2(scale)))
    else:
        scale = _float32_up(scale)
    if zero is None:
        zero = np.clip(qmin - np.round(lo / scale), qmin, qmax).astype(np.int64)
    return scale, zero


def weight_qparams(weight: torch.Tensor, fmt: WeightFormat) -> DeployedQuantParams:
    """The scale(s) and zero point(s) that store ``weight`` (``(out, ...)``) in ``fmt``."""
    w = weight.detach().to(torch.float64).cpu()
    if not bool(torch.isfinite(w).all()):
        raise DeploymentFormatError("the weights hold NaN or Inf; a deployment format needs finite weights")
    if fmt.scale == "channel":
        flat = w.reshape(w.shape[0], -1)
        lo, hi = flat.min(dim=1).values.numpy(), flat.max(dim=1).values.numpy()
    else:
        lo, hi = np.array([float(w.min())]), np.array([float(w.max())])
    scale, zero = _scales(lo, hi, fmt)
    if fmt.scale == "channel":
        shape = (-1,) + (1,) * (w.dim() - 1)
        zp: Any = torch.from_numpy(zero).reshape(shape) if fmt.symmetric is False else int(zero[0])
        return DeployedQuantParams(fmt.dtype, torch.from_numpy(scale).reshape(shape), zp, fmt.bits, fmt.signed)
    return DeployedQuantParams(fmt.dtype, float(scale[0]), int(zero[0]), fmt.bits, fmt.signed)


def quantize_weight(weight: torch.Tensor, qp: DeployedQuantParams, rounding: str) -> torch.Tensor:
    """``int64`` codes ``clamp(round(w / scale) + zero_point, qmin, qmax)`` of ``weight``."""
    w = weight.detach().to(torch.float64)
    scale = qp.scale.to(w.device) if isinstance(qp.scale, torch.Tensor) else qp.scale
    zp = qp.zero_point.to(w.device) if isinstance(qp.zero_point, torch.Tensor) else qp.zero_point
    return (round_mode(w / scale, rounding) + zp).clamp(qp.qmin, qp.qmax).to(torch.int64)


# ---------------------------------------------------------------------------------
# the whole format


def is_deployment_spec(spec: Any) -> bool:
    """Whether a ``quantization`` option is a deployment format (a :class:`DeploymentFormat`
    or a mapping with deployment keys) rather than the per-tensor ``{dtype, symmetric}`` one."""
    if isinstance(spec, DeploymentFormat):
        return True
    return isinstance(spec, Mapping) and bool(spec) and "dtype" not in spec and not set(spec) <= {"symmetric"}


@dataclass(frozen=True)
class DeploymentFormat:
    """A network's deployment: weight codes (network-wide with per-layer overrides) and the
    fixed-point formats of the SRM neuron's state (module docstring).

    Args:
        weights: the default weight format (``None``: float weights).
        layers: per-layer weight formats (overrides of ``weights``).
        membrane: the membrane register's format (also that of the refractory taps).
        threshold: the threshold's format (default: ``membrane``'s).
        psp_kernel: the SRM kernel taps' format (the neuron's decay factors).
        name: a label (free text) shown in reports.

    Build one from YAML-style data with :meth:`from_spec`.
    """

    weights: WeightFormat | None = None
    layers: Mapping[str, WeightFormat] = field(default_factory=dict)
    membrane: FixedPoint | None = None
    threshold: FixedPoint | None = None
    psp_kernel: FixedPoint | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.weights is not None and not isinstance(self.weights, WeightFormat):
            raise DeploymentFormatError(f"weights must be a WeightFormat, got {self.weights!r}")
        if not isinstance(self.layers, Mapping) or not all(
                isinstance(k, str) and isinstance(v, WeightFormat) for k, v in self.layers.items()):
            raise DeploymentFormatError(f"layers must map layer names to WeightFormat, got {self.layers!r}")
        for key in ("membrane", "threshold", "psp_kernel"):
            v = getattr(self, key)
            if v is not None and not isinstance(v, FixedPoint):
                raise DeploymentFormatError(f"{key} must be a FixedPoint, got {v!r}")
        if self.name is not None and not isinstance(self.name, str):
            raise DeploymentFormatError(f"name must be a string, got {self.name!r}")
        if self.weights is None and not self.layers and not self.has_neuron_formats:
            raise DeploymentFormatError("a deployment format needs weights, layers, membrane, threshold or psp_kernel")

    @classmethod
    def from_spec(cls, spec: Any) -> DeploymentFormat:
        """A format from a mapping (the ``quantization:`` option of a campaign config)::

            {name: edge-4bit,
             weights: {bits: 4, signed: true, scale: channel, scale_type: float, symmetric: true,
                       rounding: nearest_even},
             layers: {SF4b: {bits: 8}},          # per-layer overrides of weights
             membrane: {int_bits: 7, frac_bits: 8, signed: true, rounding: floor, overflow: saturate},
             threshold: {int_bits: 7, frac_bits: 8},
             psp_kernel: {int_bits: 1, frac_bits: 8, signed: false}}

        Raises:
            DeploymentFormatError: an unknown key or a bad value (naming it and what is allowed).
        """
        if isinstance(spec, DeploymentFormat):
            return spec
        if not isinstance(spec, Mapping):
            raise DeploymentFormatError(f"a deployment format must be a mapping (weights, layers, membrane, threshold, "
                                        f"psp_kernel, name), got {spec!r}")
        unknown = sorted(set(spec) - set(_FORMAT_KEYS))
        if unknown:
            raise DeploymentFormatError(f"unknown deployment format key(s) {unknown}; allowed: {list(_FORMAT_KEYS)} "
                                        "(or the per-tensor form {dtype: int8, symmetric: false})")
        weights = None if spec.get("weights") is None else WeightFormat.from_spec(spec["weights"])
        layers_spec = spec.get("layers") or {}
        if not isinstance(layers_spec, Mapping):
            raise DeploymentFormatError(f"layers must map layer names to weight formats, got {layers_spec!r}")
        layers = {}
        for name, v in layers_spec.items():
            if not isinstance(name, str):
                raise DeploymentFormatError(f"layers keys must be layer names, got {name!r}")
            layers[name] = WeightFormat.from_spec(v, weights or WeightFormat(), what=f"layers.{name}")
        fixed = {k: None if spec.get(k) is None else FixedPoint.from_spec(spec[k], k)
                 for k in ("membrane", "threshold", "psp_kernel")}
        return cls(weights=weights, layers=layers, name=spec.get("name"), **fixed)

    def to_spec(self) -> dict[str, Any]:
        """Plain data that :meth:`from_spec` reads back (JSON/YAML-safe)."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        if self.weights is not None:
            out["weights"] = self.weights.to_spec()
        if self.layers:
            out["layers"] = {k: v.to_spec() for k, v in self.layers.items()}
        for key in ("membrane", "threshold", "psp_kernel"):
            v = getattr(self, key)
            if v is not None:
                out[key] = v.to_spec()
        return out

    @property
    def has_neuron_formats(self) -> bool:
        return any(getattr(self, k) is not None for k in ("membrane", "threshold", "psp_kernel"))

    def weight_format(self, layer: str) -> WeightFormat | None:
        """The weight format of ``layer`` (``None``: float weights)."""
        return self.layers.get(layer, self.weights)

    def threshold_format(self) -> FixedPoint | None:
        return self.threshold if self.threshold is not None else self.membrane

    def describe(self) -> dict[str, str]:
        """The format in plain words, one entry per part (``weights``, ``layers``, ``membrane``,
        ``threshold``, ``psp_kernel``): the params that compare formats across runs."""
        thr = self.threshold_format()
        return {
            "weights": self.weights.describe() if self.weights is not None else "float (not quantized)",
            "layers": "; ".join(f"{k}: {v.describe()}" for k, v in self.layers.items()) or "none",
            "membrane": self.membrane.describe() if self.membrane is not None else "float (not quantized)",
            "threshold": thr.describe() if thr is not None else "float (not quantized)",
            "psp_kernel": self.psp_kernel.describe() if self.psp_kernel is not None else "float (not quantized)",
        }

    def check_layers(self, names: list[str], synaptic: list[str]) -> None:
        """Refuses per-layer formats for unknown or non-synaptic layers."""
        for name in self.layers:
            if name not in names:
                raise DeploymentFormatError(f"layers names unknown layer {name!r}; layers: {names}")
            if name not in synaptic:
                raise DeploymentFormatError(f"layer {name!r} has no stored weights (pooling); layers with weights: "
                                            f"{synaptic}")


def describe_quantization_option(quantization: Any) -> dict[str, str]:
    """A campaign's ``quantization`` option in plain words, one entry per part of the
    deployment (``weights``, ``layers``, ``membrane``, ``threshold``, ``psp_kernel``), for the
    per-tensor form (``{dtype: int8, symmetric: false}``) and deployment formats alike, so
    that runs of either kind compare in MLflow. ``None``: every part is float."""
    if not quantization:
        return {"weights": "float (not quantized)", "layers": "none", "membrane": "float (not quantized)",
                "threshold": "float (not quantized)", "psp_kernel": "float (not quantized)"}
    if is_deployment_spec(quantization):
        return DeploymentFormat.from_spec(quantization).describe()
    q = dict(quantization)
    kind = "symmetric" if q.get("symmetric") else "affine"
    words = describe_quantization_option(None)
    words["weights"] = f"{q.get('dtype', 'int8')} codes, per-layer float scale, {kind}, nearest_even"
    return words
