"""SpikeFI 1.3's ``spikefi.utils``: ``io`` (output paths), ``quantization`` (affine
quantization arguments), ``layer`` (``LayersInfo``) and ``progress``."""

from . import io, layer, progress, quantization

__all__ = ["io", "layer", "progress", "quantization"]
