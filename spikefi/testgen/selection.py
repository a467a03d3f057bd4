"""Test selection on a detection matrix: set cover and maximum coverage.

* :func:`greedy_cover` — at every step the test detecting most not-yet-detected faults
  (ties: the lowest test index), until every detectable fault is detected or the budget
  ``max_tests`` is spent. Within ``1 + ln(n)`` of the smallest cover; a budgeted greedy
  covers at least ``1 - 1/e`` of the best coverage with that many tests.
* :func:`lazy_greedy_cover` — the same selection (identical tests, identical order),
  computed with a priority queue of stale gains (gains only shrink, so a test whose
  recomputed gain still tops the queue is the greedy choice).
* :func:`exact_cover` — a smallest set of tests detecting every detectable fault, by
  branch and bound after reductions (identical faults merged, dominated faults and tests
  removed, essential tests taken), within a node limit; reports whether the result is
  proven optimal.
* :func:`refine_selection` — drops redundant tests of a selection, then tries an exact
  cover (full-cover case) or 1-swap local search (budgeted case) to do better.
* :func:`n_detect_cover` — every fault detected by at least ``n`` selected tests (as many as
  detect it when fewer do), optionally every output class represented ``n`` times, filled
  level by level (first everything once, then twice, ...), within the budget; among tests
  meeting equally many open requirements, an optional ``priority`` per test decides (e.g.
  :func:`fragility`: the fault-free network's smallest output margin first); with ``fill``
  the budget left after the requirements goes to the tests detecting the most faults.
* :func:`golden_margins` / :func:`fragility` — how close each input is to its decision
  boundary on the fault-free network.
* :func:`coverage_curve` — faults detected by the first ``k`` tests of an order.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = [
    "Selection",
    "greedy_cover",
    "lazy_greedy_cover",
    "exact_cover",
    "refine_selection",
    "coverage_curve",
    "n_detect_cover",
    "golden_margins",
    "fragility",
    "order_by_gain",
    "select_tests",
]


@dataclass
class Selection:
    """Selected tests (rows of a detection matrix) in selection order.

    Attributes:
        tests: row indices, in order (the coverage curve follows this order).
        covered: number of faults detected by the first ``k + 1`` tests, for every ``k``.
        detectable: faults some test of the matrix detects.
        faults: columns of the matrix.
        method: how the tests were chosen.
        optimal: for exact covers, whether the size is proven minimal (``None``: not exact).
        info: details (nodes explored, seconds, reductions, ...).
    """

    tests: list[int]
    covered: list[int]
    detectable: int
    faults: int
    method: str
    optimal: bool | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        """Detected / detectable faults (1.0 when nothing is detectable)."""
        final = self.covered[-1] if self.covered else 0
        return final / self.detectable if self.detectable else 1.0

    def __len__(self) -> int:
        return len(self.tests)


def _check_matrix(detected: np.ndarray) -> np.ndarray:
    d = np.asarray(detected)
    if d.ndim != 2:
        raise ConfigError(f"a detection matrix must be 2-D (tests, faults), got shape {d.shape}")
    if d.dtype != bool:
        if not np.isin(d, (0, 1)).all():
            raise ConfigError("a detection matrix must hold booleans (or 0/1)")
        d = d.astype(bool)
    return d


def _check_budget(max_tests: int | None) -> None:
    if max_tests is not None and (isinstance(max_tests, bool) or not isinstance(max_tests, (int, np.integer))
                                  or max_tests < 1):
        raise ConfigError(f"max_tests must be None or an int >= 1, got {max_tests!r}")


def _candidates(d: np.ndarray, candidates: Sequence[int] | None) -> np.ndarray:
    if candidates is None:
        return np.arange(d.shape[0])
    c = np.asarray(list(candidates), dtype=int)
    if c.size and (c.min() < 0 or c.max() >= d.shape[0]):
        raise ConfigError(f"candidate tests must be row indices in [0, {d.shape[0]}), got {c.min()}..{c.max()}")
    return np.unique(c)


def coverage_curve(detected: np.ndarray, order: Sequence[int]) -> list[int]:
    """Number of faults detected by the first ``k`` tests of ``order``, for ``k = 1..len(order)``."""
    d = _check_matrix(detected)
    seen = np.zeros(d.shape[1], dtype=bool)
    out = []
    for t in order:
        seen |= d[int(t)]
        out.append(int(seen.sum()))
    return out


def _selection(d: np.ndarray, tests: list[int], method: str, optimal: bool | None = None,
               **info: Any) -> Selection:
    return Selection(tests, coverage_curve(d, tests), int(d.any(axis=0).sum()), d.shape[1], method, optimal, info)


def greedy_cover(detected: np.ndarray, max_tests: int | None = None,
                 candidates: Sequence[int] | None = None) -> Selection:
    """Greedy set cover / budgeted maximum coverage.

    Args:
        detected: ``(tests, faults)`` boolean matrix.
        max_tests: stop after this many tests (``None``: until every fault the candidates
            can detect is detected).
        candidates: rows allowed (default all).

    Returns:
        the selection; ties are broken towards the lowest row index.
    """
    d = _check_matrix(detected)
    _check_budget(max_tests)
    rows = _candidates(d, candidates)
    uncovered = d[rows].any(axis=0) if rows.size else np.zeros(d.shape[1], dtype=bool)
    chosen: list[int] = []
    sub = d[rows].astype(np.int32)
    while uncovered.any() and (max_tests is None or len(chosen) < max_tests):
        gains = sub @ uncovered.astype(np.int32)
        best = int(np.argmax(gains))  # first maximum: the lowest index
        if gains[best] == 0:
            break
        t = int(rows[best])
        chosen.append(t)
        uncovered &= ~d[t]
    return _selection(d, chosen, "greedy")


def lazy_greedy_cover(detected: np.ndarray, max_tests: int | None = None,
                      candidates: Sequence[int] | None = None) -> Selection:
    """The greedy selection (same tests, same order) with lazy gain updates."""
    d = _check_matrix(detected)
    _check_budget(max_tests)
    rows = _candidates(d, candidates)
    uncovered = d[rows].any(axis=0) if rows.size else np.zeros(d.shape[1], dtype=bool)
    heap = [(-int(d[t].sum()), int(t)) for t in rows]
    heapq.heapify(heap)
    chosen: list[int] = []
    evaluations = 0
    while heap and uncovered.any() and (max_tests is None or len(chosen) < max_tests):
        _, t = heapq.heappop(heap)
        gain = int((d[t] & uncovered).sum())
        evaluations += 1
        if gain == 0:
            continue
        # stored keys are lower bounds of the true keys (-gain, index): if ours is still the
        # smallest, no other test can beat it (nor tie it with a lower index)
        if heap and (-gain, t) > heap[0]:
            heapq.heappush(heap, (-gain, t))
            continue
        chosen.append(t)
        uncovered &= ~d[t]
    return _selection(d, chosen, "lazy-greedy", evaluations=evaluations)


def order_by_gain(detected: np.ndarray, tests: Sequence[int]) -> list[int]:
    """``tests`` reordered greedily (most new detections first), for a coverage curve."""
    d = _check_matrix(detected)
    rest = sorted(int(t) for t in tests)
    uncovered = np.ones(d.shape[1], dtype=bool)
    out = []
    while rest:
        gains = [int((d[t] & uncovered).sum()) for t in rest]
        k = int(np.argmax(gains))
        t = rest.pop(k)
        out.append(t)
        uncovered &= ~d[t]
    return out


def _reduce(masks: list[int], n_cols: int) -> tuple[list[int], list[int], list[int], dict[str, int]]:
    """Reductions of a set-cover instance (row bitmasks over columns).

    Returns ``(kept row ids, their masks over the kept columns, forced row ids, stats)``.
    """
    rows = {i: m for i, m in enumerate(masks) if m}
    cols = [c for c in range(n_cols) if any((m >> c) & 1 for m in rows.values())]
    forced: list[int] = []
    stats = {"essential": 0, "dominated_rows": 0, "dominated_faults": 0}
    col_rows = {c: frozenset(i for i, m in rows.items() if (m >> c) & 1) for c in cols}
    changed = True
    while changed and col_rows:
        changed = False
        # essential rows: a column only one row covers
        for _c, rs in list(col_rows.items()):
            if len(rs) == 1:
                (r,) = tuple(rs)
                if r in rows:
                    forced.append(r)
                    stats["essential"] += 1
                    covered = [cc for cc, rr in col_rows.items() if r in rr]
                    for cc in covered:
                        del col_rows[cc]
                    del rows[r]
                    changed = True
                    break
        if changed:
            continue
        # dominated columns: covering a also covers b when rows(a) ⊆ rows(b); drop b
        uniq: dict[frozenset[int], int] = {}
        for c, rs in col_rows.items():
            uniq.setdefault(rs, c)
        if len(uniq) < len(col_rows):
            stats["dominated_faults"] += len(col_rows) - len(uniq)
            col_rows = {c: rs for rs, c in uniq.items()}
            changed = True
        sets = sorted(col_rows.items(), key=lambda kv: len(kv[1]))
        drop = set()
        for i, (a, ra) in enumerate(sets):
            if a in drop:
                continue
            for b, rb in sets[i + 1:]:
                if b not in drop and ra < rb:
                    drop.add(b)
        if drop:
            stats["dominated_faults"] += len(drop)
            for b in drop:
                del col_rows[b]
            changed = True
        # dominated rows: r covers a subset of what s covers; drop r
        row_cols = {r: frozenset(c for c, rs in col_rows.items() if r in rs) for r in rows}
        order = sorted(row_cols.items(), key=lambda kv: (len(kv[1]), kv[0]))
        gone = set()
        for i, (r, cr) in enumerate(order):
            if not cr:
                gone.add(r)
                continue
            for s, cs in order[i + 1:]:
                if s not in gone and cr <= cs:
                    gone.add(r)
                    break
        if gone:
            stats["dominated_rows"] += len([g for g in gone if row_cols[g]])
            for r in gone:
                del rows[r]
            col_rows = {c: frozenset(x for x in rs if x not in gone) for c, rs in col_rows.items()}
            changed = True
    kept_cols = sorted(col_rows)
    index = {c: k for k, c in enumerate(kept_cols)}
    kept_rows = sorted({r for rs in col_rows.values() for r in rs})
    kept_masks = []
    for r in kept_rows:
        m = 0
        for c, rs in col_rows.items():
            if r in rs:
                m |= 1 << index[c]
        kept_masks.append(m)
    return kept_rows, kept_masks, forced, stats


def exact_cover(detected: np.ndarray, *, node_limit: int = 200_000, time_limit_s: float = 30.0,
                upper_bound: Sequence[int] | None = None) -> Selection:
    """A smallest set of tests detecting every detectable fault (branch and bound).

    Args:
        detected: ``(tests, faults)`` boolean matrix.
        node_limit, time_limit_s: search limits; when hit, the best cover found is
            returned with ``optimal=False``.
        upper_bound: a known cover (e.g. greedy's) to start from.

    Returns:
        the cover, ordered by gain, ``method="exact"``; ``info`` holds nodes, seconds,
        the reductions and the lower bound at the root.
    """
    d = _check_matrix(detected)
    if not (isinstance(node_limit, int) and node_limit >= 1):
        raise ConfigError(f"node_limit must be an int >= 1, got {node_limit!r}")
    t0 = time.perf_counter()
    masks = [int("".join("1" if v else "0" for v in row[::-1]) or "0", 2) for row in d]
    rows, rmasks, forced, stats = _reduce(masks, d.shape[1])
    full = (1 << max((m.bit_length() for m in rmasks), default=0)) - 1
    best: list[int] | None = None
    if upper_bound is not None:
        ub = [int(t) for t in upper_bound]
        if not d.any(axis=0).any() or d[ub].any(axis=0).sum() == d.any(axis=0).sum():
            best = ub
    best_size = len(best) if best is not None else len(rows) + len(forced) + 1
    col_rows: dict[int, list[int]] = {}
    for k, m in enumerate(rmasks):
        c = 0
        mm = m
        while mm:
            if mm & 1:
                col_rows.setdefault(c, []).append(k)
            mm >>= 1
            c += 1
    for c in col_rows:
        col_rows[c].sort(key=lambda k: -bin(rmasks[k]).count("1"))
    nodes = 0
    stopped = False

    def lower_bound(uncov: int) -> int:
        # disjoint columns need distinct rows: greedily pick columns with pairwise disjoint row sets
        used = 0
        count = 0
        m = uncov
        c = 0
        while m:
            if m & 1:
                rmask = 0
                for k in col_rows[c]:
                    rmask |= 1 << k
                if not rmask & used:
                    used |= rmask
                    count += 1
            m >>= 1
            c += 1
        maxcov = max((bin(rm & uncov).count("1") for rm in rmasks), default=1) or 1
        return max(count, -(-bin(uncov).count("1") // maxcov))

    root_lb = lower_bound(full) if full else 0
    current: list[int] = []

    def search(uncov: int) -> None:
        nonlocal best, best_size, nodes, stopped
        if stopped:
            return
        nodes += 1
        if nodes >= node_limit or time.perf_counter() - t0 > time_limit_s:
            stopped = True
            return
        if not uncov:
            size = len(current) + len(forced)
            if size < best_size:
                best_size = size
                best = [rows[k] for k in current] + forced
            return
        if len(current) + len(forced) + lower_bound(uncov) >= best_size:
            return
        # branch on the uncovered column with fewest rows
        m, c, pick, fewest = uncov, 0, -1, None
        while m:
            if m & 1:
                n = sum(1 for k in col_rows[c] if (rmasks[k] & uncov))
                if fewest is None or n < fewest:
                    pick, fewest = c, n
            m >>= 1
            c += 1
        for k in sorted(col_rows[pick], key=lambda k: -bin(rmasks[k] & uncov).count("1")):
            current.append(k)
            search(uncov & ~rmasks[k])
            current.pop()
            if stopped:
                return

    if full:
        search(full)
    elif best is None or len(forced) < best_size:
        best, best_size = list(forced), len(forced)
    if best is None:  # the limits stopped the search before any cover: fall back to greedy
        best = greedy_cover(d).tests
    optimal = not stopped
    tests = order_by_gain(d, best)
    return _selection(d, tests, "exact", optimal, nodes=nodes, seconds=time.perf_counter() - t0,
                      root_lower_bound=root_lb + len(forced), reduced_tests=len(rows), forced=len(forced), **stats)


def _drop_redundant(d: np.ndarray, tests: list[int]) -> list[int]:
    """Removes tests (last first) whose faults the others already detect."""
    keep = list(tests)
    for t in reversed(list(tests)):
        others = [u for u in keep if u != t]
        total = int(d[keep].any(axis=0).sum())
        without = int(d[others].any(axis=0).sum()) if others else 0
        if without == total:
            keep = others
    return keep


def _swap_search(d: np.ndarray, tests: list[int], candidates: np.ndarray, max_rounds: int = 50) -> list[int]:
    """1-swap local search for budgeted coverage: replace a test when coverage grows."""
    tests = list(tests)
    for _ in range(max_rounds):
        base = int(d[tests].any(axis=0).sum())
        improved = False
        for i in range(len(tests)):
            rest = d[tests[:i] + tests[i + 1:]].any(axis=0) if len(tests) > 1 else np.zeros(d.shape[1], dtype=bool)
            gains = (d[candidates] & ~rest).sum(axis=1)
            j = int(np.argmax(gains))
            if int(rest.sum()) + int(gains[j]) > base:
                tests[i] = int(candidates[j])
                improved = True
                break
        if not improved:
            break
    return tests


def refine_selection(detected: np.ndarray, selection: Selection, *, max_tests: int | None = None,
                     exact_limit: int = 2000, node_limit: int = 200_000, time_limit_s: float = 30.0,
                     candidates: Sequence[int] | None = None) -> Selection:
    """Improves a greedy selection.

    Full cover (the selection detects every detectable fault): redundant tests are dropped,
    then an exact cover is searched when the matrix has at most ``exact_limit`` candidate
    tests after dropping tests that detect nothing; the smaller of the two is kept.
    Budgeted (not everything detected within ``max_tests``): 1-swap local search.

    Returns:
        the refined selection, ordered by gain; ``method`` says what was applied.
    """
    d = _check_matrix(detected)
    rows = _candidates(d, candidates)
    sub_det = d[rows].any(axis=0)
    tests = list(selection.tests)
    detected_now = int(d[tests].any(axis=0).sum()) if tests else 0
    if detected_now == int(sub_det.sum()):
        tests = _drop_redundant(d, tests)
        method = "greedy+drop-redundant"
        optimal = None
        info: dict[str, Any] = {}
        useful = rows[d[rows].any(axis=1)]
        if 0 < len(useful) <= exact_limit:
            local = d[useful]
            ex = exact_cover(local, node_limit=node_limit, time_limit_s=time_limit_s,
                             upper_bound=[int(np.flatnonzero(useful == t)[0]) for t in tests])
            info = dict(ex.info)
            if len(ex.tests) <= len(tests):
                tests = [int(useful[k]) for k in ex.tests]
                optimal = ex.optimal
                method = "exact" if ex.optimal else "exact(limit reached)"
        if max_tests is not None and len(tests) > max_tests:
            tests = order_by_gain(d, tests)[:max_tests]
        return _selection(d, order_by_gain(d, tests), method, optimal, **info)
    tests = _swap_search(d, tests, rows)
    return _selection(d, order_by_gain(d, tests), "greedy+1-swap")


def golden_margins(counts: np.ndarray) -> np.ndarray:
    """Per input: its largest output spike count minus the second largest (0: a tie).

    Args:
        counts: ``(inputs, classes)`` output spike counts of the fault-free network.
    """
    c = np.asarray(counts)
    if c.ndim != 2 or c.shape[1] < 2:
        raise ConfigError(f"output counts must be (inputs, classes >= 2), got shape {c.shape}")
    top = np.sort(c, axis=1)
    return (top[:, -1] - top[:, -2]).astype(np.int64)


def fragility(counts: np.ndarray) -> np.ndarray:
    """Priority of inputs near their decision boundary: ``-golden_margins(counts)`` (higher first).

    An input whose fault-free top-two output counts are close changes its class under more
    faults, including faults it was not selected for; as the tie rule of
    :func:`n_detect_cover` it makes a selection generalise to held-out faults (measured:
    docs/testgen.md, ``benchmarks/testgen_defaults.py``).
    """
    return -golden_margins(counts).astype(np.float64)


def n_detect_cover(detected: np.ndarray, n: int, max_tests: int | None = None, *,
                   groups: Sequence[Any] | np.ndarray | None = None,
                   candidates: Sequence[int] | None = None,
                   priority: Sequence[float] | np.ndarray | None = None, fill: bool = False) -> Selection:
    """Greedy n-detect selection: each fault detected by ``min(n, tests detecting it)`` selected tests.

    Requirements are raised one level at a time: first every fault (and group) once, then
    twice, ... up to ``n``, each level filled greedily (the test meeting most open
    requirements; ties to the highest ``priority``, then to the lowest index), so a budget
    that binds cuts the highest level, never the first detection of a fault. With ``fill``,
    the budget left once every requirement is met (or none can be met any more) goes to the
    remaining tests that detect the most faults (ties: ``priority``, then the lowest index;
    tests detecting nothing are not added): an input many known faults change is likely to
    be changed by faults not in the list too.

    Args:
        detected: ``(tests, faults)`` boolean matrix.
        n: detections wanted per fault (``>= 1``; ``n = 1`` with no groups is the greedy cover).
        max_tests: budget (``None``: none).
        groups: optional label per test (e.g. the golden class of each input): every label
            present among the candidates is also required ``n`` times, like a fault that the
            tests of that label detect (a fault silencing one output class is only seen by
            inputs of that class).
        candidates: rows allowed (default all).
        priority: optional score per test breaking ties between tests of equal gain (higher
            first), e.g. :func:`fragility`; ``None``: the lowest index.
        fill: spend the rest of ``max_tests`` as above (needs a budget).

    Returns:
        the selection (in selection order); ``info`` holds ``n_detect``, ``groups`` (labels
        required), ``min_detections`` (over detectable faults) and ``groups_covered``.
    """
    d = _check_matrix(detected)
    _check_budget(max_tests)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n_detect must be an int >= 1, got {n!r}")
    rows = _candidates(d, candidates)
    req = d
    labels: list[Any] = []
    if groups is not None:
        g = np.asarray(list(groups), dtype=object)
        if len(g) != d.shape[0]:
            raise ConfigError(f"groups needs one label per test: {d.shape[0]} tests, {len(g)} labels")
        labels = sorted({g[int(r)] for r in rows}, key=str)
        req = np.hstack([d, np.stack([g == lab for lab in labels], axis=1)]) if labels else d
    prio = np.zeros(d.shape[0], dtype=np.float64)
    if priority is not None:
        prio = np.asarray(list(priority) if not isinstance(priority, np.ndarray) else priority, dtype=np.float64)
        if prio.shape != (d.shape[0],) or not np.isfinite(prio).all():
            raise ConfigError(f"priority needs one finite score per test: {d.shape[0]} tests, got shape {prio.shape}")
    allowed = np.zeros(d.shape[0], dtype=bool)
    allowed[rows] = True
    avail = req[rows].sum(axis=0)
    count = np.zeros(req.shape[1], dtype=int)
    chosen: list[int] = []
    sub = req.astype(np.int32)
    for level in range(1, int(n) + 1):
        need = np.minimum(level, avail)
        while max_tests is None or len(chosen) < max_tests:
            open_ = count < need
            if not open_.any():
                break
            gains = sub[:, open_].sum(axis=1)
            gains[~allowed] = -1
            gains[chosen] = -1
            top = int(gains.max())
            if top <= 0:
                break
            tied = np.flatnonzero(gains == top)
            best = int(tied[np.argmax(prio[tied])])  # first maximum: the lowest index among equals
            chosen.append(best)
            count += req[best]
    filled = 0
    if fill and max_tests is not None:
        broad = d.sum(axis=1)
        taken = set(chosen)
        rest = [int(t) for t in rows if broad[t] > 0 and int(t) not in taken]
        rest.sort(key=lambda t: (-int(broad[t]), -prio[t], t))
        for t in rest[:max(0, max_tests - len(chosen))]:
            chosen.append(t)
            count += req[t]
            filled += 1
    detectable = d[rows].any(axis=0)
    fault_counts = count[:d.shape[1]]
    info = {"n_detect": int(n), "groups": [str(lab) for lab in labels],
            "min_detections": int(fault_counts[detectable].min()) if detectable.any() else 0,
            "groups_covered": int((count[d.shape[1]:] > 0).sum())}
    info["priority"] = priority is not None
    info["filled"] = filled
    name = (f"n-detect(n={int(n)}{', classes' if labels else ''}{', priority' if priority is not None else ''}"
            f"{', fill' if fill else ''})")
    return _selection(d, chosen, name, **info)


def select_tests(detected: np.ndarray, max_tests: int | None = None, *, method: str = "greedy+exact",
                 candidates: Sequence[int] | None = None, exact_limit: int = 2000, node_limit: int = 200_000,
                 time_limit_s: float = 30.0, n_detect: int = 1,
                 groups: Sequence[Any] | np.ndarray | None = None,
                 priority: Sequence[float] | np.ndarray | None = None, fill: bool = False) -> Selection:
    """Selects tests: ``greedy``, ``lazy-greedy`` or ``greedy+exact`` (greedy, then :func:`refine_selection`);
    with ``n_detect > 1``, ``groups``, a ``priority`` or ``fill``, :func:`n_detect_cover` (the method then
    names only the first-level tie order: every method gives the same n-detect selection)."""
    if method not in ("greedy", "lazy-greedy", "greedy+exact"):
        raise ConfigError(f"selection method must be 'greedy', 'lazy-greedy' or 'greedy+exact', got {method!r}")
    if n_detect != 1 or groups is not None or priority is not None or fill:
        return n_detect_cover(detected, n_detect, max_tests, groups=groups, candidates=candidates, priority=priority,
                              fill=fill)
    if method == "lazy-greedy":
        return lazy_greedy_cover(detected, max_tests, candidates)
    sel = greedy_cover(detected, max_tests, candidates)
    if method == "greedy":
        return sel
    refined = refine_selection(detected, sel, max_tests=max_tests, exact_limit=exact_limit, node_limit=node_limit,
                               time_limit_s=time_limit_s, candidates=candidates)
    better = refined.covered[-1:] > sel.covered[-1:] or (refined.covered[-1:] == sel.covered[-1:]
                                                         and len(refined) <= len(sel))
    return refined if better else sel
