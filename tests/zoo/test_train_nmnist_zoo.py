"""The script that made the zoo's N-MNIST weights, in miniature: the MLP for one epoch on 12
real training recordings, then its model card on the CPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

from spikefi.zoo import load_network

from ..nmnist_real import nmnist_dir

REPO = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("train_nmnist_zoo", REPO / "benchmarks" / "train_nmnist_zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_then_card_on_real_recordings(tmp_path: Path, capsys) -> None:
    root = str(nmnist_dir())
    script = _script()
    out, dest = tmp_path / "trained", tmp_path / "zoo"
    script.main(["train", "--root", root, "--out", str(out), "--archs", "nmnist_mlp", "--epochs", "1",
                 "--max-train", "12", "--max-test", "4", "--device", "cpu"])
    facts = json.loads((out / "nmnist_mlp.json").read_text())
    assert facts["training"]["epochs_run"] == 1 and facts["training"]["train_samples"] == 12
    assert len(facts["history"]) == 1 and len(facts["device_test_predictions"]) == 4
    script.main(["card", "--root", root, "--from", str(out), "--dest", str(dest), "--archs", "nmnist_mlp",
                 "--threads", "1"])
    assert "nmnist_mlp: CPU test accuracy" in capsys.readouterr().out
    card = json.loads((dest / "nmnist_mlp.json").read_text())
    labels = torch.tensor(script.NMNIST(root, "test", sample_list="test100.txt").targets)
    predictions = torch.tensor(card["test_predictions"])
    assert card["test_samples"] == 100 == len(predictions)
    assert card["test_accuracy"] == float((predictions == labels).float().mean())
    # the training device was the CPU too: its 4 predictions are the card's first 4
    assert card["test_predictions"][:4] == facts["device_test_predictions"]
    net, _, metadata = load_network(dest / "nmnist_mlp.pt")
    assert net.architecture == "nmnist_mlp" and metadata["epochs"] == 1 and metadata["seed"] == 0
    text = (dest / "nmnist_mlp.md").read_text()
    assert "# Model card: nmnist_mlp" in text and f"**Test accuracy: {card['test_accuracy']:.2f}**" in text
    assert (dest / "nmnist_mlp.yaml").is_file()
