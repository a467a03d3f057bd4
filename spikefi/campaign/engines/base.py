"""The engine interface, its chunk loop and the statistics every engine shares.

One mechanism carries progress, checkpoints and sharding: rounds are evaluated in
*chunks*, and an engine yields a :class:`~spikefi.campaign.types.ChunkResult` as soon as a
chunk is done. Engines read a campaign only through
:class:`~spikefi.campaign.context.CampaignContext`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from ...errors import ConfigError
from ..context import CampaignContext
from ..inject import prepare_rounds
from ..types import Batch, ChunkResult, GoldenBatch, PreparedRound, Round, RoundStats

__all__ = ["Engine", "OutputObserver", "tied_top"]

#: ``(round id, output spikes of one batch)``, called by the naive and sequential engines
#: for every round and batch (see :meth:`Engine.add_output_observer`)
OutputObserver = Callable[[int, torch.Tensor], None]


def tied_top(counts: torch.Tensor) -> torch.Tensor:
    """Whether the top output spike count is shared by two or more classes (per sample)."""
    top = counts.max(dim=1, keepdim=True).values
    return (counts == top).sum(dim=1) > 1


class Engine(ABC):
    """Evaluates rounds of a campaign, chunk by chunk.

    Subclasses implement :meth:`evaluate` (one round on one batch) and may override
    :meth:`evaluate_chunk` (all rounds of a chunk on one batch) and :meth:`batches`.
    """

    name: str = "engine"

    def __init__(self, early_stop_tolerance: float = 0.0) -> None:
        if not (isinstance(early_stop_tolerance, (int, float)) and 0 <= early_stop_tolerance < 1):
            raise ConfigError(f"early_stop_tolerance must be in [0, 1), got {early_stop_tolerance!r}")
        self.early_stop_tolerance = float(early_stop_tolerance)
        self._observers: list[OutputObserver] = []

    def add_output_observer(self, observer: OutputObserver) -> None:
        """Calls ``observer(round_id, out)`` with every round's output spikes of every batch
        (in batch order; rounds in chunk order within a batch). The naive and sequential
        engines call observers; the parallel engine refuses them (rows that equal golden
        leave its batch, so not every round's output exists)."""
        self._observers.append(observer)

    @property
    def observed(self) -> bool:
        """Whether output observers are registered."""
        return bool(getattr(self, "_observers", ()))

    def observe(self, round_id: int, out: torch.Tensor) -> None:
        """Hands a round's output of one batch to the observers."""
        for observer in getattr(self, "_observers", ()):
            observer(round_id, out)

    def run(self, campaign: CampaignContext, rounds: Sequence[Round], chunk_size: int = 64,
            on_progress: Any = None) -> Iterator[ChunkResult]:
        """Yields one :class:`ChunkResult` per ``chunk_size`` rounds, in round order."""
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ConfigError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
        for c, start in enumerate(range(0, len(rounds), chunk_size)):
            chunk = list(rounds[start : start + chunk_size])
            t0 = time.perf_counter()
            prepared = prepare_rounds(campaign, chunk)
            stats = [RoundStats() for _ in chunk]
            for samples, x, y, golden in self.golden_batches(campaign):
                self.evaluate_chunk(campaign, prepared, samples, x, y, golden, stats)
                if on_progress is not None:
                    on_progress(len(chunk), len(samples))
            rows = [campaign.result_row(r, p, s) for r, p, s in zip(chunk, prepared, stats, strict=True)]
            preds = {r.round_id: torch.cat(s.predictions) for r, s in zip(chunk, stats, strict=True) if s.predictions}
            yield ChunkResult(c, [r.round_id for r in chunk], rows, time.perf_counter() - t0, campaign.num_samples, preds)

    def batches(self, campaign: CampaignContext) -> Iterator[Batch]:
        """The test set in batches ``(sample indices, inputs, labels)`` (the campaign's)."""
        return campaign.batches()

    def golden_batches(self, campaign: CampaignContext) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor,
                                                                         GoldenBatch]]:
        """The batches the chunk loop evaluates, each with its golden run: :meth:`batches` with
        the campaign's golden batch of the same index (an engine may join consecutive ones)."""
        for b, (samples, x, y) in enumerate(self.batches(campaign)):
            yield samples, x, y, campaign.golden_batch(b)

    def evaluate_chunk(self, campaign: CampaignContext, prepared: Sequence[PreparedRound], samples: list[int],
                       x: torch.Tensor, y: torch.Tensor, golden: GoldenBatch, stats: Sequence[RoundStats]) -> None:
        """Evaluates a chunk's rounds on one batch (default: one round after the other)."""
        for prep, st in zip(prepared, stats, strict=True):
            self.evaluate(campaign, prep, samples, x, y, golden, st)

    @abstractmethod
    def evaluate(self, campaign: CampaignContext, prep: PreparedRound, samples: list[int], x: torch.Tensor,
                 y: torch.Tensor, golden: GoldenBatch, stats: RoundStats) -> None:
        """Evaluates one round on one batch, adding to ``stats``."""

    @staticmethod
    def finish(campaign: CampaignContext, out: torch.Tensor, y: torch.Tensor, golden: GoldenBatch, stats: RoundStats) -> None:
        values, loss, pred = _finish_tensors(campaign, out, y, golden)
        _apply_finish(campaign, stats, int(y.numel()), values.tolist(), None if loss is None else float(loss),
                      pred.cpu() if campaign.options.keep_predictions else None)


def _finish_tensors(campaign: CampaignContext, out: torch.Tensor, y: torch.Tensor,
                    golden: GoldenBatch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """On the device: (correct, critical, changed, tied, deviation) of a round's batch, its
    summed loss (or ``None``) and its predictions."""
    counts = campaign.netmap.scores(out)
    pred = campaign.predict_counts(counts)
    g_pred = golden.pred
    parts = [(pred == y).sum(), ((g_pred == y) & (pred != y)).sum(), (pred != g_pred).sum(), tied_top(counts).sum()]
    if counts.is_floating_point():  # a readout's scores: the deviation is a float64 sum
        values = torch.stack([*(p.double() for p in parts), (counts.double() - golden.counts.double()).abs().sum()])
    else:
        values = torch.stack([*parts, (counts - golden.counts).abs().sum()])
    loss = campaign.sample_losses(out, y).sum() if campaign.loss_fn is not None else None
    return values, loss, pred


def _apply_finish(campaign: CampaignContext, stats: RoundStats, samples: int, values: Sequence[int], loss: float | None,
                  pred: torch.Tensor | None) -> None:
    correct, critical, changed, tied, deviation = values
    stats.samples += samples
    stats.correct += int(correct)
    stats.critical += int(critical)
    stats.changed += int(changed)
    stats.tied += int(tied)
    stats.deviation_sum += float(deviation)
    if loss is not None:
        stats.loss_sum += loss
    if pred is not None:
        stats.predictions.append(pred)
