"""Fault injection campaigns: network discovery, engines, results and statistics."""

from .campaign import Campaign, Round
from .engine import ENGINES, ChunkResult, Engine, NaiveEngine, SequentialEngine
from .executors import Executor, InProcessExecutor, RunOptions
from .multidevice import available_devices, run_on_devices
from .network import NetworkMap
from .parallel import ParallelEngine
from .ray_executor import ExecutorError, RayExecutor
from .result import CampaignResult
from .spec import CampaignSpec
from .stats import margin_of_error, sample_size, wilson_interval, wilson_intervals

__all__ = [
    "Campaign", "Round", "CampaignResult", "CampaignSpec", "NetworkMap",
    "Engine", "NaiveEngine", "SequentialEngine", "ParallelEngine", "ENGINES", "ChunkResult",
    "run_on_devices", "available_devices", "Executor", "InProcessExecutor", "RayExecutor", "RunOptions",
    "ExecutorError",
    "sample_size", "margin_of_error", "wilson_interval", "wilson_intervals",
]
