"""N-MNIST (Orchard et al., 2015) read from a folder the user already has on disk.

Two layouts are read.

*Folder layout* (as distributed, after unzipping ``Train.zip`` and ``Test.zip``)::

    root/
        Train/0/00002.bin, Train/0/00004.bin, ..., Train/9/...
        Test/0/00003.bin, ..., Test/9/...

*Sample-list layout* (the one of slayerPytorch's N-MNIST examples, e.g. ``NMNISTsmall``):
one file per recording and a list of samples per split::

    root/
        1.bs2, 2.bs2, ..., 60001.bs2, ...
        train1K.txt          # "#sample #class" header, then one "<id> <label>" per line
        test100.txt

Pass ``sample_list="test100.txt"`` (a path relative to ``root``, or absolute) to read
the second layout. Every recording, ``.bin`` or ``.bs2``, holds the ATIS 40-bit event
format (see :func:`spikefi.snn.io.read_nmnist_binary`). ``root`` may be left out: it
then comes from the environment variable ``SPIKEFI_NMNIST_DIR``.

Samples are binned into SLAYER spike tensors ``(2, 34, 34, T)``; the defaults follow
SpikeFI's ``nmnist.yaml``: bins of ``Ts = 6`` ms over a 300 ms sample, so ``T = 50``.
Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Dataset

from spikefi.errors import ConfigError, DataError, DatasetNotFoundError, DTypeError
from spikefi.snn.io import num_time_bins, read_nmnist_binary

__all__ = ["NMNIST", "NMNIST_SENSOR_SIZE", "NMNIST_DIR_ENV", "nmnist_root", "read_sample_list"]

#: Sensor size ``(height, width)`` of N-MNIST recordings.
NMNIST_SENSOR_SIZE: tuple[int, int] = (34, 34)

#: Environment variable naming the N-MNIST folder when no ``root`` is given.
NMNIST_DIR_ENV: str = "SPIKEFI_NMNIST_DIR"

_SPLIT_FOLDERS = {"train": "Train", "test": "Test"}
_LAYOUT = (
    "root/Train/<digit 0-9>/<id>.bin and root/Test/<digit 0-9>/<id>.bin, or root/<id>.bs2 files "
    "with a '#sample #class' list file passed as sample_list"
)


def _sort_key(path: Path) -> tuple[int, int, str]:
    stem = path.stem
    return (0, int(stem), stem) if stem.isdigit() else (1, 0, stem)


def nmnist_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The N-MNIST folder: ``root`` when given, else ``$SPIKEFI_NMNIST_DIR``.

    Raises:
        ConfigError: If ``root`` is not given (``None`` or empty) and the environment
            variable is unset or empty.
    """
    if root is not None and str(root) != "":
        return Path(root)
    env = os.environ.get(NMNIST_DIR_ENV, "")
    if not env:
        raise ConfigError(
            f"N-MNIST needs a root folder: got root={root!r} and {NMNIST_DIR_ENV} is not set; pass root= "
            f"(data.root in a config) or set {NMNIST_DIR_ENV} to the folder ({_LAYOUT})"
        )
    return Path(env)


def read_sample_list(path: str | os.PathLike[str], classes: int = 10) -> list[tuple[int, int]]:
    """Read a sample list: ``(sample id, label)`` pairs in file order.

    The format is slayerPytorch's: an optional ``#sample #class`` header (lines starting
    with ``#`` are skipped, as are blank lines), then one ``<id> <label>`` per line,
    separated by spaces or tabs (``\\r\\n`` line ends are accepted).

    Args:
        path: The list file.
        classes: Labels must lie in ``[0, classes)``.

    Raises:
        DatasetNotFoundError: If the file does not exist.
        DataError: If a line is not two non-negative integers, a label is out of range,
            an id appears twice, or the list holds no sample.
    """
    file = Path(path)
    if not file.is_file():
        raise DatasetNotFoundError(f"N-MNIST sample list {str(file)!r} does not exist")
    pairs: list[tuple[int, int]] = []
    seen: set[int] = set()
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        if len(fields) != 2 or not all(f.isascii() and f.isdigit() for f in fields):
            raise DataError(
                f"{str(file)!r} line {number}: expected '<sample id> <label>' (two non-negative ints), got {text!r}"
            )
        sample, label = int(fields[0]), int(fields[1])
        if label >= classes:
            raise DataError(f"{str(file)!r} line {number}: label {label} is outside 0..{classes - 1}")
        if sample in seen:
            raise DataError(f"{str(file)!r} line {number}: sample id {sample} is listed twice")
        seen.add(sample)
        pairs.append((sample, label))
    if not pairs:
        raise DataError(f"N-MNIST sample list {str(file)!r} holds no '<sample id> <label>' line")
    return pairs


class NMNIST(Dataset):
    """The N-MNIST dataset as SLAYER spike tensors.

    Attributes:
        root: The dataset folder.
        split: ``"train"`` or ``"test"``.
        layout: ``"folders"`` (``Train/<digit>/<id>.bin``) or ``"sample_list"``.
        sample_list: The list file of the sample-list layout (``None`` for folders).
        files: The sample files: by digit then numeric id (folders), or in list order.
        targets: Label (digit) of each file.
        classes: Number of classes (10).
        input_shape: ``(2, 34, 34)``.
        time_steps: ``T = floor(sample_length_ms / sampling_time)``.
        sampling_time: ``Ts`` in ms.
        sample_length_ms: Length of a sample; later events are dropped.

    Example:
        >>> ds = NMNIST("NMNISTsmall", sample_list="test100.txt")   # doctest: +SKIP
        >>> spikes, label = ds[0]                                  # doctest: +SKIP
        >>> spikes.shape                                           # doctest: +SKIP
        torch.Size([2, 34, 34, 50])
    """

    classes: int = 10

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "train",
        sampling_time: float = 6.0,
        sample_length_ms: float = 300.0,
        dtype: torch.dtype = torch.float32,
        sample_list: str | os.PathLike[str] | None = None,
        extension: str = ".bs2",
    ) -> None:
        """Index the split's files (they are read lazily in ``__getitem__``).

        Args:
            root: Folder holding ``Train/`` and ``Test/``, or the ``<id>.bs2`` files and
                the sample lists; ``None``: ``$SPIKEFI_NMNIST_DIR``.
            split: ``"train"`` or ``"test"`` (a label only, in the sample-list layout).
            sampling_time: Bin width ``Ts`` in ms.
            sample_length_ms: Sample length in ms.
            dtype: Floating point dtype of the tensors.
            sample_list: The split's list file (relative to ``root`` or absolute);
                ``None`` reads the folder layout.
            extension: File name ending of the recordings of the sample-list layout.

        Raises:
            ConfigError: If ``split``, ``sampling_time``, ``sample_length_ms`` or
                ``extension`` is invalid, or no root is given nor set in the environment.
            DTypeError: If ``dtype`` is not a floating point dtype.
            DatasetNotFoundError: If the root, split folder, list or a listed recording
                is missing, or the split folder holds no ``.bin`` file in a digit sub-folder.
            DataError: If the sample list is malformed.
        """
        if split not in _SPLIT_FOLDERS:
            raise ConfigError(f"split must be one of {sorted(_SPLIT_FOLDERS)}, got {split!r}")
        self.time_steps = num_time_bins(sample_length_ms, sampling_time)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise DTypeError(f"dtype must be a floating point torch dtype, got {dtype!r}")
        if not isinstance(extension, str) or not extension.startswith(".") or len(extension) < 2:
            raise ConfigError(f"extension must be a file name ending such as '.bs2', got {extension!r}")
        self.root = nmnist_root(root)
        if not self.root.is_dir():
            raise DatasetNotFoundError(
                f"N-MNIST root folder {str(self.root)!r} does not exist; expected layout: {_LAYOUT}"
            )
        if sample_list is None:
            self.layout = "folders"
            self.sample_list: Path | None = None
            files, targets = self._index_folders(split)
        else:
            self.layout = "sample_list"
            listed = Path(sample_list)
            self.sample_list = listed if listed.is_absolute() else self.root / listed
            files, targets = self._index_list(self.sample_list, extension)
        self.split = split
        self.files = files
        self.targets = targets
        self.sampling_time = float(sampling_time)
        self.sample_length_ms = float(sample_length_ms)
        self.dtype = dtype
        self.input_shape: tuple[int, int, int] = (2, *NMNIST_SENSOR_SIZE)

    def _index_folders(self, split: str) -> tuple[list[Path], list[int]]:
        split_dir = self.root / _SPLIT_FOLDERS[split]
        if not split_dir.is_dir():
            lists = sorted(p.name for p in self.root.glob("*.txt"))
            hint = f" (this folder holds {lists}: pass one as sample_list)" if lists else ""
            raise DatasetNotFoundError(
                f"N-MNIST {split} split folder {str(split_dir)!r} does not exist{hint}; expected layout: {_LAYOUT}"
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
        return files, targets

    def _index_list(self, list_file: Path, extension: str) -> tuple[list[Path], list[int]]:
        pairs = read_sample_list(list_file, self.classes)
        files = [self.root / f"{sample}{extension}" for sample, _ in pairs]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"{len(missing)} of the {len(files)} recordings listed in {str(list_file)!r} are missing "
                f"from {str(self.root)!r}, first {missing[0].name!r}; expected layout: {_LAYOUT}"
            )
        return files, [label for _, label in pairs]

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
        where = f", sample_list={self.sample_list.name!r}" if self.sample_list is not None else ""
        return (
            f"NMNIST(root={str(self.root)!r}, split={self.split!r}{where}, n={len(self)}, "
            f"time_steps={self.time_steps}, sampling_time={self.sampling_time})"
        )
