"""Sweeps of analog-device parameters: accuracy vs device age, vs noise σ, with intervals.

:func:`analog_sweep` adds ``draws`` rounds of :class:`~spikefi.faults.AnalogDevices` per value
of one parameter (``age`` for drift, ``program_sigma``, ``read_sigma``, ``threshold_sigma``,
``stuck_at_0`` ...), every other parameter taken from a base model. Each round is one
Monte-Carlo draw of the devices (seeded by the campaign seed and the round id).
:meth:`AnalogSweep.summary` gives per value the mean accuracy over the draws with a Student-t
interval ``mean ± t(n-1) * s / sqrt(n)`` and the share of critical draws (at least one sample
that the golden network classifies correctly is misclassified) with its Wilson interval, as
:mod:`spikefi.campaign.rate_sweep` does for soft errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import ConfigError, FaultSpecError
from ..faults.analog import AnalogDevices
from ..faults.sites import Fault, Site
from .stats import draw_statistics, normal_quantile

__all__ = ["AnalogSweep", "analog_sweep", "SWEEPABLE"]

#: the parameters a sweep may vary (continuous ones; ``levels`` as an int)
SWEEPABLE = ("age", "program_sigma", "read_sigma", "threshold_sigma", "stuck_at_0", "stuck_at_gmax",
             "drift_nu_mean", "drift_nu_std", "g_max", "levels")


@dataclass(frozen=True)
class AnalogSweep:
    """The rounds of an analog sweep: the varied parameter, its values and per value the round ids."""

    parameter: str
    values: tuple[Any, ...]
    rounds: tuple[tuple[int, ...], ...]

    def summary(self, result: Any, confidence: float = 0.95) -> pd.DataFrame:
        """Per value: the parameter, ``draws``, ``accuracy_mean``, ``accuracy_low``/``accuracy_high``
        (Student-t interval over the draws; NaN for one draw), ``accuracy_std``,
        ``critical_draws``, ``critical_draw_rate`` and its Wilson interval, and the mean
        ``spike_count_deviation``."""
        normal_quantile(confidence)  # checks the level
        table = result.table.set_index("round_id")
        rows = []
        for value, ids in zip(self.values, self.rounds, strict=True):
            missing = [i for i in ids if i not in table.index]
            if missing:
                raise ConfigError(f"the result lacks rounds {missing[:5]} of the sweep point {self.parameter}={value}")
            part = table.loc[list(ids)]
            rows.append({
                self.parameter: value, **draw_statistics(part["accuracy"], part["critical"], confidence),
                "golden_accuracy": float(part["golden_accuracy"].iloc[0]),
                "spike_count_deviation": float(part["spike_count_deviation"].mean()),
            })
        return pd.DataFrame(rows)


def analog_sweep(cmpn: Any, base: AnalogDevices, parameter: str, values: Sequence[Any], draws: int,
                 layers: Sequence[str] | None = None) -> AnalogSweep:
    """Adds ``draws`` rounds of ``base`` with ``parameter`` set to each of ``values`` to ``cmpn``.

    Args:
        cmpn: a :class:`~spikefi.campaign.Campaign`.
        base: the devices' other parameters.
        parameter: one of :data:`SWEEPABLE` (``age`` gives accuracy vs age: drift).
        values: the parameter's values (one point each).
        draws: rounds (Monte-Carlo draws of the devices) per value (>= 1; >= 2 for intervals).
        layers: the synaptic layers on analog devices (default: all).

    Returns:
        The sweep's points and round ids, for :meth:`AnalogSweep.summary` after the run.
    """
    if not isinstance(base, AnalogDevices):
        raise ConfigError(f"an analog sweep needs an AnalogDevices base model, got {base!r}")
    if parameter not in SWEEPABLE:
        raise ConfigError(f"an analog sweep varies one of {list(SWEEPABLE)}, got {parameter!r}")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ConfigError(f"draws must be an int >= 1, got {draws!r}")
    values = list(values) if isinstance(values, Sequence) and not isinstance(values, str) else [values]
    if not values:
        raise ConfigError("an analog sweep needs at least one value")
    sites = [Site(name) for name in layers] if layers else [Site()]
    models = []
    for v in values:
        try:
            models.append(AnalogDevices(**{**base.params(), parameter: v}))
        except FaultSpecError as exc:
            raise ConfigError(f"sweep value {parameter}={v!r}: {exc}") from None
    rounds = [tuple(cmpn.then_inject(Fault(m, sites)) for _ in range(draws)) for m in models]
    return AnalogSweep(parameter, tuple(getattr(m, parameter) for m in models), tuple(rounds))
