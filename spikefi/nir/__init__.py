"""Import NIR graphs (snnTorch, Norse, Sinabs, Rockpool, ... exports) as spikefi networks.

Needs the optional extra ``spikefi[nir]`` (the ``nir`` package) to read ``.nir`` files;
``import spikefi`` never imports this package.

>>> from spikefi import nir as snir                             # doctest: +SKIP
>>> net = snir.load("model.nir")                                # convention and dt detected
>>> spikes = net(x)                                             # x: (N, C, H, W, T)
"""

from __future__ import annotations

from .errors import (
    NIRConventionError,
    NIRImportError,
    NIRParameterError,
    NIRShapeError,
    NIRTopologyError,
    UnsupportedNIRNodeError,
)
from .loader import CONVENTIONS, DEFAULT_DT, SUPPORTED_NODES, NIRNetwork, detect_convention, load, read_graph
from .stages import AffineStage, CubaLIFStage, IFStage, LIFStage, LIStage, NeuronStage
from .validate import LayerAgreement, ValidationReport, validate

__all__ = [
    "load",
    "validate",
    "read_graph",
    "detect_convention",
    "NIRNetwork",
    "CONVENTIONS",
    "DEFAULT_DT",
    "SUPPORTED_NODES",
    "AffineStage",
    "NeuronStage",
    "LIFStage",
    "CubaLIFStage",
    "IFStage",
    "LIStage",
    "LayerAgreement",
    "ValidationReport",
    "NIRImportError",
    "UnsupportedNIRNodeError",
    "NIRTopologyError",
    "NIRParameterError",
    "NIRShapeError",
    "NIRConventionError",
]
