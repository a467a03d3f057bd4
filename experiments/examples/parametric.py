"""Parametric neuron faults: threshold (theta) and integration time constant (tauSr) sweeps.

A parametric fault changes one parameter of the faulty neurons by a factor; the faulty
neurons then behave exactly as SLAYER neurons with that parameter (their SRM and
refractory kernels are recomputed). For each factor of the sweep and each parameter,
this example makes rounds in which a few randomly sampled neurons of a layer carry the
fault (one round per repetition, each with its own random neurons; by default 2 of the 10
output neurons of SF4, where the trained network is most sensitive), runs the campaign and
plots accuracy against the factor.

    python -m experiments.examples.parametric
    python -m experiments.examples.parametric --layer SC2 --neurons 128 --factors 0.25 0.5 2 4
"""

from __future__ import annotations

import sys

from spikefi import plots
from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.errors import SpikeFIError
from spikefi.faults import Fault, ParametricNeuron, Site
from spikefi.zoo import load_pretrained

from ._common import ExampleRun, fmt_pct, parser

NAME = "parametric"
PARAMETERS = ("theta", "tauSr")
FACTORS = (0.5, 0.75, 1.25, 1.5, 2.0)


def main(argv: list[str] | None = None) -> int:
    ap = parser(NAME, __doc__)
    ap.add_argument("--layer", default="SF4", help="layer of the faulty neurons (default SF4, the output layer)")
    ap.add_argument("--neurons", type=int, default=None,
                    help="faulty neurons per round, sampled at random (default 2; quick 2)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="rounds per (parameter, factor), each with other random neurons (default 5; quick 1)")
    ap.add_argument("--factors", type=float, nargs="+", default=None,
                    help=f"factors of the sweep (default {' '.join(map(str, FACTORS))}; quick 0.5 2.0)")
    ap.add_argument("--max-samples", type=int, default=None,
                    help="use only the first test samples (default: all 359; quick: 32)")
    args = ap.parse_args(argv)
    neurons = args.neurons if args.neurons is not None else 2
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 5)
    factors = args.factors or ([0.5, 2.0] if args.quick else list(FACTORS))
    max_samples = args.max_samples if args.max_samples is not None else (32 if args.quick else None)

    run = ExampleRun(NAME, "parametric neuron faults: threshold and tauSr factor sweeps", args, [
        "load the pretrained digits_cnn and the spiking-digits test split",
        f"for theta and tauSr, for each factor {', '.join(map(str, factors))}: {repeats} round(s), "
        f"each with {neurons} random neurons of {args.layer} carrying ParametricNeuron(parameter, factor)",
        "run the campaign (sequential engine)",
        "print accuracy per (parameter, factor), save the table and accuracy-vs-factor figures",
    ])
    with run.guard():
        run.stage("loading the model and the data")
        net, net_params, _ = load_pretrained("digits_cnn")
        _, test = load_spiking_digits(seed=0)
        cmpn = Campaign(net, test, batch_size=64, seed=args.seed, max_samples=max_samples)
        if args.layer not in cmpn.netmap.layers:
            raise SpikeFIError(f"unknown layer {args.layer!r}; layers: {cmpn.netmap.order}")
        neuron = cmpn.netmap.neuron()
        print(f"golden neuron: theta {neuron['theta']}, tauSr {neuron['tauSr']}, tauRef {neuron['tauRef']}, "
              f"scaleRef {neuron['scaleRef']}; {args.layer} has {cmpn.netmap.layers[args.layer].neurons} neurons")

        run.stage("building the rounds")
        for parameter in PARAMETERS:
            for factor in factors:
                for _ in range(repeats):
                    # Site(layer) with count=k: k distinct random neurons, drawn from the campaign seed and round id
                    cmpn.then_inject(Fault(ParametricNeuron(parameter, factor), Site(args.layer), count=neurons))
        print(f"  {len(cmpn.rounds)} rounds x {cmpn.num_samples} samples")
        print(f"  e.g. round 0: {cmpn.rounds[0].faults[0].model!r} at {list(cmpn.rounds[0].faults[0].positions)}")

        run.stage("running the campaign")
        result = cmpn.run(engine="sequential", progress=not args.no_progress)
        print(f"  evaluated in {result.meta['seconds']:.1f} s: {result!r}")

        run.stage("accuracy per parameter and factor")
        t = result.table
        sweep = t.groupby(["param_name", "param"], sort=False).agg(
            rounds=("round_id", "size"), mean_accuracy=("accuracy", "mean"), min_accuracy=("accuracy", "min"),
            max_accuracy=("accuracy", "max"), critical_samples=("critical", "mean"),
            spike_count_deviation=("spike_count_deviation", "mean"),
        ).reset_index()
        print(f"golden accuracy {fmt_pct(result.golden_accuracy)}")
        print(sweep.to_string(index=False, float_format=lambda v: f"{v:.4f}"))

        run.stage("saving")
        d = result.save(run.out / "result")
        run.saved(d / "rounds.parquet", "campaign result (also rounds.csv, meta.json)")
        run.save_text(sweep.to_csv(index=False), "sweep.csv", "mean/min/max accuracy per parameter and factor")
        for parameter in PARAMETERS:
            rows = t[t["param_name"] == f"{parameter}_factor"]
            fig = plots.accuracy_vs_parameter(rows)
            fig.axes[0].set_title(f"{parameter} x factor in {neurons} random {args.layer} neurons\n"
                                  f"(mean and min-max over {repeats} round(s))")
            run.save_figure(fig, f"accuracy_vs_{parameter}_factor.png", f"accuracy vs {parameter} factor")
    if run.failed:
        return 2
    worst = sweep.sort_values("mean_accuracy").iloc[0]
    return run.finish({
        "rounds": f"{len(t)} ({len(PARAMETERS)} parameters x {len(factors)} factors x {repeats})",
        "golden accuracy": fmt_pct(result.golden_accuracy),
        "most harmful": f"{worst.param_name} = {worst.param:g} (mean accuracy {fmt_pct(worst.mean_accuracy)})",
    })


if __name__ == "__main__":
    sys.exit(main())
