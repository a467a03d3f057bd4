"""How long the entry points take to refuse bad input, and whether a refusal leaves a store.

    .venv/bin/python benchmarks/error_latency.py               # every case 3 times, ~1 min
    .venv/bin/python benchmarks/error_latency.py --repeat 1 --json out.json

Each case is a real ``python -m experiments.<entry>`` subprocess, started in an empty
temporary folder without ``MLFLOW_TRACKING_URI`` (so the default store would be ./mlflow.db),
timed from start to exit. One line per case: the median wall seconds over ``--repeat`` runs,
the exit code, whether any file appeared in the folder (a tracking or Optuna store, an output
folder), and the error line. Issue 27's targets on an idle machine: a mistyped option, config
key or model name under 2 s; a bad layer name (it needs the network) under 8 s and no store.
This is a measurement, not a test: CI only checks that it runs (``--repeat 1 --cases option``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

CAMPAIGN = {"name": "c", "network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 32},
            "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]}
SEARCH = {"name": "s", "network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 8}, "trials": 2, "batch": 2,
          "space": {"k": 1, "models": [{"model": "DeadNeuron"}]}}

#: name -> (entry point, config section, config body, extra arguments)
CASES: dict[str, tuple[str, str, dict, list[str]]] = {
    "option": ("campaign", "campaign", CAMPAIGN, ["--confg", "x.yaml"]),
    "config key": ("campaign", "campaign", {**CAMPAIGN, "optons": {"seed": 1}}, []),
    "model name": ("campaign", "campaign", CAMPAIGN, ["--set", "campaign.exhaustive=[{model: DeadNeuronn}]"]),
    "engine name": ("campaign", "campaign", CAMPAIGN, ["--set", "campaign.options.engine=paralel"]),
    "layer name": ("campaign", "campaign", CAMPAIGN, ["--set", "campaign.exhaustive=[{model: DeadNeuron, "
                                                              "layers: [SF9]}]"]),
    "search model name": ("search", "search", SEARCH, ["--set", "search.space.models=[{model: DeadNeuronn}]"]),
    "search layer name": ("search", "search", {**SEARCH, "space": {**SEARCH["space"], "layers": ["SF9"]}}, []),
}


def run_case(name: str, repeat: int, repo: Path = REPO) -> dict:
    entry, section, body, extra = CASES[name]
    seconds, code, left, error = [], None, [], ""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(repo)
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="spikefi-errlat-") as tmp:
            folder = Path(tmp)
            (folder / "cfg.yaml").write_text(yaml.safe_dump({section: body, "output_dir": "out"}))
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", f"experiments.{entry}", "--config", "cfg.yaml", *extra,
                                   "--no-progress"], cwd=folder, env=env, capture_output=True, text=True, timeout=600)
            seconds.append(time.perf_counter() - t0)
            code = done.returncode
            left = sorted(p.name for p in folder.iterdir() if p.name != "cfg.yaml")
            lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
            error = lines[-1] if lines else done.stderr.strip().splitlines()[-1:][0] if done.stderr.strip() else ""
    return {"case": name, "entry": entry, "median_s": statistics.median(seconds), "runs_s": seconds,
            "exit_code": code, "files_left": left, "error": error}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="runs per case (the median is reported)")
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES), metavar="CASE",
                    help=f"cases to run (default: all): {', '.join(CASES)}")
    ap.add_argument("--json", default=None, help="also write the measurements to this JSON file")
    ap.add_argument("--repo", default=str(REPO), help="the checkout whose entry points are timed (e.g. an older "
                                                      "commit unpacked with git archive, for a baseline)")
    args = ap.parse_args(argv)
    rows = []
    print(f"{'case':<18} {'median s':>8}  exit  files left  error")
    for name in args.cases:
        row = run_case(name, max(1, args.repeat), Path(args.repo))
        rows.append(row)
        print(f"{name:<18} {row['median_s']:8.2f}  {row['exit_code']!s:>4}  {','.join(row['files_left']) or '-':<10}  "
              f"{row['error'][:110]}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"repo": args.repo, "cpus": os.cpu_count(), "measurements": rows},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
