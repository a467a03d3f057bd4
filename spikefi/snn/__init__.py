"""SLAYER-compatible SRM spiking engine in pure PyTorch (CPU and CUDA).

Drop-in names for slayerPytorch users::

    import spikefi.snn as snn
    netParams = snn.params("network.yaml")
    slayer = snn.layer(netParams["neuron"], netParams["simulation"])
    error = snn.loss(netParams)
"""

from . import functional
from .io import Events, read_nmnist_binary, write_nmnist_binary
from .layer import ConvLayer, DelayLayer, DenseLayer, DropoutLayer, PoolLayer, layer
from .loss import Stats, learningStats, loss, predict, spike_counts, spikeClassifier
from .params import params
from .precision import allow_tf32, get_allow_tf32, set_allow_tf32, strict_fp32

__all__ = [
    "functional",
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
    "loss",
    "predict",
    "spike_counts",
    "spikeClassifier",
    "learningStats",
    "Stats",
    "set_allow_tf32",
    "get_allow_tf32",
    "allow_tf32",
    "strict_fp32",
]
