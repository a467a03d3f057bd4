"""Affine integer quantization of weights and bit flips in stored weight encodings.

Two storage formats are modelled:

* **Quantized integers** (``int8``, ``uint8``, ``int32``): a real weight ``w`` is stored
  as the integer code ``q = clamp(round(w / scale) + zero_point, qmin, qmax)`` and read
  back as ``(q - zero_point) * scale``. Signed codes are stored in two's complement.
  :func:`flip_bits_int` flips bits of that stored pattern.
* **IEEE-754 binary32 floats**: :func:`flip_bits_float32` flips bits of the 32-bit
  pattern (bits 0-22 mantissa, 23-30 exponent, 31 sign).

Exactness of bit-flip deltas: for a quantized ("golden") weight, flipping a non-sign
bit ``b`` of its code changes the dequantized value by exactly ``+2**b * scale`` when the
bit was 0 and ``-2**b * scale`` when it was 1; flipping the sign bit of a signed code
changes it by ``-2**(bits-1) * scale`` (bit was 0) or ``+2**(bits-1) * scale`` (bit was
1). :func:`bit_flip_delta` returns that change. :func:`affine_params` rounds ``scale``
*up* to a float32-representable value, so for 8-bit codes the float64 dequantized
values (and their differences) are computed without rounding error.

Example:
    >>> import torch
    >>> qp = QuantParams("int8", scale=0.5, zero_point=0)
    >>> codes = quantize(torch.tensor([1.0, -0.5, 100.0]), qp)
    >>> codes.tolist()
    [2, -1, 127]
    >>> flip_bits_int(codes, 7, qp).tolist()   # sign bit, two's complement
    [-126, 127, -1]
    >>> dequantize(flip_bits_int(codes, 0, qp), qp).tolist()
    [1.5, -1.0, 63.0]
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import FaultSpecError

__all__ = [
    "QUANT_DTYPES",
    "QuantParams",
    "affine_params",
    "quantize",
    "dequantize",
    "fake_quantize",
    "flip_bits_int",
    "flip_bits_float32",
    "bit_flip_delta",
]

#: supported integer storage types: name -> (number of bits, signed)
_DTYPE_INFO: dict[str, tuple[int, bool]] = {"int8": (8, True), "uint8": (8, False), "int32": (32, True)}

#: names accepted as :attr:`QuantParams.dtype`
QUANT_DTYPES: tuple[str, ...] = tuple(_DTYPE_INFO)

_FLOAT32_BITS = 32


@dataclass(frozen=True)
class QuantParams:
    """Parameters of an affine (scale, zero point) integer quantization.

    Args:
        dtype: integer storage type, one of ``"int8"``, ``"uint8"``, ``"int32"``.
        scale: step between consecutive codes; a finite number ``> 0`` (stored as float).
        zero_point: the code that represents the real value 0; an int inside
            ``[qmin, qmax]`` of ``dtype``.

    Raises:
        FaultSpecError: an unknown dtype, a scale that is not a finite positive number,
            or a zero point that is not an int inside the dtype range.

    Example:
        >>> qp = QuantParams("uint8", scale=0.1, zero_point=128)
        >>> (qp.qmin, qp.qmax, qp.bits, qp.signed)
        (0, 255, 8, False)
        >>> QuantParams("int8", scale=1.0, zero_point=200)
        Traceback (most recent call last):
        ...
        spikefi.errors.FaultSpecError: zero_point 200 is outside the int8 range [-128, 127]
    """

    dtype: str
    scale: float
    zero_point: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.dtype, str) or self.dtype not in _DTYPE_INFO:
            raise FaultSpecError(
                f"quantization dtype {self.dtype!r} is not supported; allowed: {list(QUANT_DTYPES)}"
            )
        scale = self.scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
            raise FaultSpecError(
                f"scale must be a finite number > 0, got {scale!r} ({type(scale).__name__})"
            )
        scale = float(scale)
        if not (math.isfinite(scale) and scale > 0):
            raise FaultSpecError(f"scale must be a finite number > 0, got {scale!r}")
        object.__setattr__(self, "scale", scale)

        zp = self.zero_point
        if isinstance(zp, (bool, np.bool_)):
            raise FaultSpecError(f"zero_point must be an int, got {zp!r} (bool)")
        try:
            zp_int = operator.index(zp)
        except TypeError:
            raise FaultSpecError(
                f"zero_point must be an int inside the {self.dtype} range [{self.qmin}, {self.qmax}], "
                f"got {zp!r} ({type(zp).__name__})"
            ) from None
        if not self.qmin <= zp_int <= self.qmax:
            raise FaultSpecError(
                f"zero_point {zp_int} is outside the {self.dtype} range [{self.qmin}, {self.qmax}]"
            )
        object.__setattr__(self, "zero_point", int(zp_int))

    @property
    def bits(self) -> int:
        """Number of stored bits (8 for int8/uint8, 32 for int32)."""
        return _DTYPE_INFO[self.dtype][0]

    @property
    def signed(self) -> bool:
        """Whether codes are signed (stored in two's complement)."""
        return _DTYPE_INFO[self.dtype][1]

    @property
    def qmin(self) -> int:
        """Smallest code (``-2**(bits-1)`` for signed dtypes, 0 for uint8)."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        """Largest code (``2**(bits-1) - 1`` for signed dtypes, 255 for uint8)."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


# ---------------------------------------------------------------------------------
# validation helpers


def _check_qparams(qp: Any) -> QuantParams:
    if not isinstance(qp, QuantParams):
        raise FaultSpecError(f"qp must be a QuantParams, got {type(qp).__name__}")
    return qp


def _check_tensor(x: Any, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise FaultSpecError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def _check_real(w: Any, name: str) -> torch.Tensor:
    """A real (integer or floating, not bool/complex) tensor without NaN."""
    w = _check_tensor(w, name)
    if w.dtype == torch.bool or w.is_complex():
        raise FaultSpecError(f"{name} must hold real numbers, got dtype {w.dtype}")
    if w.is_floating_point() and w.numel() and bool(torch.isnan(w).any()):
        raise FaultSpecError(f"{name} contains NaN; cannot quantize NaN")
    return w


def _check_codes(codes: Any, qp: QuantParams, name: str = "codes") -> torch.Tensor:
    """An integer tensor whose values lie in ``[qp.qmin, qp.qmax]``."""
    codes = _check_tensor(codes, name)
    if codes.dtype == torch.bool or codes.is_floating_point() or codes.is_complex():
        raise FaultSpecError(f"{name} must be an integer tensor (e.g. torch.int64), got dtype {codes.dtype}")
    if codes.numel():
        lo, hi = int(codes.min()), int(codes.max())
        if lo < qp.qmin or hi > qp.qmax:
            bad = lo if lo < qp.qmin else hi
            raise FaultSpecError(
                f"{name} holds {bad}, outside the {qp.dtype} range [{qp.qmin}, {qp.qmax}]"
            )
    return codes


def _check_bits(bits: int | Iterable[int], nbits: int, what: str) -> tuple[int, ...]:
    """Normalises ``bits`` to a non-empty tuple of distinct ints in ``[0, nbits)``."""
    if isinstance(bits, (str, bytes)):
        raise FaultSpecError(f"bits must be an int or a sequence of ints, got {bits!r}")
    if isinstance(bits, Iterable) and not (isinstance(bits, torch.Tensor) and bits.dim() == 0):
        items = list(bits)
    else:
        items = [bits]
    if not items:
        raise FaultSpecError(f"bits must name at least one bit in [0, {nbits}) for {what}, got {bits!r}")
    out: list[int] = []
    for b in items:
        if isinstance(b, (bool, np.bool_)) or (isinstance(b, torch.Tensor) and b.dtype == torch.bool):
            raise FaultSpecError(f"bit {b!r} must be an int in [0, {nbits}) for {what}, got a bool")
        try:
            value = operator.index(b)
        except TypeError:
            raise FaultSpecError(
                f"bit {b!r} must be an int in [0, {nbits}) for {what}, got {type(b).__name__}"
            ) from None
        if not 0 <= value < nbits:
            raise FaultSpecError(f"bit {value} is outside the allowed range [0, {nbits}) for {what}")
        if value in out:
            raise FaultSpecError(
                f"bit {value} is listed more than once in {items!r}; give each bit in [0, {nbits}) "
                f"at most once for {what}"
            )
        out.append(value)
    return tuple(out)


def _mask(bits: Sequence[int]) -> int:
    mask = 0
    for b in bits:
        mask |= 1 << b
    return mask


def _flip_code(code: int, mask: int, qp: QuantParams) -> int:
    """Flips ``mask`` in the stored ``qp.bits``-bit pattern of one code (pure Python)."""
    n = qp.bits
    stored = (code & ((1 << n) - 1)) ^ mask
    if qp.signed and stored >= 1 << (n - 1):
        stored -= 1 << n
    return stored


def _float32_scale_up(scale: float) -> float:
    """The smallest float32-representable value ``>= scale`` (``scale`` itself outside float32's normal range)."""
    s32 = np.float32(scale)
    if not np.isfinite(s32) or abs(s32) < np.finfo(np.float32).tiny:
        return scale
    if float(s32) < scale:
        s32 = np.nextafter(s32, np.float32(np.inf))
    return float(s32)


# ---------------------------------------------------------------------------------
# quantization


def affine_params(w: torch.Tensor, dtype: str = "int8", symmetric: bool = False) -> QuantParams:
    """Computes quantization parameters that cover the values of ``w``.

    * asymmetric (default): the range ``[min(w, 0), max(w, 0)]`` (it always contains 0,
      so 0 is represented exactly) is mapped onto ``[qmin, qmax]``:
      ``scale = (hi - lo) / (qmax - qmin)``, ``zero_point = clamp(qmin - round(lo / scale),
      qmin, qmax)``.
    * symmetric: ``zero_point = 0`` for signed dtypes and ``128`` for uint8;
      ``scale = max|w| / (qmax - zero_point)`` (``max|w| / 127`` for int8 and uint8,
      ``max|w| / (2**31 - 1)`` for int32).

    ``scale`` is then rounded *up* to the nearest float32-representable number (as
    PyTorch observers store scales in float32; rounding up keeps every value of ``w``
    within ``scale / 2`` of a representable level). This also makes 8-bit dequantization
    exact in float64. An all-zero ``w`` gets ``scale = 1.0`` (any positive value would
    do; 1.0 keeps codes and values equal) with the zero point the formulas above give
    (``qmin`` for asymmetric, the symmetric zero point otherwise).

    Args:
        w: real tensor (floating or integer), non-empty, finite.
        dtype: ``"int8"``, ``"uint8"`` or ``"int32"``.
        symmetric: symmetric instead of asymmetric (affine) range.

    Returns:
        The validated :class:`QuantParams`.

    Raises:
        FaultSpecError: unknown dtype, empty ``w``, or ``w`` holding NaN or ±Inf.

    Example:
        >>> import torch
        >>> qp = affine_params(torch.tensor([-1.0, 0.5, 3.0]), "uint8")
        >>> qp.zero_point, round(qp.scale * 255, 6)
        (64, 4.0)
        >>> affine_params(torch.tensor([-2.54, 1.0]), "int8", symmetric=True).zero_point
        0
    """
    if not isinstance(dtype, str) or dtype not in _DTYPE_INFO:
        raise FaultSpecError(f"quantization dtype {dtype!r} is not supported; allowed: {list(QUANT_DTYPES)}")
    w = _check_real(w, "w")
    if w.numel() == 0:
        raise FaultSpecError("w is empty; cannot derive quantization parameters from no values")
    wd = w.detach().to(torch.float64)
    if not bool(torch.isfinite(wd).all()):
        raise FaultSpecError("w contains ±Inf; quantization parameters need finite values")
    nbits, signed = _DTYPE_INFO[dtype]
    qmin = -(1 << (nbits - 1)) if signed else 0
    qmax = (1 << (nbits - 1)) - 1 if signed else (1 << nbits) - 1

    if symmetric:
        zero_point = 0 if signed else 1 << (nbits - 1)
        amax = float(wd.abs().max())
        scale = amax / (qmax - zero_point) if amax > 0 else 1.0
        scale = _float32_scale_up(scale)
        if not math.isfinite(scale) or scale <= 0:
            raise FaultSpecError(f"max|w| = {amax!r} gives an unusable scale {scale!r}")
        return QuantParams(dtype, scale, zero_point)

    lo = min(float(wd.min()), 0.0)
    hi = max(float(wd.max()), 0.0)
    span = qmax - qmin
    scale = hi / span - lo / span if hi > lo else 1.0  # two divisions: no overflow of hi - lo
    scale = _float32_scale_up(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise FaultSpecError(f"the range [{lo!r}, {hi!r}] of w gives an unusable scale {scale!r}")
    zero_point = min(max(qmin - round(lo / scale), qmin), qmax)
    return QuantParams(dtype, scale, int(zero_point))


def quantize(w: torch.Tensor, qp: QuantParams) -> torch.Tensor:
    """Quantizes ``w`` to integer codes ``clamp(round(w / scale) + zero_point, qmin, qmax)``.

    The division is done in float64; ``torch.round`` rounds halves to even. ±Inf saturate
    to ``qmax`` / ``qmin``.

    Args:
        w: real tensor (floating or integer) on any device.
        qp: the quantization parameters.

    Returns:
        ``torch.int64`` codes of ``w``'s shape and device.

    Raises:
        FaultSpecError: ``w`` is not a real tensor or contains NaN; ``qp`` is not a QuantParams.

    Example:
        >>> import torch
        >>> quantize(torch.tensor([0.5, 1.5, 2.5, -7.0]), QuantParams("int8", 1.0, 0)).tolist()
        [0, 2, 2, -7]
        >>> quantize(torch.tensor([-1.0, 300.0]), QuantParams("uint8", 1.0, 0)).tolist()
        [0, 255]
    """
    qp = _check_qparams(qp)
    w = _check_real(w, "w")
    q = torch.round(w.to(torch.float64) / qp.scale) + qp.zero_point
    return q.clamp(qp.qmin, qp.qmax).to(torch.int64)


def dequantize(codes: torch.Tensor, qp: QuantParams, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Maps integer codes back to real values ``(codes - zero_point) * scale``.

    The value is computed in float64 and then cast to ``dtype``.

    Args:
        codes: integer tensor with values in ``[qp.qmin, qp.qmax]``.
        qp: the quantization parameters.
        dtype: a floating torch dtype for the result.

    Returns:
        A tensor of ``dtype`` with the shape and device of ``codes``.

    Raises:
        FaultSpecError: ``codes`` not an integer tensor or out of range, ``dtype`` not floating.

    Example:
        >>> import torch
        >>> qp = QuantParams("uint8", 0.25, 128)
        >>> dequantize(torch.tensor([128, 132, 0]), qp).tolist()
        [0.0, 1.0, -32.0]
    """
    qp = _check_qparams(qp)
    codes = _check_codes(codes, qp)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise FaultSpecError(
            f"dtype must be a floating torch dtype (e.g. torch.float32, torch.float64), got {dtype!r}"
        )
    return dequantize_codes(codes, qp, dtype)


def dequantize_codes(codes: torch.Tensor, qp: QuantParams, dtype: torch.dtype) -> torch.Tensor:
    """:func:`dequantize` without its checks, for codes in range by construction (the
    library's own quantization, bit operations on such codes): the range check reads the
    codes back, a device synchronisation per call on a GPU. Not exported."""
    return ((codes.to(torch.float64) - qp.zero_point) * qp.scale).to(dtype)


def fake_quantize(w: torch.Tensor, qp: QuantParams) -> torch.Tensor:
    """``dequantize(quantize(w))`` in ``w``'s dtype: ``w`` snapped to the quantization grid.

    The operation is idempotent whenever ``w``'s dtype represents the grid values closely
    enough to quantize them back to the same codes: always for 8-bit dtypes with
    float16/float32/float64 ``w``; for int32 with float64 ``w`` (float32 cannot hold 32-bit
    code differences exactly).

    Args:
        w: floating tensor.
        qp: the quantization parameters.

    Returns:
        A tensor of ``w``'s dtype, shape and device.

    Raises:
        FaultSpecError: ``w`` not floating or containing NaN.

    Example:
        >>> import torch
        >>> fake_quantize(torch.tensor([0.26, -0.1, 9.0]), QuantParams("int8", 0.5, 0)).tolist()
        [0.5, 0.0, 9.0]
    """
    w = _check_tensor(w, "w")
    if not w.is_floating_point():
        raise FaultSpecError(f"fake_quantize needs a floating tensor, got dtype {w.dtype}")
    return dequantize(quantize(w, qp), qp, dtype=w.dtype)


# ---------------------------------------------------------------------------------
# bit flips


def flip_bits_int(codes: torch.Tensor, bits: int | Sequence[int], qp: QuantParams) -> torch.Tensor:
    """Flips bit positions of each code's stored ``qp.bits``-bit representation.

    Signed codes are stored in two's complement (bit ``qp.bits - 1`` is the sign bit),
    uint8 codes as plain unsigned integers. All listed bits are flipped at once, which
    equals flipping them one after the other; flipping the same bits twice restores the
    codes.

    Args:
        codes: integer tensor with values in ``[qp.qmin, qp.qmax]``.
        bits: one bit index or a sequence of distinct bit indices in ``[0, qp.bits)``.
        qp: the quantization parameters.

    Returns:
        New ``torch.int64`` codes, still inside ``[qp.qmin, qp.qmax]``.

    Raises:
        FaultSpecError: a bit outside ``[0, qp.bits)``, a repeated bit, no bits, or codes
            out of range.

    Example:
        >>> import torch
        >>> qp = QuantParams("int8", 1.0, 0)
        >>> flip_bits_int(torch.tensor([1, -128, 127]), [0, 7], qp).tolist()
        [-128, 1, -2]
        >>> flip_bits_int(torch.tensor([0]), 8, qp)
        Traceback (most recent call last):
        ...
        spikefi.errors.FaultSpecError: bit 8 is outside the allowed range [0, 8) for int8 codes
    """
    qp = _check_qparams(qp)
    flips = _check_bits(bits, qp.bits, f"{qp.dtype} codes")
    return flip_codes(_check_codes(codes, qp), flips, qp)


def flip_codes(codes: torch.Tensor, flips: Sequence[int], qp: QuantParams) -> torch.Tensor:
    """:func:`flip_bits_int` without its checks (valid ``flips``, codes in range by
    construction); the result is in range. Not exported."""
    codes = codes.to(torch.int64)
    n = qp.bits
    stored = torch.bitwise_and(codes, (1 << n) - 1) ^ _mask(flips)
    if qp.signed:
        stored = torch.where(stored >= (1 << (n - 1)), stored - (1 << n), stored)
    return stored


def flip_bits_float32(w: torch.Tensor, bits: int | Sequence[int]) -> torch.Tensor:
    """Flips bits of the IEEE-754 binary32 encoding of every element of ``w``.

    Bit 0-22 are the mantissa (fraction), 23-30 the exponent, 31 the sign. Setting the
    exponent to all ones gives ±Inf (zero mantissa) or NaN (non-zero mantissa).

    ``w`` must be float32 or float64. A float64 tensor is first rounded to float32, the
    bits of that float32 encoding are flipped, and the result is cast back to float64:
    the fault always acts on the float32 encoding (float64 values that are not
    float32-representable are rounded to nearest float32 first).

    Args:
        w: float32 or float64 tensor on any device.
        bits: one bit index or a sequence of distinct bit indices in ``[0, 32)``.

    Returns:
        A new tensor of ``w``'s dtype, shape and device.

    Raises:
        FaultSpecError: ``w`` of another dtype, bits out of range or repeated.

    Example:
        >>> import torch
        >>> flip_bits_float32(torch.tensor([1.0, -2.0]), 31).tolist()
        [-1.0, 2.0]
        >>> flip_bits_float32(torch.tensor([1.0]), 23).tolist()   # exponent 127 -> 126
        [0.5]
        >>> flip_bits_float32(torch.tensor([1.0]), 30).tolist()   # exponent 127 -> 255
        [inf]
    """
    w = _check_tensor(w, "w")
    if w.dtype not in (torch.float32, torch.float64):
        raise FaultSpecError(
            f"flip_bits_float32 needs a float32 (or float64, cast to float32) tensor, got dtype {w.dtype}"
        )
    flips = _check_bits(bits, _FLOAT32_BITS, "float32 weights")
    mask = _mask(flips)
    if mask >= 1 << 31:  # as a signed int32 scalar
        mask -= 1 << 32
    pattern = w.to(torch.float32).contiguous().view(torch.int32)
    return torch.bitwise_xor(pattern, mask).view(torch.float32).to(w.dtype)


def bit_flip_delta(code: int, bit: int, qp: QuantParams) -> float:
    """The change of the dequantized value when ``bit`` of ``code`` is flipped.

    It equals ``(flipped_code - code) * scale``: ``+2**bit * scale`` when the bit was 0,
    ``-2**bit * scale`` when it was 1, and for the sign bit of a signed dtype
    ``-2**(bits-1) * scale`` (bit was 0) or ``+2**(bits-1) * scale`` (bit was 1). The
    result is exact in float64 (a power of two times ``scale``). It matches the
    float64 difference of :func:`dequantize` outputs exactly when both products
    ``(code - zero_point) * scale`` are exact, which holds for 8-bit dtypes with a
    float32-representable scale and for any dtype with a power-of-two scale.

    Args:
        code: an int in ``[qp.qmin, qp.qmax]``.
        bit: an int in ``[0, qp.bits)``.
        qp: the quantization parameters.

    Returns:
        The change as a Python float.

    Raises:
        FaultSpecError: code or bit out of range.

    Example:
        >>> qp = QuantParams("int8", 0.5, 0)
        >>> bit_flip_delta(5, 0, qp), bit_flip_delta(5, 1, qp), bit_flip_delta(-1, 7, qp)
        (-0.5, 1.0, 64.0)
    """
    qp = _check_qparams(qp)
    if isinstance(code, (bool, np.bool_)):
        raise FaultSpecError(f"code must be an int in [{qp.qmin}, {qp.qmax}], got {code!r}")
    try:
        code_int = operator.index(code)
    except TypeError:
        raise FaultSpecError(
            f"code must be an int in [{qp.qmin}, {qp.qmax}], got {code!r} ({type(code).__name__})"
        ) from None
    if not qp.qmin <= code_int <= qp.qmax:
        raise FaultSpecError(f"code {code_int} is outside the {qp.dtype} range [{qp.qmin}, {qp.qmax}]")
    (b,) = _check_bits([bit], qp.bits, f"{qp.dtype} codes")
    return float(_flip_code(code_int, 1 << b, qp) - code_int) * qp.scale
