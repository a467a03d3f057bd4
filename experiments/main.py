"""The main job: ``python -m experiments.main [--config FILE] [--set k=v ...]``.

On the embedded default (bundled spiking digits, local MLflow store ``mlflow.db``):
train the digits CNN if no model is given, evaluate it (golden baseline), and print
what was produced and where. Every stage is a nested MLflow run under one ``demo`` run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from spikefi.errors import SpikeFIError

from .config import bundled_config, load_config

DEFAULTS: dict[str, Any] = {
    "model": None,
    "architecture": "digits_cnn",
    "dataset": {"name": "spiking_digits", "seed": 0, "test_fraction": 0.2, "root": None},
    "training": {"epochs": 8, "lr": 0.01, "batch_size": 32, "seed": 0, "max_samples": None},
    "device": "cpu",
    "output_dir": "outputs/demo",
    "tracking": {"experiment": "spikefi-demo", "enabled": True, "uri": None},
}


def stage(message: str) -> None:
    print(f"\n=== {message}", flush=True)


def run_demo(config: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    from .golden import run_golden
    from .train import run_training

    t0 = time.perf_counter()
    out = Path(config["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    track = bool(config["tracking"]["enabled"])
    produced: dict[str, Any] = {}
    parent = None
    if track:
        import mlflow

        from .tracking import common_tags, setup_tracking

        produced["tracking_uri"] = setup_tracking(config["tracking"]["experiment"], config["tracking"]["uri"])
        parent = mlflow.start_run(run_name="demo")
        mlflow.set_tags(common_tags("demo"))
        produced["demo_run"] = parent.info.run_id
    try:
        model = config["model"]
        if model is None:
            stage(f"1/2 training {config['architecture']} on {config['dataset']['name']} "
                  f"({config['training']['epochs']} epochs)")
            train_cfg = {k: config[k] for k in ("architecture", "dataset", "training", "device")}
            train_cfg["output_dir"] = str(out / "model")
            train_cfg["tracking"] = dict(config["tracking"])
            summary = run_training(train_cfg, progress=progress)
            model = summary["model"]
            produced["model"] = model
            produced["model_card"] = summary["model_card"]
            produced["test_accuracy_after_training"] = summary["test_accuracy"]
        else:
            stage(f"1/2 using the given model {model}")
        stage("2/2 golden evaluation on the test split")
        golden = run_golden(model, config["dataset"], out / "golden", track=track)
        produced["golden"] = golden
    finally:
        if parent is not None:
            import mlflow

            mlflow.end_run()
    produced["seconds"] = time.perf_counter() - t0
    return produced


def print_summary(produced: dict[str, Any]) -> None:
    golden = produced["golden"]
    stage(f"done in {produced['seconds']:.0f} s — what was produced and where")
    if "model" in produced:
        print(f"trained model     : {produced['model']}  (model card {produced['model_card']})")
    print(f"golden accuracy   : {golden['accuracy']:.4f} on {golden['samples']:.0f} test samples "
          f"({golden['dataset']})")
    rates = ", ".join(f"{k.removeprefix('firing_rate_')} {v:.3f}" for k, v in golden.items() if k.startswith("firing_rate_"))
    print(f"firing rates      : {rates}")
    print("golden files      :")
    for f in golden["files"]:
        print(f"  {f}")
    if "tracking_uri" in produced:
        print(f"MLflow            : run {produced['demo_run']} (experiment 'spikefi-demo') in {produced['tracking_uri']}")
        print(f"                    view with: mlflow ui --backend-store-uri {produced['tracking_uri']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.main", description=__doc__)
    ap.add_argument("--config", default=None, help="yaml config (default: experiments/configs/demo.yaml)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        config = load_config(args.config or bundled_config("demo.yaml"), DEFAULTS, args.overrides)
        produced = run_demo(config, progress=not args.no_progress)
    except SpikeFIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(produced)
    return 0


if __name__ == "__main__":
    sys.exit(main())
