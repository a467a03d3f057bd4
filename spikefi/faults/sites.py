"""Fault sites and faults: where a fault is, resolved with seeded draws.

A :class:`Site` names a layer and a position — a neuron ``(c, h, w)`` or a synapse
``(out, in, kh, kw)``. Any part may be left ``None`` and is then drawn at random: a
random position within a named layer (layer-wise), or a random layer weighted by its
number of neurons/synapses (network-wise). A :class:`Fault` is a model, its sites and
its timing; ``count`` or ``density`` ask for several distinct random sites.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import FaultSpecError
from .models import FaultModel, RandomModel, model_from_spec
from .timing import Permanent, Timing, timing_from_spec

__all__ = ["LayerInfo", "Site", "Fault", "ResolvedFault", "resolve_fault", "eligible_layers"]


@dataclass(frozen=True)
class LayerInfo:
    """What the fault library needs to know about one spiking layer."""

    name: str
    index: int
    kind: str  # conv, dense, pool (or another synaptic kind)
    neuron_shape: tuple[int, int, int]
    synapse_shape: tuple[int, int, int, int] | None  # (out, in, kh, kw); None = not injectable

    @property
    def neurons(self) -> int:
        return math.prod(self.neuron_shape)

    @property
    def synapses(self) -> int:
        return math.prod(self.synapse_shape) if self.synapse_shape else 0

    def shape_for(self, target: str) -> tuple[int, ...]:
        if target == "synapse":
            if self.synapse_shape is None:
                raise FaultSpecError(
                    f"layer {self.name!r} ({self.kind}) has no injectable synapses; synapse faults go to conv/dense layers"
                )
            return self.synapse_shape
        return self.neuron_shape


@dataclass(frozen=True)
class Site:
    """A layer and a position; ``None`` parts are drawn at random."""

    layer: str | None = None
    position: tuple[int | None, ...] | None = None

    def __post_init__(self) -> None:
        if self.position is not None:
            pos = tuple(self.position)
            if any(p is not None and (isinstance(p, bool) or not isinstance(p, (int, np.integer))) for p in pos):
                raise FaultSpecError(f"site position entries must be ints or None, got {self.position!r}")
            object.__setattr__(self, "position", tuple(None if p is None else int(p) for p in pos))
            if self.layer is None and any(p is not None for p in pos):
                raise FaultSpecError(f"a site with a position {self.position!r} needs a layer name")

    @property
    def is_fixed(self) -> bool:
        return self.layer is not None and self.position is not None and all(p is not None for p in self.position)

    def spec(self) -> dict[str, Any]:
        return {"layer": self.layer, "position": None if self.position is None else list(self.position)}


def _sites(value: Any) -> tuple[Site, ...]:
    if isinstance(value, Site):
        return (value,)
    if isinstance(value, Mapping):
        pos = value.get("position")
        return (Site(value.get("layer"), None if pos is None else tuple(pos)),)
    if isinstance(value, str):
        return (Site(value),)
    if isinstance(value, Sequence) and value and all(isinstance(v, (Site, Mapping, str)) for v in value):
        return tuple(s for v in value for s in _sites(v))
    raise FaultSpecError(f"sites must be a Site, a layer name, a mapping or a list of them, got {value!r}")


@dataclass(frozen=True)
class Fault:
    """A fault model at some sites with a timing.

    Args:
        model: a fault model (or a :class:`~spikefi.faults.models.RandomModel`).
        sites: one or more sites (default: one random site anywhere in the network).
        timing: when the fault is active (default permanent).
        count: number of distinct random sites drawn from a single partially specified site.
        density: fraction of the matching neurons/synapses to draw instead of ``count``.
    """

    model: FaultModel | RandomModel
    sites: Any = field(default_factory=Site)
    timing: Timing = field(default_factory=Permanent)
    count: int | None = None
    density: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, (FaultModel, RandomModel)):
            raise FaultSpecError(f"model must be a FaultModel, got {self.model!r}")
        if not isinstance(self.timing, Timing):
            raise FaultSpecError(f"timing must be a Timing, got {self.timing!r}")
        object.__setattr__(self, "sites", _sites(self.sites))
        if self.count is not None and self.density is not None:
            raise FaultSpecError("give count or density, not both")
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1):
            raise FaultSpecError(f"count must be an int >= 1, got {self.count!r}")
        if self.density is not None and not (isinstance(self.density, (int, float)) and 0 < self.density <= 1):
            raise FaultSpecError(f"density must be in (0, 1], got {self.density!r}")
        if (self.count is not None or self.density is not None) and len(self.sites) != 1:
            raise FaultSpecError("count/density draw sites from exactly one (partially specified) site")
        if self.count is not None and self.count > 1 and self.sites[0].is_fixed:
            raise FaultSpecError(f"count={self.count} needs a site with unspecified parts, got the fixed site {self.sites[0]}")
        fixed = [s for s in self.sites if s.is_fixed]
        if len({(s.layer, s.position) for s in fixed}) != len(fixed):
            raise FaultSpecError(f"duplicate sites in one fault: {[s.spec() for s in fixed]}")
        if self.model.target == "parametric" and not self.timing.whole_sample:
            raise FaultSpecError(
                f"parametric faults act on whole samples; timing {self.timing.describe()} is not allowed "
                "(use Permanent or PerSample)"
            )

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.model.spec(), "sites": [s.spec() for s in self.sites], "timing": self.timing.spec()}
        if self.count is not None:
            out["count"] = self.count
        if self.density is not None:
            out["density"] = self.density
        return out

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], *, allow_import: bool = True) -> Fault:
        """Inverse of :meth:`spec`.

        ``allow_import``: whether a dotted-path model may be imported (True for specs the user
        gives directly; False for specs read back from results and tracked runs, see
        :mod:`spikefi.plugins`).
        """
        if not isinstance(spec, Mapping):
            raise FaultSpecError(f"a fault spec must be a mapping, got {spec!r}")
        spec = dict(spec)
        sites = spec.pop("sites", None)
        timing = timing_from_spec(spec.pop("timing", None))
        count = spec.pop("count", None)
        density = spec.pop("density", None)
        model = model_from_spec(spec, allow_import=allow_import)
        return cls(model, Site() if sites is None else sites, timing, count, density)


@dataclass(frozen=True)
class ResolvedFault:
    """A fault with a concrete model, one layer and concrete, distinct positions."""

    model: FaultModel
    layer: str
    positions: tuple[tuple[int, ...], ...]
    timing: Timing
    #: the weight-memory model (fault map, burst) this per-weight fault was resolved from
    source: FaultModel | None = None

    @property
    def target(self) -> str:
        return self.model.target


def eligible_layers(layers: Mapping[str, LayerInfo], target: str) -> list[LayerInfo]:
    """Layers a fault of ``target`` kind can go to (synapse faults: conv/dense only)."""
    return [info for info in layers.values() if target != "synapse" or info.synapse_shape is not None]


def _check_position(site: Site, info: LayerInfo, target: str) -> tuple[int | None, ...]:
    shape = info.shape_for(target)
    what = "synapse (out, in, kh, kw)" if target == "synapse" else "neuron (c, h, w)"
    pos = site.position if site.position is not None else (None,) * len(shape)
    if len(pos) != len(shape):
        raise FaultSpecError(
            f"position {site.position!r} in layer {info.name!r} must be a {what} position of length {len(shape)}"
        )
    for p, n, axis in zip(pos, shape, range(len(shape)), strict=True):
        if p is not None and not 0 <= p < n:
            raise FaultSpecError(
                f"position {site.position!r} is out of range in layer {info.name!r}: index {axis} must be in [0, {n}), "
                f"layer {what} shape is {shape}"
            )
    return pos


def _draw_positions(pos: tuple[int | None, ...], shape: tuple[int, ...], k: int, rng: np.random.Generator,
                    exclude: set[tuple[int, ...]]) -> list[tuple[int, ...]]:
    free = [i for i, p in enumerate(pos) if p is None]
    free_shape = tuple(shape[i] for i in free)
    total = math.prod(free_shape) if free else 1
    if not free:  # a fixed site matches only itself: a set lookup (a scan made many fixed sites quadratic)
        available = 0 if tuple(pos) in exclude else 1
    else:
        available = total - sum(1 for e in exclude if all(e[i] == p for i, p in enumerate(pos) if p is not None))
    if k > available:
        raise FaultSpecError(f"cannot draw {k} distinct sites: only {available} match {pos} in shape {shape}")
    if not free:  # a fixed site (k == 1 here): nothing to draw
        return [tuple(int(v) for v in pos)]  # type: ignore[arg-type]
    out: list[tuple[int, ...]] = []
    taken = set(exclude)
    while len(out) < k:
        need = k - len(out)
        flat = rng.choice(total, size=min(total, need + len(taken)), replace=False) if total > 1 else np.zeros(1, dtype=int)
        for f in flat:
            coords = np.unravel_index(int(f), free_shape) if free else ()
            full = list(pos)
            for i, c in zip(free, coords, strict=True):
                full[i] = int(c)
            t = tuple(int(v) for v in full)  # type: ignore[arg-type]
            if t not in taken:
                taken.add(t)
                out.append(t)
                if len(out) == k:
                    break
    return out


def resolve_fault(
    fault: Fault,
    layers: Mapping[str, LayerInfo],
    rng: np.random.Generator,
    taken: Mapping[str, set[tuple[int, ...]]] | None = None,
) -> list[ResolvedFault]:
    """Concrete faults (one per layer touched) for ``fault``, drawing unspecified parts from ``rng``.

    ``taken`` holds positions per layer that random draws must avoid (sites of other
    faults of the same kind in the same round).

    Raises:
        FaultSpecError: unknown layer, non-injectable layer, position of wrong length or
            out of range, too many sites requested.
    """
    model = fault.model.draw(rng) if isinstance(fault.model, RandomModel) else fault.model
    if getattr(model, "chooses_own_cells", False):  # a weight-memory or neuron-state model (memory, neuron_state)
        what = "neuron-state registers" if model.target == "parametric" else "quantized weight memory"
        raise FaultSpecError(f"{model.name} chooses its own cells of the {what}; a Campaign "
                             "resolves it (Campaign.then_inject), site resolution alone cannot")
    target = model.target
    by_layer: dict[str, list[tuple[int, ...]]] = {}

    def layer_info(name: str) -> LayerInfo:
        if name not in layers:
            raise FaultSpecError(f"unknown layer {name!r}; layers: {list(layers)}")
        info = layers[name]
        info.shape_for(target)  # raises for non-injectable layers
        return info

    # per layer: the positions drawn so far plus the caller's; kept up to date as sites are
    # added (rebuilding the union for every site made faults with many sites quadratic)
    seen: dict[str, set[tuple[int, ...]]] = {}

    def taken_in(name: str) -> set[tuple[int, ...]]:
        if name not in seen:
            seen[name] = set(by_layer.get(name, [])) | set((taken or {}).get(name, set()))
        return seen[name]

    def add(name: str, positions: list[tuple[int, ...]]) -> None:
        by_layer.setdefault(name, []).extend(positions)
        taken_in(name).update(positions)

    for site in fault.sites:
        if site.layer is not None:
            info = layer_info(site.layer)
            pos = _check_position(site, info, target)
            shape = info.shape_for(target)
            if fault.density is not None:
                free = math.prod(n for p, n in zip(pos, shape, strict=True) if p is None)
                k = max(1, int(round(fault.density * free)))
            else:
                k = fault.count or 1
            add(site.layer, _draw_positions(pos, shape, k, rng, taken_in(site.layer)))
        else:
            candidates = eligible_layers(layers, target)
            if not candidates:
                raise FaultSpecError(f"the network has no layer that takes {target} faults")
            sizes = np.array([math.prod(c.shape_for(target)) for c in candidates], dtype=float)
            if fault.density is not None:
                k = max(1, int(round(fault.density * sizes.sum())))
            else:
                k = fault.count or 1
            picks = rng.choice(len(candidates), size=k, p=sizes / sizes.sum())
            for idx in sorted(set(picks.tolist())):
                info = candidates[idx]
                n = int((picks == idx).sum())
                shape = info.shape_for(target)
                add(info.name, _draw_positions((None,) * len(shape), shape, n, rng, taken_in(info.name)))
    order = {name: info.index for name, info in layers.items()}
    return [
        ResolvedFault(model, name, tuple(positions), fault.timing)
        for name, positions in sorted(by_layer.items(), key=lambda kv: order[kv[0]])
    ]
