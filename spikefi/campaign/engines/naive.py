"""The naive engine: every round runs the whole network from the input (the reference).

Networks whose forward is not a SLAYER chain run their own ``forward`` with the faults
injected through scoped hooks (:func:`~spikefi.campaign.inject.scoped_injection`), without
late start or early stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch

from ...snn.functional import stats_of_spikes
from ..context import CampaignContext
from ..inject import faulty_layer, layer_spikes_with_stats, scoped_injection
from ..types import GoldenBatch, PreparedRound, RoundStats
from .base import Engine, _apply_finish, _finish_tensors

__all__ = ["NaiveEngine", "evaluate_hooked"]


class NaiveEngine(Engine):
    """Every round runs the whole network from the input: the reference engine.

    For chain networks the statistics of all rounds of a chunk are read back from the
    device together after the batch (no host-device synchronisation per round, so the
    host queues the next round while the device computes).
    """

    name = "naive"

    def evaluate_chunk(self, campaign: CampaignContext, prepared: Sequence[PreparedRound], samples: list[int],
                       x: torch.Tensor, y: torch.Tensor, golden: GoldenBatch, stats: Sequence[RoundStats]) -> None:
        if not campaign.netmap.chain or campaign.options.force_hooks:
            super().evaluate_chunk(campaign, prepared, samples, x, y, golden, stats)
            return
        pending: list[dict[str, Any]] = []
        for prep, st in zip(prepared, stats, strict=True):
            out = _naive_round(campaign, prep, samples, x, y, golden, st, pending)
            self.observe(prep.round_id, out)
        _resolve_naive(campaign, pending, int(y.numel()))

    def evaluate(self, campaign: CampaignContext, prep: PreparedRound, samples: list[int], x: torch.Tensor,
                 y: torch.Tensor, golden: GoldenBatch, stats: RoundStats) -> None:
        if not campaign.netmap.chain or campaign.options.force_hooks:
            evaluate_hooked(self, campaign, prep, samples, x, y, golden, stats)
            return
        pending: list[dict[str, Any]] = []
        out = _naive_round(campaign, prep, samples, x, y, golden, stats, pending)
        self.observe(prep.round_id, out)
        _resolve_naive(campaign, pending, int(y.numel()))


def evaluate_hooked(engine: Engine, campaign: CampaignContext, prep: PreparedRound, samples: list[int],
                    x: torch.Tensor, y: torch.Tensor, golden: GoldenBatch, stats: RoundStats) -> None:
    """One round on one batch through the network's own forward, the faults injected by
    scoped hooks (any topology: no late start, no early stop)."""
    record: dict[str, torch.Tensor] = {}
    with scoped_injection(campaign, prep, samples, record):
        out = campaign.net(x)
    for i, name in enumerate(campaign.netmap.order):
        fired = record[name] != 0
        stats.add_spikes(name, int(fired.sum()))
        if not torch.equal(fired, golden.spikes[name]):
            stats.diverged_at(i)
    engine.observe(prep.round_id, out)
    engine.finish(campaign, out, y, golden, stats)


def _naive_round(campaign: CampaignContext, prep: PreparedRound, samples: Sequence[int], x: torch.Tensor, y: torch.Tensor,
                 golden: GoldenBatch, stats: RoundStats, pending: list[dict[str, Any]],
                 late_start: bool = False) -> torch.Tensor:
    """The whole network for one round (chain networks); its statistics stay on the device
    in ``pending`` until :func:`_resolve_naive`. Returns the round's output spikes.

    With ``late_start`` the layers before the round's first faulty layer take their golden
    spikes (the fault-parallel engine's path for whole-layer faults)."""
    netmap = campaign.netmap
    first = min(prep.first, len(netmap.order)) if late_start else 0
    s = campaign.golden_input(golden, first, x) if first else x
    counts: list[torch.Tensor] = []
    checked: list[tuple[int, torch.Tensor]] = []
    device = golden.pred.device
    for i, name in enumerate(netmap.order):
        if i < first:
            counts.append(torch.tensor(golden.spike_counts[name], dtype=torch.long, device=device))
            continue
        check = stats.first_divergence is None or i < stats.first_divergence
        lf = prep.layers.get(name)
        if lf is None:  # a healthy layer: its statistics come with its spikes
            s, st = layer_spikes_with_stats(netmap, name, s, golden=golden.spikes[name] if check else None)
            counts.append(cast(torch.Tensor, st["count"]))
            if check:
                checked.append((i, st["differs"].long()))  # type: ignore[union-attr]
            continue
        s = faulty_layer(campaign, name, s, lf, samples, prep.round_id)
        st = stats_of_spikes(s, golden=golden.spikes[name] if check else None)
        counts.append(cast(torch.Tensor, st["count"]))
        if check:
            checked.append((i, st["differs"].long()))  # type: ignore[union-attr]
    values, loss, pred = _finish_tensors(campaign, s, y, golden)
    pending.append({"stats": stats, "ints": [*counts, *(c[1] for c in checked), *values.unbind()],
                    "checked": [c[0] for c in checked], "loss": loss, "pred": pred})
    return s


def _resolve_naive(campaign: CampaignContext, pending: list[dict[str, Any]], samples: int) -> None:
    """Reads the pending statistics back in one transfer and adds them to the rounds' stats."""
    if not pending:
        return
    order = campaign.netmap.order
    ints = torch.stack([t for p in pending for t in p["ints"]]).tolist()
    losses = [p["loss"] for p in pending if p["loss"] is not None]
    loss_values = iter(torch.stack(losses).tolist()) if losses else iter(())
    preds = torch.stack([p["pred"] for p in pending]).cpu() if campaign.options.keep_predictions else None
    k = 0
    for j, p in enumerate(pending):
        st: RoundStats = p["stats"]
        vals = ints[k : k + len(p["ints"])]
        k += len(p["ints"])
        n_checked = len(p["checked"])
        for name, count in zip(order, vals[: len(order)], strict=True):
            st.add_spikes(name, count)
        for i, differs in zip(p["checked"], vals[len(order) : len(order) + n_checked], strict=True):
            if differs:
                st.diverged_at(i)
        _apply_finish(campaign, st, samples, vals[len(order) + n_checked :],
                      next(loss_values) if p["loss"] is not None else None,
                      preds[j] if preds is not None else None)
