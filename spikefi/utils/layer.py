"""SpikeFI 1.3's ``spikefi.utils.layer`` (implemented in :mod:`spikefi.compat.layer`)."""

from ..compat.layer import LayersInfo

__all__ = ["LayersInfo"]
