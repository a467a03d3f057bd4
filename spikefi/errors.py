"""Exceptions raised by spikefi.

Every error a user can trigger with bad input is a :class:`SpikeFIError`. The
subclasses also derive from :class:`ValueError` (or :class:`TypeError`,
:class:`FileNotFoundError`) so generic handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "SpikeFIError",
    "ConfigError",
    "ShapeError",
    "DTypeError",
    "StateDictError",
    "DataError",
    "DatasetNotFoundError",
    "MissingDependencyError",
    "FaultSpecError",
    "FaultMapError",
    "SearchSpaceError",
    "FaultListMismatchError",
    "ArchitectureMismatchError",
    "NetworkDigestMismatchError",
    "NotSupportedError",
    "DeploymentFormatError",
]


class SpikeFIError(Exception):
    """Base class of every error spikefi raises on purpose."""


class ConfigError(SpikeFIError, ValueError):
    """A configuration (SLAYER yaml, campaign spec, ...) is missing a key or holds a bad value."""


class ShapeError(SpikeFIError, ValueError):
    """A tensor has the wrong rank or shape."""


class DTypeError(SpikeFIError, TypeError):
    """A tensor has a dtype the operation does not support."""


class StateDictError(SpikeFIError, ValueError):
    """A state_dict does not fit the architecture it is loaded into."""


class DataError(SpikeFIError, ValueError):
    """Input data (events, files, labels) is malformed."""


class DatasetNotFoundError(SpikeFIError, FileNotFoundError):
    """A dataset's files are not where the user said they are."""


class MissingDependencyError(SpikeFIError, ImportError):
    """An optional third-party package needed for this feature is not installed."""


class FaultSpecError(SpikeFIError, ValueError):
    """A fault, site or campaign specification is invalid."""


class FaultMapError(FaultSpecError):
    """A fault-map file is malformed or does not fit the network (layer, index, bit, stuck value)."""


class SearchSpaceError(ConfigError):
    """A fault search space (models, ranges, layers, k) is empty or inconsistent."""


class FaultListMismatchError(ConfigError):
    """A fault list (or its campaign result) was made for a network of another architecture."""


class ArchitectureMismatchError(ConfigError):
    """A test program is applied to a network of another architecture than it was made for."""


class NetworkDigestMismatchError(ConfigError):
    """A test program (or fault list) is used on a network whose weights differ from those it
    was made for (another canonical digest, :mod:`spikefi.digest`)."""


class NotSupportedError(SpikeFIError, NotImplementedError):
    """A feature of an API spikefi mirrors (slayerPytorch, SpikeFI 1.3) that spikefi does not provide."""


class DeploymentFormatError(ConfigError):
    """A deployment format (weight bits, scale, fixed-point widths, rounding, overflow) is invalid
    or does not fit the network (e.g. a threshold above the membrane format's range)."""
