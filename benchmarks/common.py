"""What the benchmark scripts share: paths of the reference material, timing and memory
helpers, whole-campaign runs timed in phases, and SpikeFI's N-MNIST workloads.

Scripts in this folder run as files (``python benchmarks/x.py``) or as modules of the
``benchmarks`` package (tests); both import this module as ``benchmarks.common``. Options
travel as arguments, never as module state.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikefi.campaign import Campaign
from spikefi.faults import DeadNeuron, DeadSynapse, Fault, PerturbedSynapse, Site
from spikefi.snn import predict
from spikefi.zoo import build

__all__ = ["ROOT", "SHARED", "REF", "sync", "reset_peak", "peak_memory_mib", "golden_passes", "golden_rate",
           "run_mode", "run_repeated", "identical", "report", "synthetic_nmnist", "nmnist_inputs", "gpu_workloads"]

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPIKEFI_SHARED_DIR", ROOT.parent / "shared"))
REF = Path(os.environ.get("SPIKEFI_REFERENCE_DIR", SHARED / "slayer_reference"))


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


def run_mode(make: Callable[[], Campaign], engine: str, chunk: int, device: torch.device,
             profile: bool = False) -> dict[str, Any]:
    """One whole campaign from ``make()`` (set-up, golden pass, evaluation) timed in phases;
    ``profile``: print a cProfile summary of a parallel run."""
    gc.collect()  # garbage of earlier runs is not collected inside this one
    reset_peak(device)
    sync(device)
    with _GcTimer() as gc_timer:
        return _run_mode_timed(make, engine, chunk, device, gc_timer, profile)


def _run_mode_timed(make: Callable[[], Campaign], engine: str, chunk: int, device: torch.device,
                    gc_timer: _GcTimer, profile: bool) -> dict[str, Any]:
    prof = None
    if profile and engine == "parallel":
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
                 repeats: int, profile: bool = False) -> dict[str, Any]:
    """``run_mode`` ``repeats`` times (naive: once); the run with the median wall time,
    with every run's wall time in ``walls_s``. Every run must give the same predictions."""
    runs = [run_mode(make, engine, chunk, device, profile) for _ in range(1 if engine == "naive" else repeats)]
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


