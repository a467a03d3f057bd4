"""SpikeFI 1.3's ``spikefi.utils.io`` (implemented in :mod:`spikefi.compat.io`)."""

from typing import Any

from ..compat import io as _impl
from ..compat.io import (
    calculate_trial,
    make_fig_filepath,
    make_filepath,
    make_net_filepath,
    make_out_filepath,
    make_res_filepath,
    out_dir,
    rename_if_multiple,
    set_out_dir,
)

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


def __getattr__(name: str) -> Any:
    """``OUT_DIR``, ``RES_DIR``, ``FIG_DIR``, ``NET_DIR``: the current output folders."""
    return getattr(_impl, name)
