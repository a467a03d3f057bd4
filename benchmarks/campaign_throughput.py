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
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.faults import DeadNeuron, DeadSynapse, Fault, PerturbedSynapse, Site, StuckSynapse
from spikefi.snn import predict
from spikefi.zoo import build, load_pretrained

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPIKEFI_SHARED_DIR", ROOT.parent / "shared"))
REF = Path(os.environ.get("SPIKEFI_REFERENCE_DIR", SHARED / "slayer_reference"))


# ----------------------------------------------------------------------------------
# measurement helpers


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        try:  # resets VmHWM of this process (Linux)
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def golden_passes(net: torch.nn.Module, x: torch.Tensor, batch: int, device: torch.device, repeats: int = 2) -> list[float]:
    """Seconds of ``repeats`` inference passes over ``x`` (after one warm-up batch)."""
    net = net.to(device).eval()
    x = x.to(device)
    times = []
    with torch.no_grad():
        net(x[:batch])
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            for i in range(0, len(x), batch):
                net(x[i : i + batch])
            sync(device)
            times.append(time.perf_counter() - t0)
    return times


def golden_rate(net: torch.nn.Module, x: torch.Tensor, batch: int, device: torch.device, repeats: int = 2) -> float:
    """Golden inference samples/s of the best of ``repeats`` passes."""
    return len(x) / min(golden_passes(net, x, batch, device, repeats))


PROFILE: dict[str, Any] = {"dir": None}


class _GcTimer:
    """Time spent in Python's garbage collector while active (a diagnostic: a full
    collection of a large heap can take tens of milliseconds)."""

    def __init__(self) -> None:
        self.seconds, self.collections, self._t0 = 0.0, 0, 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t0
            self.collections += 1

    def __enter__(self) -> _GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def run_mode(make: Callable[[], Campaign], engine: str, chunk: int, device: torch.device) -> dict[str, Any]:
    gc.collect()  # garbage of earlier runs is not collected inside this one
    reset_peak(device)
    sync(device)
    with _GcTimer() as gc_timer:
        return _run_mode_timed(make, engine, chunk, device, gc_timer)


def _run_mode_timed(make: Callable[[], Campaign], engine: str, chunk: int, device: torch.device,
                    gc_timer: _GcTimer) -> dict[str, Any]:
    prof = None
    if PROFILE["dir"] and engine == "parallel":
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    cmpn = make()
    sync(device)
    t_made = time.perf_counter()
    cmpn.golden()
    sync(device)
    t_golden = time.perf_counter()
    result = cmpn.run(engine=engine, chunk_size=chunk, progress=False, keep_predictions=True)
    sync(device)
    wall = time.perf_counter() - t0
    if prof is not None:
        import pstats

        prof.disable()
        print(f"--- cProfile of the parallel run ({wall:.3f} s)")
        pstats.Stats(prof).sort_stats("tottime").print_stats(22)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
    n = len(result.table) * cmpn.num_samples
    return {
        "engine": engine, "faults": len(result.table), "samples": cmpn.num_samples, "wall_s": wall,
        "fxs_per_s": n / wall, "critical": int((result.table["critical"] > 0).sum()),
        "peak_mib": peak_memory_mib(device), "predictions": result.predictions,
        "gc_ms": 1e3 * gc_timer.seconds, "gc_collections": gc_timer.collections,
        "phases_ms": [round(1e3 * (t_made - t0), 1), round(1e3 * (t_golden - t_made), 1),
                      round(1e3 * (t0 + wall - t_golden), 1)],
    }


def run_repeated(make: Callable[[], Campaign], engine: str, chunk: int, device: torch.device,
                 repeats: int) -> dict[str, Any]:
    """``run_mode`` ``repeats`` times (naive: once); the run with the median wall time,
    with every run's wall time in ``walls_s``. Every run must give the same predictions."""
    runs = [run_mode(make, engine, chunk, device) for _ in range(1 if engine == "naive" else repeats)]
    for r in runs[1:]:
        if not np.array_equal(r["predictions"], runs[0]["predictions"]):
            raise RuntimeError(f"{engine}: repeated runs gave different predictions")
    median = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    return {**median, "walls_s": [round(r["wall_s"], 4) for r in runs], "phases": [r["phases_ms"] for r in runs]}


def identical(ref: np.ndarray, other: np.ndarray) -> str:
    k = int((ref != other).sum())
    return "yes" if k == 0 else f"no ({k} of {ref.size} predictions differ)"


def report(name: str, modes: dict[str, dict[str, Any]], golden_sps: float, batch: int) -> dict[str, Any]:
    print(f"\n## workload {name}")
    print(f"golden inference: {golden_sps:,.0f} samples/s at batch {batch}")
    print(f"{'mode':<11} {'faults':>7} {'samples':>7} {'wall s':>9} {'faults*samples/s':>17} {'critical':>8} {'peak MiB':>9}")
    for key, m in modes.items():
        print(f"{key:<11} {m['faults']:>7} {m['samples']:>7} {m['wall_s']:>9.2f} {m['fxs_per_s']:>17,.0f} "
              f"{m['critical']:>8} {m['peak_mib']:>9.0f}")
    out: dict[str, Any] = {"golden_samples_per_s": golden_sps}
    ref = modes.get("naive")
    if ref is not None:
        print(f"naive vs golden inference: {ref['fxs_per_s'] / golden_sps:.2f}x (an honest baseline is near 1)")
        for key in ("sequential", "parallel"):
            if key in modes:
                print(f"identical ({key} vs naive): {identical(ref['predictions'], modes[key]['predictions'])}")
        if "parallel" in modes:
            out["c/a"] = modes["parallel"]["fxs_per_s"] / ref["fxs_per_s"]
            print(f"c/a = {out['c/a']:.1f}")
    if "parallel" in modes and "sequential" in modes:
        out["c/b"] = modes["parallel"]["fxs_per_s"] / modes["sequential"]["fxs_per_s"]
        print(f"c/b = {out['c/b']:.1f}")
    out["modes"] = {k: {kk: vv for kk, vv in v.items() if kk != "predictions"} for k, v in modes.items()}
    return out


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


def synthetic_nmnist(n: int, seed: int = 12345) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    dens = torch.tensor([0.01, 0.02, 0.05, 0.10]).repeat_interleave(n // 4)
    return (torch.rand(n, 2, 34, 34, 50, generator=g) < dens.view(-1, 1, 1, 1, 1)).float() / 6


def nmnist_inputs(device: torch.device, n: int = 256) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """SpikeFI's N-MNIST CNN (on ``device``, eval mode), ``n`` synthetic inputs (on the
    host, as SpikeFI's loader keeps them) and their labels: our own fp32 golden predictions."""
    net, _ = build("nmnist_cnn")
    net.load_state_dict(torch.load(REF / "nmnist_cnn_net.pt", map_location="cpu", weights_only=True))
    net = net.to(device).eval()
    x = synthetic_nmnist(n)
    with torch.no_grad():
        labels = torch.cat([predict(net(x[i : i + 64].to(device))).cpu() for i in range(0, n, 64)])
    return net, x, labels


def gpu_workloads(baseline: dict[str, Any]) -> dict[str, Callable[[Campaign], None]]:
    """Workloads a, b, b', c of ``../shared/spikefi_baseline``: each injects its rounds."""
    sites = {r["case"]: r["fault_sites"] for r in baseline["results"] if r.get("fault_sites")}
    return {
        "a": lambda c: c.exhaustive(DeadNeuron(), layers=["SF4a"]),
        "b": lambda c: [c.then_inject(Fault(DeadSynapse(), Site(s[0], tuple(s[1])))) for s in sites["b"]],
        "b'": lambda c: [c.then_inject(Fault(PerturbedSynapse(2.0), Site(s[0], tuple(s[1])))) for s in sites["b"]],
        "c": lambda c: [c.then_inject(Fault(DeadNeuron(), Site(s[0], tuple(s[1])))) for s in sites["c"]],
    }


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

        modes = {e: run_repeated(make, e, args.chunk_size, device, args.repeats) for e in args.modes.split(",")}
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
    PROFILE["dir"] = args.profile
    dev = torch.device(args.device if args.suite in ("gpu", "scaling") and not (args.suite == "scaling" and args.quick)
                       else args.devices.split(",")[0] if args.suite == "multi" else "cpu")
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"# campaign throughput, suite {args.suite}{' (quick)' if args.quick else ''}: {name}, torch {torch.__version__}")
    from scaling import scaling_suite

    suites = {"cpu": cpu_suite, "gpu": gpu_suite, "big": big_suite, "multi": multi_suite, "scaling": scaling_suite}
    results = suites[args.suite](args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    if args.guard and args.suite == "gpu":
        import phase_guard

        print()
        for line in phase_guard.check(results, name, Path(args.guard)):
            print(line)
        if args.guard_write:
            print(f"guard: phases written to {phase_guard.write(results, name, ' '.join(sys.argv), Path(args.guard))}")


if __name__ == "__main__":
    main()
