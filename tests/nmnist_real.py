"""The real N-MNIST recordings of ``../shared/nmnist_small`` for tests (never copied here).

The folder comes from ``SPIKEFI_NMNIST_DIR`` (default ``../shared/nmnist_small`` beside the
repository). Where it is absent the tests that need it are skipped with a message, or fail
when ``SPIKEFI_REQUIRE_NMNIST=1``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
NMNIST_DIR = Path(os.environ.get("SPIKEFI_NMNIST_DIR") or REPO.parent / "shared" / "nmnist_small")
REQUIRE_NMNIST = os.environ.get("SPIKEFI_REQUIRE_NMNIST", "0") == "1"
TRAIN_LIST, TEST_LIST = "train1K.txt", "test100.txt"


def nmnist_dir() -> Path:
    """The recordings' folder, or a skip (a failure under ``SPIKEFI_REQUIRE_NMNIST=1``)."""
    if not (NMNIST_DIR / TEST_LIST).is_file() or not (NMNIST_DIR / TRAIN_LIST).is_file():
        message = (f"real N-MNIST recordings absent: {NMNIST_DIR} holds no {TRAIN_LIST}/{TEST_LIST} (set "
                   "SPIKEFI_NMNIST_DIR to the nmnist_small folder of <id>.bs2 recordings and sample lists)")
        if REQUIRE_NMNIST:
            pytest.fail(message + " and SPIKEFI_REQUIRE_NMNIST=1 forbids skipping")
        pytest.skip(message)
    return NMNIST_DIR


@functools.lru_cache(maxsize=4)
def _load(root: str, split: str, sample_list: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    from spikefi.data import NMNIST

    ds = NMNIST(root, split, sample_list=sample_list)
    return torch.stack([ds[i][0] for i in range(n)]), torch.tensor(ds.targets[:n])


def recordings(split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` recordings of ``test100.txt`` or ``train1K.txt`` as ``(spikes, labels)``
    (read once per process)."""
    root = nmnist_dir()
    return _load(str(root), split, TEST_LIST if split == "test" else TRAIN_LIST, n)
