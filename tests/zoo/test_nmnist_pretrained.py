"""The zoo's N-MNIST networks on real recordings (SPIKEFI_NMNIST_DIR): SpikeFI's published CNN
weights, the shipped weights against their model cards, and one training step.

At most 32 recordings go through the CNN on the CPU (the whole 100 with
``SPIKEFI_NMNIST_FULL=1``); the MLP, cheap, sees all 100.
"""

from __future__ import annotations

import os

import pytest
import torch

from spikefi.data import NMNIST
from spikefi.snn.loss import loss as spike_loss
from spikefi.snn.loss import predict
from spikefi.training import one_hot_target
from spikefi.zoo import build, load_pretrained, model_card

from ..nmnist_real import TEST_LIST, nmnist_dir, recordings

CNN_SAMPLES = 100 if os.environ.get("SPIKEFI_NMNIST_FULL", "0") == "1" else 32


@torch.no_grad()
def _predictions(net: torch.nn.Module, x: torch.Tensor, batch: int = 16) -> torch.Tensor:
    return torch.cat([predict(net(x[i : i + batch])) for i in range(0, x.shape[0], batch)])


def test_spikefi_cnn_weights_classify_the_real_test_recordings(nmnist_state_dict: dict) -> None:
    x, y = recordings("test", CNN_SAMPLES)
    net, _ = build("nmnist_cnn")
    net.load_state_dict(nmnist_state_dict)
    pred = _predictions(net.eval(), x)
    assert pred.tolist() == y.tolist(), f"{int((pred != y).sum())} of {CNN_SAMPLES} misclassified"


@pytest.mark.parametrize("name, samples", [("nmnist_cnn", CNN_SAMPLES), ("nmnist_mlp", 100)])
def test_shipped_weights_match_their_model_cards(name: str, samples: int) -> None:
    card = model_card(name)
    net, net_params, metadata = load_pretrained(name)
    assert net.architecture == name and net.T == card["time_steps"] == 50
    assert card["data"] == {"name": "nmnist", "train_list": "train1K.txt", "test_list": TEST_LIST}
    assert metadata["script"] == "benchmarks/train_nmnist_zoo.py" and metadata["seed"] == card["training"]["seed"]
    assert card["training"]["epochs_run"] == card["training"]["epochs"] == metadata["epochs"]
    labels = NMNIST(nmnist_dir(), "test", sample_list=TEST_LIST).targets
    recorded = torch.tensor(card["test_predictions"])
    # the card's accuracy is that of its recorded predictions on the 100 test recordings
    assert card["test_samples"] == len(recorded) == len(labels) == 100
    assert card["test_accuracy"] == pytest.approx(float((recorded == torch.tensor(labels)).float().mean()))
    assert card["test_accuracy"] >= (0.88 if name == "nmnist_cnn" else 0.80)
    x, y = recordings("test", samples)
    pred = _predictions(net, x, batch=50)
    assert pred.tolist() == card["test_predictions"][:samples]
    if samples == 100:
        assert float((pred == y).float().mean()) == pytest.approx(card["test_accuracy"])


def test_one_training_step_on_real_recordings() -> None:
    x, y = recordings("train", 8)
    net, net_params = build("nmnist_cnn", seed=0)
    loss_fn = spike_loss(net_params)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01, amsgrad=True)
    target = one_hot_target(y, 10)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    value = loss_fn.numSpikes(net(x), target)
    optimizer.zero_grad()
    value.backward()
    trained = [(name, p) for name, p in net.named_parameters() if p.requires_grad]
    assert {name.split(".")[0] for name, _ in trained} == {"SC1", "SC2", "SC3", "SF4a", "SF4b"}  # pools are fixed
    for name, p in trained:
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    optimizer.step()
    after = net.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert sorted(changed) == sorted(name for name, _ in trained)
    with torch.no_grad():
        assert float(loss_fn.numSpikes(net(x), target)) < float(value)
