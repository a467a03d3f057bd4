"""Tests of spikefi.data.NMNIST on a miniature N-MNIST folder written in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spikefi.data import NMNIST
from spikefi.errors import ConfigError, DataError, DatasetNotFoundError, DTypeError
from spikefi.snn.io import Events, write_nmnist_binary


def _write(root: Path, split: str, digit: int, name: str, events: Events) -> None:
    folder = root / split / str(digit)
    folder.mkdir(parents=True, exist_ok=True)
    write_nmnist_binary(folder / name, events)


@pytest.fixture
def nmnist_root(tmp_path: Path) -> Path:
    root = tmp_path / "NMNIST"
    # Train: digit 3 (two files, numeric order 2 < 10), digit 7 (one file).
    _write(root, "Train", 3, "10.bin", Events([1], [2], [1], [0.0]))
    _write(root, "Train", 3, "2.bin", Events([33, 33], [33, 0], [0, 1], [12.0, 17.999]))
    _write(root, "Train", 7, "5.bin", Events([4, 4, 4], [5, 5, 5], [1, 1, 0], [299.999, 300.0, 150.0]))
    (root / "Train" / "7" / "notes.txt").write_text("not a sample")
    _write(root, "Test", 0, "1.bin", Events([0], [0], [0], [6.0]))
    return root


def test_train_split_indexes_files_in_order(nmnist_root: Path) -> None:
    ds = NMNIST(nmnist_root)
    assert len(ds) == 3
    assert [f.name for f in ds.files] == ["2.bin", "10.bin", "5.bin"]
    assert ds.targets == [3, 3, 7]
    assert ds.input_shape == (2, 34, 34)
    assert ds.time_steps == 50 and ds.sampling_time == 6.0 and ds.classes == 10


def test_samples_hold_spikes_at_expected_bins(nmnist_root: Path) -> None:
    ds = NMNIST(nmnist_root, split="train")
    spikes, label = ds[0]
    assert label == 3
    assert spikes.shape == (2, 34, 34, 50) and spikes.dtype == torch.float32
    # t = 12 ms -> bin 2; t = 17.999 ms -> bin 2.
    expected = torch.zeros(2, 34, 34, 50)
    expected[0, 33, 33, 2] = 1.0 / 6.0
    expected[1, 0, 33, 2] = 1.0 / 6.0
    assert torch.equal(spikes, expected)

    spikes, label = ds[2]
    assert label == 7
    nz = {tuple(int(v) for v in i) for i in torch.nonzero(spikes)}
    # 299.999 ms -> bin 49; 300.0 ms is past the 300 ms sample: dropped; 150 ms -> bin 25.
    assert nz == {(1, 5, 4, 49), (0, 5, 4, 25)}


def test_test_split_and_custom_timing(nmnist_root: Path) -> None:
    ds = NMNIST(nmnist_root, split="test", sampling_time=1.0, sample_length_ms=10.0, dtype=torch.float64)
    assert len(ds) == 1 and ds.time_steps == 10
    spikes, label = ds[0]
    assert label == 0 and spikes.dtype == torch.float64
    assert torch.nonzero(spikes).tolist() == [[0, 0, 0, 6]]
    assert spikes[0, 0, 0, 6].item() == 1.0


def test_missing_folders_raise_with_layout(tmp_path: Path, nmnist_root: Path) -> None:
    with pytest.raises(
        DatasetNotFoundError, match=r"root folder .*nowhere.* does not exist; expected layout: root/Train"
    ):
        NMNIST(tmp_path / "nowhere")
    (nmnist_root / "Test" / "0" / "1.bin").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"test split folder .*Test.* holds no \.bin files"):
        NMNIST(nmnist_root, split="test")
    only_train = tmp_path / "only_train"
    (only_train / "Train" / "1").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match=r"test split folder .*Test.* does not exist"):
        NMNIST(only_train, split="test")


def test_bad_arguments_raise(nmnist_root: Path) -> None:
    with pytest.raises(ConfigError, match="'validation'"):
        NMNIST(nmnist_root, split="validation")
    with pytest.raises(ConfigError, match="sampling_time.*-6"):
        NMNIST(nmnist_root, sampling_time=-6)
    with pytest.raises(DTypeError, match="torch.int32"):
        NMNIST(nmnist_root, dtype=torch.int32)


def test_event_outside_34x34_raises_on_access(tmp_path: Path) -> None:
    _write(tmp_path, "Train", 1, "1.bin", Events([40], [0], [1], [0.0]))
    ds = NMNIST(tmp_path)
    with pytest.raises(DataError, match="x=40"):
        ds[0]
