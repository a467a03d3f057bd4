"""A campaign's chunks on Ray actors: many GPUs, many machines, nothing lost when one dies.

The driver (this process) ships the campaign — network, weights, test set and rounds, as
one object in Ray's object store, so no shared filesystem is needed — to ``workers`` actors.
Each actor moves it to its device (``num_gpus`` per actor: Ray sets
``CUDA_VISIBLE_DEVICES``, so the actor computes on ``cuda``), runs its own golden pass once
and keeps it; the driver never needs a GPU. The driver hands out chunks of round ids on
demand (each actor holds at most ``prefetch`` chunks, so a fast actor takes more) and
collects results with ``ray.wait`` in completion order.

Fault tolerance: a chunk whose actor (or a worker node) dies goes back to the queue and
runs on another actor — identically, since every draw depends only on (seed, round id,
sample) — and a replacement actor is started while restarts remain; done chunks are never
recomputed. A chunk that raises is retried up to ``max_retries`` times, then the campaign
fails with that chunk's error. Actors never call MLflow: the driver logs.

What the campaign cannot go on without ends it with :class:`ExecutorLostError` naming the
loss (:mod:`.health`): the driver's own node (the raylet of the local Ray it started), the
cluster's head (GCS), every worker with no restart left, or a Ray system error. The driver
checks its node and the head while it waits for results (every ``health_interval_s``), so it
neither waits for a replacement that can never start nor carries on with actors on a dead
node. A tracked campaign then marks its run FAILED with the reason and the entry point exits
with code 4; the chunks written before the loss are kept and the same command resumes.

Ray's own retries stay off on purpose: actors are created with ``max_restarts=0`` and
``max_task_retries=0``. Ray would restart an actor on the same (maybe dying) node, rebuild
its campaign and golden pass there, and re-send its queued calls on its own, while the
driver also re-queues them; the pool instead knows which chunks are done, re-runs each lost
chunk once on a live actor (``max_retries`` per chunk) and starts replacements wherever Ray
finds room (``max_restarts`` in all).

``ray`` is imported only here, and only when an executor runs: ``import spikefi`` and the
engine never import it.

Example:
    >>> from spikefi.campaign import Campaign, RayExecutor   # doctest: +SKIP
    >>> result = cmpn.run(engine="parallel", executor=RayExecutor(workers=2, gpus_per_worker=1))  # doctest: +SKIP
"""

from ..base import ExecutorError, ExecutorLostError
from .cluster import import_ray
from .pool import RayExecutor
from .worker import DIE_HOOK_ENV

__all__ = ["RayExecutor", "ExecutorError", "ExecutorLostError", "import_ray", "DIE_HOOK_ENV"]
