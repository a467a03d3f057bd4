"""Campaign throughput on real N-MNIST recordings: workloads a, b, b', c of the GPU suite.

The same fault workloads as ``campaign_throughput.py --suite gpu`` (the fault sites of
``../shared/spikefi_baseline``) on SpikeFI's N-MNIST CNN, but with the 100 real test
recordings of ``nmnist_small`` (``test100.txt``) and their true labels instead of 256
synthetic inputs. For each workload and engine (naive, sequential, parallel): faults,
samples, wall seconds of the whole campaign (golden pass included), faults x samples per
second, critical faults, and whether the sequential and parallel predictions are
identical to the naive ones.

``--weights zoo`` runs the zoo's own ``nmnist_cnn`` weights instead of SpikeFI's.

``--workload synapses`` is the realistic case: what a reliability study of this network
runs. The zoo's ``nmnist_cnn`` weights quantized to int8 (the golden network), 384 real
recordings (the 100 of ``test100.txt`` and the first 284 of ``train1K.txt``, true labels),
every SC3 synapse as a sign-bit flip of its int8 code (41,472 rounds) plus every SC2 synapse
dead (10,368 rounds): 51,840 rounds x 384 samples with the parallel engine, repeated
``--repeats`` times. Beside it, the naive, sequential and parallel engines on a seeded
subset of ``--check-rounds`` rounds print ``identical: yes`` when their tables (every
column, every round) and per-sample predictions equal the naive engine's, and the rate is
printed as an efficiency too: f·s/s over a fixed golden rate (``--golden-ref``, 8,400
samples/s: this network's golden inference on an H100 in 2026-11), so that a faster golden
pass neither hides nor inflates it. ``--ray`` adds interleaved in-process / one-Ray-actor runs
(``RayExecutor(workers=1, gpus_per_worker=1)``) of ``--ray-fraction`` of the rounds, with
where the time goes (set-up, shipping, actor start, the actor's build and golden pass,
evaluation). ``--quick``: a small seeded subset on the CPU (what CI runs); it exits 1 when
a table differs.

Run (on a CUDA machine)::

    SPIKEFI_NMNIST_DIR=... SPIKEFI_SHARED_DIR=... PYTHONPATH=. \\
        python benchmarks/nmnist_real_throughput.py --json OUT.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):  # run as a file: the repository root makes ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchmarks.common as ct  # noqa: E402
from benchmarks import scaling  # noqa: E402
from spikefi.campaign import Campaign  # noqa: E402
from spikefi.data import NMNIST  # noqa: E402
from spikefi.faults import BitFlipSynapse, DeadSynapse  # noqa: E402
from spikefi.snn import predict  # noqa: E402
from spikefi.zoo import build, load_pretrained  # noqa: E402
from spikefi.zoo.serialization import pretrained_path  # noqa: E402

#: golden inference of this network on an H100 (batch 256, strict fp32), 2026-11: the fixed
#: rate the synapse workload's efficiency is stated against
GOLDEN_REF_SPS = 8_400.0


def real_inputs(root: str, sample_list: str, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(spikes (N, 2, 34, 34, 50), true labels)`` of the listed recordings (on the host)."""
    ds = NMNIST(root, "test", sample_list=sample_list)
    n = len(ds) if limit is None else min(limit, len(ds))
    return torch.stack([ds[i][0] for i in range(n)]), torch.tensor(ds.targets[:n])


def network(weights: str, device: torch.device) -> torch.nn.Module:
    """SpikeFI's published N-MNIST CNN weights, or the zoo's ``nmnist_cnn``, on ``device``."""
    if weights == "zoo":
        net, _, _ = load_pretrained("nmnist_cnn")
    else:
        net, _ = build("nmnist_cnn")
        net.load_state_dict(torch.load(ct.REF / "nmnist_cnn_net.pt", map_location="cpu", weights_only=True))
    return net.to(device).eval()


def real_suite(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    baseline = json.loads((ct.SHARED / "spikefi_baseline" / "spikefi_1.3.0_h100.json").read_text())
    net = network(args.weights, device)
    x, labels = real_inputs(args.root, args.sample_list, args.max_samples)
    with torch.no_grad():
        pred = torch.cat([predict(net(x[i : i + 50].to(device))).cpu() for i in range(0, x.shape[0], 50)])
    accuracy = float((pred == labels).float().mean())
    print(f"{args.weights} weights, {x.shape[0]} real recordings ({args.sample_list}): golden accuracy {accuracy:.4f}")
    golden = ct.golden_rate(net, x, args.batch_size, device)
    results: dict[str, Any] = {"weights": args.weights, "samples": int(x.shape[0]), "golden_accuracy": accuracy}
    for name, inject in ct.gpu_workloads(baseline).items():
        if args.workloads and name not in args.workloads.split(","):
            continue

        def make(inject: Any = inject) -> Campaign:
            cmpn = Campaign(net, (x, labels), batch_size=args.batch_size, seed=0, device=device)
            inject(cmpn)
            if args.max_rounds is not None:
                for i in reversed(range(args.max_rounds, len(cmpn.rounds))):
                    cmpn.eject(i)
            return cmpn

        modes = {e: ct.run_repeated(make, e, args.chunk_size, device, args.repeats) for e in args.modes.split(",")}
        results[name] = ct.report(name, modes, golden, args.batch_size)
        naive = modes.get("naive")
        if naive is not None:
            results[name]["identical"] = {
                e: ct.identical(naive["predictions"], m["predictions"]) for e, m in modes.items() if e != "naive"
            }
    return results


def realistic_inputs(root: str, n_test: int, n_train: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n_test`` recordings of ``test100.txt`` then the first ``n_train`` of ``train1K.txt``."""
    parts = [real_inputs(root, "test100.txt", n_test)]
    if n_train:
        ds = NMNIST(root, "train", sample_list="train1K.txt")
        parts.append((torch.stack([ds[i][0] for i in range(n_train)]), torch.tensor(ds.targets[:n_train])))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def synapse_campaign(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                     batch_size: int, fraction: float | None = None, rounds: int | None = None,
                     share_sc3: float = 0.5) -> Campaign:
    """int8 golden; every SC3 synapse as a sign-bit flip, every SC2 synapse dead (or a seeded
    ``fraction`` of each layer's synapses, or ``rounds`` rounds of which ``share_sc3`` in SC3:
    an even split by default; the whole workload's share is 41,472 / 51,840 = 0.8)."""
    cmpn = Campaign(net, (x, y), batch_size=batch_size, seed=0, device=device, quantization={"dtype": "int8"})
    sc3, sc2 = (int(torch.tensor(cmpn.netmap.layers[n].synapse_shape).prod()) for n in ("SC3", "SC2"))
    if rounds is not None:
        k3 = min(rounds, max(0, int(share_sc3 * rounds + 0.5)))  # half up: an odd count gives SC3 the extra one
        k2 = rounds - k3
    elif fraction is not None:
        k3, k2 = max(1, round(fraction * sc3)), max(1, round(fraction * sc2))
    else:
        k3, k2 = sc3, sc2
    if k3:
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SC3"], sample=None if k3 == sc3 else k3)  # int8 sign bit
    if k2:
        cmpn.exhaustive(DeadSynapse(), layers=["SC2"], sample=None if k2 == sc2 else k2)
    return cmpn


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def synapse_suite(args: argparse.Namespace) -> dict[str, Any]:
    """The realistic synapse workload (module docstring)."""
    device = torch.device(args.device)
    n_test, n_train = (3, 3) if args.quick else (100, 284)
    x, y = realistic_inputs(args.root, n_test, n_train)
    weights = pretrained_path("nmnist_cnn")
    net, _, _ = load_pretrained("nmnist_cnn")
    net = net.to(device).eval()
    print(f"recordings: {args.root}: test100.txt first {n_test} + train1K.txt first {n_train} = {x.shape[0]} "
          f"(true labels)\nweights: zoo nmnist_cnn ({weights.name}, sha256 {_sha256(weights)}...), int8 golden "
          f"(per-tensor affine)")
    out: dict[str, Any] = {"samples": int(x.shape[0]), "weights": f"zoo nmnist_cnn sha256 {_sha256(weights)}",
                           "recordings": f"test100.txt[:{n_test}] + train1K.txt[:{n_train}]"}
    golden = float("nan") if args.quick else ct.golden_rate(net, x, args.batch_size, device)
    if not args.quick:
        print(f"golden inference (float weights): {golden:,.0f} samples/s at batch {args.batch_size}")
    out["golden_samples_per_s"] = golden

    # identity: every engine on a seeded subset, tables and predictions against the naive engine
    check = 12 if args.quick else args.check_rounds
    tables, preds, walls = {}, {}, {}
    for e in ("naive", "sequential", "parallel"):
        t0 = time.perf_counter()
        res = synapse_campaign(net, x, y, device, args.batch_size, rounds=check).run(
            engine=e, chunk_size=args.chunk_size, progress=False, keep_predictions=True)
        ct.sync(device)
        walls[e] = time.perf_counter() - t0
        tables[e], preds[e] = res.table, res.predictions
    ok = True
    naive_t = tables["naive"]
    deviating = int((naive_t["spike_count_deviation"] > 0).sum())
    print(f"naive engine: {deviating} of {len(naive_t)} rounds change some spike count, "
          f"{int((naive_t['critical'] > 0).sum())} critical")
    out["rounds_deviating"] = deviating
    print(f"\n## identity on a seeded subset of {len(tables['naive'])} rounds x {x.shape[0]} samples "
          f"(wall s: {', '.join(f'{e} {w:.1f}' for e, w in walls.items())})")
    for e in ("sequential", "parallel"):
        same_table = scaling.same_table(tables["naive"], tables[e])
        same_pred = ct.identical(preds["naive"], preds[e])
        verdict = "yes" if same_table == "yes" and same_pred == "yes" else f"no (table: {same_table}; predictions: {same_pred})"
        ok &= verdict == "yes"
        print(f"identical ({e} vs naive): {verdict}")
        out[f"identical_{e}"] = verdict
    print(f"identical: {'yes' if ok else 'no'}")
    out["identical"] = "yes" if ok else "no"
    out["check"] = {"rounds": len(tables["naive"]), "wall_s": walls}
    if args.quick:
        if args.ray:
            out["ray"] = _ray_overhead(args, net, x, y, device)
        return out

    # the whole workload, parallel engine (--repeats 0: skipped)
    if args.repeats > 0:
        runs = [ct.run_mode(lambda: synapse_campaign(net, x, y, device, args.batch_size), "parallel", args.chunk_size,
                            device) for _ in range(args.repeats)]
        for r in runs[1:]:
            if not (r["predictions"] == runs[0]["predictions"]).all():
                raise RuntimeError("repeated runs of the synapse workload gave different predictions")
        best = max(runs, key=lambda r: r["fxs_per_s"])
        print(f"\n## every SC3 synapse sign-bit flip + every SC2 synapse dead: {best['faults']:,} rounds x {best['samples']} "
              f"samples, parallel engine, {len(runs)} run(s)")
        for i, r in enumerate(runs):
            setup, gold, ev = r["phases_ms"]
            print(f"run {i + 1}: {r['wall_s']:.1f} s = set-up {setup / 1e3:.2f} + golden {gold / 1e3:.2f} + evaluation "
                  f"{ev / 1e3:.1f} s -> {r['fxs_per_s']:,.0f} f·s/s; {r['critical']:,} critical rounds; "
                  f"peak {r['peak_mib']:,.0f} MiB")
        print(f"best: {best['fxs_per_s']:,.0f} f·s/s = {best['fxs_per_s'] / golden:.1f}x this run's golden inference, "
              f"efficiency {best['fxs_per_s'] / args.golden_ref:.1f}x the fixed golden rate {args.golden_ref:,.0f} samples/s")
        out["whole"] = {"runs": [{k: v for k, v in r.items() if k != "predictions"} for r in runs],
                        "best_fxs_per_s": best["fxs_per_s"], "efficiency": best["fxs_per_s"] / args.golden_ref,
                        "golden_ref_samples_per_s": args.golden_ref}
        del runs, best
        scaling.release_gpu(device)
    if args.ray:
        out["ray"] = _ray_overhead(args, net, x, y, device)
    return out


def _ray_overhead(args: argparse.Namespace, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                  device: torch.device) -> dict[str, Any]:
    """In-process vs one Ray actor on this GPU, interleaved, on ``--ray-fraction`` of the rounds."""
    import ray

    from spikefi.campaign import RayExecutor

    t0 = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, **({} if device.type == "cuda" else {"num_cpus": 2}))
    print(f"\n## one Ray actor vs in-process, {args.ray_fraction:g} of each layer's synapses (seeded), "
          f"interleaved x{args.ray_repeats} (ray.init {time.perf_counter() - t0:.1f} s, not counted)")
    cpu_net = net.to("cpu")
    gpu = device.type == "cuda"
    executor = RayExecutor(workers=1, gpus_per_worker=1 if gpu else 0, cpus_per_worker=None if gpu else 1)
    rows: dict[str, list[dict[str, Any]]] = {"in-process": [], "Ray 1 actor": []}
    try:
        for i in range(args.ray_repeats):
            ref = scaling.in_process(lambda: synapse_campaign(net.to(device), x, y, device, args.batch_size,
                                                              fraction=args.ray_fraction), device, args.chunk_size)
            res = scaling.on_ray(lambda: synapse_campaign(cpu_net.to("cpu"), x, y, torch.device("cpu"),
                                                           args.batch_size, fraction=args.ray_fraction),
                                  executor, args.chunk_size)
            same = scaling.same_table(ref["table"], res["table"])
            fs = ref["rounds"] * ref["samples"]
            print(f"pair {i + 1}: {ref['rounds']:,} rounds x {ref['samples']} samples")
            print(f"  in-process: total {ref['total_s']:.2f} s = fixed {ref['fixed_s']:.2f} ({scaling.fmt_fixed(ref['fixed'])}) "
                  f"+ evaluation {ref['eval_s']:.2f} s ({fs / ref['eval_s']:,.0f} f·s/s)")
            print(f"  Ray 1 actor: total {res['total_s']:.2f} s = fixed {res['fixed_s']:.2f} ({scaling.fmt_fixed(res['fixed'])}) "
                  f"+ evaluation {res['eval_s']:.2f} s ({fs / res['eval_s']:,.0f} f·s/s; actor engine seconds "
                  f"{', '.join(f'{v:.2f}' for v in res['engine_s'])}); ratio to in-process: evaluation "
                  f"{ref['eval_s'] / res['eval_s']:.2f}x, whole run {ref['total_s'] / res['total_s']:.2f}x; identical: {same}")
            rows["in-process"].append({k: v for k, v in ref.items() if k != "table"})
            rows["Ray 1 actor"].append({k: v for k, v in res.items() if k != "table"} | {"identical": same})
    finally:
        ray.shutdown()
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.environ.get("SPIKEFI_NMNIST_DIR", str(ct.SHARED / "nmnist_small")))
    ap.add_argument("--sample-list", default="test100.txt")
    ap.add_argument("--max-samples", type=int, default=None)
    ap.add_argument("--weights", choices=["spikefi", "zoo"], default="spikefi")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3, help="runs of the sequential and parallel modes (median reported)")
    ap.add_argument("--modes", default="naive,sequential,parallel")
    ap.add_argument("--workloads", default="", help="only these workloads (comma-separated: a,b,b',c)")
    ap.add_argument("--max-rounds", type=int, default=None, help="keep the first rounds only (smoke tests)")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    ap.add_argument("--workload", choices=["suite", "synapses"], default="suite",
                    help="suite: workloads a, b, b', c; synapses: the realistic synapse campaign (module docstring)")
    ap.add_argument("--quick", action="store_true", help="synapses: a small seeded subset on the CPU (CI)")
    ap.add_argument("--check-rounds", type=int, default=256, help="synapses: rounds of the engines' identity check")
    ap.add_argument("--golden-ref", type=float, default=GOLDEN_REF_SPS,
                    help="synapses: the fixed golden rate (samples/s) efficiency is stated against")
    ap.add_argument("--ray", action="store_true", help="synapses: also in-process vs one Ray actor, interleaved")
    ap.add_argument("--ray-fraction", type=float, default=0.25, help="synapses --ray: share of each layer's synapses")
    ap.add_argument("--ray-repeats", type=int, default=2, help="synapses --ray: interleaved pairs")
    args = ap.parse_args(argv)
    if args.quick:
        args.device, args.batch_size, args.chunk_size = "cpu", 16, 16
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"# campaign throughput on real N-MNIST recordings: {name}, torch {torch.__version__}")
    if args.workload == "synapses":
        results = synapse_suite(args)
    else:
        results = real_suite(args)
    results["device"] = name
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    if results.get("identical") == "no":
        sys.exit(1)


if __name__ == "__main__":
    main()
