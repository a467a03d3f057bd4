"""How long the exhaustive single-fault campaign takes through ``mlflow run`` on 2 CPU cores.

    .venv/bin/python benchmarks/mlflow_campaign.py            # the full campaign (minutes)
    .venv/bin/python benchmarks/mlflow_campaign.py --quick    # SF4 only, 64 samples: a smoke test

Runs ``mlflow run . -e campaign -P config=experiments/configs/exhaustive_dead_neurons.yaml
--env-manager local`` (one dead neuron per round, every neuron of the shipped digits CNN,
the whole test split) pinned to 2 CPU cores, against a fresh sqlite store in a temporary
folder, and prints the wall-clock time of the whole command (MLflow start, campaign build,
golden run, every round, tracking, artifacts) with what the run itself recorded.
The machine's load average is printed too: other processes on the same cores slow it down.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="experiments/configs/exhaustive_dead_neurons.yaml")
    ap.add_argument("--cores", type=int, default=2, help="CPU cores to pin the run to (default 2)")
    ap.add_argument("--engine", default=None, help="override campaign.options.engine")
    ap.add_argument("--overrides", default="", help="extra KEY=VALUE overrides for the campaign entry point")
    ap.add_argument("--quick", action="store_true", help="SF4 only on 64 samples (checks the benchmark itself)")
    ap.add_argument("--keep", default=None, help="keep the store and outputs in this folder")
    ap.add_argument("--json", default=None, help="also write the measurement to this JSON file")
    args = ap.parse_args(argv)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="spikefi-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    overrides = [f"output_dir={work / 'out'}"]
    if args.quick:
        overrides += ["campaign.data.max_samples=64", "campaign.exhaustive=[{model: DeadNeuron, layers: [SF4]}]"]
    if args.engine:
        overrides.append(f"campaign.options.engine={args.engine}")
    overrides += shlex.split(args.overrides)
    mlflow_exe = str(Path(sys.executable).with_name("mlflow"))
    cmd = [mlflow_exe, "run", str(REPO), "-e", "campaign", "-P", f"config={args.config}",
           "-P", "overrides=" + " ".join(shlex.quote(o) for o in overrides), "-P", "resume=never",
           "--env-manager", "local", "--experiment-name", "spikefi-benchmark"]
    available = sorted(os.sched_getaffinity(0))
    cores = available[: args.cores]
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, OMP_NUM_THREADS=str(len(cores)), MKL_NUM_THREADS=str(len(cores)),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(name, None)
    from mlflow.tracking import MlflowClient

    from experiments.chunk_flush import metric_of

    MlflowClient(uri).search_experiments()  # create the store's tables outside the timed command
    MlflowClient(uri).create_experiment("spikefi-benchmark")
    load_before = os.getloadavg()
    print(f"$ {shlex.join(cmd)}\n  pinned to CPU cores {cores}; store {uri}; load average {load_before[0]:.2f}",
          flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, preexec_fn=lambda: os.sched_setaffinity(0, cores),
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
        print(f"mlflow run failed with exit code {proc.returncode}", file=sys.stderr)
        return 1
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("spikefi-benchmark")
    (run,) = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("spikefi.kind") == "campaign"]
    m, p = run.data.metrics, run.data.params
    result = {
        "wall_s": wall, "cores": len(cores), "rounds": int(m["rounds"]), "samples": int(p["dataset.samples"]),
        "engine": p["engine"], "chunk_size": int(p["chunk_size"]), "campaign_duration_s": m["duration_s"],
        "compute_s": m["compute_s"], "faults_x_samples_per_s": metric_of(m, "throughput"),
        "critical_fault_rate": metric_of(m, "crit_rate"), "golden_accuracy": m["golden.accuracy"],
        "load_average_1min": [round(load_before[0], 2), round(load_after[0], 2)], "run_id": run.info.run_id,
        "torch_threads": len(cores),
    }
    print(f"exhaustive single-fault campaign ({result['rounds']} dead-neuron faults x {result['samples']} samples, "
          f"engine {result['engine']}) through `mlflow run` on {len(cores)} CPU cores: {wall:.0f} s wall clock "
          f"({wall / 60:.1f} min); inside the run: {result['campaign_duration_s']:.0f} s, of which rounds "
          f"{result['compute_s']:.0f} s ({result['faults_x_samples_per_s']:.0f} faults x samples / s); "
          f"critical-fault rate {result['critical_fault_rate']:.4f}; load average {load_before[0]:.2f} -> "
          f"{load_after[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if not args.keep:
        print(f"(store and outputs left in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
