"""Faults of analog (memristive, phase-change) synapses and of analog neurons.

The weights of an analog chip live as device conductances. :class:`AnalogDevices` maps every
weight of the synaptic layers (conv, dense) it names to conductances, then applies, per
round, one Monte-Carlo draw of what the devices do:

* **mapping** — per layer, ``w_max = max |w|`` of the golden weights and a maximum
  conductance ``g_max``: the target conductance of a weight is ``g = |w| / w_max * g_max``,
  rounded to one of ``levels`` equally spaced values of ``[0, g_max]`` when ``levels`` is
  given. ``differential``: a pair per weight, ``w = (G+ - G-) * w_max / g_max`` (a positive
  weight programs ``G+``, a negative one ``G-``, the other device stays at 0); ``single``:
  one device per weight, the sign held by the periphery (a digital sign bit, ``sign(0) = +``),
  ``w = sign * G * w_max / g_max``.
* **stuck devices** — each device stuck at 0 (probability ``stuck_at_0``) or at ``g_max``
  (``stuck_at_gmax``), drawn per round, and/or the devices listed in a device map file
  (:func:`read_device_map`); a stuck device keeps its value (no programming noise, no drift).
* **programming noise** — per device, per round:
  ``G = clip(g + program_sigma * r * N(0, 1), 0, g_max)``, ``r = g_max`` or ``r = g``
  (``noise_reference``).
* **drift** — at device age ``age`` (same unit as ``t0``):
  ``G(t) = G * (t / t0) ** (-nu)``, ``nu ~ N(drift_nu_mean, drift_nu_std)`` per device,
  clipped at 0 (drift never raises a conductance). The form is the phase-change model of
  IBM's aihwkit (``PCMLikeNoiseModel``).
* **read noise** — per inference (per sample): each device read as
  ``G + read_sigma * r * N(0, 1)`` (not clipped), the same weights for all time steps of the
  sample; a differential pair gets one normal per weight with the pair's combined σ
  ``read_sigma * sqrt(r+^2 + r-^2)``.
* **threshold mismatch** — per neuron of the layer, per round:
  ``theta_i = theta * m_i``, ``m_i = max(1 + threshold_sigma * N(0, 1), 0.01)``. A SLAYER
  neuron with threshold ``m * theta`` (and so refractory kernel ``m`` times the golden one)
  on synaptic input ``a`` fires exactly as the golden neuron on ``a / m``; the engines
  divide the layer's synaptic output by ``m_i``.

A campaign resolves the model into one whole-layer fault per layer (:class:`AnalogLayer`)
carrying the seed of its draws: ``numpy.random.default_rng([seed, round id, fault index,
layer index, stream])`` — stream 11 for the devices of a round, 12 (with the sample index
before it) for the read noise of one sample. The same campaign seed gives the same draws.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import FaultMapError, FaultSpecError
from .models import _REGISTRY, SynapseContext, SynapseFaultModel

__all__ = [
    "AnalogDevices", "AnalogLayer", "AnalogDraw", "LayerPositions", "DeviceMapCell",
    "read_device_map", "write_device_map", "DEVICE_MAP_SCHEMA", "DEVICE_MAP_COLUMNS",
    "MISMATCH_FLOOR",
]

#: the device-map schema version this spikefi reads and writes
DEVICE_MAP_SCHEMA = 1
_MAGIC = "# spikefi-device-map"
DEVICE_MAP_COLUMNS: tuple[str, ...] = ("layer", "out", "in", "kh", "kw", "device", "stuck")
_DEVICES = ("plus", "minus", "single")
_STUCK = ("0", "gmax")
#: the smallest threshold factor of threshold mismatch (a threshold stays positive)
MISMATCH_FLOOR = 0.01
_DEVICE_STREAM, _READ_STREAM = 11, 12


# ---------------------------------------------------------------------------------
# the positions of a whole layer


class LayerPositions(Sequence):  # type: ignore[type-arg]
    """Every synapse ``(out, in, kh, kw)`` of a layer in row-major order, without listing them.

    A sequence of position tuples like any fault's ``positions``; the engines recognise it
    and index the whole weight tensor at once.
    """

    def __init__(self, shape: Sequence[int]) -> None:
        self.shape = tuple(int(n) for n in shape)

    def __len__(self) -> int:
        return math.prod(self.shape)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return tuple(int(v) for v in np.unravel_index(i, self.shape))

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        return itertools.product(*(range(n) for n in self.shape))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LayerPositions) and other.shape == self.shape

    def __hash__(self) -> int:
        return hash(("LayerPositions", self.shape))

    def __repr__(self) -> str:
        return f"LayerPositions({self.shape})"

    def index_tensors(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Index tensors of every synapse (with the weight's trailing time index 0)."""
        grids = torch.meshgrid(*(torch.arange(n, device=device) for n in self.shape), indexing="ij")
        flat = [g.reshape(-1) for g in grids]
        return (*flat, torch.zeros_like(flat[0]))


# ---------------------------------------------------------------------------------
# device maps


@dataclass(frozen=True)
class DeviceMapCell:
    """One stuck device: ``device`` (``plus``/``minus`` of a pair, or ``single``) of weight
    ``(out, in, kh, kw)`` of ``layer`` stuck at ``stuck`` (``0`` or ``gmax``)."""

    layer: str
    index: tuple[int, int, int, int]
    device: str
    stuck: str


def read_device_map(path: str | Path) -> list[DeviceMapCell]:
    """Reads a device-map file (schema :data:`DEVICE_MAP_SCHEMA`, see docs/faults.md).

    Raises:
        FaultMapError: missing file, wrong schema line, header or value (one line naming the
            file, the line and what is allowed).
    """
    path = Path(path)
    if not path.is_file():
        raise FaultMapError(f"device map file not found: {str(path)!r}")
    where = str(path)
    with path.open(newline="") as fh:
        first = fh.readline().strip()
        if first != f"{_MAGIC} {DEVICE_MAP_SCHEMA}":
            raise FaultMapError(f"{where}: line 1 must be '{_MAGIC} {DEVICE_MAP_SCHEMA}' (the schema line), got {first!r}")
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != DEVICE_MAP_COLUMNS:
            raise FaultMapError(f"{where}: line 2 must be the header {','.join(DEVICE_MAP_COLUMNS)}, got {header!r}")
        cells: list[DeviceMapCell] = []
        seen: set[tuple[str, tuple[int, ...], str]] = set()
        for row in reader:
            line = reader.line_num + 1
            if not row or all(not v.strip() for v in row):
                continue
            if len(row) != len(DEVICE_MAP_COLUMNS):
                raise FaultMapError(f"{where} line {line}: {len(row)} values, expected {len(DEVICE_MAP_COLUMNS)} "
                                    f"({','.join(DEVICE_MAP_COLUMNS)})")
            layer, *idx_text, device, stuck = (v.strip() for v in row)
            if not layer:
                raise FaultMapError(f"{where} line {line}: empty layer name")
            index = []
            for col, text in zip(DEVICE_MAP_COLUMNS[1:5], idx_text, strict=True):
                if not text.isdigit():
                    raise FaultMapError(f"{where} line {line}: {col} must be an int >= 0, got {text!r}")
                index.append(int(text))
            if device not in _DEVICES:
                raise FaultMapError(f"{where} line {line}: device must be one of {list(_DEVICES)}, got {device!r}")
            if stuck not in _STUCK:
                raise FaultMapError(f"{where} line {line}: stuck must be one of {list(_STUCK)}, got {stuck!r}")
            key = (layer, tuple(index), device)
            if key in seen:
                raise FaultMapError(f"{where} line {line}: device {device} of {layer}{tuple(index)} is listed twice")
            seen.add(key)
            cells.append(DeviceMapCell(layer, (index[0], index[1], index[2], index[3]), device, stuck))
    return cells


def write_device_map(path: str | Path, cells: Iterable[DeviceMapCell | Sequence[Any]]) -> Path:
    """Writes ``cells`` (:class:`DeviceMapCell` or ``(layer, (out, in, kh, kw), device, stuck)``)
    as a device-map file; returns the path."""
    path = Path(path)
    with path.open("w", newline="") as fh:
        fh.write(f"{_MAGIC} {DEVICE_MAP_SCHEMA}\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(DEVICE_MAP_COLUMNS)
        for cell in cells:
            c = cell if isinstance(cell, DeviceMapCell) else DeviceMapCell(
                str(cell[0]), tuple(int(v) for v in cell[1]), str(cell[2]), str(cell[3]))  # type: ignore[arg-type]
            writer.writerow([c.layer, *c.index, c.device, c.stuck])
    return path


# ---------------------------------------------------------------------------------
# the model


def _num(name: str, value: Any, *, low: float | None = 0.0, high: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FaultSpecError(f"AnalogDevices {name} must be a finite number, got {value!r}")
    value = float(value)
    if low is not None and (value <= low if strict else value < low):
        raise FaultSpecError(f"AnalogDevices {name} must be {'>' if strict else '>='} {low:g}, got {value!r}")
    if high is not None and value > high:
        raise FaultSpecError(f"AnalogDevices {name} must be <= {high:g}, got {value!r}")
    return value


class AnalogDevices(SynapseFaultModel):
    """Weights as device conductances with stuck devices, programming and read noise, drift
    with age, and threshold mismatch of the layer's neurons; one draw per round.

    Args:
        mapping: ``differential`` (a pair ``G+ - G-`` per weight) or ``single`` (one device,
            sign in the periphery); ``none``: weights untouched (threshold mismatch alone).
        g_max: the largest conductance (any unit, e.g. µS; noise and ``t0`` share it).
        levels: programmable conductance levels in ``[0, g_max]`` (>= 2), or None (any value).
        stuck_at_0, stuck_at_gmax: probability that a device is stuck at 0 / at ``g_max``.
        device_map: a device-map file of stuck devices (:func:`read_device_map`), besides
            or instead of the rates; ``sha256`` pins its contents.
        program_sigma: relative σ of programming noise (of ``g_max`` or of ``g``).
        read_sigma: relative σ of read noise, drawn per sample.
        noise_reference: ``gmax`` (σ times ``g_max``) or ``g`` (σ times the device's own
            conductance, so a device at 0 stays at 0).
        age: device age ``t`` for drift (same unit as ``t0``; >= ``t0``), or None (no drift).
        t0: the reference time of drift (the read right after programming), > 0.
        drift_nu_mean, drift_nu_std: the drift exponent's distribution per device.
        threshold_sigma: relative σ of each neuron's threshold (0: no mismatch).
    """

    #: a campaign resolves it (one whole-layer fault per layer); site resolution cannot
    chooses_own_cells: ClassVar[bool] = True
    takes_layers: ClassVar[bool] = True

    def __init__(self, mapping: str = "differential", g_max: float = 1.0, levels: int | None = None,
                 stuck_at_0: float = 0.0, stuck_at_gmax: float = 0.0, device_map: str | None = None,
                 sha256: str | None = None, program_sigma: float = 0.0, read_sigma: float = 0.0,
                 noise_reference: str = "gmax", age: float | None = None, t0: float = 20.0,
                 drift_nu_mean: float = 0.0, drift_nu_std: float = 0.0, threshold_sigma: float = 0.0) -> None:
        if mapping not in ("differential", "single", "none"):
            raise FaultSpecError(f"AnalogDevices mapping must be 'differential', 'single' or 'none', got {mapping!r}")
        if noise_reference not in ("gmax", "g"):
            raise FaultSpecError(f"AnalogDevices noise_reference must be 'gmax' or 'g', got {noise_reference!r}")
        self.mapping, self.noise_reference = mapping, noise_reference
        self.g_max = _num("g_max", g_max, strict=True)
        if levels is not None and (isinstance(levels, bool) or not isinstance(levels, int) or levels < 2):
            raise FaultSpecError(f"AnalogDevices levels must be null or an int >= 2, got {levels!r}")
        self.levels = levels
        self.stuck_at_0 = _num("stuck_at_0", stuck_at_0, high=1.0)
        self.stuck_at_gmax = _num("stuck_at_gmax", stuck_at_gmax, high=1.0)
        if self.stuck_at_0 + self.stuck_at_gmax > 1:
            raise FaultSpecError(f"AnalogDevices stuck_at_0 + stuck_at_gmax must be <= 1, got "
                                 f"{self.stuck_at_0 + self.stuck_at_gmax:g}")
        self.program_sigma = _num("program_sigma", program_sigma)
        self.read_sigma = _num("read_sigma", read_sigma)
        self.t0 = _num("t0", t0, strict=True)
        self.age = None if age is None else _num("age", age, low=self.t0)
        self.drift_nu_mean = _num("drift_nu_mean", drift_nu_mean, low=None)
        self.drift_nu_std = _num("drift_nu_std", drift_nu_std)
        self.threshold_sigma = _num("threshold_sigma", threshold_sigma)
        self.device_map: str | None = None
        self.sha256: str | None = None
        self.cells: list[DeviceMapCell] = []
        if device_map is not None:
            if not isinstance(device_map, (str, Path)) or not str(device_map).strip():
                raise FaultMapError(f"AnalogDevices device_map must be a path, got {device_map!r}")
            self.device_map = str(device_map)
            self.cells = read_device_map(self.device_map)
            digest = hashlib.sha256(Path(self.device_map).read_bytes()).hexdigest()
            if sha256 is not None and sha256 != digest:
                raise FaultMapError(f"device map {self.device_map!r} has SHA-256 {digest}, the spec expects {sha256}")
            self.sha256 = digest
            want = {"differential": ("plus", "minus"), "single": ("single",)}.get(mapping, ())
            bad = sorted({c.device for c in self.cells} - set(want))
            if bad:
                raise FaultMapError(f"device map {self.device_map!r}: devices {bad} do not exist with mapping "
                                    f"{mapping!r}; allowed: {list(want)}")
        if mapping == "none" and (self.levels or self.stuck_at_0 or self.stuck_at_gmax or self.program_sigma
                                  or self.read_sigma or self.age is not None):
            raise FaultSpecError("AnalogDevices with mapping 'none' takes only threshold_sigma (no devices to "
                                 "program, read or drift)")
        if mapping == "none" and self.threshold_sigma == 0:
            raise FaultSpecError("AnalogDevices with mapping 'none' and threshold_sigma 0 changes nothing")

    @property
    def stochastic(self) -> bool:  # type: ignore[override]
        """Whether a round draws anything (noise, drift spread, stuck rates, mismatch)."""
        return bool(self.stuck_at_0 or self.stuck_at_gmax or self.program_sigma or self.read_sigma
                    or self.threshold_sigma or (self.age is not None and self.drift_nu_std))

    def params(self) -> dict[str, Any]:
        return {"mapping": self.mapping, "g_max": self.g_max, "levels": self.levels,
                "stuck_at_0": self.stuck_at_0, "stuck_at_gmax": self.stuck_at_gmax,
                "device_map": self.device_map, "sha256": self.sha256,
                "program_sigma": self.program_sigma, "read_sigma": self.read_sigma,
                "noise_reference": self.noise_reference, "age": self.age, "t0": self.t0,
                "drift_nu_mean": self.drift_nu_mean, "drift_nu_std": self.drift_nu_std,
                "threshold_sigma": self.threshold_sigma}

    def scalar_parameter(self) -> tuple[str, float]:
        if self.age is not None:
            return "age", self.age
        for name in ("program_sigma", "read_sigma", "threshold_sigma"):
            if getattr(self, name):
                return name, float(getattr(self, name))
        if self.stuck_at_0 or self.stuck_at_gmax:
            return "stuck_device_rate", self.stuck_at_0 + self.stuck_at_gmax
        return "g_max", self.g_max

    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        raise FaultSpecError("AnalogDevices maps whole layers; a campaign turns it into one AnalogLayer per layer "
                             "(Campaign.then_inject)")

    # -- the draws ------------------------------------------------------------------
    def draw(self, golden: torch.Tensor, neuron_shape: Sequence[int], layer: str, shape: Sequence[int],
             seed_key: Sequence[int]) -> AnalogDraw:
        """The round's weights of one layer (flat, row-major ``(out, in, kh, kw)``), the σ of
        each weight's read noise (or None) and the neurons' input factors ``1 / m`` (or None)."""
        rng = np.random.default_rng([*seed_key, _DEVICE_STREAM])
        w = golden.detach().to(torch.float64).cpu().numpy().reshape(-1)
        n = w.size
        values = w
        read_std = None
        if self.mapping != "none":
            w_max = float(np.abs(w).max()) if n else 0.0
            scale = w_max / self.g_max if w_max > 0 else 0.0
            g = np.abs(w) / w_max * self.g_max if w_max > 0 else np.zeros(n)
            if self.levels:
                step = self.g_max / (self.levels - 1)
                g = np.round(g / step) * step
            devices = 2 if self.mapping == "differential" else 1
            if devices == 2:
                target = np.stack([np.where(w > 0, g, 0.0), np.where(w < 0, g, 0.0)])
            else:
                target = g[None, :]
            # one draw per device for each effect, in this order (stuck, programming, drift)
            u = rng.random((devices, n))
            eps = rng.standard_normal((devices, n))
            nu = rng.normal(self.drift_nu_mean, self.drift_nu_std, (devices, n))
            ref = np.full_like(target, self.g_max) if self.noise_reference == "gmax" else target
            cond = np.clip(target + self.program_sigma * ref * eps, 0.0, self.g_max)
            if self.age is not None and self.age > self.t0:
                cond = cond * (self.age / self.t0) ** (-np.maximum(nu, 0.0))
            stuck = np.full(target.shape, -1.0)
            stuck[u < self.stuck_at_0] = 0.0
            stuck[(u >= self.stuck_at_0) & (u < self.stuck_at_0 + self.stuck_at_gmax)] = self.g_max
            for c in self.cells:
                if c.layer != layer:
                    continue
                if any(i >= s for i, s in zip(c.index, shape, strict=True)):
                    raise FaultMapError(f"device map {self.device_map!r}: index {list(c.index)} is out of range in "
                                        f"layer {layer!r} of shape (out, in, kh, kw) = {tuple(shape)}")
                flat = int(np.ravel_multi_index(c.index, tuple(shape)))
                row = {"plus": 0, "single": 0, "minus": 1}[c.device]
                stuck[row, flat] = 0.0 if c.stuck == "0" else self.g_max
            cond = np.where(stuck >= 0, stuck, cond)
            sign = np.where(w < 0, -1.0, 1.0)
            values = (cond[0] - cond[1]) * scale if devices == 2 else sign * cond[0] * scale
            if self.read_sigma:
                rref = np.full_like(cond, self.g_max) if self.noise_reference == "gmax" else cond
                read_std = self.read_sigma * scale * np.sqrt((rref ** 2).sum(0))
        neuron_scale = None
        if self.threshold_sigma:
            m = np.maximum(1.0 + self.threshold_sigma * rng.standard_normal(tuple(neuron_shape)), MISMATCH_FLOOR)
            neuron_scale = 1.0 / m
        as_t = lambda a: None if a is None else torch.as_tensor(a, dtype=golden.dtype, device=golden.device)  # noqa: E731
        return AnalogDraw(as_t(values), as_t(read_std), as_t(neuron_scale))  # type: ignore[arg-type]


@dataclass(frozen=True)
class AnalogDraw:
    """One round's draw of one layer."""

    values: torch.Tensor
    read_std: torch.Tensor | None
    neuron_scale: torch.Tensor | None


class AnalogLayer(SynapseFaultModel):
    """The resolved form of :class:`AnalogDevices` on one layer: every synapse of the layer,
    with the seed of its draws. Built by a campaign, never by hand."""

    #: the engines evaluate it on the whole layer (and per sample when it has read noise)
    whole_layer: ClassVar[bool] = True

    def __init__(self, devices: Mapping[str, Any], layer: str, shape: Sequence[int], seed_key: Sequence[int]) -> None:
        if not isinstance(devices, Mapping):
            raise FaultSpecError(f"AnalogLayer devices must be AnalogDevices parameters, got {devices!r}")
        self.devices = AnalogDevices(**{k: v for k, v in devices.items() if k != "model"})
        self.layer = str(layer)
        self.shape = [int(v) for v in shape]
        self.seed_key = [int(v) for v in seed_key]
        if len(self.shape) != 4 or len(self.seed_key) != 4:
            raise FaultSpecError(f"AnalogLayer needs a 4-d shape and a 4-part seed key, got {shape!r}, {seed_key!r}")

    @property
    def stochastic(self) -> bool:  # type: ignore[override]
        return self.devices.stochastic

    def params(self) -> dict[str, Any]:
        return {"devices": self.devices.params(), "layer": self.layer, "shape": list(self.shape),
                "seed_key": list(self.seed_key)}

    def scalar_parameter(self) -> tuple[str, float]:
        return self.devices.scalar_parameter()

    @property
    def has_read_noise(self) -> bool:
        return self.devices.mapping != "none" and self.devices.read_sigma > 0

    def draw(self, golden: torch.Tensor, neuron_shape: Sequence[int]) -> AnalogDraw:
        return self.devices.draw(golden, neuron_shape, self.layer, self.shape, self.seed_key)

    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        if golden.numel() != math.prod(self.shape):
            raise FaultSpecError(f"AnalogLayer of {self.layer!r} acts on all {math.prod(self.shape)} weights of the "
                                 f"layer, got {golden.numel()}")
        return self.draw(golden, (1, 1, 1)).values

    def read_noise(self, sample: int, n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """The standard normals of one sample's read noise (one per weight)."""
        rng = np.random.default_rng([*self.seed_key, int(sample), _READ_STREAM])
        return torch.as_tensor(rng.standard_normal(n), dtype=dtype, device=device)


_REGISTRY.update({cls.__name__: cls for cls in (AnalogDevices, AnalogLayer)})
