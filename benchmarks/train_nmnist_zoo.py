"""Trains the zoo's N-MNIST networks on real recordings and writes their model cards.

The weights shipped as ``spikefi/zoo/pretrained/nmnist_cnn.pt`` and ``nmnist_mlp.pt`` were
made with this script: SpikeFI's N-MNIST CNN and MLP architectures (``spikefi.zoo.build``),
trained from a seeded initialisation on the 1,000 real training recordings of
``nmnist_small`` (``train1K.txt``) with the NumSpikes loss of ``nmnist.yaml`` and Adam
(amsgrad), evaluated on its 100 real test recordings (``test100.txt``).

Two steps:

``train`` (on a GPU machine; any device works)::

    PYTHONPATH=. python benchmarks/train_nmnist_zoo.py train --root ../shared/nmnist_small --out OUT

writes ``OUT/<arch>.pt`` (a spikefi network file) and ``OUT/<arch>.json`` (recipe, per-epoch
history, accuracy and predictions on the test recordings on the training device).

``card`` (on the CPU, where the tests run)::

    PYTHONPATH=. python benchmarks/train_nmnist_zoo.py card --root ../shared/nmnist_small --from OUT

evaluates each trained network on the CPU, and writes ``spikefi/zoo/pretrained/<arch>.pt``,
``.yaml``, ``.json`` (the facts, with the CPU predictions the tests compare with) and ``.md``
(the model card).

Training is seeded (initialisation, shuffling) and uses deterministic cuDNN algorithms.
``--epochs``, ``--max-train`` and ``--max-test`` shrink a run for a smoke test.
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

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from spikefi.data import NMNIST  # noqa: E402
from spikefi.snn.loss import loss as spike_loss  # noqa: E402
from spikefi.snn.loss import predict  # noqa: E402
from spikefi.training import evaluate, one_hot_target  # noqa: E402
from spikefi.zoo import build, load_network, save_network  # noqa: E402

TRAIN_LIST = "train1K.txt"
TEST_LIST = "test100.txt"
PRETRAINED = ROOT / "spikefi" / "zoo" / "pretrained"

#: The training recipe of each shipped network (lr drops by ``lr_drop_factor`` after
#: ``lr_drop_epoch`` epochs).
RECIPES: dict[str, dict[str, Any]] = {
    "nmnist_cnn": {"epochs": 50, "lr": 0.01, "lr_drop_epoch": 40, "lr_drop_factor": 0.1, "batch_size": 12, "seed": 0},
    "nmnist_mlp": {"epochs": 80, "lr": 0.01, "lr_drop_epoch": 60, "lr_drop_factor": 0.1, "batch_size": 12, "seed": 0},
}


def load_split(root: str, split: str, sample_list: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(spikes (N, 2, 34, 34, 50), labels (N,))`` of a sample list (the first ``limit``),
    binned by ``NMNIST.__getitem__`` itself (1,100 small files: a few seconds)."""
    ds = NMNIST(root, split, sample_list=sample_list)
    n = len(ds) if limit is None else min(limit, len(ds))
    return torch.stack([ds[i][0] for i in range(n)]), torch.tensor(ds.targets[:n])


def train_one(arch: str, recipe: dict[str, Any], train: tuple[torch.Tensor, torch.Tensor],
              test: tuple[torch.Tensor, torch.Tensor], device: torch.device,
              time_limit_s: float) -> tuple[Any, Any, dict[str, Any]]:
    """Trains ``arch`` by ``recipe``; returns ``(network, params, facts)``.

    Stops early (and says so in the facts) when an epoch ends past ``time_limit_s``.
    """
    seed = int(recipe["seed"])
    torch.manual_seed(seed)
    net, net_params = build(arch, seed=seed)
    net = net.to(device)
    loss_fn = spike_loss(net_params).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe["lr"], amsgrad=True)
    generator = torch.Generator().manual_seed(seed)
    x_tr, y_tr = train[0].to(device), train[1].to(device)
    history: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    stopped_early = False
    for epoch in range(1, recipe["epochs"] + 1):
        if epoch == recipe["lr_drop_epoch"] + 1:
            for group in optimizer.param_groups:
                group["lr"] = recipe["lr"] * recipe["lr_drop_factor"]
        t0 = time.perf_counter()
        net.train()
        order = torch.randperm(x_tr.shape[0], generator=generator).to(device)
        loss_sum, correct = 0.0, 0
        for i in range(0, order.numel(), recipe["batch_size"]):
            batch = order[i : i + recipe["batch_size"]]
            out = net(x_tr[batch])
            value = loss_fn.numSpikes(out, one_hot_target(y_tr[batch], out.shape[1], out.dtype))
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            loss_sum += float(value.detach())
            correct += int((predict(out.detach()) == y_tr[batch]).sum())
        ev = evaluate(net, test, batch_size=128, loss_fn=loss_fn)
        record = {"epoch": epoch, "train_loss": loss_sum / order.numel(), "train_accuracy": correct / order.numel(),
                  "test_accuracy": ev.accuracy, "test_loss": ev.loss, "seconds": time.perf_counter() - t0}
        history.append(record)
        print(f"{arch} epoch {epoch:3d}: train loss {record['train_loss']:8.2f} acc {record['train_accuracy']:.3f}  "
              f"test acc {ev.accuracy:.3f}  {record['seconds']:.1f} s", flush=True)
        if time.perf_counter() - t_start > time_limit_s and epoch < recipe["epochs"]:
            stopped_early = True
            print(f"{arch}: time limit {time_limit_s:.0f} s reached after epoch {epoch}", flush=True)
            break
    train_seconds = time.perf_counter() - t_start
    net.eval()
    final_train = evaluate(net, train, batch_size=128)
    final_test = evaluate(net, test, batch_size=128, loss_fn=loss_fn)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    facts = {
        "architecture": arch,
        "training": {**recipe, "epochs_run": len(history), "stopped_early": stopped_early,
                     "train_samples": int(x_tr.shape[0]), "optimizer": "Adam(amsgrad)", "loss": "NumSpikes"},
        "train_seconds": train_seconds,
        "train_device": name,
        "torch": torch.__version__,
        "train_accuracy": final_train.accuracy,
        "device_test_accuracy": final_test.accuracy,
        "device_test_predictions": final_test.predictions.tolist(),
        "history": history,
    }
    return net, net_params, facts


def cmd_train(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train = load_split(args.root, "train", TRAIN_LIST, args.max_train)
    test = load_split(args.root, "test", TEST_LIST, args.max_test)
    print(f"read {train[0].shape[0]} train and {test[0].shape[0]} test recordings in "
          f"{time.perf_counter() - t0:.1f} s; device {device}", flush=True)
    for arch in args.archs.split(","):
        recipe = dict(RECIPES[arch])
        if args.epochs is not None:
            recipe["epochs"] = args.epochs
            recipe["lr_drop_epoch"] = min(recipe["lr_drop_epoch"], max(args.epochs - 1, 0))
        net, net_params, facts = train_one(arch, recipe, train, test, device, args.time_limit)
        save_network(net, out / f"{arch}.pt", net_params,
                     metadata={"data": "nmnist_small " + TRAIN_LIST, "seed": recipe["seed"],
                               "epochs": facts["training"]["epochs_run"], "script": "benchmarks/train_nmnist_zoo.py"})
        (out / f"{arch}.json").write_text(json.dumps(facts, indent=2))
        print(f"{arch}: test accuracy {facts['device_test_accuracy']:.3f} on {test[0].shape[0]} recordings, "
              f"train accuracy {facts['train_accuracy']:.3f}, {facts['train_seconds']:.0f} s", flush=True)


_CARD = """# Model card: {arch}

- Task: 10-class classification of real N-MNIST recordings (Orchard et al. 2015, CC BY-SA), binned into
  2x34x34 ON/OFF spike tensors of {time_steps} bins of {ts:g} ms (300 ms).
- Data: trained on the {train_samples:,} training recordings of slayerPytorch's `NMNISTsmall` subset
  (`train1K.txt`), tested on its {test_samples} test recordings (`test100.txt`); the recordings are not
  shipped: `NMNIST(root, sample_list=...)` reads them (`SPIKEFI_NMNIST_DIR`).
- Architecture: SpikeFI's N-MNIST {kind}, `spikefi.zoo.build("{arch}")`, SLAYER SRM neurons, config
  `{arch}.yaml` (SpikeFI's `nmnist.yaml`: theta 10, tauSr 10, Ts 6 ms, NumSpikes targets 60/10).
- Weights: our own, trained from `build("{arch}", seed={seed})`; not SpikeFI's published weights.
- Training: `benchmarks/train_nmnist_zoo.py` (recipe `RECIPES["{arch}"]`): NumSpikes loss, Adam (amsgrad)
  lr {lr} (x{drop} after epoch {drop_epoch}), batch {batch}, {epochs} epochs, seed {seed}; {seconds:.0f} s on
  one {device} (torch {torch}, strict fp32, deterministic cuDNN). The weights are those after the last
  epoch: no epoch was chosen by its test accuracy (the per-epoch history is in `{arch}.json`).
- **Test accuracy: {acc:.2f}** on the {test_samples} test recordings (CPU, strict fp32; {dev_acc:.2f} on the
  training GPU{same}); train accuracy {train_acc:.3f}.
- Firing rates on the test recordings (spikes per neuron per bin): {rates}.
- Prediction rule: most output spikes, counted as integers; ties go to the lowest class index.
- Limits: 1,000 training recordings (1/60 of N-MNIST) and a 100-recording test set: the accuracy has a
  binomial uncertainty of several points; a reliability baseline, not a state-of-the-art classifier.
"""


def cmd_card(args: argparse.Namespace) -> None:
    src = Path(args.source)
    dest = Path(args.dest)
    test = load_split(args.root, "test", TEST_LIST)
    torch.set_num_threads(args.threads)
    for arch in args.archs.split(","):
        facts = json.loads((src / f"{arch}.json").read_text())
        net, net_params, metadata = load_network(src / f"{arch}.pt")
        ev = evaluate(net, test, batch_size=25)
        path = save_network(net, dest / f"{arch}.pt", net_params, metadata=metadata)
        same = ev.predictions.tolist() == facts["device_test_predictions"]
        card = {
            "architecture": arch,
            "dataset": "nmnist_small test100.txt (real N-MNIST recordings)",
            "data": {"name": "nmnist", "train_list": TRAIN_LIST, "test_list": TEST_LIST},
            **{k: facts[k] for k in ("training", "train_seconds", "train_device", "torch", "train_accuracy")},
            "test_accuracy": ev.accuracy,
            "test_samples": ev.samples,
            "test_predictions": ev.predictions.tolist(),
            "device_test_accuracy": facts["device_test_accuracy"],
            "device_predictions_identical": same,
            "firing_rates": ev.firing_rates,
            "time_steps": net.T,
            "sampling_time": float(net_params["simulation"]["Ts"]),
            "history": facts["history"],
        }
        path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
        tr = facts["training"]
        md = _CARD.format(
            arch=arch, kind="CNN" if arch.endswith("cnn") else "MLP", time_steps=net.T, ts=card["sampling_time"],
            train_samples=tr["train_samples"], test_samples=ev.samples, seed=tr["seed"], lr=tr["lr"],
            drop=tr["lr_drop_factor"], drop_epoch=tr["lr_drop_epoch"], batch=tr["batch_size"], epochs=tr["epochs_run"],
            seconds=facts["train_seconds"], device=facts["train_device"], torch=facts["torch"], acc=ev.accuracy,
            dev_acc=facts["device_test_accuracy"], same=", identical predictions" if same else ", other predictions",
            train_acc=facts["train_accuracy"],
            rates=", ".join(f"{k} {v:.3f}" for k, v in ev.firing_rates.items()),
        )
        path.with_suffix(".md").write_text(md)
        print(f"{arch}: CPU test accuracy {ev.accuracy:.3f} (training device {facts['device_test_accuracy']:.3f}, "
              f"identical predictions: {same}) -> {path}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train and write OUT/<arch>.pt and .json")
    tr.add_argument("--root", default=os.environ.get("SPIKEFI_NMNIST_DIR", str(ROOT.parent / "shared" / "nmnist_small")))
    tr.add_argument("--out", required=True)
    tr.add_argument("--archs", default="nmnist_cnn,nmnist_mlp")
    tr.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    tr.add_argument("--epochs", type=int, default=None, help="override the recipes' epochs (smoke tests)")
    tr.add_argument("--max-train", type=int, default=None)
    tr.add_argument("--max-test", type=int, default=None)
    tr.add_argument("--time-limit", type=float, default=float("inf"), help="seconds per network; stops after an epoch")
    cd = sub.add_parser("card", help="evaluate on the CPU and write the zoo files and model cards")
    cd.add_argument("--root", default=os.environ.get("SPIKEFI_NMNIST_DIR", str(ROOT.parent / "shared" / "nmnist_small")))
    cd.add_argument("--from", dest="source", required=True)
    cd.add_argument("--dest", default=str(PRETRAINED))
    cd.add_argument("--archs", default="nmnist_cnn,nmnist_mlp")
    cd.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    {"train": cmd_train, "card": cmd_card}[args.command](args)


if __name__ == "__main__":
    main()
