"""Test selection: greedy, lazy greedy and exact set cover against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from spikefi.errors import ConfigError
from spikefi.testgen import (
    coverage_curve,
    exact_cover,
    greedy_cover,
    lazy_greedy_cover,
    order_by_gain,
    refine_selection,
    select_tests,
    split_faults,
)


def random_matrices(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        tests, faults = int(rng.integers(1, 9)), int(rng.integers(0, 16))
        yield rng.random((tests, faults)) < rng.uniform(0.05, 0.6)


def brute_force_min_cover(d: np.ndarray) -> int:
    target = int(d.any(axis=0).sum())
    for k in range(d.shape[0] + 1):
        for comb in itertools.combinations(range(d.shape[0]), k):
            got = int(d[list(comb)].any(axis=0).sum()) if comb else 0
            if got == target:
                return k
    raise AssertionError("unreachable")


def brute_force_max_coverage(d: np.ndarray, k: int) -> int:
    return max(int(d[list(c)].any(axis=0).sum()) for c in itertools.combinations(range(d.shape[0]), min(k, d.shape[0])))


def test_exact_cover_is_minimal_against_brute_force():
    for d in random_matrices(150, seed=1):
        ex = exact_cover(d)
        assert ex.optimal
        assert len(ex.tests) == brute_force_min_cover(d)
        assert ex.coverage == 1.0
        assert int(d[ex.tests].any(axis=0).sum() if ex.tests else 0) == int(d.any(axis=0).sum())
        assert len(select_tests(d)) == len(ex.tests)  # greedy + exact refinement finds the minimum too


def test_lazy_greedy_equals_greedy_tests_and_order():
    for d in random_matrices(150, seed=2):
        for budget in (None, 1, 2):
            g, lz = greedy_cover(d, budget), lazy_greedy_cover(d, budget)
            assert g.tests == lz.tests and g.covered == lz.covered
    d = np.random.default_rng(3).random((120, 600)) < 0.03
    assert greedy_cover(d).tests == lazy_greedy_cover(d).tests


def test_greedy_covers_everything_and_respects_the_budget():
    for d in random_matrices(80, seed=4):
        g = greedy_cover(d)
        assert g.coverage == 1.0 and g.covered == coverage_curve(d, g.tests)
        assert all(b > a for a, b in zip(g.covered, g.covered[1:], strict=False))  # every test adds faults
        one = greedy_cover(d, max_tests=1)
        assert len(one) <= 1
        # budgeted greedy + 1-swap is within (1 - 1/e) of the best coverage with 2 tests
        if d.shape[1]:
            best = brute_force_max_coverage(d, 2)
            refined = select_tests(d, 2)
            assert len(refined) <= 2
            assert refined.covered[-1] >= (1 - 1 / np.e) * best - 1e-9 if refined.covered else best == 0


def test_ties_go_to_the_lowest_test_and_curves_follow_the_order():
    d = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=bool)
    assert greedy_cover(d).tests == [0, 1]
    assert coverage_curve(d, [3, 1, 0]) == [1, 2, 4]
    assert order_by_gain(d, [3, 1, 0]) == [0, 1, 3]
    sel = refine_selection(d, greedy_cover(d))
    assert sorted(sel.tests) == [0, 1] and sel.optimal


def test_exact_cover_on_a_known_instance_beats_greedy():
    # greedy takes the big middle test first and then needs two more; the optimum is 2
    d = np.zeros((3, 6), dtype=bool)
    d[0, [0, 1, 2]] = True
    d[1, [3, 4, 5]] = True
    d[2, [1, 2, 3, 4]] = True
    d = np.vstack([d[2], d[0], d[1]])
    assert len(greedy_cover(d)) == 3
    ex = exact_cover(d)
    assert sorted(ex.tests) == [1, 2] and ex.optimal
    assert select_tests(d).method == "exact"


def test_split_is_seeded_disjoint_and_complete():
    a, b = split_faults(11, 0.5, seed=3)
    a2, b2 = split_faults(11, 0.5, seed=3)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    assert sorted(np.concatenate([a, b]).tolist()) == list(range(11)) and len(a) == 6
    assert not np.array_equal(split_faults(11, 0.5, seed=4)[0], a)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: greedy_cover(np.ones(3, dtype=bool)), "2-D"),
    (lambda: greedy_cover(np.full((2, 2), 2)), "booleans"),
    (lambda: greedy_cover(np.ones((2, 2), dtype=bool), max_tests=0), "max_tests"),
    (lambda: greedy_cover(np.ones((2, 2), dtype=bool), candidates=[5]), "candidate tests"),
    (lambda: select_tests(np.ones((2, 2), dtype=bool), method="ilp"), "selection method"),
    (lambda: exact_cover(np.ones((2, 2), dtype=bool), node_limit=0), "node_limit"),
    (lambda: split_faults(0, 0.5, 0), "at least one"),
    (lambda: split_faults(4, 1.5, 0), "fraction"),
])
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


def test_importing_testgen_pulls_in_no_mlflow_optuna_or_matplotlib():
    import subprocess
    import sys

    code = ("import sys, spikefi.testgen; "
            "print(sorted(m for m in ('mlflow', 'optuna', 'matplotlib') if m in sys.modules))")
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert out.stdout.strip() == "[]"
