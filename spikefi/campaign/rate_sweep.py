"""A sweep of soft-error rates: many seeded draws per rate, summarised with intervals.

:func:`soft_error_sweep` adds ``draws`` rounds of a soft-error model per rate (or per
exposure): :class:`~spikefi.faults.SoftErrors` (the quantized weight codes, the default),
:class:`~spikefi.faults.Float32SoftErrors` (the float32 weights) or
:class:`~spikefi.faults.StateSoftErrors` (the neuron state); each round is one Monte-Carlo
draw of upsets. After the run, :meth:`RateSweep.summary` gives per point the mean accuracy
over the draws with a Student-t confidence interval, and the share of *critical draws* (draws
in which at least one sample the golden network classifies correctly is misclassified) with a
Wilson interval.

The number of draws per point can follow from a stated precision: ``margin`` (half-width of
the interval of the critical-draw share, at ``confidence``) gives
``draws = sample_size(∞, margin, confidence)`` (:func:`spikefi.campaign.stats.sample_size`
with ``p = 0.5``, the conservative choice), e.g. 385 draws for ±0.05 at 95 %.

In YAML a campaign section takes the same as ``rate_sweep:`` (:data:`SWEEP_KEYS`,
:func:`check_sweep_section`, :func:`sweep_from_spec`); :meth:`RateSweep.of_campaign` finds
the points again in a campaign's rounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import ConfigError, FaultSpecError
from ..faults.memory import Float32SoftErrors, SoftErrors
from ..faults.neuron_state import StateSoftErrors
from ..faults.sites import Fault, Site
from .stats import draw_statistics, normal_quantile, sample_size

__all__ = ["RateSweep", "soft_error_sweep", "draws_for_margin", "SWEEP_MODELS", "SWEEP_KEYS", "check_sweep_section",
           "sweep_from_spec"]

#: the models a rate sweep draws, by name
SWEEP_MODELS: dict[str, type] = {"SoftErrors": SoftErrors, "Float32SoftErrors": Float32SoftErrors,
                                 "StateSoftErrors": StateSoftErrors}
#: the keys of a ``rate_sweep:`` section
SWEEP_KEYS = ("model", "rates", "exposure", "draws", "margin", "confidence", "layers", "state", "width", "frac_bits")
_MODEL_KEYS = ("state", "width", "frac_bits")  # StateSoftErrors only

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

    @classmethod
    def of_campaign(cls, cmpn: Any) -> RateSweep:
        """The sweep in a campaign's rounds: every round whose faults are one soft-error model
        (:data:`SWEEP_MODELS`), grouped by that model's spec (one point each, in order)."""
        groups: dict[str, list[int]] = {}
        points: dict[str, tuple[float, float]] = {}
        for rnd in cmpn.rounds:
            if len(rnd.specs) != 1 or type(rnd.specs[0].model) not in SWEEP_MODELS.values():
                continue
            model = rnd.specs[0].model
            key = repr(model)
            groups.setdefault(key, []).append(rnd.round_id)
            points[key] = (model.rate, model.exposure)
        if not groups:
            raise ConfigError("the campaign has no soft-error rounds (SoftErrors, Float32SoftErrors, StateSoftErrors)")
        return cls(tuple(points[k] for k in groups), tuple(tuple(v) for v in groups.values()))

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
            st = draw_statistics(part["accuracy"], part["critical"], confidence)
            del st["accuracy_std"]
            rows.append({
                "rate": rate, "exposure": exposure, "bit_upset_probability": -math.expm1(-rate * exposure),
                "draws": st.pop("draws"), "mean_upsets": float(part["n_faults"].mean()), **st,
            })
        return pd.DataFrame(rows)


def soft_error_sweep(cmpn: Any, rates: Sequence[float], exposure: float | Sequence[float] = 1.0,
                     draws: int | None = None, margin: float | None = None, confidence: float = 0.95,
                     layers: Sequence[str] | None = None, model: str = "SoftErrors",
                     **model_params: Any) -> RateSweep:
    """Adds ``draws`` rounds of ``model(rate, exposure, **model_params)`` per point to ``cmpn``.

    Args:
        cmpn: a :class:`~spikefi.campaign.Campaign` (quantized for ``SoftErrors``).
        rates: upset rates per bit per unit of exposure (one point each); or one rate with
            several ``exposure`` values.
        exposure: one exposure for all rates, or one per point.
        draws: rounds (Monte-Carlo draws) per point; or give ``margin`` instead.
        margin: the half-width wanted for the critical-draw share (:func:`draws_for_margin`).
        layers: the layers whose weight memory (or neuron state) is exposed (default: all).
        model: ``SoftErrors`` (quantized codes), ``Float32SoftErrors`` (float32 weights) or
            ``StateSoftErrors`` (neuron state; ``model_params``: ``state``, ``width``,
            ``frac_bits``).

    Returns:
        The sweep's points and round ids, for :meth:`RateSweep.summary` after the run.
    """
    cls = SWEEP_MODELS.get(model)
    if cls is None:
        raise ConfigError(f"rate sweep model must be one of {list(SWEEP_MODELS)}, got {model!r}")
    extra = [k for k in model_params if k not in _MODEL_KEYS or cls is not StateSoftErrors]
    if extra:
        raise ConfigError(f"{model} takes no {sorted(extra)} (state, width and frac_bits are StateSoftErrors')")
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
        m = cls(rate, exp, **model_params)
        ids = tuple(cmpn.then_inject(Fault(m, sites)) for _ in range(draws))
        points.append((m.rate, m.exposure))
        rounds.append(ids)
    return RateSweep(tuple(points), tuple(rounds))



def check_sweep_section(section: Any, where: str = "rate_sweep") -> dict[str, Any]:
    """A ``rate_sweep:`` section checked (keys, model, values) without building anything;
    returns it as a dict.

    Raises:
        ConfigError: one line naming the key, the value and what is allowed.
    """
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where} must be a mapping (model, rates, exposure, draws or margin, ...), got {section!r}")
    unknown = sorted(set(section) - set(SWEEP_KEYS))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; allowed: {list(SWEEP_KEYS)}")
    out = dict(section)
    model = out.get("model", "SoftErrors")
    if model not in SWEEP_MODELS:
        raise ConfigError(f"{where}.model must be one of {list(SWEEP_MODELS)}, got {model!r}")
    rates = out.get("rates")
    if isinstance(rates, (int, float)) and not isinstance(rates, bool):
        rates = [rates]
    if not isinstance(rates, list) or not rates:
        raise ConfigError(f"{where}.rates must be a rate or a non-empty list of rates (per bit per unit of "
                          f"exposure), got {out.get('rates')!r}")
    exposure = out.get("exposure", 1.0)
    exposures = exposure if isinstance(exposure, list) else [exposure]
    if (out.get("draws") is None) == (out.get("margin") is None):
        raise ConfigError(f"{where} needs draws (rounds per point) or margin (the precision that sets them), one of them")
    draws = out.get("draws")
    if draws is not None and (isinstance(draws, bool) or not isinstance(draws, int) or draws < 1):
        raise ConfigError(f"{where}.draws must be an int >= 1, got {draws!r}")
    margin = out.get("margin")
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))
                               or not 0 < margin < 0.5):
        raise ConfigError(f"{where}.margin must be a number in (0, 0.5), got {margin!r}")
    layers = out.get("layers")
    if layers is not None and (not isinstance(layers, list) or not all(isinstance(n, str) for n in layers)):
        raise ConfigError(f"{where}.layers must be a list of layer names, got {layers!r}")
    params = {k: out[k] for k in _MODEL_KEYS if k in out}
    if params and model != "StateSoftErrors":
        raise ConfigError(f"{where}: {sorted(params)} apply to StateSoftErrors only, not {model}")
    if len(rates) > 1 and len(exposures) > 1 and len(rates) != len(exposures):
        raise ConfigError(f"{where}: rates and exposures must pair up: {len(rates)} rates, {len(exposures)} exposures")
    try:
        normal_quantile(float(out.get("confidence", 0.95)))
        for rate in rates:
            for exp in exposures:
                SWEEP_MODELS[model](rate, exp, **params)
    except (FaultSpecError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return out


def sweep_from_spec(cmpn: Any, section: Mapping[str, Any]) -> RateSweep:
    """Adds the rounds of a ``rate_sweep:`` section (checked by :func:`check_sweep_section`) to ``cmpn``."""
    sec = check_sweep_section(section)
    return soft_error_sweep(cmpn, sec["rates"], sec.get("exposure", 1.0), draws=sec.get("draws"),
                            margin=sec.get("margin"), confidence=float(sec.get("confidence", 0.95)),
                            layers=sec.get("layers"), model=sec.get("model", "SoftErrors"),
                            **{k: sec[k] for k in _MODEL_KEYS if k in sec})
