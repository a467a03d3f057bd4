"""Feed-forward SLAYER networks described as a list of layers, and the model zoo.

Every synaptic layer of a :class:`SpikingNetwork` is followed by ``spike(psp(.))``, as
in SpikeFI's published networks. Layer attribute names (``SC1``, ``SP1``, ``SF4a`` ...)
are part of the ``state_dict`` keys, so a state_dict saved from the SpikeFI/slayerPytorch
model of the same architecture loads unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, ShapeError, StateDictError
from ..finite_weights import check_finite_weights
from ..snn import functional as fn
from ..snn.layer import layer
from ..snn.params import params

__all__ = [
    "LayerSpec",
    "SpikingNetwork",
    "ARCHITECTURES",
    "config_path",
    "load_config",
    "build",
    "available",
]


@dataclass(frozen=True)
class LayerSpec:
    """One synaptic layer: ``kind`` is ``conv``, ``pool`` or ``dense``; ``args`` go to the
    ``layer`` factory method of that name. ``dropout`` (a probability) adds a neuron
    dropout on the layer's input during training."""

    name: str
    kind: str
    args: Mapping[str, Any] = field(default_factory=dict)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("conv", "pool", "dense"):
            raise ConfigError(
                f"layer {self.name!r}: kind {self.kind!r} is not allowed; allowed: conv, pool, dense"
            )
        if not self.name.isidentifier():
            raise ConfigError(f"layer name {self.name!r} must be a Python identifier")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"layer {self.name!r}: dropout must be in [0, 1), got {self.dropout!r}")


class SpikingNetwork(nn.Module):
    """A feed-forward chain of SLAYER layers, each followed by ``spike(psp(.))``.

    Args:
        net_params: SLAYER parameters (``neuron``, ``simulation``; a
            :class:`~spikefi.snn.params` or a mapping).
        layers: the synaptic layers in order.
        input_shape: ``(C, H, W)`` of one input sample.
        architecture: a name recorded with saved models.

    Example:
        >>> import torch
        >>> from spikefi.zoo import build
        >>> net, p = build("digits_mlp")
        >>> out = net(torch.zeros(1, 2, 16, 16, p.T))
        >>> out.shape
        torch.Size([1, 10, 1, 1, 30])
    """

    def __init__(
        self,
        net_params: Mapping[str, Any],
        layers: Sequence[LayerSpec],
        input_shape: tuple[int, int, int],
        architecture: str = "custom",
    ) -> None:
        super().__init__()
        if not layers:
            raise ConfigError("a SpikingNetwork needs at least one layer")
        self.slayer = layer(net_params["neuron"], net_params["simulation"])
        #: the SLAYER parameters as plain data (neuron, simulation, training ...)
        self.config: dict[str, Any] = (
            net_params.to_dict() if isinstance(net_params, params) else copy.deepcopy(dict(net_params))
        )
        self.input_shape = tuple(int(v) for v in input_shape)
        if len(self.input_shape) != 3 or min(self.input_shape) <= 0:
            raise ConfigError(f"input_shape must be (C, H, W) of positive ints, got {input_shape!r}")
        self.architecture = architecture
        self.specs = tuple(layers)
        self.layer_names: tuple[str, ...] = tuple(s.name for s in layers)
        if len(set(self.layer_names)) != len(self.layer_names):
            raise ConfigError(f"layer names must be unique, got {list(self.layer_names)}")
        self._dropouts: dict[str, str] = {}
        for spec in layers:
            factory = getattr(self.slayer, spec.kind)
            try:
                module = factory(**dict(spec.args))
            except TypeError as exc:
                raise ConfigError(f"layer {spec.name!r} ({spec.kind}): bad arguments {dict(spec.args)}: {exc}") from None
            setattr(self, spec.name, module)
            if spec.dropout > 0:
                drop_name = f"{spec.name}_drop"
                setattr(self, drop_name, self.slayer.dropout(spec.dropout))
                self._dropouts[spec.name] = drop_name

    @property
    def T(self) -> int:  # noqa: N802
        """Number of time bins of the simulation."""
        return self.slayer.T

    def check_input(self, x: Any) -> torch.Tensor:
        """Validates an input batch ``(N, C, H, W, T)``."""
        fn.check_spike_tensor(x, "network input", min_rank=5)
        if x.dim() != 5 or tuple(x.shape[1:4]) != self.input_shape:
            raise ShapeError(
                f"network input has shape {tuple(x.shape)}; expected (N, "
                f"{', '.join(map(str, self.input_shape))}, T)"
            )
        return x

    def layer_forward(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Synaptic output (before psp) of layer ``name`` for input spikes ``x``."""
        drop = self._dropouts.get(name)
        if drop is not None:
            x = getattr(self, drop)(x)
        return getattr(self, name)(x)

    def membrane_potential(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Membrane potential of layer ``name`` (``psp`` of its synaptic output)."""
        return self.slayer.psp(self.layer_forward(name, x))

    def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Output spikes of every layer, in order (the last one is the network output)."""
        self.check_input(x)
        out: dict[str, torch.Tensor] = {}
        for name in self.layer_names:
            x = self.slayer.fire(self.layer_forward(name, x))
            out[name] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output spikes ``(N, C, H, W, T)``. Each layer is ``slayer.fire(layer(x))``
        (``spike(psp(.))``; on the fused path, see :mod:`spikefi.snn.paths`, the layers
        pass time-major tensors to each other and the output is made contiguous)."""
        self.check_input(x)
        for name in self.layer_names:
            x = self.slayer.fire(self.layer_forward(name, x))
        return x.contiguous()

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):  # type: ignore[override]
        """Loads weights after checking keys, shapes and values; mismatches and NaN/Inf weights
        raise :class:`StateDictError`."""
        if not isinstance(state_dict, Mapping):
            raise StateDictError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        bad = [
            f"{k}: got {tuple(state_dict[k].shape)}, expected {tuple(own[k].shape)}"
            for k in own
            if k in state_dict
            and isinstance(state_dict[k], torch.Tensor)
            and tuple(state_dict[k].shape) != tuple(own[k].shape)
        ]
        if bad or (strict and (missing or unexpected)):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            if bad:
                parts.append("shape mismatches " + "; ".join(bad))
            raise StateDictError(
                f"state_dict does not fit architecture {self.architecture!r}: " + ", ".join(parts)
            )
        check_finite_weights(state_dict, f"state_dict for architecture {self.architecture!r}")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def config_path(name: str) -> str:
    """Path of a bundled SLAYER yaml config (``digits``, ``nmnist``, ``gesture``)."""
    path = resources.files("spikefi.zoo").joinpath("configs", f"{name}.yaml")
    if not path.is_file():
        raise ConfigError(f"no bundled config {name!r}; available: digits, nmnist, gesture")
    return str(path)


def load_config(name: str) -> params:
    """The bundled SLAYER parameters ``name`` as :class:`~spikefi.snn.params`."""
    return params(config_path(name))


def _digits_cnn() -> list[LayerSpec]:
    return [
        LayerSpec("SC1", "conv", dict(inFeatures=2, outFeatures=8, kernelSize=3, padding=1, weightScale=20)),
        LayerSpec("SP1", "pool", dict(kernelSize=2)),
        LayerSpec("SC2", "conv", dict(inFeatures=8, outFeatures=16, kernelSize=3, padding=1, weightScale=20)),
        LayerSpec("SP2", "pool", dict(kernelSize=2)),
        LayerSpec("SF3", "dense", dict(inFeatures=(4, 4, 16), outFeatures=64, weightScale=10)),
        LayerSpec("SF4", "dense", dict(inFeatures=64, outFeatures=10, weightScale=10)),
    ]


def _digits_mlp() -> list[LayerSpec]:
    return [
        LayerSpec("SF1", "dense", dict(inFeatures=(16, 16, 2), outFeatures=128, weightScale=10)),
        LayerSpec("SF2", "dense", dict(inFeatures=128, outFeatures=10, weightScale=10)),
    ]


def _nmnist_cnn() -> list[LayerSpec]:
    # SpikeFI's NmnistCnn; weight scales only matter for training from scratch
    return [
        LayerSpec("SC1", "conv", dict(inFeatures=2, outFeatures=24, kernelSize=5, padding=2, weightScale=10)),
        LayerSpec("SP1", "pool", dict(kernelSize=2)),
        LayerSpec("SC2", "conv", dict(inFeatures=24, outFeatures=48, kernelSize=3, padding=1, weightScale=15)),
        LayerSpec("SP2", "pool", dict(kernelSize=2)),
        LayerSpec("SC3", "conv", dict(inFeatures=48, outFeatures=96, kernelSize=3, padding=1, weightScale=15)),
        LayerSpec("SP3", "pool", dict(kernelSize=2)),
        LayerSpec("SF4a", "dense", dict(inFeatures=(5, 5, 96), outFeatures=256, weightScale=10)),
        LayerSpec("SF4b", "dense", dict(inFeatures=256, outFeatures=10, weightScale=10)),
    ]


def _nmnist_mlp() -> list[LayerSpec]:
    return [
        LayerSpec("SF1", "dense", dict(inFeatures=(34, 34, 2), outFeatures=512, weightScale=10)),
        LayerSpec("SF2", "dense", dict(inFeatures=512, outFeatures=512, weightScale=10)),
        LayerSpec("SF3", "dense", dict(inFeatures=512, outFeatures=10, weightScale=12)),
    ]


def _gesture_cnn(classes: int = 11) -> list[LayerSpec]:
    return [
        LayerSpec("SP0", "pool", dict(kernelSize=4)),
        LayerSpec("SC1", "conv", dict(inFeatures=2, outFeatures=32, kernelSize=5, padding=2, weightScale=10)),
        LayerSpec("SP1", "pool", dict(kernelSize=2)),
        LayerSpec("SC2", "conv", dict(inFeatures=32, outFeatures=64, kernelSize=3, padding=1, weightScale=20)),
        LayerSpec("SP2", "pool", dict(kernelSize=2)),
        LayerSpec("SC3", "conv", dict(inFeatures=64, outFeatures=128, kernelSize=3, padding=1, weightScale=20)),
        LayerSpec("SP3", "pool", dict(kernelSize=2)),
        LayerSpec("SF4a", "dense", dict(inFeatures=(4, 4, 128), outFeatures=256, weightScale=10)),
        LayerSpec("SF4b", "dense", dict(inFeatures=256, outFeatures=classes, weightScale=10)),
    ]


#: name -> (layers factory, input shape, bundled config)
ARCHITECTURES: dict[str, tuple[Any, tuple[int, int, int], str]] = {
    "digits_cnn": (_digits_cnn, (2, 16, 16), "digits"),
    "digits_mlp": (_digits_mlp, (2, 16, 16), "digits"),
    "nmnist_cnn": (_nmnist_cnn, (2, 34, 34), "nmnist"),
    "nmnist_mlp": (_nmnist_mlp, (2, 34, 34), "nmnist"),
    "gesture_cnn": (_gesture_cnn, (2, 128, 128), "gesture"),
    "gesture_cnn_10": (lambda: _gesture_cnn(10), (2, 128, 128), "gesture"),
}


def available() -> list[str]:
    """Names of the zoo's architectures."""
    return sorted(ARCHITECTURES)


def build(
    name: str, net_params: Mapping[str, Any] | None = None, seed: int | None = None
) -> tuple[SpikingNetwork, params]:
    """Builds architecture ``name`` with its bundled config (or ``net_params``).

    Args:
        name: one of :func:`available`.
        net_params: SLAYER parameters overriding the bundled yaml.
        seed: seeds the weight initialisation (``torch.manual_seed`` is left alone when
            ``None``).

    Returns:
        ``(network, params)``.
    """
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {name!r}; available: {available()}")
    factory, input_shape, config = ARCHITECTURES[name]
    p = load_config(config) if net_params is None else (
        net_params if isinstance(net_params, params) else params(data=net_params)
    )
    if seed is None:
        net = SpikingNetwork(p, factory(), input_shape, architecture=name)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = SpikingNetwork(p, factory(), input_shape, architecture=name)
    return net, p
