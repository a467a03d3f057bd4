"""Fixtures of the slayerPytorch drop-in tests: the real N-MNIST recordings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def nmnist_small_dir() -> Path:
    """``$SPIKEFI_NMNIST_DIR`` or ``../shared/nmnist_small`` beside the repository."""
    return Path(os.environ.get("SPIKEFI_NMNIST_DIR") or REPO.parent / "shared" / "nmnist_small")


@pytest.fixture(scope="session")
def nmnist_dir() -> Path:
    """The folder of real N-MNIST recordings (``<id>.bs2``, ``train1K.txt``, ``test100.txt``);
    skips with a message where it is absent."""
    root = nmnist_small_dir()
    if not (root / "train1K.txt").is_file():
        pytest.skip(
            f"real N-MNIST recordings not found at {root} (set SPIKEFI_NMNIST_DIR to a folder "
            "holding <id>.bs2 files and train1K.txt / test100.txt)"
        )
    return root
