"""Fault search spaces: which faults a worst-case search may combine, as plain data.

A space is read from a mapping (the ``space:`` section of a search config)::

    k: 2                          # faults per trial; or {low: 1, high: 4}
    layers: [SC1, SC2, SF3]       # default target layers (default: every eligible layer)
    exclude_layers: [SF4]         # removed from every entry's layers
    models:                       # one entry per model; ranged parameters are searched
      - {model: DeadNeuron}
      - {model: SaturatedNeuron}
      - {model: StuckNeuron, probability: {low: 0.0, high: 1.0}}
      - {model: ParametricNeuron, parameter: {choices: [theta, tauSr]}, factor: {low: 0.2, high: 5.0, log: true}}
      - {model: StuckSynapse, value: {low: -4.0, high: 4.0}, layers: [SF3]}
      - {model: BitFlipSynapse, bits: {low: 0, high: 7}}
    timing: Permanent             # or a fixed timing spec, or a searched window:
    # timing: {timing: Window, start: {low: 0, high: 29}, length: {low: 1, high: 30}}

Models that choose their own cells (soft errors at a rate: ``SoftErrors``,
``Float32SoftErrors``, ``StateSoftErrors``; ``AdjacentBitUpset``, ``Float32AdjacentBitUpset``) are searched by their
parameters (e.g. ``rate: {low: 1.0e-6, high: 1.0e-3, log: true}``) and a layer, never a
position: the fault's site is the layer (its memory or neurons), and each trial is the draw
of the trial's round. ``FaultMap`` takes no layer: its site is the whole network.

A parameter value is fixed (a scalar or list), a range ``{low, high, log?, step?}`` (an
integer range when both bounds are integers and the model parameter is not a float), or
``{choices: [...]}``. A fault's site is searched as its layer (a categorical) and one integer
per coordinate of that layer's neuron ``(c, h, w)`` or synapse ``(out, in, kh, kw)`` shape.

Optuna parameter names: ``k``, ``f{i}.model``, ``f{i}.{label}.layer``,
``f{i}.{layer}.{neuron|synapse}.{axis}``, ``f{i}.{label}.{param}``, ``f{i}.t_start`` and
``f{i}.t_length`` (searched windows). Names depend on the layer and model so that every name
keeps one distribution, as Optuna requires.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import FaultSpecError, SearchSpaceError
from ..faults.analog import AnalogDevices
from ..faults.models import FaultModel, model_class, model_from_spec
from ..faults.sites import Fault, LayerInfo, Site
from ..faults.timing import Permanent, Timing, Window, timing_from_spec

__all__ = ["Range", "Choice", "ModelEntry", "FaultSpace", "fault_key", "describe_faults", "param_label"]

_AXES = {"neuron": ("c", "h", "w"), "parametric": ("c", "h", "w"), "synapse": ("out", "in", "kh", "kw")}
#: the position axes of a search parameter name in words
_AXIS_WORDS = {"c": "channel", "h": "row", "w": "column", "out": "output channel", "in": "input channel",
               "kh": "kernel row", "kw": "kernel column"}


def param_label(name: str) -> str:
    """A search parameter's name (as Optuna stores it) in plain words.

    Example:
        >>> param_label("f0.SP1.neuron.h")
        'fault 1: SP1 neuron row'
        >>> param_label("f1.model"), param_label("f0.DeadNeuron.layer"), param_label("k")
        ('fault 2: fault model', 'fault 1: layer of DeadNeuron', 'number of faults')
    """
    if name == "k":
        return "number of faults"
    head, _, rest = name.partition(".")
    if not (head.startswith("f") and head[1:].isdigit() and rest):
        return name
    fault = f"fault {int(head[1:]) + 1}"
    parts = rest.split(".")
    if parts == ["model"]:
        return f"{fault}: fault model"
    if parts in (["t_start"], ["t_length"]):
        return f"{fault}: {'start time bin' if parts[0] == 't_start' else 'duration in time bins'}"
    if len(parts) == 3 and parts[1] in ("neuron", "synapse") and parts[2] in _AXIS_WORDS:
        return f"{fault}: {parts[0]} {parts[1]} {_AXIS_WORDS[parts[2]]}"
    if len(parts) == 2:
        return f"{fault}: {parts[1]} of {parts[0]}"
    return f"{fault}: {' '.join(parts)}"



@dataclass(frozen=True)
class Range:
    """A numeric range ``[low, high]`` (integer or float, optionally log-scaled or stepped)."""

    low: float
    high: float
    integer: bool = False
    log: bool = False
    step: float | None = None

    def suggest(self, trial: Any, name: str) -> int | float:
        if self.integer:
            return int(trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log))
        return float(trial.suggest_float(name, float(self.low), float(self.high), step=self.step, log=self.log))

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


@dataclass(frozen=True)
class Choice:
    """One of several values."""

    choices: tuple[Any, ...]

    def suggest(self, trial: Any, name: str) -> Any:
        value = trial.suggest_categorical(name, list(self.choices))
        return value

    def spec(self) -> dict[str, Any]:
        return {"choices": list(self.choices)}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _float_param(cls: type, param: str) -> bool:
    """Whether the model's ``__init__`` annotates ``param`` as a float."""
    try:
        hints = typing.get_type_hints(cls.__init__)  # type: ignore[misc]
    except Exception:  # noqa: BLE001 - user classes with unresolvable hints: assume float
        return True
    hint = hints.get(param)
    return hint is None or "float" in str(hint)


def parse_value(where: str, value: Any, prefer_float: bool = True) -> Any:
    """A fixed value, :class:`Range` or :class:`Choice` from its config form."""
    if not isinstance(value, Mapping):
        return value
    keys = set(value)
    if "choices" in keys:
        if keys - {"choices"}:
            raise SearchSpaceError(f"{where}: a choice takes only 'choices', got keys {sorted(keys)}")
        choices = value["choices"]
        if not isinstance(choices, Sequence) or isinstance(choices, str) or len(choices) == 0:
            raise SearchSpaceError(f"{where}: choices must be a non-empty list, got {choices!r}")
        hashable = [tuple(c) if isinstance(c, list) else c for c in choices]
        if len(set(map(repr, hashable))) != len(hashable):
            raise SearchSpaceError(f"{where}: choices must be distinct, got {list(choices)!r}")
        for c in hashable:
            if not isinstance(c, (str, int, float, bool, tuple)) or c is None:
                raise SearchSpaceError(f"{where}: choices must be numbers, strings or lists, got {c!r}")
        return Choice(tuple(hashable))
    if "low" in keys or "high" in keys:
        unknown = keys - {"low", "high", "log", "step"}
        if unknown:
            raise SearchSpaceError(f"{where}: unknown key(s) {sorted(unknown)} in a range; allowed: low, high, log, step")
        low, high = value.get("low"), value.get("high")
        if not (_is_num(low) and _is_num(high)):
            raise SearchSpaceError(f"{where}: a range needs finite numeric low and high, got low={low!r} high={high!r}")
        if low > high:
            raise SearchSpaceError(f"{where}: low {low} is greater than high {high}")
        log = bool(value.get("log", False))
        if log and low <= 0:
            raise SearchSpaceError(f"{where}: a log range needs low > 0, got {low}")
        step = value.get("step")
        if step is not None and (not _is_num(step) or step <= 0):
            raise SearchSpaceError(f"{where}: step must be a number > 0, got {step!r}")
        if step is not None and log:
            raise SearchSpaceError(f"{where}: a range cannot have both log and step")
        integer = _is_int(low) and _is_int(high) and (step is None or _is_int(step)) and not prefer_float
        return Range(float(low) if not integer else int(low), float(high) if not integer else int(high),
                     integer=integer, log=log, step=step)
    return dict(value)


def fault_key(fault: Fault) -> tuple[str, str, tuple[int, ...]]:
    """``(target, layer, position)`` of a single-site fault."""
    site = fault.sites[0]
    return fault.model.target, str(site.layer), tuple(site.position or ())


def describe_faults(faults: Sequence[Fault]) -> str:
    """One line per trial: ``DeadNeuron@SC1(0, 3, 4); StuckSynapse(value=2.5)@SF3(...)``."""
    parts = []
    for f in faults:
        params = f.model.params()
        model = f.model.name + (f"({', '.join(f'{k}={v}' for k, v in params.items())})" if params else "")
        site = f.sites[0]
        timing = "" if isinstance(f.timing, Permanent) else f" [{f.timing.describe()}]"
        parts.append(f"{model}@{site.layer}{tuple(site.position or ())}{timing}")
    return "; ".join(parts)


@dataclass
class ModelEntry:
    """One fault model of a space: its fixed and searched parameters and its layers."""

    label: str
    model: str
    params: dict[str, Any]
    layers: list[str]
    target: str
    timing: Any = None
    #: the model chooses its own cells (sites are layers, or the network for ``FaultMap``)
    own_cells: bool = False
    takes_layers: bool = True

    @property
    def searched(self) -> dict[str, Range | Choice]:
        return {k: v for k, v in self.params.items() if isinstance(v, (Range, Choice))}


@dataclass
class FaultSpace:
    """The faults a search may combine, validated against a network's layers.

    Args:
        layers: the network's layers (``Campaign.netmap.layers``): names, neuron and
            synapse shapes.
        spec: the ``space`` mapping (see the module docstring).
        steps: time bins per sample (bounds searched windows).

    Raises:
        SearchSpaceError: empty or inconsistent space — no models, unknown model or layer,
            low > high, k below 1 or larger than the sites the space holds.
    """

    layers: Mapping[str, LayerInfo]
    spec: Mapping[str, Any]
    steps: int
    entries: list[ModelEntry] = field(init=False)
    k: int | Range = field(init=False)

    _KEYS = ("k", "layers", "exclude_layers", "models", "timing")

    def __post_init__(self) -> None:
        spec = self.spec
        if not isinstance(spec, Mapping):
            raise SearchSpaceError(f"the search space must be a mapping, got {spec!r}")
        unknown = set(spec) - set(self._KEYS)
        if unknown:
            raise SearchSpaceError(f"unknown key(s) {sorted(unknown)} in the search space; allowed: {list(self._KEYS)}")
        names = list(self.layers)
        default_layers = self._layer_list("layers", spec.get("layers"), names)
        excluded = set(self._layer_list("exclude_layers", spec.get("exclude_layers") or [], names))
        models = spec.get("models")
        if not isinstance(models, Sequence) or isinstance(models, str) or not models:
            raise SearchSpaceError(f"the search space needs a non-empty list 'models', got {models!r}")
        self.entries = []
        labels: set[str] = set()
        for i, raw in enumerate(models):
            entry = self._entry(i, raw, default_layers, excluded)
            if entry.label in labels:
                raise SearchSpaceError(f"models[{i}]: label {entry.label!r} is used twice; give each entry a 'label'")
            labels.add(entry.label)
            self.entries.append(entry)
        self.timing = self._timing("timing", spec.get("timing"))
        for entry in self.entries:
            if entry.timing is None:
                entry.timing = self.timing
            if entry.target == "parametric" and not self._whole_sample(entry.timing):
                raise SearchSpaceError(f"model {entry.label!r}: parametric faults take only whole-sample timings "
                                       "(Permanent or PerSample), not a window")
        k = parse_value("k", spec.get("k", 1), prefer_float=False)
        if isinstance(k, Choice) or not (_is_int(k) or (isinstance(k, Range) and k.integer)):
            raise SearchSpaceError(f"k must be an int >= 1 or an integer range {{low, high}}, got {spec.get('k')!r}")
        k_max = k if _is_int(k) else int(k.high)
        k_min = k if _is_int(k) else int(k.low)
        if k_min < 1:
            raise SearchSpaceError(f"k must be >= 1, got {spec.get('k')!r}")
        capacity = max(sum(self._sites(entry, name) for name in entry.layers) for entry in self.entries)
        if k_max > capacity:
            raise SearchSpaceError(f"k={k_max} is larger than the {capacity} distinct sites of the space's layers")
        self.k = k

    # -- parsing -----------------------------------------------------------------------
    def _layer_list(self, where: str, value: Any, names: list[str]) -> list[str]:
        if value is None:
            return list(names)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
            raise SearchSpaceError(f"{where} must be a list of layer names, got {value!r}")
        for v in value:
            if v not in self.layers:
                raise SearchSpaceError(f"{where}: unknown layer {v!r}; layers: {names}")
        return list(dict.fromkeys(value))

    def _sites(self, entry: ModelEntry, layer: str) -> int:
        if entry.own_cells or _whole_layers(entry.model):  # one site per layer (or one for the network); analog devices: the whole layer
            return 1
        return math.prod(self.layers[layer].shape_for(entry.target))

    def _entry(self, i: int, raw: Any, default_layers: list[str], excluded: set[str]) -> ModelEntry:
        where = f"models[{i}]"
        if isinstance(raw, str):
            raw = {"model": raw}
        if not isinstance(raw, Mapping) or "model" not in raw:
            raise SearchSpaceError(f"{where} must be a mapping with a 'model' key, got {raw!r}")
        raw = dict(raw)
        name = raw.pop("model")
        label = raw.pop("label", name)
        layers_raw = raw.pop("layers", None)
        timing_raw = raw.pop("timing", None)
        if name == "RandomModel":
            raise SearchSpaceError(f"{where}: RandomModel is not searchable; list its models instead")
        try:
            cls = model_class(name)
        except FaultSpecError as exc:
            raise SearchSpaceError(f"{where}: {exc}") from None
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = set(raw) - accepted
        if unknown:
            raise SearchSpaceError(f"{where}: model {name!r} has no parameter(s) {sorted(unknown)}; "
                                   f"it takes {sorted(accepted)}")
        params = {k: parse_value(f"{where}.{k}", v, prefer_float=_float_param(cls, k)) for k, v in raw.items()}
        # build one model with the low ends to catch bad fixed parameters now
        try:
            probe = model_from_spec({"model": name, **self._defaults(params)})
        except FaultSpecError as exc:
            raise SearchSpaceError(f"{where}: {exc}") from None
        if not isinstance(probe, FaultModel):
            raise SearchSpaceError(f"{where}: {name!r} is not a single fault model (RandomModel is not searchable; "
                                   "list the models instead)")
        target = probe.target
        for p in params.values():
            if isinstance(p, Range):
                for end in (p.low, p.high):
                    try:
                        model_from_spec({"model": name, **self._defaults(params), **{
                            k: end for k, v in params.items() if v is p}})
                    except FaultSpecError as exc:
                        raise SearchSpaceError(f"{where}: range end {end} is not allowed: {exc}") from None
            if isinstance(p, Choice):
                for c in p.choices:
                    try:
                        model_from_spec({"model": name, **self._defaults(params), **{
                            k: (list(c) if isinstance(c, tuple) else c) for k, v in params.items() if v is p}})
                    except FaultSpecError as exc:
                        raise SearchSpaceError(f"{where}: choice {c!r} is not allowed: {exc}") from None
        layers = self._layer_list(f"{where}.layers", layers_raw, list(self.layers)) if layers_raw is not None \
            else list(default_layers)
        layers = [n for n in layers if n not in excluded]
        eligible = [n for n in layers if target != "synapse" or self.layers[n].synapse_shape is not None]
        if layers_raw is not None and len(eligible) != len(layers):
            bad = sorted(set(layers) - set(eligible))
            raise SearchSpaceError(f"{where}: {name} is a synapse model; layers {bad} have no synapses")
        if not eligible:
            raise SearchSpaceError(f"{where}: no layer left for {name} (layers {layers}, excluded {sorted(excluded)})")
        timing = self._timing(f"{where}.timing", timing_raw) if timing_raw is not None else None
        return ModelEntry(str(label), name, params, eligible, target, timing,
                          own_cells=bool(getattr(cls, "chooses_own_cells", False)),
                          takes_layers=bool(getattr(cls, "takes_layers", True)))

    @staticmethod
    def _defaults(params: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in params.items():
            if isinstance(v, Range):
                out[k] = v.low
            elif isinstance(v, Choice):
                c = v.choices[0]
                out[k] = list(c) if isinstance(c, tuple) else c
            else:
                out[k] = v
        return out

    def _timing(self, where: str, raw: Any) -> Any:
        if raw is None:
            return Permanent()
        if isinstance(raw, Mapping) and raw.get("timing") == "Window" and ("start" in raw or "length" in raw):
            unknown = set(raw) - {"timing", "start", "length"}
            if unknown:
                raise SearchSpaceError(f"{where}: a searched window takes start and length, got {sorted(unknown)}")
            start = parse_value(f"{where}.start", raw.get("start", {"low": 0, "high": self.steps - 1}), False)
            length = parse_value(f"{where}.length", raw.get("length", {"low": 1, "high": self.steps}), False)
            for nm, r, lo, hi in (("start", start, 0, self.steps - 1), ("length", length, 1, self.steps)):
                if not (isinstance(r, Range) and r.integer) and not _is_int(r):
                    raise SearchSpaceError(f"{where}.{nm} must be an int or an integer range, got {r!r}")
                rlo, rhi = (r.low, r.high) if isinstance(r, Range) else (r, r)
                if rlo < lo or rhi > hi:
                    raise SearchSpaceError(f"{where}.{nm} must lie in [{lo}, {hi}] ({self.steps} time bins), "
                                           f"got [{rlo}, {rhi}]")
            return {"start": start, "length": length}
        try:
            return timing_from_spec(raw)
        except FaultSpecError as exc:
            raise SearchSpaceError(f"{where}: {exc}") from None

    @staticmethod
    def _whole_sample(timing: Any) -> bool:
        return isinstance(timing, Timing) and timing.whole_sample

    # -- sampling ----------------------------------------------------------------------
    @property
    def k_range(self) -> tuple[int, int]:
        return (self.k, self.k) if isinstance(self.k, int) else (int(self.k.low), int(self.k.high))

    def suggest(self, trial: Any) -> list[Fault]:
        """The faults of one trial (duplicates of a site are dropped: the first one stays)."""
        k = self.k if isinstance(self.k, int) else int(self.k.suggest(trial, "k"))
        faults: list[Fault] = []
        seen: set[tuple[str, str, tuple[int, ...]]] = set()
        for i in range(k):
            fault = self._suggest_one(trial, f"f{i}")
            key = fault_key(fault)
            if key[0] == "parametric":
                key = ("parametric", key[1], key[2])
            if key in seen:
                continue
            seen.add(key)
            faults.append(fault)
        return faults

    def _suggest_one(self, trial: Any, p: str) -> Fault:
        if len(self.entries) > 1:
            label = trial.suggest_categorical(f"{p}.model", [e.label for e in self.entries])
            entry = next(e for e in self.entries if e.label == label)
        else:
            entry = self.entries[0]
        if entry.own_cells and not entry.takes_layers:
            layer = None
        else:
            layer = entry.layers[0] if len(entry.layers) == 1 else \
                trial.suggest_categorical(f"{p}.{entry.label}.layer", entry.layers)
        if entry.own_cells:
            return Fault(self._model(trial, p, entry), Site(layer), entry.timing)  # type: ignore[arg-type]
        shape = self.layers[layer].shape_for(entry.target)
        kind = "synapse" if entry.target == "synapse" else "neuron"
        whole = _whole_layers(entry.model)
        position = None if whole else tuple(
            0 if n == 1 else int(trial.suggest_int(f"{p}.{layer}.{kind}.{axis}", 0, n - 1))
            for axis, n in zip(_AXES[entry.target], shape, strict=True)
        )
        model = self._model(trial, p, entry)
        timing = entry.timing
        if isinstance(timing, dict):
            start = timing["start"] if _is_int(timing["start"]) else int(timing["start"].suggest(trial, f"{p}.t_start"))
            length = timing["length"] if _is_int(timing["length"]) else \
                int(timing["length"].suggest(trial, f"{p}.t_length"))
            timing = Window(start, min(self.steps, start + length))
        return Fault(model, Site(layer, position), timing)  # type: ignore[arg-type]

    @staticmethod
    def _model(trial: Any, p: str, entry: ModelEntry) -> Any:
        kwargs = {}
        for name, value in entry.params.items():
            if isinstance(value, (Range, Choice)):
                v = value.suggest(trial, f"{p}.{entry.label}.{name}")
                kwargs[name] = list(v) if isinstance(v, tuple) else v
            else:
                kwargs[name] = value
        return model_from_spec({"model": entry.model, **kwargs})

    def to_dict(self) -> dict[str, Any]:
        """The validated space as plain data (ranges in their config form)."""
        def plain(v: Any) -> Any:
            return v.spec() if isinstance(v, (Range, Choice)) else v

        return {
            "k": plain(self.k),
            "models": [{"label": e.label, "model": e.model, "layers": e.layers,
                        **{k: plain(v) for k, v in e.params.items()}} for e in self.entries],
            "timing": self.spec.get("timing", "Permanent"),
        }


def _whole_layers(name: str) -> bool:
    """Whether the model maps whole layers (analog devices): its sites are layers, no positions."""
    try:
        return issubclass(model_class(name), AnalogDevices)
    except FaultSpecError:
        return False
