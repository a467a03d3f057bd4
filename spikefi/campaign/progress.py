"""A campaign's progress bar, weighted by the work of each round.

A round recomputes the network from its first faulty layer on (late start), so a round in the
first convolution costs many times a round in the output layer. Counting rounds alike makes
the bar race to 96% and stall there when the expensive rounds come last; here each round
weighs the estimated operations of the layers it recomputes (neurons x (synaptic fan-in +
a constant for the spiking dynamics)), normalized to a mean of 1, so the bar's unit stays
"faults x samples" and its end is where the work ends.

Within a chunk the bar advances by the engine's progress calls with the mean weight of the
rounds not finished yet; when a chunk is done it is set to the exact work finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["round_weights", "WorkProgress"]

#: operations per neuron and time step besides its synapses (psp filter, threshold, refractory)
_SPIKING_COST = 8.0
#: fixed work of any round (set-up, comparisons with golden), as a share of a whole forward pass
_ROUND_OVERHEAD = 0.05


def round_weights(netmap: Any, rounds: Sequence[Any]) -> dict[int, float]:
    """Relative work of each round (mean 1): the cost of the layers from its first faulty layer on."""
    order = list(netmap.order)
    costs = []
    for name in order:
        info = netmap.layers[name]
        neurons = float(np.prod(info.neuron_shape))
        fan_in = float(np.prod(info.synapse_shape[1:])) if info.synapse_shape else 4.0
        costs.append(neurons * (fan_in + _SPIKING_COST))
    tail = np.cumsum(costs[::-1])[::-1]  # cost from layer i to the end
    index = {name: i for i, name in enumerate(order)}
    overhead = _ROUND_OVERHEAD * float(tail[0]) if len(tail) else 0.0
    raw = {}
    for r in rounds:
        first = min((index.get(f.layer, 0) for f in r.faults), default=0)
        raw[r.round_id] = float(tail[first]) + overhead if len(tail) else 1.0
    mean = float(np.mean(list(raw.values()))) if raw else 1.0
    return {k: v / mean for k, v in raw.items()} if mean > 0 else {k: 1.0 for k in raw}


class WorkProgress:
    """tqdm bar over the weighted work of ``rounds`` x ``samples`` (no bar when disabled)."""

    def __init__(self, netmap: Any, rounds: Sequence[Any], samples: int, desc: str, enabled: bool = True) -> None:
        self.weights = round_weights(netmap, rounds)
        self.samples = samples
        self.pending = dict(self.weights)  # rounds not finished yet
        self.exact = 0.0                    # work of finished chunks
        self.partial = 0.0                  # estimated work of the chunk in progress
        self.rounds_total = len(rounds)
        self.rounds_done = 0
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=sum(self.weights.values()) * samples, unit="f·s", unit_scale=True, desc=desc,
                            mininterval=0.5)

    def advance(self, n_rounds: int, n_samples: int) -> None:
        """Progress inside a chunk (the engine's progress callback)."""
        if self.bar is None or not self.pending:
            return
        mean = sum(self.pending.values()) / len(self.pending)
        remaining = sum(self.pending.values()) * self.samples
        self.partial = min(self.partial + n_rounds * n_samples * mean, remaining)
        self._show()

    def chunk_done(self, round_ids: Iterable[int]) -> None:
        """A chunk finished: the bar is set to the exact work done."""
        for rid in round_ids:
            self.exact += self.pending.pop(int(rid), 0.0) * self.samples
            self.rounds_done += 1
        self.partial = 0.0
        if self.bar is not None:
            self.bar.set_postfix(rounds=f"{self.rounds_done}/{self.rounds_total}", refresh=False)
            self._show()

    def _show(self) -> None:
        if self.bar is None:  # progress off: nothing to draw
            return
        self.bar.n = min(self.exact + self.partial, self.bar.total)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
