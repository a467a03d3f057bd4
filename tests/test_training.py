"""Golden training, evaluation and network files."""

from __future__ import annotations

import pytest
import torch

from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError, DataError, StateDictError
from spikefi.training import evaluate, one_hot_target, train
from spikefi.zoo import build, load_network, load_pretrained, model_card, save_network


@pytest.fixture(scope="module")
def digits():
    return load_spiking_digits(seed=0)


def test_pretrained_digits_model_reaches_90_percent(digits):
    _, test = digits
    net, p, meta = load_pretrained("digits_cnn")
    ev = evaluate(net, test)
    card = model_card("digits_cnn")
    print(f"pretrained digits_cnn: test accuracy {ev.accuracy:.4f} on {ev.samples} samples")
    assert ev.accuracy >= 0.90
    # the model card states the accuracy actually measured
    assert abs(card["test_accuracy"] - ev.accuracy) < 1e-9
    assert meta["test_accuracy"] == pytest.approx(ev.accuracy)
    assert set(ev.firing_rates) == set(net.layer_names)
    assert all(0 < r < 1 for r in ev.firing_rates.values())


def test_one_short_epoch_learns_and_is_seeded(digits):
    train_set, test_set = digits
    net, p = build("digits_cnn", seed=1)
    before = evaluate(net, test_set).accuracy
    result = train(net, p, train_set, test_set, epochs=1, batch_size=32, seed=3, max_samples=480)
    after = result.final.test_accuracy
    print(f"one epoch on 480 samples: test accuracy {before:.3f} -> {after:.3f}")
    assert after > before + 0.2
    net2, _ = build("digits_cnn", seed=1)
    train(net2, p, train_set, None, epochs=1, batch_size=32, seed=3, max_samples=480)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), net2.state_dict().values(), strict=True))


def test_train_and_evaluate_reject_bad_input(digits):
    train_set, _ = digits
    net, p = build("digits_mlp", seed=0)
    with pytest.raises(ConfigError, match="epochs must be a positive int"):
        train(net, p, train_set, epochs=0)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        train(net, p, train_set, lr=-1.0)
    with pytest.raises(DataError, match=r"labels must be in \[0, 10\)"):
        one_hot_target(torch.tensor([3, 12]), 10)
    with pytest.raises(DataError, match="expected a Dataset"):
        evaluate(net, [1, 2, 3])


def test_network_file_roundtrip_and_errors(tmp_path, digits):
    _, test = digits
    net, p = build("digits_mlp", seed=0)
    path = save_network(net, tmp_path / "mlp.pt", p, metadata={"note": "x"})
    assert path.with_suffix(".yaml").is_file()
    loaded, p2, meta = load_network(path)
    assert meta == {"note": "x"} and p2.to_dict() == p.to_dict()
    x = test.tensors[:8]
    assert torch.equal(loaded(x), net.eval()(x))
    # a bare state_dict or another architecture's weights are refused clearly
    torch.save(net.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ConfigError, match="not a spikefi network file"):
        load_network(tmp_path / "bare.pt")
    payload = torch.load(path, weights_only=True)
    payload["architecture"] = "digits_cnn"
    torch.save(payload, tmp_path / "wrong.pt")
    with pytest.raises(StateDictError, match="does not fit architecture 'digits_cnn'"):
        load_network(tmp_path / "wrong.pt")
    payload["schema_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(ConfigError, match="schema_version 99"):
        load_network(tmp_path / "future.pt")
    with pytest.raises(ConfigError, match="not found"):
        load_network(tmp_path / "missing.pt")
