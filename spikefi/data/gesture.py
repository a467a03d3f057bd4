"""DVS128 Gesture (Amir et al., 2017) through the optional ``tonic`` package.

``tonic`` is imported lazily, only when a :class:`DVSGesture` is built; install
it with ``pip install tonic``. spikefi never downloads the data: tonic's
preprocessed files must already be on disk, laid out as tonic expects::

    root/DVSGesture/ibmGestureTrain.tar.gz     (the archive; tonic checks it is present)
    root/DVSGesture/ibmGestureTrain/<user>/<label>.npy
    root/DVSGesture/ibmGestureTest.tar.gz
    root/DVSGesture/ibmGestureTest/<user>/<label>.npy

Samples are binned into SLAYER spike tensors ``(2, 128, 128, T)``; the defaults
follow SpikeFI's ``gesture.yaml``: bins of ``Ts = 4`` ms over a 1500 ms sample
(``T = 375``).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from spikefi.errors import ConfigError, DatasetNotFoundError, DTypeError, MissingDependencyError
from spikefi.snn.io import Events, num_time_bins

__all__ = [
    "DVSGesture",
    "GESTURE_CLASSES",
    "GESTURE_SENSOR_SIZE",
    "gesture_events_to_spike_tensor",
]

#: Sensor size ``(height, width)`` of the DVS128 camera.
GESTURE_SENSOR_SIZE: tuple[int, int] = (128, 128)

#: Class names, in label order; label 10 is the "other gestures" class.
GESTURE_CLASSES: tuple[str, ...] = (
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
)
_OTHER_LABEL = 10

_SPLIT_FOLDERS = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}
_TONIC_SUBDIR = "DVSGesture"  # tonic stores the data under save_to/<class name>


def gesture_events_to_spike_tensor(
    events: np.ndarray,
    sampling_time: float = 4.0,
    sample_length_ms: float = 1500.0,
    sensor_size: tuple[int, int] = GESTURE_SENSOR_SIZE,
    align_start: bool = True,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Bin a tonic-style structured event array into a SLAYER spike tensor.

    Args:
        events: Structured array with fields ``x``, ``y``, ``p`` (bool or 0/1) and
            ``t`` (microseconds), as returned by ``tonic.datasets.DVSGesture``.
        sampling_time: Bin width ``Ts`` in ms.
        sample_length_ms: Sample length in ms; later events are dropped.
        sensor_size: ``(height, width)`` of the sensor.
        align_start: Measure time from the sample's first event (so recordings whose
            timestamps do not start near 0 are not cut away).
        dtype: Floating point dtype of the tensor.

    Returns:
        Spike tensor ``(2, height, width, T)`` with ``T = floor(sample_length_ms / Ts)``.

    Raises:
        DataError: If a field is missing or an event lies outside ``sensor_size``.
        ConfigError: If the timing arguments are invalid.
    """
    n_bins = num_time_bins(sample_length_ms, sampling_time)
    ev = Events.from_structured(events, time_unit="us")
    if align_start and len(ev):
        ev = ev.shifted(float(ev.t.min()))
    height, width = (int(s) for s in sensor_size)
    return ev.to_spike_tensor((2, height, width, n_bins), sampling_time, dtype)


def _import_tonic() -> Any:
    try:
        return importlib.import_module("tonic")
    except ImportError as exc:
        raise MissingDependencyError(
            "DVSGesture needs the optional package 'tonic', which is not importable "
            f"({exc}); install it with: pip install tonic"
        ) from exc


def _refuse_download(self: Any) -> None:
    folder = Path(self.location_on_system)
    raise DatasetNotFoundError(
        f"tonic did not find the DVS Gesture archive {str(folder / self.filename)!r} next to the "
        f"extracted files and would download it; spikefi never downloads. Put "
        f"{self.filename} in {str(folder)!r} (tonic checks it is present)."
    )


class DVSGesture(Dataset):
    """DVS128 Gesture as SLAYER spike tensors, read through ``tonic``.

    Attributes:
        root: The folder passed to tonic as ``save_to``.
        split: ``"train"`` or ``"test"``.
        exclude_other: Whether the "other gestures" class (label 10) is left out.
        classes: Number of classes: 11, or 10 with ``exclude_other``.
        class_names: Names of the classes, in label order.
        input_shape: ``(2, 128, 128)``.
        time_steps: ``T = floor(sample_length_ms / sampling_time)``.
        sampling_time: ``Ts`` in ms.
        sample_length_ms: Sample length in ms; later events are dropped.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        sampling_time: float = 4.0,
        sample_length_ms: float = 1500.0,
        exclude_other: bool = False,
        align_start: bool = True,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """Open the split with tonic, never downloading.

        Args:
            root: Folder holding ``DVSGesture/`` (tonic's ``save_to``).
            split: ``"train"`` or ``"test"``.
            sampling_time: Bin width ``Ts`` in ms.
            sample_length_ms: Sample length in ms.
            exclude_other: Leave out the "other gestures" class (11 -> 10 classes).
            align_start: Measure time from each sample's first event.
            dtype: Floating point dtype of the tensors.

        Raises:
            MissingDependencyError: If ``tonic`` is not installed.
            ConfigError: If ``split`` or a timing argument is invalid.
            DTypeError: If ``dtype`` is not a floating point dtype.
            DatasetNotFoundError: If the split's files are not on disk.
        """
        if split not in _SPLIT_FOLDERS:
            raise ConfigError(f"split must be one of {sorted(_SPLIT_FOLDERS)}, got {split!r}")
        self.time_steps = num_time_bins(sample_length_ms, sampling_time)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise DTypeError(f"dtype must be a floating point torch dtype, got {dtype!r}")
        tonic = _import_tonic()

        self.root = Path(root)
        split_dir = self.root / _TONIC_SUBDIR / _SPLIT_FOLDERS[split]
        if not split_dir.is_dir() or next(split_dir.rglob("*.npy"), None) is None:
            raise DatasetNotFoundError(
                f"DVS Gesture {split} files not found: expected tonic's preprocessed .npy files under "
                f"{str(split_dir)!r} (layout {_SPLIT_FOLDERS[split]}/<user>/<label>.npy, plus the archive "
                f"{_SPLIT_FOLDERS[split]}.tar.gz in {str(split_dir.parent)!r}); spikefi never downloads, "
                "fetch and extract them yourself"
            )
        # Same class name as tonic's (tonic derives its folder from it), but a
        # download() that raises instead of fetching anything.
        base = tonic.datasets.DVSGesture
        local_only = type(base.__name__, (base,), {"download": _refuse_download})
        self._tonic = local_only(save_to=str(self.root), train=(split == "train"))

        targets = [int(t) for t in self._tonic.targets]
        keep = [i for i, t in enumerate(targets) if not (exclude_other and t == _OTHER_LABEL)]
        self._index = keep
        self.targets = [targets[i] for i in keep]
        self.split = split
        self.exclude_other = bool(exclude_other)
        self.align_start = bool(align_start)
        self.class_names = GESTURE_CLASSES[:_OTHER_LABEL] if exclude_other else GESTURE_CLASSES
        self.classes = len(self.class_names)
        self.sampling_time = float(sampling_time)
        self.sample_length_ms = float(sample_length_ms)
        self.dtype = dtype
        self.input_shape: tuple[int, int, int] = (2, *GESTURE_SENSOR_SIZE)

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """Load and bin sample ``index``.

        Returns:
            ``(spikes (2, 128, 128, T), label)``.
        """
        events, target = self._tonic[self._index[index]]
        spikes = gesture_events_to_spike_tensor(
            events,
            sampling_time=self.sampling_time,
            sample_length_ms=self.sample_length_ms,
            sensor_size=GESTURE_SENSOR_SIZE,
            align_start=self.align_start,
            dtype=self.dtype,
        )
        return spikes, int(target)

    def __repr__(self) -> str:
        return (
            f"DVSGesture(root={str(self.root)!r}, split={self.split!r}, n={len(self)}, "
            f"classes={self.classes}, time_steps={self.time_steps}, sampling_time={self.sampling_time})"
        )
