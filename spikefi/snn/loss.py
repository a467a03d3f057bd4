"""SLAYER's NumSpikes loss, the spike-count classifier and accuracy/loss statistics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, ShapeError
from . import functional as fn
from .layer import layer
from .params import validate_error, validate_simulation

__all__ = ["loss", "spike_counts", "predict", "predict_counts", "spikeClassifier", "learningStats", "Stats"]


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
        with torch.no_grad():
            actual = spikeOut[..., start:stop].sum(-1, keepdim=True).to(torch.float64) * self.Ts
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
            return 0.5 * (error**2).flatten(1).sum(1) * self.Ts
        return 0.5 * torch.sum(error**2) * self.Ts


def spike_counts(spikes: torch.Tensor) -> torch.Tensor:
    """Integer spike counts per output neuron: ``(N, C, ...)`` summed over time and space → ``(N, C)``."""
    fn.check_spike_tensor(spikes, "spikes", min_rank=3)
    return (spikes != 0).flatten(2).sum(-1)


def predict(spikes: torch.Tensor) -> torch.Tensor:
    """Predicted class: the output neuron with most spikes; ties go to the lowest index.

    Counting is done on integers, so the result does not depend on float summation order.
    """
    return predict_counts(spike_counts(spikes))


def predict_counts(counts: torch.Tensor) -> torch.Tensor:
    """Class of integer spike counts ``(N, C)``: the largest count, ties to the lowest index."""
    c = counts.shape[1]
    index = torch.arange(c, device=counts.device)
    # argmax of (count * C + (C - 1 - index)) picks the largest count, then the lowest index
    return torch.argmax(counts * c + (c - 1 - index), dim=1)


class spikeClassifier:  # noqa: N801 - SLAYER's name
    """SLAYER-style classifier: ``spikeClassifier.getClass(spike)`` = :func:`predict`."""

    @staticmethod
    def getClass(spike: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return predict(spike)


@dataclass
class Stats:
    """Running loss/accuracy of one phase (training or testing)."""

    loss_sum: float = 0.0
    correct: int = 0
    samples: int = 0
    best_accuracy: float | None = None
    best_loss: float | None = None
    history: list[tuple[float, float]] = field(default_factory=list)

    def update(self, loss_value: float, correct: int, samples: int) -> None:
        if samples < 0 or correct < 0 or correct > samples:
            raise ValueError(f"bad counts: correct={correct}, samples={samples}")
        self.loss_sum += float(loss_value)
        self.correct += int(correct)
        self.samples += int(samples)

    @property
    def loss(self) -> float:
        return self.loss_sum / self.samples if self.samples else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.samples if self.samples else float("nan")

    def reset(self) -> None:
        """Closes the epoch: records it in ``history`` and the bests, then zeroes the sums."""
        if self.samples:
            self.history.append((self.loss, self.accuracy))
            if self.best_accuracy is None or self.accuracy > self.best_accuracy:
                self.best_accuracy = self.accuracy
            if self.best_loss is None or self.loss < self.best_loss:
                self.best_loss = self.loss
        self.loss_sum, self.correct, self.samples = 0.0, 0, 0


class learningStats:  # noqa: N801 - SLAYER's name
    """Training and testing :class:`Stats` with one ``update()`` per epoch."""

    def __init__(self) -> None:
        self.training = Stats()
        self.testing = Stats()

    def update(self) -> None:
        self.training.reset()
        self.testing.reset()

    def summary(self) -> str:
        parts = []
        for name, s in (("train", self.training), ("test", self.testing)):
            if s.samples:
                parts.append(f"{name} loss {s.loss:.4f} acc {s.accuracy:.4f}")
        return ", ".join(parts)
