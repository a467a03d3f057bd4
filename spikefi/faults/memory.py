"""Faults of the quantized weight memory as a whole: fault maps and adjacent multi-bit upsets.

The *weight memory* of a quantized campaign is the integer codes of every synaptic layer
(conv, dense), each layer flattened in SLAYER's ``(out, in, kh, kw)`` order (row-major),
the layers one after the other in network order. A :class:`MemoryFaultModel` chooses its
own cells in that memory (from a file, or drawn from the round's seeded generator); when a
campaign resolves a round, the cells are turned into ordinary per-weight faults: one
:class:`StuckBitSynapse` (stuck-at cells) or :class:`~spikefi.faults.models.BitFlipSynapse`
(upsets) per layer and per distinct set of bits, at the weights concerned. Every engine then
evaluates them as any other synapse fault, and the result table lists them (so a fault list
built from the result names fixed faults).

* :class:`FaultMap` — stuck-at cells read from a fault-map file (:func:`read_fault_map`).
* :class:`AdjacentBitUpset` — bursts of ``width`` physically adjacent cells, for a word
  layout of ``word_bits`` bits per memory word and an interleaving distance;
  :class:`Float32AdjacentBitUpset` the same over the float32 encoding of the weights.
* :class:`SoftErrors` — upsets at a bit-error rate over the integer codes;
  :class:`Float32SoftErrors` over the float32 encoding of the weights (no quantization).
"""

from __future__ import annotations

import csv
import hashlib
import math
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import FaultMapError, FaultSpecError
from .models import _REGISTRY, BitFlipSynapse, FloatBitFlipSynapse, SynapseContext, SynapseFaultModel, _bits
from .quantization import QuantParams, dequantize_codes

__all__ = [
    "FAULT_MAP_SCHEMA", "FAULT_MAP_COLUMNS", "PARQUET_SCHEMA_KEY", "FaultMapCell", "read_fault_map", "write_fault_map",
    "WeightMemory", "MemoryFaultModel", "StuckBitSynapse", "FaultMap", "AdjacentBitUpset", "SoftErrors",
    "Float32SoftErrors", "Float32AdjacentBitUpset",
    "cells_to_faults",
]

#: the fault-map schema version this spikefi reads and writes
FAULT_MAP_SCHEMA = 1
_MAGIC = "# spikefi-fault-map"
#: the columns of a fault-map file, in this order
FAULT_MAP_COLUMNS: tuple[str, ...] = ("layer", "out", "in", "kh", "kw", "bit", "stuck")


# ---------------------------------------------------------------------------------
# stuck-at bits of one weight


class StuckBitSynapse(SynapseFaultModel):
    """Bits of the quantized weight code stuck at 0 or 1 (a defective memory cell).

    The stored pattern becomes ``(q & ~mask0) | mask1`` (two's complement for signed
    codes), with ``mask0``/``mask1`` the bits of ``stuck_at_0``/``stuck_at_1``; a cell already
    holding its stuck value changes nothing. Needs a quantized campaign.
    """

    needs_quantization: ClassVar[bool] = True
    elementwise: ClassVar[bool] = True

    def __init__(self, stuck_at_0: int | Sequence[int] = (), stuck_at_1: int | Sequence[int] = ()) -> None:
        zero = _bit_list(stuck_at_0, "stuck_at_0")
        one = _bit_list(stuck_at_1, "stuck_at_1")
        if not zero and not one:
            raise FaultSpecError("StuckBitSynapse needs at least one bit in stuck_at_0 or stuck_at_1")
        both = sorted(set(zero) & set(one))
        if both:
            raise FaultSpecError(f"StuckBitSynapse bit(s) {both} cannot be stuck at 0 and at 1 at once")
        self.stuck_at_0, self.stuck_at_1 = zero, one

    def params(self) -> dict[str, Any]:
        return {"stuck_at_0": list(self.stuck_at_0), "stuck_at_1": list(self.stuck_at_1)}

    @property
    def bits(self) -> list[int]:
        """Every stuck bit (for the result table's ``bits`` column)."""
        return sorted(self.stuck_at_0 + self.stuck_at_1)

    def check_quantization(self, qparams: QuantParams) -> None:
        bad = [b for b in self.bits if b >= qparams.bits]
        if bad:
            raise FaultSpecError(f"StuckBitSynapse bit(s) {bad} out of range for {qparams.dtype} codes; "
                                 f"allowed 0..{qparams.bits - 1}")

    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        qp = context.qparams
        if qp is None:
            raise FaultSpecError("StuckBitSynapse needs a quantized campaign (quantization: {dtype: int8, ...})")
        codes = context.codes(golden, qp)
        n = qp.bits
        clear = ((1 << n) - 1) & ~_mask(self.stuck_at_0)
        stored = (torch.bitwise_and(codes.to(torch.int64), (1 << n) - 1) & clear) | _mask(self.stuck_at_1)
        if qp.signed:
            stored = torch.where(stored >= (1 << (n - 1)), stored - (1 << n), stored)
        return dequantize_codes(stored, qp, golden.dtype)  # stuck bits keep the codes in range


def _bit_list(value: int | Sequence[int], what: str) -> list[int]:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 0:
        return []
    return _bits(value, 32, f"StuckBitSynapse {what}")


def _mask(bits: Iterable[int]) -> int:
    mask = 0
    for b in bits:
        mask |= 1 << b
    return mask


# ---------------------------------------------------------------------------------
# the weight memory


def _synaptic_layers(layers: Mapping[str, Any], only: Sequence[str] | None) -> list[Any]:
    """The synaptic layers (LayerInfo) of ``layers`` in network order, or of ``only`` among
    them; a one-line error for an unknown or non-synaptic layer, or none at all."""
    infos = sorted((i for i in layers.values() if i.synapse_shape is not None), key=lambda i: i.index)
    if only is not None:
        for name in only:
            if name not in layers:
                raise FaultSpecError(f"unknown layer {name!r}; layers: {list(layers)}")
            layers[name].shape_for("synapse")
        infos = [i for i in infos if i.name in set(only)]
    if not infos:
        raise FaultSpecError("the network has no synaptic layer (conv, dense): no weight memory")
    return infos


@dataclass(frozen=True)
class WeightMemory:
    """The quantized weight memory: synaptic layers in network order, each flattened.

    Attributes:
        layers: layer names, in network order.
        shapes: each layer's synapse shape ``(out, in, kh, kw)``.
        code_bits: bits of one weight code (8 for int8/uint8, 32 for int32).
    """

    layers: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    code_bits: int

    @classmethod
    def of(cls, layers: Mapping[str, Any], qparams: Mapping[str, QuantParams],
           only: Sequence[str] | None = None) -> WeightMemory:
        """The memory of a campaign's ``layers`` (LayerInfo by name) quantized with ``qparams``;
        ``only``: these layers alone (in network order)."""
        infos = _synaptic_layers(layers, only)
        missing = [i.name for i in infos if i.name not in qparams]
        if missing:
            raise FaultSpecError(f"the weight memory is the quantized codes; layer(s) {missing} are not quantized "
                                 "(Campaign(..., quantization={'dtype': 'int8'}))")
        widths = {qparams[i.name].bits for i in infos}
        if len(widths) != 1:
            raise FaultSpecError(f"the weight memory needs one code width for all layers, got {sorted(widths)} bits")
        return cls(tuple(i.name for i in infos), tuple(tuple(i.synapse_shape) for i in infos), widths.pop())

    @classmethod
    def of_float32(cls, layers: Mapping[str, Any], only: Sequence[str] | None = None) -> WeightMemory:
        """The float32 weight memory of a campaign's ``layers``: 32 bit cells per weight (the
        IEEE-754 binary32 encoding of the effective weight); ``only``: these layers alone."""
        infos = _synaptic_layers(layers, only)
        return cls(tuple(i.name for i in infos), tuple(tuple(i.synapse_shape) for i in infos), 32)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(s) for s in self.shapes)

    @property
    def words(self) -> int:
        """Number of weight codes."""
        return sum(self.sizes)

    @property
    def bits(self) -> int:
        """Number of bit cells (``words * code_bits``)."""
        return self.words * self.code_bits

    def locate(self, code: int) -> tuple[str, int]:
        """``(layer, flat index in the layer)`` of the ``code``-th weight code of the memory."""
        offset = 0
        for name, size in zip(self.layers, self.sizes, strict=True):
            if code < offset + size:
                return name, code - offset
            offset += size
        raise FaultSpecError(f"code {code} is outside the weight memory of {self.words} codes")


def cells_to_faults(cells: Mapping[tuple[str, int], Any], memory: WeightMemory, timing: Any,
                    kind: str, source: Any = None) -> list[Any]:
    """Resolved faults for per-weight bit masks ``{(layer, flat index): mask}``.

    ``kind``: ``flip`` (masks are ints; one :class:`BitFlipSynapse` per layer and mask),
    ``float`` (the same with :class:`~spikefi.faults.models.FloatBitFlipSynapse`: bits of the
    float32 encoding) or ``stuck`` (masks are ``(stuck-at-0 mask, stuck-at-1 mask)``; one
    :class:`StuckBitSynapse`).
    Faults are grouped per layer (network order) and per mask, positions in flat order.
    """
    from .sites import ResolvedFault

    groups: dict[tuple[str, Any], list[int]] = {}
    for (layer, flat), mask in sorted(cells.items(), key=lambda kv: (memory.layers.index(kv[0][0]), kv[0][1])):
        groups.setdefault((layer, mask), []).append(flat)
    shapes = dict(zip(memory.layers, memory.shapes, strict=True))
    out = []
    for layer in memory.layers:
        for (name, mask), flats in groups.items():
            if name != layer:
                continue
            if kind == "flip":
                model: SynapseFaultModel = BitFlipSynapse(_bits_of(mask))
            elif kind == "float":
                model = FloatBitFlipSynapse(_bits_of(mask))
            else:
                model = StuckBitSynapse(_bits_of(mask[0]), _bits_of(mask[1]))
            positions = tuple(tuple(int(v) for v in np.unravel_index(f, shapes[layer])) for f in flats)
            out.append(ResolvedFault(model, layer, positions, timing, source))
    return out


def _bits_of(mask: int) -> list[int]:
    return [b for b in range(mask.bit_length()) if mask >> b & 1]


class MemoryFaultModel(SynapseFaultModel):
    """A fault of the quantized weight memory that chooses its own cells.

    A campaign resolves it (:meth:`resolve`) into per-weight faults when the round is
    built; its sites may name layers (their memory alone), never positions.
    """

    #: site resolution alone cannot place it (``resolve_fault`` refuses it; a Campaign resolves it)
    chooses_own_cells: ClassVar[bool] = True
    needs_quantization: ClassVar[bool] = True
    #: whether the model restricts itself to the layers its sites name
    takes_layers: ClassVar[bool] = True
    #: the model that does the same over the float32 weights (named when a campaign is not quantized)
    float32_variant: ClassVar[str | None] = None

    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        raise FaultSpecError(f"{self.name} chooses its own cells of the weight memory; a campaign turns it into "
                             "per-weight faults (StuckBitSynapse, BitFlipSynapse) when it resolves the round")

    def weight_memory(self, layers: Mapping[str, Any], qparams: Mapping[str, QuantParams],
                      only: Sequence[str] | None = None) -> WeightMemory:
        """The memory the model acts on (default: the quantized codes, :meth:`WeightMemory.of`)."""
        if not qparams:
            other = f"; over the float32 weights use {self.float32_variant}" if self.float32_variant else ""
            raise FaultSpecError(f"{self.name} needs a quantized campaign (it acts on the quantized weight codes): "
                                 f"Campaign(..., quantization={{'dtype': 'int8'}}){other}")
        return WeightMemory.of(layers, qparams, only)

    @abstractmethod
    def resolve(self, memory: WeightMemory, rng: np.random.Generator, timing: Any) -> list[Any]:
        """The round's resolved faults (``ResolvedFault``) in ``memory``, drawing from ``rng``."""


# ---------------------------------------------------------------------------------
# fault maps


@dataclass(frozen=True)
class FaultMapCell:
    """One faulty cell of a fault map: bit ``bit`` of weight ``(out, in, kh, kw)`` of ``layer``
    stuck at ``stuck`` (0 or 1)."""

    layer: str
    index: tuple[int, int, int, int]
    bit: int
    stuck: int


def read_fault_map(path: str | Path) -> list[FaultMapCell]:
    """Reads a fault-map file (schema :data:`FAULT_MAP_SCHEMA`; see docs/faults.md): CSV, or
    Parquet for a name ending in ``.parquet`` / ``.pq`` (same columns, the schema version in
    the file metadata under :data:`PARQUET_SCHEMA_KEY`).

    Raises:
        FaultMapError: missing file, wrong schema line or version, wrong columns, a bad value
            (one line naming the file, the line and what is allowed).
    """
    path = Path(path)
    if not path.is_file():
        raise FaultMapError(f"fault map file not found: {str(path)!r}")
    if _is_parquet(path):
        return _read_parquet(path)
    where = str(path)
    with path.open(newline="") as fh:
        first = fh.readline().strip()
        if not first.startswith(_MAGIC):
            raise FaultMapError(f"{where}: line 1 must be '{_MAGIC} {FAULT_MAP_SCHEMA}' (the schema line), got {first!r}")
        version = first[len(_MAGIC):].strip()
        if version != str(FAULT_MAP_SCHEMA):
            raise FaultMapError(f"{where}: fault-map schema version {version!r} is not supported; "
                                f"this spikefi reads version {FAULT_MAP_SCHEMA}")
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != FAULT_MAP_COLUMNS:
            raise FaultMapError(f"{where}: line 2 must be the header {','.join(FAULT_MAP_COLUMNS)}, got {header!r}")
        cells: list[FaultMapCell] = []
        seen: set[tuple[str, tuple[int, ...], int]] = set()
        for row in reader:
            line = reader.line_num + 1
            if not row or all(not v.strip() for v in row):
                continue
            if len(row) != len(FAULT_MAP_COLUMNS):
                raise FaultMapError(f"{where} line {line}: {len(row)} values, expected {len(FAULT_MAP_COLUMNS)} "
                                    f"({','.join(FAULT_MAP_COLUMNS)})")
            layer = row[0].strip()
            if not layer:
                raise FaultMapError(f"{where} line {line}: empty layer name")
            values = []
            for col, text in zip(FAULT_MAP_COLUMNS[1:], row[1:], strict=True):
                try:
                    v = int(text.strip())
                except ValueError:
                    raise FaultMapError(f"{where} line {line}: {col} must be an int >= 0, got {text!r}") from None
                if v < 0:
                    raise FaultMapError(f"{where} line {line}: {col} must be an int >= 0, got {v}")
                values.append(v)
            cells.append(_cell(f"{where} line {line}", layer, values, seen))
    return cells


def _cell(where: str, layer: str, values: Sequence[int], seen: set[tuple[str, tuple[int, ...], int]]) -> FaultMapCell:
    """One checked cell from ``values`` = ``(out, in, kh, kw, bit, stuck)``; ``where`` starts
    the error messages (file and line or row)."""
    for col, v in zip(FAULT_MAP_COLUMNS[1:], values, strict=True):
        if v < 0:
            raise FaultMapError(f"{where}: {col} must be an int >= 0, got {v}")
    *index, bit, stuck = values
    if stuck not in (0, 1):
        raise FaultMapError(f"{where}: stuck must be 0 or 1, got {stuck}")
    if bit >= 32:
        raise FaultMapError(f"{where}: bit {bit} is out of range; allowed 0..31 (0..7 for 8-bit codes)")
    key = (layer, tuple(index), bit)
    if key in seen:
        raise FaultMapError(f"{where}: cell {layer}{tuple(index)} bit {bit} is listed twice")
    seen.add(key)
    return FaultMapCell(layer, (index[0], index[1], index[2], index[3]), bit, stuck)


#: the Parquet file-metadata key that holds the schema version
PARQUET_SCHEMA_KEY = "spikefi-fault-map"


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _read_parquet(path: Path) -> list[FaultMapCell]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = str(path)
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FaultMapError(f"{where}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    meta = pf.schema_arrow.metadata or {}
    version = meta.get(PARQUET_SCHEMA_KEY.encode())
    if version is None:
        raise FaultMapError(f"{where}: the file metadata lacks the key {PARQUET_SCHEMA_KEY!r} (the schema version; "
                            f"write_fault_map writes {FAULT_MAP_SCHEMA})")
    if version.decode(errors="replace") != str(FAULT_MAP_SCHEMA):
        raise FaultMapError(f"{where}: fault-map schema version {version.decode(errors='replace')!r} is not supported; "
                            f"this spikefi reads version {FAULT_MAP_SCHEMA}")
    names = tuple(pf.schema_arrow.names)
    if names != FAULT_MAP_COLUMNS:
        raise FaultMapError(f"{where}: the columns must be {','.join(FAULT_MAP_COLUMNS)}, got {','.join(names)}")
    schema = pf.schema_arrow
    if not (pa.types.is_string(schema.field("layer").type) or pa.types.is_large_string(schema.field("layer").type)):
        raise FaultMapError(f"{where}: column layer must hold strings, got {schema.field('layer').type}")
    for col in FAULT_MAP_COLUMNS[1:]:
        if not pa.types.is_integer(schema.field(col).type):
            raise FaultMapError(f"{where}: column {col} must hold integers, got {schema.field(col).type}")
    table = pf.read()
    for col in FAULT_MAP_COLUMNS:
        if table.column(col).null_count:
            raise FaultMapError(f"{where}: column {col} has {table.column(col).null_count} empty value(s)")
    columns = [table.column(c).to_pylist() for c in FAULT_MAP_COLUMNS]
    cells: list[FaultMapCell] = []
    seen: set[tuple[str, tuple[int, ...], int]] = set()
    for row, (layer, *values) in enumerate(zip(*columns, strict=True)):
        if not str(layer).strip():
            raise FaultMapError(f"{where} row {row}: empty layer name")
        cells.append(_cell(f"{where} row {row}", str(layer).strip(), [int(v) for v in values], seen))
    return cells


def _write_parquet(path: Path, cells: Sequence[FaultMapCell]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("layer", pa.string())] + [(c, pa.int32()) for c in FAULT_MAP_COLUMNS[1:]],
                       metadata={PARQUET_SCHEMA_KEY: str(FAULT_MAP_SCHEMA)})
    columns = [[c.layer for c in cells]] + [[c.index[i] for c in cells] for i in range(4)] + \
        [[c.bit for c in cells], [c.stuck for c in cells]]
    pq.write_table(pa.Table.from_arrays([pa.array(v, type=f.type) for v, f in zip(columns, schema, strict=True)],
                                        schema=schema), path)


def write_fault_map(path: str | Path, cells: Iterable[FaultMapCell | Sequence[Any]]) -> Path:
    """Writes ``cells`` (:class:`FaultMapCell` or ``(layer, (out, in, kh, kw), bit, stuck)``)
    as a fault-map file of schema :data:`FAULT_MAP_SCHEMA` (Parquet for a name ending in
    ``.parquet`` / ``.pq``, else CSV); returns the path."""
    path = Path(path)
    if _is_parquet(path):
        checked: list[FaultMapCell] = []
        seen: set[tuple[str, tuple[int, ...], int]] = set()
        for i, cell in enumerate(cells):
            c = cell if isinstance(cell, FaultMapCell) else FaultMapCell(str(cell[0]), tuple(cell[1]), int(cell[2]),  # type: ignore[arg-type]
                                                                         int(cell[3]))
            checked.append(_cell(f"{path} cell {i}", c.layer, [*c.index, c.bit, c.stuck], seen))
        _write_parquet(path, checked)
        return path
    with path.open("w", newline="") as fh:
        fh.write(f"{_MAGIC} {FAULT_MAP_SCHEMA}\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(FAULT_MAP_COLUMNS)
        for cell in cells:
            c = cell if isinstance(cell, FaultMapCell) else FaultMapCell(str(cell[0]), tuple(cell[1]), int(cell[2]),  # type: ignore[arg-type]
                                                                         int(cell[3]))
            writer.writerow([c.layer, *c.index, c.bit, c.stuck])
    return path


class FaultMap(MemoryFaultModel):
    """Stuck-at cells of the quantized weight memory listed in a fault-map file (one round).

    Args:
        file: the fault-map file (CSV, schema :data:`FAULT_MAP_SCHEMA`, see docs/faults.md).
        sha256: the file's SHA-256 digest; when given, a file with other contents is refused
            (``params()`` always records it, so a stored spec names the exact map).

    Raises:
        FaultMapError: a bad file (at construction); unknown or non-synaptic layers,
            out-of-range indices or bits for the network (when a campaign resolves the round).
    """

    takes_layers: ClassVar[bool] = False

    def __init__(self, file: str, sha256: str | None = None) -> None:
        if not isinstance(file, (str, Path)) or not str(file).strip():
            raise FaultMapError(f"FaultMap file must be a path, got {file!r}")
        self.file = str(file)
        self.cells = read_fault_map(self.file)
        digest = hashlib.sha256(Path(self.file).read_bytes()).hexdigest()
        if sha256 is not None and sha256 != digest:
            raise FaultMapError(f"fault map {self.file!r} has SHA-256 {digest}, the spec expects {sha256}")
        self.sha256 = digest

    def params(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256}

    def scalar_parameter(self) -> tuple[str, float]:
        return "faulty_cells", float(len(self.cells))

    def resolve(self, memory: WeightMemory, rng: np.random.Generator, timing: Any) -> list[Any]:
        shapes = dict(zip(memory.layers, memory.shapes, strict=True))
        masks: dict[tuple[str, int], tuple[int, int]] = {}
        for c in self.cells:
            if c.layer not in shapes:
                raise FaultMapError(f"fault map {self.file!r}: layer {c.layer!r} is not a synaptic layer of the "
                                    f"network; allowed: {list(memory.layers)}")
            shape = shapes[c.layer]
            if any(i >= n for i, n in zip(c.index, shape, strict=True)):
                raise FaultMapError(f"fault map {self.file!r}: index {list(c.index)} is out of range in layer "
                                    f"{c.layer!r} of shape (out, in, kh, kw) = {tuple(shape)}")
            if c.bit >= memory.code_bits:
                raise FaultMapError(f"fault map {self.file!r}: bit {c.bit} of {c.layer}{list(c.index)} is out of "
                                    f"range for {memory.code_bits}-bit codes; allowed 0..{memory.code_bits - 1}")
            flat = int(np.ravel_multi_index(c.index, shape))
            m0, m1 = masks.get((c.layer, flat), (0, 0))
            masks[(c.layer, flat)] = (m0 | (1 << c.bit), m1) if c.stuck == 0 else (m0, m1 | (1 << c.bit))
        if not masks:
            raise FaultMapError(f"fault map {self.file!r} lists no faulty cell")
        return cells_to_faults(masks, memory, timing, "stuck", self)


# ---------------------------------------------------------------------------------
# adjacent multi-bit upsets


class AdjacentBitUpset(MemoryFaultModel):
    """Bursts of ``width`` physically adjacent bit cells of the weight memory flipped at once.

    The memory is a row of cells: ``word_bits``-bit memory words (each packing
    ``word_bits / code_bits`` weight codes, code ``j`` of a word in its bits
    ``j*code_bits ..``), interleaved with distance ``interleave``: within each group of
    ``interleave`` consecutive words, cell ``p`` holds bit ``p // interleave`` of word
    ``p % interleave``. Without interleaving a burst flips neighbouring bits of one word
    (continuing into the next word at the word's end); with ``interleave >= width`` it
    flips the same bit of ``width`` neighbouring words.

    Args:
        width: cells per burst (>= 1).
        word_bits: bits per memory word (default: the code width; a multiple of it).
        interleave: interleaving distance (>= 1; 1 = none).
        bursts: bursts per round, at distinct random start cells (cells hit twice flip once).
        start: the first cell of the one burst (instead of a random start), for a fixed fault.
    """

    float32_variant: ClassVar[str | None] = "Float32AdjacentBitUpset"
    #: the per-weight faults the cells become (:func:`cells_to_faults`)
    _cells: ClassVar[str] = "flip"

    def __init__(self, width: int, word_bits: int | None = None, interleave: int = 1, bursts: int = 1,
                 start: int | None = None) -> None:
        for name, value, low in (("width", width, 1), ("interleave", interleave, 1), ("bursts", bursts, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise FaultSpecError(f"{self.name} {name} must be an int >= {low}, got {value!r}")
        if word_bits is not None and (isinstance(word_bits, bool) or not isinstance(word_bits, int) or word_bits < 1):
            raise FaultSpecError(f"{self.name} word_bits must be null or an int >= 1, got {word_bits!r}")
        if start is not None:
            if isinstance(start, bool) or not isinstance(start, int) or start < 0:
                raise FaultSpecError(f"{self.name} start must be null or a cell index >= 0, got {start!r}")
            if bursts != 1:
                raise FaultSpecError(f"{self.name} start= fixes one burst; got bursts={bursts}")
        self.width, self.word_bits, self.interleave, self.bursts, self.start = width, word_bits, interleave, bursts, start

    @property
    def stochastic(self) -> bool:  # type: ignore[override]
        """Whether each round draws its bursts (no fixed ``start``)."""
        return self.start is None

    def params(self) -> dict[str, Any]:
        return {"width": self.width, "word_bits": self.word_bits, "interleave": self.interleave,
                "bursts": self.bursts, "start": self.start}

    def scalar_parameter(self) -> tuple[str, float]:
        return "burst_width", float(self.width)

    def layout(self, memory: WeightMemory) -> tuple[int, int]:
        """``(word_bits, number of physical cells)`` of ``memory`` in this layout."""
        word_bits = self.word_bits or memory.code_bits
        if word_bits % memory.code_bits:
            raise FaultSpecError(f"{self.name} word_bits {word_bits} must be a multiple of the code width "
                                 f"{memory.code_bits}")
        per_word = word_bits // memory.code_bits
        words = -(-memory.words // per_word)
        groups = -(-words // self.interleave)
        return word_bits, groups * self.interleave * word_bits

    def cell(self, p: int, memory: WeightMemory) -> tuple[int, int] | None:
        """``(code index, bit of the code)`` held by physical cell ``p`` (None: padding)."""
        word_bits, _ = self.layout(memory)
        group_cells = word_bits * self.interleave
        g, r = divmod(p, group_cells)
        word = g * self.interleave + r % self.interleave
        bit = r // self.interleave
        code = word * (word_bits // memory.code_bits) + bit // memory.code_bits
        return None if code >= memory.words else (code, bit % memory.code_bits)

    def resolve(self, memory: WeightMemory, rng: np.random.Generator, timing: Any) -> list[Any]:
        _, total = self.layout(memory)
        if self.width > total:
            raise FaultSpecError(f"{self.name} width {self.width} exceeds the {total} cells of the weight memory")
        starts_n = total - self.width + 1
        if self.start is not None:
            if self.start >= starts_n:
                raise FaultSpecError(f"{self.name} start {self.start} out of range; allowed 0..{starts_n - 1} "
                                     f"(the memory has {total} cells, width {self.width})")
            starts = [self.start]
        else:
            if self.bursts > starts_n:
                raise FaultSpecError(f"{self.name} bursts {self.bursts} exceed the {starts_n} possible starts")
            starts = sorted(int(s) for s in rng.choice(starts_n, size=self.bursts, replace=False))
        masks: dict[tuple[str, int], int] = {}
        for s in starts:
            for p in range(s, s + self.width):
                hit = self.cell(p, memory)
                if hit is None:
                    continue
                key = memory.locate(hit[0])
                masks[key] = masks.get(key, 0) | (1 << hit[1])
        if not masks:
            raise FaultSpecError(f"{self.name} hit only padding cells of the last memory word; nothing to flip")
        return cells_to_faults(masks, memory, timing, self._cells, self)


class Float32AdjacentBitUpset(AdjacentBitUpset):
    """Bursts of ``width`` adjacent bit cells of the float32 weight memory flipped at once:
    :class:`AdjacentBitUpset` over the 32 bits of the IEEE-754 binary32 encoding of every
    weight (bit 31 the sign, 23-30 the exponent, 0-22 the mantissa; cell ``c`` of a word
    holding one weight is bit ``c`` of it), resolved into
    :class:`~spikefi.faults.models.FloatBitFlipSynapse` faults, as
    :class:`Float32SoftErrors` does for single upsets. Needs no quantization (on a quantized
    campaign it flips the float32 encoding of the dequantized weights).

    ``word_bits`` is the memory word (default 32: one weight per word) and must be a
    multiple of 32: a word packs ``word_bits / 32`` weights, weight ``j`` of a word in its
    bits ``32*j .. 32*j + 31``; ``interleave`` is as for :class:`AdjacentBitUpset`.
    """

    needs_quantization: ClassVar[bool] = False
    float32_variant: ClassVar[str | None] = None
    _cells: ClassVar[str] = "float"

    def __init__(self, width: int, word_bits: int | None = None, interleave: int = 1, bursts: int = 1,
                 start: int | None = None) -> None:
        super().__init__(width, word_bits, interleave, bursts, start)
        if word_bits is not None and word_bits % 32:
            raise FaultSpecError(f"{self.name} word_bits must be a multiple of 32 (a float32 weight is 32 cells of "
                                 f"one word), got {word_bits}")

    def weight_memory(self, layers: Mapping[str, Any], qparams: Mapping[str, QuantParams],
                      only: Sequence[str] | None = None) -> WeightMemory:
        return WeightMemory.of_float32(layers, only)


# ---------------------------------------------------------------------------------
# soft errors at a rate


class SoftErrors(MemoryFaultModel):
    """Soft errors of the quantized weight memory at a bit-error rate: one Monte-Carlo draw
    of upsets per round.

    Every bit cell is upset independently with probability ``p = 1 - exp(-rate * exposure)``
    (upsets arriving as a Poisson process of ``rate`` per bit per unit of exposure; a cell
    upset more than once counts once). A round draws the number of upset cells
    ``K ~ Binomial(N, p)`` (``N``: the memory's bit cells) and then ``K`` distinct cells
    uniformly, from the round's generator (campaign seed, round id, fault index): the same
    seed gives the same draws. ``K = 0`` leaves the round fault-free.

    Args:
        rate: upsets per bit per unit of exposure (>= 0; e.g. per bit per hour, or per
            bit per inference).
        exposure: the exposure in the same unit (hours, inferences; >= 0).
    """

    float32_variant: ClassVar[str | None] = "Float32SoftErrors"

    def __init__(self, rate: float, exposure: float = 1.0) -> None:
        self.rate = _finite_nonneg("SoftErrors rate", rate)
        self.exposure = _finite_nonneg("SoftErrors exposure", exposure)
        if self.rate * self.exposure == 0:
            raise FaultSpecError("SoftErrors with rate or exposure 0 upsets nothing")

    @property
    def stochastic(self) -> bool:  # type: ignore[override]
        return True

    @property
    def probability(self) -> float:
        """Probability that one bit cell is upset during the exposure."""
        return float(-math.expm1(-self.rate * self.exposure))

    def params(self) -> dict[str, Any]:
        return {"rate": self.rate, "exposure": self.exposure}

    def scalar_parameter(self) -> tuple[str, float]:
        return "bit_upset_probability", self.probability

    def resolve(self, memory: WeightMemory, rng: np.random.Generator, timing: Any) -> list[Any]:
        total = memory.bits
        k = int(rng.binomial(total, self.probability))
        if k == 0:
            return []
        picks = rng.choice(total, size=k, replace=False)
        masks: dict[tuple[str, int], int] = {}
        for cell in sorted(int(c) for c in picks):
            code, bit = divmod(cell, memory.code_bits)
            key = memory.locate(code)
            masks[key] = masks.get(key, 0) | (1 << bit)
        return cells_to_faults(masks, memory, timing, self._cells, self)

    _cells: ClassVar[str] = "flip"


class Float32SoftErrors(SoftErrors):
    """Soft errors of the float32 weight memory at a bit-error rate: :class:`SoftErrors` over
    the 32 bits of the IEEE-754 binary32 encoding of every weight (bit 31 the sign, 23-30 the
    exponent, 0-22 the mantissa), resolved into
    :class:`~spikefi.faults.models.FloatBitFlipSynapse` faults. Needs no quantization (on a
    quantized campaign it flips the float32 encoding of the dequantized weights).

    Args:
        rate: upsets per bit per unit of exposure (>= 0).
        exposure: the exposure in the same unit (>= 0).
    """

    needs_quantization: ClassVar[bool] = False
    float32_variant: ClassVar[str | None] = None
    _cells: ClassVar[str] = "float"

    def weight_memory(self, layers: Mapping[str, Any], qparams: Mapping[str, QuantParams],
                      only: Sequence[str] | None = None) -> WeightMemory:
        return WeightMemory.of_float32(layers, only)


def _finite_nonneg(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise FaultSpecError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


_REGISTRY.update({cls.__name__: cls for cls in (StuckBitSynapse, FaultMap, AdjacentBitUpset, SoftErrors,
                                                Float32SoftErrors, Float32AdjacentBitUpset)})
