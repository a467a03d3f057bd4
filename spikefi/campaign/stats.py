"""Sampling statistics for fault injection campaigns.

Statistical fault injection (Leveugle, Calvez, Maistri and Vanhauwaert, "Statistical
fault injection: quantified error and confidence", DATE 2009) draws ``n`` faults out
of a population of ``N`` possible faults so that the proportion of a failure mode
(critical faults, say) is estimated within a margin of error ``e`` at a given
confidence level:

.. math::

    n = \\frac{N}{1 + e^2 \\frac{N - 1}{t^2 \\, p (1 - p)}}

where ``t`` is the two-sided standard normal quantile of the confidence level and
``p`` the (unknown) proportion; ``p = 0.5`` is the conservative choice that maximises
``n``. Once the campaign has run, :func:`wilson_interval` gives a confidence interval
of the observed proportion that behaves well even for proportions near 0 or 1.

Example:
    >>> from spikefi.campaign.stats import margin_of_error, sample_size, wilson_interval
    >>> sample_size(10**12, margin=0.01, confidence=0.95)
    9604
    >>> sample_size(100, margin=0.05)
    80
    >>> round(margin_of_error(80, 100), 4)
    0.0492
    >>> low, high = wilson_interval(3, 10)
    >>> round(low, 4), round(high, 4)
    (0.1078, 0.6032)
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm
from scipy.stats import t as student_t

from ..errors import ConfigError

__all__ = [
    "normal_quantile",
    "sample_size",
    "margin_of_error",
    "wilson_interval",
    "wilson_intervals",
    "draw_statistics",
    "format_percent",
]


def _check_open_unit(name: str, value: float) -> float:
    """Returns ``value`` as a float after checking that ``0 < value < 1``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be a real number strictly between 0 and 1, got {value!r}")
    if not 0.0 < float(value) < 1.0:
        raise ConfigError(f"{name} must be strictly between 0 and 1, got {value!r}")
    return float(value)


def _check_int(name: str, value: int, minimum: int) -> int:
    """Returns ``value`` as an int after checking it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def normal_quantile(confidence: float) -> float:
    """Two-sided standard normal quantile ``t`` of a confidence level.

    Args:
        confidence: Confidence level, strictly between 0 and 1 (e.g. 0.95).

    Returns:
        ``t`` such that ``P(|Z| <= t) = confidence`` for a standard normal ``Z``.

    Raises:
        ConfigError: If ``confidence`` is not strictly between 0 and 1.

    Example:
        >>> round(normal_quantile(0.95), 4)
        1.96
    """
    confidence = _check_open_unit("confidence", confidence)
    return float(norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def sample_size(population: int, margin: float = 0.01, confidence: float = 0.95, p: float = 0.5) -> int:
    """Number of faults to inject for a given margin of error (Leveugle et al., DATE 2009).

    Computes ``n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p)))`` and rounds it up; the
    result is never larger than the population ``N`` and never smaller than 1.

    Args:
        population: Number ``N`` of possible faults (>= 1).
        margin: Margin of error ``e``, strictly between 0 and 1 (0.01 = one percentage point).
        confidence: Confidence level, strictly between 0 and 1.
        p: Assumed proportion of the estimated outcome, strictly between 0 and 1; 0.5
            (the default) is the worst case and gives the largest sample.

    Returns:
        The sample size ``n`` with ``1 <= n <= population``.

    Raises:
        ConfigError: If an argument is outside its allowed range.

    Example:
        >>> sample_size(10**12, margin=0.01, confidence=0.99)
        16588
        >>> sample_size(50, margin=0.01)
        50
    """
    population = _check_int("population", population, 1)
    margin = _check_open_unit("margin", margin)
    p = _check_open_unit("p", p)
    t = normal_quantile(confidence)
    n = population / (1.0 + margin**2 * (population - 1) / (t**2 * p * (1.0 - p)))
    # Guard against a value such as 80.00000000000001 rounding up to 81.
    n_int = math.ceil(n * (1.0 - 1e-12))
    return int(min(max(n_int, 1), population))


def margin_of_error(n: int, population: int, confidence: float = 0.95, p: float = 0.5) -> float:
    """Margin of error achieved by injecting ``n`` faults out of a population of ``N``.

    This inverts :func:`sample_size`: ``e = t * sqrt(p (1 - p) (N / n - 1) / (N - 1))``.
    It is 0 when the whole population is injected (``n == N``).

    Args:
        n: Number of injected faults, ``1 <= n <= population``.
        population: Number ``N`` of possible faults (>= 1).
        confidence: Confidence level, strictly between 0 and 1.
        p: Assumed proportion, strictly between 0 and 1.

    Returns:
        The margin of error ``e`` (a proportion, >= 0).

    Raises:
        ConfigError: If an argument is outside its allowed range or ``n > population``.

    Example:
        >>> round(margin_of_error(9604, 10**12), 5)
        0.01
        >>> margin_of_error(100, 100)
        0.0
    """
    population = _check_int("population", population, 1)
    n = _check_int("n", n, 1)
    if n > population:
        raise ConfigError(f"n must be at most the population ({population}), got {n}")
    p = _check_open_unit("p", p)
    t = normal_quantile(confidence)
    if n == population:
        return 0.0
    return float(t * math.sqrt(p * (1.0 - p) * (population / n - 1.0) / (population - 1)))


def _as_count_array(name: str, values: ArrayLike) -> NDArray[np.int64]:
    """Converts counts to an int64 array, checking they are finite non-negative integers."""
    array = np.asarray(values)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ConfigError(f"{name} must hold integer counts, got an array of dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array) | (array != np.round(array))
        if np.any(bad):
            raise ConfigError(f"{name} must hold integer counts, got non-integer value {array[bad].flat[0]!r}")
    array = array.astype(np.int64)
    if np.any(array < 0):
        raise ConfigError(f"{name} must hold counts >= 0, got {array[array < 0].flat[0]}")
    return array


def wilson_intervals(
    k: ArrayLike, n: ArrayLike, confidence: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Vectorised Wilson score intervals of ``k`` successes out of ``n`` trials.

    ``k`` and ``n`` broadcast against each other. Where ``n == 0`` the interval is
    ``(0.0, 1.0)`` (nothing is known about the proportion).

    Args:
        k: Numbers of successes (non-negative integers).
        n: Numbers of trials (non-negative integers, ``n >= k`` elementwise).
        confidence: Confidence level, strictly between 0 and 1.

    Returns:
        ``(low, high)``: float arrays of the broadcast shape, within ``[0, 1]``.

    Raises:
        ConfigError: If a count is negative or not an integer, ``k > n`` somewhere,
            the shapes do not broadcast, or ``confidence`` is out of range.

    Example:
        >>> low, high = wilson_intervals([0, 3, 10], [10, 10, 10])
        >>> [round(float(x), 4) for x in low]
        [0.0, 0.1078, 0.7225]
        >>> [round(float(x), 4) for x in high]
        [0.2775, 0.6032, 1.0]
    """
    z = normal_quantile(confidence)
    k_arr = _as_count_array("k", k)
    n_arr = _as_count_array("n", n)
    try:
        k_arr, n_arr = np.broadcast_arrays(k_arr, n_arr)
    except ValueError as exc:
        raise ConfigError(f"k (shape {k_arr.shape}) and n (shape {n_arr.shape}) do not broadcast") from exc
    over = k_arr > n_arr
    if np.any(over):
        index = np.argwhere(over)[0]
        raise ConfigError(
            f"k must satisfy 0 <= k <= n, got k={k_arr[tuple(index)]} > n={n_arr[tuple(index)]}"
            f" at index {tuple(int(i) for i in index)}"
        )
    empty = n_arr == 0
    trials = np.where(empty, 1, n_arr).astype(np.float64)
    phat = k_arr / trials
    z2 = z * z
    denom = 1.0 + z2 / trials
    center = (phat + z2 / (2.0 * trials)) / denom
    half = (z / denom) * np.sqrt(phat * (1.0 - phat) / trials + z2 / (4.0 * trials * trials))
    low = np.clip(center - half, 0.0, 1.0)
    high = np.clip(center + half, 0.0, 1.0)
    # The exact bounds at k == 0 and k == n are 0 and 1; avoid rounding noise there.
    low = np.where(k_arr == 0, 0.0, low)
    high = np.where(k_arr == n_arr, 1.0, high)
    low = np.where(empty, 0.0, low)
    high = np.where(empty, 1.0, high)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion: ``k`` successes out of ``n`` trials.

    Args:
        k: Number of successes, ``0 <= k <= n``.
        n: Number of trials (>= 0); ``n == 0`` gives ``(0.0, 1.0)``.
        confidence: Confidence level, strictly between 0 and 1.

    Returns:
        ``(low, high)`` bounds of the proportion, within ``[0, 1]``.

    Raises:
        ConfigError: If a count is not an integer, ``k`` is outside ``[0, n]`` or
            ``confidence`` is out of range.

    Example:
        >>> wilson_interval(0, 0)
        (0.0, 1.0)
        >>> low, high = wilson_interval(42, 100, confidence=0.99)
        >>> round(low, 4), round(high, 4)
        (0.3018, 0.5482)
    """
    n = _check_int("n", n, 0)
    k = _check_int("k", k, 0)
    if k > n:
        raise ConfigError(f"k must satisfy 0 <= k <= n, got k={k} > n={n}")
    low, high = wilson_intervals(k, n, confidence)
    return float(low), float(high)


def draw_statistics(accuracy: ArrayLike, critical: ArrayLike, confidence: float = 0.95) -> dict[str, float]:
    """Monte-Carlo draws of one sweep point (one round each): ``draws``, ``accuracy_mean``, the
    Student-t interval ``accuracy_low``/``accuracy_high`` and ``accuracy_std`` (NaN for one
    draw), ``critical_draws`` (rounds with a critical count above 0), ``critical_draw_rate`` and
    its Wilson interval ``critical_draw_low``/``critical_draw_high``."""
    acc = np.asarray(accuracy, dtype=float)
    n = len(acc)
    mean = float(acc.mean())
    std = float(acc.std(ddof=1)) if n > 1 else float("nan")
    half = float(student_t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)) if n > 1 else float("nan")
    k = int((np.asarray(critical) > 0).sum())
    low, high = wilson_interval(k, n, confidence)
    return {"draws": n, "accuracy_mean": mean, "accuracy_low": mean - half, "accuracy_high": mean + half,
            "accuracy_std": std, "critical_draws": k, "critical_draw_rate": k / n,
            "critical_draw_low": low, "critical_draw_high": high}


def format_percent(fraction: float, decimals: int = 1) -> str:
    """``fraction`` as a percentage with ``decimals`` decimals, or with two significant digits
    when that would print a non-zero value as zero (the upper bound of a Wilson interval over a
    million rounds is about 0.0004%, which ``.1f`` shows as "0.0%").

    >>> format_percent(0.1234), format_percent(0.0), format_percent(3.84e-6), format_percent(1.0)
    ('12.3%', '0.0%', '0.00038%', '100.0%')
    """
    value = 100.0 * float(fraction)
    text = f"{value:.{decimals}f}"
    if value != 0.0 and math.isfinite(value) and float(text) == 0.0:
        digits = 1 - math.floor(math.log10(abs(value)))
        text = f"{value:.{digits}f}"
    return f"{text}%"
