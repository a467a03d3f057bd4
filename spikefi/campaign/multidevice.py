"""Sharding a campaign's chunks over several devices (one worker process per device).

Every worker rebuilds the campaign from its :class:`~spikefi.campaign.spec.CampaignSpec`
(plain data: nothing but the spec crosses the process boundary), with its own device,
runs its own golden pass and evaluates the chunks ``i`` with ``i % workers == rank``.
The parent merges the rows in round order, so the answer equals a one-device run's.
The same code runs CPU workers (``devices=["cpu", "cpu"]``), which is how CI tests it.

Example:
    >>> # run_on_devices(spec, ["cuda:0", "cuda:1"])   # doctest: +SKIP
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback
from collections.abc import Sequence
from typing import Any

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


def _worker(spec: dict[str, Any], device: str, rank: int, world: int, engine: str, chunk_size: int,
            threads: int | None, out: Any) -> None:
    try:
        import torch

        if threads:
            torch.set_num_threads(threads)
        spec = dict(spec)
        spec["options"] = {**spec.get("options", {}), "device": device}
        cmpn = CampaignSpec.from_dict(spec).build()
        rounds = cmpn.rounds
        mine = [r for i, r in enumerate(rounds) if (i // chunk_size) % world == rank]
        rows: list[dict[str, Any]] = []
        for chunk in cmpn.iter_chunks(engine, chunk_size, rounds=mine, progress=False):
            rows.extend(chunk.rows)
            out.put(("rows", rank, chunk.rows))
        out.put(("done", rank, cmpn.metadata(engine, 0.0)))
    except BaseException:  # noqa: BLE001 - report any failure to the parent
        out.put(("error", rank, traceback.format_exc()))


def run_on_devices(
    spec: CampaignSpec,
    devices: Sequence[str] | None = None,
    engine: str = "parallel",
    chunk_size: int = 64,
    threads_per_worker: int | None = None,
    timeout_s: float | None = None,
) -> CampaignResult:
    """Runs ``spec``'s campaign with one worker process per device; merged in round order."""
    devices = list(devices or available_devices())
    if not devices:
        raise ConfigError("run_on_devices needs at least one device")
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    data = spec.to_dict()
    procs = [ctx.Process(target=_worker, args=(data, d, i, len(devices), engine, chunk_size, threads_per_worker, out),
                         daemon=True) for i, d in enumerate(devices)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    rows: list[dict[str, Any]] = []
    meta: dict[str, Any] | None = None
    done = 0
    try:
        while done < len(procs):
            try:
                kind, rank, payload = out.get(timeout=5)
            except queue.Empty:
                if timeout_s is not None and time.perf_counter() - t0 > timeout_s:
                    raise TimeoutError(f"workers did not finish within {timeout_s} s") from None
                dead = [i for i, p in enumerate(procs) if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise RuntimeError(f"worker(s) {dead} died (exit codes {[procs[i].exitcode for i in dead]})") from None
                continue
            if kind == "rows":
                rows.extend(payload)
            elif kind == "done":
                done += 1
                meta = meta or payload
            else:
                raise RuntimeError(f"worker {rank} on {devices[rank]} failed:\n{payload}")
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    if meta is None:
        raise RuntimeError("no worker reported its campaign metadata")
    meta = {**meta, "devices": devices, "seconds": time.perf_counter() - t0, "rounds": len(rows)}
    return CampaignResult.from_rows(rows, meta)
