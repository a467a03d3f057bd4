"""Issue 24, item 1: non-finite inputs are still refused, but never scanned O(data) per campaign.

A campaign counts NaN/Inf inputs in its golden pass (on the device, where the batches are);
``dataset_tensors`` scans a tensor once and remembers it until the tensor changes in place.
"""

from __future__ import annotations

import pytest
import torch

import spikefi.training as training
from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.errors import DataError
from spikefi.faults import DeadNeuron
from spikefi.training import dataset_tensors
from spikefi.zoo import load_pretrained


@pytest.fixture(scope="module")
def digits():
    net, _, _ = load_pretrained("digits_cnn")
    x, y = dataset_tensors(load_spiking_digits()[1])
    return net, x[:12].clone(), y[:12].clone()


def _count_isfinite(monkeypatch, sample_shape: tuple[int, ...]) -> list[int]:
    """Counts ``torch.isfinite`` calls on input batches (weights are checked too, O(weights))."""
    calls = [0]
    real = torch.isfinite

    def counting(t):
        if tuple(t.shape[1:]) == sample_shape:
            calls[0] += 1
        return real(t)

    monkeypatch.setattr(torch, "isfinite", counting)
    return calls


def test_campaign_construction_does_not_scan_the_inputs(digits, monkeypatch):
    net, x, y = digits
    calls = _count_isfinite(monkeypatch, tuple(x.shape[1:]))
    for seed in range(3):  # a sweep: several campaigns over one test set
        Campaign(net, (x, y), seed=seed)
    assert calls[0] == 0


def test_nan_and_inf_inputs_are_refused_by_the_golden_pass(digits):
    net, x, y = digits
    for value, count in ((float("nan"), 1), (float("inf"), 2)):
        bad = x.clone()
        bad[3, 0, 1, 2, 4] = value
        if count == 2:
            bad[11, 0, 0, 0, 0] = -value
        cmpn = Campaign(net, (bad, y), batch_size=5)  # the bad samples sit in two different batches
        cmpn.exhaustive(DeadNeuron(), layers=["SF4"])
        with pytest.raises(DataError, match=rf"inputs hold {count} non-finite value\(s\) \(NaN or Inf\)"):
            cmpn.run(engine="parallel")
        with pytest.raises(DataError, match="non-finite"):
            cmpn.golden()
    assert Campaign(net, (x, y)).golden()["samples"] == 12  # the clean inputs still run


def test_dataset_tensors_scans_a_tensor_once_until_it_changes(digits, monkeypatch):
    _, x, y = digits
    x = x.clone()
    calls = _count_isfinite(monkeypatch, tuple(x.shape[1:]))
    dataset_tensors((x, y))
    first = calls[0]
    assert first >= 1
    for _ in range(3):
        dataset_tensors((x, y))
    assert calls[0] == first  # remembered
    x[2, 0, 0, 0, 0] = float("nan")  # an in-place change bumps the version counter
    with pytest.raises(DataError, match=r"inputs hold 1 non-finite value"):
        dataset_tensors((x, y))
    x[2, 0, 0, 0, 0] = 0.0
    view = x[:4]
    view[0, 0, 0, 0, 1] = float("inf")  # through a view: the version counter is shared
    with pytest.raises(DataError, match="non-finite"):
        dataset_tensors((x, y))
    assert getattr(view, training._FINITE_MARK, None) is None
