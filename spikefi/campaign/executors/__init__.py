"""Where a campaign's chunks run: executors.

An executor takes a campaign, the rounds still to evaluate and the engine options, and
yields :class:`~spikefi.campaign.types.ChunkResult` objects in *completion order*; every
consumer orders rows by round id (``CampaignResult.from_rows``, the tracked campaign's
table), so the answer never depends on where or in which order chunks ran.

* :class:`InProcessExecutor` — the campaign's own process and device (the default).
* :class:`~spikefi.campaign.executors.ray.RayExecutor` — Ray actors, one per GPU (or per
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

from ..types import RunOptions
from .base import Executor, ExecutorError, ExecutorLostError, plan_chunks
from .in_process import InProcessExecutor
from .select import get_executor

__all__ = ["Executor", "InProcessExecutor", "RunOptions", "plan_chunks", "get_executor", "ExecutorError",
           "ExecutorLostError"]
