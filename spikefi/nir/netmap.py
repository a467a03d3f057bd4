"""The campaign engine's view of an imported NIR network (:class:`NIRNetworkMap`).

A *layer* is a neuron population with the synapses feeding it: the stages from the one
after the previous neuron stage up to and including the next neuron stage. It is named
after its neuron stage's NIR node, and holds at most one weighted stage (``Affine``,
``Linear`` or ``Conv2d``: its synapses), plus pooling and flattening before or after it::

    input -> [fc1 (Affine)] -> lif1 (LIF) -> [flatten, fc2 (Affine)] -> lif2 (LIF)
             '---------- layer "lif1" ----'  '--------- layer "lif2" ----------'

Weights are seen as SLAYER's 5-D layout ``(out, in, kh, kw, 1)`` (``Affine``:
``(out, in, 1, 1, 1)``), so synapse sites are ``(out, in, kh, kw)`` as for SLAYER layers and
every synapse fault model, quantization and bit flips apply unchanged; biases stay healthy.
Spikes are 1.0 (one time step is one bin). Neuron stages keep per-neuron parameters, so a
stage can be restricted to some channels or neurons (:meth:`NIRNetworkMap.fire`) — what the
fault-parallel engine does when it recomputes only what a fault can change.

Campaigns need spiking neuron stages: a non-spiking readout (``LI``) ends the graph with
membrane potentials, which the engines' spike statistics cannot compare; it is refused with
a message.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from ..errors import FaultSpecError
from ..faults.sites import LayerInfo
from ..snn.loss import spike_counts
from .errors import NIRImportError
from .stages import AffineStage, Conv2dStage, FlattenStage, NeuronStage

__all__ = ["NIRNetworkMap", "NIRLayer", "restrict_stage"]

#: per-neuron buffers of neuron stages (``(C, H, W)`` each, or ``None``)
_NEURON_BUFFERS = ("v_threshold", "v_reset", "v_leak", "decay", "gain", "leak", "syn_decay", "mem_decay", "syn_gain",
                   "input_offset")


def restrict_stage(stage: NeuronStage, index: Any, flat: bool = False) -> NeuronStage:
    """A copy of ``stage`` whose per-neuron parameters are ``buffer[index]``.

    Args:
        index: a list of channels (the stage then runs on ``(N, len, H, W, T)``) or a tuple
            of three index tensors ``(c, h, w)`` of k neurons.
        flat: with a tuple index, the parameters become ``(k, 1, 1)``: the stage runs on the
            selected neurons' trains ``(N, k, 1, 1, T)``.
    """
    clone = copy.copy(stage)
    clone._buffers = dict(stage._buffers)  # noqa: SLF001 - a shallow module copy with its own buffers
    for key, value in vars(stage).items():  # and without the stage's hooks
        if key.startswith(("_forward", "_backward")) and isinstance(value, dict):
            setattr(clone, key, type(value)())
    for key in _NEURON_BUFFERS:
        buf = clone._buffers.get(key)  # noqa: SLF001
        if buf is None:
            continue
        sel = buf[index]
        clone._buffers[key] = sel.reshape(-1, 1, 1) if flat else sel  # noqa: SLF001
    return clone


def _channel_subset(stage: nn.Module, channels: Sequence[int]) -> nn.Module:
    """``stage`` for an input holding only ``channels``: its per-feature buffers (a Scale's
    factors, a Delay's steps) restricted to them; shared (0-d) buffers and pooling unchanged."""
    if not any(b is not None and b.dim() > 0 for b in stage._buffers.values()):  # noqa: SLF001
        return stage
    clone = copy.copy(stage)
    clone._buffers = {k: (b[list(channels)] if b is not None and b.dim() > 0 else b)  # noqa: SLF001
                      for k, b in stage._buffers.items()}  # noqa: SLF001
    return clone


class NIRLayer:
    """One layer: the stages before its neuron stage, and the neuron stage.

    Attributes:
        pre: stages applied before the weighted stage (flatten, pooling).
        weighted: the ``Affine``/``Conv2d`` stage, or ``None`` (a pooling-only layer).
        post: stages between the weighted stage and the neuron stage (pooling).
        neuron: the neuron stage.
    """

    def __init__(self, name: str, stages: Sequence[tuple[str, nn.Module]]) -> None:
        self.name = name
        self.pre: list[nn.Module] = []
        self.post: list[nn.Module] = []
        self.weighted: nn.Module | None = None
        self.weighted_name: str | None = None
        *synaptic, (_, neuron) = stages
        for node, stage in synaptic:
            if isinstance(stage, (AffineStage, Conv2dStage)):
                if self.weighted is not None:
                    raise NIRImportError(f"NIR nodes '{self.weighted_name}' and '{node}' both feed neuron stage '{name}' "
                                         "without a neuron stage between them; spikefi campaigns need one weighted node "
                                         "per neuron population")
                self.weighted, self.weighted_name = stage, node
            elif self.weighted is None:
                self.pre.append(stage)
            else:
                self.post.append(stage)
        if not isinstance(neuron, NeuronStage):
            raise NIRImportError(f"layer {name!r} does not end in a neuron stage")
        self.neuron: NeuronStage = neuron
        #: whether the weighted stage's output channels are the neuron stage's channels (no
        #: Flatten after the weights): the parallel engine may then recompute only the
        #: channels a synapse fault feeds
        self.channel_aligned = not any(isinstance(stage, FlattenStage) for stage in self.post)

    @property
    def kind(self) -> str:
        if isinstance(self.weighted, AffineStage):
            return "dense"
        if isinstance(self.weighted, Conv2dStage):
            return "conv"
        return "pool"

    def weight5(self) -> torch.Tensor | None:
        """The weight as ``(out, in, kh, kw, 1)`` (a view of the stage's parameter)."""
        w = None if self.weighted is None else self.weighted.weight
        if w is None:
            return None
        return w[:, :, None, None, None] if w.dim() == 2 else w[..., None]

    def forward_synaptic(self, x: torch.Tensor, weight: torch.Tensor | None = None,
                         channels: Sequence[int] | None = None) -> torch.Tensor:
        """The input of the neuron stage for input ``x``; ``weight`` (5-D, possibly fewer
        output ``channels``) replaces the weighted stage's weight."""
        for stage in self.pre:
            x = stage(x)
        if self.weighted is not None:
            if weight is None and channels is None:
                x = self.weighted(x)
            else:
                x = self._weighted(x, weight, channels)
        for stage in self.post:
            x = (stage if channels is None else _channel_subset(stage, channels))(x)
        return x

    def _weighted(self, x: torch.Tensor, weight: torch.Tensor | None, channels: Sequence[int] | None) -> torch.Tensor:
        stage = self.weighted
        w5 = self.weight5() if weight is None else weight
        bias = stage.bias  # type: ignore[union-attr]
        if channels is not None:
            if weight is None:
                w5 = w5[list(channels)]  # type: ignore[index]
            if bias is not None:
                bias = bias[list(channels)]
        if isinstance(stage, AffineStage):
            n, _, _, _, t = x.shape
            y = F.linear(x.reshape(n, -1, t).transpose(1, 2), w5[:, :, 0, 0, 0], bias)  # type: ignore[index]
            return y.transpose(1, 2).reshape(n, -1, 1, 1, t)
        n, c, h, w, t = x.shape
        frames = x.permute(0, 4, 1, 2, 3).reshape(n * t, c, h, w)
        y = F.conv2d(frames, w5[..., 0], bias, stage.stride, stage.padding, stage.dilation, stage.groups)  # type: ignore[index, union-attr]
        return y.reshape(n, t, *y.shape[1:]).permute(0, 2, 3, 4, 1)


class NIRNetworkMap:
    """Layers of a :class:`~spikefi.nir.NIRNetwork`, in forward order, for the campaign engines.

    Offers what the engines use of :class:`~spikefi.campaign.network.NetworkMap`:
    ``order``, ``layers``, ``modules``, ``layer_forward``, ``effective_weight``, ``fire``,
    ``spike_value``; the network is always a chain.

    Args:
        net: the imported network.
        input_shape: ``(C, H, W)`` of one sample (must be the network's).
        steps: time bins of the test set.
    """

    chain = True
    spike_value = 1.0
    #: the parallel engine's geometric shortcuts (cropped conv windows, stacked single-synapse
    #: convolutions) assume parameters shared by all neurons: off for per-neuron stages
    croppable = False

    def __init__(self, net: nn.Module, input_shape: tuple[int, int, int], steps: int) -> None:
        self.net = net
        self.input_shape = tuple(int(v) for v in input_shape)
        if not net.accepts(self.input_shape):
            raise NIRImportError(f"the test set's samples are {self.input_shape} (C, H, W) but the NIR network takes "
                                 f"{tuple(net.input_shape)}")
        self.steps = int(steps)
        self.slayer = None
        groups: list[tuple[str, list[tuple[str, nn.Module]]]] = []
        pending: list[tuple[str, nn.Module]] = []
        #: a non-spiking readout (LI, CubaLI, I) ending the graph: healthy, it turns the last
        #: spiking layer's spikes into class scores (:meth:`scores`)
        self.readout: NIRLayer | None = None
        last = list(net.stages)[-1]
        for node, stage in net.stages.items():
            pending.append((node, stage))
            if isinstance(stage, NeuronStage):
                if not stage.spiking:
                    kind = type(stage).__name__.removesuffix("Stage")
                    if node != last or not groups:
                        raise NIRImportError(f"neuron stage '{node}' ({kind}) does not spike; campaigns need spiking "
                                             "layers (LIF, CubaLIF, IF, Threshold), with at most one non-spiking "
                                             "readout (LI, CubaLI, I) ending the graph")
                    self.readout = NIRLayer(node, pending)
                    pending = []
                    continue
                groups.append((node, pending))
                pending = []
        if pending:
            raise NIRImportError(f"NIR node '{pending[-1][0]}' comes after the last neuron stage; campaigns need the "
                                 "graph to end in a spiking neuron stage")
        if not groups:
            raise NIRImportError("the NIR network has no neuron stage")
        self.groups: dict[str, NIRLayer] = {name: NIRLayer(name, stages) for name, stages in groups}
        self.order: list[str] = list(self.groups)
        #: the module whose weight holds a layer's synapses (the neuron stage for pooling-only layers)
        self.modules: dict[str, nn.Module] = {n: (g.weighted if g.weighted is not None else g.neuron)
                                              for n, g in self.groups.items()}
        dtype = next((b.dtype for b in net.buffers() if b is not None and b.is_floating_point()), torch.float32)
        device = next((b.device for b in net.buffers() if b is not None), torch.device("cpu"))
        probe = torch.zeros(1, *self.input_shape, 1, dtype=dtype, device=device)
        self.layers: dict[str, LayerInfo] = {}
        with torch.no_grad():
            for i, (name, group) in enumerate(self.groups.items()):
                probe = group.forward_synaptic(probe)
                w5 = group.weight5()
                synapse = None if w5 is None else tuple(int(v) for v in w5.shape[:4])
                self.layers[name] = LayerInfo(name, i, group.kind, tuple(int(v) for v in probe.shape[1:4]),  # type: ignore[arg-type]
                                              synapse)  # type: ignore[arg-type]
        self.output_shape = tuple(self.layers[self.order[-1]].neuron_shape)
        if self.readout is not None:
            with torch.no_grad():
                self.output_shape = tuple(int(v) for v in self.readout.forward_synaptic(probe).shape[1:4])

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, classes)`` of the last spiking layer's output: its spike counts
        (integers), or through the readout its membrane's maximum, mean or last value over
        time (``NIRNetwork.readout``; floats: the prediction is the first largest)."""
        if self.readout is None:
            return spike_counts(out)
        v = self.readout.neuron(self.readout.forward_synaptic(out)).flatten(1, 3)  # (N, classes, T)
        if self.net.readout == "max":
            return v.amax(-1)
        return v.mean(-1) if self.net.readout == "mean" else v[..., -1]

    # -- what the engines call -------------------------------------------------------------
    def layer_forward(self, name: str, x: torch.Tensor, weight: torch.Tensor | None = None,
                      channels: Sequence[int] | None = None) -> torch.Tensor:
        """Input of layer ``name``'s neuron stage; ``weight`` (5-D) replaces its weight,
        ``channels`` keeps only those output channels (and their biases)."""
        return self.groups[name].forward_synaptic(x, weight, channels)

    def effective_weight(self, name: str) -> torch.Tensor:
        """The layer's weight as ``(out, in, kh, kw, 1)`` (a view of the parameter)."""
        w5 = self.groups[name].weight5()
        if w5 is None:
            raise FaultSpecError(f"layer {name!r} has no weights (pooling only)")
        return w5

    def set_weight(self, name: str, weight: torch.Tensor) -> None:
        """Replaces the layer's weight values (5-D, as :meth:`effective_weight`)."""
        stage = self.groups[name].weighted
        if stage is None:
            raise FaultSpecError(f"layer {name!r} has no weights (pooling only)")
        stage.weight.data = weight.reshape(stage.weight.shape).to(stage.weight.dtype)

    def channels_aligned(self, name: str) -> bool:
        """Whether output channel ``c`` of layer ``name``'s weights feeds exactly neuron
        channel ``c`` (false with a Flatten between the weights and the neurons)."""
        return self.groups[name].channel_aligned

    def fire(self, name: str, a: torch.Tensor, channels: Sequence[int] | None = None) -> torch.Tensor:
        """Spikes of layer ``name`` for its neuron stage's input ``a``; with ``channels``,
        ``a`` holds only those channels."""
        stage = self.groups[name].neuron
        if channels is not None:
            stage = restrict_stage(stage, list(channels))
        return stage(a)

    def faulty_fire(self, name: str, change: Callable[[NeuronStage], NeuronStage],
                    index: tuple[torch.Tensor, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
        """A function from the selected neurons' inputs ``(N, k, T)`` to their spikes, with
        the neuron stage restricted to the neurons ``index`` and changed by ``change``."""
        stage = change(restrict_stage(self.groups[name].neuron, tuple(index), flat=True))

        def fire(a_sel: torch.Tensor) -> torch.Tensor:
            return stage(a_sel[:, :, None, None, :])[:, :, 0, 0, :]

        return fire

    def neuron(self) -> dict[str, Any]:
        raise FaultSpecError("SLAYER neuron parameters (theta, tauSr, ...) do not exist in a NIR network; use "
                             "NeuronDrift for its neuron stages")

    def simulation(self) -> dict[str, Any]:
        return {"Ts": 1.0, "tSample": self.steps}
