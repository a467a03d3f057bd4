"""The engines by name: an explicit registry (nothing registers itself on import)."""

from __future__ import annotations

from typing import Any

from ...errors import ConfigError
from .base import Engine
from .naive import NaiveEngine
from .parallel import ParallelEngine
from .sequential import SequentialEngine

__all__ = ["ENGINES", "get_engine", "register_engine"]

#: engine name -> class; configs, specs and executors name engines by these keys
ENGINES: dict[str, type[Engine]] = {
    "naive": NaiveEngine,
    "sequential": SequentialEngine,
    "parallel": ParallelEngine,
}


def register_engine(name: str, cls: type[Engine]) -> None:
    """Makes ``cls`` available as engine ``name`` (for engines defined outside spikefi)."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"an engine name must be a non-empty string, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise ConfigError(f"engine {name!r} must be an Engine subclass, got {cls!r}")
    ENGINES[name] = cls


def get_engine(name: str, **kwargs: Any) -> Engine:
    """A new engine by name, with its options (e.g. ``early_stop_tolerance``)."""
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}; allowed: {sorted(ENGINES)}")
    return ENGINES[name](**kwargs)
