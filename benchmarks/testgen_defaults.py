"""Which selection settings generalise? testgen's defaults measured on demo-like networks.

Workload (issue 26, item 3): the digits CNN trained as ``make demo`` trains it (8 epochs,
lr 0.01, batch 32, spiking digits seed 0, test fraction 0.2) with several training seeds,
and the bundled ``pretrained:digits_cnn``; the demo's campaign (every single dead neuron of
SF3 and SF4, 74 faults) on the 359 test samples; its critical faults are the fault list, as
the demo's test program takes them. Per network the campaign is run once (parallel engine,
predictions kept; the counting engine for every output spike count) and cached under
``outputs/bench/testgen_defaults/``; each network is trained once (cached too).

Then, per network and per split seed (``--split-seeds``), for every selection setting
(n-detect n, class cover on/off, the ranking of candidates, filling the budget), the
selection is made on the selection half only (from the detection matrix, exactly as
``generate_test_program`` does: the program measured by application matches the matrix,
``consistency_mismatches`` 0) and scored on the held-out half. Printed: a table of settings
x networks -> program length, selection-half, held-out and all coverage, hindsight held-out
coverage (best ``max_tests`` inputs chosen on all faults) and the ratio, for split seed 0 and
as mean / min over the split seeds; then the settings ranked. ``--program`` also builds the
demo network's program with the library defaults through ``generate_test_program``
(generation off) and prints its measured numbers.

Run: ``PYTHONPATH=. nice -n 10 python benchmarks/testgen_defaults.py`` (about 4 min of
training per seed on one CPU thread, the campaigns under a minute; the table seconds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEMO_DATA = {"name": "spiking_digits", "seed": 0, "test_fraction": 0.2}
DEMO_TRAINING = {"epochs": 8, "lr": 0.01, "batch_size": 32}
LAYERS = ["SF3", "SF4"]


def _network(name: str, cache: Path, log: Any) -> Any:
    """``pretrained``, or ``seed<k>`` (the demo's training with seed k, one torch thread) or
    ``seed<k>t<m>`` (the same on m threads: another float summation order, other weights; a
    fresh ``make demo`` trains on every core); cached."""
    from spikefi.campaign.spec import load_splits
    from spikefi.training import train
    from spikefi.zoo import build, load_network, load_pretrained, save_network

    if name == "pretrained":
        return load_pretrained("digits_cnn")[0]
    seed_s, _, threads_s = name.removeprefix("seed").partition("t")
    seed, threads = int(seed_s), int(threads_s or 1)
    path = cache / "models" / f"digits_cnn_{name}.pt"
    if path.is_file():
        return load_network(path)[0]
    train_set, test_set, _ = load_splits(DEMO_DATA)
    net, p = build("digits_cnn", seed=seed)
    t0 = time.perf_counter()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        res = train(net, p, train_set, test_set, seed=seed, **DEMO_TRAINING)
    finally:
        torch.set_num_threads(before)
    acc = res.history[-1].test_accuracy
    log(f"  trained {name}: test accuracy {acc:.4f} in {time.perf_counter() - t0:.0f} s")
    save_network(net, path, p, {"training": {**DEMO_TRAINING, "seed": seed, "threads": threads}, "test_accuracy": acc})
    return net


def campaign_data(name: str, cache: Path, log: Any = print) -> dict[str, np.ndarray]:
    """Golden responses and every SF3/SF4 dead-neuron fault's predictions and output counts
    on the demo's test split (cached as ``<cache>/<name>.npz``)."""
    from spikefi.campaign import Campaign
    from spikefi.campaign.spec import load_splits
    from spikefi.digest import network_digest
    from spikefi.faults import DeadNeuron
    from spikefi.testgen import golden_responses
    from spikefi.testgen.detection import CountingEngine
    from spikefi.testgen.pipeline import fault_label
    from spikefi.training import dataset_tensors

    path = cache / f"{name}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    net = _network(name, cache, log)
    _, test, _ = load_splits(DEMO_DATA)
    x, y = dataset_tensors(test)
    x = x.to(torch.float32)
    t0 = time.perf_counter()
    golden, golden_counts = golden_responses(net, x)
    cmpn = Campaign(net, (x, y), seed=0)
    cmpn.exhaustive(DeadNeuron(), layers=LAYERS)
    result = cmpn.run(engine="parallel", keep_predictions=True, progress=False)
    counting = CountingEngine()
    counted = cmpn.run(engine=counting, progress=False)
    rids = result.table["round_id"].tolist()
    assert counted.table["round_id"].tolist() == rids
    counts = np.stack([counting.round_counts(int(r)) for r in rids])
    labels = [fault_label(rnd.specs) for rnd in cmpn.rounds]
    data = {"labels": y.numpy().astype(np.int64), "golden": golden, "golden_counts": golden_counts,
            "predictions": np.asarray(result.predictions).astype(np.int64), "counts": counts.astype(np.int32),
            "critical": result.table["critical"].to_numpy().astype(np.int64),
            "faults": np.asarray(labels), "digest": np.asarray(network_digest(net))}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **data)
    log(f"  campaign {name}: {len(rids)} faults, {int((data['critical'] > 0).sum())} critical, "
        f"golden accuracy {(golden == data['labels']).mean():.4f} ({time.perf_counter() - t0:.0f} s)")
    return data


RANKINGS = ("index", "fragile", "margin")


def detection_data(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The demo's fault list (critical faults only) as a detection matrix, with margins.

    ``detected[t, f]``: the faulty prediction of sample ``t`` differs from the golden one (the
    program's verdict rule); ``margin[t, f]``: the faulty network's count of the golden class
    minus its largest other count (< 0 where the class changed by a clear margin);
    ``golden_counts``: the fault-free counts.
    """
    crit = raw["critical"] > 0
    golden = raw["golden"]
    counts = raw["counts"][crit].astype(np.int64)  # (faults, samples, classes)
    n = counts.shape[1]
    own = counts[:, np.arange(n), golden]
    other = counts.copy()
    other[:, np.arange(n), golden] = np.iinfo(np.int64).min
    return {"detected": (raw["predictions"][crit] != golden[None, :]).T, "golden": golden,
            "golden_counts": raw["golden_counts"], "margin": (own - other.max(axis=2)).T,
            "faults": raw["faults"][crit]}


def select(d: np.ndarray, golden: np.ndarray, golden_counts: np.ndarray, margin: np.ndarray, n: int,
           class_cover: bool, ranking: str, max_tests: int, fill: bool = False) -> list[int]:
    """n-detect selection (level by level, greedy on open requirements) with a tie rule.

    ``index``: the lowest index; ``fragile``: the smallest fault-free output margin
    (:func:`spikefi.testgen.fragility`); ``margin``: the largest summed detection margin over
    the open requirements the input meets (a detection by a wide margin ranks first). With
    ``fill``, the budget left after the requirements goes to the inputs detecting the most
    faults (ties: fragile first for ``fragile``, else the lowest index). ``index`` and
    ``fragile`` are checked against the library's :func:`~spikefi.testgen.n_detect_cover`.
    """
    from spikefi.testgen import fragility, golden_margins

    labels = sorted(set(golden.tolist())) if class_cover else []
    req = np.hstack([d, np.stack([golden == lab for lab in labels], axis=1)]) if labels else d
    strength = np.where(d, -margin, 0).astype(np.float64)
    if labels:
        strength = np.hstack([strength, np.zeros((d.shape[0], len(labels)))])
    fragile = fragility(golden_counts)
    assert np.array_equal(-fragile, golden_margins(golden_counts))
    avail = req.sum(axis=0)
    count = np.zeros(req.shape[1], dtype=np.int64)
    chosen: list[int] = []
    for level in range(1, n + 1):
        need = np.minimum(level, avail)
        while len(chosen) < max_tests:
            open_ = count < need
            if not open_.any():
                break
            gains = req[:, open_].sum(axis=1).astype(np.int64)
            gains[chosen] = -1
            top = int(gains.max())
            if top <= 0:
                break
            tied = np.flatnonzero(gains == top)
            if ranking == "index":
                best = int(tied[0])
            elif ranking == "fragile":
                best = int(tied[np.argmax(fragile[tied])])
            else:
                best = int(tied[np.argmax(strength[tied][:, open_].sum(axis=1))])
            chosen.append(best)
            count += req[best]
    if fill:
        broad = d.sum(axis=1)
        tie = fragile if ranking == "fragile" else np.zeros(len(broad))
        rest = sorted((t for t in range(d.shape[0]) if broad[t] > 0 and t not in chosen),
                      key=lambda t: (-int(broad[t]), -tie[t], t))
        chosen += rest[:max(0, max_tests - len(chosen))]
    return chosen


def _cov(d: np.ndarray, tests: list[int], cols: np.ndarray) -> float:
    detectable = d.any(axis=0)
    cols = cols[detectable[cols]]
    if not len(cols):
        return 1.0
    return float(d[np.asarray(tests, dtype=int)][:, cols].any(axis=0).mean()) if tests else 0.0


def settings() -> list[tuple[str, dict[str, Any] | None]]:
    """``(label, settings)``; ``None``: the plain cover of e35710b (1-detect, greedy + exact).

    Every n-detect setting: n (1-4), class cover off/on, the tie rule (``index``, ``fragile``,
    ``margin``: :func:`select`), and whether the budget left is filled."""
    out: list[tuple[str, dict[str, Any] | None]] = [("plain cover (e35710b)", None)]
    for n in (1, 2, 3, 4):
        for cls in (False, True):
            for ranking in RANKINGS:
                for fill in (False, True):
                    out.append((f"n={n} {'class ' if cls else 'noclass'} {ranking:7s}{' fill' if fill else ''}",
                                {"n": n, "class_cover": cls, "ranking": ranking, "fill": fill}))
    return out


def measure(data: dict[str, dict[str, np.ndarray]], split_seeds: list[int], max_tests: int,
            fraction: float) -> dict[tuple[str, str, int], tuple[int, float, float, float, float]]:
    """``(setting, network, split seed) -> (length, selection cov, held-out cov, all cov, hindsight held-out cov)``."""
    from spikefi.testgen import fragility, n_detect_cover, select_tests, split_faults

    out = {}
    for name, x in data.items():
        d = x["detected"]
        everything = np.arange(d.shape[1])
        for s in split_seeds:
            sel, held = split_faults(d.shape[1], fraction, s)
            hindsight = select_tests(d, max_tests).tests
            h_held = _cov(d, hindsight, held)
            for label, st in settings():
                if st is None:
                    tests = select_tests(d[:, sel], max_tests).tests
                else:
                    tests = select(d[:, sel], x["golden"], x["golden_counts"], x["margin"][:, sel], st["n"],
                                   st["class_cover"], st["ranking"], max_tests, st["fill"])
                    if st["ranking"] in ("index", "fragile"):  # the library makes the same selection
                        lib = n_detect_cover(d[:, sel], st["n"], max_tests,
                                             groups=x["golden"] if st["class_cover"] else None,
                                             priority=fragility(x["golden_counts"]) if st["ranking"] == "fragile"
                                             else None, fill=st["fill"])
                        assert lib.tests == tests, (label, name, s)
                out[(label, name, s)] = (len(tests), _cov(d, tests, sel), _cov(d, tests, held),
                                         _cov(d, tests, everything), h_held)
    return out


def print_tables(res: dict[tuple[str, str, int], tuple[int, float, float, float, float]], names: list[str],
                 split_seeds: list[int], data: dict[str, dict[str, np.ndarray]]) -> list[tuple[str, float, float]]:
    """One table per network, then the settings ranked over every (network, split seed)."""
    s0 = split_seeds[0]
    for name in names:
        x = data[name]
        print(f"\n## network {name}: {x['detected'].shape[1]} critical faults, {x['detected'].shape[0]} samples, "
              f"{int(x['detected'].any(axis=0).sum())} detectable; split seed {s0} and split seeds "
              f"{split_seeds[0]}-{split_seeds[-1]}")
        print(f"{'setting':28s} | {'len':>3s} {'sel%':>6s} {'held%':>6s} {'all%':>6s} {'hind%':>6s} {'ratio':>5s} | "
              f"{'held% mean':>10s} {'min':>6s} {'ratio mean':>10s} {'min':>5s} {'len mean':>8s}")
        for label, _ in settings():
            v = np.array([res[(label, name, s)] for s in split_seeds])
            ratio = np.where(v[:, 4] > 0, v[:, 2] / np.where(v[:, 4] > 0, v[:, 4], 1), np.nan)
            length, c_sel, c_held, c_all, c_hind = v[0]
            print(f"{label:28s} | {int(length):3d} {c_sel:6.1%} {c_held:6.1%} {c_all:6.1%} {c_hind:6.1%} {ratio[0]:5.2f} | "
                  f"{v[:, 2].mean():10.1%} {v[:, 2].min():6.1%} {np.nanmean(ratio):10.2f} {np.nanmin(ratio):5.2f} "
                  f"{v[:, 0].mean():8.1f}")
    print(f"\n## settings ranked over {len(names)} networks x {len(split_seeds)} split seeds: by how often the target "
          "is met (held-out >= 95% or >= 0.9x hindsight, <= 20 inputs), then by the mean held-out coverage")
    ranked = []
    for label, _ in settings():
        v = np.array([res[(label, name, s)] for name in names for s in split_seeds])
        meets = np.mean([(r[2] >= 0.95 or (r[4] > 0 and r[2] >= 0.9 * r[4])) and r[0] <= 20 for r in v])
        ranked.append((label, float(v[:, 2].mean()), float(v[:, 2].min()), float(meets), float(v[:, 0].mean())))
    ranked.sort(key=lambda r: (-r[3], -r[1], -r[2], r[4]))  # the target met most often, then the mean
    print(f"{'setting':28s} | {'held% mean':>10s} {'min':>6s} {'target met':>10s} {'len mean':>8s}")
    for label, mean, low, meets, length in ranked:
        print(f"{label:28s} | {mean:10.2%} {low:6.1%} {meets:10.0%} {length:8.1f}")
    return [(r[0], r[1], r[2]) for r in ranked]


def measured_program(name: str, cache: Path, configs: dict[str, dict[str, Any]]) -> None:
    """The demo's program on network ``name``, built by ``generate_test_program`` (generation
    off) with each config, coverage measured by applying it to every fault."""
    from spikefi.campaign import Campaign
    from spikefi.campaign.spec import load_splits
    from spikefi.faults import DeadNeuron
    from spikefi.testgen import (
        TestGenConfig,
        detection_from_result,
        fault_list_from_result,
        generate_test_program,
        golden_responses,
    )
    from spikefi.training import dataset_tensors

    net = _network(name, cache, print)
    _, test, _ = load_splits(DEMO_DATA)
    x, y = dataset_tensors(test)
    x = x.to(torch.float32)
    cmpn = Campaign(net, (x, y), seed=0)
    cmpn.exhaustive(DeadNeuron(), layers=LAYERS)
    result = cmpn.run(engine="parallel", keep_predictions=True, progress=False)
    faults = fault_list_from_result(result, critical_only=True, source=f"DeadNeuron SF3+SF4 on {name}",
                                    allow_import=True)
    golden, _ = golden_responses(net, x)
    dm = detection_from_result(result, faults, golden)
    print(f"\n## measured programs on {name} ({len(faults)} critical faults; generate_test_program, generation "
          f"off, split seed 0; coverage by applying the program to every fault)")
    for label, kw in configs.items():
        cfg = TestGenConfig(generate=False, **kw)
        res = generate_test_program(net, x, faults, config=cfg, detection=dm, labels=y.numpy())
        m = res.metrics
        curve = ", ".join(f"{r['tests']}:{r['coverage.heldout']:.0%}" for r in res.curve)
        print(f"{label}: {int(m['test_length'])} inputs; selection half {m['coverage.selection']:.2%}, held-out "
              f"{m['coverage.heldout']:.2%}, all {m['coverage.all']:.2%}; hindsight {int(m['hindsight.test_length'])} "
              f"inputs, held-out {m['hindsight.coverage.heldout']:.2%}, ratio {m['coverage.heldout_vs_hindsight']:.2f}; "
              f"mismatches {int(m['consistency_mismatches'])}")
        inputs = ", ".join(f"{t['sample']}:{t['label']}" for t in res.program.info["tests"])
        print(f"    inputs (sample:label): {inputs}")
        print(f"    held-out coverage vs length: {curve}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", default="seed0t2,seed0,seed1,seed2,seed3,seed4,seed5,pretrained",
                    help="comma list of seed<k>[t<m>] (the demo's training, seed k, m threads) and pretrained")
    ap.add_argument("--split-seeds", type=int, default=20, help="split seeds 0..N-1")
    ap.add_argument("--max-tests", type=int, default=20)
    ap.add_argument("--cache", type=Path, default=ROOT / "outputs" / "bench" / "testgen_defaults")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stage", choices=["all", "data"], default="all")
    ap.add_argument("--program", default="seed0t2,seed0",
                    help="networks whose program is built and measured by generate_test_program ('' for none)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = [v.strip() for v in args.networks.split(",") if v.strip()]
    t0 = time.perf_counter()
    raw = {name: campaign_data(name, args.cache, log=lambda s: print(s, flush=True)) for name in names}
    if args.stage == "data":
        return 0
    data = {name: detection_data(r) for name, r in raw.items()}
    print("# testgen selection settings on demo-like networks: the demo's critical dead-neuron faults of SF3+SF4, "
          f"359 test samples, selection half 0.5, max_tests {args.max_tests}")
    for name, r in raw.items():
        print(f"network {name}: golden accuracy {(r['golden'] == r['labels']).mean():.4f}, "
              f"{int((r['critical'] > 0).sum())} critical of {len(r['critical'])} faults, digest {str(r['digest'])[:16]}")
    print("columns: len = program length, sel/held/all = coverage of detectable faults on the selection half / the "
          "held-out half / all (split seed 0), hind = held-out coverage of the best max_tests inputs chosen with "
          "hindsight on all faults, ratio = held / hind; then over every split seed: held-out mean and min, ratio "
          "mean and min, mean length")
    seeds = list(range(args.split_seeds))
    res = measure(data, seeds, args.max_tests, 0.5)
    print_tables(res, names, seeds, data)
    programs = [v.strip() for v in args.program.split(",") if v.strip()]
    for name in programs:
        measured_program(name, args.cache, {
            "before (e35710b: plain cover)": {"n_detect": 1, "class_cover": False, "tie_break": "index",
                                              "fill_budget": False},
            "previous default (n 2, class cover, index)": {"n_detect": 2, "class_cover": True, "tie_break": "index",
                                                           "fill_budget": False},
            "new default (n 1, class cover, fragile, fill)": {},
        })
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
