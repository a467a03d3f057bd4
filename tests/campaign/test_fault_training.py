"""Training under faults (pre-training and during training), best epoch kept."""

from __future__ import annotations

import pytest
import torch

from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError
from spikefi.faults import DeadNeuron, DeadSynapse, Fault, Site
from spikefi.zoo import load_pretrained


@pytest.fixture(scope="module")
def setup():
    net, _, _ = load_pretrained("digits_cnn")
    train, test = load_spiking_digits()
    cmpn = Campaign(net, test, max_samples=120, seed=0)
    cmpn.then_inject([Fault(DeadNeuron(), Site("SF3"), count=32), Fault(DeadSynapse(), Site("SC1"), density=0.3)])
    return net, train, test, cmpn


def test_retraining_during_recovers_and_keeps_best(setup):
    _, train, test, cmpn = setup
    faulty_before = cmpn.run(progress=False).table.loc[0, "accuracy"]
    result = cmpn.train(train, mode="during", fault_epoch=2, epochs=3, max_samples=320, seed=1)
    assert [r.faulty for r in result.history] == [False, True, True]
    best = max(r.test_accuracy for r in result.history)
    assert result.best_accuracy == best
    assert result.history[result.best_epoch - 1].test_accuracy == best
    print(f"accuracy under the fault: {faulty_before:.3f} before, {best:.3f} after retraining")
    assert best > faulty_before + 0.05
    # the kept weights give that accuracy when the same faults are injected again
    retrained = load_pretrained("digits_cnn")[0]
    retrained.load_state_dict(result.best_state)
    again = Campaign(retrained, test, max_samples=120, seed=0)
    again.then_inject(list(cmpn.rounds[0].specs))
    assert again.run(progress=False).table.loc[0, "accuracy"] == pytest.approx(best)


def test_pretraining_from_scratch_learns(setup):
    _, train, _, cmpn = setup
    result = cmpn.train(train, mode="pre", epochs=2, max_samples=480, seed=2)
    assert all(r.faulty for r in result.history)
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.best_accuracy > 0.2  # well above chance (0.1) with the faults present


def test_training_bad_options(setup):
    _, train, _, cmpn = setup
    with pytest.raises(ConfigError, match="mode must be 'pre' or 'during'"):
        cmpn.train(train, mode="post")
    with pytest.raises(ConfigError, match=r"fault_epoch must be in \[1, 2\]"):
        cmpn.train(train, mode="during", epochs=2, fault_epoch=5)
    with pytest.raises(ConfigError, match="round_index 4 out of range"):
        cmpn.train(train, round_index=4)
    _ = torch
