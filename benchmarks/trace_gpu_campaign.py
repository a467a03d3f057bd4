"""Chrome traces of a GPU workload (a, b, b', c) on CUDA (whole campaign: set-up, golden pass, parallel
run), written to ``OUT`` for offline analysis of GPU idle time.

Run: ``PYTHONPATH=. python benchmarks/trace_gpu_campaign.py OUTDIR [WORKLOAD]``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, record_function

if __package__ in (None, ""):  # run as a file: the repository root makes ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import SHARED, gpu_workloads, nmnist_inputs  # noqa: E402
from spikefi.campaign import Campaign  # noqa: E402


def whole(net: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor, dev: torch.device, inject: Any) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with record_function("setup"):
        c = Campaign(net, (x, labels), batch_size=256, seed=0, device=dev)
        inject(c)
    with record_function("golden"):
        c.golden()
    with record_function("run"):
        c.run(engine="parallel", chunk_size=256, progress=False, keep_predictions=True)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "outputs/trace")
    workload = sys.argv[2] if len(sys.argv) > 2 else "a"
    inject = gpu_workloads(json.loads((SHARED / "spikefi_baseline" / "spikefi_1.3.0_h100.json").read_text()))[workload]
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device("cuda")
    net, x, labels = nmnist_inputs(dev)
    walls = [whole(net, x, labels, dev, inject) for _ in range(4)]
    print(f"whole campaign ({workload}), ms:", [round(1e3 * w, 1) for w in walls])
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], with_stack=True) as prof:
        w = whole(net, x, labels, dev, inject)
    print(f"traced run: {1e3 * w:.1f} ms")
    prof.export_chrome_trace(str(out / f"trace_{workload.replace(chr(39), 'p')}.json"))


if __name__ == "__main__":
    main()
