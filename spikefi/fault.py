"""SpikeFI 1.3's ``spikefi.fault`` (implemented in :mod:`spikefi.compat.faults`)."""

from .compat.faults import Fault, FaultModel, FaultRound, FaultSite, FaultTarget

__all__ = ["FaultSite", "FaultTarget", "FaultModel", "Fault", "FaultRound"]
