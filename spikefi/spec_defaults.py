"""The defaults of a campaign's ``options:`` and ``data:`` sections (:class:`spikefi.campaign.CampaignSpec`).

Plain data in a module that imports nothing heavy, so that command-line entry points can build
their config defaults (and answer ``--help``) without importing PyTorch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_OPTIONS", "DEFAULT_DATA", "FAULT_MODEL_NAMES", "ENGINE_NAMES", "DATASET_NAMES", "NETWORK_KEY_NAMES"]

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

# Static copies of names defined where PyTorch is imported, so that entry points check a config
# (and suggest the name meant) before importing it; tests/experiments/test_issue27_fast_errors.py
# checks that they equal the real ones.
#: the built-in fault models (``spikefi.faults.models.model_registry``) and ``RandomModel``
FAULT_MODEL_NAMES: tuple[str, ...] = (
    "BiasShift", "BitFlipSynapse", "DeadNeuron", "DeadSynapse", "FloatBitFlipSynapse", "LeakFault", "MembraneBitFlip",
    "NeuronDrift", "NoReset", "ParametricNeuron", "PerturbedSynapse", "SaturatedNeuron", "SaturatedSynapse",
    "StuckNeuron", "StuckSynapse", "StuckBitSynapse", "FaultMap", "AdjacentBitUpset", "SoftErrors",
    "Float32SoftErrors", "Float32AdjacentBitUpset", "MembraneUpset", "RefractoryUpset", "StateSoftErrors",
    "AnalogDevices", "AnalogLayer",
    "RandomModel")
#: the campaign engines (``spikefi.campaign.spec.ENGINES``)
ENGINE_NAMES: tuple[str, ...] = ("naive", "parallel", "sequential")
#: the datasets a ``data:`` section names (``spikefi.campaign.spec.load_splits``)
DATASET_NAMES: tuple[str, ...] = ("spiking_digits", "nmnist")
#: the keys of a ``network:`` section (``spikefi.campaign.spec.NETWORK_KEYS``)
NETWORK_KEY_NAMES: tuple[str, ...] = ("pretrained", "path", "factory", "weights", "nir", "dt", "convention", "reset",
                                      "readout", "reset_delay")
