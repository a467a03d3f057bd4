"""The Ray executor's actor: one campaign on one device, evaluating chunks on demand."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import replace
from typing import Any

from ...context import ShippableCampaign
from ...engines import run_rounds
from ...types import ChunkResult, RunOptions
from ..base import ExecutorError

__all__ = ["DIE_HOOK_ENV"]

#: test hook: ``"<chunk index>:<marker file>"`` makes the actor that is about to run that
#: chunk exit its process (``os._exit``) once — the marker file records that it happened
DIE_HOOK_ENV = "SPIKEFI_TEST_RAY_DIE_ON_CHUNK"


class _Worker:
    """The actor: one campaign on one device, evaluating chunks of round ids on demand."""

    def __init__(self, campaign: ShippableCampaign, options: RunOptions, threads: int | None, use_gpu: bool) -> None:
        import torch

        t0 = time.perf_counter()
        if threads:
            torch.set_num_threads(threads)
        device = "cuda" if use_gpu else "cpu"
        if use_gpu and not torch.cuda.is_available():
            raise ExecutorError(f"worker on {socket.gethostname()} was given a GPU but CUDA is not available there")
        # its GPU's free memory before this actor uses any: what other processes leave it
        gpu_memory = tuple(v / 2**30 for v in torch.cuda.mem_get_info()) if use_gpu else None
        self.campaign = campaign.to(device) if str(campaign.device) != device else campaign
        self.campaign.options = options
        self.options = options
        self.by_id = {r.round_id: r for r in self.campaign.rounds}
        t1 = time.perf_counter()
        self.golden = self.campaign.golden()
        t2 = time.perf_counter()
        if use_gpu:  # which GPU of its host (Ray sets CUDA_VISIBLE_DEVICES per actor)
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
            device = f"cuda[{visible}]" if visible else "cuda"
        self.facts = {"host": socket.gethostname(), "pid": os.getpid(), "device": device, "gpu_memory_gib": gpu_memory,
                      "gpu": torch.cuda.get_device_name(0) if use_gpu else None,
                      "build_s": t1 - t0, "golden_s": t2 - t1, "golden": self.golden}

    def ready(self) -> dict[str, Any]:
        return self.facts

    def run_chunk(self, index: int, round_ids: list[int]) -> ChunkResult:
        hook = os.environ.get(DIE_HOOK_ENV)
        if hook:
            which, _, marker = hook.partition(":")
            if int(which) == index and marker and not os.path.exists(marker):
                with open(marker, "w") as fh:
                    fh.write(f"{os.getpid()}\n")
                os._exit(17)
        rounds = [self.by_id[i] for i in round_ids]
        chunks = list(run_rounds(self.campaign, rounds, replace(self.options, chunk_size=len(rounds))))
        rows = [row for c in chunks for row in c.rows]
        preds = {k: v.cpu() for c in chunks for k, v in c.predictions.items()}
        seconds = sum(c.seconds for c in chunks)
        return ChunkResult(index, list(round_ids), rows, seconds, self.campaign.num_samples, preds)
