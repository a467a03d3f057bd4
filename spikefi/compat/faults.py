"""SpikeFI 1.3's ``spikefi.fault`` names: fault sites, targets, models, faults and rounds.

A SpikeFI fault is a model at a set of sites. Sites may be left partly undefined (no
layer, no position, or ``None`` entries in the position); the campaign draws the missing
parts with Python's :mod:`random` when the fault is injected (so ``random.seed(...)``
before the injection fixes them, as in SpikeFI). Every compat model maps onto a native
:mod:`spikefi.faults` model (:meth:`FaultModel.native`), which the engine evaluates.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from enum import Flag, auto
from functools import reduce
from operator import or_
from typing import Any

from ..errors import FaultSpecError, NotSupportedError
from ..faults import Fault as NativeFault
from ..faults import FaultModel as NativeModel
from ..faults import Site

__all__ = ["FaultSite", "FaultTarget", "FaultModel", "Fault", "FaultRound"]


def _position(position: Any) -> tuple[int | None, ...]:
    """Normalise a SpikeFI position: neuron ``(c, h, w)`` (also ``(slice(None), c, h, w)``,
    SpikeFI's older batch-first form) or synapse ``(out, in, kh, kw)``; ``None`` = random."""
    if position is None:
        return ()
    try:
        pos = tuple(position)
    except TypeError:
        raise FaultSpecError(f"a fault site position must be a tuple of 3 or 4 ints, got {position!r}") from None
    if len(pos) == 4 and isinstance(pos[0], slice):
        if pos[0] != slice(None):
            raise FaultSpecError(f"a neuron position may start with ':' (all samples) only, got {position!r}")
        pos = pos[1:]
    if pos and len(pos) not in (3, 4):
        raise FaultSpecError(
            f"a fault site position must have 3 entries (neuron c, h, w) or 4 (synapse out, in, kh, kw), "
            f"got {position!r}"
        )
    out: list[int | None] = []
    for p in pos:
        if p is None:
            out.append(None)
        elif isinstance(p, bool) or not hasattr(p, "__index__"):
            raise FaultSpecError(f"fault site position entries must be ints or None, got {position!r}")
        else:
            out.append(int(p))
    return tuple(out)


class FaultSite:
    """A layer and a position; missing parts are drawn at random when injected.

    Args:
        layer_name: Layer (the network attribute name, e.g. ``"SF4b"``), or ``None``.
        position: Neuron ``(c, h, w)`` or synapse ``(out, in, kh, kw)``; ``()`` or ``None``
            entries are drawn at random.

    Raises:
        FaultSpecError: If the position has another length or non-int entries.
    """

    def __init__(self, layer_name: str | None = None, position: Sequence[int | None] | None = ()) -> None:
        if layer_name is not None and not isinstance(layer_name, str):
            raise FaultSpecError(f"layer_name must be a layer name (str) or None, got {layer_name!r}")
        self.layer: str | None = layer_name or None
        self.position: tuple[int | None, ...] = _position(position)

    def is_defined(self) -> bool:
        """Whether layer and every position entry are known."""
        return bool(self.layer) and len(self.position) in (3, 4) and all(p is not None for p in self.position)

    def __bool__(self) -> bool:
        return self.is_defined()

    def _key(self) -> tuple[Any, ...]:
        return self.layer, self.position

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FaultSite) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def unroll(self) -> tuple[int | None, ...]:
        """The position tuple."""
        return self.position

    def __repr__(self) -> str:
        pos = ", ".join("*" if p is None else str(p) for p in self.position)
        return f"Fault Site @ layer '{self.layer or '*'}' ({pos})"


class FaultTarget(Flag):
    """What a fault model changes: the neuron output, a synapse weight or a neuron parameter."""

    OUTPUT = Z = auto()
    WEIGHT = W = auto()
    PARAMETER = P = auto()

    @classmethod
    def all(cls) -> FaultTarget:
        """Every target."""
        return reduce(or_, cls)

    @staticmethod
    def neuronal() -> FaultTarget:
        """Output and parameter faults (both sit at neurons)."""
        return FaultTarget.OUTPUT | FaultTarget.PARAMETER

    @staticmethod
    def parametric() -> FaultTarget:
        """Parameter faults."""
        return FaultTarget.PARAMETER

    @staticmethod
    def synaptic() -> FaultTarget:
        """Weight faults."""
        return FaultTarget.WEIGHT


class FaultModel:
    """Base of the SpikeFI fault models (see :mod:`spikefi.compat.models`).

    A concrete model knows its native equivalent (:meth:`native`). A ``FaultModel``
    built directly with a custom ``method`` cannot run on spikefi's engine: write a
    subclass of :class:`spikefi.faults.NeuronFaultModel` or
    :class:`spikefi.faults.SynapseFaultModel` instead (injection raises
    :class:`~spikefi.errors.NotSupportedError`).

    Args:
        target: What the model changes.
        method: SpikeFI's value function (kept for display; not evaluated).
        args: The model's arguments.
    """

    def __init__(self, target: FaultTarget, method: Any = None, *args: Any) -> None:
        if not isinstance(target, FaultTarget) or target not in (FaultTarget.OUTPUT, FaultTarget.WEIGHT,
                                                                  FaultTarget.PARAMETER):
            raise FaultSpecError(f"a fault model needs exactly one FaultTarget, got {target!r}")
        self.target = target
        self.method = method
        self.args = args

    def native(self) -> NativeModel:
        """The equivalent :mod:`spikefi.faults` model evaluated by the engine."""
        raise NotSupportedError(
            f"{self.get_name()} has no spikefi equivalent: a SpikeFI FaultModel with its own method cannot run on "
            "spikefi's engine; subclass spikefi.faults.NeuronFaultModel or SynapseFaultModel instead"
        )

    def _key(self) -> tuple[Any, ...]:
        return type(self), self.target, tuple(repr(a) for a in self.args)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FaultModel) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def get_name(self) -> str:
        """The model's class name (``CustomFault`` for a bare :class:`FaultModel`)."""
        name = type(self).__name__
        return "CustomFault" if name == "FaultModel" else name

    def get_name_snake_case(self, reverse: bool = True, delimiter: str = "_") -> str:
        """The class name's words in lower case, e.g. ``DeadNeuron`` -> ``neuron_dead``."""
        words = [w.lower() for w in re.findall(r"[A-Z][a-z]*", self.get_name())]
        return delimiter.join(reversed(words) if reverse else words)

    def is_neuronal(self) -> bool:
        """Output or parameter fault."""
        return self.target in FaultTarget.neuronal()

    def is_parametric(self) -> bool:
        """Parameter fault."""
        return self.target in FaultTarget.parametric()

    def is_synaptic(self) -> bool:
        """Weight fault."""
        return self.target in FaultTarget.synaptic()

    def __repr__(self) -> str:
        return f"Fault Model '{self.get_name()}': {self.target}, args {self.args}"

    __str__ = __repr__


class Fault:
    """A fault model at one or more sites.

    Args:
        model: The fault model.
        sites: One :class:`FaultSite` or several (default: one fully random site).

    Attributes:
        model: The fault model.
        sites: The defined sites (a set).
        sites_pending: Sites with random parts, defined when the fault is injected.
    """

    def __init__(self, model: FaultModel, sites: FaultSite | Iterable[FaultSite] | None = None) -> None:
        if not isinstance(model, FaultModel):
            raise FaultSpecError(f"model must be a SpikeFI fault model (spikefi.models), got {model!r}")
        self.model = model
        self.sites: set[FaultSite] = set()
        self.sites_pending: list[FaultSite] = []
        items = [FaultSite()] if sites is None else [sites] if isinstance(sites, FaultSite) else list(sites)
        for s in items:
            if not isinstance(s, FaultSite):
                raise FaultSpecError(f"sites must be FaultSite objects, got {s!r}")
            self.add_site(s)

    def add_site(self, site: FaultSite) -> None:
        """Add a site (to :attr:`sites` if defined, else to :attr:`sites_pending`)."""
        if site.is_defined():
            self.sites.add(site)
        else:
            self.sites_pending.append(site)

    def get_sites(self, include_pending: bool = False) -> list[FaultSite]:
        """The defined sites (and the pending ones)."""
        return sorted(self.sites, key=_site_order) + (list(self.sites_pending) if include_pending else [])

    def is_complete(self) -> bool:
        """No site is pending."""
        return not self.sites_pending

    def is_multiple(self) -> bool:
        """More than one defined site."""
        return len(self.sites) > 1

    def breakdown(self) -> list[Fault]:
        """One single-site fault per site."""
        return [Fault(self.model, s) for s in self.get_sites(include_pending=True)]

    def __len__(self) -> int:
        return len(self.sites)

    def __bool__(self) -> bool:
        return bool(self.sites)

    def __contains__(self, site: object) -> bool:
        return site in self.sites

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fault) and self.model == other.model and self.sites == other.sites

    def __hash__(self) -> int:
        return hash((self.model, frozenset(self.sites)))

    def __repr__(self) -> str:
        text = f"Fault '{self.model.get_name()}' @ {len(self.sites)} site(s)"
        if len(self.sites) == 1:
            text = f"Fault '{self.model.get_name()}' @ {next(iter(self.sites))!r}"
        if self.sites_pending:
            text += f" (+{len(self.sites_pending)} pending)"
        return text

    def native(self) -> list[NativeFault]:
        """The fault as native :class:`spikefi.faults.Fault` objects (one per layer), sites fixed.

        Raises:
            FaultSpecError: If a site is still pending (inject the fault first).
        """
        if self.sites_pending:
            raise FaultSpecError(f"{self!r} has undefined sites; a campaign defines them when it is injected")
        model = self.model.native()
        by_layer: dict[str, list[Site]] = {}
        for s in self.get_sites():
            by_layer.setdefault(str(s.layer), []).append(Site(s.layer, tuple(s.position)))
        return [NativeFault(model, sites) for sites in by_layer.values()]

    @staticmethod
    def multiple_random_absolute(
        model: FaultModel,
        sites_num: int,
        layers: Sequence[str] | str | None = None,
        layer_sizes: Sequence[int] | None = None,
    ) -> Fault:
        """A fault at ``sites_num`` random sites.

        Args:
            model: The fault model.
            sites_num: Number of sites.
            layers: One layer (all sites there), several (each site's layer drawn with
                ``random.choices`` weighted by ``layer_sizes``), or ``None`` (anywhere).
            layer_sizes: Weights of ``layers`` (default: equal).

        Raises:
            FaultSpecError: If ``sites_num`` is not a positive int or the sizes do not match.
        """
        if isinstance(sites_num, bool) or not isinstance(sites_num, int) or sites_num < 1:
            raise FaultSpecError(f"sites_num must be an int >= 1, got {sites_num!r}")
        names = [layers] if isinstance(layers, str) else list(layers or [])
        if layer_sizes is not None and len(layer_sizes) != len(names):
            raise FaultSpecError(f"layer_sizes must give one size per layer: {len(names)} layers, "
                                 f"{len(layer_sizes)} sizes")
        sites = []
        for _ in range(sites_num):
            if not names:
                sites.append(FaultSite())
            elif len(names) == 1:
                sites.append(FaultSite(names[0]))
            else:
                sites.append(FaultSite(random.choices(names, weights=layer_sizes, k=1)[0]))
        return Fault(model, sites)

    @staticmethod
    def multiple_random_percent(
        model: FaultModel,
        fault_density: float | Sequence[float],
        layers: Sequence[str] | str,
        layer_sizes: Sequence[int] | int,
    ) -> Fault:
        """A fault at ``ceil(size * density)`` random sites of each layer.

        Args:
            model: The fault model.
            fault_density: Fraction of each layer's neurons/synapses (one value, or one per layer).
            layers: The layers.
            layer_sizes: Their sizes (numbers of neurons or synapses, as the model targets).

        Raises:
            FaultSpecError: If the lengths differ or a density is not in [0, 1].
        """
        names = [layers] if isinstance(layers, str) else list(layers)
        sizes = [layer_sizes] if isinstance(layer_sizes, int) else list(layer_sizes)
        densities = list(fault_density) if isinstance(fault_density, Sequence) else [fault_density] * len(names)
        if not names or len(sizes) != len(names) or len(densities) != len(names):
            raise FaultSpecError(
                f"give one layer size and one density per layer: {len(names)} layers, {len(sizes)} sizes, "
                f"{len(densities)} densities"
            )
        sites: list[FaultSite] = []
        for name, size, density in zip(names, sizes, densities, strict=True):
            if not isinstance(density, (int, float)) or not 0 <= density <= 1:
                raise FaultSpecError(f"fault_density must be in [0, 1], got {density!r}")
            sites += [FaultSite(name) for _ in range(math.ceil(size * density))]
        return Fault(model, sites)


def _site_order(site: FaultSite) -> tuple[str, tuple[int, ...]]:
    return str(site.layer), tuple(-1 if p is None else p for p in site.position)


class FaultRound(dict):
    """Faults evaluated together, keyed by ``(layer, model)`` (SpikeFI's layout): faults of
    one model in one layer are merged into a single :class:`Fault`."""

    def insert(self, fault: Fault) -> None:
        """Add a fault whose sites are all defined, split by layer."""
        for site in fault.get_sites():
            key = (str(site.layer), fault.model)
            if key not in self:
                self[key] = Fault(fault.model, [])
            self[key].add_site(site)

    def insert_many(self, faults: Iterable[Fault]) -> None:
        """Add several faults."""
        for f in faults:
            self.insert(f)

    def extract(self, fault: Fault) -> None:
        """Remove a fault's sites (and faults left without sites)."""
        for site in fault.get_sites():
            key = (str(site.layer), fault.model)
            if key in self:
                self[key].sites.discard(site)
                if not self[key].sites:
                    del self[key]

    def extract_many(self, faults: Iterable[Fault]) -> None:
        """Remove several faults."""
        for f in faults:
            self.extract(f)

    def faults(self) -> list[Fault]:
        """The faults of the round."""
        return list(self.values())

    def __iter__(self) -> Iterator[Any]:
        return super().__iter__()

    def native(self) -> list[NativeFault]:
        """The round's faults as native faults."""
        return [nf for f in self.values() for nf in f.native()]

    def search_neuronal(self, layer_name: str) -> list[Fault]:
        """Output and parameter faults of a layer."""
        return [f for (layer, m), f in self.items() if layer == layer_name and m.is_neuronal()]

    def search_synaptic(self, layer_name: str) -> list[Fault]:
        """Weight faults of a layer."""
        return [f for (layer, m), f in self.items() if layer == layer_name and m.is_synaptic()]

    def __repr__(self) -> str:
        body = "".join(f"\n  '{layer}': {fault!r}" for (layer, _), fault in self.items())
        return "Fault Round: {" + body + "\n}"
