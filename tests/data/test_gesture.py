"""Tests of spikefi.data.gesture (tonic is not installed; a stand-in module is used)."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from spikefi.data import DVSGesture, gesture_events_to_spike_tensor
from spikefi.errors import ConfigError, DataError, DatasetNotFoundError, MissingDependencyError

# The structured dtype tonic uses for DVS Gesture events (t in microseconds).
TONIC_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])


def _nonzero(spikes: torch.Tensor) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in idx) for idx in torch.nonzero(spikes)}


# --------------------------------------------------------------------------- conversion


def test_conversion_of_structured_events() -> None:
    t0 = 2_000_000  # recording starts 2 s in
    events = np.array(
        [
            (10, 20, True, t0),  # bin 0
            (127, 0, False, t0 + 4_000),  # bin 1
            (127, 0, False, t0 + 7_999),  # bin 1 again: one spike
            (0, 127, True, t0 + 1_499_999),  # bin 374 (last)
            (5, 5, True, t0 + 1_500_000),  # bin 375: past the 1500 ms sample, dropped
        ],
        dtype=TONIC_DTYPE,
    )
    spikes = gesture_events_to_spike_tensor(events)
    assert spikes.shape == (2, 128, 128, 375) and spikes.dtype == torch.float32
    assert _nonzero(spikes) == {(1, 20, 10, 0), (0, 0, 127, 1), (1, 127, 0, 374)}
    assert torch.all(spikes[spikes != 0] == 0.25)
    # Without aligning to the first event, everything lies past 1500 ms.
    assert not gesture_events_to_spike_tensor(events, align_start=False).any()


def test_conversion_errors() -> None:
    outside = np.array([(128, 0, True, 0)], dtype=TONIC_DTYPE)
    with pytest.raises(DataError, match="x=128"):
        gesture_events_to_spike_tensor(outside)
    with pytest.raises(DataError, match="structured array"):
        gesture_events_to_spike_tensor(np.zeros((3, 4)))
    with pytest.raises(ConfigError, match="sampling_time"):
        gesture_events_to_spike_tensor(outside, sampling_time=0.0)


# --------------------------------------------------------------------------- missing tonic


def test_missing_tonic_raises_missing_dependency(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tonic", None)  # makes `import tonic` fail
    with pytest.raises(MissingDependencyError, match="pip install tonic"):
        DVSGesture(tmp_path)


def test_bad_split_raises_before_import(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tonic", None)
    with pytest.raises(ConfigError, match="'val'"):
        DVSGesture(tmp_path, split="val")


# --------------------------------------------------------------------------- with a tonic stand-in


class _FakeTonicGesture:
    """Mimics tonic.datasets.DVSGesture: folder from class name, download when files are missing."""

    download_calls = 0

    def __init__(self, save_to: str, train: bool = True, transform=None, target_transform=None) -> None:
        self.location_on_system = os.path.join(save_to, self.__class__.__name__)
        self.folder_name = "ibmGestureTrain" if train else "ibmGestureTest"
        self.filename = self.folder_name + ".tar.gz"
        self.data: list[str] = []
        self.targets: list[int] = []
        if not self._check_exists():
            self.download()
        for path, dirs, files in os.walk(os.path.join(self.location_on_system, self.folder_name)):
            dirs.sort()
            for file in sorted(files):
                if file.endswith(".npy"):
                    self.data.append(os.path.join(path, file))
                    self.targets.append(int(file[:-4]))

    def _check_exists(self) -> bool:
        archive = os.path.isfile(os.path.join(self.location_on_system, self.filename))
        folder = Path(self.location_on_system, self.folder_name)
        return archive and any(folder.glob("**/*.npy"))

    def download(self) -> None:
        type(self).download_calls += 1
        raise AssertionError("the stand-in must never be asked to download")

    def __getitem__(self, index: int):
        raw = np.load(self.data[index])  # columns x, y, p, t (ms), as in tonic's files
        events = np.zeros(len(raw), dtype=TONIC_DTYPE)
        for i, name in enumerate(("x", "y", "p")):
            events[name] = raw[:, i]
        events["t"] = raw[:, 3] * 1000
        return events, self.targets[index]

    def __len__(self) -> int:
        return len(self.data)


@pytest.fixture
def fake_tonic(monkeypatch: pytest.MonkeyPatch) -> type[_FakeTonicGesture]:
    fake_cls = type("DVSGesture", (_FakeTonicGesture,), {"download_calls": 0})
    module = types.ModuleType("tonic")
    module.datasets = types.SimpleNamespace(DVSGesture=fake_cls)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tonic", module)
    return fake_cls


def _make_split(root: Path, folder: str, samples: dict[str, np.ndarray], archive: bool = True) -> None:
    base = root / "DVSGesture"
    user = base / folder / "user01_fluorescent"
    user.mkdir(parents=True)
    for name, arr in samples.items():
        np.save(user / f"{name}.npy", arr)
    if archive:
        (base / f"{folder}.tar.gz").write_bytes(b"")


def test_dataset_through_tonic(fake_tonic, tmp_path: Path) -> None:
    samples = {
        "0": np.array([[3, 4, 1, 100.0], [3, 4, 0, 104.0], [6, 7, 1, 1700.0]]),  # t in ms
        "10": np.array([[1, 1, 1, 0.0]]),
        "4": np.array([[127, 127, 0, 50.0]]),
    }
    _make_split(tmp_path, "ibmGestureTrain", samples)
    ds = DVSGesture(tmp_path, split="train")
    assert len(ds) == 3 and ds.classes == 11 and ds.targets == [0, 10, 4]
    assert ds.input_shape == (2, 128, 128) and ds.time_steps == 375
    spikes, label = ds[0]
    assert label == 0 and spikes.shape == (2, 128, 128, 375)
    # Aligned to the first event (100 ms): 0 ms -> bin 0, 4 ms -> bin 1, 1600 ms -> dropped.
    assert _nonzero(spikes) == {(1, 4, 3, 0), (0, 4, 3, 1)}

    small = DVSGesture(
        tmp_path, exclude_other=True, sampling_time=1.0, sample_length_ms=2000.0, align_start=False
    )
    assert len(small) == 2 and small.classes == 10 and small.targets == [0, 4]
    assert "other_gestures" not in small.class_names
    spikes, label = small[1]
    assert label == 4 and spikes.shape == (2, 128, 128, 2000)
    assert _nonzero(spikes) == {(0, 127, 127, 50)}
    assert fake_tonic.download_calls == 0


def test_missing_files_raise_without_download(fake_tonic, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"ibmGestureTest.*never downloads"):
        DVSGesture(tmp_path, split="test")
    # Extracted files but no archive: tonic would download; spikefi refuses.
    _make_split(tmp_path, "ibmGestureTest", {"1": np.array([[0, 0, 1, 0.0]])}, archive=False)
    with pytest.raises(DatasetNotFoundError, match=r"ibmGestureTest\.tar\.gz.*never downloads"):
        DVSGesture(tmp_path, split="test")
    assert fake_tonic.download_calls == 0
