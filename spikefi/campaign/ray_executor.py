"""Legacy path of the Ray executor (kept for one release).

The executor moved to :mod:`spikefi.campaign.executors.ray`: the actor pool
(``pool.py``), the actor (``worker.py``) and the connection and resource checks
(``cluster.py``). Import from there; the names below keep working until the next release.
"""

from .executors.base import ExecutorError
from .executors.ray import DIE_HOOK_ENV, RayExecutor, import_ray
from .executors.ray.cluster import _probe_address
from .executors.ray.pool import _cause, _Slot, _warn_if_gpu_shared
from .executors.ray.worker import _Worker

__all__ = ["RayExecutor", "ExecutorError", "import_ray"]

# the legacy module's other names, importable as before
_LEGACY = (DIE_HOOK_ENV, _probe_address, _cause, _Slot, _warn_if_gpu_shared, _Worker)
