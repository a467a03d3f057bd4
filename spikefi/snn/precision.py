"""Floating-point precision policy of the spiking engine.

Fault campaigns compare faulty spikes against golden spikes, so a spike that flips
because of reduced-precision arithmetic would be reported as a fault effect. On CUDA,
PyTorch lets cuDNN convolutions use TF32 by default (10-bit mantissa), which flips
thousands of spikes per layer of an N-MNIST CNN. The engine therefore computes in true
IEEE fp32 on CUDA: every convolution and matrix product it issues runs with TF32 turned
off, and the global flags are restored afterwards. TF32 is an explicit opt-in through
:func:`set_allow_tf32` or the :func:`allow_tf32` context manager.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["set_allow_tf32", "get_allow_tf32", "allow_tf32", "strict_fp32"]

_ALLOW_TF32 = False


def set_allow_tf32(flag: bool) -> None:
    """Lets the engine use TF32 on CUDA (faster, not bit-compatible with SLAYER)."""
    global _ALLOW_TF32
    _ALLOW_TF32 = bool(flag)


def get_allow_tf32() -> bool:
    """Whether the engine may use TF32 on CUDA (default ``False``: strict fp32)."""
    return _ALLOW_TF32


@contextlib.contextmanager
def allow_tf32(flag: bool = True) -> Iterator[None]:
    """Temporarily sets the engine's TF32 policy."""
    old = _ALLOW_TF32
    set_allow_tf32(flag)
    try:
        yield
    finally:
        set_allow_tf32(old)


@contextlib.contextmanager
def strict_fp32(tensor: torch.Tensor) -> Iterator[None]:
    """Runs the body with cuDNN/cuBLAS TF32 off when ``tensor`` is on CUDA.

    A no-op on CPU or when TF32 was allowed with :func:`set_allow_tf32`.
    """
    if tensor.device.type != "cuda" or _ALLOW_TF32:
        yield
        return
    old_cudnn = torch.backends.cudnn.allow_tf32
    old_matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = old_cudnn
        torch.backends.cuda.matmul.allow_tf32 = old_matmul
