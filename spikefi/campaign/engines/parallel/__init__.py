"""The fault-parallel engine (see :mod:`spikefi.campaign.engines.parallel.engine`)."""

from .engine import ParallelEngine, rows_budget

__all__ = ["ParallelEngine", "rows_budget"]
