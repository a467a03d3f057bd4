"""When a fault is active: permanent, in a time window, intermittent, on some samples.

Times are in time bins of the simulation (``t = 0 .. T-1``; bin ``t`` covers
``[t*Ts, (t+1)*Ts)`` ms). A timing gives, for a batch of samples, a boolean mask
``(samples, T)`` of the bins where the fault acts (``None`` = always). Random timings
draw from a generator seeded by (campaign seed, round id, fault index, sample index)
only, so results never depend on batch size, chunking, device or evaluation order.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import FaultSpecError

__all__ = ["Timing", "Permanent", "Window", "Intermittent", "PerSample", "timing_from_spec", "sample_rng"]


def sample_rng(seed: int, round_id: int, fault_index: int, sample_index: int, stream: int = 0) -> np.random.Generator:
    """The generator for one (campaign seed, round, fault, sample, stream)."""
    return np.random.default_rng([int(seed), int(round_id), int(fault_index), int(sample_index), int(stream)])


def _int(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise FaultSpecError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class Timing(ABC):
    """When a fault is active within and across samples."""

    #: False for timings that vary within a sample (windows, intermittent)
    whole_sample: bool = True

    @abstractmethod
    def mask(
        self, samples: Sequence[int], steps: int, seed: int, round_id: int, fault_index: int, device: torch.device | str = "cpu"
    ) -> torch.Tensor | None:
        """Boolean ``(len(samples), steps)`` activity mask, or ``None`` when always active."""

    def params(self) -> dict[str, Any]:
        return {}

    def spec(self) -> dict[str, Any]:
        return {"timing": type(self).__name__, **self.params()}

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params() == other.params()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), repr(self.params())))

    def __repr__(self) -> str:
        return self.describe()


class Permanent(Timing):
    """Active for the whole run."""

    def mask(self, samples, steps, seed, round_id, fault_index, device="cpu"):  # type: ignore[override]
        return None


class Window(Timing):
    """Active in time bins ``t_start <= t < t_end`` of every sample (a transient fault)."""

    whole_sample = False

    def __init__(self, t_start: int, t_end: int) -> None:
        self.t_start = _int("Window t_start", t_start)
        self.t_end = _int("Window t_end", t_end)
        if self.t_end <= self.t_start:
            raise FaultSpecError(f"Window needs t_start < t_end, got [{t_start}, {t_end})")

    def params(self) -> dict[str, Any]:
        return {"t_start": self.t_start, "t_end": self.t_end}

    def mask(self, samples, steps, seed, round_id, fault_index, device="cpu"):  # type: ignore[override]
        t = torch.arange(steps, device=device)
        row = (t >= self.t_start) & (t < self.t_end)
        return row.expand(len(samples), steps)


class Intermittent(Timing):
    """Active for ``duty`` of every ``period`` bins: ``(t - phase) mod period < round(duty * period)``."""

    whole_sample = False

    def __init__(self, period: int, duty: float, phase: int = 0) -> None:
        self.period = _int("Intermittent period", period, minimum=1)
        if isinstance(duty, bool) or not isinstance(duty, (int, float)) or not math.isfinite(duty) or not 0 < duty <= 1:
            raise FaultSpecError(f"Intermittent duty must be in (0, 1], got {duty!r}")
        self.duty = float(duty)
        self.phase = _int("Intermittent phase", phase)
        self.on = max(1, int(round(self.duty * self.period)))

    def params(self) -> dict[str, Any]:
        return {"period": self.period, "duty": self.duty, "phase": self.phase}

    def mask(self, samples, steps, seed, round_id, fault_index, device="cpu"):  # type: ignore[override]
        t = torch.arange(steps, device=device)
        row = torch.remainder(t - self.phase, self.period) < self.on
        return row.expand(len(samples), steps)


class PerSample(Timing):
    """Active on a random subset of samples: each sample independently with ``probability``,
    and within an affected sample according to ``within`` (default: the whole sample)."""

    def __init__(self, probability: float, within: Timing | None = None) -> None:
        if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
            raise FaultSpecError(f"PerSample probability must be in [0, 1], got {probability!r}")
        if isinstance(within, PerSample):
            raise FaultSpecError("PerSample cannot be nested")
        self.probability = float(probability)
        self.within = within or Permanent()
        self.whole_sample = self.within.whole_sample

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"probability": self.probability}
        if not isinstance(self.within, Permanent):
            out["within"] = self.within.spec()
        return out

    def affected(self, samples: Sequence[int], seed: int, round_id: int, fault_index: int) -> np.ndarray:
        """Which samples the fault affects (one draw per sample, stream 1)."""
        return np.array(
            [sample_rng(seed, round_id, fault_index, s, stream=1).random() < self.probability for s in samples], dtype=bool
        )

    def mask(self, samples, steps, seed, round_id, fault_index, device="cpu"):  # type: ignore[override]
        hit = torch.as_tensor(self.affected(samples, seed, round_id, fault_index), device=device)
        inner = self.within.mask(samples, steps, seed, round_id, fault_index, device)
        rows = hit[:, None].expand(len(samples), steps)
        return rows if inner is None else rows & inner


_TIMINGS = {cls.__name__: cls for cls in (Permanent, Window, Intermittent, PerSample)}


def timing_from_spec(spec: Mapping[str, Any] | str | None) -> Timing:
    """Builds a timing from ``{"timing": name, **params}`` (``None`` → permanent)."""
    if spec is None:
        return Permanent()
    if isinstance(spec, str):
        spec = {"timing": spec}
    if not isinstance(spec, Mapping) or spec.get("timing") not in _TIMINGS:
        raise FaultSpecError(f"unknown timing {spec!r}; allowed: {sorted(_TIMINGS)}")
    kwargs = {k: v for k, v in spec.items() if k != "timing"}
    if "within" in kwargs:
        kwargs["within"] = timing_from_spec(kwargs["within"])
    try:
        return _TIMINGS[spec["timing"]](**kwargs)
    except TypeError as exc:
        raise FaultSpecError(f"bad parameters {kwargs} for timing {spec['timing']!r}: {exc}") from None
