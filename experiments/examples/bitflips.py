"""Bit flips in synapse weights: int8-quantized codes (bits 0..7) and float32 exponent bits.

Part 1 builds a quantized campaign (``quantization={"dtype": "int8"}``: the golden network
is the int8 network, ``dequantize(quantize(w))`` per conv/dense layer) and flips one bit
position of one weight code per round, for every bit position 0..7 at the same randomly
sampled synapses of every conv/dense layer (paired comparison: every bit is tried on the
same synapses). Part 2 does the same on the float32 network with ``FloatBitFlipSynapse``
on a few exponent bits (23..30), for comparison. A weight with 2**-7 <= |w| < 2 (most
weights of the shipped network) has the exponent bits 26..29 set and bit 30 clear:
flipping one of 26..29 shrinks it towards 0 (much like a dead synapse), flipping bit 30
multiplies it by 2**128; for |w| >= 2 it is the other way round. Saves both result
tables, figures of accuracy against bit position and per-layer critical rates.

    python -m experiments.examples.bitflips
    python -m experiments.examples.bitflips --synapses 8 --float-bits 27 28 29 30
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from spikefi import plots
from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.faults import BitFlipSynapse, Fault, FloatBitFlipSynapse, Site
from spikefi.zoo import load_pretrained

from ._common import ExampleRun, fmt_pct, parser

NAME = "bitflips"
INT8_BITS = list(range(8))


def sample_synapses(cmpn: Campaign, per_layer: int, seed: int) -> dict[str, list[tuple[int, ...]]]:
    """``per_layer`` distinct random synapse positions ``(out, in, kh, kw)`` in every conv/dense layer."""
    rng = np.random.default_rng([seed, 2024])
    sites: dict[str, list[tuple[int, ...]]] = {}
    for name in cmpn.netmap.order:
        shape = cmpn.netmap.layers[name].synapse_shape
        if shape is None:  # pooling layers have fixed weights: no injectable synapse
            continue
        total = int(np.prod(shape))
        flat = rng.choice(total, size=min(per_layer, total), replace=False)
        sites[name] = [tuple(int(v) for v in np.unravel_index(int(i), shape)) for i in np.sort(flat)]
    return sites


def add_rounds(cmpn: Campaign, model_of_bit, bits: list[int], sites: dict[str, list[tuple[int, ...]]]) -> None:
    for bit in bits:
        for layer, positions in sites.items():
            for pos in positions:
                cmpn.then_inject(Fault(model_of_bit(bit), Site(layer, pos)))


def by_layer_and_bit(table: pd.DataFrame) -> pd.DataFrame:
    """Fraction of rounds with a critical sample, per layer (rows) and bit (columns)."""
    t = table.assign(bit=table["param"].astype(int), critical_round=(table["critical"] > 0).astype(float))
    return t.pivot_table(index="layer", columns="bit", values="critical_round", aggfunc="mean", sort=False)


def main(argv: list[str] | None = None) -> int:
    ap = parser(NAME, __doc__)
    ap.add_argument("--synapses", type=int, default=None,
                    help="random synapses per conv/dense layer, each tried with every bit (default 3; quick 1)")
    ap.add_argument("--float-bits", type=int, nargs="+", default=None,
                    help="float32 bits to flip (exponent: 23..30; default 23 26 29 30; quick 30)")
    ap.add_argument("--max-samples", type=int, default=None,
                    help="use only the first test samples (default: all 359; quick: 24)")
    args = ap.parse_args(argv)
    per_layer = args.synapses if args.synapses is not None else (1 if args.quick else 3)
    float_bits = args.float_bits or ([30] if args.quick else [23, 26, 29, 30])
    int_bits = INT8_BITS
    max_samples = args.max_samples if args.max_samples is not None else (24 if args.quick else None)

    run = ExampleRun(NAME, "bit flips in int8-quantized and float32 synapse weights", args, [
        "load the pretrained digits_cnn and the spiking-digits test split",
        f"sample {per_layer} synapse(s) in every conv/dense layer (seed {args.seed})",
        f"int8 campaign: flip bit {', '.join(map(str, int_bits))} of each sampled weight code, one round each",
        f"float32 campaign: flip float32 bit {', '.join(map(str, float_bits))} of the same weights, one round each",
        "save the tables, accuracy-vs-bit figures and per-layer critical rates per bit",
    ])
    with run.guard():
        run.stage("loading the model and the data")
        net, _, _ = load_pretrained("digits_cnn")
        _, test = load_spiking_digits(seed=0)

        run.stage("int8 campaign (BitFlipSynapse)")
        q = Campaign(net, test, batch_size=64, seed=args.seed, max_samples=max_samples, quantization={"dtype": "int8"})
        sites = sample_synapses(q, per_layer, args.seed)
        for layer, positions in sites.items():
            print(f"  {layer} synapse shape {q.netmap.layers[layer].synapse_shape}: sites {positions}")
        add_rounds(q, BitFlipSynapse, int_bits, sites)
        print(f"  {len(q.rounds)} rounds x {q.num_samples} samples; int8 golden accuracy "
              f"{fmt_pct(q.golden()['accuracy'])}")
        qres = q.run(engine="sequential", progress=not args.no_progress)
        print(f"  evaluated in {qres.meta['seconds']:.1f} s: {qres!r}")

        run.stage("float32 campaign (FloatBitFlipSynapse)")
        f = Campaign(net, test, batch_size=64, seed=args.seed, max_samples=max_samples)
        add_rounds(f, FloatBitFlipSynapse, float_bits, sites)
        print(f"  {len(f.rounds)} rounds x {f.num_samples} samples; float32 golden accuracy "
              f"{fmt_pct(f.golden()['accuracy'])}")
        fres = f.run(engine="sequential", progress=not args.no_progress)
        print(f"  evaluated in {fres.meta['seconds']:.1f} s: {fres!r}")

        run.stage("results")
        rows = []
        for label, res in (("int8", qres), ("float32", fres)):
            per_bit = res.table.groupby("param").agg(
                mean_accuracy=("accuracy", "mean"), min_accuracy=("accuracy", "min"),
                critical_rounds=("critical", lambda c: int((c > 0).sum())), rounds=("round_id", "size"))
            for bit, r in per_bit.iterrows():
                rows.append({"encoding": label, "bit": int(bit), **r.to_dict()})
        per_bit = pd.DataFrame(rows)
        print("accuracy per flipped bit (mean and min over the sampled synapses of all layers):")
        print(per_bit.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        crit = {label: by_layer_and_bit(res.table) for label, res in (("int8", qres), ("float32", fres))}
        for label, table in crit.items():
            print(f"\nfraction of critical rounds per layer and bit ({label}):")
            print(table.to_string(float_format=lambda v: f"{v:.2f}"))

        run.stage("saving")
        for label, res in (("int8", qres), ("float32", fres)):
            d = res.save(run.out / f"result_{label}")
            run.saved(d / "rounds.parquet", f"{label} bit-flip campaign result (also rounds.csv, meta.json)")
        run.save_text(per_bit.to_csv(index=False), "accuracy_per_bit.csv", "mean/min accuracy per bit, both encodings")
        for label, table in crit.items():
            run.save_text(table.to_csv(), f"critical_per_layer_and_bit_{label}.csv",
                          f"fraction of critical rounds per layer x bit ({label})")
        fig = plots.accuracy_vs_parameter(qres.table, model="BitFlipSynapse")
        fig.axes[0].set_title("int8 weight codes: accuracy vs flipped bit\n(mean and min-max over sampled synapses)")
        run.save_figure(fig, "accuracy_vs_bit_int8.png", "accuracy vs bit position 0..7 (int8)")
        fig = plots.accuracy_vs_parameter(fres.table, model="FloatBitFlipSynapse")
        fig.axes[0].set_title("float32 weights: accuracy vs flipped bit\n(23..30 = exponent, 30 = its MSB)")
        run.save_figure(fig, "accuracy_vs_bit_float32.png", "accuracy vs float32 exponent bit")
    if run.failed:
        return 2
    worst_int = per_bit[per_bit.encoding == "int8"].sort_values("mean_accuracy").iloc[0]
    worst_float = per_bit[per_bit.encoding == "float32"].sort_values("mean_accuracy").iloc[0]
    return run.finish({
        "rounds": f"{len(qres.table)} int8 + {len(fres.table)} float32",
        "worst int8 bit": f"{int(worst_int.bit)} (mean accuracy {fmt_pct(worst_int.mean_accuracy)})",
        "worst float32 bit": f"{int(worst_float.bit)} (mean accuracy {fmt_pct(worst_float.mean_accuracy)})",
    })


if __name__ == "__main__":
    sys.exit(main())
