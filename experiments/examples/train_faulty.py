"""Training under faults: can (re)training recover the accuracy a fault takes away?

Two SpikeFI scenarios with ``Campaign.train``, for one round of faults (by default 24 of
the 64 neurons of SF3 dead):

* ``pre`` — the fault is known before training (e.g. a chip's defects were mapped): a
  fresh network is trained from initialisation with the fault present;
* ``during`` — the pretrained network goes on training and the fault appears at an epoch
  (``fault_epoch``); training continues with it.

The test accuracy is measured under the fault after every epoch (also before the fault
appears), and the best epoch is kept. The example prints the accuracy under the fault
before retraining (the shipped network) and after each scenario, checks the best weights
with a fresh campaign on the same fault sites, and plots the training curves.

    python -m experiments.examples.train_faulty
    python -m experiments.examples.train_faulty --model saturated --layer SF3 --count 4
"""

from __future__ import annotations

import copy
import sys

import pandas as pd
from matplotlib.ticker import MaxNLocator

from spikefi import plots
from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.errors import SpikeFIError
from spikefi.faults import DeadNeuron, Fault, SaturatedNeuron, Site
from spikefi.zoo import load_pretrained

from ._common import ExampleRun, fmt_pct, parser

NAME = "train_faulty"
MODELS = {"dead": DeadNeuron, "saturated": SaturatedNeuron}


def accuracy_with_weights(net, state, test, fault_round, seed: int, max_samples: int | None) -> float:
    """Accuracy of ``net`` with the weights ``state`` under the faults of ``fault_round`` (same sites)."""
    retrained = copy.deepcopy(net)
    retrained.load_state_dict(state)
    check = Campaign(retrained, test, seed=seed, max_samples=max_samples)
    for rf in fault_round.faults:
        check.inject(Fault(rf.model, [Site(rf.layer, pos) for pos in rf.positions], rf.timing))
    return float(check.run(progress=False).table["accuracy"].iloc[0])


def main(argv: list[str] | None = None) -> int:
    ap = parser(NAME, __doc__)
    ap.add_argument("--model", choices=sorted(MODELS), default="dead", help="neuron fault model (default dead)")
    ap.add_argument("--layer", default="SF3", help="layer of the faulty neurons (default SF3)")
    ap.add_argument("--count", type=int, default=24, help="number of faulty neurons, drawn at random (default 24)")
    ap.add_argument("--pre-epochs", type=int, default=None, help="epochs of the 'pre' scenario (default 4; quick 1)")
    ap.add_argument("--during-epochs", type=int, default=None,
                    help="epochs of the 'during' scenario (default 3; quick 2)")
    ap.add_argument("--fault-epoch", type=int, default=2, help="epoch at which the fault appears in 'during' (default 2)")
    ap.add_argument("--max-samples", type=int, default=None,
                    help="shuffled training samples per epoch (default: all 1438; quick: 64)")
    ap.add_argument("--test-samples", type=int, default=None,
                    help="use only the first test samples (default: all 359; quick: 48)")
    args = ap.parse_args(argv)
    pre_epochs = args.pre_epochs if args.pre_epochs is not None else (1 if args.quick else 4)
    during_epochs = args.during_epochs if args.during_epochs is not None else (2 if args.quick else 3)
    max_samples = args.max_samples if args.max_samples is not None else (64 if args.quick else None)
    test_samples = args.test_samples if args.test_samples is not None else (48 if args.quick else None)
    fault_epoch = min(args.fault_epoch, during_epochs)

    run = ExampleRun(NAME, "training under faults (pre-training and during training)", args, [
        f"load the pretrained digits_cnn; fault: {args.count} random {args.layer} neurons {args.model} (permanent)",
        "campaign: accuracy under the fault before any retraining",
        f"'pre': train a fresh network with the fault from initialisation ({pre_epochs} epoch(s))",
        f"'during': keep training the pretrained network; the fault appears at epoch {fault_epoch} "
        f"({during_epochs} epoch(s))",
        "check the best weights of each scenario with a new campaign on the same fault sites; plot the curves",
    ])
    with run.guard():
        run.stage("loading the model and the data")
        net, _, _ = load_pretrained("digits_cnn")
        train_set, test = load_spiking_digits(seed=0)
        cmpn = Campaign(net, test, batch_size=64, seed=args.seed, max_samples=test_samples)
        if args.layer not in cmpn.netmap.layers:
            raise SpikeFIError(f"unknown layer {args.layer!r}; layers: {cmpn.netmap.order}")
        cmpn.then_inject(Fault(MODELS[args.model](), Site(args.layer), count=args.count))
        fault_round = cmpn.rounds[0]
        positions = sorted(fault_round.faults[0].positions)
        print(f"faulty neurons of {args.layer}: {[p[0] for p in positions] if len(positions[0]) else positions}")

        run.stage("accuracy under the fault before retraining")
        before = cmpn.run(progress=False)
        acc_golden = before.golden_accuracy
        acc_before = float(before.table["accuracy"].iloc[0])
        print(f"  golden (fault-free) accuracy {fmt_pct(acc_golden)}; under the fault {fmt_pct(acc_before)} "
              f"on {cmpn.num_samples} test samples")

        def on_epoch(label: str):
            def report(r) -> None:
                print(f"  [{label}] epoch {r.epoch}: fault {'on ' if r.faulty else 'off'} during training, "
                      f"train accuracy {fmt_pct(r.train_accuracy)}, test accuracy under the fault "
                      f"{fmt_pct(r.test_accuracy)} ({r.seconds:.1f} s)", flush=True)
            return report

        run.stage(f"'pre' scenario: fresh weights, trained with the fault ({pre_epochs} epochs)")
        pre = cmpn.train(train_set, round_index=0, mode="pre", epochs=pre_epochs, max_samples=max_samples,
                         seed=args.seed, on_epoch=on_epoch("pre"))
        run.stage(f"'during' scenario: pretrained weights, fault from epoch {fault_epoch} ({during_epochs} epochs)")
        during = cmpn.train(train_set, round_index=0, mode="during", fault_epoch=fault_epoch, epochs=during_epochs,
                            max_samples=max_samples, seed=args.seed, on_epoch=on_epoch("during"))

        run.stage("accuracy under the fault after retraining (best epoch, checked with a new campaign)")
        check = {}
        for label, ft in (("pre", pre), ("during", during)):
            check[label] = accuracy_with_weights(net, ft.best_state, test, fault_round, args.seed, test_samples)
            print(f"  {label:<7}: best epoch {ft.best_epoch}, accuracy under the fault {fmt_pct(ft.best_accuracy)} "
                  f"(campaign on the retrained weights: {fmt_pct(check[label])})")
        print(f"  before retraining: {fmt_pct(acc_before)}; fault-free pretrained: {fmt_pct(acc_golden)}")

        run.stage("saving")
        labels = {"pre": "pre: fault from initialisation", "during": f"during: fault from epoch {fault_epoch}"}
        history = pd.concat([pre.history_frame().assign(label=labels["pre"], scenario="pre"),
                             during.history_frame().assign(label=labels["during"], scenario="during")],
                            ignore_index=True)
        run.save_text(history.to_csv(index=False), "history.csv", "per-epoch history of both scenarios")
        summary = pd.DataFrame([
            {"scenario": "golden (no fault)", "accuracy": acc_golden, "best_epoch": None},
            {"scenario": "pretrained, under the fault", "accuracy": acc_before, "best_epoch": None},
            {"scenario": "pre", "accuracy": pre.best_accuracy, "best_epoch": pre.best_epoch,
             "campaign_check": check["pre"]},
            {"scenario": "during", "accuracy": during.best_accuracy, "best_epoch": during.best_epoch,
             "campaign_check": check["during"]},
        ])
        run.save_text(summary.to_csv(index=False), "summary.csv", "accuracy under the fault before/after retraining")
        fig = plots.training_curves(history)
        ax = fig.axes[0]
        fig.axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
        ax.axhline(acc_before, color="0.4", linestyle=":", linewidth=1.2,
                   label=f"pretrained under the fault ({acc_before:.3f})")
        ax.legend(fontsize=9, frameon=False)
        ax.set_title(f"Training under faults: {args.count} {args.model} {args.layer} neurons\n"
                     "(test accuracy measured under the fault)")
        run.save_figure(fig, "training_curves.png", "train/test accuracy per epoch, both scenarios")
    if run.failed:
        return 2
    return run.finish({
        "fault": f"{args.count} {args.model} neurons in {args.layer}",
        "before": f"{fmt_pct(acc_before)} under the fault (golden {fmt_pct(acc_golden)})",
        "after 'pre'": f"{fmt_pct(pre.best_accuracy)} (best of {pre_epochs} epoch(s), from scratch)",
        "after 'during'": f"{fmt_pct(during.best_accuracy)} (best of {during_epochs} epoch(s))",
    })


if __name__ == "__main__":
    sys.exit(main())
