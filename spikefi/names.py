"""Values that are names, not paths.

Campaign, search and study names and the name of a shipped pretrained model end up in
file paths (``<output_dir>/<search name>/...``, ``spikefi/zoo/pretrained/<name>.pt``); a
name must therefore never reach outside the folder it is joined to. Real paths
(``network.path``, ``data.root``, ``output_dir``) are not names and stay free.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError

__all__ = ["check_plain_name"]

_SEPARATORS = ("/", "\\")


def check_plain_name(value: Any, what: str) -> str:
    """``value`` when it is a plain name, else :class:`~spikefi.errors.ConfigError`.

    A plain name is a non-empty string without path separators (``/``, ``\\``), without
    ``..``, not ``.``, and without control characters.

    Args:
        value: the value to check.
        what: where it comes from (``search.name``), for the message.

    Example:
        >>> check_plain_name("worst-2-neuron-faults", "search.name")
        'worst-2-neuron-faults'
    """
    bad = (not isinstance(value, str) or not value.strip() or value == "."
           or ".." in value or any(s in value for s in _SEPARATORS)
           or any(ord(ch) < 32 for ch in value))
    if bad:
        raise ConfigError(f"{what} must be a plain name (no '/', '\\', '..' or control characters, not empty), "
                          f"got {value!r}")
    return value
