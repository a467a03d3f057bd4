"""A sweep of soft-error rates: many seeded draws per rate, summarised with intervals.

:func:`soft_error_sweep` adds ``draws`` rounds of :class:`~spikefi.faults.SoftErrors` per rate
(or per exposure) to a quantized campaign; each round is one Monte-Carlo draw of upsets.
After the run, :meth:`RateSweep.summary` gives per point the mean accuracy over the draws
with a Student-t confidence interval, and the share of *critical draws* (draws in which at
least one sample the golden network classifies correctly is misclassified) with a Wilson
interval.

The number of draws per point can follow from a stated precision: ``margin`` (half-width of
the interval of the critical-draw share, at ``confidence``) gives
``draws = sample_size(∞, margin, confidence)`` (:func:`spikefi.campaign.stats.sample_size`
with ``p = 0.5``, the conservative choice), e.g. 385 draws for ±0.05 at 95 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from scipy.stats import t as student_t

from ..errors import ConfigError
from ..faults.memory import SoftErrors
from ..faults.sites import Fault, Site
from .stats import normal_quantile, sample_size, wilson_interval

__all__ = ["RateSweep", "soft_error_sweep", "draws_for_margin"]

_POPULATION = 10**12  # draws are with replacement: an (effectively) infinite population


def draws_for_margin(margin: float, confidence: float = 0.95) -> int:
    """Draws per point so that the critical-draw share is known within ``±margin`` at
    ``confidence`` (worst case ``p = 0.5``)."""
    return sample_size(_POPULATION, margin, confidence)


@dataclass(frozen=True)
class RateSweep:
    """The rounds of a soft-error sweep: per point ``(rate, exposure)``, its round ids."""

    points: tuple[tuple[float, float], ...]
    rounds: tuple[tuple[int, ...], ...]

    def summary(self, result: Any, confidence: float = 0.95) -> pd.DataFrame:
        """Per point: ``rate``, ``exposure``, ``bit_upset_probability``, ``draws``,
        ``mean_upsets``, ``accuracy_mean``, ``accuracy_low``/``accuracy_high`` (Student-t
        interval over the draws), ``critical_draws``, ``critical_draw_rate`` and its Wilson
        interval ``critical_draw_low``/``critical_draw_high``."""
        normal_quantile(confidence)  # checks the level
        table = result.table.set_index("round_id")
        rows = []
        for (rate, exposure), ids in zip(self.points, self.rounds, strict=True):
            missing = [i for i in ids if i not in table.index]
            if missing:
                raise ConfigError(f"the result lacks rounds {missing[:5]} of the sweep point rate={rate:g}")
            part = table.loc[list(ids)]
            acc = part["accuracy"].to_numpy(dtype=float)
            n = len(acc)
            mean = float(acc.mean())
            if n > 1:
                half = float(student_t.ppf(0.5 + confidence / 2, n - 1) * acc.std(ddof=1) / math.sqrt(n))
            else:
                half = float("nan")
            critical = int((part["critical"].to_numpy() > 0).sum())
            low, high = wilson_interval(critical, n, confidence)
            rows.append({
                "rate": rate, "exposure": exposure, "bit_upset_probability": -math.expm1(-rate * exposure),
                "draws": n, "mean_upsets": float(part["n_faults"].mean()),
                "accuracy_mean": mean, "accuracy_low": mean - half, "accuracy_high": mean + half,
                "critical_draws": critical, "critical_draw_rate": critical / n,
                "critical_draw_low": low, "critical_draw_high": high,
            })
        return pd.DataFrame(rows)


def soft_error_sweep(cmpn: Any, rates: Sequence[float], exposure: float | Sequence[float] = 1.0,
                     draws: int | None = None, margin: float | None = None, confidence: float = 0.95,
                     layers: Sequence[str] | None = None) -> RateSweep:
    """Adds ``draws`` rounds of ``SoftErrors(rate, exposure)`` per point to ``cmpn``.

    Args:
        cmpn: a quantized :class:`~spikefi.campaign.Campaign`.
        rates: upset rates per bit per unit of exposure (one point each); or one rate with
            several ``exposure`` values.
        exposure: one exposure for all rates, or one per point.
        draws: rounds (Monte-Carlo draws) per point; or give ``margin`` instead.
        margin: the half-width wanted for the critical-draw share (:func:`draws_for_margin`).
        layers: the layers whose weight memory is exposed (default: all synaptic layers).

    Returns:
        The sweep's points and round ids, for :meth:`RateSweep.summary` after the run.
    """
    if (draws is None) == (margin is None):
        raise ConfigError("give draws (rounds per point) or margin (the precision that sets them), one of them")
    if draws is None:
        draws = draws_for_margin(float(margin), confidence)  # type: ignore[arg-type]
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ConfigError(f"draws must be an int >= 1, got {draws!r}")
    rates = [rates] if isinstance(rates, (int, float)) else list(rates)
    exposures = [exposure] if isinstance(exposure, (int, float)) else list(exposure)
    if len(rates) == 1 and len(exposures) > 1:
        rates = rates * len(exposures)
    if len(exposures) == 1:
        exposures = exposures * len(rates)
    if not rates or len(rates) != len(exposures):
        raise ConfigError(f"rates and exposures must pair up: {len(rates)} rates, {len(exposures)} exposures")
    sites = [Site(name) for name in layers] if layers else [Site()]
    points, rounds = [], []
    for rate, exp in zip(rates, exposures, strict=True):
        model = SoftErrors(rate, exp)
        ids = tuple(cmpn.then_inject(Fault(model, sites)) for _ in range(draws))
        points.append((model.rate, model.exposure))
        rounds.append(ids)
    return RateSweep(tuple(points), tuple(rounds))

