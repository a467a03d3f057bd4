"""Soft errors at a bit-error rate on the zoo N-MNIST CNN with real recordings (issue 32).

Accuracy vs rate, with intervals, for two memories of the same network: the int8 weight
codes (``SoftErrors``, the campaign quantized per tensor to int8) and the float32 weights
(``Float32SoftErrors``). Each point is ``--draws`` seeded Monte-Carlo draws of upsets (one
round each) over all synaptic layers at exposure 1, on the first ``--samples`` recordings of
``nmnist_small``'s ``test100.txt`` (``$SPIKEFI_NMNIST_DIR`` or ``../shared/nmnist_small``).
Per point: the mean number of upset weights, the mean accuracy with its Student-t interval
over the draws and the critical-draw share (a draw that misclassifies a recording the golden
network gets right) with its Wilson interval (:class:`spikefi.campaign.RateSweep`).

Run::

    PYTHONPATH=. python benchmarks/nmnist_soft_errors.py                      # CPU, minutes
    PYTHONPATH=. python benchmarks/nmnist_soft_errors.py --draws 4 --samples 16 --int8-rates 1e-3 --float-rates 1e-5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SHARED  # noqa: E402
from benchmarks.nmnist_real_throughput import real_inputs  # noqa: E402
from spikefi.campaign import Campaign  # noqa: E402
from spikefi.campaign.rate_sweep import soft_error_sweep  # noqa: E402
from spikefi.zoo import load_pretrained  # noqa: E402


def sweep(memory: str, rates: list[float], args: argparse.Namespace, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    net, _, _ = load_pretrained("nmnist_cnn")
    quant = {"dtype": "int8"} if memory == "int8" else None
    cmpn = Campaign(net, (x, y), batch_size=args.samples, seed=args.seed, device=args.device, quantization=quant)
    model = "SoftErrors" if memory == "int8" else "Float32SoftErrors"
    points = soft_error_sweep(cmpn, rates, draws=args.draws, model=model)
    t0 = time.perf_counter()
    result = cmpn.run(engine=args.engine, chunk_size=args.draws, progress=False)
    seconds = time.perf_counter() - t0
    table = points.summary(result)
    golden = float(cmpn.golden()["accuracy"])
    print(f"\n## {model} ({memory} weights), golden accuracy {golden:.3f}, {args.draws} draws per rate, "
          f"{len(cmpn.rounds)} rounds in {seconds:.0f} s ({args.engine} engine, {args.device})")
    print("| rate (per bit) | mean upset weights | accuracy mean [95 % t interval] | critical draws [95 % Wilson] |")
    print("| --- | --- | --- | --- |")
    for r in table.to_dict("records"):
        print(f"| {r['rate']:g} | {r['mean_upsets']:,.1f} | {r['accuracy_mean']:.3f} [{r['accuracy_low']:.3f}, "
              f"{r['accuracy_high']:.3f}] | {r['critical_draws']}/{r['draws']} = {r['critical_draw_rate']:.2f} "
              f"[{r['critical_draw_low']:.2f}, {r['critical_draw_high']:.2f}] |")
    return {"model": model, "memory": memory, "golden_accuracy": golden, "seconds": round(seconds, 1),
            "points": table.to_dict("records")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100, help="recordings of test100.txt (default 100)")
    parser.add_argument("--draws", type=int, default=10, help="Monte-Carlo draws per rate (default 10)")
    parser.add_argument("--int8-rates", default="1e-4,1e-3,1e-2", help="rates per bit of the int8 codes")
    parser.add_argument("--float-rates", default="1e-6,1e-5,1e-4", help="rates per bit of the float32 weights")
    parser.add_argument("--engine", default="parallel")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    root = os.environ.get("SPIKEFI_NMNIST_DIR") or str(SHARED / "nmnist_small")
    x, y = real_inputs(root, "test100.txt", args.samples)
    where = f"{root} test100.txt, first {len(y)}"
    print(f"# soft errors on the zoo nmnist_cnn: {where}; seed {args.seed}; torch threads {torch.get_num_threads()}")
    out: dict[str, Any] = {"recordings": where, "draws": args.draws, "seed": args.seed, "sweeps": []}
    for memory, rates in (("int8", args.int8_rates), ("float32", args.float_rates)):
        values = [float(v) for v in rates.split(",") if v.strip()]
        if values:
            out["sweeps"].append(sweep(memory, values, args, x, y))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
