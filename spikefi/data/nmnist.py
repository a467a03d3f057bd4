"""N-MNIST (Orchard et al., 2015) read from a folder the user already has on disk.

Expected layout (as distributed, after unzipping ``Train.zip`` and ``Test.zip``)::

    root/
        Train/0/00002.bin, Train/0/00004.bin, ..., Train/9/...
        Test/0/00003.bin, ..., Test/9/...

Each ``.bin`` file holds one recording in the ATIS 40-bit event format (see
:func:`spikefi.snn.io.read_nmnist_binary`). Samples are binned into SLAYER spike
tensors ``(2, 34, 34, T)``; the defaults follow SpikeFI's ``nmnist.yaml``: bins of
``Ts = 6`` ms over a 300 ms sample, so ``T = 50``. Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Dataset

from spikefi.errors import ConfigError, DatasetNotFoundError, DTypeError
from spikefi.snn.io import num_time_bins, read_nmnist_binary

__all__ = ["NMNIST", "NMNIST_SENSOR_SIZE"]

#: Sensor size ``(height, width)`` of N-MNIST recordings.
NMNIST_SENSOR_SIZE: tuple[int, int] = (34, 34)

_SPLIT_FOLDERS = {"train": "Train", "test": "Test"}
_LAYOUT = "root/Train/<digit 0-9>/<id>.bin and root/Test/<digit 0-9>/<id>.bin"


def _sort_key(path: Path) -> tuple[int, int, str]:
    stem = path.stem
    return (0, int(stem), stem) if stem.isdigit() else (1, 0, stem)


class NMNIST(Dataset):
    """The N-MNIST dataset as SLAYER spike tensors.

    Attributes:
        root: The dataset folder.
        split: ``"train"`` or ``"test"``.
        files: The sample files, sorted by digit then by numeric id.
        targets: Label (digit) of each file.
        classes: Number of classes (10).
        input_shape: ``(2, 34, 34)``.
        time_steps: ``T = floor(sample_length_ms / sampling_time)``.
        sampling_time: ``Ts`` in ms.
        sample_length_ms: Length of a sample; later events are dropped.
    """

    classes: int = 10

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        sampling_time: float = 6.0,
        sample_length_ms: float = 300.0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """Index the split's files (they are read lazily in ``__getitem__``).

        Args:
            root: Folder holding ``Train/`` and ``Test/``.
            split: ``"train"`` or ``"test"``.
            sampling_time: Bin width ``Ts`` in ms.
            sample_length_ms: Sample length in ms.
            dtype: Floating point dtype of the tensors.

        Raises:
            ConfigError: If ``split``, ``sampling_time`` or ``sample_length_ms`` is invalid.
            DTypeError: If ``dtype`` is not a floating point dtype.
            DatasetNotFoundError: If the root or split folder is missing or holds no
                ``.bin`` file in a digit sub-folder.
        """
        if split not in _SPLIT_FOLDERS:
            raise ConfigError(f"split must be one of {sorted(_SPLIT_FOLDERS)}, got {split!r}")
        self.time_steps = num_time_bins(sample_length_ms, sampling_time)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise DTypeError(f"dtype must be a floating point torch dtype, got {dtype!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetNotFoundError(
                f"N-MNIST root folder {str(self.root)!r} does not exist; expected layout: {_LAYOUT}"
            )
        split_dir = self.root / _SPLIT_FOLDERS[split]
        if not split_dir.is_dir():
            raise DatasetNotFoundError(
                f"N-MNIST {split} split folder {str(split_dir)!r} does not exist; expected layout: {_LAYOUT}"
            )
        files: list[Path] = []
        targets: list[int] = []
        for digit in range(10):
            digit_dir = split_dir / str(digit)
            if not digit_dir.is_dir():
                continue
            found = sorted((f for f in digit_dir.glob("*.bin") if f.is_file()), key=_sort_key)
            files.extend(found)
            targets.extend([digit] * len(found))
        if not files:
            raise DatasetNotFoundError(
                f"N-MNIST {split} split folder {str(split_dir)!r} holds no .bin files in digit "
                f"sub-folders; expected layout: {_LAYOUT}"
            )
        self.split = split
        self.files = files
        self.targets = targets
        self.sampling_time = float(sampling_time)
        self.sample_length_ms = float(sample_length_ms)
        self.dtype = dtype
        self.input_shape: tuple[int, int, int] = (2, *NMNIST_SENSOR_SIZE)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """Read and bin sample ``index``.

        Returns:
            ``(spikes (2, 34, 34, T), label)``.

        Raises:
            DataError: If the file is corrupt or has events outside 34x34.
        """
        events = read_nmnist_binary(self.files[index])
        shape = (*self.input_shape, self.time_steps)
        spikes = events.to_spike_tensor(shape, self.sampling_time, self.dtype)
        return spikes, self.targets[index]

    def __repr__(self) -> str:
        return (
            f"NMNIST(root={str(self.root)!r}, split={self.split!r}, n={len(self)}, "
            f"time_steps={self.time_steps}, sampling_time={self.sampling_time})"
        )
