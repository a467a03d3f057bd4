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
                  log: Any = print) -> list[CampaignResult]:
    """Runs (or loads from ``cache``) every campaign part; returns their results."""
    net, _, _ = load_pretrained("digits_cnn")
    _, test, _ = load_splits({"name": "spiking_digits", "seed": 0})
    results = []
    for kind, layer, model in campaign_parts(kinds):
        sample = synapse_sample if kind == "synapse" else None
        name = f"{model.name}_{layer}" + (f"_sample{sample}" if sample else "")
        folder = cache / name
        if (folder / "predictions.npy").is_file():
            results.append(CampaignResult.load(folder))
            continue
        cmpn = Campaign(net, test, seed=seed)
        n_sites = int(np.prod(cmpn.netmap.layers[layer].shape_for(model.target)))
        cmpn.exhaustive(model, layers=[layer], sample=min(sample, n_sites) if sample else None)
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
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = set(kinds) - {"neuron", "synapse"}
    if bad:
        ap.error(f"--kinds: unknown {sorted(bad)}; allowed: neuron, synapse")
    t0 = time.perf_counter()
    results = run_campaigns(args.cache / "campaigns", kinds, args.synapse_sample, args.seed,
                            log=lambda s: print(s, flush=True))
    print(f"campaigns: {len(results)} parts, {sum(len(r.table) for r in results)} rounds, "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    if args.stage == "campaigns":
        return 0
    return run_testgen(results, args)


def run_testgen(results: list[CampaignResult], args: argparse.Namespace) -> int:
    """Stage 2 (filled in below)."""
    print(json.dumps({"parts": len(results)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
