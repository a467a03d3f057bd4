"""Tests of spikefi.campaign.stats against published figures and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest, norm

from spikefi.campaign.stats import (
    margin_of_error,
    normal_quantile,
    sample_size,
    wilson_interval,
    wilson_intervals,
)
from spikefi.errors import ConfigError

HUGE = 10**15


def _leveugle(population: int, margin: float, t: float, p: float = 0.5) -> float:
    """The DATE 2009 formula, written out independently of the module."""
    return population / (1 + margin**2 * (population - 1) / (t**2 * p * (1 - p)))


def _wilson_by_hand(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval written from the textbook form (centre +- half-width)."""
    phat = k / n
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(n) / (n + z * z) * math.sqrt(phat * (1 - phat) + z * z / (4 * n))
    return max(0.0, centre - half), min(1.0, centre + half)


# ----------------------------------------------------------------------------- sample_size


def test_sample_size_published_figures() -> None:
    # Infinite population, e = 1 %, 95 %: t = 1.96 -> 9,604 (classic survey figure).
    assert sample_size(HUGE, margin=0.01, confidence=0.95) == 9604
    # e = 1 %, 99 %: t = 2.5758 -> 16,587.24 rounded up: the "~16,600 faults per point" figure.
    assert sample_size(HUGE, margin=0.01, confidence=0.99) == 16588
    # e = 5 %, 95 % -> 385 (t = 1.96, 384.15 rounded up).
    assert sample_size(HUGE, margin=0.05, confidence=0.95) == 385


@pytest.mark.parametrize(
    ("population", "margin", "confidence", "p"),
    [(1000, 0.05, 0.95, 0.5), (123_456, 0.01, 0.99, 0.5), (5_000_000, 0.02, 0.9, 0.2), (37, 0.1, 0.8, 0.7)],
)
def test_sample_size_matches_formula(population: int, margin: float, confidence: float, p: float) -> None:
    t = norm.ppf(1 - (1 - confidence) / 2)
    expected = min(population, math.ceil(_leveugle(population, margin, t, p)))
    assert sample_size(population, margin, confidence, p) == expected


def test_sample_size_hand_values() -> None:
    # N = 1000, e = 0.05, t = 1.959964: 1000 / (1 + 0.0025 * 999 / 0.960346) = 277.74 -> 278.
    assert sample_size(1000, 0.05) == 278
    # N = 100, e = 0.05: 100 / (1 + 0.0025 * 99 / 0.960346) = 79.51 -> 80.
    assert sample_size(100, 0.05) == 80


@pytest.mark.parametrize("population", [1, 2, 10, 50, 500])
def test_sample_size_never_exceeds_population(population: int) -> None:
    n = sample_size(population, margin=0.001, confidence=0.999)
    assert 1 <= n <= population
    assert sample_size(population, margin=0.9) >= 1


def test_sample_size_monotonic() -> None:
    sizes_by_margin = [sample_size(10**7, margin=e) for e in (0.001, 0.005, 0.01, 0.02, 0.05, 0.1)]
    assert sizes_by_margin == sorted(sizes_by_margin, reverse=True)
    assert len(set(sizes_by_margin)) == len(sizes_by_margin)
    sizes_by_confidence = [sample_size(10**7, confidence=c) for c in (0.8, 0.9, 0.95, 0.99, 0.999)]
    assert sizes_by_confidence == sorted(sizes_by_confidence)
    sizes_by_population = [sample_size(n, 0.01) for n in (10, 100, 1000, 10**4, 10**5, 10**6)]
    assert sizes_by_population == sorted(sizes_by_population)
    # p (1 - p) is largest at 0.5, so the sample is too, symmetric in p <-> 1 - p.
    assert sample_size(10**6, p=0.5) > sample_size(10**6, p=0.3) == sample_size(10**6, p=0.7)


def test_sample_size_accepts_numpy_integers() -> None:
    assert sample_size(np.int64(1000), 0.05) == 278


# ----------------------------------------------------------------------------- margin_of_error


def test_margin_of_error_full_population_is_zero() -> None:
    assert margin_of_error(1, 1) == 0.0
    assert margin_of_error(777, 777) == 0.0


def test_margin_of_error_hand_value() -> None:
    # Infinite population, n = 9604, 95 %: e = 1.959964 * sqrt(0.25 / 9604) = 0.0099998.
    assert margin_of_error(9604, HUGE) == pytest.approx(1.959963984540054 * math.sqrt(0.25 / 9604), rel=1e-6)
    # N = 1000, n = 278: e = t * sqrt(0.25 * (1000/278 - 1) / 999).
    t = norm.ppf(0.975)
    assert margin_of_error(278, 1000) == pytest.approx(t * math.sqrt(0.25 * (1000 / 278 - 1) / 999))


@pytest.mark.parametrize("population", [1, 7, 100, 2_345, 10**6, HUGE])
@pytest.mark.parametrize("margin", [0.001, 0.01, 0.03, 0.2])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_inverse_consistency(population: int, margin: float, confidence: float) -> None:
    n = sample_size(population, margin, confidence)
    assert margin_of_error(n, population, confidence) <= margin + 1e-15
    if n > 1:
        # One fault fewer would no longer meet the margin (n is the smallest such size).
        assert margin_of_error(n - 1, population, confidence) > margin


def test_margin_of_error_decreases_with_n() -> None:
    margins = [margin_of_error(n, 10_000) for n in (1, 10, 100, 1000, 5000, 10_000)]
    assert margins == sorted(margins, reverse=True)
    assert margins[-1] == 0.0


# ----------------------------------------------------------------------------- wilson


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 10), (3, 10), (10, 10), (1, 1000), (500, 1000), (999, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(k: int, n: int, confidence: float) -> None:
    reference = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = wilson_interval(k, n, confidence)
    assert low == pytest.approx(reference.low, abs=1e-12)
    assert high == pytest.approx(reference.high, abs=1e-12)


def test_wilson_matches_hand_formula() -> None:
    z = norm.ppf(0.975)
    for k, n in [(1, 3), (17, 40), (250, 251)]:
        assert wilson_interval(k, n) == pytest.approx(_wilson_by_hand(k, n, z), abs=1e-12)
    # 3 out of 10 at 95 %: (0.10779, 0.60322), as tabulated for the Wilson interval.
    low, high = wilson_interval(3, 10)
    assert (round(low, 5), round(high, 5)) == (0.10779, 0.60322)


def test_wilson_edge_cases() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 50)
    assert low == 0.0 and 0.0 < high < 0.1
    low, high = wilson_interval(50, 50)
    assert high == 1.0 and 0.9 < low < 1.0


def test_wilson_contains_estimate_and_narrows() -> None:
    widths = []
    for n in (10, 100, 1000, 10_000):
        k = int(0.3 * n)
        low, high = wilson_interval(k, n)
        assert low <= k / n <= high
        widths.append(high - low)
    assert widths == sorted(widths, reverse=True)
    assert np.diff([wilson_interval(30, 100, c)[1] - wilson_interval(30, 100, c)[0] for c in (0.8, 0.9, 0.99)]).min() > 0


def test_wilson_intervals_vectorised_matches_scalar() -> None:
    rng = np.random.default_rng(20240611)
    n = rng.integers(0, 300, size=64)
    k = rng.integers(0, n + 1)
    low, high = wilson_intervals(k, n, 0.99)
    assert low.shape == high.shape == (64,)
    assert low.dtype == high.dtype == np.float64
    for ki, ni, lo, hi in zip(k, n, low, high, strict=True):
        assert (lo, hi) == pytest.approx(wilson_interval(int(ki), int(ni), 0.99), abs=1e-15)


def test_wilson_intervals_broadcast_and_float_counts() -> None:
    # k has shape (2, 1), n has shape (3,): the result is (2, 3); float counts must be integral.
    low, high = wilson_intervals(np.array([[0], [5]]), np.array([10.0, 20.0, 5.0]), 0.95)
    assert low.shape == high.shape == (2, 3)
    for i, k in enumerate((0, 5)):
        for j, n in enumerate((10, 20, 5)):
            assert (low[i, j], high[i, j]) == pytest.approx(wilson_interval(k, n), abs=1e-15)
    low, high = wilson_intervals([0, 0], [0, 4])
    assert (low[0], high[0]) == (0.0, 1.0)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"population": 0}, "population"),
        ({"population": -3}, "population"),
        ({"population": 10.5}, "population"),
        ({"population": True}, "population"),
        ({"population": 100, "margin": 0.0}, "margin"),
        ({"population": 100, "margin": 1.0}, "margin"),
        ({"population": 100, "margin": float("nan")}, "margin"),
        ({"population": 100, "confidence": 0.0}, "confidence"),
        ({"population": 100, "confidence": 1.0}, "confidence"),
        ({"population": 100, "p": 0.0}, "p must"),
        ({"population": 100, "p": 1.5}, "p must"),
    ],
)
def test_sample_size_rejects_bad_arguments(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        sample_size(**kwargs)


def test_margin_of_error_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="n must be at most the population"):
        margin_of_error(11, 10)
    with pytest.raises(ConfigError, match="n must be an integer >= 1"):
        margin_of_error(0, 10)
    with pytest.raises(ConfigError, match="confidence"):
        margin_of_error(5, 10, confidence=1.2)
    with pytest.raises(ConfigError, match="p must"):
        margin_of_error(5, 10, p=-0.1)


def test_wilson_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="k=5 > n=4"):
        wilson_interval(5, 4)
    with pytest.raises(ConfigError, match="k must be an integer >= 0"):
        wilson_interval(-1, 4)
    with pytest.raises(ConfigError, match="confidence"):
        wilson_interval(1, 4, confidence=0.0)
    with pytest.raises(ConfigError, match="k=3 > n=2"):
        wilson_intervals([1, 3], [2, 2])
    with pytest.raises(ConfigError, match="counts >= 0"):
        wilson_intervals([1, -1], [2, 2])
    with pytest.raises(ConfigError, match="integer counts"):
        wilson_intervals([0.5], [2])
    with pytest.raises(ConfigError, match="do not broadcast"):
        wilson_intervals([1, 2, 3], [4, 5])
    with pytest.raises(ValueError):  # ConfigError is a ValueError
        wilson_interval(2, 1)


def test_normal_quantile() -> None:
    assert normal_quantile(0.95) == pytest.approx(1.959963984540054)
    assert normal_quantile(0.99) == pytest.approx(2.5758293035489004)


def test_format_percent_keeps_small_nonzero_bounds_visible() -> None:
    from spikefi.campaign.stats import format_percent

    assert format_percent(0.1234) == "12.3%"
    assert format_percent(0.0) == "0.0%"
    assert format_percent(1.0) == "100.0%"
    # the upper Wilson bound of 0 critical faults in 1,002,240 rounds
    low, high = wilson_interval(0, 1_002_240)
    assert low == 0.0 and 0 < high < 1e-5
    assert format_percent(low) == "0.0%"
    text = format_percent(high)
    assert text.endswith("%") and float(text[:-1]) > 0 and len(text[:-1].lstrip("0.")) == 2
    assert format_percent(-2.5e-6) == "-0.00025%"


def test_result_line_shows_the_upper_bound_of_zero_critical_faults() -> None:
    from experiments.chunk_flush import with_result

    summary = {"rounds": 1_002_240, "critical_fault_rate": 0.0, "critical_fault_rate_low": 0.0,
               "critical_fault_rate_high": wilson_interval(0, 1_002_240)[1], "golden_accuracy": 1.0,
               "accuracy_min": 1.0, "accuracy_mean": 1.0, "mean_accuracy_drop": 0.0}
    line = with_result("what was injected", summary).splitlines()[0]
    assert "critical [0.0%, 0.00038%]" in line, line
