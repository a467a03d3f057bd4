"""Judging spike mismatches against a reference simulation.

Two correct implementations of the same network can disagree on a spike when a
membrane potential lies within float32 rounding of the threshold: a different
summation order (another conv algorithm, another device) puts it a hair above instead
of a hair below. :func:`classify_mismatches` separates such benign mismatches from real
ones: each mismatching spike is judged with the float64 membrane potential at that
time step, including the refractory response of the *reference* spikes before it, and
is benign only if that potential lies within ``rel_tol * theta`` of ``theta``.

A benign flip changes that neuron's refractory response for the next
``len(refKernel) - 1`` steps, so it can cause further mismatches of the same neuron in
that window; those are counted separately as *consequent*, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ShapeError
from .functional import psp_matrix

__all__ = ["MismatchReport", "classify_mismatches"]


@dataclass(frozen=True)
class MismatchReport:
    """Counts of spike mismatches between a result and a reference."""

    spikes: int
    mismatches: int
    near_threshold: int
    consequent: int

    @property
    def unexplained(self) -> int:
        """Mismatches neither near threshold nor within refractory reach of an earlier one."""
        return self.mismatches - self.near_threshold - self.consequent

    def __str__(self) -> str:
        return (
            f"{self.mismatches} mismatches of {self.spikes} reference spikes "
            f"({self.near_threshold} near threshold, {self.consequent} consequent, "
            f"{self.unexplained} unexplained)"
        )


def classify_mismatches(
    spikes: torch.Tensor,
    reference: torch.Tensor,
    potential64: torch.Tensor,
    theta: float,
    ref_kernel: torch.Tensor,
    rel_tol: float = 1e-5,
) -> MismatchReport:
    """Counts mismatches between ``spikes`` and ``reference`` and how many are benign.

    Args:
        spikes: spikes to judge (time last).
        reference: reference spikes, same shape.
        potential64: float64 membrane potential *before* any refractory response
            (``psp`` of the synaptic input), same shape.
        theta: firing threshold.
        ref_kernel: refractory kernel (``layer.refKernel``).
        rel_tol: a mismatch is benign where ``|u64 - theta| <= rel_tol * theta``.
    """
    if spikes.shape != reference.shape or potential64.shape != reference.shape:
        raise ShapeError(
            f"shapes differ: spikes {tuple(spikes.shape)}, reference {tuple(reference.shape)}, "
            f"potential {tuple(potential64.shape)}"
        )
    ref_fired = (reference != 0).to(torch.float64)
    kernel = ref_kernel.detach().to(device=potential64.device, dtype=torch.float64)
    # refractory response of the reference spikes: sum_j ref[j] * s[t - j] (ref[0] == 0)
    u = potential64.to(torch.float64) + torch.matmul(ref_fired, psp_matrix(kernel, ref_fired.shape[-1]))
    mismatch = (spikes != 0) != (reference != 0)
    near = mismatch & ((u - theta).abs() <= rel_tol * theta)
    # mismatches within refractory reach (lags 1 .. K-1) of an earlier mismatch
    reach = torch.ones(max(kernel.numel(), 1), dtype=torch.float64, device=u.device)
    reach[0] = 0
    window = torch.matmul(mismatch.to(torch.float64), psp_matrix(reach, mismatch.shape[-1]))
    consequent = mismatch & ~near & (window > 0)
    return MismatchReport(
        spikes=int(ref_fired.sum().item()),
        mismatches=int(mismatch.sum().item()),
        near_threshold=int(near.sum().item()),
        consequent=int(consequent.sum().item()),
    )
