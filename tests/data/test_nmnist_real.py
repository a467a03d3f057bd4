"""spikefi.data.NMNIST on the real recordings of nmnist_small (SPIKEFI_NMNIST_DIR), in both
layouts: the sample-list layout as it is, and the original Train/Test folder layout written
from the same events with the project's writer."""

from __future__ import annotations

from pathlib import Path

import torch

from spikefi.campaign.spec import load_splits
from spikefi.data import NMNIST
from spikefi.snn.io import read_nmnist_binary, write_nmnist_binary

from ..nmnist_real import TEST_LIST, TRAIN_LIST, nmnist_dir


def test_sample_lists_of_the_real_folder() -> None:
    root = nmnist_dir()
    train = NMNIST(root, "train", sample_list=TRAIN_LIST)
    test = NMNIST(root, "test", sample_list=TEST_LIST)
    assert (len(train), len(test)) == (1000, 100)
    assert train.files[0].name == "1.bs2" and test.files[-1].name == "60100.bs2"
    assert test.targets[:4] == [7, 2, 1, 0]  # the first lines of test100.txt
    counts = torch.bincount(torch.tensor(train.targets), minlength=10)
    assert int(counts.min()) >= 80 and int(counts.sum()) == 1000
    spikes, label = test[0]
    assert label == 7 and spikes.shape == (2, 34, 34, 50) and spikes.dtype == torch.float32
    values = torch.unique(spikes)
    assert torch.equal(values, torch.tensor([0.0, 1.0 / 6.0]))
    # a real saccade recording: both polarities, spikes in every third of the 300 ms
    per_polarity = (spikes > 0).sum(dim=(1, 2, 3))
    assert int(per_polarity.min()) > 100
    per_bin = (spikes > 0).sum(dim=(0, 1, 2))
    assert all(int(per_bin[a:b].sum()) > 0 for a, b in ((0, 16), (16, 33), (33, 50)))
    _, test_split, label_text = load_splits({"name": "nmnist", "root": str(root), "train_list": TRAIN_LIST,
                                             "test_list": TEST_LIST})
    assert test_split.files == test.files and label_text.endswith("train1K.txt, test100.txt)")


def test_both_layouts_give_the_same_tensors(tmp_path: Path) -> None:
    root = nmnist_dir()
    listed = NMNIST(root, "test", sample_list=TEST_LIST)
    picks = [0, 1, 2, 3, 11]  # digits 7, 2, 1, 0 and one more
    folders = tmp_path / "NMNIST"
    for i in picks:
        source = listed.files[i]
        digit_dir = folders / "Test" / str(listed.targets[i])
        digit_dir.mkdir(parents=True, exist_ok=True)
        write_nmnist_binary(digit_dir / f"{source.stem}.bin", read_nmnist_binary(source))
        # the reader and writer round-trip a real recording byte for byte
        assert (digit_dir / f"{source.stem}.bin").read_bytes() == source.read_bytes()
    (folders / "Train" / "0").mkdir(parents=True)
    original = NMNIST(folders, "test")
    assert original.layout == "folders" and len(original) == len(picks)
    by_stem = {f.stem: k for k, f in enumerate(original.files)}
    for i in picks:
        k = by_stem[listed.files[i].stem]
        (a, label_a), (b, label_b) = listed[i], original[k]
        assert label_a == label_b and torch.equal(a, b)
