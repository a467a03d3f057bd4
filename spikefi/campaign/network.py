"""NetworkMap: discovering a SLAYER network's layers by duck typing.

A spiking layer object is any attribute with ``psp``, ``spike`` and an ``srmKernel``
buffer (spikefi's ``snn.layer`` or slayerPytorch's ``spikeLayer``). Synaptic layers are
``Conv3d``-based modules with 5-D weights ``(out, in, kh, kw, 1)`` (SLAYER's dense, conv
and pool). The layer order and shapes are found by tracing one forward pass; the
network is a *chain* when its forward equals applying every synaptic layer in that order,
each followed by ``spike(psp(.))`` — the SLAYER pattern — which the campaign engines
exploit (late start from cached golden spikes, early stop).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import FaultSpecError, ShapeError
from ..faults.sites import LayerInfo
from ..snn import functional as fn
from ..snn.loss import spike_counts
from .integer_synapses import IntegerLayer, exact_conv3d

if TYPE_CHECKING:
    from ..nir.netmap import NIRNetworkMap

__all__ = ["NetworkMap", "network_map", "find_spiking_layer", "synaptic_kind"]


def network_map(net: nn.Module, input_shape: tuple[int, int, int], steps: int) -> NetworkMap | NIRNetworkMap:
    """The engines' view of ``net``: :class:`NetworkMap` for SLAYER networks,
    :class:`spikefi.nir.netmap.NIRNetworkMap` for networks imported by ``spikefi.nir.load``."""
    if callable(getattr(net, "neuron_stages", None)) and isinstance(getattr(net, "stages", None), nn.ModuleDict):
        from ..nir.netmap import NIRNetworkMap

        return NIRNetworkMap(net, input_shape, steps)
    return NetworkMap(net, input_shape, steps)


def find_spiking_layer(net: nn.Module) -> Any:
    """The network's spiking layer object (with ``psp``/``spike``/``srmKernel``)."""
    for _, module in net.named_modules():
        if callable(getattr(module, "psp", None)) and callable(getattr(module, "spike", None)) and hasattr(module, "srmKernel"):
            return module
    raise FaultSpecError(
        "the network has no spiking layer (a module with psp(), spike() and an srmKernel buffer, "
        "e.g. spikefi.snn.layer or slayerPytorch's spikeLayer)"
    )


def synaptic_kind(module: nn.Module) -> str | None:
    """``conv``, ``dense`` or ``pool`` for a SLAYER synaptic layer, else ``None``."""
    if not isinstance(module, nn.Conv3d) or module.weight.dim() != 5 or module.weight.shape[-1] != 1:
        return None
    name = type(module).__name__.lower()
    if "pool" in name or not module.weight.requires_grad and module.weight.shape[:2] == (1, 1):
        return "pool"
    if "dense" in name:
        return "dense"
    return "conv"


@dataclass
class _Traced:
    name: str
    module: nn.Module
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


class NetworkMap:
    """Layers of a SLAYER network, in forward order, with their shapes.

    Every layer shares the one spiking layer (``slayer``): :meth:`fire` is
    ``slayer.fire(a)`` (``spike(psp(a))``, one fused kernel on the fused path: see
    :mod:`spikefi.snn.paths`) whatever the layer or channels.

    Args:
        net: the network (not modified).
        input_shape: ``(C, H, W)`` of one sample.
        steps: time bins ``T`` used for the probe forward pass.
    """

    #: the parallel engine may recompute cropped windows and stack single-synapse convolutions
    croppable = True

    def __init__(self, net: nn.Module, input_shape: tuple[int, int, int], steps: int) -> None:
        self.net = net
        self.slayer = find_spiking_layer(net)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.steps = int(steps)
        names = {id(m): n for n, m in net.named_modules()}
        traced: list[_Traced] = []

        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            traced.append(_Traced(names[id(module)], module, synaptic_kind(module) or "?",
                                  tuple(inputs[0].shape[1:4]), tuple(output.shape[1:4])))

        handles = [m.register_forward_hook(hook) for m in net.modules() if synaptic_kind(m) is not None]
        param = next(iter(net.parameters()), None)
        dtype = param.dtype if param is not None else torch.float32
        device = param.device if param is not None else torch.device("cpu")
        g = torch.Generator().manual_seed(1234)
        probe = ((torch.rand(2, *self.input_shape, self.steps, generator=g) < 0.2).to(dtype) / float(self.slayer.Ts if hasattr(self.slayer, "Ts") else self.slayer.simulation["Ts"])).to(device)
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                expected = net(probe)
        except Exception as exc:  # noqa: BLE001 - report any failure of the user's forward
            raise ShapeError(f"the network's forward failed on an input of shape {tuple(probe.shape)}: {exc}") from None
        finally:
            for h in handles:
                h.remove()
            net.train(was_training)
        if not traced:
            raise FaultSpecError("the network has no SLAYER synaptic layer (Conv3d with (out, in, kh, kw, 1) weights)")
        if len({t.name for t in traced}) != len(traced):
            raise FaultSpecError("a synaptic layer is called more than once per forward; such networks are not supported")
        self._traced = traced
        #: layers computed integer-exactly (:mod:`spikefi.campaign.integer_synapses`), set by a
        #: campaign that quantized their weights
        self.integer: dict[str, IntegerLayer] = {}
        self.order: list[str] = [t.name for t in traced]
        self.modules: dict[str, nn.Module] = {t.name: t.module for t in traced}
        self.layers: dict[str, LayerInfo] = {}
        for i, t in enumerate(traced):
            w: Any = t.module.weight
            synapse = tuple(int(v) for v in w.shape[:4]) if t.kind in ("conv", "dense") else None
            self.layers[t.name] = LayerInfo(t.name, i, t.kind, t.out_shape, synapse)  # type: ignore[arg-type]
        self.chain = self._is_chain(probe, expected)
        self.output_shape = tuple(expected.shape[1:4])
        if not self.chain:
            # a layer's output shape is that of its spikes; check every layer is followed by spike()
            for t in traced:
                if t.kind not in ("conv", "dense", "pool"):
                    raise FaultSpecError(f"layer {t.name!r} is not a SLAYER synaptic layer")

    def _is_chain(self, probe: torch.Tensor, expected: torch.Tensor) -> bool:
        try:
            with torch.no_grad():
                x = probe
                for name in self.order:
                    x = self.slayer.fire(self.layer_forward(name, x))
        except (RuntimeError, ValueError):  # layers do not compose as a chain (shapes differ)
            return False
        return x.shape == expected.shape and torch.equal(x, expected)

    # ------------------------------------------------------------------------------
    def layer_forward(self, name: str, x: torch.Tensor, weight: torch.Tensor | None = None,
                      channels: Any = None) -> torch.Tensor:
        """Synaptic output of layer ``name`` (eval mode); ``weight`` replaces its effective weight
        (``channels``: the output channels ``weight`` holds; SLAYER layers have no bias, so
        nothing else depends on them)."""
        module: Any = self.modules[name]
        if weight is None:
            if channels is not None:
                weight = self.effective_weight(name)[list(channels)]
            elif name in self.integer:
                return self.synaptic_conv(name, x)
            else:
                return module(x)
        return self.synaptic_conv(name, x, weight)

    def synaptic_conv(self, name: str, x: torch.Tensor, weight: torch.Tensor | None = None,
                      padding: Any = None) -> torch.Tensor:
        """``conv3d`` of layer ``name`` with ``weight`` (default: its own) and ``padding``
        (default: its own; 0 for an input window that already holds the padding), integer-exact
        where :mod:`spikefi.campaign.integer_synapses` allows it."""
        module: Any = self.modules[name]
        pad = module.padding if padding is None else padding
        exact = self.integer.get(name)
        own = weight is None
        w: torch.Tensor = self.effective_weight(name) if weight is None else weight
        if exact is None:
            return fn.conv3d(x, w, module.stride, pad, module.dilation, module.groups)
        return exact_conv3d(x, w, exact, module.stride, pad, module.dilation, module.groups, golden=own)

    @property
    def spike_value(self) -> float:
        """The value of one spike (``1/Ts``)."""
        return 1.0 / float(self.simulation()["Ts"])

    def fire(self, name: str, a: torch.Tensor, channels: Any = None) -> torch.Tensor:
        """Spikes of layer ``name`` for its synaptic output ``a`` (``channels``: the channels
        ``a`` holds; the neuron is the same for all)."""
        return self.slayer.fire(a)

    def faulty_fire(self, name: str, change: Callable[[Any], Any],
                    index: tuple[torch.Tensor, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
        """Not for SLAYER layers: a faulty neuron's spiking layer comes from its changed
        parameters (``Campaign.faulty_slayer``), the same for all of the layer's neurons."""
        raise FaultSpecError(f"layer {name!r} is a SLAYER layer: its faulty neurons fire through a spiking layer "
                             "with the faulty parameters (Campaign.faulty_slayer), not a changed neuron stage")

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        """Class scores of the network's output: spike counts per output neuron ``(N, classes)``."""
        return spike_counts(out)

    def channels_aligned(self, name: str) -> bool:
        """Output channel ``c`` of a SLAYER layer's weights is its neuron channel ``c``."""
        return True

    def set_weight(self, name: str, weight: torch.Tensor) -> None:
        """Replaces the layer's weight values."""
        module: Any = self.modules[name]
        module.weight.data = weight.to(module.weight.dtype)

    def effective_weight(self, name: str) -> torch.Tensor:
        """The weight the layer computes with (after its ``preHookFx``, if any)."""
        module: Any = self.modules[name]
        hook = getattr(module, "preHookFx", None)
        return module.weight if hook is None else hook(module.weight)

    def neuron(self) -> dict[str, Any]:
        return dict(self.slayer.neuron)

    def simulation(self) -> dict[str, Any]:
        return dict(self.slayer.simulation)

    def copy_network(self) -> nn.Module:
        return copy.deepcopy(self.net)
