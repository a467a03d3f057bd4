"""One campaign over this machine's devices: a thin wrapper over the Ray executor.

``run_on_devices(spec, ["cuda:0", "cuda:1"])`` runs the campaign with one Ray actor per
device on a local Ray (no ``if __name__ == "__main__":`` guard needed; no home-made process
pool). Ray assigns the GPUs (``CUDA_VISIBLE_DEVICES`` per actor), so the list says how many
devices of which kind, not which ones. For clusters and more options use
:class:`~spikefi.campaign.executors.ray.RayExecutor` directly.

Example:
    >>> # run_on_devices(spec, ["cuda:0", "cuda:1"])   # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..errors import ConfigError
from .result import CampaignResult
from .spec import CampaignSpec

__all__ = ["run_on_devices", "available_devices"]


def available_devices() -> list[str]:
    """All visible CUDA devices, or ``["cpu"]``."""
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu"]


def run_on_devices(
    spec: CampaignSpec,
    devices: Sequence[str] | None = None,
    engine: str = "parallel",
    chunk_size: int = 64,
    threads_per_worker: int | None = None,
    timeout_s: float | None = None,
) -> CampaignResult:
    """Runs ``spec``'s campaign with one Ray actor per device of this machine.

    Args:
        spec: the campaign.
        devices: ``["cuda:0", "cuda:1"]``, ``["cpu", "cpu"]`` ... (default: every GPU, else one CPU).
            All of one kind: GPU actors get one GPU each, CPU actors ``threads_per_worker`` cores.
        engine, chunk_size: as :meth:`~spikefi.campaign.Campaign.run`.
        threads_per_worker: CPU cores (torch threads) per actor (default: a GPU's share of the cores for GPU actors, 1 for CPU actors).
        timeout_s: fail when the first worker is not up within this time.

    Returns the merged result, rows in round order (equal to a one-device run's).
    """
    from .executors.ray import RayExecutor

    devices = list(devices or available_devices())
    if not devices:
        raise ConfigError("run_on_devices needs at least one device")
    kinds = {d.split(":")[0] for d in devices}
    if len(kinds) != 1 or not kinds <= {"cpu", "cuda"}:
        raise ConfigError(f"devices must be all 'cpu' or all 'cuda[:i]', got {devices}")
    gpu = kinds == {"cuda"}
    executor = RayExecutor(workers=len(devices), gpus_per_worker=1.0 if gpu else 0.0,
                           cpus_per_worker=threads_per_worker, start_timeout_s=timeout_s or 300.0)
    t0 = time.perf_counter()
    cmpn = spec.build()
    result = cmpn.run(engine=engine, chunk_size=chunk_size, progress=False, executor=executor)
    result.meta.update(devices=devices, seconds=time.perf_counter() - t0)
    return result
