"""One-line errors for a ``Campaign`` called with the other API's arguments.

spikefi has two campaign classes: the native :class:`spikefi.campaign.Campaign` (``net,
dataset, *, batch_size=..., seed=..., ...``) and SpikeFI 1.3's ``spikefi.Campaign`` (``net,
shape_in, slayer``; :mod:`spikefi.compat.core`). Each checks here whether it was given the
other's arguments and, if so, names the other one instead of failing deep inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["NATIVE_CALL", "LEGACY_CALL", "refuse_legacy_call", "refuse_native_call", "looks_like_shape",
           "looks_like_data"]

NATIVE_CALL = "spikefi.campaign.Campaign(net, dataset, *, batch_size=..., seed=..., ...)"
LEGACY_CALL = "spikefi.Campaign(net, shape_in, slayer)"


def looks_like_shape(value: Any) -> bool:
    """A tuple, list or ``torch.Size`` of ints (an input shape such as ``(2, 34, 34)``)."""
    return (isinstance(value, (tuple, list)) and len(value) > 0
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value))


def looks_like_data(value: Any) -> bool:
    """A test set as the native campaign takes it: a dataset (``tensors``/``labels``, or
    map-style with ``__getitem__`` and ``__len__``), a data loader, or an ``(inputs, labels)``
    pair of arrays."""
    if isinstance(value, (str, bytes)) or looks_like_shape(value):
        return False
    if isinstance(value, (tuple, list)):
        return len(value) == 2 and all(hasattr(v, "shape") for v in value)
    if hasattr(value, "tensors") and hasattr(value, "labels"):
        return True
    if hasattr(value, "dataset") and hasattr(value, "__iter__"):  # a DataLoader
        return True
    return hasattr(value, "__getitem__") and hasattr(value, "__len__")


def _describe(value: Any) -> str:
    if looks_like_shape(value):
        return f"the shape {tuple(value)!r}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


def refuse_legacy_call(dataset: Any, extra: Sequence[Any]) -> None:
    """Native side: ``dataset`` an input shape or positional arguments after it (SpikeFI 1.3's
    ``slayer``, or options that are keyword-only here) raise :class:`ConfigError`."""
    if looks_like_shape(dataset):
        raise ConfigError(f"{NATIVE_CALL} got {_describe(dataset)} instead of a test set"
                          f"{' and ' + str(len(extra)) + ' more positional argument(s)' if extra else ''}: "
                          f"that is SpikeFI 1.3's {LEGACY_CALL}; pass a dataset or an (inputs, labels) tuple here")
    if extra:
        raise ConfigError(f"{NATIVE_CALL} takes 2 positional arguments (net, dataset), got {2 + len(extra)}: pass "
                          f"the options by keyword (batch_size=..., seed=...); SpikeFI 1.3's three-argument "
                          f"campaign is {LEGACY_CALL}")


def refuse_native_call(shape_in: Any) -> None:
    """SpikeFI 1.3 side: a test set where ``shape_in`` belongs raises :class:`ConfigError`
    naming the native campaign."""
    if looks_like_data(shape_in):
        raise ConfigError(f"{LEGACY_CALL} (SpikeFI 1.3) got {_describe(shape_in)} instead of shape_in (C, H, W): "
                          f"a campaign on a test set is {NATIVE_CALL}")
