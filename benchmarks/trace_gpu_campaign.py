"""Chrome traces of workload (a) on CUDA (whole campaign: set-up, golden pass, parallel
run), written to ``OUT`` for offline analysis of GPU idle time.

Run: ``PYTHONPATH=. python benchmarks/trace_gpu_campaign.py OUTDIR``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parent))
from campaign_throughput import REF, synthetic_nmnist  # noqa: E402

from spikefi.campaign import Campaign  # noqa: E402
from spikefi.faults import DeadNeuron  # noqa: E402
from spikefi.snn import predict  # noqa: E402
from spikefi.zoo import build  # noqa: E402


def whole(net: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor, dev: torch.device) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with record_function("setup"):
        c = Campaign(net, (x, labels), batch_size=256, seed=0, device=dev)
        c.exhaustive(DeadNeuron(), layers=["SF4a"])
    with record_function("golden"):
        c.golden()
    with record_function("run"):
        c.run(engine="parallel", chunk_size=256, progress=False, keep_predictions=True)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "outputs/trace")
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device("cuda")
    net, _ = build("nmnist_cnn")
    net.load_state_dict(torch.load(REF / "nmnist_cnn_net.pt", map_location="cpu", weights_only=True))
    net = net.to(dev).eval()
    x = synthetic_nmnist(256)
    with torch.no_grad():
        labels = torch.cat([predict(net(x[i : i + 64].to(dev))).cpu() for i in range(0, 256, 64)])
    walls = [whole(net, x, labels, dev) for _ in range(4)]
    print("whole campaign (a), ms:", [round(1e3 * w, 1) for w in walls])
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], with_stack=True) as prof:
        w = whole(net, x, labels, dev)
    print(f"traced run: {1e3 * w:.1f} ms")
    prof.export_chrome_trace(str(out / "trace_a.json"))


if __name__ == "__main__":
    main()
