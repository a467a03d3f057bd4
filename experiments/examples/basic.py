"""Basic campaign: dead neurons, one fault round per neuron, in layers of the shipped digits CNN.

Loads the pretrained ``digits_cnn`` and the bundled spiking-digits test split, builds a
campaign with one round per neuron (``Campaign.exhaustive(DeadNeuron(), ...)``) in the chosen
layers (a conv layer is sampled, since its 1024 neurons would take minutes on 2 CPU cores),
runs it with the default engine (late start + early stop) and saves the result table, a
bar chart of critical fault rounds per layer and a heat map of the fault sites.

    python -m experiments.examples.basic                 # SC2 (128 sampled neurons), SF3, SF4
    python -m experiments.examples.basic --layers SF3 --sample 0   # every neuron of SF3
"""

from __future__ import annotations

import sys

from spikefi import plots
from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.errors import SpikeFIError
from spikefi.faults import DeadNeuron
from spikefi.zoo import load_pretrained

from ._common import ExampleRun, fmt_pct, parser

NAME = "basic"
RESULT_FILES = {"rounds.parquet": "campaign result: one row per round (Parquet)",
                "rounds.csv": "the same table as CSV", "meta.json": "campaign metadata (golden run, layers, timing)"}


def main(argv: list[str] | None = None) -> int:
    ap = parser(NAME, __doc__)
    ap.add_argument("--layers", nargs="+", default=None,
                    help="layers to inject (default SC2 SF3 SF4; quick: SC2 SF4)")
    ap.add_argument("--sample", type=int, default=None,
                    help="at most this many random neurons per layer, 0 = every neuron (default 128; quick 6)")
    ap.add_argument("--max-samples", type=int, default=None,
                    help="use only the first test samples (default: all 359; quick: 32)")
    ap.add_argument("--heatmap-layer", default=None,
                    help="layer of the heat map (default: the first layer with a spatial shape)")
    args = ap.parse_args(argv)
    layers = args.layers or (["SC2", "SF4"] if args.quick else ["SC2", "SF3", "SF4"])
    sample = args.sample if args.sample is not None else (6 if args.quick else 128)
    max_samples = args.max_samples if args.max_samples is not None else (32 if args.quick else None)

    run = ExampleRun(NAME, "exhaustive dead-neuron campaign on the pretrained digits CNN", args, [
        "load the pretrained digits_cnn and the spiking-digits test split",
        f"one round per neuron of {', '.join(layers)} (DeadNeuron, permanent; "
        + ("every neuron" if sample == 0 else f"at most {sample} random neurons per layer") + ")",
        "run the campaign (sequential engine: late start + early stop)",
        "print the summary, save the table, a per-layer critical bar chart and a site heat map",
    ])
    with run.guard():
        run.stage("loading the model and the data")
        net, _, meta = load_pretrained("digits_cnn")
        _, test = load_spiking_digits(seed=0)
        cmpn = Campaign(net, test, batch_size=64, seed=args.seed, max_samples=max_samples)
        print(f"network layers: {', '.join(cmpn.netmap.order)} "
              f"(neurons: {', '.join(f'{n} {i.neuron_shape}' for n, i in cmpn.netmap.layers.items())})")
        print(f"test samples  : {cmpn.num_samples}")

        run.stage("building the rounds")
        for layer in layers:
            if layer not in cmpn.netmap.layers:
                raise SpikeFIError(f"unknown layer {layer!r}; layers: {cmpn.netmap.order}")
            neurons = cmpn.netmap.layers[layer].neurons
            k = None if sample <= 0 or sample >= neurons else sample
            ids = cmpn.exhaustive(DeadNeuron(), layers=[layer], sample=k)
            print(f"  {layer}: {len(ids)} rounds ({'all' if k is None else 'sampled'} of {neurons} neurons)")
        print(f"  total: {len(cmpn.rounds)} rounds x {cmpn.num_samples} samples")

        run.stage("running the campaign")
        golden = cmpn.golden()
        card = f", model card {fmt_pct(meta['test_accuracy'])} on all samples" if "test_accuracy" in meta else ""
        print(f"golden accuracy: {fmt_pct(golden['accuracy'])} on {cmpn.num_samples} samples{card}")
        result = cmpn.run(engine="sequential", progress=not args.no_progress)
        print(f"evaluated in {result.meta['seconds']:.1f} s: {result!r}")

        run.stage("summary")
        s = result.summary()
        print(f"critical fault rounds: {s['critical_faults']} of {s['rounds']} = {fmt_pct(s['critical_fault_rate'])} "
              f"(95% Wilson interval {fmt_pct(s['critical_fault_rate_low'])} .. {fmt_pct(s['critical_fault_rate_high'])})")
        print(f"accuracy under a fault: mean {fmt_pct(s['accuracy_mean'])}, min {fmt_pct(s['accuracy_min'])}, "
              f"golden {fmt_pct(s['golden_accuracy'])}")
        t = result.table
        per_layer = t.groupby("layer", sort=False).agg(
            rounds=("round_id", "size"),
            critical_rounds=("critical", lambda c: int((c > 0).sum())),
            mean_accuracy=("accuracy", "mean"),
            min_accuracy=("accuracy", "min"),
            changed_predictions=("changed", "sum"),
        )
        print(per_layer.to_string(float_format=lambda v: f"{v:.4f}"))
        worst = t.sort_values(["accuracy", "round_id"]).head(3)
        print("worst faults:")
        for _, r in worst.iterrows():
            print(f"  {r['layer']} neuron ({r['pos0']}, {r['pos1']}, {r['pos2']}): accuracy {fmt_pct(r['accuracy'])}, "
                  f"{r['critical']} critical samples")

        run.stage("saving")
        saved_dir = result.save(run.out / "result")
        for f, what in RESULT_FILES.items():
            run.saved(saved_dir / f, what)
        run.save_text(per_layer.to_csv(), "per_layer.csv", "per-layer summary")
        run.save_figure(plots.critical_faults_per_layer(t), "critical_per_layer.png",
                        "bar chart: fraction of critical fault rounds per layer, Wilson 95% error bars")
        spatial = [n for n in layers if cmpn.netmap.layers[n].neuron_shape[1] * cmpn.netmap.layers[n].neuron_shape[2] > 1]
        heat_layer = args.heatmap_layer or (spatial[0] if spatial else layers[0])
        run.save_figure(plots.site_heatmap(t, heat_layer, value="critical_rate"), "heatmap.png",
                        f"heat map: critical rate per neuron site of {heat_layer} (channels pooled)")
    if run.failed:
        return 2
    return run.finish({
        "rounds": f"{len(t)} ({', '.join(layers)})",
        "golden accuracy": fmt_pct(s["golden_accuracy"]),
        "critical rate": f"{fmt_pct(s['critical_fault_rate'])} of rounds",
    })


if __name__ == "__main__":
    sys.exit(main())
