"""What the engines read: from a campaign (:class:`CampaignContext`) and from a network map
(:class:`NetworkMapLike`).

These are ``typing.Protocol`` classes: :class:`~spikefi.campaign.Campaign`,
:class:`~spikefi.campaign.network.NetworkMap` and :class:`~spikefi.nir.netmap.NIRNetworkMap`
satisfy them without inheriting from them, and so do the narrower views (training under
faults, the parallel engine's channel views); ``mypy`` checks it (``make lint``).

The contract, for every implementation:

* **Determinism.** Every random draw derives from ``seed``, the round id, the fault index
  and (per-sample draws) the sample index — never from batch size, chunk size, device,
  evaluation order or the process: a chunk evaluated anywhere gives the same rows.
* **Golden state is immutable.** The golden pass (``golden()``, ``golden_batch(b)``) is
  computed once and then only read: engines never write to a
  :class:`~spikefi.campaign.types.GoldenBatch` or the tensors it holds, nor to the
  network's weights (faulty weights are separate tensors).
* **Options are the run's.** ``options`` are those of the run in progress (engine, chunk
  size, whether predictions are kept, whether scoped hooks are forced); engines read them,
  never set them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import torch
from torch import nn

from ..faults.quantization import QuantParams
from ..faults.sites import LayerInfo
from .types import Batch, GoldenBatch, PreparedRound, Round, RoundStats, RunOptions

__all__ = ["NetworkMapLike", "InjectionContext", "CampaignContext", "ShippableCampaign"]


class NetworkMapLike(Protocol):
    """A network's layers, in forward order, as the engines see them.

    A *layer* is a synaptic stage (conv, dense or pool weights) followed by its spiking
    neurons. Engines reach a layer's neurons only through :meth:`fire`, its synapses only
    through :meth:`layer_forward` and :meth:`effective_weight`, and the output only through
    :meth:`scores`; none of these modifies the network.
    """

    @property
    def order(self) -> list[str]:
        """Layer names in forward order."""
        ...

    @property
    def layers(self) -> dict[str, LayerInfo]:
        """Layer name -> its kind and neuron/synapse shapes."""
        ...

    @property
    def modules(self) -> dict[str, nn.Module]:
        """Layer name -> the module holding its weights."""
        ...

    @property
    def chain(self) -> bool:
        """Whether the network's forward is the layers one after the other (late start and
        early stop are then possible; otherwise engines use scoped hooks)."""
        ...

    @property
    def croppable(self) -> bool:
        """Whether the parallel engine may recompute cropped windows of a layer."""
        ...

    @property
    def slayer(self) -> Any:
        """The shared SLAYER spiking layer, or ``None`` (NIR networks)."""
        ...

    @property
    def spike_value(self) -> float:
        """The value of one spike in a layer's input."""
        ...

    @property
    def output_shape(self) -> tuple[int, ...]:
        """``(classes, 1, 1)`` of the network's output."""
        ...

    def layer_forward(self, name: str, x: torch.Tensor, weight: torch.Tensor | None = None,
                      channels: Sequence[int] | None = None) -> torch.Tensor:
        """Synaptic output of layer ``name`` for input spikes ``x``; ``weight`` replaces its
        effective weight (``channels``: the output channels ``weight`` holds)."""
        ...

    def fire(self, name: str, a: torch.Tensor, channels: Sequence[int] | None = None) -> torch.Tensor:
        """Spikes of layer ``name``'s healthy neurons for their synaptic output ``a``."""
        ...

    def faulty_fire(self, name: str, change: Callable[[Any], Any],
                    index: tuple[torch.Tensor, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
        """Spiking function of the neurons ``index`` of ``name`` changed by ``change``
        (per-neuron stages; SLAYER layers use :meth:`InjectionContext.faulty_slayer`)."""
        ...

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, classes)`` of the network's output."""
        ...

    def effective_weight(self, name: str) -> torch.Tensor:
        """The weight layer ``name`` computes with, ``(out, in, kh, kw, 1)``."""
        ...

    def channels_aligned(self, name: str) -> bool:
        """Whether output channel ``c`` of the layer's weights feeds neuron channel ``c``."""
        ...

    def neuron(self) -> dict[str, Any]:
        """SLAYER neuron parameters."""
        ...

    def simulation(self) -> dict[str, Any]:
        """SLAYER simulation parameters (``Ts``, ``tSample``)."""
        ...


class InjectionContext(Protocol):
    """What the faulty-layer maths (:mod:`spikefi.campaign.inject`) reads: the network map,
    where to compute, the seed of every random draw and the quantization of each layer."""

    @property
    def netmap(self) -> NetworkMapLike: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def seed(self) -> int:
        """The campaign seed (see the determinism rule in the module docstring)."""
        ...

    @property
    def qparams(self) -> Mapping[str, QuantParams]: ...

    @property
    def qcodes(self) -> Mapping[str, torch.Tensor]: ...

    def faulty_slayer(self, neuron: dict[str, Any]) -> Any:
        """A spiking layer with a faulty neuron's parameters (SLAYER networks)."""
        ...


class CampaignContext(InjectionContext, Protocol):
    """What an engine reads from a campaign (module docstring: the contract)."""

    @property
    def net(self) -> nn.Module: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def x(self) -> torch.Tensor:
        """The test set's inputs (on the host, or where the campaign keeps them)."""
        ...

    @property
    def y(self) -> torch.Tensor: ...

    @property
    def batch_size(self) -> int: ...

    @property
    def num_samples(self) -> int: ...

    @property
    def steps(self) -> int: ...

    @property
    def allow_tf32(self) -> bool: ...

    @property
    def loss_fn(self) -> Any:
        """The NumSpikes loss, or ``None``."""
        ...

    @property
    def inputs_on_device(self) -> bool:
        """Whether :meth:`batches` serves the test set from a copy kept on the device."""
        ...

    @property
    def options(self) -> RunOptions:
        """The options of the run in progress."""
        ...

    def batches(self) -> Iterator[Batch]:
        """The test set in batches, on the campaign's device, always in the same order."""
        ...

    def golden(self) -> dict[str, Any]:
        """Runs the golden pass once (cached); returns its summary."""
        ...

    def golden_batch(self, b: int) -> GoldenBatch:
        """The golden run of batch ``b`` (read only)."""
        ...

    def golden_input(self, golden: GoldenBatch, first: int, x: torch.Tensor) -> torch.Tensor:
        """Input spikes of layer ``first`` in the golden run (late start)."""
        ...

    def predict_counts(self, counts: torch.Tensor) -> torch.Tensor: ...

    def sample_losses(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...

    def result_row(self, rnd: Round, prep: PreparedRound, st: RoundStats) -> dict[str, Any]:
        """The table row of a round from its accumulated statistics."""
        ...


class ShippableCampaign(CampaignContext, Protocol):
    """What an executor needs beyond :class:`CampaignContext`: the rounds, a copy to ship to
    workers, moving it to a worker's device and the run's options set there."""

    @property
    def rounds(self) -> list[Round]: ...

    @property
    def options(self) -> RunOptions: ...

    @options.setter
    def options(self, value: RunOptions) -> None: ...

    def to(self, device: str | torch.device) -> ShippableCampaign:
        """Moves the campaign to ``device`` in place (caches dropped); returns it."""
        ...

    def portable_copy(self) -> ShippableCampaign:
        """A copy on the CPU without caches (what is shipped to workers)."""
        ...
