"""From a fault list to a test program with honestly measured coverage.

:func:`generate_test_program` does, in order:

1. **detection matrix** of the candidate inputs (e.g. the test split) against every fault
   (given, e.g. from a campaign's kept predictions, or recomputed);
2. **split** of the fault list into a *selection* half and a *held-out* half (seeded);
3. **selection** of at most ``max_tests`` candidate inputs on the selection half only:
   n-detect (every fault detected by ``n_detect`` inputs, every output class represented
   ``n_detect`` times when ``class_cover``; among inputs of equal gain the one nearest its
   decision boundary first when ``tie_break="fragile"``; with ``fill_budget`` the rest of the
   budget on the inputs detecting the most faults), or with ``n_detect=1``, no class cover,
   ``tie_break="index"`` and no fill a greedy set cover refined by an exact cover / local
   search (:mod:`.selection`);
4. **generation** of inputs for the selection half's faults that no candidate detects
   (``targets="undetected"``) or that the selection missed (``"missed"``), verified by a
   campaign run; verified inputs join the candidates and the selection is redone;
5. **test program** of the selected inputs with the golden responses;
6. **coverage by application**: the program is applied to every fault of both halves at
   once (:func:`~spikefi.testgen.measure_coverage`): coverage on the selection half, on the
   held-out half (does the selection generalise?) and on all, coverage vs test length,
   the faults still undetected, and the *gain* of the generated inputs: faults the final
   program detects that the selection from the candidates alone missed;
7. a **hindsight reference**: the best ``max_tests`` inputs chosen on *all* faults (what a
   selection that had seen the held-out half could reach), to judge the held-out number.

Coverage is "detected / detectable", a fault being detectable when some candidate input or
verified generated input detects it; raw "detected / all faults" is reported too.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from ..campaign.network import network_map
from ..errors import ConfigError
from .detection import DetectionMatrix, compute_detection, golden_responses
from .faultlist import FaultList
from .generation import GenerationReport, generate_inputs
from .program import TestProgram, build_test_program, measure_coverage
from .selection import Selection, fragility, golden_margins, select_tests

__all__ = ["TestGenConfig", "TestGenResult", "split_faults", "generate_test_program", "fault_label"]


@dataclass
class TestGenConfig:
    """Settings of :func:`generate_test_program` (every random choice takes ``split_seed`` or ``seed``).

    Attributes:
        max_tests: test-length budget of the program.
        n_detect: every fault of the selection half is to be detected by this many selected
            inputs (all that detect it when fewer do). Default 1 with ``class_cover``,
            ``tie_break="fragile"`` and ``fill_budget``: measured on seven demo-like networks x
            20 splits (docs/testgen.md, ``benchmarks/testgen_defaults.py``), the setting that
            meets the held-out target most often (n 2 to 4 bind the budget at level 2 and
            do slightly worse).
        class_cover: also require every golden output class among the candidates ``n_detect``
            times (faults that silence or favour one output class are only seen by inputs of
            that class, whether or not such a fault fell into the selection half).
        tie_break: among inputs meeting equally many open requirements, ``fragile`` takes the
            one with the smallest fault-free output margin (top count minus the second; it
            changes class under more faults, also unseen ones), ``index`` the lowest index.
            Default ``fragile`` (measured, see ``n_detect``).
        fill_budget: once the requirements are met, spend the rest of ``max_tests`` on the
            inputs that detect the most selection-half faults (ties: ``tie_break``).
        selection_fraction: share of the fault list used for selection (the rest is held out).
        split_seed: seed of the split.
        method: ``greedy``, ``lazy-greedy`` or ``greedy+exact``.
        exact_limit, node_limit, exact_time_limit_s: limits of the exact refinement.
        count_tolerance: ``None`` (prediction criterion) or also detect by output counts.
        generate: generate inputs (step 4).
        generation_targets: ``undetected`` or ``missed``.
        generation_max_faults: at most this many targets (a seeded sample when more).
        generation_steps, generation_restarts, generation_lr: optimiser settings.
        max_density: spike-density bound of generated inputs (``None``: the largest density
            of the candidate inputs).
        generation_time_limit_s: time budget of generation (``None``: none).
        seed: campaign and generation seed.
        batch_size, engine, chunk_size: campaign settings.
    """

    __test__ = False

    max_tests: int = 20
    n_detect: int = 1
    class_cover: bool = True
    tie_break: str = "fragile"
    fill_budget: bool = True
    selection_fraction: float = 0.5
    split_seed: int = 0
    method: str = "greedy+exact"
    exact_limit: int = 2000
    node_limit: int = 200_000
    exact_time_limit_s: float = 30.0
    count_tolerance: int | None = None
    generate: bool = True
    generation_targets: str = "undetected"
    generation_max_faults: int = 32
    generation_steps: int = 60
    generation_restarts: int = 4
    generation_lr: float = 0.1
    max_density: float | None = None
    generation_time_limit_s: float | None = None
    seed: int = 0
    batch_size: int = 64
    engine: str = "parallel"
    chunk_size: int = 64

    def __post_init__(self) -> None:
        ints = {"max_tests": 1, "n_detect": 1, "exact_limit": 0, "node_limit": 1, "generation_max_faults": 0, "generation_steps": 1,
                "generation_restarts": 1, "split_seed": 0, "seed": 0, "batch_size": 1, "chunk_size": 1}
        for name, low in ints.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"{name} must be an int >= {low}, got {v!r}")
        for name in ("class_cover", "fill_budget"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not (isinstance(self.selection_fraction, (int, float)) and 0 < self.selection_fraction <= 1):
            raise ConfigError(f"selection_fraction must be in (0, 1], got {self.selection_fraction!r}")
        if self.tie_break not in ("fragile", "index"):
            raise ConfigError(f"tie_break must be 'fragile' or 'index', got {self.tie_break!r}")
        if self.method not in ("greedy", "lazy-greedy", "greedy+exact"):
            raise ConfigError(f"method must be 'greedy', 'lazy-greedy' or 'greedy+exact', got {self.method!r}")
        if self.generation_targets not in ("undetected", "missed"):
            raise ConfigError(f"generation_targets must be 'undetected' or 'missed', got {self.generation_targets!r}")
        if self.count_tolerance is not None and (isinstance(self.count_tolerance, bool)
                                                 or not isinstance(self.count_tolerance, int) or self.count_tolerance < 0):
            raise ConfigError(f"count_tolerance must be None or an int >= 0, got {self.count_tolerance!r}")
        if self.max_density is not None and not (isinstance(self.max_density, (int, float)) and 0 < self.max_density <= 1):
            raise ConfigError(f"max_density must be None or in (0, 1], got {self.max_density!r}")
        for name in ("exact_time_limit_s", "generation_lr"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0):
                raise ConfigError(f"{name} must be > 0, got {v!r}")
        if self.generation_time_limit_s is not None and not (isinstance(self.generation_time_limit_s, (int, float))
                                                             and self.generation_time_limit_s > 0):
            raise ConfigError(f"generation_time_limit_s must be None or > 0, got {self.generation_time_limit_s!r}")


@dataclass
class TestGenResult:
    """Everything :func:`generate_test_program` produced.

    Attributes:
        program: the test program.
        detection: candidate inputs x faults.
        generated_detection: verified generated inputs x faults (``None`` without any).
        program_detection: program tests x faults, measured by applying the program.
        selection_half, heldout_half: fault indices of the two halves.
        sample_selection: the selection from the candidates alone.
        final_selection: the selection the program holds (rows of the candidates, then of
            the generated inputs, stacked).
        generation: the generation report (``None`` when generation was off or had no target).
        curve: per test length ``k``: faults detected and coverage on each half and on all.
        metrics: the numbers (see :func:`generate_test_program`).
        undetected: ids of the faults the program misses, with whether they are detectable.
    """

    __test__ = False

    program: TestProgram
    detection: DetectionMatrix
    generated_detection: DetectionMatrix | None
    program_detection: DetectionMatrix
    selection_half: np.ndarray
    heldout_half: np.ndarray
    sample_selection: Selection
    final_selection: Selection
    generation: GenerationReport | None
    curve: list[dict[str, float]]
    metrics: dict[str, float]
    undetected: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def split_faults(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into ``(selection, held-out)`` index arrays (each sorted).

    The selection half holds ``round(fraction * n)`` entries (at least 1 when ``n >= 1``).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"cannot split {n!r} faults; need at least one")
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ConfigError(f"fraction must be in (0, 1], got {fraction!r}")
    perm = np.random.default_rng([int(seed), 97]).permutation(int(n))
    k = min(int(n), max(1, int(round(fraction * n))))
    return np.sort(perm[:k]), np.sort(perm[k:])


def _cov(covered: np.ndarray, detectable: np.ndarray, cols: np.ndarray) -> float:
    d = int(detectable[cols].sum())
    return float((covered[cols] & detectable[cols]).sum() / d) if d else 1.0


def fault_label(faults: Any) -> str:
    """A short name of a fault round: ``DeadNeuron@SF4(4,0,0)`` (``+`` between faults)."""
    parts = []
    for f in faults:
        for site in f.sites:
            pos = ",".join(str(int(v)) for v in (site.position or ()))
            parts.append(f"{f.model.name}@{site.layer}({pos})")
    return "+".join(parts)


def _test_rows(names: list[str], measured: np.ndarray, fault_list: FaultList, sel: np.ndarray, held: np.ndarray,
               sample_rows: list[int | None], sample_ids: Any, labels: Any, expected: np.ndarray,
               expected_counts: np.ndarray) -> list[dict[str, Any]]:
    """What each test of the program is and detects (measured), in program order."""
    margins = golden_margins(expected_counts)
    in_sel = np.zeros(measured.shape[1], dtype=bool)
    in_sel[sel] = True
    seen = np.zeros(measured.shape[1], dtype=bool)
    rows = []
    for k, name in enumerate(names):
        row = sample_rows[k]
        det = measured[k]
        new = det & ~seen
        seen |= det
        rows.append({
            "test": k, "name": name, "origin": "sample" if row is not None else "generated",
            "sample": None if row is None else int(sample_ids[row]) if sample_ids is not None else int(row),
            "label": None if row is None or labels is None else int(labels[row]),
            "expected_class": int(expected[k]), "golden_margin": int(margins[k]),
            "detects": int(det.sum()), "detects.selection": int((det & in_sel).sum()),
            "detects.heldout": int((det & ~in_sel).sum()), "new_detections": int(new.sum()),
            "faults": [int(j) for j in np.flatnonzero(det)],
            "fault_labels": [fault_label(fault_list.rounds[j]) for j in np.flatnonzero(det)],
        })
    return rows


def generate_test_program(net: Any, candidates: Any, fault_list: FaultList, *, config: TestGenConfig | None = None,
                          detection: DetectionMatrix | None = None, progress: bool = False,
                          log: Any = None, labels: Any = None, sample_ids: Any = None) -> TestGenResult:
    """Builds a test program for ``fault_list`` from candidate inputs and measures its coverage.

    Args:
        net: the golden network.
        candidates: candidate inputs ``(N, C, H, W, T)`` (spikes of value ``1/Ts``), e.g. the test split.
        fault_list: the faults to detect (checked against ``net`` before any work).
        config: settings (:class:`TestGenConfig`).
        detection: the candidates x faults matrix when already known (e.g.
            :func:`~spikefi.testgen.detection_from_result`); recomputed otherwise.
        log: optional ``callable(str)`` for progress lines.
        labels: the dataset label of every candidate (listed with the program's inputs).
        sample_ids: the id of every candidate in its dataset split (default: its row).

    Returns:
        a :class:`TestGenResult`; ``metrics`` holds ``coverage.selection``, ``coverage.heldout``,
        ``coverage.all`` (detected / detectable, measured by applying the program),
        ``coverage_raw.*`` (detected / all), ``test_length``, ``faults``, ``faults.selection``,
        ``faults.heldout``, ``detectable.*``, ``undetected`` (faults of the list the program
        misses), ``undetectable`` (no candidate or generated input detects them),
        ``generated.targets``, ``generated.verified``, ``generated.in_program``,
        ``generated.gain.selection`` / ``.heldout`` / ``.all`` (faults detected by the program
        that the selection from candidates alone missed), ``generated.appended_gain.*`` and
        ``generated.appended_test_length`` (what appending every verified generated input not
        in the program would add, and the test length then), ``sample_selection.coverage.*``,
        ``consistency_mismatches`` (program detection vs the selection's matrix; 0 expected),
        ``n_detect``, ``min_detections.selection`` (fewest program tests detecting a detectable
        selection-half fault), ``hindsight.test_length`` / ``hindsight.coverage.heldout`` /
        ``hindsight.coverage.all`` (the best ``max_tests`` inputs chosen on all faults, from the
        matrix) and ``coverage.heldout_vs_hindsight`` (held-out coverage / the hindsight one).
        ``program.info["tests"]`` lists every input: sample id, label, expected class and the
        faults it detects (measured).
    """
    cfg = config or TestGenConfig()
    say = log or (lambda _msg: None)
    timings: dict[str, float] = {}
    x = candidates if isinstance(candidates, torch.Tensor) else torch.as_tensor(np.asarray(candidates))
    if x.ndim != 5 or x.shape[0] < 1:
        raise ConfigError(f"candidate inputs must be (N, C, H, W, T) with N >= 1, got shape {tuple(x.shape)}")
    n_faults = len(fault_list)
    if n_faults == 0:
        raise ConfigError("the fault list is empty: nothing to detect")
    spike = float(x[x != 0].flatten()[0]) if bool((x != 0).any()) else 1.0
    t0 = time.perf_counter()
    golden_pred, golden_counts = golden_responses(net, x, batch_size=cfg.batch_size)
    if detection is None:
        say(f"detection matrix: {x.shape[0]} candidates x {n_faults} faults (campaign, engine {cfg.engine})")
        detection = compute_detection(net, x, fault_list, golden_pred=golden_pred, count_tolerance=cfg.count_tolerance,
                                      seed=cfg.seed, batch_size=cfg.batch_size, engine=cfg.engine,
                                      chunk_size=cfg.chunk_size, progress=progress)
    else:
        fault_list.check_network(network_map(net, tuple(x.shape[1:4]), int(x.shape[-1])))  # type: ignore[arg-type]
        wanted = "prediction" if cfg.count_tolerance is None else f"prediction+counts(tol={cfg.count_tolerance})"
        if detection.criterion != wanted:
            raise ConfigError(f"the given detection matrix uses the criterion {detection.criterion!r}, the config "
                              f"asks for {wanted!r}")
        if detection.shape != (x.shape[0], n_faults) or list(detection.fault_ids) != list(fault_list.ids):
            raise ConfigError(f"the detection matrix ({detection.shape}) does not match {x.shape[0]} candidates x "
                              f"{n_faults} faults of the fault list (same order of fault ids)")
    timings["detection_s"] = time.perf_counter() - t0
    sel, held = split_faults(n_faults, cfg.selection_fraction, cfg.split_seed)
    d = detection.detected

    t0 = time.perf_counter()
    groups = golden_pred if cfg.class_cover else None
    priority = fragility(golden_counts) if cfg.tie_break == "fragile" else None
    sample_sel = select_tests(d[:, sel], cfg.max_tests, method=cfg.method, exact_limit=cfg.exact_limit,
                              node_limit=cfg.node_limit, time_limit_s=cfg.exact_time_limit_s, n_detect=cfg.n_detect,
                              groups=groups, priority=priority, fill=cfg.fill_budget)
    timings["selection_s"] = time.perf_counter() - t0
    say(f"selection from candidates: {len(sample_sel)} tests ({sample_sel.method}), "
        f"coverage on the selection half {sample_sel.coverage:.4f}")
    sample_cov = d[sample_sel.tests].any(axis=0) if sample_sel.tests else np.zeros(n_faults, dtype=bool)

    generation: GenerationReport | None = None
    gen_dm: DetectionMatrix | None = None
    final_sel = sample_sel
    full = detection
    t0 = time.perf_counter()
    if cfg.generate:
        if cfg.generation_targets == "undetected":
            targets = sel[~d[:, sel].any(axis=0)]
        else:
            targets = sel[~sample_cov[sel]]
        if len(targets) > cfg.generation_max_faults:
            rng = np.random.default_rng([cfg.seed, 53])
            targets = np.sort(rng.choice(targets, size=cfg.generation_max_faults, replace=False))
        if len(targets):
            say(f"generating inputs for {len(targets)} faults ({cfg.generation_targets})")
            generation = generate_inputs(
                net, fault_list.subset(targets), x, max_density=cfg.max_density, steps=cfg.generation_steps,
                restarts=cfg.generation_restarts, lr=cfg.generation_lr, seed=cfg.seed, batch_size=cfg.batch_size,
                exclude_detecting=d[:, targets] if cfg.generation_targets == "missed" else None,
                time_limit_s=cfg.generation_time_limit_s)
            for g in generation.inputs:
                g.fault_index = int(targets[g.fault_index])
            verified = generation.verified
            say(f"generated: {len(verified)} of {len(targets)} verified")
            if verified:
                gx = torch.from_numpy(generation.stacked().astype(np.float32)) * spike
                names = [f"generated:{k}(fault {g.fault_index})" for k, g in enumerate(verified)]
                gen_dm = compute_detection(net, gx, fault_list, count_tolerance=cfg.count_tolerance, seed=cfg.seed,
                                           batch_size=cfg.batch_size, engine=cfg.engine, chunk_size=cfg.chunk_size,
                                           test_names=names)
                full = detection.stack(gen_dm)
                gen_groups = None if groups is None else np.concatenate(
                    [np.asarray(groups), np.asarray([g.golden_class for g in verified])])
                gen_priority = None
                if priority is not None:
                    _, gen_counts = golden_responses(net, gx, batch_size=cfg.batch_size)
                    gen_priority = np.concatenate([priority, fragility(gen_counts)])
                final_sel = select_tests(full.detected[:, sel], cfg.max_tests, method=cfg.method,
                                         exact_limit=cfg.exact_limit, node_limit=cfg.node_limit,
                                         time_limit_s=cfg.exact_time_limit_s, n_detect=cfg.n_detect,
                                         groups=gen_groups, priority=gen_priority, fill=cfg.fill_budget)
                if final_sel.covered[-1:] < sample_sel.covered[-1:]:
                    final_sel = sample_sel
    timings["generation_s"] = time.perf_counter() - t0

    # the program: selected rows of candidates, then of generated inputs
    n_cand = x.shape[0]
    rows = []
    names = []
    sample_rows: list[int | None] = []
    for t in final_sel.tests:
        sample_rows.append(t if t < n_cand else None)
        if t < n_cand:
            rows.append((x[t] != 0).to(torch.float32) * spike)
            names.append(f"sample:{t if sample_ids is None else int(sample_ids[t])}")
        else:
            g = generation.verified[t - n_cand]  # type: ignore[union-attr]
            rows.append(torch.from_numpy(g.input.astype(np.float32)) * spike)  # type: ignore[union-attr]
            names.append(f"generated:{t - n_cand}(fault {g.fault_index})")
    if not rows:
        raise ConfigError("no candidate input detects any fault of the selection half: no test program can be built")
    t0 = time.perf_counter()
    program = build_test_program(net, torch.stack(rows), names, count_tolerance=cfg.count_tolerance,
                                 batch_size=cfg.batch_size)
    measured = measure_coverage(net, program, fault_list, seed=cfg.seed, batch_size=cfg.batch_size, engine=cfg.engine,
                                chunk_size=cfg.chunk_size, progress=progress)
    timings["program_coverage_s"] = time.perf_counter() - t0
    expected = full.detected[final_sel.tests]
    mismatches = int((expected != measured.detected).sum())

    detectable = full.detected.any(axis=0)
    covered = measured.detected.any(axis=0)
    everything = np.arange(n_faults)
    curve = []
    seen = np.zeros(n_faults, dtype=bool)
    for k in range(len(program)):
        seen |= measured.detected[k]
        curve.append({"tests": k + 1, "detected": int(seen.sum()),
                      "coverage.selection": _cov(seen, detectable, sel),
                      "coverage.heldout": _cov(seen, detectable, held),
                      "coverage.all": _cov(seen, detectable, everything)})
    gain = covered & ~sample_cov
    hindsight = select_tests(full.detected, cfg.max_tests, method=cfg.method, exact_limit=cfg.exact_limit,
                             node_limit=cfg.node_limit, time_limit_s=cfg.exact_time_limit_s)
    h_cov = full.detected[hindsight.tests].any(axis=0) if hindsight.tests else np.zeros(n_faults, dtype=bool)
    h_held = _cov(h_cov, detectable, held) if len(held) else float("nan")
    program_counts = measured.detected.sum(axis=0)
    sel_detectable = sel[detectable[sel]]
    # what appending every verified generated input to the program would add (measured rows)
    appended = covered | (gen_dm.detected.any(axis=0) if gen_dm is not None else np.zeros(n_faults, dtype=bool))
    appended_gain = appended & ~covered
    metrics: dict[str, float] = {
        "faults": n_faults, "faults.selection": len(sel), "faults.heldout": len(held),
        "candidates": int(n_cand), "test_length": len(program),
        "coverage.selection": _cov(covered, detectable, sel),
        "coverage.heldout": _cov(covered, detectable, held) if len(held) else float("nan"),
        "coverage.all": _cov(covered, detectable, everything),
        "coverage_raw.selection": float(covered[sel].mean()),
        "coverage_raw.heldout": float(covered[held].mean()) if len(held) else float("nan"),
        "coverage_raw.all": float(covered.mean()),
        "detectable.selection": int(detectable[sel].sum()), "detectable.heldout": int(detectable[held].sum()),
        "detectable.all": int(detectable.sum()),
        "detectable_by_candidates.all": int(d.any(axis=0).sum()),
        "undetected": int((~covered).sum()),
        "undetected.detectable": int((~covered & detectable).sum()),
        "undetectable": int((~detectable).sum()),
        "sample_selection.test_length": len(sample_sel),
        "sample_selection.coverage.selection": _cov(sample_cov, detectable, sel),
        "sample_selection.coverage.heldout": _cov(sample_cov, detectable, held) if len(held) else float("nan"),
        "sample_selection.coverage.all": _cov(sample_cov, detectable, everything),
        "generated.targets": len(generation.inputs) if generation else 0,
        "generated.verified": len(generation.verified) if generation else 0,
        "generated.in_program": sum(1 for nm in names if nm.startswith("generated:")),
        "generated.gain.selection": int(gain[sel].sum()), "generated.gain.heldout": int(gain[held].sum()),
        "generated.gain.all": int(gain.sum()),
        "generated.appended_gain.selection": int(appended_gain[sel].sum()),
        "generated.appended_gain.heldout": int(appended_gain[held].sum()),
        "generated.appended_gain.all": int(appended_gain.sum()),
        "generated.appended_test_length": len(program) + sum(
            1 for k in range(gen_dm.shape[0] if gen_dm is not None else 0)
            if n_cand + k not in set(final_sel.tests)),
        "max_density": float(generation.max_density) if generation else float("nan"),
        "program_max_density": float(program.densities().max()),
        "consistency_mismatches": mismatches,
        "n_detect": cfg.n_detect,
        "min_detections.selection": int(program_counts[sel_detectable].min()) if len(sel_detectable) else 0,
        "classes_in_program": len(set(program.expected_class.tolist())),
        "hindsight.test_length": len(hindsight),
        "hindsight.coverage.heldout": h_held,
        "hindsight.coverage.all": _cov(h_cov, detectable, everything),
    }
    heldout_cov = metrics["coverage.heldout"]
    metrics["coverage.heldout_vs_hindsight"] = (heldout_cov / h_held if len(held) and h_held > 0 else float("nan"))
    half = np.zeros(n_faults, dtype=object)
    half[sel] = "selection"
    half[held] = "heldout"
    undetected = [{"index": int(i), "fault_id": fault_list.ids[i], "half": str(half[i]),
                   "detectable": bool(detectable[i])} for i in np.flatnonzero(~covered)]
    tests = _test_rows(names, measured.detected, fault_list, sel, held, sample_rows, sample_ids, labels,
                       program.expected_class, program.expected_counts)
    program.info.update({"made_by": "spikefi.testgen.generate_test_program", "config": asdict(cfg),
                         "metrics": metrics, "fault_list_source": fault_list.source,
                         "fault_list_digest": fault_list.network_digest, "tests": tests})
    return TestGenResult(program, detection, gen_dm, measured, sel, held, sample_sel, final_sel, generation, curve,
                         metrics, undetected, timings)
