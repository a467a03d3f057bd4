"""SpikeFI 1.3's ``spikefi.utils.io``: where results, figures and networks are written.

Files go under an output folder (default ``out``; ``out/res``, ``out/fig``, ``out/net``).
Change it with :func:`set_out_dir` or the environment variable ``SPIKEFI_OUT_DIR``.
``OUT_DIR``, ``RES_DIR``, ``FIG_DIR`` and ``NET_DIR`` always give the current folders.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

__all__ = [
    "set_out_dir",
    "out_dir",
    "make_filepath",
    "make_out_filepath",
    "make_fig_filepath",
    "make_res_filepath",
    "make_net_filepath",
    "calculate_trial",
    "rename_if_multiple",
]

_out: str | None = None


def set_out_dir(path: str | os.PathLike[str] | None) -> None:
    """Set the output folder (``None``: back to ``$SPIKEFI_OUT_DIR`` or ``out``)."""
    global _out
    _out = None if path is None else os.fspath(path)


def out_dir() -> str:
    """The current output folder."""
    return _out or os.environ.get("SPIKEFI_OUT_DIR") or "out"


def __getattr__(name: str) -> Any:
    folders = {"OUT_DIR": "", "RES_DIR": "res", "FIG_DIR": "fig", "NET_DIR": "net"}
    if name in folders:
        return os.path.join(out_dir(), folders[name]) if folders[name] else out_dir()
    raise AttributeError(f"module 'spikefi.utils.io' has no attribute {name!r}")


def calculate_trial(fname: str, parentdir: str | os.PathLike[str]) -> int:
    """The next free trial number of ``fname`` in ``parentdir``: 0 if unused, else one more
    than the largest ``" (n)"`` suffix of the existing files."""
    folder = Path(parentdir)
    if not folder.is_dir():
        return 0
    stem, ext = os.path.splitext(fname)
    pattern = re.compile(re.escape(stem) + r"(?: \((\d+)\))?" + re.escape(ext) + "$")
    trials = [int(m.group(1) or 0) for f in os.listdir(folder) if (m := pattern.fullmatch(f))]
    return max(trials) + 1 if trials else 0


def rename_if_multiple(fname: str, parentdir: str | os.PathLike[str]) -> str:
    """``fname``, or ``"name (n).ext"`` when ``fname`` already exists in ``parentdir``."""
    trial = calculate_trial(fname, parentdir)
    if trial == 0:
        return fname
    stem, ext = os.path.splitext(fname)
    return f"{stem} ({trial}){ext}"


def make_filepath(fname: str, parentdir: str | os.PathLike[str] = "", rename: bool = False) -> str:
    """``parentdir/fname`` (the folder is created); ``rename`` avoids overwriting."""
    folder = os.fspath(parentdir)
    if folder:
        os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, rename_if_multiple(fname, folder or ".") if rename else fname)


def make_out_filepath(fname: str, rename: bool = False) -> str:
    """A path in the output folder."""
    return make_filepath(fname, out_dir(), rename)


def make_fig_filepath(fname: str, rename: bool = False) -> str:
    """A path in the figures folder (``<out>/fig``)."""
    return make_filepath(fname, os.path.join(out_dir(), "fig"), rename)


def make_res_filepath(fname: str, rename: bool = False) -> str:
    """A path in the results folder (``<out>/res``)."""
    return make_filepath(fname, os.path.join(out_dir(), "res"), rename)


def make_net_filepath(fname: str, rename: bool = False) -> str:
    """A path in the networks folder (``<out>/net``)."""
    return make_filepath(fname, os.path.join(out_dir(), "net"), rename)
