"""Does TPE find worse faults than random sampling at the same budget?

On the shipped digits CNN, output layer excluded (a saturated output neuron is a trivial
worst case), the fault space is {DeadNeuron, SaturatedNeuron} at any neuron of SC1..SF3;
for k = 1, 2 and 4 simultaneous faults each sampler gets the same budget of evaluations
(every evaluation on the same test samples, no pruning, batches of 8 trials with TPE's
constant liar) for several seeds. Printed: the worst accuracy each run found, per-k means,
how often TPE beat random; for k = 1 also the rank of each run's best fault among all
7,808 single faults of the exhaustive campaign (rank 1 = the worst fault there is).

    python benchmarks/search_tpe_vs_random.py                 # full (~20-40 min on 1 CPU thread)
    python benchmarks/search_tpe_vs_random.py --quick         # seconds (CI)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spikefi.campaign import Campaign  # noqa: E402
from spikefi.data import load_spiking_digits  # noqa: E402
from spikefi.faults import DeadNeuron, SaturatedNeuron  # noqa: E402
from spikefi.search import FaultSetEvaluator, FaultSpace  # noqa: E402
from spikefi.search.study import create_study, make_sampler, run_search  # noqa: E402
from spikefi.zoo import load_pretrained  # noqa: E402


def exhaustive_single(net: Any, test: Any, layers: list[str], samples: int) -> dict[tuple[str, str, tuple[int, ...]], float]:
    """Accuracy of every single fault of the space: (model, layer, position) -> accuracy."""
    cmpn = Campaign(net, test, batch_size=64, seed=0, max_samples=samples)
    for model in (DeadNeuron(), SaturatedNeuron()):
        cmpn.exhaustive(model, layers)
    table = cmpn.run("parallel", chunk_size=128, progress=False).table
    out = {}
    for _, r in table.iterrows():
        pos = tuple(int(r[f"pos{i}"]) for i in range(3))
        out[(str(r["model"]), str(r["layer"]), pos)] = float(r["accuracy"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--samples", type=int, default=128, help="test samples per evaluation")
    ap.add_argument("--budget", type=int, default=200, help="evaluations per run")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layers", nargs="+", default=["SC1", "SP1", "SC2", "SP2", "SF3"],
                    help="target layers (default: every layer but the output layer SF4)")
    ap.add_argument("--json", default="outputs/bench/search_tpe_vs_random.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.budget, args.seeds, args.k = 16, 12, 2, [1, 2]
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    layers = ["SF3"] if args.quick else list(args.layers)
    t0 = time.perf_counter()
    ev = FaultSetEvaluator(net, test, max_samples=args.samples, engine="parallel", batch_size=64)
    print(f"digits CNN, {args.samples} test samples, golden accuracy {ev.golden_accuracy:.4f}; space: DeadNeuron | "
          f"SaturatedNeuron at any neuron of {', '.join(layers)}; budget {args.budget} evaluations, batch {args.batch}, "
          f"{args.seeds} seeds")
    exhaustive = None
    if 1 in args.k:
        te = time.perf_counter()
        exhaustive = exhaustive_single(net, test, layers, args.samples)
        accs = np.array(sorted(exhaustive.values()))
        print(f"exhaustive single-fault campaign: {len(exhaustive):,} faults in {time.perf_counter() - te:.1f} s; "
              f"worst accuracy {accs[0]:.4f}; 10 worst: {', '.join(f'{a:.4f}' for a in accs[:10])}")
    results: dict[str, Any] = {"samples": args.samples, "budget": args.budget, "seeds": args.seeds, "batch": args.batch,
                               "golden_accuracy": ev.golden_accuracy, "layers": layers, "runs": []}
    for k in args.k:
        space = FaultSpace(ev.netmap.layers, {"k": k, "layers": layers, "models": ["DeadNeuron", "SaturatedNeuron"]},
                           ev.steps)
        per: dict[str, list[float]] = {"tpe": [], "random": []}
        print(f"\n## k = {k}")
        print(f"{'seed':>4} {'sampler':>7} {'worst acc':>9} {'rank':>6} {'s':>6}  fault set")
        for seed in range(args.seeds):
            for name in ("tpe", "random"):
                ts = time.perf_counter()
                study = create_study(None, f"k{k}-{name}-{seed}", "accuracy", make_sampler(name, seed, 1), None)
                run_search(study, space, ev, "accuracy", n_trials=args.budget, batch=args.batch)
                best = study.best_trial
                acc = float(best.values[0])
                per[name].append(acc)
                rank = ""
                if k == 1 and exhaustive is not None:
                    spec = json.loads(best.user_attrs["faults"])[0]
                    key = (spec["model"], spec["sites"][0]["layer"], tuple(spec["sites"][0]["position"]))
                    rank_v = 1 + sum(a < exhaustive[key] for a in exhaustive.values())
                    rank = str(rank_v)
                secs = time.perf_counter() - ts
                results["runs"].append({"k": k, "seed": seed, "sampler": name, "worst_accuracy": acc,
                                        "rank": int(rank) if rank else None, "seconds": secs,
                                        "faults": best.user_attrs["description"]})
                print(f"{seed:>4} {name:>7} {acc:>9.4f} {rank:>6} {secs:>6.1f}  {best.user_attrs['description']}")
        tpe, rnd = np.array(per["tpe"]), np.array(per["random"])
        wins, ties = int((tpe < rnd).sum()), int((tpe == rnd).sum())
        print(f"k={k}: mean worst accuracy TPE {tpe.mean():.4f} (min {tpe.min():.4f}, max {tpe.max():.4f}) vs random "
              f"{rnd.mean():.4f} (min {rnd.min():.4f}, max {rnd.max():.4f}); TPE lower in {wins} of {len(tpe)} seeds, "
              f"equal in {ties}")
        results[f"k{k}"] = {"tpe_mean": float(tpe.mean()), "random_mean": float(rnd.mean()), "tpe_wins": wins,
                            "ties": ties}
    results["seconds"] = time.perf_counter() - t0
    print(f"\ntotal {results['seconds']:.1f} s")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
