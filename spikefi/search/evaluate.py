"""Evaluating many candidate fault sets at once (the objective side of a search).

:class:`FaultSetEvaluator` turns a batch of fault lists into campaign rounds and runs them
together with a campaign engine (the fault-parallel engine by default), on the whole test
set or in two stages: a seeded subset first (for pruning hopeless trials) and the rest only
for the survivors. Every stage reuses one :class:`~spikefi.campaign.Campaign` whose golden
pass is computed once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..campaign import Campaign
from ..errors import ConfigError
from ..faults.sites import Fault
from ..training import dataset_tensors

__all__ = ["FaultSetScore", "FaultSetEvaluator"]


@dataclass
class FaultSetScore:
    """What one fault set did on (part of) the test set; counts add up over stages."""

    samples: int = 0
    correct: int = 0
    critical: int = 0
    changed: int = 0
    golden_correct: int = 0
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.samples if self.samples else float("nan")

    @property
    def golden_accuracy(self) -> float:
        return self.golden_correct / self.samples if self.samples else float("nan")

    @property
    def accuracy_drop(self) -> float:
        return self.golden_accuracy - self.accuracy

    @property
    def critical_rate(self) -> float:
        return self.critical / self.samples if self.samples else float("nan")

    def __add__(self, other: FaultSetScore) -> FaultSetScore:
        return FaultSetScore(self.samples + other.samples, self.correct + other.correct,
                             self.critical + other.critical, self.changed + other.changed,
                             self.golden_correct + other.golden_correct, self.seconds + other.seconds)


class FaultSetEvaluator:
    """Scores fault sets on a network and test set, many at a time.

    Args:
        net: the (golden) network.
        dataset: the test set (anything :class:`~spikefi.campaign.Campaign` takes).
        first_stage: fraction of the test samples (in (0, 1)) evaluated first for pruning;
            ``None`` evaluates everything in one stage.
        seed: seed of the campaign (stochastic timings) and of the stage split.
        engine, chunk_size: campaign engine and rounds per chunk.
        **campaign_options: ``batch_size``, ``device``, ``dtype``, ``quantization``,
            ``max_samples``, ... passed to every :class:`~spikefi.campaign.Campaign`.

    Example:
        >>> from spikefi.zoo import load_pretrained
        >>> from spikefi.data import load_spiking_digits
        >>> from spikefi.faults import DeadNeuron, Fault, Site
        >>> net, _, _ = load_pretrained("digits_cnn")
        >>> _, test = load_spiking_digits()
        >>> ev = FaultSetEvaluator(net, test, max_samples=16)
        >>> [s.samples for s in ev.evaluate([[Fault(DeadNeuron(), Site("SF4", (3, 0, 0)))]])]
        [16]
    """

    def __init__(self, net: torch.nn.Module, dataset: Any, *, first_stage: float | None = None, seed: int = 0,
                 engine: str = "parallel", chunk_size: int = 64, **campaign_options: Any) -> None:
        if first_stage is not None and not (isinstance(first_stage, (int, float)) and 0 < first_stage < 1):
            raise ConfigError(f"first_stage must be a fraction in (0, 1) or None, got {first_stage!r}")
        self.engine = engine
        self.chunk_size = chunk_size
        x, y = dataset_tensors(dataset)
        max_samples = campaign_options.pop("max_samples", None)
        if max_samples is not None:
            x, y = x[:max_samples], y[:max_samples]
        self.num_samples = int(y.numel())
        if first_stage is not None and self.num_samples < 2:
            raise ConfigError(f"a two-stage evaluation needs >= 2 test samples, got {self.num_samples}")
        if first_stage is None:
            parts = [np.arange(self.num_samples)]
        else:
            order = np.random.default_rng([seed, 5]).permutation(self.num_samples)
            n1 = min(self.num_samples - 1, max(1, int(round(first_stage * self.num_samples))))
            parts = [np.sort(order[:n1]), np.sort(order[n1:])]
        self.stage_samples = [p.tolist() for p in parts]
        self.campaigns = [Campaign(net, (x[torch.as_tensor(p)], y[torch.as_tensor(p)]), seed=seed, **campaign_options)
                          for p in parts]
        self.golden_correct = []
        for c in self.campaigns:
            g = c.golden()
            self.golden_correct.append(int(round(g["accuracy"] * g["samples"])))

    @property
    def stages(self) -> int:
        return len(self.campaigns)

    @property
    def netmap(self) -> Any:
        return self.campaigns[0].netmap

    @property
    def steps(self) -> int:
        return self.campaigns[0].steps

    @property
    def golden_accuracy(self) -> float:
        return sum(self.golden_correct) / self.num_samples

    def evaluate(self, fault_sets: Sequence[Sequence[Fault]], stage: int | None = None) -> list[FaultSetScore]:
        """Scores of ``fault_sets`` on one stage's samples (or, with ``None``, all stages).

        Raises:
            FaultSpecError: a fault set does not fit the network (checked before any work).
        """
        if stage is None:
            totals = [FaultSetScore() for _ in fault_sets]
            for s in range(self.stages):
                totals = [a + b for a, b in zip(totals, self.evaluate(fault_sets, s), strict=True)]
            return totals
        cmpn = self.campaigns[stage]
        cmpn.eject()
        ids = [cmpn.then_inject(list(fs)) for fs in fault_sets]
        if not ids:
            return []
        t0 = time.perf_counter()
        rows: dict[int, dict[str, Any]] = {}
        for chunk in cmpn.iter_chunks(self.engine, self.chunk_size, progress=False):
            for row in chunk.rows:
                rows[int(row["round_id"])] = row
        cmpn.eject()
        per = (time.perf_counter() - t0) / len(ids)
        out = []
        for rid in ids:
            row = rows[rid]
            n = int(row["samples"])
            out.append(FaultSetScore(n, int(round(row["accuracy"] * n)), int(row["critical"]), int(row["changed"]),
                                     self.golden_correct[stage], per))
        return out
