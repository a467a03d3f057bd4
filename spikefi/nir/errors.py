"""Errors raised while importing a NIR graph.

All derive from :class:`spikefi.errors.ConfigError` (hence :class:`SpikeFIError` and
:class:`ValueError`); every message is one line naming the node and the value at fault.
"""

from __future__ import annotations

from ..errors import ConfigError, ShapeError

__all__ = [
    "NIRImportError",
    "NIRFileError",
    "UnsupportedNIRNodeError",
    "NIRTopologyError",
    "NIRParameterError",
    "NIRShapeError",
    "NIRConventionError",
]


class NIRImportError(ConfigError):
    """A NIR graph cannot be turned into a spikefi network."""


class NIRFileError(NIRImportError):
    """A file is not a readable NIR graph (not HDF5, truncated, HDF5 without NIR's layout, bad text)."""


class UnsupportedNIRNodeError(NIRImportError):
    """The graph holds a node type spikefi.nir does not simulate (yet)."""


class NIRTopologyError(NIRImportError):
    """The graph's edges are not a feed-forward chain (cycles, branches, dangling nodes)."""


class NIRParameterError(NIRImportError):
    """A node lacks a parameter or holds an invalid value (non-finite, non-positive time constant)."""


class NIRShapeError(NIRImportError, ShapeError):
    """A node's parameter or weight shape does not fit the shape flowing into it."""


class NIRConventionError(NIRImportError):
    """The time-step convention is unknown or cannot be detected from the graph's numbers."""
