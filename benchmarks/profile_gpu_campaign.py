"""Where the time goes on the GPU: phase timings and kernel tables for workload (a)
(parallel engine, whole campaign) and for the naive engine vs golden inference.

Run: ``PYTHONPATH=. python benchmarks/profile_gpu_campaign.py`` on a CUDA machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a file: the repository root makes ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import nmnist_inputs, sync  # noqa: E402
from spikefi.campaign import Campaign  # noqa: E402
from spikefi.faults import DeadNeuron  # noqa: E402

CUDA = torch.device("cuda")


def phases(net: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor, dev: torch.device, reps: int) -> None:
    for rep in range(reps):
        sync(CUDA)
        t0 = time.perf_counter()
        c = Campaign(net, (x, labels), batch_size=256, seed=0, device=dev)
        c.exhaustive(DeadNeuron(), layers=["SF4a"])
        sync(CUDA)
        t1 = time.perf_counter()
        c.golden()
        sync(CUDA)
        t2 = time.perf_counter()
        c.run(engine="parallel", chunk_size=256, progress=False, keep_predictions=True)
        sync(CUDA)
        t3 = time.perf_counter()
        print(f"(a) rep {rep}: setup {1e3 * (t1 - t0):.1f} ms, golden {1e3 * (t2 - t1):.1f} ms, "
              f"run {1e3 * (t3 - t2):.1f} ms, whole {1e3 * (t3 - t0):.1f} ms")


def main() -> None:
    dev = torch.device("cuda")
    net, x, labels = nmnist_inputs(dev)
    xd = x.to(dev)
    with torch.no_grad():
        for _ in range(3):
            net(xd)
        sync(CUDA)
        t0 = time.perf_counter()
        for _ in range(5):
            net(xd)
        sync(CUDA)
        print(f"golden inference bs256 (inputs on device): {(time.perf_counter() - t0) / 5 * 1e3:.1f} ms per 256")
        sync(CUDA)
        t0 = time.perf_counter()
        for _ in range(5):
            net(x.to(dev))
        sync(CUDA)
        print(f"golden inference bs256 (inputs from host): {(time.perf_counter() - t0) / 5 * 1e3:.1f} ms per 256")
    phases(net, x, labels, dev, 4)
    if "--after-naive" in sys.argv:
        c = Campaign(net, (x, labels), batch_size=256, seed=0, device=dev)
        c.exhaustive(DeadNeuron(), layers=["SF4a"])
        for i in reversed(range(64, len(c.rounds))):
            c.eject(i)
        c.run(engine="naive", chunk_size=256, progress=False, keep_predictions=True)
        print("after a naive run of 64 rounds:")
        phases(net, x, labels, dev, 4)
    if "--setup-profile" in sys.argv:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        for _ in range(10):
            sync(CUDA)
            prof.enable()
            c = Campaign(net, (x, labels), batch_size=256, seed=0, device=dev)
            c.exhaustive(DeadNeuron(), layers=["SF4a"])
            sync(CUDA)
            prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    if "--phases-only" in sys.argv:
        return
    from torch.profiler import ProfilerActivity, profile

    for title, fn in (
        ("golden()", lambda: Campaign(net, (x, labels), batch_size=256, seed=0, device=dev).golden()),
    ):
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            fn()
            sync(CUDA)
        print(f"\n=== {title}")
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25))
        print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=15))
    c = Campaign(net, (x, labels), batch_size=256, seed=0, device=dev)
    c.exhaustive(DeadNeuron(), layers=["SF4a"])
    c.golden()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        c.run(engine="parallel", chunk_size=256, progress=False)
        sync(CUDA)
    print("\n=== parallel run after golden")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=20))
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=20))
    # naive: 8 rounds
    c = Campaign(net, (x, labels), batch_size=256, seed=0, device=dev)
    c.exhaustive(DeadNeuron(), layers=["SF4a"])
    for i in reversed(range(8, len(c.rounds))):
        c.eject(i)
    c.golden()
    c.run(engine="naive", chunk_size=8, progress=False)
    sync(CUDA)
    t0 = time.perf_counter()
    c.run(engine="naive", chunk_size=8, progress=False)
    sync(CUDA)
    print(f"\nnaive 8 rounds: {(time.perf_counter() - t0) / 8 * 1e3:.1f} ms per round of 256 samples")
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        c.run(engine="naive", chunk_size=8, progress=False)
        sync(CUDA)
    print("\n=== naive 8 rounds")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25))
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        with torch.no_grad():
            for _ in range(8):
                net(xd)
        sync(CUDA)
    print("\n=== golden inference x8 (bs 256)")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=15))


if __name__ == "__main__":
    main()
