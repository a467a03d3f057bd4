"""spikefi: reliability analysis of spiking neural networks.

The package core (``spikefi.snn``, ``spikefi.zoo``, ``spikefi.data``) imports neither
MLflow nor Optuna, so it runs on machines that have only PyTorch and NumPy. Those
subpackages are loaded on first use too: ``import spikefi`` (or ``spikefi.errors``) imports
no PyTorch, so command-line ``--help`` stays fast.

SpikeFI 1.3's top-level names (``spikefi.Campaign``, ``CampaignData``,
``CampaignOptimization``, ``ff``, ``fm``, ``visual``, ``utils``) are loaded on first use,
so ``import spikefi`` stays light (see :mod:`spikefi.compat`). They stay in ``__all__`` for
SpikeFI 1.3 scripts that do ``from spikefi import *``, but ``dir(spikefi)`` (and so tab
completion) lists the native API only, also once they (or the legacy modules ``core``,
``fault``, ``models``, ``visual``, ``utils``, ``compat``) have been imported. The native
campaign is :class:`spikefi.campaign.Campaign`; ``spikefi.Campaign`` is SpikeFI 1.3's, and
each names the other when called with the other's arguments.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import errors
from .errors import SpikeFIError

__version__ = "0.1.0"

__all__ = [
    "SpikeFIError",
    "data",
    "errors",
    "snn",
    "zoo",
    "__version__",
    "Campaign",
    "CampaignData",
    "CampaignOptimization",
    "ff",
    "fm",
    "visual",
    "utils",
]

#: SpikeFI 1.3 names: attribute -> (module, name in it or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "data": ("spikefi.data", None),
    "snn": ("spikefi.snn", None),
    "zoo": ("spikefi.zoo", None),
    "Campaign": ("spikefi.core", "Campaign"),
    "CampaignData": ("spikefi.core", "CampaignData"),
    "CampaignOptimization": ("spikefi.core", "CampaignOptimization"),
    "ff": ("spikefi.fault", None),
    "fm": ("spikefi.models", None),
    "visual": ("spikefi.visual", None),
    "utils": ("spikefi.utils", None),
}


def __getattr__(name: str) -> Any:
    """Load a SpikeFI 1.3 name on first use (PEP 562)."""
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'spikefi' has no attribute {name!r}")
    module = importlib.import_module(target[0])
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value
    return value


#: SpikeFI 1.3's names and modules: importable (and in ``__all__``), left out of ``dir()``
_LEGACY: frozenset[str] = frozenset({
    "Campaign", "CampaignData", "CampaignOptimization", "ff", "fm", "visual", "utils",
    "core", "fault", "models", "compat",
})
#: this module's own helpers, not part of the package's API
_HELPERS = frozenset({"annotations", "importlib", "Any"})


def __dir__() -> list[str]:
    """The native API: loaded names and lazy ones, without SpikeFI 1.3's (see ``_LEGACY``)."""
    return sorted((set(globals()) | set(_LAZY)) - _LEGACY - _HELPERS)
