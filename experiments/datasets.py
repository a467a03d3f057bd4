"""Dataset selection for the entry points (``dataset:`` section of a config)."""

from __future__ import annotations

from spikefi.campaign.spec import load_splits as load_dataset

__all__ = ["load_dataset", "DATASETS"]

DATASETS = ("spiking_digits", "nmnist")
