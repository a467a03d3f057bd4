"""The default executor: chunks evaluated in this process, on the campaign's device."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..context import ShippableCampaign
from ..engines import run_rounds
from ..types import ChunkResult, Round, RunOptions
from .base import Executor

__all__ = ["InProcessExecutor"]


class InProcessExecutor(Executor):
    """Evaluates chunks in this process, on the campaign's device (today's loop)."""

    name = "in-process"

    def run(self, campaign: ShippableCampaign, rounds: Sequence[Round], options: RunOptions,
            on_chunk: Any = None) -> Iterator[ChunkResult]:
        yield from run_rounds(campaign, rounds, options, on_progress=on_chunk)
