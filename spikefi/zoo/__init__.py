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
from .serialization import (
    SCHEMA_VERSION,
    load_network,
    load_pretrained,
    model_card,
    pretrained_path,
    save_network,
)

__all__ = [
    "SCHEMA_VERSION",
    "load_network",
    "load_pretrained",
    "model_card",
    "pretrained_path",
    "save_network",
    "ARCHITECTURES",
    "LayerSpec",
    "SpikingNetwork",
    "available",
    "build",
    "config_path",
    "load_config",
]
