"""Tracked vs untracked: what MLflow tracking adds to a campaign of many fast rounds.

    .venv/bin/python benchmarks/tracking_overhead.py                       # SF3 synapses, 8 samples, ~2-4 min
    .venv/bin/python benchmarks/tracking_overhead.py --round-metrics 1000,all,none
    .venv/bin/python benchmarks/tracking_overhead.py --quick               # SF4 neurons (CI size)
    PYTHONPATH=. python benchmarks/tracking_overhead.py --device cuda --faults all --engine parallel --round-metrics 1000
        # the GPU case (MLflow wheels: ../shared/tools/mlflow_wheels_for_device.sh): 40,554 rounds x 359 samples

The case: the digits net, ``--samples`` test samples (8), every synapse of ``--layer`` (SF3:
16,384 rounds) dead, default options (engine, chunk size). Measured:

* **untracked**: ``CampaignSpec(...).build()`` then ``Campaign.run`` in this process, the
  evaluation alone (``run``'s wall time, after an untimed run of the 10-round campaign);
* **tracked**: for each ``round_metrics`` mode, the whole command
  ``python -m experiments.campaign --config C --round-metrics MODE`` (a subprocess, a fresh
  sqlite store in a fresh folder) minus the same command on a 10-round campaign of the same
  network and data (``exhaustive: [{..., sample: 10}]``, its own fresh folder): start-up,
  imports, store creation, golden run and finishing work cancel out, what is left is the rounds
  and their tracking.

The ratio tracked / untracked is the tracking overhead (target <= 1.2x on a 2-core machine).
With ``--repeats N`` the untracked run and each mode's pair of commands alternate N times and
the ratio of the medians is reported (other processes on shared cores move single numbers a
lot). CPU seconds (this process for the untracked run, the commands' for the tracked ones) are
reported beside wall seconds: on shared cores they move less. The machine's load average is
printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def campaign(samples: int, layer: str, model: str, sample: int | None = None, device: str = "cpu",
             faults: str = "layer", engine: str = "") -> dict[str, Any]:
    """The benchmark's campaign: every ``model`` fault of ``layer`` on ``samples`` test samples, or
    (``faults="all"``) the issue's GPU case: every single fault of the digits net (every dead
    neuron, every dead synapse, every synapse x2: 40,554 rounds) on all 359 test samples;
    ``sample`` keeps that many rounds per entry (the 10-round command)."""
    if faults == "all":
        entries: list[dict[str, Any]] = [{"model": "DeadNeuron"}, {"model": "DeadSynapse"},
                                         {"model": "PerturbedSynapse", "factor": 2.0}]
        name, max_samples = "overhead-all-single-faults", None
    else:
        entries, name, max_samples = [{"model": model, "layers": [layer]}], f"overhead-{model}-{layer}", samples
    if sample:  # ``sample`` rounds split over the entries
        n = len(entries)
        entries = [{**e, "sample": sample // n + (1 if i < sample % n else 0)} for i, e in enumerate(entries)]
    options: dict[str, Any] = {"seed": 0, "device": device}
    if engine:
        options["engine"] = engine
    return {"name": name, "network": {"pretrained": "digits_cnn"},
            "data": {"name": "spiking_digits", "seed": 0, "max_samples": max_samples},
            "options": options, "exhaustive": entries}


def untracked_seconds(spec_data: dict[str, Any], warm_up: dict[str, Any]) -> tuple[float, float, int]:
    """Wall and CPU seconds of ``Campaign.run`` (default engine and chunk size) and the rounds
    it ran, after one untimed run of ``warm_up`` (first-call costs, as the 10-round command
    takes them)."""
    from spikefi.campaign import CampaignSpec

    CampaignSpec.from_dict(warm_up).build().run(progress=False)
    spec = CampaignSpec.from_dict(spec_data)
    cmpn = spec.build()
    opts = spec.options
    t0, c0 = time.perf_counter(), time.process_time()
    result = cmpn.run(opts["engine"], int(opts["chunk_size"]), progress=False)
    return time.perf_counter() - t0, time.process_time() - c0, len(result.table)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def command_seconds(spec_data: dict[str, Any], mode: str, work: Path, writer: str = "") -> tuple[float, float]:
    """Wall and CPU seconds of the whole tracked command in a fresh folder with a fresh sqlite
    store (``writer``: ``tracking.writer_queue``; empty: the default)."""
    work.mkdir(parents=True)
    config = work / "campaign.yaml"
    tracking: dict[str, Any] = {"experiment": "overhead"}
    if writer:
        tracking["writer_queue"] = int(writer)
    config.write_text(yaml.safe_dump({"campaign": spec_data, "output_dir": str(work / "out"),
                                      "tracking": tracking}, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # the repository first, then what the caller put there (mlflow from wheels on the GPU machine)
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}", PYTHONPATH=path)
    cmd = [sys.executable, "-m", "experiments.campaign", "--config", str(config), "--round-metrics", mode,
           "--no-progress"]
    t0, c0 = time.perf_counter(), children_cpu()
    out = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t0, children_cpu() - c0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {out.returncode}:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return seconds, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=8, help="test samples (default 8)")
    ap.add_argument("--layer", default="SF3", help="layer whose synapses all die (default SF3)")
    ap.add_argument("--model", default="DeadSynapse", help="fault model (default DeadSynapse)")
    ap.add_argument("--round-metrics", default="1000,all", help="comma-separated modes (default 1000,all)")
    ap.add_argument("--writer-queue", default="",
                    help="comma-separated tracking.writer_queue values (0: no background writer; default: the "
                         "config default, 4)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads of both sides (OMP_NUM_THREADS of the commands; default 0: torch's default). "
                         "1 keeps spinning thread pools from distorting numbers on shared cores")
    ap.add_argument("--repeats", type=int, default=1, help="alternate everything this many times (default 1)")
    ap.add_argument("--quick", action="store_true", help="dead neurons of SF4 (10 rounds): checks the benchmark")
    ap.add_argument("--device", default="cpu", help="campaign device of both sides (cuda: the GPU case)")
    ap.add_argument("--faults", choices=["layer", "all"], default="layer",
                    help="layer: every --model fault of --layer (default); all: every single fault of the digits "
                         "net on all 359 test samples (40,554 rounds; the issue's GPU case, with --device cuda)")
    ap.add_argument("--engine", default="", help="campaign engine of both sides (default: the spec's default, "
                    "sequential; the GPU case takes parallel: 40,554 sequential rounds run for minutes)")
    ap.add_argument("--json", default=None, help="also write the measurements to this JSON file")
    args = ap.parse_args(argv)
    if args.quick:
        args.layer, args.model = "SF4", "DeadNeuron"
    writers = [w.strip() for w in args.writer_queue.split(",") if w.strip()] or [""]
    modes = [m.strip() + (f",writer_queue={w}" if w else "") for m in args.round_metrics.split(",") if m.strip()
             for w in writers]
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    full = campaign(args.samples, args.layer, args.model, device=args.device, faults=args.faults, engine=args.engine)
    small = campaign(args.samples, args.layer, args.model, sample=10, device=args.device, faults=args.faults,
                     engine=args.engine)
    what = ("every single fault (DeadNeuron, DeadSynapse, PerturbedSynapse x2), all test samples"
            if args.faults == "all" else f"{args.samples} samples, every {args.model} of {args.layer}")
    print(f"# tracked vs untracked: digits net, {what}, device {args.device}, engine {args.engine or 'default'}; "
          f"{os.cpu_count()} CPU cores, torch threads {args.threads or 'default'}, load average {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    untracked_all: list[tuple[float, float]] = []
    tracked_all: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="spikefi-overhead-") as tmp:
        for rep in range(args.repeats):
            untracked, untracked_cpu, rounds = untracked_seconds(full, small)
            untracked_all.append((untracked, untracked_cpu))
            print(f"[{rep + 1}] untracked Campaign.run: {rounds} rounds in {untracked:.2f} s, {untracked_cpu:.2f} "
                  f"CPU-s ({rounds / untracked:,.0f} rounds/s); load average {os.getloadavg()[0]:.2f}", flush=True)
            for mode in modes:
                metrics_mode, _, writer = mode.partition(",writer_queue=")
                ten, ten_cpu = command_seconds(small, metrics_mode, Path(tmp) / f"ten-{rep}-{len(results)}", writer)
                whole, whole_cpu = command_seconds(full, metrics_mode, Path(tmp) / f"full-{rep}-{len(results)}", writer)
                tracked, tracked_cpu = whole - ten, whole_cpu - ten_cpu
                tracked_all[mode].append((tracked, tracked_cpu))
                results.append({"repeat": rep, "round_metrics": mode, "whole_s": whole, "ten_round_s": ten,
                                "tracked_s": tracked, "untracked_s": untracked, "ratio": tracked / untracked,
                                "whole_cpu_s": whole_cpu, "ten_round_cpu_s": ten_cpu, "tracked_cpu_s": tracked_cpu,
                                "untracked_cpu_s": untracked_cpu, "cpu_ratio": tracked_cpu / untracked_cpu,
                                "rounds": rounds})
                print(f"[{rep + 1}] tracked, round_metrics={mode}: whole command {whole:.2f} s - 10-round command "
                      f"{ten:.2f} s = {tracked:.2f} s -> {tracked / untracked:.2f}x untracked "
                      f"({rounds / tracked:,.0f} rounds/s); CPU {whole_cpu:.2f} - {ten_cpu:.2f} = {tracked_cpu:.2f} "
                      f"CPU-s -> {tracked_cpu / untracked_cpu:.2f}x", flush=True)

    def med(values: list[tuple[float, float]], i: int) -> float:
        return statistics.median(v[i] for v in values)

    print(f"# medians over {args.repeats} repeat(s): untracked {med(untracked_all, 0):.2f} s, "
          f"{med(untracked_all, 1):.2f} CPU-s; " + "; ".join(
              f"round_metrics={m}: {med(v, 0):.2f} s = {med(v, 0) / med(untracked_all, 0):.2f}x, {med(v, 1):.2f} "
              f"CPU-s = {med(v, 1) / med(untracked_all, 1):.2f}x" for m, v in tracked_all.items()))
    print(f"# load average {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"samples": args.samples, "layer": args.layer, "model": args.model,
                                               "device": args.device, "faults": args.faults,
                                               "measurements": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
