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
2. testgen — the fault list is every critical round (the detection matrix comes from the
   campaigns' kept predictions, checked against their critical counts); it is split in two
   seeded halves, at most 20 test samples are selected on one half (greedy, then exact
   refinement or 1-swap local search), inputs are generated for the selection half's
   faults the selection missed, and the program's coverage is measured by applying it
   (one campaign over the program's inputs, every fault a round) to every fault of both
   halves.
   Post hoc (clearly not a held-out number): inputs generated for the faults the program
   missed, and what appending them would add.
3. generation on faults no test sample detects — a seeded sample (``--undetected-sample``)
   of the single faults that change no prediction on any test sample; how many get a
   verified detecting input (binary, density <= the densest test sample).

Run: ``PYTHONPATH=. nice -n 10 python benchmarks/testgen_coverage.py`` (40-90 min on one
CPU thread of a shared machine the first time, minutes afterwards). ``--stage campaigns``
runs only stage 1; ``--kinds neuron`` / ``synapse`` and ``--layers SC1,...`` only some of
its parts (separate processes can fill the cache in parallel); ``--cached-only`` runs
stages 2-3 on the parts already cached (the output names the missing ones).
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


def campaign_parts(kinds: list[str], layers: list[str] | None = None) -> list[tuple[str, str, FaultModel]]:
    """``(kind, layer, model)`` of every cached campaign part (only ``layers`` when given), cheapest first."""
    parts: list[tuple[str, str, FaultModel]] = []
    if "neuron" in kinds:
        parts += [("neuron", layer, m) for layer in reversed(NEURON_LAYERS) for m in NEURON_MODELS.values()]
    if "synapse" in kinds:
        parts += [("synapse", layer, m) for layer in reversed(SYNAPSE_LAYERS) for m in SYNAPSE_MODELS.values()]
    return [p for p in parts if layers is None or p[1] in layers]


def _shard_campaign(net: Any, test: Any, seed: int, layer: str, model: FaultModel, shard: tuple[int, int]) -> Campaign:
    """A campaign over the sites ``j`` of ``(model, layer)`` with ``j % n == i`` (the same faults
    ``Campaign.exhaustive`` makes, in site order)."""
    from spikefi.faults import Fault, Site

    i, n = shard
    cmpn = Campaign(net, test, seed=seed)
    shape = cmpn.netmap.layers[layer].shape_for(model.target)
    for j, pos in enumerate(np.ndindex(*shape)):
        if j % n == i:
            cmpn.then_inject(Fault(model, Site(layer, tuple(int(v) for v in pos))))
    return cmpn


def merge_shards(cache: Path, name: str, n: int) -> CampaignResult:
    """Merges ``<name>/shard-i-of-n`` results into one result in site order (round id = site index)."""
    import pandas as pd

    parts = [CampaignResult.load(cache / name / f"shard-{i}-of-{n}") for i in range(n)]
    tables, preds = [], []
    for i, r in enumerate(parts):
        t = r.table.copy()
        t["round_id"] = i + n * t["round_id"].to_numpy()
        tables.append(t)
        preds.append(np.asarray(r.predictions))
    table = pd.concat(tables, ignore_index=True)
    order = np.argsort(table["round_id"].to_numpy(), kind="stable")
    table = table.iloc[order].reset_index(drop=True)
    predictions = np.concatenate(preds)[order]
    meta = dict(parts[0].meta)
    meta["rounds"] = len(table)
    meta["bench_seconds"] = max(r.meta.get("bench_seconds", 0.0) for r in parts)
    meta["bench_core_seconds"] = sum(r.meta.get("bench_seconds", 0.0) for r in parts)
    meta["bench_shards"] = n
    merged = CampaignResult(table, meta, predictions.astype(np.int16))
    merged.save(cache / name)
    return merged


def run_campaigns(cache: Path, kinds: list[str], synapse_sample: int | None, seed: int,
                  log: Any = print, cached_only: bool = False, layers: list[str] | None = None,
                  parts: list[str] | None = None, shard: tuple[int, int] | None = None) -> list[CampaignResult]:
    """Runs (or loads from ``cache``) every campaign part; returns their results.

    With ``cached_only`` parts not in the cache are skipped (and named in the output).
    """
    net, _, _ = load_pretrained("digits_cnn")
    _, test, _ = load_splits({"name": "spiking_digits", "seed": 0})
    results = []
    for kind, layer, model in campaign_parts(kinds, layers):
        if parts is not None and f"{model.name}_{layer}" not in parts:
            continue
        full = cache / f"{model.name}_{layer}"
        if shard is not None:  # one interleaved shard of the exhaustive part (merged by --merge-shards)
            folder = full / f"shard-{shard[0]}-of-{shard[1]}"
            if not (folder / "predictions.npy").is_file():
                cmpn = _shard_campaign(net, test, seed, layer, model, shard)
                t0 = time.perf_counter()
                result = cmpn.run(engine="parallel", keep_predictions=True, progress=False)
                result.meta["bench_seconds"] = time.perf_counter() - t0
                result.meta["bench_sites"] = {"layer": layer, "model": model.name, "sampled": False,
                                              "all_sites": int(np.prod(cmpn.netmap.layers[layer].shape_for(model.target)))}
                result.save(folder)
                log(f"  shard {shard[0]}/{shard[1]} of {model.name}_{layer}: {len(result.table)} rounds in "
                    f"{result.meta['bench_seconds']:.1f} s")
            continue
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
    ap.add_argument("--layers", default="", help="only these layers' campaign parts (comma list; campaigns stage)")
    ap.add_argument("--parts", default="", help="only these parts, e.g. DeadNeuron_SC1,DeadSynapse_SC2")
    ap.add_argument("--shard", default="", help="campaigns stage: compute shard i/n of every selected part")
    ap.add_argument("--merge-shards", type=int, default=0, metavar="N",
                    help="merge the N shards of every selected part into the part's cache folder")
    ap.add_argument("--gen-faults", type=int, default=32, help="at most this many generation targets")
    ap.add_argument("--gen-time", type=float, default=900.0, help="time budget of input generation (s)")
    ap.add_argument("--undetected-sample", type=int, default=16,
                    help="stage 3: generate inputs for a seeded sample of this many faults no test sample detects")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = set(kinds) - {"neuron", "synapse"}
    if bad:
        ap.error(f"--kinds: unknown {sorted(bad)}; allowed: neuron, synapse")
    t0 = time.perf_counter()
    layers = [v.strip() for v in args.layers.split(",") if v.strip()] or None
    parts = [v.strip() for v in args.parts.split(",") if v.strip()] or None
    if args.merge_shards:
        for _, layer, model in campaign_parts(kinds, layers):
            name = f"{model.name}_{layer}"
            if parts is None or name in parts:
                merged = merge_shards(args.cache / "campaigns", name, args.merge_shards)
                print(f"  merged {name}: {len(merged.table)} rounds, {int((merged.table['critical'] > 0).sum())} "
                      f"critical, {merged.meta['bench_seconds']:.0f} s wall", flush=True)
        return 0
    shard = None
    if args.shard:
        i, _, n = args.shard.partition("/")
        shard = (int(i), int(n))
        if not 0 <= shard[0] < shard[1]:
            ap.error(f"--shard must be i/n with 0 <= i < n, got {args.shard!r}")
    results = run_campaigns(args.cache / "campaigns", kinds, args.synapse_sample, args.seed,
                            log=lambda s: print(s, flush=True), cached_only=args.cached_only,
                            layers=layers, parts=parts, shard=shard)
    if shard is not None:
        return 0
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
          f"held-out {int(m['generated.gain.heldout'])})"
          + (f"; density bound {m['max_density']:.4f}" if np.isfinite(m["max_density"]) else ""))
    print(f"appending every verified generated input not in the program: test length "
          f"{int(m['generated.appended_test_length'])}, +{int(m['generated.appended_gain.all'])} faults (selection half "
          f"{int(m['generated.appended_gain.selection'])}, held-out {int(m['generated.appended_gain.heldout'])})")
    print(f"program measurement vs the selection's detection matrix: {int(m['consistency_mismatches'])} mismatches; "
          f"densest program input {m['program_max_density']:.4f}")
    target = m["coverage.all"] >= 0.99 and m["test_length"] <= 20
    print(f"target (>= 99% of detectable faults with <= 20 inputs): {'MET' if target else 'NOT MET'}")
    print("times: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.timings.items()) + f", testgen total {wall:.1f} s; "
          f"campaigns (when computed) {sum(r.meta.get('bench_seconds', 0.0) for r in results):.0f} s")
    posthoc = posthoc_generation(net, x, faults, res, args) if res.undetected else {}
    summary_extra = {}
    if args.undetected_sample:
        summary_extra = generation_on_undetectable(net, x, golden, results, args)
    out = args.cache / "result"
    res.program.save(out / "program")
    (out / "summary.json").write_text(json.dumps(
        {"metrics": m, "timings": res.timings, "curve": res.curve, "program": res.program.names,
         "sampled": sampled, "undetected_by_layer": und, "critical_per_layer": by_layer,
         "generation_on_undetectable": summary_extra, "posthoc_generation": posthoc}, indent=2, default=float))
    print(f"written: {out / 'program'}, {out / 'summary.json'}")
    return 0


def posthoc_generation(net: Any, x: torch.Tensor, faults: Any, res: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Stage 2b (post hoc, NOT a held-out number): inputs generated for the faults the program
    missed, and what appending them adds — measured by a campaign over the generated inputs."""
    from spikefi.testgen import compute_detection, generate_inputs

    missed = np.asarray([u["index"] for u in res.undetected], dtype=int)
    print()
    print(f"post hoc (not held out): generating inputs for the {len(missed)} faults the program misses", flush=True)
    t0 = time.perf_counter()
    report = generate_inputs(net, faults.subset(missed), x, steps=60, restarts=4, seed=args.seed,
                             exclude_detecting=res.detection.detected[:, missed])
    ok = report.verified
    covered = res.program_detection.detected.any(axis=0)
    gained = np.zeros_like(covered)
    if ok:
        gx = torch.from_numpy(report.stacked().astype(np.float32))
        gdm = compute_detection(net, gx, faults, seed=args.seed)
        gained = gdm.detected.any(axis=0) & ~covered
    seconds = time.perf_counter() - t0
    print(f"  verified: {len(ok)} of {len(missed)}; appending them (test length {len(res.program) + len(ok)}) detects "
          f"{int(gained.sum())} of the {len(missed)} missed faults: coverage all "
          f"{(covered | gained).mean():.4%}; {seconds:.1f} s")
    return {"missed": len(missed), "verified": len(ok), "gained": int(gained.sum()),
            "test_length": len(res.program) + len(ok), "coverage_all": float((covered | gained).mean()),
            "seconds": seconds}


def generation_on_undetectable(net: Any, x: torch.Tensor, golden: np.ndarray, results: list[CampaignResult],
                               args: argparse.Namespace) -> dict[str, Any]:
    """Stage 3: input generation for single faults that no test sample detects (no prediction
    changes on any of the 359 samples), a seeded sample of them; every input verified by a campaign."""
    from spikefi.testgen import FaultList, fault_list_from_result, generate_inputs

    lists = []
    for r in results:
        quiet = r.table["changed"].to_numpy() == 0
        if quiet.any():
            fl = fault_list_from_result(r, source=f"{r.meta.get('bench_sites', {}).get('model')}")
            lists.append(fl.subset(np.flatnonzero(quiet)))
    pool = FaultList.concat(lists, source="faults no test sample detects")
    # stratified: the same number from every (model, layer) part that has such faults (seeded)
    rng = np.random.default_rng([args.seed, 71])
    per_part = max(1, -(-args.undetected_sample // max(1, len(lists))))
    chosen = [fl.subset(np.sort(rng.choice(len(fl), size=min(per_part, len(fl)), replace=False))) for fl in lists]
    targets = FaultList.concat(chosen, source="sample")
    if len(targets) > args.undetected_sample:
        targets = targets.subset(np.sort(rng.choice(len(targets), size=args.undetected_sample, replace=False)))
    print()
    print(f"generation on faults no test sample detects: {len(pool)} such single faults in {len(lists)} "
          f"(model, layer) parts; a stratified seeded sample of {len(targets)} (seed {args.seed})", flush=True)
    t0 = time.perf_counter()
    report = generate_inputs(net, targets, x, steps=60, restarts=4, seed=args.seed)
    seconds = time.perf_counter() - t0
    per_model: dict[str, list[int]] = {}
    for g, rec in zip(report.inputs, targets.to_records(), strict=True):
        key = f"{rec['model']}@{rec['layer']}"
        per_model.setdefault(key, [0, 0])
        per_model[key][0] += 1
        per_model[key][1] += int(g.verified)
    ok = report.verified
    print(f"  verified inputs: {len(ok)} of {len(targets)} faults ({len(ok) / max(1, len(targets)):.0%}); "
          f"by model@layer (verified/tried): "
          + ", ".join(f"{k} {v[1]}/{v[0]}" for k, v in sorted(per_model.items())))
    if ok:
        print(f"  steps to a detecting input: median {float(np.median([g.steps for g in ok])):.0f}; densities "
              f"{min(g.density for g in ok):.4f}..{max(g.density for g in ok):.4f} (bound {report.max_density:.4f}); "
              f"all binary: {all(set(np.unique(g.input)) <= {0, 1} for g in ok)}")
    print(f"  time {seconds:.1f} s ({seconds / max(1, len(targets)):.1f} s per fault)")
    return {"pool": len(pool), "tried": len(targets), "verified": len(ok), "per_model": per_model,
            "seconds": seconds, "max_density": report.max_density}


if __name__ == "__main__":
    raise SystemExit(main())
