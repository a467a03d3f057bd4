"""Tests of the offline spiking digits dataset (spikefi.data.digits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikefi.data import SpikingDigits, generate_spiking_digits, load_spiking_digits, stratified_split
from spikefi.data import digits as digits_module
from spikefi.errors import ConfigError, DTypeError

N_DIGITS = 1797
CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # sklearn's load_digits


@pytest.fixture(scope="module")
def splits() -> tuple[SpikingDigits, SpikingDigits]:
    return load_spiking_digits(seed=0)


def test_shapes_dtypes_and_attributes(splits) -> None:
    train, test = splits
    # round(0.2 * n) per class: 36+36+35+37+36+36+36+36+35+36 = 359 test samples.
    assert len(test) == 359 and len(train) == N_DIGITS - 359
    assert train.tensors.shape == (len(train), 2, 16, 16, 30)
    assert train.tensors.dtype == torch.float32
    assert train.labels.dtype == torch.int64 and train.labels.shape == (len(train),)
    assert train.input_shape == (2, 16, 16) and train.time_steps == 30 and train.sampling_time == 1.0
    assert train.classes == 10
    spikes, label = test[5]
    assert spikes.shape == (2, 16, 16, 30) and isinstance(label, int)
    assert torch.equal(spikes, test.tensors[5]) and label == int(test.labels[5])
    values = torch.unique(train.tensors)
    assert values.tolist() == [0.0, 1.0]


def test_split_is_disjoint_complete_and_stratified(splits) -> None:
    train, test = splits
    tr, te = set(train.indices.tolist()), set(test.indices.tolist())
    assert not tr & te
    assert tr | te == set(range(N_DIGITS))
    test_counts = torch.bincount(test.labels, minlength=10).tolist()
    train_counts = torch.bincount(train.labels, minlength=10).tolist()
    for n, k_test, k_train in zip(CLASS_COUNTS, test_counts, train_counts, strict=True):
        assert k_test == round(0.2 * n)
        assert k_train == n - k_test


def test_split_depends_on_seed_and_fraction() -> None:
    labels = np.repeat(np.arange(3), [10, 20, 30])
    tr0, te0 = stratified_split(labels, 0.3, seed=0)
    tr0b, te0b = stratified_split(labels, 0.3, seed=0)
    _, te1 = stratified_split(labels, 0.3, seed=1)
    assert np.array_equal(te0, te0b) and np.array_equal(tr0, tr0b)
    assert not np.array_equal(te0, te1)
    assert np.bincount(labels[te0]).tolist() == [3, 6, 9]
    # A class with one member still ends up in exactly one split.
    tr, te = stratified_split(np.array([0, 1, 1, 1]), 0.5, seed=0)
    assert sorted(tr.tolist() + te.tolist()) == [0, 1, 2, 3]


def test_spike_statistics_are_realistic(splits) -> None:
    train, _ = splits
    spikes = train.tensors
    density = (spikes != 0).float().mean().item()
    assert 0.01 < density < 0.08, density  # a few percent of (polarity, pixel, bin) slots
    on = (spikes[:, 1] != 0).sum().item()
    off = (spikes[:, 0] != 0).sum().item()
    # The saccades return to their start: brightening and darkening balance out.
    assert 0.8 < on / off < 1.25
    # Every time bin of every sample holds some activity on average; no sample is silent.
    assert (spikes != 0).sum(dim=(1, 2, 3, 4)).min().item() > 20
    assert ((spikes != 0).float().mean(dim=(0, 1, 2, 3)) > 0.002).all()


def _centroid(activity: torch.Tensor) -> tuple[float, float]:
    """Mean (row, column) of an (H, W) activity map."""
    rows = torch.arange(activity.shape[0], dtype=activity.dtype).view(-1, 1)
    cols = torch.arange(activity.shape[1], dtype=activity.dtype).view(1, -1)
    total = activity.sum()
    return float((activity * rows).sum() / total), float((activity * cols).sum() / total)


def test_polarities_follow_the_saccades(splits) -> None:
    # A bright digit on a dark canvas: its leading edge brightens pixels (ON), its
    # trailing edge darkens them (OFF). Saccade 1 (bins 0-9) moves down, saccade 2
    # (bins 10-19) moves up and right, saccade 3 (bins 20-29) moves left.
    active = (splits[0].tensors != 0).float()
    legs = {}
    for leg, bins in enumerate((slice(0, 10), slice(10, 20), slice(20, 30)), start=1):
        off = _centroid(active[:, 0, :, :, bins].sum(dim=(0, 3)))
        on = _centroid(active[:, 1, :, :, bins].sum(dim=(0, 3)))
        legs[leg] = (on, off)
    (on_y, _), (off_y, _) = legs[1]
    assert on_y > off_y + 2.0
    (on_y, on_x), (off_y, off_x) = legs[2]
    assert on_y < off_y - 2.0 and on_x > off_x + 1.0
    (_, on_x), (_, off_x) = legs[3]
    assert on_x < off_x - 2.0


def test_events_keep_digit_information(splits) -> None:
    from sklearn.linear_model import LogisticRegression

    train, test = splits
    x_train = (train.tensors != 0).sum(-1).reshape(len(train), -1).numpy()
    x_test = (test.tensors != 0).sum(-1).reshape(len(test), -1).numpy()
    clf = LogisticRegression(max_iter=1000).fit(x_train, train.labels.numpy())
    accuracy = clf.score(x_test, test.labels.numpy())
    assert accuracy > 0.85, accuracy


def test_sampling_time_and_dtype_scale_values(splits) -> None:
    train, _ = splits
    half = SpikingDigits("train", seed=0, sampling_time=2.0, dtype=torch.float64)
    assert half.tensors.dtype == torch.float64 and half.sampling_time == 2.0
    assert torch.equal(half.tensors, train.tensors.double() / 2.0)


def test_generation_is_deterministic_and_seed_dependent() -> None:
    small = dict(height=8, width=8, time_steps=6)
    first = generate_spiking_digits(3, **small)[0].clone()
    digits_module._generate_cached.cache_clear()  # force a real second generation
    again = generate_spiking_digits(3, **small)[0]
    other = generate_spiking_digits(4, **small)[0]
    assert first.shape == (N_DIGITS, 2, 8, 8, 6) and first.dtype == torch.bool
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    # Without sensor noise the seed no longer matters.
    quiet = dict(small, mismatch=0.0, noise_rate=0.0)
    assert torch.equal(generate_spiking_digits(3, **quiet)[0], generate_spiking_digits(4, **quiet)[0])


def test_train_and_test_share_one_generation() -> None:
    small = dict(height=8, width=8, time_steps=6)
    digits_module._generate_cached.cache_clear()
    load_spiking_digits(seed=7, **small)
    info = digits_module._generate_cached.cache_info()
    assert info.misses == 1 and info.hits == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(split="val"), ConfigError, r"split must be one of \['train', 'test'\], got 'val'"),
        (dict(test_fraction=0.0), ConfigError, r"test_fraction must be in \(0, 1\), got 0.0"),
        (dict(test_fraction=1), ConfigError, r"test_fraction must be in \(0, 1\), got 1"),
        (dict(test_fraction="x"), ConfigError, "test_fraction.*'x'"),
        (dict(height=0), ConfigError, "height must be an int >= 4, got 0"),
        (dict(width=3.5), ConfigError, "width must be an int >= 4, got 3.5"),
        (dict(time_steps=-1), ConfigError, "time_steps must be an int >= 3, got -1"),
        (dict(sampling_time=0), ConfigError, "sampling_time must be a positive finite number, got 0"),
        (dict(seed=-1), ConfigError, "seed must be a non-negative int, got -1"),
        (dict(dtype=torch.int64), DTypeError, "floating point torch dtype, got torch.int64"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        SpikingDigits(**kwargs)


def test_generator_rejects_bad_noise_settings() -> None:
    with pytest.raises(ConfigError, match="noise_rate must be in \\[0, 1\\), got 1.5"):
        generate_spiking_digits(noise_rate=1.5)
    with pytest.raises(ConfigError, match="mismatch must be a finite number >= 0, got -0.1"):
        generate_spiking_digits(mismatch=-0.1)
    with pytest.raises(ConfigError, match="contrast must be a positive finite number, got 0"):
        generate_spiking_digits(contrast=0)
