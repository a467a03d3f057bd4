"""Train a golden digits network from scratch, evaluate it, save it and plot its training curves.

Builds the ``digits_cnn`` architecture with fresh weights (seeded), trains it with
``spikefi.training.train`` (Adam, NumSpikes loss) on the spiking-digits train split,
evaluates it on the test split (accuracy, loss, firing rates per layer), saves it with
``spikefi.zoo.save_network`` (a pickle-free ``.pt`` plus its SLAYER ``.yaml``), reloads it
to check the file, and plots train/test accuracy per epoch. The saved model can be used
by any other example's campaign in place of the shipped one
(``spikefi.zoo.load_network(path)``).

    python -m experiments.examples.train_golden
    python -m experiments.examples.train_golden --epochs 20 --architecture digits_mlp
"""

from __future__ import annotations

import sys

import pandas as pd
import torch
from matplotlib.ticker import MaxNLocator

from spikefi import plots
from spikefi.data import load_spiking_digits
from spikefi.errors import SpikeFIError
from spikefi.snn.loss import loss as spike_loss
from spikefi.training import evaluate, train
from spikefi.zoo import build, load_network, save_network

from ._common import ExampleRun, fmt_pct, parser

NAME = "train_golden"


def main(argv: list[str] | None = None) -> int:
    ap = parser(NAME, __doc__)
    ap.add_argument("--architecture", default="digits_cnn", help="zoo architecture: digits_cnn (default) or digits_mlp")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default 6; quick 1)")
    ap.add_argument("--max-samples", type=int, default=None,
                    help="shuffled training samples per epoch (default: all 1438; quick: 200)")
    ap.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01)")
    ap.add_argument("--batch-size", type=int, default=32, help="training batch size (default 32)")
    args = ap.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 6)
    max_samples = args.max_samples if args.max_samples is not None else (200 if args.quick else None)

    run = ExampleRun(NAME, "train a golden network from scratch", args, [
        f"build {args.architecture} with fresh weights (seed {args.seed})",
        f"train {epochs} epoch(s) with spikefi.training.train on "
        + ("the whole train split" if max_samples is None else f"{max_samples} shuffled samples per epoch"),
        "evaluate on the test split (accuracy, NumSpikes loss, firing rates)",
        "save it with spikefi.zoo.save_network and reload it to check; plot the training curves",
    ])
    with run.guard():
        run.stage("data and network")
        train_set, test_set = load_spiking_digits(seed=0)
        net, net_params = build(args.architecture, seed=args.seed)
        n_weights = sum(p.numel() for p in net.parameters() if p.requires_grad)
        print(f"{args.architecture}: layers {', '.join(net.layer_names)}, {n_weights} trainable weights; "
              f"train {len(train_set)} / test {len(test_set)} samples; torch threads {torch.get_num_threads()}")

        run.stage(f"training ({epochs} epochs)")

        def on_epoch(r) -> None:
            print(f"  epoch {r.epoch:>2}: train loss {r.train_loss:.4f}, train accuracy {fmt_pct(r.train_accuracy)}, "
                  f"test accuracy {fmt_pct(r.test_accuracy)} ({r.seconds:.1f} s)", flush=True)

        history = train(net, net_params, train_set, test_set, epochs=epochs, lr=args.lr, batch_size=args.batch_size,
                        seed=args.seed, max_samples=max_samples, on_epoch=on_epoch)
        print(f"  trained in {history.seconds:.1f} s")

        run.stage("evaluation")
        ev = evaluate(net, test_set, loss_fn=spike_loss(net_params))
        print(f"  test accuracy {fmt_pct(ev.accuracy)}, NumSpikes loss {ev.loss:.4f} per sample, {ev.samples} samples")
        print("  firing rates: " + ", ".join(f"{k} {v:.3f}" for k, v in ev.firing_rates.items()))

        run.stage("saving")
        model_path = save_network(net, run.out / f"{args.architecture}.pt", net_params, metadata={
            "test_accuracy": ev.accuracy, "test_loss": ev.loss, "epochs": epochs, "seed": args.seed,
            "max_samples": max_samples, "lr": args.lr, "batch_size": args.batch_size,
            "trained_by": f"experiments.examples.{NAME}",
        })
        run.saved(model_path, "trained network (torch.load(..., weights_only=True) safe)")
        run.saved(model_path.with_suffix(".yaml"), "its SLAYER parameters")
        reloaded, _, meta = load_network(model_path)
        check = evaluate(reloaded, test_set)
        same = check.accuracy == ev.accuracy and torch.equal(check.predictions, ev.predictions)
        print(f"  reloaded {model_path.name}: test accuracy {fmt_pct(check.accuracy)}, identical predictions: {same}")
        if not same:
            raise SpikeFIError("the reloaded network predicts differently from the trained one")
        frame = pd.DataFrame([vars(r) for r in history.history]).assign(label=args.architecture)
        run.save_text(frame.to_csv(index=False), "history.csv", "per-epoch loss and accuracy")
        fig = plots.training_curves(frame)
        fig.axes[0].set_title(f"Training curves: {args.architecture} from scratch")
        fig.axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
        run.save_figure(fig, "training_curves.png", "train/test accuracy per epoch")
    if run.failed:
        return 2
    return run.finish({
        "test accuracy": f"{fmt_pct(ev.accuracy)} after {epochs} epoch(s) (shipped model: 98.61% after 20)",
        "model": str(model_path),
        "use it": f"spikefi.zoo.load_network({str(model_path)!r})",
    })


if __name__ == "__main__":
    sys.exit(main())
