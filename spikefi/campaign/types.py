"""Plain data of a campaign run: rounds, prepared rounds, statistics, golden batches, options.

The bottom layer of :mod:`spikefi.campaign`: these types import nothing from the rest of
the package, and every other layer (the faulty-layer maths, the engines, the executors,
the campaign) passes them around.

* :class:`Round` — faults evaluated together, with a stable id;
* :class:`PreparedRound` — a round's tensors, built once on the device
  (:func:`spikefi.campaign.inject.prepare_round`), per layer a :class:`LayerFaults`;
* :class:`RoundStats` — a round's accumulators over the batches of the test set;
* :class:`ChunkResult` — the rows of one chunk of rounds, as an engine yields them;
* :class:`GoldenBatch` — the golden run of one batch (immutable: engines only read it);
* :class:`Batch` — one batch of the test set ``(samples, x, y)``;
* :class:`RunOptions` — how a run evaluates (engine, chunk size, early-stop tolerance,
  whether predictions are kept, whether scoped hooks are forced).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from ..errors import ConfigError
from ..faults.sites import Fault, ResolvedFault

__all__ = [
    "Round", "PreparedRound", "LayerFaults", "RoundStats", "ChunkResult", "GoldenBatch", "Batch", "RunOptions",
    "faults_json",
]


@dataclass
class Round:
    """Faults evaluated together, with a stable id."""

    round_id: int
    faults: list[ResolvedFault] = field(default_factory=list)
    specs: list[Fault] = field(default_factory=list)


# -- a prepared round -------------------------------------------------------------------


class _LazyIndex:
    """Index tensors of one fault, built from shared storage at first use."""

    def __init__(self, build: Callable[[], tuple[torch.Tensor, ...]]) -> None:
        self._build = build
        self._value: tuple[torch.Tensor, ...] | None = None

    def get(self) -> tuple[torch.Tensor, ...]:
        if self._value is None:
            self._value = self._build()
        return self._value


@dataclass
class _Synapse:
    fault: ResolvedFault
    index: int  # fault index within the round
    idx: tuple[torch.Tensor, ...]
    values: torch.Tensor
    #: σ of each weight's read noise, drawn per sample (analog devices), or None
    read_std: torch.Tensor | None = None


@dataclass
class _Parametric:
    fault: ResolvedFault
    index: int
    _idx: tuple[torch.Tensor, ...] | _LazyIndex
    #: the faulty neurons' spikes ``(B, k, T)`` for their synaptic outputs ``(B, k, T)``
    fire: Any

    @property
    def idx(self) -> tuple[torch.Tensor, ...]:
        return self._idx.get() if isinstance(self._idx, _LazyIndex) else self._idx


@dataclass
class _Neuron:
    fault: ResolvedFault
    index: int
    _idx: tuple[torch.Tensor, ...] | _LazyIndex

    @property
    def idx(self) -> tuple[torch.Tensor, ...]:
        return self._idx.get() if isinstance(self._idx, _LazyIndex) else self._idx


@dataclass
class LayerFaults:
    """A round's faults of one layer, by kind, with their tensors."""

    synapse: list[_Synapse] = field(default_factory=list)
    parametric: list[_Parametric] = field(default_factory=list)
    neuron: list[_Neuron] = field(default_factory=list)
    #: effective weight with every permanent synapse fault, built at first use
    #: (:func:`spikefi.campaign.inject.permanent_weight`)
    permanent_weight: torch.Tensor | None = None
    #: recompute faulty weights from the current (trainable) weights at every call
    trainable: bool = False
    #: per-neuron factor ``(C, H, W)`` of the synaptic output (threshold mismatch), or None
    neuron_scale: torch.Tensor | None = None


@dataclass
class PreparedRound:
    """A round's tensors (faulty weight values, faulty-neuron kernels), built once."""

    round_id: int
    layers: dict[str, LayerFaults]
    first: int  # index of the first faulty layer (len(order) when empty)
    last: int


# -- statistics and results ---------------------------------------------------------------


@dataclass
class RoundStats:
    """Per-round accumulators over the batches of the test set."""

    samples: int = 0
    correct: int = 0
    critical: int = 0
    changed: int = 0
    tied: int = 0
    loss_sum: float = 0.0
    deviation_sum: float = 0.0
    spikes: dict[str, int] = field(default_factory=dict)
    first_divergence: int | None = None
    #: per-batch predicted classes, in batch order (kept when the campaign asks for them)
    predictions: list[torch.Tensor] = field(default_factory=list)

    def add_spikes(self, name: str, count: int) -> None:
        self.spikes[name] = self.spikes.get(name, 0) + int(count)

    def diverged_at(self, index: int) -> None:
        if self.first_divergence is None or index < self.first_divergence:
            self.first_divergence = index


@dataclass
class ChunkResult:
    """Results of one chunk of rounds, yielded as soon as the chunk is done."""

    chunk_index: int
    round_ids: list[int]
    rows: list[dict[str, Any]]
    seconds: float
    samples: int
    #: round id -> predicted class per sample (only when the campaign keeps predictions)
    predictions: dict[int, torch.Tensor] = field(default_factory=dict)


# -- the golden run and the test set --------------------------------------------------------


@dataclass(frozen=True)
class GoldenBatch:
    """The golden (fault-free) run of one batch of the test set, cached by the campaign.

    Immutable: engines read it and never write to it (nor to the tensors and dicts it
    holds); every round of every chunk compares against the same values.

    Attributes:
        spikes: layer name -> bool firing mask ``(B, C, H, W, T)`` of its spikes.
        output: the network's output spikes ``(B, classes, 1, 1, T)``.
        counts: class scores ``(B, classes)`` (spike counts, or a NIR readout's floats).
        pred: predicted class per sample ``(B,)``.
        tied: whether the top score is shared by two or more classes ``(B,)``.
        losses: NumSpikes loss per sample ``(B,)`` (float64), or ``None`` without a loss.
        spike_counts: layer name -> number of spikes in the batch.
    """

    spikes: dict[str, torch.Tensor]
    output: torch.Tensor
    counts: torch.Tensor
    pred: torch.Tensor
    tied: torch.Tensor
    losses: torch.Tensor | None
    spike_counts: dict[str, int]

    def __getitem__(self, key: str) -> Any:
        """Read access by name (``golden["pred"]``), as when golden batches were dicts."""
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)


class Batch(NamedTuple):
    """One batch of the test set: sample indices, inputs ``(B, C, H, W, T)`` and labels ``(B,)``."""

    samples: list[int]
    x: torch.Tensor
    y: torch.Tensor


# -- options --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    """How a run evaluates its rounds; an executor passes them to wherever chunks are evaluated.

    Attributes:
        engine: the engine by name (``naive``, ``sequential``, ``parallel``).
        chunk_size: rounds per chunk.
        early_stop_tolerance: the sequential engine's early-stop tolerance (0: exact).
        keep_predictions: keep every round's per-sample predictions (``ChunkResult.predictions``).
        force_hooks: evaluate through the network's own forward with scoped hooks even for
            chain networks.
    """

    engine: str = "sequential"
    chunk_size: int = 64
    early_stop_tolerance: float = 0.0
    keep_predictions: bool = False
    force_hooks: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.chunk_size, bool) or not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise ConfigError(f"chunk_size must be an int >= 1, got {self.chunk_size!r}")
        if not isinstance(self.engine, str):
            raise ConfigError(f"an executor needs the engine by name (naive, sequential, parallel), got {self.engine!r}")


def faults_json(faults: Sequence[ResolvedFault]) -> str:
    """A round's resolved faults as JSON (the result table's ``faults`` column)."""
    # a whole-layer fault (analog devices) lists no positions: its model names the layer's shape
    return json.dumps([
        {**f.model.spec(), "layer": f.layer,
         "positions": [] if getattr(f.model, "whole_layer", False) else [list(p) for p in f.positions],
         "timing": f.timing.spec()}
        for f in faults
    ])
