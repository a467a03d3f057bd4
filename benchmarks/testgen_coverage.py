"""Test-program coverage on the digits CNN: critical single faults -> <= 20 test inputs.

Target (issue 6): every critical single fault of the exhaustive neuron campaign
(DeadNeuron and SaturatedNeuron at every neuron of every layer) and of the synapse
campaign (DeadSynapse and SaturatedSynapse(upper, extreme) at every synapse of every
conv/dense layer), on the full 359-sample test split of the bundled digits CNN:
>= 99 % of the detectable faults covered with <= 20 test inputs.

Stages:

1. campaigns — one campaign per (fault model, layer), parallel engine, per-sample
   predictions kept, cached under ``outputs/bench/testgen/campaigns/<model>_<layer>/``
   (``CampaignResult.save``); a rerun reuses every finished part. ``--synapse-sample N``
   takes a seeded sample of N synapses per (model, layer) instead of all of them (the
   output says so).
2. testgen — the fault list is every critical round; it is split in two seeded halves,
   the test set is selected on one half (greedy + exact refinement) from the test
   samples, inputs are generated for the selection half's faults no sample detects,
   and the test program's coverage is measured by applying it (a campaign over the
   program's inputs) to every fault of both halves.

Run: ``PYTHONPATH=. nice -n 10 python benchmarks/testgen_coverage.py`` (about 40-60 min
on one CPU thread the first time, minutes afterwards). ``--stage campaigns`` runs only
stage 1; ``--kinds neuron`` / ``synapse`` only one of its halves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from spikefi.campaign import Campaign, CampaignResult  # noqa: E402
from spikefi.campaign.spec import load_splits  # noqa: E402
from spikefi.faults import DeadNeuron, DeadSynapse, SaturatedNeuron, SaturatedSynapse  # noqa: E402
from spikefi.faults.models import FaultModel  # noqa: E402
from spikefi.zoo import load_pretrained  # noqa: E402

NEURON_MODELS: dict[str, FaultModel] = {"DeadNeuron": DeadNeuron(), "SaturatedNeuron": SaturatedNeuron()}
SYNAPSE_MODELS: dict[str, FaultModel] = {"DeadSynapse": DeadSynapse(),
                                         "SaturatedSynapse": SaturatedSynapse("upper", "extreme")}
NEURON_LAYERS = ["SC1", "SP1", "SC2", "SP2", "SF3", "SF4"]
SYNAPSE_LAYERS = ["SC1", "SC2", "SF3", "SF4"]


def campaign_parts(kinds: list[str]) -> list[tuple[str, str, FaultModel]]:
    """``(kind, layer, model)`` of every cached campaign part, cheapest first."""
    parts: list[tuple[str, str, FaultModel]] = []
    if "neuron" in kinds:
        parts += [("neuron", layer, m) for layer in reversed(NEURON_LAYERS) for m in NEURON_MODELS.values()]
    if "synapse" in kinds:
        parts += [("synapse", layer, m) for layer in reversed(SYNAPSE_LAYERS) for m in SYNAPSE_MODELS.values()]
    return parts


def run_campaigns(cache: Path, kinds: list[str], synapse_sample: int | None, seed: int,
                  log: Any = print, cached_only: bool = False) -> list[CampaignResult]:
    """Runs (or loads from ``cache``) every campaign part; returns their results.

    With ``cached_only`` parts not in the cache are skipped (and named in the output).
    """
    net, _, _ = load_pretrained("digits_cnn")
    _, test, _ = load_splits({"name": "spiking_digits", "seed": 0})
    results = []
    for kind, layer, model in campaign_parts(kinds):
        full = cache / f"{model.name}_{layer}"
        if (full / "predictions.npy").is_file():  # an exhaustive part is always preferred
            results.append(CampaignResult.load(full))
            continue
        cmpn = Campaign(net, test, seed=seed)
        n_sites = int(np.prod(cmpn.netmap.layers[layer].shape_for(model.target)))
        sample = synapse_sample if kind == "synapse" and synapse_sample and synapse_sample < n_sites else None
        name = f"{model.name}_{layer}" + (f"_sample{sample}" if sample else "")
        folder = cache / name
        if (folder / "predictions.npy").is_file():
            results.append(CampaignResult.load(folder))
            continue
        if cached_only:
            log(f"  MISSING (not in the cache, skipped): {name}")
            continue
        cmpn.exhaustive(model, layers=[layer], sample=sample)
        t0 = time.perf_counter()
        result = cmpn.run(engine="parallel", keep_predictions=True, progress=False)
        result.meta["bench_seconds"] = time.perf_counter() - t0
        result.meta["bench_sites"] = {"layer": layer, "model": model.name, "all_sites": n_sites,
                                      "sampled": sample is not None and sample < n_sites}
        result.save(folder)
        log(f"  campaign {name}: {len(result.table)} rounds in {result.meta['bench_seconds']:.1f} s, "
            f"{int((result.table['critical'] > 0).sum())} critical")
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=["all", "campaigns"], default="all")
    ap.add_argument("--kinds", default="neuron,synapse", help="comma list of neuron, synapse")
    ap.add_argument("--synapse-sample", type=int, default=None,
                    help="seeded sample of N synapses per (model, layer) instead of all")
    ap.add_argument("--cache", type=Path, default=ROOT / "outputs" / "bench" / "testgen")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-tests", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cached-only", action="store_true", help="use only the campaign parts already cached")
    ap.add_argument("--gen-faults", type=int, default=32, help="at most this many generation targets")
    ap.add_argument("--gen-time", type=float, default=900.0, help="time budget of input generation (s)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = set(kinds) - {"neuron", "synapse"}
    if bad:
        ap.error(f"--kinds: unknown {sorted(bad)}; allowed: neuron, synapse")
    t0 = time.perf_counter()
    results = run_campaigns(args.cache / "campaigns", kinds, args.synapse_sample, args.seed,
                            log=lambda s: print(s, flush=True), cached_only=args.cached_only)
    print(f"campaigns: {len(results)} parts, {sum(len(r.table) for r in results)} rounds, "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    if args.stage == "campaigns":
        return 0
    return run_testgen(results, args)


def run_testgen(results: list[CampaignResult], args: argparse.Namespace) -> int:
    """Stage 2: fault list -> detection matrix -> test program -> coverage by application."""
    from spikefi.testgen import (
        DetectionMatrix,
        FaultList,
        TestGenConfig,
        detection_from_result,
        fault_list_from_result,
        generate_test_program,
        golden_responses,
    )
    from spikefi.training import dataset_tensors

    net, _, _ = load_pretrained("digits_cnn")
    _, test, _ = load_splits({"name": "spiking_digits", "seed": 0})
    x, y = dataset_tensors(test)
    x = x.to(torch.float32)
    t0 = time.perf_counter()
    golden, _ = golden_responses(net, x)
    lists, mats, sampled = [], [], []
    rounds_total = critical_total = 0
    for r in results:
        info = r.meta.get("bench_sites", {})
        if info.get("sampled"):
            sampled.append(f"{info['model']} {info['layer']}: {len(r.table)} of {info['all_sites']} sites")
        rounds_total += len(r.table)
        preds = np.asarray(r.predictions)
        crit = ((golden == y.numpy())[None, :] & (preds != y.numpy()[None, :])).sum(axis=1)
        if not np.array_equal(crit, r.table["critical"].to_numpy()):
            raise SystemExit("cached predictions do not match their campaign table: delete outputs/bench/testgen")
        if int((r.table["critical"] > 0).sum()) == 0:
            continue
        fl = fault_list_from_result(r, critical_only=True, source=f"{info.get('model')}_{info.get('layer')}")
        critical_total += len(fl)
        lists.append(fl)
        mats.append(detection_from_result(r, fl, golden))
    faults = FaultList.concat(lists, source="critical single faults")
    dm = DetectionMatrix.concat_faults(mats)
    assert list(dm.fault_ids) == list(faults.ids), "duplicate fault rounds across parts"
    print(f"fault list: {len(faults)} critical single faults of {rounds_total} rounds "
          f"({len(x)} test samples); detection matrix {dm.shape[0]} x {dm.shape[1]} from the campaigns' "
          f"predictions ({time.perf_counter() - t0:.1f} s)", flush=True)
    if sampled:
        print("SAMPLED (not exhaustive): " + "; ".join(sampled))
    by_layer: dict[str, int] = {}
    for rec in faults.to_records():
        key = f"{rec['model']}@{rec['layer']}"
        by_layer[key] = by_layer.get(key, 0) + 1
    print("critical faults per model@layer: " + ", ".join(f"{k} {v}" for k, v in sorted(by_layer.items())))
    cfg = TestGenConfig(max_tests=args.max_tests, selection_fraction=0.5, split_seed=args.seed, seed=args.seed,
                        method="greedy+exact", exact_time_limit_s=60.0, generation_targets="missed",
                        generation_max_faults=args.gen_faults, generation_steps=60, generation_restarts=4,
                        generation_time_limit_s=args.gen_time)
    t1 = time.perf_counter()
    res = generate_test_program(net, x, faults, config=cfg, detection=dm, log=lambda s: print("  " + s, flush=True))
    wall = time.perf_counter() - t1
    m = res.metrics
    print()
    print(f"test program: {int(m['test_length'])} inputs ({int(m['generated.in_program'])} generated): "
          f"{', '.join(res.program.names)}")
    print("coverage of detectable faults (measured by applying the program to every fault, 2 seeded halves):")
    print(f"  selection half  {m['coverage.selection']:.4%}  ({int(m['faults.selection'])} faults)")
    print(f"  held-out half   {m['coverage.heldout']:.4%}  ({int(m['faults.heldout'])} faults)")
    print(f"  all             {m['coverage.all']:.4%}  ({int(m['faults'])} faults, {int(m['detectable.all'])} detectable)")
    print("coverage vs test length (all): " + ", ".join(f"{r['tests']}:{r['coverage.all']:.4f}" for r in res.curve))
    print("held-out coverage vs test length: " + ", ".join(f"{r['tests']}:{r['coverage.heldout']:.4f}" for r in res.curve))
    print(f"undetected faults: {int(m['undetected'])} ({int(m['undetectable'])} undetectable by any sample or "
          f"generated input)")
    und: dict[str, int] = {}
    recs = faults.to_records()
    for u in res.undetected:
        rec = recs[u["index"]]
        key = f"{rec['model']}@{rec['layer']}({u['half']})"
        und[key] = und.get(key, 0) + 1
    if und:
        print("  by model@layer(half): " + ", ".join(f"{k} {v}" for k, v in sorted(und.items())))
    print(f"samples-only selection: {int(m['sample_selection.test_length'])} tests, coverage all "
          f"{m['sample_selection.coverage.all']:.4%}, held-out {m['sample_selection.coverage.heldout']:.4%}")
    print(f"generated inputs (targets: selection-half faults the samples-only selection missed): "
          f"{int(m['generated.verified'])} verified of {int(m['generated.targets'])}; gain "
          f"{int(m['generated.gain.all'])} faults (selection half {int(m['generated.gain.selection'])}, "
          f"held-out {int(m['generated.gain.heldout'])}); density bound {m['max_density']:.4f}")
    target = m["coverage.all"] >= 0.99 and m["test_length"] <= 20
    print(f"target (>= 99% of detectable faults with <= 20 inputs): {'MET' if target else 'NOT MET'}")
    print("times: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.timings.items()) + f", testgen total {wall:.1f} s; "
          f"campaigns (when computed) {sum(r.meta.get('bench_seconds', 0.0) for r in results):.0f} s")
    out = args.cache / "result"
    res.program.save(out / "program")
    (out / "summary.json").write_text(json.dumps(
        {"metrics": m, "timings": res.timings, "curve": res.curve, "program": res.program.names,
         "sampled": sampled, "undetected_by_layer": und, "critical_per_layer": by_layer}, indent=2, default=float))
    print(f"written: {out / 'program'}, {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
