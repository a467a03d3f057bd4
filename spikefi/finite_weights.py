"""Refusing networks whose weights hold NaN or Inf before anything runs with them.

A network with non-finite weights still runs: its NaN membrane potentials never cross the
threshold, so it silently fires less and a campaign on it finishes with wrong numbers.
:func:`check_finite_weights` looks at every floating-point tensor of a network or a
state_dict once (one ``isfinite`` reduction per tensor: O(weights)) and raises a one-line
:class:`~spikefi.errors.StateDictError` naming the first tensor that holds such values.
The network loaders (``spikefi.zoo.load_network``, ``SpikingNetwork.load_state_dict``,
factory networks of campaign configs) and :class:`spikefi.campaign.Campaign` call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from .errors import StateDictError

__all__ = ["check_finite_weights"]


def _tensors(source: Any) -> Iterable[tuple[str, torch.Tensor]]:
    if isinstance(source, torch.nn.Module):
        yield from source.named_parameters()
        yield from source.named_buffers()
    elif isinstance(source, Mapping):
        for key, value in source.items():
            if isinstance(value, torch.Tensor):
                yield str(key), value


def check_finite_weights(source: Any, what: str = "the network") -> None:
    """Raises :class:`StateDictError` when a floating-point tensor of ``source`` holds NaN or Inf.

    Args:
        source: a ``torch.nn.Module`` (its parameters and buffers) or a state_dict mapping;
            non-tensor values and integer tensors are skipped.
        what: how the message names the source (e.g. ``"network file 'net.pt'"``).
    """
    for name, tensor in _tensors(source):
        if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.numel() == 0:
            continue
        if bool(torch.isfinite(tensor).all()):
            continue
        finite = torch.isfinite(tensor)
        nan = int(torch.isnan(tensor).sum())
        bad = int((~finite).sum())
        raise StateDictError(
            f"{what}: tensor {name!r} {tuple(tensor.shape)} holds {bad} non-finite value(s) "
            f"({nan} NaN, {bad - nan} Inf) of {tensor.numel()}; weights must be finite "
            "(a diverged training or a corrupted file?)")
