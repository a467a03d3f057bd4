"""Dataset selection for the entry points (``dataset:`` section of a config)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spikefi.data import NMNIST, load_spiking_digits
from spikefi.errors import ConfigError

__all__ = ["load_dataset", "DATASETS"]

DATASETS = ("spiking_digits", "nmnist")


def load_dataset(spec: Mapping[str, Any]) -> tuple[Any, Any, str]:
    """``(train, test, description)`` for a ``dataset:`` config section."""
    name = spec.get("name")
    if name == "spiking_digits":
        train, test = load_spiking_digits(seed=int(spec.get("seed", 0)), test_fraction=float(spec.get("test_fraction", 0.2)))
        return train, test, f"spiking_digits(seed={spec.get('seed', 0)})"
    if name == "nmnist":
        root = spec.get("root")
        if not root:
            raise ConfigError("dataset 'nmnist' needs dataset.root: the N-MNIST folder with Train/ and Test/")
        return NMNIST(root, "train"), NMNIST(root, "test"), f"nmnist({root})"
    raise ConfigError(f"unknown dataset {name!r}; allowed: {list(DATASETS)}")
