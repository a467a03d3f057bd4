"""spikefi: reliability analysis of spiking neural networks.

The package core (``spikefi.snn``, ``spikefi.zoo``, ``spikefi.data``) imports neither
MLflow nor Optuna, so it runs on machines that have only PyTorch and NumPy.
"""

from . import data, errors, snn, zoo
from .errors import SpikeFIError

__version__ = "0.1.0"

__all__ = ["SpikeFIError", "data", "errors", "snn", "zoo", "__version__"]
