"""Campaign engines on NIR networks (LIF / CubaLIF neuron stages): throughput and equality.

Two networks on the bundled spiking digits (359 test samples, 30 steps), built directly from
spikefi.nir stages (no ``nir`` package needed, so it runs on the GPU machine too), with
per-neuron parameters drawn from ``--seed``:

  dense — 512 -> 128 CubaLIF -> 10 LIF, snnTorch convention;
  conv  — conv 2->8 (3x3) LIF -> sum pool 2 -> conv 8->16 LIF -> sum pool 2 -> flatten ->
          affine 10 LIF, Norse convention.

Faults: every neuron dead (or ``--neurons`` sampled per layer), ``--synapses`` sampled synapses of every layer dead and x2, and
``--drifts`` sampled neurons with their threshold halved. Each engine runs the same rounds
(naive and sequential on the first ``--naive-rounds``); the script prints wall seconds,
faults x samples per second, the ratios to naive measured in this run, and whether the
tables are identical (on the shared rounds).

Run: ``PYTHONPATH=. python benchmarks/nir_engines.py [--device cuda] [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import pandas as pd
import torch

from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.faults import DeadNeuron, DeadSynapse, NeuronDrift, PerturbedSynapse
from spikefi.nir import NIRNetwork
from spikefi.nir.stages import AffineStage, Conv2dStage, CubaLIFStage, FlattenStage, LIFStage, Pool2dStage


def _lif(g: torch.Generator, shape: tuple[int, ...], convention: str, thr: float) -> LIFStage:
    decay = (0.8 + 0.15 * torch.rand(shape, generator=g)) if convention == "snntorch" else 0.05 + 0.1 * torch.rand(shape, generator=g)
    threshold = thr * (0.8 + 0.4 * torch.rand(shape, generator=g))
    zeros = torch.zeros(shape)
    return LIFStage(convention, decay, None, threshold, zeros, zeros.clone())


def dense_net(seed: int) -> NIRNetwork:
    g = torch.Generator().manual_seed(seed)
    shape = (128, 1, 1)
    cuba = CubaLIFStage("snntorch", 0.6 + 0.3 * torch.rand(shape, generator=g), 0.8 + 0.15 * torch.rand(shape, generator=g),
                        None, None, 0.8 + 0.4 * torch.rand(shape, generator=g), torch.zeros(shape), torch.zeros(shape))
    stages = {"fc1": AffineStage(torch.randn(128, 512, generator=g) * 0.12 + 0.01, torch.zeros(128)), "hidden": cuba,
              "fc2": AffineStage(torch.randn(10, 128, generator=g) * 0.35 + 0.03, None),
              "out": _lif(g, (10, 1, 1), "snntorch", 1.0)}
    return NIRNetwork(stages, "snntorch", 1e-4, (512, 1, 1))


def conv_net(seed: int) -> NIRNetwork:
    g = torch.Generator().manual_seed(seed)
    stages = {
        "conv1": Conv2dStage(torch.randn(8, 2, 3, 3, generator=g) * 0.6 + 0.15, torch.zeros(8), (1, 1), (1, 1), (1, 1), 1),
        "lif1": _lif(g, (8, 16, 16), "norse", 0.4),
        "pool1": Pool2dStage("sum", (2, 2), (2, 2), (0, 0)),
        "conv2": Conv2dStage(torch.randn(16, 8, 3, 3, generator=g) * 0.3 + 0.05, None, (1, 1), (1, 1), (1, 1), 1),
        "lif2": _lif(g, (16, 8, 8), "norse", 0.6),
        "pool2": Pool2dStage("sum", (2, 2), (2, 2), (0, 0)),
        "flat": FlattenStage(),
        "fc": AffineStage(torch.randn(10, 256, generator=g) * 0.15 + 0.02, torch.zeros(10)),
        "out": _lif(g, (10, 1, 1), "norse", 0.6),
    }
    return NIRNetwork(stages, "norse", 1e-3, (2, 16, 16))


def build(net: NIRNetwork, test: Any, device: str, args: argparse.Namespace) -> Campaign:
    cmpn = Campaign(net, test, batch_size=args.batch_size, seed=args.seed, device=device,
                    max_samples=args.samples)
    for name, info in cmpn.netmap.layers.items():
        cmpn.exhaustive(DeadNeuron(), layers=[name], sample=min(args.neurons, info.neurons) if args.neurons else None)
    for name, info in cmpn.netmap.layers.items():
        if info.synapse_shape is not None:
            cmpn.exhaustive(DeadSynapse(), layers=[name], sample=args.synapses)
            cmpn.exhaustive(PerturbedSynapse(2.0), layers=[name], sample=args.synapses)
        cmpn.exhaustive(NeuronDrift("v_threshold", factor=0.5), layers=[name], sample=min(args.drifts, info.neurons))
    return cmpn


def timed(make: Any, engine: str, device: torch.device, rounds: int | None, chunk: int) -> tuple[pd.DataFrame, float, int]:
    cmpn = make()
    if rounds is not None:
        cmpn._rounds = cmpn._rounds[:rounds]  # noqa: SLF001 - the same seeded rounds, fewer of them
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    table = cmpn.run(engine=engine, chunk_size=chunk, progress=False).table
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return table, time.perf_counter() - t0, len(cmpn.rounds) * cmpn.num_samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=None, help="test samples (default: all 359)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--neurons", type=int, default=0, help="sampled dead neurons per layer (0: every neuron)")
    ap.add_argument("--synapses", type=int, default=200, help="sampled synapses per layer (dead and x2 each)")
    ap.add_argument("--drifts", type=int, default=64, help="sampled neurons per layer with a halved threshold")
    ap.add_argument("--naive-rounds", type=int, default=300, help="rounds timed with the naive and sequential engines")
    ap.add_argument("--networks", default="dense,conv")
    ap.add_argument("--quick", action="store_true", help="CI-sized")
    args = ap.parse_args()
    if args.quick:
        args.samples, args.neurons, args.synapses, args.drifts, args.naive_rounds = 24, 12, 6, 4, 30
    device = torch.device(args.device)
    _, test = load_spiking_digits()
    print(f"# NIR engines: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
          f"torch {torch.__version__}")
    same_all = True
    for name in args.networks.split(","):
        net = {"dense": dense_net, "conv": conv_net}[name](args.seed)

        def make(net: NIRNetwork = net) -> Campaign:
            return build(net, test, str(device), args)

        probe = make()
        golden = probe.golden()
        total = len(probe.rounds)
        print(f"\n## {name}: {total:,} rounds x {probe.num_samples} samples; layers "
              + ", ".join(f"{k} {v.neuron_shape}" for k, v in probe.netmap.layers.items())
              + f"; golden accuracy {golden['accuracy']:.3f}; firing rates "
              + ", ".join(f"{k} {v:.3f}" for k, v in golden["firing_rates"].items()))
        shared = min(args.naive_rounds, total)
        results = {}
        for engine in ("naive", "sequential", "parallel"):
            table, seconds, fs = timed(make, engine, device, shared, args.chunk_size)
            results[engine] = (table, seconds, fs)
            print(f"{engine:>10} ({shared} rounds): {seconds:8.2f} s, {fs / seconds:12,.0f} f·s/s")
        base = results["naive"][2] / results["naive"][1]
        for engine in ("sequential", "parallel"):
            table, seconds, fs = results[engine]
            try:
                pd.testing.assert_frame_equal(table, results["naive"][0])
                same = "yes"
            except AssertionError as err:
                same, same_all = f"no ({str(err).splitlines()[0]})", False
            print(f"{engine} / naive: {fs / seconds / base:6.2f}x; identical: {same}")
        _, seconds, fs = timed(make, "parallel", device, None, args.chunk_size)
        print(f"  parallel, all {total:,} rounds: {seconds:8.2f} s, {fs / seconds:12,.0f} f·s/s")
    return 0 if same_all else 1


if __name__ == "__main__":
    sys.exit(main())
