"""SpikeFI 1.3's ``spikefi.utils.layer.LayersInfo``: the layers of a network, built from
spikefi's :class:`~spikefi.campaign.NetworkMap`.

SpikeFI calls conv and dense layers *injectable* (their neurons and synapses take faults);
pooling layers are listed too (their neurons can take neuron faults in spikefi).
"""

from __future__ import annotations

import math
import random
from typing import Any

from ..errors import FaultSpecError

__all__ = ["LayersInfo"]


class LayersInfo:
    """Names, order, kinds and shapes of a network's spiking layers.

    Attributes:
        shape_in: ``(C, H, W)`` of one input.
        order: Layer names in forward order.
        names: The same names, as a set.
        types: Layer name -> kind (``"conv"``, ``"dense"``, ``"pool"``).
        injectables: Layer name -> whether it is a conv/dense layer.
        weightables: Layer name -> whether it has trainable synapses (conv/dense).
        shapes_neu: Layer name -> neuron shape ``(C, H, W)``.
        shapes_syn: Layer name -> synapse shape ``(out, in, kh, kw)`` or ``None``.
    """

    def __init__(self, shape_in: tuple[int, int, int], netmap: Any = None) -> None:
        self.shape_in = tuple(int(v) for v in shape_in)
        self.order: list[str] = []
        self.types: dict[str, str] = {}
        self.injectables: dict[str, bool] = {}
        self.weightables: dict[str, bool] = {}
        self.shapes_neu: dict[str, tuple[int, int, int]] = {}
        self.shapes_syn: dict[str, tuple[int, int, int, int] | None] = {}
        if netmap is not None:
            for name in netmap.order:
                info = netmap.layers[name]
                self.order.append(name)
                self.types[name] = info.kind
                self.injectables[name] = info.synapse_shape is not None
                self.weightables[name] = info.synapse_shape is not None
                self.shapes_neu[name] = tuple(info.neuron_shape)
                self.shapes_syn[name] = None if info.synapse_shape is None else tuple(info.synapse_shape)

    @property
    def names(self) -> set[str]:
        return set(self.order)

    def __len__(self) -> int:
        return len(self.order)

    def __repr__(self) -> str:
        rows = []
        for i, name in enumerate(self.order):
            syn = self.shapes_syn[name]
            rows.append(f"  #{i:2d}: '{name}' - {self.types[name]} - "
                        f"{'' if self.injectables[name] else 'non '}injectable, neurons {self.shapes_neu[name]}, "
                        f"synapses {syn if syn else '-'}")
        return "Layers info {\n" + "\n".join(rows) + "\n}"

    def _check(self, name: str) -> str:
        if name not in self.types:
            raise FaultSpecError(f"unknown layer {name!r}; layers: {self.order}")
        return name

    def index(self, name: str) -> int:
        """Position of a layer in the forward order."""
        return self.order.index(self._check(name))

    def is_injectable(self, name: str) -> bool:
        """Whether the layer is a conv or dense layer."""
        return self.injectables.get(name, False)

    def is_weightable(self, name: str) -> bool:
        """Whether the layer has synapses that take faults."""
        return self.weightables.get(name, False)

    def is_output(self, name: str) -> bool:
        """Whether the layer is the last one."""
        return bool(self.order) and name == self.order[-1]

    def get_injectables(self) -> list[str]:
        """The conv and dense layers, in order."""
        return [n for n in self.order if self.injectables[n]]

    def get_following(self, name: str) -> str | None:
        """The next layer, or ``None`` for the last one."""
        i = self.index(name)
        return self.order[i + 1] if i + 1 < len(self.order) else None

    def get_shape(self, syn_select: bool, name: str) -> tuple[int, ...]:
        """Synapse shape (``syn_select``) or neuron shape of a layer.

        Raises:
            FaultSpecError: For an unknown layer, or synapses of a pooling layer.
        """
        self._check(name)
        if syn_select:
            shape = self.shapes_syn[name]
            if shape is None:
                raise FaultSpecError(
                    f"layer {name!r} ({self.types[name]}) has no injectable synapses; synapse faults go to "
                    "conv/dense layers"
                )
            return shape
        return self.shapes_neu[name]

    def get_shapes_inj(self, syn_select: bool) -> list[tuple[int, ...]]:
        """Shapes of the injectable layers."""
        return [self.get_shape(syn_select, n) for n in self.get_injectables()]

    def get_size(self, syn_select: bool, name: str) -> int:
        """Number of synapses or neurons of a layer."""
        return math.prod(self.get_shape(syn_select, name))

    def get_sizes_inj(self, syn_select: bool) -> list[int]:
        """Numbers of synapses or neurons of the injectable layers."""
        return [math.prod(s) for s in self.get_shapes_inj(syn_select)]

    def get_random_inj(self, syn_select: bool = False) -> str:
        """An injectable layer drawn with ``random.choices`` weighted by its size."""
        return random.choices(self.get_injectables(), weights=self.get_sizes_inj(syn_select), k=1)[0]

    def identify(self, shape: tuple[int, int, int]) -> str | None:
        """The first layer whose neuron shape is ``shape``."""
        return next((n for n, s in self.shapes_neu.items() if s == tuple(shape)), None)
