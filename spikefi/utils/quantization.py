"""SpikeFI 1.3's ``spikefi.utils.quantization`` (implemented in :mod:`spikefi.compat.quantization`)."""

from ..compat.quantization import qargs_exact, qargs_from_range, qargs_from_tensor, qargs_precision, qiinfo

__all__ = ["qiinfo", "qargs_exact", "qargs_precision", "qargs_from_range", "qargs_from_tensor"]
