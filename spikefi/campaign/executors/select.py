"""An executor from what a user or config names."""

from __future__ import annotations

from ...errors import ConfigError
from .base import Executor
from .in_process import InProcessExecutor

__all__ = ["get_executor"]


def get_executor(executor: Executor | str | None) -> Executor:
    """An executor from an instance, ``None``/``"in-process"`` or ``"ray"`` (local Ray)."""
    if executor is None or executor == "in-process":
        return InProcessExecutor()
    if isinstance(executor, Executor):
        return executor
    if executor == "ray":
        from .ray import RayExecutor

        return RayExecutor()
    raise ConfigError(f"unknown executor {executor!r}; allowed: 'in-process', 'ray' or an Executor instance")
