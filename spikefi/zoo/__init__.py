"""Model zoo: SLAYER architectures (digits, SpikeFI's N-MNIST and DVS Gesture nets)."""

from .architectures import (
    ARCHITECTURES,
    LayerSpec,
    SpikingNetwork,
    available,
    build,
    config_path,
    load_config,
)

__all__ = [
    "ARCHITECTURES",
    "LayerSpec",
    "SpikingNetwork",
    "available",
    "build",
    "config_path",
    "load_config",
]
