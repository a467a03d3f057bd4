"""Analog devices (issue 33): engine timings on the same rounds, and accuracy vs age and vs σ.

``--suite engines`` (CPU, seconds): the shipped digits CNN in float32, ``--samples`` test
samples, ``--draws`` rounds per kind of analog fault (programming noise with stuck devices,
read noise per sample, drift at one age, threshold mismatch); each engine (naive,
sequential, parallel) runs the same rounds; wall seconds of the run (golden pass included,
best of ``--repeats``) and whether the tables and predictions equal the naive engine's.

``--suite nmnist`` (CPU, minutes): the zoo's ``nmnist_cnn`` on ``--samples`` real recordings of
``nmnist_small`` (``test100.txt``; ``$SPIKEFI_NMNIST_DIR`` or ``../shared/nmnist_small``),
accuracy vs device age (drift) and vs programming-noise σ, ``--draws`` draws per point, with
Student-t intervals (:func:`spikefi.campaign.analog_sweep.analog_sweep`).

Run::

    PYTHONPATH=. python benchmarks/analog_devices.py --suite engines
    PYTHONPATH=. python benchmarks/analog_devices.py --suite nmnist --samples 32 --draws 5
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

from spikefi.campaign import Campaign  # noqa: E402
from spikefi.campaign.analog_sweep import analog_sweep  # noqa: E402
from spikefi.data import NMNIST, load_spiking_digits  # noqa: E402
from spikefi.faults import AnalogDevices, Fault  # noqa: E402
from spikefi.zoo import load_pretrained  # noqa: E402

ENGINES = ("naive", "sequential", "parallel")
KINDS = {
    "program+stuck": AnalogDevices(levels=16, program_sigma=0.05, stuck_at_0=0.005, stuck_at_gmax=0.005),
    "read noise": AnalogDevices(read_sigma=0.05),
    "drift (age 1e6)": AnalogDevices(program_sigma=0.02, age=1e6, drift_nu_mean=0.05, drift_nu_std=0.02),
    "threshold mismatch": AnalogDevices(mapping="none", threshold_sigma=0.1),
}


def engines_suite(args: argparse.Namespace) -> dict[str, Any]:
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    data = (test.tensors[:args.samples], test.labels[:args.samples])
    out: dict[str, Any] = {"network": "digits_cnn (float32)", "samples": args.samples, "draws": args.draws,
                           "repeats": args.repeats, "threads": torch.get_num_threads(),
                           "load_average_at_start": os.getloadavg()[0], "kinds": {}}
    for kind, model in KINDS.items():
        row: dict[str, Any] = {}
        best = {e: float("inf") for e in ENGINES}
        cpu = {e: float("inf") for e in ENGINES}
        results: dict[str, Any] = {}
        for _ in range(args.repeats):  # engines interleaved: a busy machine slows them alike
            for engine in ENGINES:
                cmpn = Campaign(net, data, batch_size=64, seed=1)
                for _ in range(args.draws):
                    cmpn.then_inject(Fault(model))
                t0, c0 = time.perf_counter(), time.process_time()
                results[engine] = cmpn.run(engine=engine, chunk_size=args.draws, progress=False, keep_predictions=True)
                best[engine] = min(best[engine], time.perf_counter() - t0)
                cpu[engine] = min(cpu[engine], time.process_time() - c0)
        ref = results["naive"]
        for engine in ENGINES:
            res = results[engine]
            table = res.table.drop(columns=["seconds"], errors="ignore")
            same = bool(table.equals(ref.table.drop(columns=["seconds"], errors="ignore"))
                        and (res.predictions == ref.predictions).all())
            row[engine] = {"seconds": round(best[engine], 3), "cpu_seconds": round(cpu[engine], 3),
                           "identical_to_naive": same,
                           "mean_accuracy": float(table["accuracy"].mean())}
        row["parallel_over_sequential"] = round(row["sequential"]["seconds"] / row["parallel"]["seconds"], 2)
        row["parallel_over_sequential_cpu"] = round(row["sequential"]["cpu_seconds"] / row["parallel"]["cpu_seconds"], 2)
        out["kinds"][kind] = row
        print(f"{kind:<20} wall (cpu) s: naive {row['naive']['seconds']:.2f} ({row['naive']['cpu_seconds']:.2f})  "
              f"sequential {row['sequential']['seconds']:.2f} ({row['sequential']['cpu_seconds']:.2f})  "
              f"parallel {row['parallel']['seconds']:.2f} ({row['parallel']['cpu_seconds']:.2f})  "
              f"sequential/parallel {row['parallel_over_sequential']}x wall, {row['parallel_over_sequential_cpu']}x cpu "
              f"(identical: {row['sequential']['identical_to_naive'] and row['parallel']['identical_to_naive']})",
              flush=True)
    return out


def nmnist_suite(args: argparse.Namespace) -> dict[str, Any]:
    root = os.environ.get("SPIKEFI_NMNIST_DIR") or str(Path(__file__).resolve().parents[2] / "shared" / "nmnist_small")
    ds = NMNIST(root, "test", sample_list="test100.txt")
    n = min(args.samples, len(ds))
    x, y = torch.stack([ds[i][0] for i in range(n)]), torch.tensor(ds.targets[:n])
    net, _, _ = load_pretrained("nmnist_cnn")
    cmpn = Campaign(net, (x, y), batch_size=args.samples, seed=0)
    ref = args.noise_reference
    base = AnalogDevices(g_max=25.0, levels=16, program_sigma=args.base_sigma, read_sigma=args.read_sigma,
                         noise_reference=ref, drift_nu_mean=0.05, drift_nu_std=0.02)
    ages = [20.0, 3600.0, 86400.0, 3.15e7, 3.15e9]
    sigmas = [float(v) for v in args.sigmas.split(",")]
    age_sweep = analog_sweep(cmpn, base, "age", ages, draws=args.draws)
    sigma_sweep = analog_sweep(cmpn, AnalogDevices(g_max=25.0, levels=16, noise_reference=ref), "program_sigma", sigmas,
                               draws=args.draws)
    mism = analog_sweep(cmpn, AnalogDevices(mapping="none", threshold_sigma=0.01), "threshold_sigma",
                        [float(v) for v in args.threshold_sigmas.split(",")], draws=args.draws)
    t0 = time.perf_counter()
    result = cmpn.run(engine=args.engine, chunk_size=8, progress=False)
    seconds = time.perf_counter() - t0
    out = {"network": "zoo nmnist_cnn", "recordings": f"nmnist_small test100.txt, first {n}",
           "golden_accuracy": cmpn.golden()["accuracy"], "draws": args.draws, "engine": args.engine,
           "rounds": len(cmpn.rounds), "seconds": round(seconds, 1), "threads": torch.get_num_threads(),
           "base_age": base.params(), "age": age_sweep.summary(result).to_dict("records"),
           "program_sigma": sigma_sweep.summary(result).to_dict("records"),
           "threshold_sigma": mism.summary(result).to_dict("records")}
    for name in ("age", "program_sigma", "threshold_sigma"):
        print(f"accuracy vs {name}:")
        for r in out[name]:
            print(f"  {r[name]:>12g}: {r['accuracy_mean']:.3f} [{r['accuracy_low']:.3f}, {r['accuracy_high']:.3f}] "
                  f"critical draws {r['critical_draws']}/{r['draws']}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("engines", "nmnist"), default="engines")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--engine", default="parallel")
    parser.add_argument("--noise-reference", default="gmax", choices=("gmax", "g"),
                        help="nmnist: sigma relative to Gmax or to the device's conductance")
    parser.add_argument("--base-sigma", type=float, default=0.02, help="nmnist: programming sigma of the age sweep")
    parser.add_argument("--read-sigma", type=float, default=0.0, help="nmnist: read sigma of the age sweep")
    parser.add_argument("--sigmas", default="0,0.02,0.05,0.1,0.2", help="nmnist: programming sigmas (comma-separated)")
    parser.add_argument("--threshold-sigmas", default="0.05,0.1,0.2", help="nmnist: threshold sigmas")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    out = engines_suite(args) if args.suite == "engines" else nmnist_suite(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
