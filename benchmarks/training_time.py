"""How long training the digits networks from scratch takes (goal: < 10 min on 2 CPU cores).

Run: ``PYTHONPATH=. python benchmarks/training_time.py [--threads 2] [--epochs 20]``.
Prints per-epoch seconds, total wall time and the final test accuracy per architecture.
"""

from __future__ import annotations

import argparse
import time

import torch

from spikefi.data import load_spiking_digits
from spikefi.training import train
from spikefi.zoo import build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--architectures", default="digits_cnn,digits_mlp")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    train_set, test_set = load_spiking_digits(seed=0)
    print(f"data: {len(train_set)} train / {len(test_set)} test samples in {time.perf_counter() - t0:.1f} s; "
          f"{args.threads} threads, torch {torch.__version__}")
    for arch in args.architectures.split(","):
        net, p = build(arch, seed=0)
        t1 = time.perf_counter()
        result = train(net, p, train_set, test_set, epochs=args.epochs, seed=0)
        wall = time.perf_counter() - t1
        per_epoch = [round(r.seconds, 1) for r in result.history]
        print(f"{arch}: {args.epochs} epochs in {wall:.1f} s (goal < 600 s), per epoch {per_epoch}, "
              f"final test accuracy {result.final.test_accuracy:.4f}")


if __name__ == "__main__":
    main()
