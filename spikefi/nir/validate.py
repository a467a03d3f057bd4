"""Compare an imported NIR network with the exporting framework's own simulation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import NIRShapeError
from .loader import load

__all__ = ["LayerAgreement", "ValidationReport", "validate"]


@dataclass(frozen=True)
class LayerAgreement:
    """Agreement of one layer's outputs.

    Attributes:
        name: NIR node name.
        compared: number of values compared (spikes, or membrane values of a readout).
        differing: how many differ.
        max_abs_error: largest absolute difference.
        first_step: first time step with a difference (``None`` when identical).
    """

    name: str
    compared: int
    differing: int
    max_abs_error: float
    first_step: int | None

    @property
    def identical(self) -> bool:
        """No value differs."""
        return self.differing == 0


@dataclass
class ValidationReport:
    """Per-layer agreement, in forward order."""

    layers: list[LayerAgreement] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Every compared layer is identical."""
        return all(layer.identical for layer in self.layers)

    def __str__(self) -> str:
        return "\n".join(
            f"{a.name}: {a.differing} of {a.compared} differ (max |err| {a.max_abs_error:.3g}"
            + (f", first at step {a.first_step})" if a.first_step is not None else ")")
            for a in self.layers
        )


def _time_last(tensor: torch.Tensor, time_first: bool) -> torch.Tensor:
    """``(T, N, ...)`` -> ``(N, ..., T)`` when ``time_first``."""
    return tensor.movedim(0, -1) if time_first else tensor


def validate(graph: Any, reference_outputs: Mapping[str, torch.Tensor] | torch.Tensor, inputs: torch.Tensor,
             time_first: bool = False, **load_kwargs: Any) -> ValidationReport:
    """Run ``graph`` through :func:`spikefi.nir.load` and compare with reference outputs.

    Args:
        graph: a NIR graph or file path.
        reference_outputs: the framework's outputs by NIR node name, or one tensor for the
            last node. Each must hold as many values as that node's output ``(N, C, H, W, T)``
            (``(T, N, ...)`` when ``time_first``).
        inputs: ``(N, C, H, W, T)``, ``(N, F, T)`` or, when ``time_first``, ``(T, N, F...)``.
        time_first: the frameworks' layout (snnTorch and Norse step over the first dimension).
        **load_kwargs: ``dt``, ``convention``, ``reset``, ``dtype``, ``device`` for :func:`load`.

    Raises:
        NIRShapeError: a reference names an unknown node or has the wrong number of values.
    """
    net = load(graph, **load_kwargs)
    first = next(iter(net.parameters()), None)
    ref_dtype = first.dtype if first is not None else torch.float32
    x = _time_last(torch.as_tensor(inputs), time_first).to(ref_dtype)
    x = x.reshape(x.shape[0], *net.input_shape, x.shape[-1])
    with torch.no_grad():
        out, recorded = net(x, record=True)
    if not isinstance(reference_outputs, Mapping):
        reference_outputs = {list(recorded)[-1]: reference_outputs}
    report = ValidationReport()
    for name, got in recorded.items():
        if name not in reference_outputs:
            continue
        ref = _time_last(torch.as_tensor(reference_outputs[name]), time_first).to(got.device, got.dtype)
        if ref.numel() != got.numel():
            raise NIRShapeError(f"reference for NIR node '{name}' has {ref.numel()} values, the node gives {got.numel()}")
        ref = ref.reshape(got.shape)
        diff = (ref != got)
        steps = diff.reshape(-1, got.shape[-1]).any(0).nonzero()
        report.layers.append(LayerAgreement(
            name, got.numel(), int(diff.sum()), float((ref - got).abs().max()) if got.numel() else 0.0,
            int(steps[0]) if steps.numel() else None,
        ))
    unknown = sorted(set(reference_outputs) - set(recorded))
    if unknown:
        raise NIRShapeError(f"reference names unknown NIR node '{unknown[0]}'")
    return report
