"""NMNIST's sample-list layout, the SPIKEFI_NMNIST_DIR fallback and the ``data:`` section
checks, on miniature folders written in tmp_path (no real recordings needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spikefi.campaign.spec import CampaignSpec, load_splits
from spikefi.data import NMNIST, NMNIST_DIR_ENV, nmnist_root, read_sample_list
from spikefi.errors import ConfigError, DataError, DatasetNotFoundError
from spikefi.snn.io import Events, write_nmnist_binary

NMNIST_DATA = {"name": "nmnist", "train_list": "train.txt", "test_list": "test.txt"}


@pytest.fixture
def list_root(tmp_path: Path) -> Path:
    root = tmp_path / "small"
    root.mkdir()
    write_nmnist_binary(root / "7.bs2", Events([3], [4], [1], [13.0]))
    write_nmnist_binary(root / "2.bs2", Events([0, 33], [0, 33], [0, 1], [0.0, 299.0]))
    write_nmnist_binary(root / "60001.bs2", Events([5], [6], [0], [100.0]))
    (root / "train.txt").write_text("#sample #class\r\n7\t3\r\n2\t9\r\n\r\n")
    (root / "test.txt").write_text("#sample #class\n60001 1\n")
    return root


def test_sample_list_layout_in_list_order(list_root: Path) -> None:
    ds = NMNIST(list_root, "train", sample_list="train.txt")
    assert ds.layout == "sample_list" and [f.name for f in ds.files] == ["7.bs2", "2.bs2"]
    assert ds.targets == [3, 9] and len(ds) == 2
    spikes, label = ds[0]
    assert label == 3 and spikes.shape == (2, 34, 34, 50)
    assert torch.nonzero(spikes).tolist() == [[1, 4, 3, 2]]  # y=4, x=3, ON, 13 ms -> bin 2
    test = NMNIST(list_root, "test", sample_list=list_root / "test.txt")  # an absolute list path
    assert test.targets == [1] and "sample_list='test.txt'" in repr(test)


def test_root_from_environment(list_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NMNIST_DIR_ENV, str(list_root))
    assert nmnist_root(None) == list_root and nmnist_root("") == list_root
    assert NMNIST(sample_list="test.txt", split="test").root == list_root
    assert nmnist_root("elsewhere") == Path("elsewhere")
    monkeypatch.delenv(NMNIST_DIR_ENV)
    with pytest.raises(ConfigError, match=r"root=None and SPIKEFI_NMNIST_DIR is not set"):
        NMNIST(sample_list="test.txt")


def test_bad_sample_lists(tmp_path: Path, list_root: Path) -> None:
    bad = tmp_path / "bad.txt"
    for text, message in [
        ("#sample #class\n7 3 1\n", r"line 2: expected '<sample id> <label>'.*'7 3 1'"),
        ("7 x\n", r"line 1: expected .*'7 x'"),
        ("7 -3\n", r"line 1: expected"),
        ("7 10\n", r"line 1: label 10 is outside 0\.\.9"),
        ("7 1\n7 2\n", r"line 2: sample id 7 is listed twice"),
        ("#sample #class\n\n", r"holds no '<sample id> <label>' line"),
    ]:
        bad.write_text(text)
        with pytest.raises(DataError, match=message):
            read_sample_list(bad)
    with pytest.raises(DatasetNotFoundError, match=r"sample list .*nolist\.txt.* does not exist"):
        NMNIST(list_root, sample_list="nolist.txt")
    (list_root / "more.txt").write_text("7 3\n8 1\n9 1\n")
    with pytest.raises(DatasetNotFoundError, match=r"2 of the 3 recordings listed in .*more\.txt.* first '8\.bs2'"):
        NMNIST(list_root, sample_list="more.txt")
    with pytest.raises(ConfigError, match=r"extension must be .*got 'bs2'"):
        NMNIST(list_root, sample_list="test.txt", extension="bs2")


def test_folder_layout_error_points_to_sample_lists(list_root: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"Train.* does not exist \(this folder holds \['test\.txt', "
                                                   r"'train\.txt'\]: pass one as sample_list\)"):
        NMNIST(list_root)


def test_spec_data_section(list_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, test, label = load_splits({**NMNIST_DATA, "root": str(list_root)})
    assert (len(train), len(test)) == (2, 1) and test.targets == [1]
    assert label == f"nmnist({list_root}, train.txt, test.txt)"
    monkeypatch.setenv(NMNIST_DIR_ENV, str(list_root))
    _, test, _ = load_splits({**NMNIST_DATA, "root": None})
    assert test.root == list_root
    monkeypatch.delenv(NMNIST_DIR_ENV)
    with pytest.raises(ConfigError, match="SPIKEFI_NMNIST_DIR is not set"):
        load_splits({**NMNIST_DATA, "root": None})
    net = {"pretrained": "nmnist_cnn"}
    for data, message in [
        ({"name": "nmnist", "test_list": "test.txt"}, r"train_list and data.test_list go together.*test_list='test.txt'"),
        ({"name": "spiking_digits", "train_list": "a", "test_list": "b"}, r"train_list is for the N-MNIST.*'spiking_digits'"),
        ({**NMNIST_DATA, "test_list": 3}, r"data.test_list must be a sample list file name.*got 3"),
        ({**NMNIST_DATA, "root": ["a"]}, r"data.root must be a folder path or null, got \['a'\]"),
    ]:
        with pytest.raises(ConfigError, match=message):
            CampaignSpec(network=net, data=data, exhaustive=[{"model": "DeadNeuron", "layers": ["SF4b"]}])
