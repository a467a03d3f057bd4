"""SLAYER's NumSpikes loss and the spike-count classifier."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, ShapeError
from . import functional as fn
from .layer import layer
from .params import validate_error, validate_simulation

__all__ = ["loss", "spike_counts", "predict", "predict_counts", "spikeClassifier"]


class loss(nn.Module):  # noqa: N801 - SLAYER's name
    """SLAYER's spike loss; ``numSpikes`` is the NumSpikes loss.

    Args:
        networkDescriptor: a :class:`~spikefi.snn.params` (or mapping) with ``neuron``,
            ``simulation`` and ``training: error:`` sections.

    The NumSpikes loss of an output spike tensor ``s`` ``(N, C, 1, 1, T)`` and a one-hot
    target ``(N, C, 1, 1, 1)``: inside the target region ``[start, stop)`` the error is the
    spike-count error ``(count - desired) / (stop - start)`` per time bin (desired =
    ``tgtSpikeCount[true]`` for the target class, ``[false]`` otherwise), outside it the
    psp of the spikes themselves; the loss is ``Ts / 2 * sum(error**2)``. Its gradient
    with respect to ``s`` is the psp-adjoint of the error everywhere, as in SLAYER.
    """

    def __init__(self, networkDescriptor: Mapping[str, Any]) -> None:  # noqa: N803
        super().__init__()
        try:
            training = networkDescriptor["training"]
            error = training["error"]
        except (KeyError, TypeError, ConfigError):
            raise ConfigError(
                "the loss needs a 'training: error:' section (type NumSpikes, tgtSpikeRegion, "
                "tgtSpikeCount) in the network parameters"
            ) from None
        simulation = validate_simulation(networkDescriptor["simulation"])
        self.errorDescriptor = dict(validate_error(error, simulation))
        self.slayer = layer(networkDescriptor["neuron"], simulation)
        self.Ts = self.slayer.Ts
        region = self.errorDescriptor["tgtSpikeRegion"]
        self.start = int(round(region["start"] / self.Ts))
        self.stop = int(round(region["stop"] / self.Ts))
        count = self.errorDescriptor["tgtSpikeCount"]
        self.count_true = float(count[True])
        self.count_false = float(count[False])

    def numSpikes(  # noqa: N802
        self,
        spikeOut: torch.Tensor,  # noqa: N803
        desiredClass: torch.Tensor,  # noqa: N803
        numSpikesScale: float = 1,  # noqa: N803
        reduction: str = "sum",
    ) -> torch.Tensor:
        """NumSpikes loss summed over the batch (see the class docstring).

        ``reduction="none"`` returns the loss of every sample, shape ``(N,)``.
        """
        if reduction not in ("sum", "none"):
            raise ConfigError(f"reduction must be 'sum' or 'none', got {reduction!r}")
        fn.check_spike_tensor(spikeOut, "spikeOut", min_rank=5)
        if spikeOut.dim() != 5:
            raise ShapeError(f"spikeOut must be (N, C, H, W, T), got shape {tuple(spikeOut.shape)}")
        expected = (*spikeOut.shape[:4], 1)
        if tuple(desiredClass.shape) != expected:
            raise ShapeError(
                f"desiredClass has shape {tuple(desiredClass.shape)}; expected {expected} "
                "(a one-hot target per output neuron)"
            )
        steps = spikeOut.shape[-1]
        if self.stop > steps:
            raise ShapeError(
                f"target region ends at bin {self.stop} but spikeOut has only {steps} time bins"
            )
        start, stop = self.start, self.stop
        # time last in memory: the psp's matrix product may sum in another order for another
        # layout (a time-major output of the fused path), and the loss must depend on the values
        # alone (a campaign compares the engines' losses exactly)
        spikeOut = spikeOut.contiguous()  # noqa: N806
        with torch.no_grad():
            # summed in float64: spike trains (0 or one spike value) sum exactly in any order, so
            # the count does not depend on the reduction kernel CUDA picks for the batch's size
            actual = spikeOut[..., start:stop].to(torch.float64).sum(-1, keepdim=True) * self.Ts
            desired = torch.where(
                desiredClass.bool(),
                torch.tensor(self.count_true, dtype=torch.float64, device=spikeOut.device),
                torch.tensor(self.count_false, dtype=torch.float64, device=spikeOut.device),
            )
            count_error = ((actual - desired) / (stop - start) * numSpikesScale).to(spikeOut.dtype)
        region = torch.zeros(steps, dtype=spikeOut.dtype, device=spikeOut.device)
        region[start:stop] = 1
        # inside the region the value is 0 but the gradient flows (as in SLAYER)
        residual = spikeOut - spikeOut.detach() * region
        error = self.slayer.psp(residual) + count_error * region
        if reduction == "none":
            return 0.5 * _row_sums((error**2).flatten(1)) * self.Ts
        return 0.5 * torch.sum(error**2) * self.Ts


def _row_sums(x: torch.Tensor) -> torch.Tensor:
    """Sums of the rows of ``x`` ``(N, K)`` in a fixed pairwise order (halves added element by
    element until one column is left): each row's sum does not depend on ``N`` or the device,
    whereas CUDA's reduction kernels choose their order by the tensor's size (a campaign
    compares the per-sample losses of rows evaluated in batches of other sizes exactly)."""
    while x.shape[1] > 1:
        half = x.shape[1] // 2
        pairs = x[:, :half] + x[:, half:2 * half]
        x = torch.cat([pairs, x[:, 2 * half:]], 1) if x.shape[1] % 2 else pairs
    return x[:, 0] if x.shape[1] else x.new_zeros(x.shape[0])


def spike_counts(spikes: torch.Tensor) -> torch.Tensor:
    """Integer spike counts per output neuron: ``(N, C, ...)`` summed over time and space → ``(N, C)``."""
    fn.check_spike_tensor(spikes, "spikes", min_rank=3)
    return (spikes != 0).flatten(2).sum(-1)


def predict_counts(counts: torch.Tensor) -> torch.Tensor:
    """Class of integer spike counts ``(N, C)``: the largest count, ties to the lowest index."""
    c = counts.shape[1]
    index = torch.arange(c, device=counts.device)
    # argmax of (count * C + (C - 1 - index)) picks the largest count, then the lowest index
    return torch.argmax(counts * c + (c - 1 - index), dim=1)


class spikeClassifier:  # noqa: N801 - slayerPytorch's name
    """The spike-count classifier, slayerPytorch's ``spikeClassifier``.

    ``snn.predict`` is an instance: call it (``snn.predict(spikes)``) or use the
    slayerPytorch form ``snn.predict.getClass(spikes)``; both give the output neuron with
    the most spikes, ties to the lowest index. Counting is done on integers, so the result
    does not depend on float summation order (CPU or GPU, batch size).
    """

    @staticmethod
    def getClass(spike: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """Predicted class of every sample of ``spike`` ``(N, C, ...)``: shape ``(N,)``.

        Raises:
            ShapeError: If ``spike`` is not a tensor of rank >= 3.
            DTypeError: If it is not a floating tensor.
        """
        return predict_counts(spike_counts(spike))

    def __call__(self, spikes: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`getClass`."""
        return self.getClass(spikes)

    def __repr__(self) -> str:
        return "spikefi.snn.predict"


#: ``predict(spikes)`` / ``predict.getClass(spikes)``: class with the most output spikes
#: (ties to the lowest index).
predict = spikeClassifier()
