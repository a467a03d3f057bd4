"""Campaign throughput on real N-MNIST recordings: workloads a, b, b', c of the GPU suite.

The same fault workloads as ``campaign_throughput.py --suite gpu`` (the fault sites of
``../shared/spikefi_baseline``) on SpikeFI's N-MNIST CNN, but with the 100 real test
recordings of ``nmnist_small`` (``test100.txt``) and their true labels instead of 256
synthetic inputs. For each workload and engine (naive, sequential, parallel): faults,
samples, wall seconds of the whole campaign (golden pass included), faults x samples per
second, critical faults, and whether the sequential and parallel predictions are
identical to the naive ones.

``--weights zoo`` runs the zoo's own ``nmnist_cnn`` weights instead of SpikeFI's.

Run (on a CUDA machine)::

    SPIKEFI_NMNIST_DIR=... SPIKEFI_SHARED_DIR=... PYTHONPATH=. \\
        python benchmarks/nmnist_real_throughput.py --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import campaign_throughput as ct  # noqa: E402

from spikefi.campaign import Campaign  # noqa: E402
from spikefi.data import NMNIST  # noqa: E402
from spikefi.snn import predict  # noqa: E402
from spikefi.zoo import build, load_pretrained  # noqa: E402


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
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"# campaign throughput on real N-MNIST recordings: {name}, torch {torch.__version__}")
    results = real_suite(args)
    results["device"] = name
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
