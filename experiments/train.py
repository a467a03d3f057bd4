"""Golden training entry point: ``python -m experiments.train [--config FILE] [--set k=v ...]``.

Trains a zoo architecture with the NumSpikes loss, evaluates it on the test split,
saves it (weights + SLAYER yaml + model card) and tracks the run in MLflow.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikefi.errors import SpikeFIError

from .config import DEFAULT_EXPERIMENT, bundled_config, config_hash, load_config

if TYPE_CHECKING:  # torch is imported when training (``--help`` stays fast)
    from spikefi.training import EpochRecord

DEFAULTS: dict[str, Any] = {
    "architecture": "digits_cnn",
    # nmnist: root (null: $SPIKEFI_NMNIST_DIR), and train_list/test_list for the sample-list layout
    "dataset": {"name": "spiking_digits", "seed": 0, "test_fraction": 0.2, "root": None, "train_list": None,
                "test_list": None},
    "training": {"epochs": 15, "lr": 0.01, "batch_size": 32, "seed": 0, "max_samples": None},
    "device": "cpu",
    "output_dir": "outputs/train",
    "tracking": {"experiment": DEFAULT_EXPERIMENT, "enabled": True, "uri": None},
}


def write_model_card(path: Path, config: dict[str, Any], result: dict[str, Any]) -> tuple[Path, Path]:
    """Writes ``<model>.json`` (facts) and ``<model>.md`` (model card) beside the model."""
    facts = {"architecture": config["architecture"], "dataset": config["dataset"],
             "training": config["training"], **result}
    json_path = path.with_suffix(".json")
    json_path.write_text(json.dumps(facts, indent=2, default=str))
    rates = ", ".join(f"{k} {v:.3f}" for k, v in result["firing_rates"].items())
    md = f"""# Model card: {config['architecture']}

- Task: 10-class classification of {result['dataset']} (2x16x16 ON/OFF event tensors, {result['time_steps']} bins of {result['sampling_time']:g} ms).
- Architecture: `spikefi.zoo.build("{config['architecture']}")`, SLAYER SRM neurons, config `{path.with_suffix('.yaml').name}`.
- Training: NumSpikes loss, Adam (amsgrad) lr {config['training']['lr']}, batch {config['training']['batch_size']}, {config['training']['epochs']} epochs, seed {config['training']['seed']}; {result['train_seconds']:.0f} s on {result['device']} ({result['threads']} threads).
- **Test accuracy: {result['test_accuracy']:.4f}** on {result['test_samples']} held-out samples (train accuracy {result['train_accuracy']:.4f}).
- Firing rates on the test split (spikes per neuron per bin): {rates}.
- Prediction rule: most output spikes, counted as integers; ties go to the lowest class index.
- Limits: synthetic DVS-style data made from 8x8 scikit-learn digits; not a model of a real sensor's noise.
"""
    md_path = path.with_suffix(".md")
    md_path.write_text(md)
    return json_path, md_path


def run_training(config: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    """Trains as configured; returns a summary (paths, accuracies, run id)."""
    import torch
    from tqdm.auto import tqdm

    from spikefi.snn.loss import loss as spike_loss
    from spikefi.training import evaluate, train
    from spikefi.zoo import build, save_network

    from .datasets import load_dataset

    tcfg = config["training"]
    device = torch.device(config["device"])
    train_set, test_set, description = load_dataset(config["dataset"])
    net, net_params = build(config["architecture"], seed=int(tcfg["seed"]))
    net = net.to(device)
    out_dir = Path(config["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)

    tracking = config["tracking"]
    run = None
    if tracking["enabled"]:
        import mlflow

        from .tracking import common_tags, setup_tracking

        uri = setup_tracking(tracking["experiment"], tracking.get("uri"))
        run = mlflow.start_run(run_name=f"train-{config['architecture']}", nested=mlflow.active_run() is not None)
        mlflow.set_tags(common_tags("train", config_hash=config_hash(config)))
        mlflow.log_params({
            "architecture": config["architecture"], "dataset": description,
            "train_samples": len(train_set), "test_samples": len(test_set),
            **{f"training.{k}": v for k, v in tcfg.items()}, "device": str(device), "dtype": "float32",
        })
    samples = tcfg["max_samples"] or len(train_set)
    bar = tqdm(total=int(tcfg["epochs"]) * min(samples, len(train_set)), desc="training", unit="sample",
               disable=not progress, file=sys.stdout, mininterval=1.0)

    def on_batch(done: int, total: int, value: float) -> None:
        bar.n = (len(history)) * total + done
        bar.set_postfix(loss=f"{value:.3f}", refresh=False)
        bar.refresh()

    history: list[EpochRecord] = []

    def on_epoch(record: EpochRecord) -> None:
        history.append(record)
        msg = (f"epoch {record.epoch}: train loss {record.train_loss:.4f} acc {record.train_accuracy:.4f}"
               + (f", test acc {record.test_accuracy:.4f}" if record.test_accuracy is not None else "")
               + f" ({record.seconds:.1f} s)")
        bar.write(msg)
        if run is not None:
            import mlflow

            metrics = {"train_loss": record.train_loss, "train_accuracy": record.train_accuracy,
                       "epoch_seconds": record.seconds}
            if record.test_accuracy is not None:
                metrics.update(test_loss=record.test_loss, test_accuracy=record.test_accuracy)
            mlflow.log_metrics(metrics, step=record.epoch)

    try:
        result = train(net, net_params, train_set, test_set, epochs=int(tcfg["epochs"]), lr=float(tcfg["lr"]),
                       batch_size=int(tcfg["batch_size"]), seed=int(tcfg["seed"]),
                       max_samples=tcfg["max_samples"], on_epoch=on_epoch, on_batch=on_batch)
    finally:
        bar.close()
    ev = evaluate(net, test_set, loss_fn=spike_loss(net_params).to(device))
    facts = {
        "dataset": description, "test_accuracy": ev.accuracy, "test_loss": ev.loss, "test_samples": ev.samples,
        "train_accuracy": result.final.train_accuracy, "train_seconds": result.seconds,
        "firing_rates": ev.firing_rates, "device": str(device), "threads": torch.get_num_threads(),
        "time_steps": net.T, "sampling_time": net.slayer.Ts,
    }
    model_path = save_network(net, out_dir / f"{config['architecture']}.pt", net_params,
                              metadata={"test_accuracy": ev.accuracy, "config_hash": config_hash(config)})
    card_json, card_md = write_model_card(model_path, config, facts)
    from spikefi.digest import network_digest

    digest = network_digest(net)  # the canonical digest of the saved weights (spikefi.digest)
    summary = {"model": str(model_path), "model_card": str(card_md), "test_accuracy": ev.accuracy,
               "train_seconds": result.seconds, "network.digest": digest}
    if run is not None:
        import mlflow

        mlflow.log_param("network.digest", digest)
        mlflow.log_metrics({"final_test_accuracy": ev.accuracy, "final_test_loss": ev.loss,
                            "train_seconds": result.seconds,
                            **{f"firing_rate.{k}": v for k, v in ev.firing_rates.items()}})
        for path in (model_path, model_path.with_suffix(".yaml"), card_json, card_md):
            mlflow.log_artifact(str(path), artifact_path="model")
        mlflow.end_run()
        summary.update(run_id=run.info.run_id, tracking_uri=uri, experiment=tracking["experiment"])
    return summary


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m experiments.train", description=__doc__)
    ap.add_argument("--config", default=None, help="yaml config (default: experiments/configs/train_digits.yaml)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value, e.g. --set training.epochs=3")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config or bundled_config("train_digits.yaml"), DEFAULTS, args.overrides)
        summary = run_training(config, progress=not args.no_progress)
    except SpikeFIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"trained {config['architecture']}: test accuracy {summary['test_accuracy']:.4f} "
          f"in {summary['train_seconds']:.1f} s")
    print(f"model: {summary['model']} (card: {summary['model_card']})")
    if "run_id" in summary:
        print(f"MLflow run {summary['run_id']} in experiment {summary['experiment']!r} at {summary['tracking_uri']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
