"""SIGTERM as an exception (:class:`Terminated`), without importing MLflow (entry points
install the handler before parsing their options, and ``--help`` stays fast)."""

from __future__ import annotations

import signal
from typing import Any

__all__ = ["Terminated", "install_signal_handlers"]


class Terminated(BaseException):
    """SIGTERM (e.g. a Kubernetes pod eviction) while a run is in progress."""


def install_signal_handlers() -> None:
    """Turns SIGTERM into :class:`Terminated`, so that runs are marked KILLED with the reason."""

    def on_term(signum: int, frame: Any) -> None:
        raise Terminated(f"terminated by signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
