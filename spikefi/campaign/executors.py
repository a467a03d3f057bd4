"""Where a campaign's chunks run: executors.

An executor takes a campaign, the rounds still to evaluate and the engine options, and
yields :class:`~spikefi.campaign.engine.ChunkResult` objects in *completion order*; every
consumer orders rows by round id (``CampaignResult.from_rows``, the tracked campaign's
table), so the answer never depends on where or in which order chunks ran.

* :class:`InProcessExecutor` — the campaign's own process and device (the default).
* :class:`~spikefi.campaign.ray_executor.RayExecutor` — Ray actors, one per GPU (or per
  group of CPU cores), on this machine or a cluster; ``ray`` is imported only when such an
  executor runs.

Example:
    >>> from spikefi.campaign import Campaign, InProcessExecutor
    >>> from spikefi.data import load_spiking_digits
    >>> from spikefi.faults import DeadNeuron
    >>> from spikefi.zoo import load_pretrained
    >>> net, _, _ = load_pretrained("digits_cnn")
    >>> _, test = load_spiking_digits()
    >>> cmpn = Campaign(net, test, max_samples=32)
    >>> ids = cmpn.exhaustive(DeadNeuron(), layers=["SF4"])
    >>> len(cmpn.run(executor=InProcessExecutor(), progress=False).table)
    10
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .types import RunOptions

if TYPE_CHECKING:
    from .campaign import Campaign, Round
    from .engine import ChunkResult

__all__ = ["Executor", "InProcessExecutor", "RunOptions", "plan_chunks", "get_executor"]


def plan_chunks(rounds: Sequence[Round], chunk_size: int) -> list[tuple[int, list[int]]]:
    """The work units: ``(chunk index, round ids)`` for consecutive ``chunk_size`` rounds."""
    ids = [r.round_id for r in rounds]
    return [(c, ids[start:start + chunk_size]) for c, start in enumerate(range(0, len(ids), chunk_size))]


class Executor(ABC):
    """Runs a campaign's chunks somewhere and yields their results in completion order."""

    name: str = "executor"

    @abstractmethod
    def run(self, campaign: Campaign, rounds: Sequence[Round], options: RunOptions,
            on_chunk: Any = None) -> Iterator[ChunkResult]:
        """Evaluates ``rounds`` of ``campaign``; yields one ChunkResult per finished chunk.

        Args:
            campaign: the campaign (its rounds, network and test set).
            rounds: the rounds to evaluate (a subset of ``campaign.rounds``).
            options: engine name, chunk size, early-stop tolerance.
            on_chunk: optional ``callable(n_rounds, n_samples)`` called as work completes
                (progress bars).
        """

    def golden(self, campaign: Campaign, options: RunOptions) -> dict[str, Any]:
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


class InProcessExecutor(Executor):
    """Evaluates chunks in this process, on the campaign's device (today's loop)."""

    name = "in-process"

    def run(self, campaign: Campaign, rounds: Sequence[Round], options: RunOptions,
            on_chunk: Any = None) -> Iterator[ChunkResult]:
        from .engine import get_engine

        eng = get_engine(options.engine, early_stop_tolerance=options.early_stop_tolerance)
        campaign.golden()
        yield from eng.run(campaign, list(rounds), options.chunk_size, on_chunk)


def get_executor(executor: Executor | str | None) -> Executor:
    """An executor from an instance, ``None``/``"in-process"`` or ``"ray"`` (local Ray)."""
    if executor is None or executor == "in-process":
        return InProcessExecutor()
    if isinstance(executor, Executor):
        return executor
    if executor == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor()
    raise ConfigError(f"unknown executor {executor!r}; allowed: 'in-process', 'ray' or an Executor instance")
