"""What training and golden evaluation need from any network a campaign accepts.

:func:`spikefi.training.train` and :func:`spikefi.training.evaluate` work on the same
networks as a campaign (:mod:`spikefi.campaign.network`'s duck typing):

* spikefi zoo networks (``layer_names``/``forward_layers``);
* any slayerPytorch-style ``torch.nn.Module``: a spiking layer object with ``psp``,
  ``spike`` and an ``srmKernel`` buffer (``spikefi.snn.layer`` or slayerPytorch's
  ``spikeLayer``) and ``Conv3d``-based synaptic layers, with whatever ``forward`` the user
  wrote -- each layer's spikes are the outputs of the spiking layer's ``spike`` calls, named
  after the synaptic layer before them;
* networks imported by ``spikefi.nir.load`` (their neuron stages; a non-spiking readout's
  membrane is scored as in a campaign).

:class:`NetworkView` gives their dtype and device, per-layer spikes and predictions
(integer spike counts, ties to the lowest class index, as in a campaign).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .errors import ConfigError

__all__ = ["NetworkView"]


class NetworkView:
    """One network seen the same way whatever its kind (zoo, slayerPytorch-style, NIR).

    Args:
        net: the network.
        sample: one input batch ``(N, C, H, W, T)`` (its shape sizes the probe pass that
            discovers the layers of a slayerPytorch-style network).
    """

    def __init__(self, net: nn.Module, sample: torch.Tensor) -> None:
        if not isinstance(net, nn.Module):
            raise ConfigError(f"expected a torch.nn.Module network, got {type(net).__name__}")
        param = next(iter(net.parameters()), None)
        if param is None:
            raise ConfigError(f"the network {type(net).__name__} has no parameters to train or evaluate")
        self.net = net
        self.device = param.device
        self.kind = "zoo" if callable(getattr(net, "forward_layers", None)) and hasattr(net, "layer_names") else ""
        self.netmap: Any = None
        self.slayer: Any = None
        if self.kind == "zoo":
            self.dtype = net.slayer.srmKernel.dtype
            return
        from .campaign.network import find_spiking_layer, network_map

        shape = tuple(int(v) for v in sample.shape[1:4])
        self.netmap = network_map(net, shape, int(sample.shape[-1]))  # type: ignore[arg-type]
        if callable(getattr(net, "neuron_stages", None)):
            self.kind = "nir"
            self.dtype = param.dtype
        else:
            self.kind = "slayer"
            self.slayer = find_spiking_layer(net)
            self.dtype = self.slayer.srmKernel.dtype

    @property
    def layer_names(self) -> list[str]:
        """The spiking layers, in forward order."""
        if self.kind == "zoo":
            return list(self.net.layer_names)
        if self.kind == "nir":
            return list(self.net.neuron_stages())
        return list(self.netmap.order)

    def forward_layers(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(network output, {layer: its output spikes})`` of one forward pass."""
        if self.kind == "zoo":
            layers = self.net.forward_layers(x)
            return layers[self.net.layer_names[-1]], layers
        if self.kind == "nir":
            out, record = self.net(x, record=True)
            return out, {name: record[name] for name in self.net.neuron_stages()}
        captured: list[torch.Tensor] = []
        original = self.slayer.spike

        def spy(*args: Any, **kwargs: Any) -> torch.Tensor:
            spikes = original(*args, **kwargs)
            captured.append(spikes)
            return spikes

        self.slayer.spike = spy  # an instance attribute over the method, for this pass only
        try:
            out = self.net(x)
        finally:
            del self.slayer.spike
        names = self.layer_names
        if len(captured) != len(names):  # a forward that fires other than once per synaptic layer
            names = [f"spike{i}" for i in range(len(captured))]
        return out, dict(zip(names, captured, strict=True))

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, classes)``: output spike counts (a NIR readout's membrane score)."""
        if self.netmap is not None:
            return self.netmap.scores(out)
        from .snn.loss import spike_counts

        return spike_counts(out)

    def predict(self, out: torch.Tensor) -> torch.Tensor:
        """The predicted classes: the largest score, ties to the lowest class index."""
        from .snn.loss import predict, predict_counts

        if self.kind == "zoo":
            return predict(out)
        scores = self.scores(out)
        return torch.argmax(scores, dim=1) if scores.is_floating_point() else predict_counts(scores)

    def check_trainable(self) -> None:
        """Refuses a network without trainable parameters, or whose output is not spikes (the
        NumSpikes loss counts spikes)."""
        if not any(p.requires_grad for p in self.net.parameters()):
            raise ConfigError(f"the network {type(self.net).__name__} has no trainable parameter (every one has "
                              "requires_grad=False; a spikefi.nir.load import is frozen: call "
                              "net.requires_grad_(True) to train it)")
        if self.kind == "nir" and getattr(self.netmap, "readout", None) is not None:
            raise ConfigError("training uses the NumSpikes loss on the output spikes; this NIR network ends in a "
                              "non-spiking readout (LI, CubaLI, I): train it in its own framework, or drop the "
                              "readout from the graph")
