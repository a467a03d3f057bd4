"""Engines: how the rounds of a chunk are evaluated on one device.

* ``naive`` — the reference: every round runs the whole network from the input;
* ``sequential`` — SpikeFI's optimisations: late start at the first faulty layer, early
  stop once a layer reproduces the golden spikes;
* ``parallel`` — many rounds at once, stacked from their first faulty layer, with fault
  dropping.

:data:`ENGINES` is the explicit registry; :func:`run_rounds` is the in-process loop.
"""

from .base import Engine, OutputObserver, tied_top
from .naive import NaiveEngine
from .parallel import ParallelEngine, rows_budget
from .registry import ENGINES, get_engine, register_engine
from .run import run_rounds
from .sequential import SequentialEngine

__all__ = [
    "Engine", "NaiveEngine", "SequentialEngine", "ParallelEngine", "ENGINES", "get_engine", "register_engine",
    "run_rounds", "tied_top", "rows_budget", "OutputObserver",
]
