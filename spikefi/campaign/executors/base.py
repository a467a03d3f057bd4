"""The executor interface: where a campaign's chunks run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

from ...errors import SpikeFIError
from ..context import ShippableCampaign
from ..types import ChunkResult, Round, RunOptions

__all__ = ["Executor", "ExecutorError", "ExecutorLostError", "plan_chunks"]


class ExecutorError(SpikeFIError, RuntimeError):
    """An executor could not run the campaign (no workers, retries exhausted, bad cluster)."""


class ExecutorLostError(ExecutorError):
    """The executor lost what the campaign cannot go on without: the driver's own Ray node (its
    raylet), the cluster's head (GCS), or every worker with no replacement left. The chunks
    delivered before the loss stay with the caller (a tracked campaign has made them durable);
    running the same command again resumes from them. The message names what was lost."""


def plan_chunks(rounds: Sequence[Round], chunk_size: int) -> list[tuple[int, list[int]]]:
    """The work units: ``(chunk index, round ids)`` for consecutive ``chunk_size`` rounds."""
    ids = [r.round_id for r in rounds]
    return [(c, ids[start:start + chunk_size]) for c, start in enumerate(range(0, len(ids), chunk_size))]


class Executor(ABC):
    """Runs a campaign's chunks somewhere and yields their results in completion order."""

    name: str = "executor"

    @abstractmethod
    def run(self, campaign: ShippableCampaign, rounds: Sequence[Round], options: RunOptions,
            on_chunk: Any = None) -> Iterator[ChunkResult]:
        """Evaluates ``rounds`` of ``campaign``; yields one ChunkResult per finished chunk.

        Args:
            campaign: the campaign (its rounds, network and test set).
            rounds: the rounds to evaluate (a subset of ``campaign.rounds``).
            options: engine name, chunk size, early-stop tolerance.
            on_chunk: optional ``callable(n_rounds, n_samples)`` called as work completes
                (progress bars).
        """

    def golden(self, campaign: ShippableCampaign, options: RunOptions) -> dict[str, Any]:
        """The golden summary (accuracy, spike counts ...) where the chunks will run; a
        remote executor starts its workers here."""
        return campaign.golden()

    def close(self) -> None:
        """Releases workers started by :meth:`golden` when :meth:`run` is not called
        (nothing to release in-process)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Plain facts about where the work ran (logged with the result's metadata)."""
        return {"executor": self.name}
