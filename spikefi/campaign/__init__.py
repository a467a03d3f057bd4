"""Fault injection campaigns: network discovery, engines, results and statistics.

Layers, each importing only those below it: ``campaign.py`` (with ``fault_training.py``,
``multidevice.py``, ``spec.py``) → ``executors/`` → ``engines/`` → ``inject.py`` →
``context.py`` → ``types.py`` (see ``docs/architecture.md``).
"""

from .campaign import Campaign
from .engines import ENGINES, Engine, NaiveEngine, ParallelEngine, SequentialEngine
from .executors import Executor, ExecutorError, ExecutorLostError, InProcessExecutor
from .executors.ray import RayExecutor
from .multidevice import available_devices, run_on_devices
from .network import NetworkMap
from .result import CampaignResult
from .spec import CampaignSpec
from .stats import margin_of_error, sample_size, wilson_interval, wilson_intervals
from .types import ChunkResult, Round, RunOptions

__all__ = [
    "Campaign", "Round", "CampaignResult", "CampaignSpec", "NetworkMap",
    "Engine", "NaiveEngine", "SequentialEngine", "ParallelEngine", "ENGINES", "ChunkResult",
    "run_on_devices", "available_devices", "Executor", "InProcessExecutor", "RayExecutor", "RunOptions",
    "ExecutorError", "ExecutorLostError",
    "sample_size", "margin_of_error", "wilson_interval", "wilson_intervals",
]
