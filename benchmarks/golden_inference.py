"""Golden inference throughput and precision of SpikeFI's N-MNIST CNN.

Prints samples/s at several batch sizes (inputs already on the device, strict fp32 by
default) on each computation path of ``--paths`` (reference and fused by default: before
and after in one run) and, on CUDA, how many spikes change per layer when TF32 is allowed,
measured against the SLAYER reference. Run: ``PYTHONPATH=. python benchmarks/golden_inference.py``.

Needs ``nmnist_cnn_net.pt`` (``SPIKEFI_REFERENCE_DIR``, default ../shared/slayer_reference).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: the repository root makes ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import spikefi.snn as snn  # noqa: E402
from benchmarks.common import sync  # noqa: E402
from spikefi.zoo import build  # noqa: E402

REF = Path(os.environ.get("SPIKEFI_REFERENCE_DIR", Path(__file__).resolve().parents[2] / "shared" / "slayer_reference"))


def unpack(p: dict) -> torch.Tensor:
    bits = np.unpackbits(p["packed"].numpy(), count=p["numel"]).reshape(p["shape"])
    return torch.from_numpy(bits.astype(np.float32)) * p["value"]


def synthetic_inputs(n: int, steps: int, seed: int = 0) -> torch.Tensor:
    """Bernoulli spike inputs with densities 0.01/0.02/0.05/0.10 (as SpikeFI's baseline)."""
    g = torch.Generator().manual_seed(seed)
    dens = torch.tensor([0.01, 0.02, 0.05, 0.10]).repeat_interleave((n + 3) // 4)[:n]
    x = torch.rand(n, 2, 34, 34, steps, generator=g) < dens.view(-1, 1, 1, 1, 1)
    return x.float() / 6


def profile(net: torch.nn.Module, x_all: torch.Tensor, bs: int, device: torch.device) -> None:
    """Device time per kernel of one pass over ``x_all`` (and the wall time of that pass)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        t0 = time.perf_counter()
        for i in range(0, len(x_all), bs):
            net(x_all[i : i + bs])
        sync(device)
        wall = time.perf_counter() - t0
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(f"--- profile, batch {bs}: wall {wall * 1e3:.1f} ms (profiler on)")
    print(prof.key_averages().table(sort_by=key, row_limit=18, max_name_column_width=60))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batches", default="16,64,256")
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--paths", default="reference,fused",
                    help="computation paths to time one after the other (spikefi.snn.paths: reference, fused, auto)")
    ap.add_argument("--profile", action="store_true",
                    help="also print a torch.profiler table (kernels by device time) per batch size")
    args = ap.parse_args()
    device = torch.device(args.device)
    net, p = build("nmnist_cnn")
    net.load_state_dict(torch.load(REF / "nmnist_cnn_net.pt", map_location="cpu", weights_only=True))
    net = net.to(device).eval()
    x_all = synthetic_inputs(args.samples, p.T).to(device)
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, strict fp32: {not snn.get_allow_tf32()}")
    for path in [p for p in args.paths.split(",") if p]:
        for tf32 in ([False, True] if device.type == "cuda" else [False]):
            with snn.compute_path(path), snn.allow_tf32(tf32), torch.no_grad():
                name = snn.path_name(device)
                for bs in [int(b) for b in args.batches.split(",")]:
                    net(x_all[:bs])  # warm-up
                    sync(device)
                    best = float("inf")
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        for i in range(0, args.samples, bs):
                            net(x_all[i : i + bs])
                        sync(device)
                        best = min(best, time.perf_counter() - t0)
                    print(f"golden inference path={name} tf32={tf32} batch {bs}: {args.samples / best:,.0f} samples/s")
                    if args.profile and not tf32:
                        profile(net, x_all, bs, device)
    ref_file = REF / "slayer_reference_A.pt"
    if device.type == "cuda" and ref_file.is_file():
        ref = torch.load(ref_file, map_location="cpu", weights_only=True)["nmnist_cnn"]
        x = unpack(ref["input"]).to(device)
        for path in [p for p in args.paths.split(",") if p]:
            for tf32 in (False, True):
                with snn.compute_path(path), snn.allow_tf32(tf32), torch.no_grad():
                    prev = x
                    counts = {}
                    for name in ref["layer_order"]:
                        target = unpack(ref["spikes"][name]).to(device)
                        counts[name] = int((net.slayer.fire(net.layer_forward(name, prev)) != target).sum())
                        prev = target
                    print(f"layer-by-layer spike mismatches vs SLAYER, path={snn.path_name(device)} tf32={tf32}: "
                          f"{counts}")


if __name__ == "__main__":
    main()
