"""SpikeFI's optimizations: the same campaign with the naive, sequential and parallel engines.

The ``naive`` engine runs the whole network from the input for every fault round. The
``sequential`` engine (the default) starts each round at its first faulty layer from the
cached golden spikes (late start) and stops as soon as a layer after the last faulty one
spikes exactly as in the golden run (early stop: the rest of the network is golden too).
Both must give identical result tables; this example measures both on one workload in the
same process, prints wall times, throughput (fault rounds x samples per second) and the
speed-up, and checks that the tables are identical (exit code 1 if they are not).

    python -m experiments.examples.optimizations
    python -m experiments.examples.optimizations --conv-neurons 0 --dense-layers SF3 SF4
"""

from __future__ import annotations

import json
import sys

import pandas as pd

from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.faults import DeadNeuron, DeadSynapse
from spikefi.zoo import load_pretrained

from ._common import ExampleRun, parser

NAME = "optimizations"
ENGINES = ("naive", "sequential", "parallel")


def compare_tables(a: pd.DataFrame, b: pd.DataFrame) -> tuple[bool, str]:
    """Whether two result tables are identical (same columns, rows and values; NaN == NaN)."""
    if list(a.columns) != list(b.columns):
        return False, f"columns differ: {sorted(set(a.columns) ^ set(b.columns))}"
    if a.shape != b.shape:
        return False, f"shapes differ: {a.shape} vs {b.shape}"
    if a.equals(b):
        return True, f"{a.shape[0]} rows x {a.shape[1]} columns, every value equal"
    bad = [c for c in a.columns if not a[c].equals(b[c])]
    return False, f"values differ in columns {bad}"


def main(argv: list[str] | None = None) -> int:
    ap = parser(NAME, __doc__)
    ap.add_argument("--dense-layers", nargs="+", default=None,
                    help="layers with one dead-neuron round per neuron (default SF3; quick SF4)")
    ap.add_argument("--conv-neurons", type=int, default=None,
                    help="random dead neurons in SC2, one round each (default 8; quick 3)")
    ap.add_argument("--synapses", type=int, default=None,
                    help="random dead synapses in SC1 (the first layer: no late start), one round each "
                         "(default 4; quick 2)")
    ap.add_argument("--max-samples", type=int, default=None,
                    help="use only the first test samples, 0 = all 359 (default 192; quick: 32)")
    args = ap.parse_args(argv)
    dense = args.dense_layers or (["SF4"] if args.quick else ["SF3"])
    conv_neurons = args.conv_neurons if args.conv_neurons is not None else (3 if args.quick else 8)
    synapses = args.synapses if args.synapses is not None else (2 if args.quick else 4)
    max_samples = args.max_samples if args.max_samples is not None else (32 if args.quick else 192)
    max_samples = max_samples or None

    run = ExampleRun(NAME, "naive vs sequential engine (late start + early stop) on one workload", args, [
        "load the pretrained digits_cnn and the spiking-digits test split",
        f"rounds: a dead neuron per neuron of {', '.join(dense)}; {conv_neurons} random dead neurons in SC2; "
        f"{synapses} random dead synapses in SC1",
        "compute the golden run once (shared by both engines, timed apart)",
        "run the same rounds with engine='naive', then with engine='sequential'; time each",
        "print wall times, fault x sample throughput and the speed-up; check the tables are identical",
    ])
    with run.guard():
        run.stage("loading the model and the data")
        net, _, _ = load_pretrained("digits_cnn")
        _, test = load_spiking_digits(seed=0)
        cmpn = Campaign(net, test, batch_size=64, seed=args.seed, max_samples=max_samples)

        run.stage("building the workload")
        for layer in dense:
            ids = cmpn.exhaustive(DeadNeuron(), layers=[layer])
            print(f"  {layer}: {len(ids)} dead-neuron rounds (every neuron)")
        if conv_neurons > 0:
            ids = cmpn.exhaustive(DeadNeuron(), layers=["SC2"], sample=conv_neurons)
            print(f"  SC2: {len(ids)} dead-neuron rounds (random neurons)")
        if synapses > 0:
            ids = cmpn.exhaustive(DeadSynapse(), layers=["SC1"], sample=synapses)
            print(f"  SC1: {len(ids)} dead-synapse rounds (random synapses)")
        rounds, samples = len(cmpn.rounds), cmpn.num_samples
        work = rounds * samples
        print(f"  workload: {rounds} rounds x {samples} samples = {work} fault-sample evaluations")

        run.stage("golden run (cached; both engines use it)")
        golden = cmpn.golden()
        print(f"  golden accuracy {golden['accuracy']:.4f}, computed in {golden['seconds']:.2f} s")

        results, timing = {}, {}
        for engine in ENGINES:
            run.stage(f"engine '{engine}'")
            res = cmpn.run(engine=engine, progress=not args.no_progress)
            results[engine] = res
            timing[engine] = res.meta["seconds"]
            print(f"  wall time {timing[engine]:.2f} s, throughput {work / timing[engine]:.1f} faults x samples / s; "
                  f"{res!r}")

        run.stage("comparison")
        speedup = timing["naive"] / timing["sequential"]
        identical, detail = compare_tables(results["naive"].table, results["sequential"].table)
        print(f"{'engine':<12}{'wall time (s)':>15}{'faults x samples / s':>24}")
        for engine in ENGINES:
            print(f"{engine:<12}{timing[engine]:>15.2f}{work / timing[engine]:>24.1f}")
        print(f"speed-up of sequential over naive (same run, same machine): {speedup:.2f}x")
        print(f"result tables identical: {identical} ({detail})")
        par_identical, par_detail = compare_tables(results["naive"].table, results["parallel"].table)
        print(f"speed-up of the fault-parallel engine over naive: {timing['naive'] / timing['parallel']:.2f}x; "
              f"tables identical: {par_identical} ({par_detail})")
        identical = identical and par_identical
        t = results["sequential"].table
        silent = t["first_divergent_layer"] == ""
        print("why the sequential engine is faster: late start skips the layers before the faulty one, and")
        print(f"early stop ends a round as soon as spikes match the golden run ({int(silent.sum())} of {rounds} rounds "
              "never changed a single spike):")
        for layer in dict.fromkeys(t["layer"]):
            rows = t["layer"] == layer
            print(f"  {layer}: {int(rows.sum())} rounds, {int((rows & silent).sum())} without any spike change")

        run.stage("saving")
        for engine, res in results.items():
            d = res.save(run.out / f"result_{engine}")
            run.saved(d / "rounds.parquet", f"result table of the {engine} engine (also rounds.csv, meta.json)")
        report = {
            "rounds": rounds, "samples": samples, "fault_samples": work,
            "golden_seconds": golden["seconds"],
            "seconds": timing,
            "faults_x_samples_per_second": {e: work / s for e, s in timing.items()},
            "speedup_sequential_over_naive": speedup,
            "tables_identical": identical,
            "comparison": detail,
        }
        run.save_text(json.dumps(report, indent=2), "timings.json", "wall times, throughputs, speed-up, identity check")
    if run.failed:
        return 2
    rc = run.finish({
        "naive": f"{timing['naive']:.2f} s ({work / timing['naive']:.1f} faults x samples / s)",
        "sequential": f"{timing['sequential']:.2f} s ({work / timing['sequential']:.1f} faults x samples / s)",
        "parallel": f"{timing['parallel']:.2f} s ({work / timing['parallel']:.1f} faults x samples / s)",
        "speed-up": f"{speedup:.2f}x",
        "tables identical": str(identical),
    })
    if not identical:
        print("error: the naive and sequential engines gave different tables", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
