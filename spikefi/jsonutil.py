"""JSON for results and metadata: numpy scalars and arrays as plain numbers and lists."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["json_default"]


def json_default(value: Any) -> Any:
    """``default=`` for :func:`json.dumps`: numpy integers/floats as numbers, arrays as
    lists, anything else as its string."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
