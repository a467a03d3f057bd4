"""Import NIR graphs (snnTorch, Norse, Sinabs, Rockpool, ... exports) as spikefi networks.

Every NIR 1.0 node type is read (see :data:`SUPPORTED_NODES`): dense, 1-D and 2-D
convolutional, pooling, flatten, scale and delay nodes, LIF/CubaLIF/IF/Threshold spiking
neurons, LI/CubaLI/I readouts and nested graphs that are chains; recurrent edges are refused.

Needs the optional extra ``spikefi[nir]`` (the ``nir`` package) to read ``.nir`` files;
``import spikefi`` never imports this package.

>>> from spikefi import nir as snir                             # doctest: +SKIP
>>> net = snir.load("model.nir")                                # convention and dt detected
>>> spikes = net(x)                                             # x: (N, C, H, W, T)
"""

from __future__ import annotations

from .errors import (
    NIRConventionError,
    NIRFileError,
    NIRImportError,
    NIRParameterError,
    NIRShapeError,
    NIRTopologyError,
    UnsupportedNIRNodeError,
)
from .loader import (
    CONVENTIONS,
    DEFAULT_DT,
    SUPPORTED_NODES,
    NIRNestedGraphError,
    NIRNetwork,
    detect_convention,
    flatten_nested,
    load,
    read_graph,
)
from .stages import (
    AffineStage,
    Conv2dStage,
    CubaLIFStage,
    CubaLIStage,
    DelayStage,
    IFStage,
    IntegratorStage,
    LIFStage,
    LIStage,
    NeuronStage,
    ScaleStage,
    ThresholdStage,
)
from .validate import LayerAgreement, ValidationReport, validate

__all__ = [
    "load",
    "validate",
    "read_graph",
    "detect_convention",
    "flatten_nested",
    "NIRNetwork",
    "CONVENTIONS",
    "DEFAULT_DT",
    "SUPPORTED_NODES",
    "AffineStage",
    "Conv2dStage",
    "ScaleStage",
    "DelayStage",
    "NeuronStage",
    "LIFStage",
    "CubaLIFStage",
    "IFStage",
    "ThresholdStage",
    "LIStage",
    "CubaLIStage",
    "IntegratorStage",
    "LayerAgreement",
    "ValidationReport",
    "NIRImportError",
    "NIRFileError",
    "UnsupportedNIRNodeError",
    "NIRTopologyError",
    "NIRParameterError",
    "NIRShapeError",
    "NIRConventionError",
    "NIRNestedGraphError",
]
