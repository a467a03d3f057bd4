"""Weight quantization to a fixed step with a straight-through gradient.

``snn.quantize`` / ``snn.utils.quantize`` keep slayerPytorch's calling forms::

    w_q = snn.quantize(w, step=2)          # or snn.quantize.apply(w, 2)
    fc = slayer.dense(10, 4, preHookFx=lambda w: snn.utils.quantize(w, step=2))

The forward pass rounds every weight to the nearest multiple of ``step`` (``torch.round``:
ties to even); the backward pass passes the gradient through unchanged, so a network
can be trained with quantized weights.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ...errors import ConfigError, DTypeError

__all__ = ["QuantizeWeights", "quantize"]


def _check_step(step: Any) -> float | torch.Tensor:
    if isinstance(step, torch.Tensor):
        if not bool(torch.all(step > 0)):
            raise ConfigError("quantization step must be > 0 everywhere")
        return step
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step) or step <= 0:
        raise ConfigError(f"quantization step must be a positive finite number, got {step!r}")
    return float(step)


class QuantizeWeights(torch.autograd.Function):
    """``round(weights / step) * step`` forward, identity backward (straight-through)."""

    @staticmethod
    def forward(ctx: Any, weights: torch.Tensor, step: float | torch.Tensor = 1) -> torch.Tensor:  # noqa: D102
        return torch.round(weights / step) * step

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        return grad_output, None


class _Quantizer:
    """Callable face of :class:`QuantizeWeights`: ``quantize(w, step)`` and ``quantize.apply(w, step)``."""

    def apply(self, weights: torch.Tensor, step: float | torch.Tensor = 1) -> torch.Tensor:
        """Quantize ``weights`` to multiples of ``step`` (straight-through gradient).

        Raises:
            DTypeError: If ``weights`` is not a floating torch tensor.
            ConfigError: If ``step`` is not positive.
        """
        if not isinstance(weights, torch.Tensor) or not weights.dtype.is_floating_point:
            raise DTypeError(f"quantize needs a floating torch tensor, got {type(weights).__name__}"
                             + (f" of dtype {weights.dtype}" if isinstance(weights, torch.Tensor) else ""))
        return QuantizeWeights.apply(weights, _check_step(step))

    def __call__(self, weights: torch.Tensor, step: float | torch.Tensor = 1) -> torch.Tensor:
        return self.apply(weights, step)

    def __repr__(self) -> str:
        return "spikefi.snn.quantize"


#: ``quantize(weights, step=1)``: weights rounded to multiples of ``step``, straight-through gradient.
quantize = _Quantizer()
