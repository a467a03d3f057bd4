"""Evaluating rounds in this process: the one loop every executor's worker runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from ...snn import precision
from ..context import CampaignContext
from ..types import ChunkResult, Round, RunOptions
from .base import Engine
from .registry import get_engine

__all__ = ["run_rounds"]


def run_rounds(campaign: CampaignContext, rounds: Sequence[Round], options: RunOptions, engine: Engine | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> Iterator[ChunkResult]:
    """Evaluates ``rounds`` of ``campaign`` here, one :class:`ChunkResult` per
    ``options.chunk_size`` rounds, in round order.

    The golden pass runs first (once: it is cached); chunks are computed without autograd
    and with TF32 only where the campaign allows it. ``engine`` (default: a new one named by
    ``options.engine``, with ``options.early_stop_tolerance``) evaluates the chunks;
    ``on_progress(rounds, samples)`` is called as batches complete. The in-process executor
    and the Ray executor's actors both evaluate through this function.
    """
    eng = engine if engine is not None else get_engine(options.engine,
                                                       early_stop_tolerance=options.early_stop_tolerance)
    campaign.golden()
    tf32 = campaign.allow_tf32 and precision.get_allow_tf32()
    chunks = eng.run(campaign, list(rounds), options.chunk_size, on_progress)
    try:
        while True:
            # the modes hold while a chunk is computed, not across the yield: the caller's code
            # between chunks keeps its own, and runs interleaved with others (two campaigns'
            # chunks in turn) cannot leave gradients off when they end in another order
            with precision.allow_tf32(tf32), torch.no_grad():
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        close = getattr(chunks, "close", None)  # an engine's run is a generator (Engine.run's contract: an iterator)
        if close is not None:
            close()
