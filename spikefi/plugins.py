"""User code named in configs: one rule for every kind of plugin (fault models, network factories).

A config can name user code in two ways:

1. **A dotted path** (``my_package.my_module.MyModel`` or ``my_package.my_module:MyModel``),
   honoured only where the user gives it directly: their own config file, ``--set``, a
   ``--fault`` option, or a Python call. The module is imported and the object is checked
   right after the import (a fault model must be a ``FaultModel`` subclass, a factory
   callable) before anything uses it.
2. **A registered name**, declared by an installed package through a Python entry point::

       # pyproject.toml of the package providing the model
       [project.entry-points."spikefi.fault_models"]
       HalfNeuron = "my_package.models:HalfNeuron"

   A registered name works everywhere, also in specs read back from stored results and
   tracked runs (campaign tables, search trials, run artifacts). Those specs never import
   anything by dotted path: what the store says is data, not code to run. A model there
   that is neither built in nor registered is refused with a message saying how to
   register it.

:func:`load_object` applies the rule; :func:`registered_name` gives the registered name of
an object (so specs are written back under it).
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from .errors import ConfigError, SpikeFIError

__all__ = ["FAULT_MODELS_GROUP", "load_object", "registered", "registered_name"]

#: entry-point group of fault models provided by installed packages
FAULT_MODELS_GROUP = "spikefi.fault_models"


@functools.lru_cache(maxsize=32)
def _entry_points(group: str, path: tuple[str, ...]) -> dict[str, metadata.EntryPoint]:
    # keyed by sys.path too: a distribution added to the path later is seen
    return {ep.name: ep for ep in metadata.entry_points(group=group)}


def registered(group: str) -> dict[str, metadata.EntryPoint]:
    """The entry points of ``group`` by name (of every installed distribution; nothing is loaded)."""
    return dict(_entry_points(group, tuple(sys.path)))


def _normal(ref: str) -> str:
    return ref.replace(":", ".")


def registered_name(obj: Any, group: str) -> str | None:
    """The name under which ``obj`` (a class or function) is registered in ``group``, or None.

    Compares the entry points' values (``module:qualname``) with the object's, without loading any.
    """
    target = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
    for name, ep in registered(group).items():
        if _normal(ep.value.split("[")[0].strip()) == target:
            return name
    return None


def _valid_path(ref: str) -> tuple[str, str] | None:
    """``(module, attribute path)`` of ``pkg.mod.Obj`` or ``pkg.mod:Obj.inner``; None when malformed."""
    if ":" in ref:
        module, _, attr = ref.partition(":")
    else:
        module, _, attr = ref.rpartition(".")
    parts = module.split(".") + attr.split(".")
    if not module or not attr or not all(p.isidentifier() for p in parts):
        return None
    return module, attr


def load_object(ref: Any, *, group: str, what: str, check: Callable[[Any], bool], expected: str,
                builtins: Mapping[str, Any] | None = None, allow_import: bool = True,
                error: type[SpikeFIError] = ConfigError) -> Any:
    """The object ``ref`` names: a built-in name, a name registered in the entry-point
    ``group``, or (only with ``allow_import``) a dotted path.

    Args:
        ref: the name or dotted path from the config (``pkg.mod.Obj`` or ``pkg.mod:Obj``).
        group: the entry-point group of registered objects (e.g. :data:`FAULT_MODELS_GROUP`).
        what: what the object is, for messages (``fault model``).
        check: whether a loaded object is acceptable; applied right after loading or importing.
        expected: what ``check`` wants, for messages (``a FaultModel subclass``).
        builtins: names that need no import at all.
        allow_import: whether a dotted path may be imported: True for a config or call the
            user gives directly, False for specs read back from results and tracked runs.
        error: the exception class raised (a :class:`~spikefi.errors.SpikeFIError`).

    Raises:
        error: unknown name, a dotted path that is refused, does not import or names an
            object that fails ``check``.
    """
    if isinstance(ref, str) and builtins is not None and ref in builtins:
        return builtins[ref]
    known = sorted(builtins or ())
    if not isinstance(ref, str) or not ref.strip():
        raise error(f"unknown {what} {ref!r}; built-in: {known}, a name registered in the entry-point group "
                    f"{group!r}, or a dotted path")
    eps = registered(group)
    ep = eps.get(ref) or next((e for e in eps.values() if _normal(e.value.split("[")[0].strip()) == _normal(ref)), None)
    if ep is not None:
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin package: say which entry point
            raise error(f"{what} {ref!r} (entry point {ep.name} = {ep.value} in {group!r}) does not load: "
                        f"{type(exc).__name__}: {exc}") from None
        if not check(obj):
            raise error(f"{what} {ref!r} (entry point {ep.name} = {ep.value} in {group!r}) is not {expected}")
        return obj
    if "." not in ref and ":" not in ref:
        raise error(f"unknown {what} {ref!r}; built-in: {known}, registered in {group!r}: {sorted(eps)}, "
                    "or a dotted path (pkg.module.Name)")
    if not allow_import:
        raise error(f"{what} {ref!r} is neither built in nor registered through the entry-point group {group!r}: "
                    "specs read back from results and tracked runs are never imported by dotted path. Register "
                    f"it in the providing package (pyproject.toml: [project.entry-points.\"{group}\"] "
                    f"NAME = \"pkg.module:Name\") and install that package")
    parsed = _valid_path(ref)
    if parsed is None:
        raise error(f"{what} {ref!r} is not a valid dotted path (pkg.module.Name or pkg.module:Name)")
    module_name, attr = parsed
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise error(f"{what} {ref!r} does not import: {exc}") from None
    if not check(obj):
        raise error(f"{what} {ref!r} is not {expected}")
    return obj
