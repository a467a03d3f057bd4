"""Campaign throughput: naive vs SpikeFI-style (late start + early stop) vs fault-parallel.

For every workload it prints faults, samples, wall seconds of the whole campaign
*including its golden pass* (a fresh campaign per mode, as SpikeFI's figures are),
faults x samples per second, the critical-fault count and peak memory, for

  (a) naive      — every round runs the whole network,
  (b) sequential — SpikeFI O4: late start + early stop, one round at a time,
  (c) parallel   — the fault-parallel engine,

plus golden inference samples/s at the same batch size and the ratios c/a and c/b,
all measured in this run. Every mode runs the same rounds; "identical" compares the
per-(round, sample) predictions of (b) and (c) with (a).

Suites:
  cpu  — bundled digits CNN: every dead neuron of every layer, and 500 sampled
         synapse faults. ``--naive-rounds`` limits (a) and (b) to a seeded subset of
         the rounds (the whole workload for (c) is timed separately and printed).
  gpu  — SpikeFI's N-MNIST CNN (nmnist_cnn_net.pt), 256 synthetic inputs (densities
         0.01/0.02/0.05/0.10, seed 12345; labels = our own fp32 golden predictions) and
         the fault sites of ../shared/spikefi_baseline (workloads a, b, b', c).
  big  — a 100,000-fault campaign on the digits net (CPU), time and peak memory.
  multi — one campaign (digits net, every dead neuron and sampled synapse faults) on one
         device in this process, then sharded over the given ``--devices`` with
         ``run_on_devices`` (one Ray actor per device): times and table equality.
  scaling — in-process on one GPU vs Ray actors on 1, 2 ... GPUs (benchmarks/scaling.py):
         fixed costs and evaluation apart, ratios, identical tables; ``--quick`` is the
         CPU version CI runs (local Ray, 2 workers x 1 CPU).

Run: ``PYTHONPATH=. python benchmarks/campaign_throughput.py --suite cpu [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: the repository root makes ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import (  # noqa: E402
    SHARED,
    golden_passes,
    golden_rate,
    gpu_workloads,
    nmnist_inputs,
    peak_memory_mib,
    report,
    reset_peak,
    run_mode,
    run_repeated,
    sync,
)
from spikefi.campaign import Campaign  # noqa: E402
from spikefi.data import load_spiking_digits  # noqa: E402
from spikefi.faults import DeadNeuron, DeadSynapse, Fault, PerturbedSynapse, Site, StuckSynapse  # noqa: E402
from spikefi.zoo import load_pretrained  # noqa: E402

# ----------------------------------------------------------------------------------
# suites


def cpu_suite(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device("cpu")
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    samples = 24 if args.quick else None
    x = test.tensors if samples is None else test.tensors[:samples]
    probe = Campaign(net, test, max_samples=samples)
    layers = list(probe.netmap.order)[-3:] if args.quick else list(probe.netmap.order)
    results = {}

    def neurons(cmpn: Campaign, subset: list[int] | None) -> None:
        sites = [(name, idx) for name in layers for idx in np.ndindex(*probe.netmap.layers[name].neuron_shape)]
        for i in subset if subset is not None else range(len(sites)):
            cmpn.then_inject(Fault(DeadNeuron(), Site(sites[i][0], tuple(int(v) for v in sites[i][1]))))

    def synapses(cmpn: Campaign, subset: list[int] | None) -> None:
        n_syn = 30 if args.quick else 500
        for _i in subset if subset is not None else range(n_syn):
            cmpn.then_inject(Fault(DeadSynapse(), Site(None)))  # network-wise, seeded per round

    total_neurons = sum(probe.netmap.layers[n].neurons for n in layers)
    for wname, builder, total in (("every dead neuron", neurons, total_neurons),
                                  ("500 sampled synapse faults", synapses, 30 if args.quick else 500)):
        rng = np.random.default_rng(0)
        k = min(total, args.naive_rounds if not args.quick else 12)
        subset = sorted(rng.choice(total, size=k, replace=False).tolist())

        def make(subset: list[int] | None = subset, builder: Any = builder) -> Campaign:
            cmpn = Campaign(net, test, batch_size=args.batch_size, seed=0, max_samples=samples)
            if builder is synapses and subset is not None:
                # synapse rounds draw their site from their round id: build all, keep the subset
                builder(cmpn, None)
                keep = set(subset)
                for i in reversed(range(len(cmpn.rounds))):
                    if i not in keep:
                        cmpn.eject(i)
            else:
                builder(cmpn, subset)
            return cmpn

        # golden inference measured around the runs it is compared with: on a shared machine
        # a single short pass is as noisy as the load of the moment, so the rate is that of
        # the mean of 4 passes before and 4 after (a naive run, minutes long, averages too)
        passes = golden_passes(net, x, args.batch_size, device, repeats=4)
        modes = {e: run_mode(make, e, args.chunk_size, device) for e in ("naive", "sequential", "parallel")}
        passes += golden_passes(net, x, args.batch_size, device, repeats=4)
        golden = len(x) / (sum(passes) / len(passes))
        print(f"\ngolden passes around the runs: {len(x) / max(passes):,.0f} .. {len(x) / min(passes):,.0f} samples/s "
              f"(mean {golden:,.0f})")
        print(f"\n(rounds: a seeded subset of {k} of the {total} rounds of this workload)")
        results[wname] = report(wname, modes, golden, args.batch_size)
        full = run_mode(lambda: make(None), "parallel", args.chunk_size, device)
        print(f"whole workload with the parallel engine: {full['faults']} faults x {full['samples']} samples "
              f"in {full['wall_s']:.1f} s ({full['fxs_per_s']:,.0f} faults*samples/s, {full['critical']} critical, "
              f"peak {full['peak_mib']:.0f} MiB)")
        results[wname]["whole_parallel"] = {k: v for k, v in full.items() if k != "predictions"}
    return results


def big_suite(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device("cpu")
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    n_faults = 2000 if args.quick else 100_000
    samples = 16 if args.quick else 64
    reset_peak(device)
    t0 = time.perf_counter()
    cmpn = Campaign(net, test, batch_size=64, seed=0, max_samples=samples)
    models = [DeadSynapse(), StuckSynapse(2.0), PerturbedSynapse(-1.0), DeadNeuron()]
    for i in range(n_faults):
        cmpn.then_inject(Fault(models[i % 4], Site(None)))
    built = time.perf_counter() - t0
    rows = 0
    for chunk in cmpn.iter_chunks("parallel", chunk_size=512, progress=not args.no_progress):
        rows += len(chunk.rows)
    wall = time.perf_counter() - t0
    print(f"\n## {n_faults:,}-fault campaign on the digits net (CPU, {samples} samples, parallel engine)")
    print(f"built {n_faults:,} rounds in {built:.1f} s; evaluated {rows:,} rounds; total {wall:.1f} s; "
          f"peak memory {peak_memory_mib(device):,.0f} MiB")
    return {"faults": n_faults, "samples": samples, "wall_s": wall, "peak_mib": peak_memory_mib(device)}


MULTI_SPEC = """
name: multi-device
network: {{pretrained: digits_cnn}}
data: {{name: spiking_digits}}
options: {{seed: 0, batch_size: 128, device: {device}}}
exhaustive:
  - {{model: DeadNeuron{neuron_layers}}}
  - {{model: DeadSynapse, layers: [SC1, SC2, SF3], sample: {synapses}}}
  - {{model: PerturbedSynapse, factor: 2.0, layers: [SC2, SF3], sample: {synapses}}}
"""


def multi_suite(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    from spikefi.campaign import CampaignSpec, run_on_devices

    devices = args.devices.split(",")
    synapses = 200 if args.quick else 4000
    spec = CampaignSpec.from_yaml(MULTI_SPEC.format(device=devices[0], synapses=synapses,
                                                    neuron_layers=", layers: [SF4]" if args.quick else ""))
    t0 = time.perf_counter()
    cmpn = spec.build()
    single = cmpn.run(engine="parallel", chunk_size=args.chunk_size, progress=False)
    sync(torch.device(devices[0]))
    t_single = time.perf_counter() - t0
    n = len(single.table) * cmpn.num_samples
    print(f"\n## {len(single.table):,} rounds x {cmpn.num_samples} samples (digits net, parallel engine)")
    print(f"one device ({devices[0]}), this process:     {t_single:7.2f} s  {n / t_single:>12,.0f} faults*samples/s")
    out: dict[str, Any] = {"rounds": len(single.table), "samples": cmpn.num_samples, "single_s": t_single}
    cols = [c for c in single.table if c != "param"]
    for devs in ([devices[0]], devices):
        t0 = time.perf_counter()
        sharded = run_on_devices(spec, devs, engine="parallel", chunk_size=args.chunk_size, timeout_s=900)
        wall = time.perf_counter() - t0
        try:
            pd.testing.assert_frame_equal(sharded.table[cols], single.table[cols])
            same = "yes"
        except AssertionError as err:
            same = f"no ({str(err).splitlines()[0]})"
        label = f"run_on_devices({devs})"
        print(f"{label:<40} {wall:7.2f} s  {n / wall:>12,.0f} faults*samples/s  table equal to one device: {same}")
        out[",".join(devs)] = {"wall_s": wall, "equal": same}
    return out


def gpu_suite(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    baseline = json.loads((SHARED / "spikefi_baseline" / "spikefi_1.3.0_h100.json").read_text())
    net, x, labels = nmnist_inputs(device, 32 if args.quick else 256)
    golden = golden_rate(net, x, args.batch_size, device)
    spikefi_o4 = {}
    for r in baseline["results"]:
        if r["opt"] == "O4" and r["batch_size"] == 64:
            key = r["case"] + ("'" if r["fault_model"] == "PerturbedSynapse" else "")
            if r["layer"] != "SF4b":
                spikefi_o4[key] = r["faults_x_samples_per_s"]
    workloads = gpu_workloads(baseline)
    results = {}
    for name, inject in workloads.items():
        if args.workloads and name not in args.workloads.split(","):
            continue

        def make(inject: Any = inject) -> Campaign:
            cmpn = Campaign(net, (x, labels), batch_size=args.batch_size, seed=0, device=device)
            inject(cmpn)
            if args.quick:
                for i in reversed(range(8, len(cmpn.rounds))):
                    cmpn.eject(i)
            return cmpn

        modes = {e: run_repeated(make, e, args.chunk_size, device, args.repeats, args.profile)
                 for e in args.modes.split(",")}
        results[name] = report(name, modes, golden, args.batch_size)
        if args.repeats > 1:
            for e, m in modes.items():
                print(f"{e}: wall s of the {len(m['walls_s'])} runs {m['walls_s']} (the table shows the median run; "
                      f"{m['gc_collections']} garbage collections took {m['gc_ms']:.1f} ms of it)")
                print(f"{e}: ms of set-up / golden pass / evaluation per run: {m['phases']}")
        if name in spikefi_o4 and "parallel" in modes:
            ratio = modes["parallel"]["fxs_per_s"] / spikefi_o4[name]
            print(f"vs SpikeFI 1.3.0 O4 (bs 64, H100): {spikefi_o4[name]:,.0f} faults*samples/s -> {ratio:.1f}x")
            results[name]["vs_spikefi_o4"] = ratio
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=["cpu", "gpu", "big", "multi", "scaling"], default="cpu")
    ap.add_argument("--gpus", default="1,2", help="scaling suite: Ray runs with these GPU counts")
    ap.add_argument("--digits-repeats", type=int, default=5,
                    help="scaling suite: the digits every-single-fault campaign repeated this many times")
    ap.add_argument("--nmnist-samples", type=int, default=256, help="scaling suite: synthetic N-MNIST inputs")
    ap.add_argument("--ray-cpus", default="auto", help="scaling suite: CPU cores per Ray actor (auto: a GPU's share)")
    ap.add_argument("--devices", default="cuda:0,cuda:1", help="multi suite: devices to shard over")
    ap.add_argument("--quick", action="store_true", help="CI-sized: few rounds and samples")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--naive-rounds", type=int, default=200, help="rounds timed in naive/sequential mode (cpu suite)")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--modes", default="naive,sequential,parallel", help="gpu suite: engines to run")
    ap.add_argument("--workloads", default="", help="gpu suite: only these workloads (comma-separated)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile summary of every parallel run")
    ap.add_argument("--guard", default=None, metavar="DIR",
                    help="gpu suite: compare the phases with DIR/<gpu model>.json (benchmarks/phase_guard.py)")
    ap.add_argument("--guard-write", action="store_true",
                    help="gpu suite: write this run's phases as DIR/<gpu model>.json (with --guard DIR)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="gpu suite: runs of the sequential and parallel modes (the median run is reported)")
    args = ap.parse_args()
    dev = torch.device(args.device if args.suite in ("gpu", "scaling") and not (args.suite == "scaling" and args.quick)
                       else args.devices.split(",")[0] if args.suite == "multi" else "cpu")
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"# campaign throughput, suite {args.suite}{' (quick)' if args.quick else ''}: {name}, torch {torch.__version__}")
    from benchmarks.scaling import scaling_suite

    suites = {"cpu": cpu_suite, "gpu": gpu_suite, "big": big_suite, "multi": multi_suite, "scaling": scaling_suite}
    results = suites[args.suite](args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    if args.guard and args.suite == "gpu":
        from benchmarks import phase_guard

        print()
        for line in phase_guard.check(results, name, Path(args.guard)):
            print(line)
        if args.guard_write:
            print(f"guard: phases written to {phase_guard.write(results, name, ' '.join(sys.argv), Path(args.guard))}")


if __name__ == "__main__":
    main()
