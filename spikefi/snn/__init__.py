"""SLAYER-compatible SRM spiking engine in pure PyTorch (CPU and CUDA).

Drop-in names for slayerPytorch users (``import slayerSNN as snn`` becomes
``import spikefi.snn as snn``)::

    import spikefi.snn as snn
    netParams = snn.params("network.yaml")
    slayer = snn.layer(netParams["neuron"], netParams["simulation"])
    error = snn.loss(netParams)
    spikes = snn.io.read2Dspikes("1.bs2").toSpikeTensor(torch.zeros((2, 34, 34, 300)))
    label = snn.predict.getClass(output)
    stats = snn.utils.stats()           # = snn.learningStats()

``snn.loihi`` (slayerPytorch's Loihi neuron) is not supported: using it raises
:class:`~spikefi.errors.NotSupportedError`.
"""

from __future__ import annotations

from typing import Any

from ..errors import NotSupportedError
from . import functional, io, utils
from .io import Events, read_nmnist_binary, write_nmnist_binary
from .layer import ConvLayer, DelayLayer, DenseLayer, DropoutLayer, PoolLayer, PspFilter, PspLayer, layer
from .loss import loss, predict, spike_counts, spikeClassifier
from .params import params
from .paths import compute_path, get_compute_path, path_name, set_compute_path
from .precision import allow_tf32, get_allow_tf32, set_allow_tf32, strict_fp32
from .stats import learningStat, learningStats
from .utils import quantize

__all__ = [
    "functional",
    "io",
    "utils",
    "Events",
    "read_nmnist_binary",
    "write_nmnist_binary",
    "params",
    "layer",
    "DenseLayer",
    "ConvLayer",
    "PoolLayer",
    "DropoutLayer",
    "DelayLayer",
    "PspLayer",
    "PspFilter",
    "loss",
    "predict",
    "spike_counts",
    "spikeClassifier",
    "learningStats",
    "learningStat",
    "quantize",
    "set_allow_tf32",
    "get_allow_tf32",
    "allow_tf32",
    "strict_fp32",
    "compute_path",
    "set_compute_path",
    "get_compute_path",
    "path_name",
]

_LOIHI_MESSAGE = (
    "spikefi.snn.loihi (slayerPytorch's Loihi neuron: integer CUBA dynamics and 8-bit weight "
    "steps of Intel Loihi) is not supported; spikefi.snn provides the SRM neuron of snn.layer. "
    "For weights on a fixed grid use snn.quantize(w, step) as a layer's preHookFx."
)


def __getattr__(name: str) -> Any:
    """``snn.loihi`` raises :class:`NotSupportedError`; other unknown names an AttributeError."""
    if name == "loihi":
        raise NotSupportedError(_LOIHI_MESSAGE)
    raise AttributeError(f"module 'spikefi.snn' has no attribute {name!r}")
