"""Narrow views for the fault-parallel engine: a layer's faults restricted to some output
channels, and the network map and campaign seen through them (both are the protocols of
:mod:`spikefi.campaign.context`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ....faults.quantization import QuantParams
from ....faults.sites import LayerInfo
from ...context import CampaignContext, InjectionContext, NetworkMapLike
from ...inject import synaptic_output
from ...types import LayerFaults

__all__: list[str] = []


def _remap_neurons(lf: LayerFaults, index: dict[tuple[int, ...], int], device: torch.device) -> LayerFaults:
    """The layer's neuron/parametric faults re-indexed onto a (B, P, 1, 1, T) tensor."""
    def idx(positions: Sequence[tuple[int, ...]]) -> tuple[torch.Tensor, ...]:
        p = torch.tensor([index[tuple(int(v) for v in q)] for q in positions], device=device)
        zero = torch.zeros_like(p)
        return p, zero, zero

    parametric = [type(q)(q.fault, q.index, idx(q.fault.positions), q.fire) for q in lf.parametric]
    neuron = [type(n)(n.fault, n.index, idx(n.fault.positions)) for n in lf.neuron]
    return LayerFaults(synapse=[], parametric=parametric, neuron=neuron)


def _synaptic_channels(campaign: CampaignContext, name: str, x: torch.Tensor, lf: LayerFaults, samples: list[int],
                       round_id: int, channels: list[int]) -> torch.Tensor:
    """Synaptic output of the given output channels only, with the layer's synapse faults."""
    sub = _ChannelView(lf, channels)
    view = _NetmapChannels(campaign.netmap, name, channels)
    return synaptic_output(_CampaignView(campaign, view), name, x, sub, samples, round_id)


class _ChannelView(LayerFaults):
    """The layer's faults with synapse indices renumbered into the kept channels."""

    def __init__(self, lf: LayerFaults, channels: list[int]) -> None:
        remap = {c: i for i, c in enumerate(channels)}
        synapse = []
        for s in lf.synapse:
            out = torch.tensor([remap[int(c)] for c in s.idx[0].tolist()], device=s.idx[0].device)
            synapse.append(type(s)(s.fault, s.index, (out, *s.idx[1:]), s.values))
        permanent = None
        if lf.permanent_weight is not None:
            permanent = lf.permanent_weight[channels]
        super().__init__(synapse=synapse, parametric=[], neuron=[], permanent_weight=permanent, trainable=lf.trainable)


class _NetmapChannels:
    """A network map whose layer ``name`` has only the given output channels (the others
    delegate to the full map)."""

    def __init__(self, netmap: NetworkMapLike, name: str, channels: list[int]) -> None:
        self._netmap = netmap
        self._name = name
        self._channels = channels

    @property
    def order(self) -> list[str]:
        return self._netmap.order

    @property
    def layers(self) -> dict[str, LayerInfo]:
        return self._netmap.layers

    @property
    def modules(self) -> dict[str, nn.Module]:
        return self._netmap.modules

    @property
    def chain(self) -> bool:
        return self._netmap.chain

    @property
    def croppable(self) -> bool:
        return self._netmap.croppable

    @property
    def slayer(self) -> Any:
        return self._netmap.slayer

    @property
    def spike_value(self) -> float:
        return self._netmap.spike_value

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self._netmap.output_shape

    def effective_weight(self, name: str) -> torch.Tensor:
        return self._netmap.effective_weight(name)[self._channels]

    def layer_forward(self, name: str, x: torch.Tensor, weight: torch.Tensor | None = None,
                      channels: Sequence[int] | None = None) -> torch.Tensor:
        if weight is None:
            weight = self.effective_weight(name)
        return self._netmap.layer_forward(name, x, weight, channels=self._channels)

    def fire(self, name: str, a: torch.Tensor, channels: Sequence[int] | None = None) -> torch.Tensor:
        return self._netmap.fire(name, a, channels)

    def faulty_fire(self, name: str, change: Callable[[Any], Any],
                    index: tuple[torch.Tensor, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
        return self._netmap.faulty_fire(name, change, index)

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        return self._netmap.scores(out)

    def channels_aligned(self, name: str) -> bool:
        return self._netmap.channels_aligned(name)

    def neuron(self) -> dict[str, Any]:
        return self._netmap.neuron()

    def simulation(self) -> dict[str, Any]:
        return self._netmap.simulation()


class _CampaignView:
    """The campaign as the faulty-layer maths sees it, with another network map."""

    def __init__(self, campaign: InjectionContext, netmap: NetworkMapLike) -> None:
        self._campaign = campaign
        self._netmap = netmap

    @property
    def netmap(self) -> NetworkMapLike:
        return self._netmap

    @property
    def device(self) -> torch.device:
        return self._campaign.device

    @property
    def seed(self) -> int:
        return self._campaign.seed

    @property
    def qparams(self) -> Mapping[str, QuantParams]:
        return self._campaign.qparams

    @property
    def qcodes(self) -> Mapping[str, torch.Tensor]:
        return self._campaign.qcodes

    def faulty_slayer(self, neuron: dict[str, Any]) -> Any:
        return self._campaign.faulty_slayer(neuron)
