"""Golden evaluation entry point: ``python -m experiments.golden --model FILE``.

Evaluates a saved network on the test split of its dataset: accuracy, NumSpikes loss,
per-layer firing rates, per-sample predictions (CSV + Parquet), a confusion matrix and a
firing-rate figure; tracked as an MLflow run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_EXPERIMENT

if TYPE_CHECKING:  # torch and matplotlib are imported when evaluating (``--help`` stays fast)
    from spikefi.training import EvalResult


def figures(ev: EvalResult, classes: int) -> dict[str, Any]:
    """Confusion matrix and firing-rate bar chart (returned, not saved; not registered with pyplot)."""
    import numpy as np
    from matplotlib.figure import Figure

    conf = np.zeros((classes, classes), dtype=np.int64)
    for t, p in zip(ev.labels.tolist(), ev.predictions.tolist(), strict=True):
        conf[t, p] += 1
    fig_c = Figure(figsize=(4.8, 4.2), dpi=120)
    ax = fig_c.add_subplot()
    im = ax.imshow(conf, cmap="viridis")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Golden confusion matrix (accuracy {ev.accuracy:.3f})")
    ax.set_xticks(range(classes))
    ax.set_yticks(range(classes))
    fig_c.colorbar(im, ax=ax, label="test samples")
    fig_c.tight_layout()
    fig_r = Figure(figsize=(5.6, 3.2), dpi=120)
    ax = fig_r.add_subplot()
    names = list(ev.firing_rates)
    ax.bar(names, [ev.firing_rates[n] for n in names], color="#0072B2")
    ax.set_xlabel("layer")
    ax.set_ylabel("firing rate (spikes / neuron / bin)")
    ax.set_title("Golden firing rate per layer")
    fig_r.tight_layout()
    return {"confusion_matrix.png": fig_c, "firing_rates.png": fig_r}


def run_golden(model: str | Path, dataset: dict[str, Any], output_dir: str | Path, track: bool = True) -> dict[str, Any]:
    import pandas as pd

    from spikefi.digest import network_digest
    from spikefi.snn.loss import loss as spike_loss
    from spikefi.training import evaluate
    from spikefi.zoo import load_network

    from .datasets import load_dataset

    net, net_params, meta = load_network(model)
    digest = network_digest(net)  # the canonical digest (spikefi.digest), before evaluate touches anything
    _, test_set, description = load_dataset(dataset)
    ev = evaluate(net, test_set, loss_fn=spike_loss(net_params))
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"sample": range(ev.samples), "label": ev.labels.numpy(), "predicted": ev.predictions.numpy()})
    table["correct"] = table["label"] == table["predicted"]
    files = [out / "golden_predictions.parquet", out / "golden_predictions.csv", out / "golden_summary.json"]
    table.to_parquet(files[0], index=False)
    table.to_csv(files[1], index=False)
    summary = {"model": str(model), "architecture": net.architecture, "dataset": description, **ev.summary(),
               "network.digest": digest}
    files[2].write_text(json.dumps(summary, indent=2))
    classes = int(net.state_dict()[f"{net.layer_names[-1]}.weight"].shape[0])
    for name, fig in figures(ev, classes).items():
        fig.savefig(out / name)
        files.append(out / name)
    if track:
        import mlflow

        from .tracking import common_tags

        with mlflow.start_run(run_name=f"golden-{net.architecture}", nested=mlflow.active_run() is not None) as run:
            mlflow.set_tags(common_tags("golden"))
            mlflow.log_params({"model": str(model), "architecture": net.architecture, "dataset": description,
                               "test_samples": ev.samples, "network.digest": digest})
            mlflow.log_metrics({k.replace("firing_rate_", "firing_rate."): v for k, v in ev.summary().items()
                                if isinstance(v, (int, float))})
            for f in files:
                mlflow.log_artifact(str(f), artifact_path="golden")
            summary["run_id"] = run.info.run_id
    summary["files"] = [str(f) for f in files]
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.golden", description=__doc__)
    ap.add_argument("--model", required=True, help="network file written by experiments.train (.pt)")
    ap.add_argument("--dataset", default="spiking_digits", help="spiking_digits (default) or nmnist")
    ap.add_argument("--dataset-root", default=None, help="folder of a dataset read from files (nmnist)")
    ap.add_argument("--output-dir", default="outputs/golden", help="where predictions, summary and figures go")
    ap.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help=f"MLflow experiment (default {DEFAULT_EXPERIMENT})")
    ap.add_argument("--no-mlflow", action="store_true", help="do not track the evaluation in MLflow")
    args = ap.parse_args(argv)
    from spikefi.errors import SpikeFIError

    try:
        if not args.no_mlflow:
            from .tracking import setup_tracking

            setup_tracking(args.experiment)
        summary = run_golden(args.model, {"name": args.dataset, "seed": 0, "test_fraction": 0.2, "root": args.dataset_root},
                             args.output_dir, track=not args.no_mlflow)
    except SpikeFIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"golden accuracy {summary['accuracy']:.4f} on {summary['samples']:.0f} samples; files in {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
