"""Integer-exact synaptic outputs of integer-quantized layers.

In a campaign quantized to integers (``quantization={"dtype": "int8"}``) a synaptic
layer's weights are ``k * scale`` with ``k = code - zero_point`` an integer, and an input
spike is ``0`` or ``value`` (``1/Ts``). The layer's synaptic output is then

    a = (scale * value) * S,   S = conv(spikes in {0, 1}, k)

where ``S`` is an integer. Computed in float32 from integer-valued operands, every
partial sum of ``S`` is an integer below ``2**24`` (checked: the sum of ``|k|`` over an
output channel's kernel bounds it), hence exact in *any* summation order (direct,
implicit-GEMM, split-K, a cropped window, golden plus the contribution of one changed
channel); ``round()`` also absorbs the transform error of Winograd/FFT algorithms.
``a`` is then one rounding of ``S * fl(scale * value)``, the same wherever and however
it was computed. This is what lets the fault-parallel engine compute a changed row as
golden plus a delta and still match the naive engine bit for bit.

The rule, per call, per output channel and per input row:

* the layer is a synaptic (conv/dense) layer of a chain SLAYER network whose weights the
  campaign quantized per tensor (``Campaign(..., quantization=...)``; deployment formats
  with per-channel scales keep the float path);
* the output channel's weights (the round's faulty ones included) are integer multiples
  of the scale: ``fl((round(w / scale)) * scale) == w`` for every weight of the channel
  (bit flips, stuck bits, dead and saturated synapses and ``x2`` perturbations are;
  ``PerturbedSynapse(1.3)`` or analog device draws in general are not) and the sum of
  ``|k|`` over the channel's kernel is below ``2**24`` (float32; ``2**53`` in float64);
* the input row holds only ``0`` and ``value`` (always true after the first layer; the
  network input is checked);
* no gradient is needed (training under faults keeps the float path).

Elsewhere the layer is computed as before, in float (``spikefi.snn.functional.conv3d``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..snn import functional as fn

__all__ = ["IntegerLayer", "integer_weights", "spike_rows", "exact_conv3d", "exact_calls", "count_call"]

#: largest integer below which every integer is exact, per floating dtype
_EXACT_LIMIT: dict[torch.dtype, float] = {torch.float64: 2.0 ** 53, torch.float32: 2.0 ** 24,
                                          torch.float16: 2.0 ** 11, torch.bfloat16: 2.0 ** 8}

#: how many synaptic outputs took the integer path (and how many fell back to float, with
#: a reason); for tests and profiles, reset with ``exact_calls.clear()``
exact_calls: dict[str, int] = {}


def count_call(key: str) -> None:
    """Counts one call of ``key`` in :data:`exact_calls`."""
    exact_calls[key] = exact_calls.get(key, 0) + 1


@dataclass
class IntegerLayer:
    """A layer whose weights are integer multiples ``k * scale`` (per tensor); input spikes are ``value``."""

    scale: float
    value: float
    #: the integer weights of the golden weight, cached: (data_ptr, version, device, k, channel ok)
    _cache: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    def golden(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`integer_weights` of the layer's (golden) weight, cached while it is unchanged."""
        key = (weight.data_ptr(), weight._version, weight.device, weight.dtype)
        if self._cache is None or self._cache[:4] != key:
            self._cache = (*key, *integer_weights(weight, self.scale))
        return self._cache[4], self._cache[5]

    def __getstate__(self) -> dict[str, Any]:
        return {"scale": self.scale, "value": self.value, "_cache": None}


def integer_weights(weight: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(k, ok)``: the integers ``k = round(weight / scale)`` (in ``weight``'s dtype) and, per
    output channel (dim 0), whether that channel is exactly ``k * scale`` with partial sums
    of at most ``sum |k|`` below the dtype's exact-integer limit."""
    w = weight.detach()
    k64 = torch.round(w.double() / scale)
    exact = ((k64 * scale).to(w.dtype) == w).flatten(1).all(1)
    small = k64.abs().flatten(1).sum(1) < _EXACT_LIMIT.get(w.dtype, 0.0)
    return k64.to(w.dtype), exact & small


def spike_rows(x: torch.Tensor, value: float) -> torch.Tensor:
    """``(B,)`` whether each row of ``x`` holds only ``0`` and ``value``."""
    return ((x == 0) | (x == value)).reshape(x.shape[0], -1).all(1)


def exact_conv3d(x: torch.Tensor, weight: torch.Tensor, layer: IntegerLayer, stride: Any, padding: Any,
                 dilation: Any, groups: int, golden: bool = False) -> torch.Tensor:
    """The synaptic output ``conv3d(x, weight)``, integer-exact where the module's rule
    allows it (per output channel and input row), in float elsewhere.

    Args:
        golden: ``weight`` is the layer's own weight (its integers are cached).
    """
    if torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad):
        count_call("float:grad")
        return fn.conv3d(x, weight, stride, padding, dilation, groups)
    k, ok_ch = layer.golden(weight) if golden else integer_weights(weight, layer.scale)
    ok_rows = spike_rows(x, layer.value)
    flags = torch.stack([ok_ch.all(), ok_ch.any(), ok_rows.all(), ok_rows.any()]).tolist()  # one transfer
    all_ch, any_ch, all_rows, any_rows = flags
    if not (any_ch and any_rows):
        count_call("float:weights" if not any_ch else "float:input")
        return fn.conv3d(x, weight, stride, padding, dilation, groups)
    s01 = (x != 0).to(x.dtype)
    a = torch.round(fn.conv3d(s01, k, stride, padding, dilation, groups))
    a = a * torch.tensor(layer.scale * layer.value, dtype=a.dtype, device=a.device)
    if all_ch and all_rows:
        count_call("integer")
        return a
    count_call("mixed")
    f = fn.conv3d(x, weight, stride, padding, dilation, groups)
    sel = ok_rows[:, None, None, None, None] & ok_ch[None, :, None, None, None]
    return torch.where(sel, a, f)
