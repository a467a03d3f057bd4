"""SpikeFI 1.3's ``spikefi.utils.quantization``: affine quantization arguments.

The functions return ``(scale, zero_point)`` for an integer type; together with the type
they parametrise :class:`spikefi.models.BitflippedSynapse`::

    scale, zero_point = qargs_from_tensor(net.SF4b.weight, torch.quint8)
    model = BitflippedSynapse(7, scale, zero_point, torch.quint8)

A real value ``x`` is stored as ``clamp(round(x / scale) + zero_point, qmin, qmax)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..errors import FaultSpecError

__all__ = ["qiinfo", "qargs_exact", "qargs_precision", "qargs_from_range", "qargs_from_tensor", "dtype_name"]

_NAMES: dict[Any, str] = {
    torch.quint8: "uint8", torch.uint8: "uint8", "uint8": "uint8", "quint8": "uint8",
    torch.qint8: "int8", torch.int8: "int8", "int8": "int8", "qint8": "int8",
    torch.qint32: "int32", torch.int32: "int32", "int32": "int32", "qint32": "int32",
}
_IINFO = {"uint8": torch.uint8, "int8": torch.int8, "int32": torch.int32}


def dtype_name(dtype: Any) -> str:
    """``"uint8"``, ``"int8"`` or ``"int32"`` for a quantized or integer torch dtype (or its name).

    Raises:
        FaultSpecError: For any other dtype.
    """
    try:
        return _NAMES[dtype]
    except (KeyError, TypeError):
        raise FaultSpecError(
            f"quantized dtype {dtype!r} is not supported; allowed: torch.quint8, torch.qint8, torch.qint32 "
            "(or torch.uint8, torch.int8, torch.int32)"
        ) from None


def qiinfo(dtype: Any) -> torch.iinfo:
    """Integer range information (``bits``, ``min``, ``max``) of a quantized or integer dtype."""
    return torch.iinfo(_IINFO[dtype_name(dtype)])


def _finite(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FaultSpecError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def qargs_exact(xmin: float, xmax: float, qmin: int, qmax: int) -> tuple[float, int]:
    """Scale and zero point mapping ``[xmin, xmax]`` onto the codes ``[qmin, qmax]``.

    ``scale = (xmax - xmin) / (qmax - qmin)``; ``zero_point = int(clip(qmin - xmin / scale,
    qmin, qmax))`` (truncated toward zero, as SpikeFI).

    Raises:
        FaultSpecError: If ``xmin >= xmax`` or ``qmin >= qmax``.
    """
    lo, hi = _finite("xmin", xmin), _finite("xmax", xmax)
    if not lo < hi:
        raise FaultSpecError(f"xmin must be smaller than xmax, got xmin={xmin!r}, xmax={xmax!r}")
    if isinstance(qmin, bool) or isinstance(qmax, bool) or not (isinstance(qmin, int) and isinstance(qmax, int)) \
            or not qmin < qmax:
        raise FaultSpecError(f"qmin and qmax must be ints with qmin < qmax, got {qmin!r}, {qmax!r}")
    scale = (hi - lo) / (qmax - qmin)
    zero_point = int(min(max(qmin - lo / scale, qmin), qmax))
    return scale, zero_point


def qargs_precision(xmin: float, xmax: float, p: int) -> tuple[float, int]:
    """:func:`qargs_exact` for unsigned ``p``-bit codes ``[0, 2**p - 1]``."""
    if isinstance(p, bool) or not isinstance(p, int) or p < 1:
        raise FaultSpecError(f"precision p must be an int >= 1, got {p!r}")
    return qargs_exact(xmin, xmax, 0, 2**p - 1)


def qargs_from_range(xmin: float, xmax: float, dtype: Any) -> tuple[float, int]:
    """:func:`qargs_exact` for the full code range of ``dtype``."""
    info = qiinfo(dtype)
    return qargs_exact(xmin, xmax, int(info.min), int(info.max))


def qargs_from_tensor(x: torch.Tensor, dtype: Any) -> tuple[float, int]:
    """:func:`qargs_from_range` over the smallest and largest value of ``x``."""
    if not isinstance(x, torch.Tensor) or x.numel() == 0:
        raise FaultSpecError(f"qargs_from_tensor needs a non-empty tensor, got {type(x).__name__}")
    return qargs_from_range(float(x.detach().min()), float(x.detach().max()), dtype)
