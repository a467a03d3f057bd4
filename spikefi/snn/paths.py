"""Which computation path the spiking layers take: the fused path or the reference path.

*Reference path* (today's, the definition): convolutions as ``conv3d`` over SLAYER's
``(N, C, H, W, T)`` with ``(k, k, 1)`` kernels, the psp as a Toeplitz matrix product
(:func:`spikefi.snn.functional.psp`), the spikes by the threshold/refractory kernel.

*Fused path* (inference): convolutions and dense layers as ``conv2d`` over all time bins
at once, ``(N*T, C, H, W)``, on tensors kept time-major in memory through the network (a
``(N, C, H, W, T)`` tensor whose memory is a contiguous ``(N, T, C, H, W)``: the same
values, so every caller sees the same tensor), sum pooling on that layout, and psp +
threshold + refractory in one Triton kernel per layer that never writes the membrane
potential (:func:`spikefi.snn.cuda.fused_fire`).

Who takes it (``auto``, the default): CUDA tensors of float32/float64 without autograd,
when Triton is importable. Everything else falls back to the reference path: the CPU,
autograd (training, ``requires_grad`` inputs), float16/bfloat16, networks whose spiking
layer's ``psp``/``spike`` are replaced (the campaign's hook path wraps ``fire`` instead),
kernels longer than :data:`~spikefi.snn.cuda.MAX_PSP_LENGTH` /
:data:`~spikefi.snn.cuda.MAX_KERNEL_LENGTH` taps. NIR networks have their own neuron
stages and keep them; delay and dropout layers work on either layout.

Switches: ``SPIKEFI_REFERENCE_PATH=1`` forces the reference path everywhere (it wins over
everything else); ``SPIKEFI_COMPUTE_PATH`` sets the initial mode (read at import; e.g. to
run a test suite on the fused path on the CPU); :func:`set_compute_path` /
:func:`compute_path` choose ``"auto"``,
``"fused"`` (also on the CPU: ``conv2d`` time-major and, where Triton runs, its kernels,
in the interpreter with ``TRITON_INTERPRET=1``) or ``"reference"``.
:func:`path_name` says which path a device takes (a campaign records it as a run param).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from ..errors import ConfigError

__all__ = ["set_compute_path", "get_compute_path", "compute_path", "fused_enabled", "fused_active",
           "triton_usable", "path_name", "time_major_convolutions", "REFERENCE_ENV", "MODE_ENV", "CONV_ENV"]

#: environment variable that forces the reference path (value ``1``)
REFERENCE_ENV = "SPIKEFI_REFERENCE_PATH"
#: environment variable with the initial mode (``auto``, ``fused`` or ``reference``)
MODE_ENV = "SPIKEFI_COMPUTE_PATH"
#: ``native`` keeps the fused path's convolutions as ``conv3d`` on SLAYER's layout (a
#: benchmark switch: the fused psp + spike kernel reads either layout)
CONV_ENV = "SPIKEFI_FUSED_CONV"

_MODES = ("auto", "fused", "reference")
_MODE = os.environ.get(MODE_ENV, "auto")
if _MODE not in _MODES:
    raise ConfigError(f"{MODE_ENV} must be one of {list(_MODES)}, got {_MODE!r}")


def set_compute_path(mode: str) -> None:
    """Chooses the path: ``"auto"`` (fused on CUDA where Triton is), ``"fused"`` or ``"reference"``."""
    global _MODE
    if mode not in _MODES:
        raise ConfigError(f"compute path must be one of {list(_MODES)}, got {mode!r}")
    _MODE = mode


def get_compute_path() -> str:
    """The chosen mode (``SPIKEFI_REFERENCE_PATH=1`` overrides it: see :func:`fused_enabled`)."""
    return _MODE


@contextlib.contextmanager
def compute_path(mode: str) -> Iterator[None]:
    """Temporarily chooses the path (see :func:`set_compute_path`)."""
    old = _MODE
    set_compute_path(mode)
    try:
        yield
    finally:
        set_compute_path(old)


def _forced_reference() -> bool:
    return os.environ.get(REFERENCE_ENV, "0") == "1"


def triton_usable(device: torch.device) -> bool:
    """Whether the Triton kernels can run for tensors on ``device`` (CUDA with Triton, or
    any device in Triton's interpreter)."""
    from .cuda.spike_kernel import interpreted, triton_available

    if not triton_available():
        return False
    return device.type == "cuda" or (interpreted() and device.type == "cpu")


def fused_enabled(device: torch.device | str) -> bool:
    """Whether inference on ``device`` takes the fused path."""
    if _forced_reference():
        return False
    if _MODE == "reference":
        return False
    device = torch.device(device)
    if _MODE == "fused":
        return True
    return device.type == "cuda" and triton_usable(device)


def fused_active(x: torch.Tensor) -> bool:
    """Whether an operation on ``x`` takes the fused path: enabled for its device, a
    float32/float64 tensor, and no autograd graph to build through it."""
    if x.dtype not in (torch.float32, torch.float64):
        return False
    if torch.is_grad_enabled() and x.requires_grad:
        return False
    return fused_enabled(x.device)


def time_major_convolutions() -> bool:
    """Whether the fused path runs ``(k, k, 1)`` convolutions time-major (default) rather
    than as ``conv3d`` (``SPIKEFI_FUSED_CONV=native``, read at each call)."""
    return os.environ.get(CONV_ENV, "time-major") != "native"


def path_name(device: torch.device | str) -> str:
    """``"fused"`` or ``"reference"``: the path float32 inference on ``device`` takes now
    (``"fused"`` on the CPU only when forced, ``"fused-interpreted"`` in Triton's
    interpreter; ``-conv3d`` appended with ``SPIKEFI_FUSED_CONV=native``)."""
    device = torch.device(device)
    if not fused_enabled(device):
        return "reference"
    name = "fused-interpreted" if device.type != "cuda" and triton_usable(device) else "fused"
    return name if time_major_convolutions() else name + "-conv3d"
