"""Accuracy vs bits: the digits CNN deployed in several formats, with and without faults.

For each deployment format (weight codes of 8 down to 2 bits with one scale per output
channel, one with bits per layer, one with the SRM neuron in fixed point as well) a campaign
runs on the deployed network as its golden network, with the same faults (dead neurons of
SF3 and dead synapses of SC2 at the same sampled sites in every format). Each campaign also
evaluates the float network: the table separates what deployment costs (float golden vs
deployed golden, no faults) from what faults cost on top of it.

    python -m experiments.examples.deployment
    python -m experiments.examples.deployment --bits 8 4 2 --sites 32
"""

from __future__ import annotations

import sys
from typing import Any

import pandas as pd

from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.faults import DeadNeuron, DeadSynapse
from spikefi.zoo import load_pretrained

from ._common import ExampleRun, fmt_pct, parser

NAME = "deployment"


def formats(bits: list[int]) -> dict[str, dict[str, Any]]:
    """The deployment formats compared, by label."""
    out: dict[str, dict[str, Any]] = {f"w{b}-channel": {"weights": {"bits": b, "scale": "channel"}} for b in bits}
    low = min(bits)
    out[f"w{low}-first-last-8"] = {"weights": {"bits": low, "scale": "channel"},
                                   "layers": {"SC1": {"bits": 8}, "SF4": {"bits": 8}}}
    out["w4-fixed-neuron"] = {"weights": {"bits": 4, "scale": "channel"},
                              "membrane": {"int_bits": 7, "frac_bits": 4, "rounding": "floor"},
                              "psp_kernel": {"int_bits": 0, "frac_bits": 6, "signed": False}}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = parser(NAME, __doc__)
    ap.add_argument("--bits", type=int, nargs="+", default=None,
                    help="weight bits to compare, per-channel scales (default 8 6 4 3 2; quick 8 2)")
    ap.add_argument("--sites", type=int, default=None,
                    help="sampled neurons of SF3 and synapses of SC2 faulted in every format (default 16; quick 2)")
    ap.add_argument("--max-samples", type=int, default=None,
                    help="use only the first test samples (default 128; quick: 16)")
    args = ap.parse_args(argv)
    bits = args.bits or ([8, 2] if args.quick else [8, 6, 4, 3, 2])
    sites = args.sites if args.sites is not None else (2 if args.quick else 16)
    max_samples = args.max_samples if args.max_samples is not None else (16 if args.quick else 128)
    fmts = formats(bits)

    run = ExampleRun(NAME, "accuracy vs bits of deployed networks, with and without faults", args, [
        "load the pretrained digits_cnn and the spiking-digits test split",
        f"for each of {len(fmts)} deployment formats ({', '.join(fmts)}): a campaign on the deployed network "
        f"(float64: exact fixed point) with {sites} dead neurons of SF3 and {sites} dead synapses of SC2, "
        "the same sites in every format (same seed)",
        "tabulate float golden, deployed golden and mean accuracy under faults; spikes per layer",
    ])
    with run.guard():
        run.stage("loading the model and the data")
        net, _, _ = load_pretrained("digits_cnn")
        _, test = load_spiking_digits(seed=0)
        rows, layer_rows = [], []
        for label, fmt in fmts.items():
            run.stage(f"format {label}")
            cmpn = Campaign(net, test, batch_size=64, seed=args.seed, max_samples=max_samples, quantization=fmt)
            cmpn.exhaustive(DeadNeuron(), layers=["SF3"], sample=sites)
            cmpn.exhaustive(DeadSynapse(), layers=["SC2"], sample=sites)
            res = cmpn.run(engine="sequential", progress=not args.no_progress)
            gap = res.meta["deployment_gap"]
            words = cmpn.deployment.describe() if cmpn.deployment is not None else {}
            per_model = res.table.groupby("model")["accuracy"].mean()
            rows.append({"format": label, "weights": words.get("weights"), "layers": words.get("layers"),
                         "membrane": words.get("membrane"), "float_golden": gap["float_accuracy"],
                         "deployed_golden": gap["deployed_accuracy"],
                         "deployment_change_pp": 100 * gap["accuracy_change"],
                         "prediction_agreement": gap["prediction_agreement"],
                         "dead_neuron_SF3": per_model.get("DeadNeuron"), "dead_synapse_SC2": per_model.get("DeadSynapse"),
                         "mean_under_faults": float(res.table["accuracy"].mean()),
                         "critical_rounds": int((res.table["critical"] > 0).sum()), "rounds": len(res.table)})
            for layer, v in gap["layers"].items():
                layer_rows.append({"format": label, "layer": layer, **v})
            print(f"  float {fmt_pct(gap['float_accuracy'])}, deployed {fmt_pct(gap['deployed_accuracy'])}, "
                  f"under faults {fmt_pct(rows[-1]['mean_under_faults'])}")
        table = pd.DataFrame(rows)
        layers = pd.DataFrame(layer_rows)
        print("\naccuracy vs format (golden = no faults):")
        print(table[["format", "float_golden", "deployed_golden", "deployment_change_pp", "mean_under_faults",
                     "critical_rounds"]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))

        run.stage("saving")
        run.save_text(table.to_csv(index=False), "accuracy_vs_bits.csv",
                      "per format: float golden, deployed golden, accuracy under faults")
        run.save_text(layers.to_csv(index=False), "spikes_per_layer.csv",
                      "per format and layer: golden spike counts of both networks, mismatched neuron-steps")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        x = range(len(table))
        ax.plot(x, table["float_golden"], "k--", label="float golden")
        ax.plot(x, table["deployed_golden"], "o-", label="deployed golden (no faults)")
        ax.plot(x, table["mean_under_faults"], "s-", label="deployed, mean under faults")
        ax.set_xticks(list(x), table["format"], rotation=30, ha="right")
        ax.set_ylabel("accuracy")
        ax.set_title("digits_cnn: accuracy vs deployment format")
        ax.legend()
        fig.tight_layout()
        run.save_figure(fig, "accuracy_vs_bits.png", "accuracy vs format, with and without faults")
    if run.failed:
        return 2
    worst = table.sort_values("deployed_golden").iloc[0]
    return run.finish({"formats": str(len(table)),
                       "lowest deployed golden": f"{worst['format']} ({fmt_pct(worst['deployed_golden'])})"})


if __name__ == "__main__":
    sys.exit(main())
