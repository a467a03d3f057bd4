"""The defaults of a campaign's ``options:`` and ``data:`` sections (:class:`spikefi.campaign.CampaignSpec`).

Plain data in a module that imports nothing heavy, so that command-line entry points can build
their config defaults (and answer ``--help``) without importing PyTorch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_OPTIONS", "DEFAULT_DATA"]

DEFAULT_OPTIONS: dict[str, Any] = {
    "seed": 0,
    "batch_size": 64,
    "engine": "sequential",
    "chunk_size": 64,
    "early_stop_tolerance": 0.0,
    "quantization": None,
    "device": "cpu",
    "dtype": "float32",
    "check_model_card": True,
}
DEFAULT_DATA: dict[str, Any] = {"name": "spiking_digits", "seed": 0, "test_fraction": 0.2, "root": None,
                                "split": "test", "max_samples": None, "train_list": None, "test_list": None}
