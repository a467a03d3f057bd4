"""The sequential engine: SpikeFI's optimisations.

Loop order batch → round, late start from the cached golden spikes at the first faulty
layer, early stop once a layer at or after the last faulty one reproduces the golden
spikes (``early_stop_tolerance`` > 0 stops when at most that fraction of spike entries
differ — an approximation). Networks that are not a chain are evaluated as by the naive
engine.
"""

from __future__ import annotations

import torch

from ..context import CampaignContext
from ..inject import faulty_layer
from ..types import GoldenBatch, PreparedRound, RoundStats
from .base import Engine
from .naive import evaluate_hooked

__all__ = ["SequentialEngine"]


class SequentialEngine(Engine):
    """SpikeFI-style: late start at the first faulty layer, early stop on golden spikes."""

    name = "sequential"

    def evaluate(self, campaign: CampaignContext, prep: PreparedRound, samples: list[int], x: torch.Tensor,
                 y: torch.Tensor, golden: GoldenBatch, stats: RoundStats) -> None:
        if not campaign.netmap.chain or campaign.options.force_hooks:  # no late start without a chain
            evaluate_hooked(self, campaign, prep, samples, x, y, golden, stats)
            return
        order = campaign.netmap.order
        if prep.first >= len(order):  # empty round: the golden network
            for name in order:
                stats.add_spikes(name, golden.spike_counts[name])
            self.observe(prep.round_id, golden.output)
            self.finish(campaign, golden.output, y, golden, stats)
            return
        for name in order[: prep.first]:
            stats.add_spikes(name, golden.spike_counts[name])
        s = campaign.golden_input(golden, prep.first, x)
        out = None
        for i in range(prep.first, len(order)):
            name = order[i]
            s = faulty_layer(campaign, name, s, prep.layers.get(name), samples, prep.round_id)
            fired = s != 0
            stats.add_spikes(name, int(fired.sum()))
            g = golden.spikes[name]
            differs = fired != g
            if bool(differs.any()):
                stats.diverged_at(i)
            if i >= prep.last:
                frac = float(differs.float().mean()) if self.early_stop_tolerance > 0 else (1.0 if bool(differs.any()) else 0.0)
                if frac <= self.early_stop_tolerance:
                    for rest in order[i + 1 :]:
                        stats.add_spikes(rest, golden.spike_counts[rest])
                    out = golden.output if frac == 0 else None
                    if out is None:  # approximate stop: continue golden from here
                        out = golden.output
                    break
        if out is None:
            out = s
        self.observe(prep.round_id, out)
        self.finish(campaign, out, y, golden, stats)
