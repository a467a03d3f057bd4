"""``snn.utils.optim``: slayerPytorch's optimizers.

:class:`Nadam` is the variant slayerPytorch ships: Adam whose step uses the Nesterov
look-ahead of the first moment, ``beta1 * m_t + (1 - beta1) * g_t``, with Adam's bias
corrections and no momentum schedule (unlike ``torch.optim.NAdam``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from ...errors import ConfigError

__all__ = ["Nadam"]


class Nadam(torch.optim.Optimizer):
    """Nesterov-accelerated Adam (Dozat, 2016) in slayerPytorch's form.

    For each parameter, with gradient ``g`` (plus ``weight_decay * p`` when set) at step
    ``t``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2          (v_max = max(v_max, v) with amsgrad)
        p -= lr * sqrt(1 - beta2**t) / (1 - beta1**t)
                * (beta1 * m + (1 - beta1) * g) / (sqrt(v or v_max) + eps)

    Args:
        params: Parameters or parameter groups.
        lr: Learning rate (>= 0).
        betas: Decay rates of the first and second moments, each in ``[0, 1)``.
        eps: Added to the denominator (>= 0).
        weight_decay: L2 penalty added to the gradient (>= 0).
        amsgrad: Normalise by the running maximum of the second moment.

    Raises:
        ConfigError: If a hyper-parameter is out of range.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
    ) -> None:
        if not lr >= 0.0:
            raise ConfigError(f"Nadam learning rate must be >= 0, got lr={lr!r}")
        if not eps >= 0.0:
            raise ConfigError(f"Nadam eps must be >= 0, got eps={eps!r}")
        if len(tuple(betas)) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ConfigError(f"Nadam betas must be two values in [0, 1), got betas={betas!r}")
        if not weight_decay >= 0.0:
            raise ConfigError(f"Nadam weight_decay must be >= 0, got weight_decay={weight_decay!r}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": bool(amsgrad)}
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Update every parameter that has a gradient.

        Args:
            closure: Re-evaluates the model and returns the loss (called with gradients on).

        Returns:
            The closure's loss, or ``None``.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ConfigError("Nadam does not support sparse gradients")
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(grad, 1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                if group["amsgrad"]:
                    torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                    denom = state["max_exp_avg_sq"].sqrt().add_(group["eps"])
                else:
                    denom = v.sqrt().add_(group["eps"])
                step_size = group["lr"] * math.sqrt(1 - beta2**t) / (1 - beta1**t)
                nesterov = m.mul(beta1).add_(grad, alpha=1 - beta1)
                p.addcdiv_(nesterov, denom, value=-step_size)
        return loss
