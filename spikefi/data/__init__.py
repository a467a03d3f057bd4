"""Datasets delivered as SLAYER spike tensors ``(2, H, W, T)``.

* :class:`SpikingDigits` - offline: scikit-learn's 8x8 digits recorded by a
  simulated event camera (no download, a few seconds to build).
* :class:`NMNIST` - N-MNIST read from a folder on disk (the original folder layout or
  slayerPytorch's sample-list layout).
* :class:`DVSGesture` - DVS128 Gesture read through the optional ``tonic`` package.
"""

from __future__ import annotations

from spikefi.data.digits import (
    SpikingDigits,
    generate_spiking_digits,
    load_spiking_digits,
    stratified_split,
)
from spikefi.data.gesture import (
    GESTURE_CLASSES,
    GESTURE_SENSOR_SIZE,
    DVSGesture,
    gesture_events_to_spike_tensor,
)
from spikefi.data.nmnist import NMNIST, NMNIST_DIR_ENV, NMNIST_SENSOR_SIZE, nmnist_root, read_sample_list

__all__ = [
    "SpikingDigits",
    "load_spiking_digits",
    "generate_spiking_digits",
    "stratified_split",
    "NMNIST",
    "NMNIST_SENSOR_SIZE",
    "NMNIST_DIR_ENV",
    "nmnist_root",
    "read_sample_list",
    "DVSGesture",
    "GESTURE_CLASSES",
    "GESTURE_SENSOR_SIZE",
    "gesture_events_to_spike_tensor",
]
