"""Event streams, their conversion to SLAYER spike tensors, and the N-MNIST file format.

A spike tensor follows the SLAYER convention: a float tensor of shape
``(C, H, W, T)`` per sample, where ``C = 2`` polarities (0 = OFF, 1 = ON),
``H``/``W`` are the pixel rows/columns and ``T`` the number of time bins of
width ``Ts`` (the sampling time, in ms). A bin holding at least one event has
the value ``1 / Ts``; every other bin is 0.

This module deliberately imports nothing from the rest of :mod:`spikefi.snn`
so that it can be used (and tested) on its own.

It also holds slayerPytorch's ``spikeFileIO`` names (``import spikefi.snn as snn``, then
``snn.io.read2Dspikes(...)``): the class :class:`event` with ``toSpikeTensor`` /
``toSpikeArray``, the readers and writers of slayerPytorch's binary and numpy event
files, :func:`spikeArrayToEvent` and the animations :func:`showTD` / :func:`animTD`.
The native names (:class:`Events`, :func:`read_nmnist_binary`) and the slayerPytorch names
share one binary codec and one binning routine.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from spikefi.errors import (
    ConfigError,
    DataError,
    DatasetNotFoundError,
    DTypeError,
    ShapeError,
)

__all__ = [
    "Events",
    "num_time_bins",
    "read_nmnist_binary",
    "write_nmnist_binary",
    "NMNIST_MAX_TIMESTAMP_US",
    "event",
    "spikeArrayToEvent",
    "read1Dspikes",
    "encode1Dspikes",
    "read2Dspikes",
    "encode2Dspikes",
    "read3Dspikes",
    "encode3Dspikes",
    "read1DnumSpikes",
    "encode1DnumSpikes",
    "readNpSpikes",
    "encodeNpSpikes",
    "showTD",
    "animTD",
]

#: Largest timestamp (in microseconds) the 23-bit field of the N-MNIST format can hold.
NMNIST_MAX_TIMESTAMP_US: int = (1 << 23) - 1

# Guard added to ``t / Ts`` before flooring, so that e.g. ``0.3 / 0.1`` (which is
# 2.9999999999999996 in binary floating point) lands in bin 3 as a human expects.
_BIN_EPS: float = 1e-9

_TIME_UNITS: dict[str, float] = {"s": 1e3, "ms": 1.0, "us": 1e-3, "ns": 1e-6}


def _check_sampling_time(sampling_time: float) -> float:
    try:
        ts = float(sampling_time)
    except (TypeError, ValueError):
        raise ConfigError(f"sampling_time must be a positive number of ms, got {sampling_time!r}") from None
    if not math.isfinite(ts) or ts <= 0.0:
        raise ConfigError(f"sampling_time must be a positive finite number of ms, got {sampling_time!r}")
    return ts


def num_time_bins(sample_length_ms: float, sampling_time: float) -> int:
    """Number of whole time bins of width ``sampling_time`` in a sample.

    Args:
        sample_length_ms: Length of a sample in ms (e.g. 300 for N-MNIST).
        sampling_time: Bin width ``Ts`` in ms.

    Returns:
        ``floor(sample_length_ms / sampling_time)`` (with a tiny round-off guard),
        at least 1.

    Raises:
        ConfigError: If either value is not positive, or the sample is shorter
            than one bin.
    """
    ts = _check_sampling_time(sampling_time)
    try:
        length = float(sample_length_ms)
    except (TypeError, ValueError):
        raise ConfigError(
            f"sample_length_ms must be a positive number of ms, got {sample_length_ms!r}"
        ) from None
    if not math.isfinite(length) or length <= 0.0:
        raise ConfigError(
            f"sample_length_ms must be a positive finite number of ms, got {sample_length_ms!r}"
        )
    bins = math.floor(length / ts + _BIN_EPS)
    if bins < 1:
        raise ConfigError(
            f"sample_length_ms={sample_length_ms!r} is shorter than one bin of sampling_time={sampling_time!r} ms"
        )
    return bins


def _as_1d(name: str, values: object, kind: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ShapeError(f"Events.{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DTypeError(f"Events.{name} must hold numbers, got dtype {arr.dtype}")
    if kind == "int":
        if arr.size and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise DataError(f"Events.{name} must hold whole numbers, got non-integer values")
        return arr.astype(np.int64, copy=True)
    out = arr.astype(np.float64, copy=True)
    if out.size and not np.all(np.isfinite(out)):
        raise DataError(f"Events.{name} must be finite, got NaN or infinite values")
    return out


class Events:
    """A stream of address events from a two-polarity event camera.

    Attributes:
        x: Pixel column of each event (int64, >= 0).
        y: Pixel row of each event (int64, >= 0).
        p: Polarity of each event (int64, 0 = OFF, 1 = ON).
        t: Timestamp of each event in ms (float64, >= 0).
    """

    __slots__ = ("x", "y", "p", "t")

    def __init__(self, x: object, y: object, p: object, t: object) -> None:
        """Validate and store the event arrays (copies are taken).

        Args:
            x: Pixel columns, non-negative integers.
            y: Pixel rows, non-negative integers.
            p: Polarities, each 0 (OFF) or 1 (ON).
            t: Timestamps in ms, non-negative and finite.

        Raises:
            ShapeError: If an array is not 1-D or the lengths differ.
            DTypeError: If an array does not hold numbers.
            DataError: If a value is negative, a polarity is not 0/1, a coordinate
                is not a whole number or a timestamp is not finite.
        """
        self.x = _as_1d("x", x, "int")
        self.y = _as_1d("y", y, "int")
        self.p = _as_1d("p", p, "int")
        self.t = _as_1d("t", t, "float")
        lengths = {name: len(getattr(self, name)) for name in self.__slots__}
        if len(set(lengths.values())) != 1:
            raise ShapeError(f"Events arrays must have equal lengths, got {lengths}")
        for name in ("x", "y", "t"):
            arr = getattr(self, name)
            if arr.size and arr.min() < 0:
                idx = int(np.argmin(arr))
                raise DataError(f"Events.{name} must be non-negative, got {name}={arr[idx]} at event {idx}")
        bad = np.flatnonzero((self.p != 0) & (self.p != 1))
        if bad.size:
            raise DataError(
                f"Events.p must be 0 (OFF) or 1 (ON), got p={self.p[bad[0]]} at event {int(bad[0])}"
            )

    @classmethod
    def from_structured(cls, array: np.ndarray, time_unit: str = "us") -> Events:
        """Build events from a structured numpy array with fields ``x, y, p, t``.

        This is the layout used by ``tonic`` (timestamps in microseconds).

        Args:
            array: 1-D structured array with (at least) the fields ``x``, ``y``,
                ``p`` and ``t``.
            time_unit: Unit of the ``t`` field: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``.

        Returns:
            The events, with ``t`` converted to ms.

        Raises:
            ConfigError: If ``time_unit`` is unknown.
            DataError: If the array is not structured or misses a field.
        """
        if time_unit not in _TIME_UNITS:
            raise ConfigError(f"time_unit must be one of {sorted(_TIME_UNITS)}, got {time_unit!r}")
        arr = np.asarray(array)
        names = arr.dtype.names
        if names is None:
            raise DataError(
                f"expected a structured array with fields x, y, p, t, got an unstructured array of dtype {arr.dtype}"
            )
        missing = [f for f in ("x", "y", "p", "t") if f not in names]
        if missing:
            raise DataError(f"structured event array lacks field(s) {missing}; it has {list(names)}")
        t_ms = arr["t"].astype(np.float64) * _TIME_UNITS[time_unit]
        return cls(arr["x"], arr["y"], arr["p"].astype(np.int64), t_ms)

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def __repr__(self) -> str:
        if len(self) == 0:
            return "Events(n=0)"
        return (
            f"Events(n={len(self)}, x<={int(self.x.max())}, y<={int(self.y.max())}, "
            f"t=[{float(self.t.min()):g}, {float(self.t.max()):g}] ms)"
        )

    def shifted(self, offset_ms: float) -> Events:
        """Return a copy with every timestamp moved by ``-offset_ms``.

        Args:
            offset_ms: Amount subtracted from every timestamp (ms).

        Returns:
            New events; raises :class:`~spikefi.errors.DataError` if a timestamp
            would become negative.
        """
        return Events(self.x, self.y, self.p, self.t - float(offset_ms))

    def to_spike_tensor(
        self,
        shape: Sequence[int] | None = None,
        sampling_time: float = 1.0,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Bin the events into a SLAYER spike tensor of shape ``(C, H, W, T)``.

        An event at time ``t`` falls into bin ``floor(t / Ts)`` (a ``1e-9`` guard
        is added before flooring against binary round-off). Events whose bin is
        ``>= T`` are silently dropped: this is how fixed-length samples are cut.
        Several events of one pixel and polarity in the same bin still give a
        single spike of value ``1 / Ts``.

        Args:
            shape: ``(C, H, W, T)`` with ``C == 2``. ``None`` infers the smallest
                shape holding every event: ``(2, max(y)+1, max(x)+1, last bin + 1)``.
            sampling_time: Bin width ``Ts`` in ms.
            dtype: A floating point torch dtype.

        Returns:
            The spike tensor (on the CPU).

        Raises:
            ConfigError: If ``sampling_time`` is not positive.
            DTypeError: If ``dtype`` is not a floating point dtype.
            ShapeError: If ``shape`` is not four positive ints with ``C == 2``.
            DataError: If an event lies outside ``H``/``W``.
        """
        ts = _check_sampling_time(sampling_time)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise DTypeError(f"dtype must be a floating point torch dtype, got {dtype!r}")
        bins = np.floor(self.t / ts + _BIN_EPS).astype(np.int64)
        if shape is None:
            if len(self) == 0:
                raise ShapeError(
                    "cannot infer the tensor shape of an empty event stream; pass shape=(2, H, W, T)"
                )
            shape = (2, int(self.y.max()) + 1, int(self.x.max()) + 1, int(bins.max()) + 1)
        dims = tuple(shape)
        if len(dims) != 4 or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in dims
        ):
            raise ShapeError(f"shape must be four ints (C, H, W, T), got {shape!r}")
        c, h, w, n_t = (int(d) for d in dims)
        if c != 2:
            raise ShapeError(f"shape[0] (channels) must be 2 polarities (0 = OFF, 1 = ON), got {c}")
        if min(h, w, n_t) < 1:
            raise ShapeError(f"shape sizes must be positive, got {tuple(dims)}")
        for name, coords, limit in (("x", self.x, w), ("y", self.y, h)):
            outside = np.flatnonzero(coords >= limit)
            if outside.size:
                i = int(outside[0])
                raise DataError(
                    f"event {i} has {name}={int(coords[i])}, outside the sensor: {name} must be < {limit} "
                    f"for shape {tuple(dims)}"
                )
        keep = bins < n_t
        out = torch.zeros((c, h, w, n_t), dtype=dtype)
        _scatter_spikes(out, (self.p[keep], self.y[keep], self.x[keep], bins[keep]), 1.0 / ts, "OR")
        return out


def read_nmnist_binary(path: str | os.PathLike[str]) -> Events:
    """Read a file in the N-MNIST / ATIS 40-bit event format.

    Every event takes 5 bytes: byte 0 = x, byte 1 = y, bit 7 of byte 2 = polarity
    (1 = ON), and the remaining 23 bits (bits 6..0 of byte 2, then bytes 3 and 4,
    big-endian) are the timestamp in microseconds.

    Args:
        path: The ``.bin`` file.

    Returns:
        The events, timestamps converted to ms.

    Raises:
        DatasetNotFoundError: If the file does not exist.
        DataError: If the file size is not a multiple of 5 bytes.
    """
    fields = _read_records(path, _FORMAT_2D, "N-MNIST")
    return Events(fields["x"], fields["y"], fields["p"], fields["t"].astype(np.float64) / 1000.0)


def write_nmnist_binary(path: str | os.PathLike[str], events: Events) -> None:
    """Write events in the N-MNIST / ATIS 40-bit format (see :func:`read_nmnist_binary`).

    Timestamps are rounded to whole microseconds.

    Args:
        path: Destination file (overwritten; the parent folder must exist).
        events: The events to write.

    Raises:
        DTypeError: If ``events`` is not an :class:`Events`.
        DataError: If a coordinate does not fit in a byte (>= 256) or a timestamp
            does not fit in 23 bits (> 8388.607 ms).
    """
    if not isinstance(events, Events):
        raise DTypeError(f"events must be an Events instance, got {type(events).__name__}")
    for name in ("x", "y"):
        arr = getattr(events, name)
        if arr.size and arr.max() > 255:
            raise DataError(
                f"N-MNIST format stores {name} in one byte; got {name}={int(arr.max())} (allowed 0..255)"
            )
    ts_us = np.rint(events.t * 1000.0).astype(np.int64)
    if ts_us.size and ts_us.max() > NMNIST_MAX_TIMESTAMP_US:
        raise DataError(
            f"N-MNIST format stores 23-bit microsecond timestamps; got t={float(events.t.max())} ms "
            f"(allowed <= {NMNIST_MAX_TIMESTAMP_US / 1000.0} ms)"
        )
    _write_records(path, _FORMAT_2D, {"x": events.x, "y": events.y, "p": events.p, "t": ts_us})


# --------------------------------------------------------------------------- binary codec
#
# Every binary event format below is a sequence of fixed-size big-endian records. A
# format is a tuple of segments ``(bytes, fields)``; each segment (at most 8 bytes) holds
# its fields most significant first, ``(name, bits)``, filling the segment exactly.

_Format = tuple[tuple[int, tuple[tuple[str, int], ...]], ...]

_FORMAT_1D: _Format = ((5, (("x", 16), ("p", 1), ("t", 23))),)
_FORMAT_2D: _Format = ((5, (("x", 8), ("y", 8), ("p", 1), ("t", 23))),)
_FORMAT_3D: _Format = ((7, (("x", 12), ("y", 12), ("p", 8), ("t", 24))),)
_FORMAT_NUM: _Format = ((2, (("n", 16),)), (8, (("start", 24), ("stop", 24), ("count", 16))))


def _record_bytes(fmt: _Format) -> int:
    return sum(nbytes for nbytes, _ in fmt)


def _field_bits(fmt: _Format) -> dict[str, int]:
    return {name: bits for _, fields in fmt for name, bits in fields}


def _decode_records(raw: np.ndarray, fmt: _Format) -> dict[str, np.ndarray]:
    """Split ``raw`` bytes (a multiple of the record size) into int64 field arrays."""
    rec = raw.reshape(-1, _record_bytes(fmt)).astype(np.uint64)
    out: dict[str, np.ndarray] = {}
    col = 0
    for nbytes, fields in fmt:
        word = np.zeros(rec.shape[0], dtype=np.uint64)
        for i in range(nbytes):
            word = (word << np.uint64(8)) | rec[:, col + i]
        col += nbytes
        shift = 8 * nbytes
        for name, bits in fields:
            shift -= bits
            out[name] = ((word >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64)
    return out


def _encode_records(values: dict[str, np.ndarray], fmt: _Format, count: int) -> bytes:
    """Pack int64 field arrays (already range-checked) into the format's records."""
    rec = np.empty((count, _record_bytes(fmt)), dtype=np.uint8)
    col = 0
    for nbytes, fields in fmt:
        word = np.zeros(count, dtype=np.uint64)
        shift = 8 * nbytes
        for name, bits in fields:
            shift -= bits
            word |= values[name].astype(np.uint64) << np.uint64(shift)
        for i in range(nbytes):
            rec[:, col + i] = (word >> np.uint64(8 * (nbytes - 1 - i))) & np.uint64(0xFF)
        col += nbytes
    return rec.tobytes()


def _read_records(path: str | os.PathLike[str], fmt: _Format, what: str) -> dict[str, np.ndarray]:
    file = Path(path)
    if not file.is_file():
        raise DatasetNotFoundError(f"{what} event file not found: {str(file)!r}")
    raw = np.fromfile(file, dtype=np.uint8)
    size = _record_bytes(fmt)
    if raw.size % size:
        raise DataError(
            f"{what} file {str(file)!r} has {raw.size} bytes, not a multiple of {size} "
            f"({size} bytes per event)"
        )
    return _decode_records(raw, fmt)


def _write_records(path: str | os.PathLike[str], fmt: _Format, values: dict[str, np.ndarray]) -> None:
    count = len(next(iter(values.values())))
    Path(path).write_bytes(_encode_records(values, fmt, count))


def _check_field_range(values: np.ndarray, name: str, bits: int, writer: str, label: str | None = None) -> None:
    """Raise :class:`DataError` if a value does not fit in ``bits`` unsigned bits."""
    if values.size == 0:
        return
    limit = (1 << bits) - 1
    low, high = int(values.min()), int(values.max())
    label = label or name
    if low < 0 or high > limit:
        bad = low if low < 0 else high
        raise DataError(f"{writer} stores {label} in {bits} bits; got {label}={bad} (allowed 0..{limit})")


def _microseconds(t_ms: np.ndarray, bits: int, writer: str) -> np.ndarray:
    t_us = np.rint(np.asarray(t_ms, dtype=np.float64) * 1000.0).astype(np.int64)
    if t_us.size and (t_us.min() < 0 or t_us.max() > (1 << bits) - 1):
        bad = float(t_ms[int(np.argmin(t_us))] if t_us.min() < 0 else t_ms[int(np.argmax(t_us))])
        raise DataError(
            f"{writer} stores {bits}-bit microsecond timestamps; got t={bad} ms "
            f"(allowed 0 ms ..{((1 << bits) - 1) / 1000.0} ms)"
        )
    return t_us


# --------------------------------------------------------------------------- binning


def _scatter_spikes(out: torch.Tensor | np.ndarray, index: tuple[np.ndarray, ...], value: float, mode: str) -> None:
    """Write ``value`` at ``index`` of ``out`` (``"OR"``) or add it once per event (``"SUM"``)."""
    if index[0].size == 0:
        return
    if isinstance(out, torch.Tensor):
        idx = tuple(torch.from_numpy(np.ascontiguousarray(i)).to(out.device) for i in index)
        val = torch.tensor(value, dtype=out.dtype, device=out.device)
        if mode == "OR":
            out[idx] = val
        else:
            out.index_put_(idx, val.expand(idx[0].shape[0]), accumulate=True)
    elif mode == "OR":
        out[index] = value
    else:
        np.add.at(out, index, value)


def _random_start(high: int, rng: int | np.random.Generator | None) -> int:
    """A uniform integer in ``[0, high)``; ``rng=None`` draws from ``np.random`` (``np.random.seed``)."""
    if rng is None:
        return int(np.random.randint(high))
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(high))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return int(np.random.default_rng(int(rng)).integers(high))
    raise ConfigError(f"rng must be None, an int seed or a numpy Generator, got {rng!r}")


def _whole(name: str, values: object) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ShapeError(f"event {name} must be a 1-D array, got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DTypeError(f"event {name} must hold numbers, got dtype {arr.dtype}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise DataError(f"event {name} must hold whole numbers, got non-integer values")
    return arr.astype(np.int64, copy=True)


# --------------------------------------------------------------------------- slayerPytorch names


class event:  # noqa: N801 - slayerPytorch's name
    """An event stream in slayerPytorch's ``spikeFileIO.event`` form.

    Unlike :class:`Events` (the native, strictly validated two-polarity stream), an
    ``event`` may be one-dimensional (``yEvent=None``), may carry any number of channels
    in ``p`` and may hold coordinates outside a tensor: those events are dropped when
    binned, as slayerPytorch does.

    Attributes:
        dim: 1 (``y`` is ``None``) or 2.
        x: Column (or neuron id for 1-D data) of each event, int64.
        y: Row of each event, int64, or ``None`` for 1-D data.
        p: Polarity / channel of each event, int64, shifted so that its minimum is 0.
        t: Timestamp of each event in ms, float64.
    """

    def __init__(self, xEvent: object, yEvent: object, pEvent: object, tEvent: object) -> None:  # noqa: N803
        """Store validated copies of the event arrays.

        Args:
            xEvent: Columns (or neuron ids), whole numbers.
            yEvent: Rows, whole numbers, or ``None`` for 1-D data.
            pEvent: Polarities or channels, whole numbers (shifted so that the smallest is 0).
            tEvent: Timestamps in ms, finite.

        Raises:
            ShapeError: If an array is not 1-D or the lengths differ.
            DTypeError: If an array does not hold numbers.
            DataError: If a coordinate is not a whole number or a timestamp is not finite.
        """
        self.dim: int = 1 if yEvent is None else 2
        self.x: np.ndarray = _whole("x", xEvent)
        self.y: np.ndarray | None = None if yEvent is None else _whole("y", yEvent)
        self.p: np.ndarray = _whole("p", pEvent)
        t = np.asarray(tEvent)
        if t.ndim != 1:
            raise ShapeError(f"event t must be a 1-D array, got shape {t.shape}")
        if t.size and not (np.issubdtype(t.dtype, np.number) or t.dtype == np.bool_):
            raise DTypeError(f"event t must hold numbers, got dtype {t.dtype}")
        self.t: np.ndarray = t.astype(np.float64, copy=True)
        if self.t.size and not np.all(np.isfinite(self.t)):
            raise DataError("event t must be finite, got NaN or infinite values")
        lengths = {"x": self.x.size, "p": self.p.size, "t": self.t.size}
        if self.y is not None:
            lengths["y"] = self.y.size
        if len(set(lengths.values())) != 1:
            raise ShapeError(f"event arrays must have equal lengths, got {lengths}")
        if self.p.size:
            self.p -= self.p.min()

    def __len__(self) -> int:
        return int(self.t.size)

    def __repr__(self) -> str:
        if len(self) == 0:
            return f"event(dim={self.dim}, n=0)"
        return (
            f"event(dim={self.dim}, n={len(self)}, channels={int(self.p.max()) + 1}, "
            f"t=[{float(self.t.min()):g}, {float(self.t.max()):g}] ms)"
        )

    def toSpikeTensor(  # noqa: N802
        self,
        emptyTensor: torch.Tensor | np.ndarray,  # noqa: N803
        samplingTime: float = 1,  # noqa: N803
        randomShift: bool = False,  # noqa: N803
        binningMode: str = "OR",  # noqa: N803
        rng: int | np.random.Generator | None = None,
    ) -> torch.Tensor | np.ndarray:
        """Bin the events into ``emptyTensor`` (filled in place and returned).

        An event at ``t`` ms goes to bin ``round(t / samplingTime)`` (numpy's rounding,
        ties to even, as slayerPytorch), at index ``[p, y, x, bin]`` (``[p, 0, x, bin]``
        for 1-D data). Events outside the tensor (a negative or too large coordinate,
        channel or bin, e.g. past the last bin) are dropped.

        Args:
            emptyTensor: A floating torch tensor or numpy array ``(C, H, W, T)``
                (``(C, 1, W, T)`` for 1-D data), usually zeros.
            samplingTime: Bin width in ms.
            randomShift: Move the whole stream earlier by a random number of bins drawn
                uniformly from ``[0, max(first bin, last bin - T, T - last bin, 1))``
                (slayerPytorch's rule, with bins truncated).
            binningMode: ``"OR"``: a bin holding events gets ``1 / samplingTime``;
                ``"SUM"``: every event adds ``1 / samplingTime`` to its bin.
            rng: Source of the random shift: ``None`` draws from ``np.random`` (so
                ``np.random.seed`` fixes it, as in slayerPytorch scripts), an int seeds a
                new generator, or a ``numpy.random.Generator``.

        Returns:
            ``emptyTensor``.

        Raises:
            ConfigError: If ``samplingTime`` is not positive or ``binningMode`` is not
                ``"OR"``/``"SUM"``.
            ShapeError: If ``emptyTensor`` is not 4-D.
            DTypeError: If ``emptyTensor`` is not a floating torch tensor or numpy array.
        """
        ts = _check_sampling_time(samplingTime)
        mode = binningMode.upper() if isinstance(binningMode, str) else None
        if mode not in ("OR", "SUM"):
            raise ConfigError(f"binningMode must be 'OR' or 'SUM', got {binningMode!r}")
        if isinstance(emptyTensor, torch.Tensor):
            if not emptyTensor.dtype.is_floating_point:
                raise DTypeError(f"emptyTensor must be a floating tensor, got dtype {emptyTensor.dtype}")
        elif isinstance(emptyTensor, np.ndarray):
            if not np.issubdtype(emptyTensor.dtype, np.floating):
                raise DTypeError(f"emptyTensor must be a floating array, got dtype {emptyTensor.dtype}")
        else:
            raise DTypeError(
                f"emptyTensor must be a torch tensor or a numpy array, got {type(emptyTensor).__name__}"
            )
        if emptyTensor.ndim != 4:
            raise ShapeError(
                f"emptyTensor must be 4-D (C, H, W, T) (use H = 1 for 1-D data), got shape "
                f"{tuple(emptyTensor.shape)}"
            )
        c, h, w, n_t = (int(d) for d in emptyTensor.shape)
        start = 0
        if randomShift and len(self):
            first, last = int(self.t.min() / ts), int(self.t.max() / ts)
            start = _random_start(max(first, last - n_t, n_t - last, 1), rng)
        bins = np.round(self.t / ts).astype(np.int64) - start
        y = np.zeros_like(self.x) if self.y is None else self.y
        keep = (
            (self.x >= 0) & (self.x < w) & (y >= 0) & (y < h)
            & (self.p >= 0) & (self.p < c) & (bins >= 0) & (bins < n_t)
        )
        _scatter_spikes(emptyTensor, (self.p[keep], y[keep], self.x[keep], bins[keep]), 1.0 / ts, mode)
        return emptyTensor

    def toSpikeArray(self, samplingTime: float = 1, dim: Sequence[int] | None = None) -> np.ndarray:  # noqa: N802, N803
        """Bin the events (``"OR"`` mode) into a new float64 numpy array.

        Args:
            samplingTime: Bin width in ms.
            dim: ``(C, W, T)`` for 1-D data or ``(C, H, W, T)`` for 2-D data; ``None``
                sizes the array from the events (largest channel, coordinates and
                ``round(max(t) / samplingTime + 1)`` bins).

        Returns:
            The spike array of shape ``dim``.

        Raises:
            ShapeError: If ``dim`` has the wrong length or a non-positive size, or is
                ``None`` for an empty stream.
        """
        ts = _check_sampling_time(samplingTime)
        if dim is None:
            if len(self) == 0:
                raise ShapeError("cannot size the spike array of an empty event stream; pass dim")
            n_t = int(np.round(self.t.max() / ts + 1))
            spatial = (int(self.x.max()) + 1,) if self.y is None else (int(self.y.max()) + 1, int(self.x.max()) + 1)
            dim = (int(self.p.max()) + 1, *spatial, max(n_t, 1))
        dims = tuple(dim)
        want = 3 if self.dim == 1 else 4
        if len(dims) != want or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in dims
        ):
            layout = "(C, W, T)" if self.dim == 1 else "(C, H, W, T)"
            raise ShapeError(f"dim must be {want} positive ints {layout} for {self.dim}-D events, got {dim!r}")
        frame = np.zeros((dims[0], 1, dims[1], dims[2]) if self.dim == 1 else dims, dtype=np.float64)
        self.toSpikeTensor(frame, ts)
        return frame.reshape(dims)


def spikeArrayToEvent(spikeMat: np.ndarray | torch.Tensor, samplingTime: float = 1) -> event:  # noqa: N802, N803
    """Events of the positive entries of a dense spike array.

    Args:
        spikeMat: ``(C, W, T)`` (1-D data) or ``(C, H, W, T)`` array or tensor.
        samplingTime: Bin width in ms; an entry in bin ``k`` becomes an event at
            ``k * samplingTime`` ms.

    Returns:
        The events, in the array's row-major order (channel, then row, column, bin).

    Raises:
        ShapeError: If the array is not 3-D or 4-D.
    """
    ts = _check_sampling_time(samplingTime)
    mat = spikeMat.detach().cpu().numpy() if isinstance(spikeMat, torch.Tensor) else np.asarray(spikeMat)
    if mat.ndim == 3:
        nz = np.argwhere(mat > 0)
        return event(nz[:, 1], None, nz[:, 0], nz[:, 2] * ts)
    if mat.ndim == 4:
        nz = np.argwhere(mat > 0)
        return event(nz[:, 2], nz[:, 1], nz[:, 0], nz[:, 3] * ts)
    raise ShapeError(f"spikeMat must be (C, W, T) or (C, H, W, T), got shape {mat.shape}")


def _need_dim(td: object, dim: int, writer: str) -> event:
    if not isinstance(td, event):
        raise DTypeError(f"{writer} needs a spikefi.snn.io.event, got {type(td).__name__}")
    if td.dim != dim:
        raise DataError(f"{writer} needs {dim}-D events, got {td.dim}-D events")
    return td


def read1Dspikes(filename: str | os.PathLike[str]) -> event:  # noqa: N802
    """Read a 1-D binary event file: 5 bytes per event, x (neuron id) 16 bits,
    polarity 1 bit, timestamp 23 bits in µs.

    Raises:
        DatasetNotFoundError: If the file does not exist.
        DataError: If its size is not a multiple of 5 bytes.
    """
    f = _read_records(filename, _FORMAT_1D, "1-D spike")
    return event(f["x"], None, f["p"], f["t"].astype(np.float64) / 1000.0)


def encode1Dspikes(filename: str | os.PathLike[str], TD: event) -> None:  # noqa: N802, N803
    """Write 1-D events in the format of :func:`read1Dspikes` (times rounded to µs).

    Raises:
        DTypeError: If ``TD`` is not an :class:`event`.
        DataError: If ``TD`` is 2-D or a value does not fit its field (x < 65536,
            p in {0, 1}, 0 <= t < 8388.608 ms).
    """
    td = _need_dim(TD, 1, "encode1Dspikes")
    _check_field_range(td.x, "x", 16, "encode1Dspikes")
    _check_field_range(td.p, "p", 1, "encode1Dspikes")
    t_us = _microseconds(td.t, 23, "encode1Dspikes")
    _write_records(filename, _FORMAT_1D, {"x": td.x, "p": td.p, "t": t_us})


def read2Dspikes(filename: str | os.PathLike[str]) -> event:  # noqa: N802
    """Read an N-MNIST 40-bit event file (``.bs2``/``.bin``): x 8 bits, y 8 bits,
    polarity 1 bit, timestamp 23 bits in µs. Same decoder as :func:`read_nmnist_binary`.

    Raises:
        DatasetNotFoundError: If the file does not exist.
        DataError: If its size is not a multiple of 5 bytes.
    """
    f = _read_records(filename, _FORMAT_2D, "2-D spike")
    return event(f["x"], f["y"], f["p"], f["t"].astype(np.float64) / 1000.0)


def encode2Dspikes(filename: str | os.PathLike[str], TD: event) -> None:  # noqa: N802, N803
    """Write 2-D events in the format of :func:`read2Dspikes` (times rounded to µs).

    Raises:
        DTypeError: If ``TD`` is not an :class:`event`.
        DataError: If ``TD`` is 1-D or a value does not fit its field (x, y < 256,
            p in {0, 1}, 0 <= t < 8388.608 ms).
    """
    td = _need_dim(TD, 2, "encode2Dspikes")
    y = cast(np.ndarray, td.y)
    for name, values in (("x", td.x), ("y", y)):
        _check_field_range(values, name, 8, "encode2Dspikes")
    _check_field_range(td.p, "p", 1, "encode2Dspikes")
    t_us = _microseconds(td.t, 23, "encode2Dspikes")
    _write_records(filename, _FORMAT_2D, {"x": td.x, "y": y, "p": td.p, "t": t_us})


def read3Dspikes(filename: str | os.PathLike[str]) -> event:  # noqa: N802
    """Read a 3-D binary event file: 7 bytes per event, x 12 bits, y 12 bits,
    channel 8 bits (returned as ``p``), timestamp 24 bits in µs.

    Raises:
        DatasetNotFoundError: If the file does not exist.
        DataError: If its size is not a multiple of 7 bytes.
    """
    f = _read_records(filename, _FORMAT_3D, "3-D spike")
    return event(f["x"], f["y"], f["p"], f["t"].astype(np.float64) / 1000.0)


def encode3Dspikes(filename: str | os.PathLike[str], TD: event) -> None:  # noqa: N802, N803
    """Write 2-D events with a channel in ``p`` in the format of :func:`read3Dspikes`.

    Raises:
        DTypeError: If ``TD`` is not an :class:`event`.
        DataError: If ``TD`` is 1-D or a value does not fit its field (x, y < 4096,
            p < 256, 0 <= t < 16777.216 ms).
    """
    td = _need_dim(TD, 2, "encode3Dspikes")
    y = cast(np.ndarray, td.y)
    for name, values in (("x", td.x), ("y", y)):
        _check_field_range(values, name, 12, "encode3Dspikes")
    _check_field_range(td.p, "p", 8, "encode3Dspikes")
    t_us = _microseconds(td.t, 24, "encode3Dspikes")
    _write_records(filename, _FORMAT_3D, {"x": td.x, "y": y, "p": td.p, "t": t_us})


def read1DnumSpikes(  # noqa: N802
    filename: str | os.PathLike[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read desired spike counts (``.bsn``): 10 bytes per entry, neuron id 16 bits, window
    start 24 bits and end 24 bits in µs, spike count 16 bits.

    Returns:
        ``(nID, tSt, tEn, nSp)``: int64 ids, float64 start and end in ms, int64 counts.

    Raises:
        DatasetNotFoundError: If the file does not exist.
        DataError: If its size is not a multiple of 10 bytes.
    """
    f = _read_records(filename, _FORMAT_NUM, "spike-count")
    return f["n"], f["start"].astype(np.float64) / 1000.0, f["stop"].astype(np.float64) / 1000.0, f["count"]


def encode1DnumSpikes(  # noqa: N802
    filename: str | os.PathLike[str],
    nID: object,  # noqa: N803
    tSt: object,  # noqa: N803
    tEn: object,  # noqa: N803
    nSp: object,  # noqa: N803
) -> None:
    """Write desired spike counts in the format of :func:`read1DnumSpikes`.

    Args:
        filename: Destination file.
        nID: Neuron ids (< 65536).
        tSt: Window starts in ms (rounded to µs, < 16777.216 ms).
        tEn: Window ends in ms (same range).
        nSp: Spike counts (< 65536).

    Raises:
        ShapeError: If the arrays are not 1-D of equal length.
        DataError: If a value does not fit its field.
    """
    ids, counts = _whole("nID", np.atleast_1d(nID)), _whole("nSp", np.atleast_1d(nSp))
    starts = np.atleast_1d(np.asarray(tSt, dtype=np.float64))
    ends = np.atleast_1d(np.asarray(tEn, dtype=np.float64))
    lengths = {"nID": ids.size, "tSt": starts.size, "tEn": ends.size, "nSp": counts.size}
    if starts.ndim != 1 or ends.ndim != 1 or len(set(lengths.values())) != 1:
        raise ShapeError(f"nID, tSt, tEn and nSp must be 1-D of equal length, got {lengths}")
    _check_field_range(ids, "nID", 16, "encode1DnumSpikes")
    _check_field_range(counts, "nSp", 16, "encode1DnumSpikes")
    values = {
        "n": ids,
        "start": _microseconds(starts, 24, "encode1DnumSpikes"),
        "stop": _microseconds(ends, 24, "encode1DnumSpikes"),
        "count": counts,
    }
    _write_records(filename, _FORMAT_NUM, values)


def _np_columns(fmt: str, ncols: int) -> str:
    if not isinstance(fmt, str):
        raise ConfigError(f"fmt must be a string such as 'xypt', got {fmt!r}")
    letters = fmt if ncols == len(fmt) else fmt.replace("y", "") if ncols == 3 else None
    if letters is None or sorted(letters) not in (sorted("xypt"), sorted("xpt")) or len(letters) != ncols:
        raise ConfigError(
            f"fmt={fmt!r} does not describe {ncols} columns: use an order of the letters 'xypt' "
            "(4 columns, 2-D events) or 'xpt' (3 columns, 1-D events)"
        )
    return letters


def _check_time_unit(timeUnit: float) -> float:  # noqa: N803
    try:
        unit = float(timeUnit)
    except (TypeError, ValueError):
        raise ConfigError(f"timeUnit must be a positive number of seconds, got {timeUnit!r}") from None
    if not math.isfinite(unit) or unit <= 0:
        raise ConfigError(f"timeUnit must be a positive number of seconds, got {timeUnit!r}")
    return unit


def readNpSpikes(filename: str | os.PathLike[str], fmt: str = "xypt", timeUnit: float = 1e-3) -> event:  # noqa: N802, N803
    """Read events stored as a numpy ``.npy`` array of shape ``(events, 4)`` (2-D) or
    ``(events, 3)`` (1-D). Pickled arrays are refused.

    Args:
        filename: The ``.npy`` file.
        fmt: Column order, a permutation of ``"xypt"`` (for 3 columns ``y`` is left out).
        timeUnit: Unit of the time column in seconds (``1e-3``: ms, ``1e-6``: µs).

    Returns:
        The events, ``t`` in ms.

    Raises:
        DatasetNotFoundError: If the file does not exist.
        DataError: If the array is not 2-D with 3 or 4 columns, or holds objects.
        ConfigError: If ``fmt`` or ``timeUnit`` is invalid.
    """
    unit = _check_time_unit(timeUnit)
    file = Path(filename)
    if not file.is_file():
        raise DatasetNotFoundError(f"numpy event file not found: {str(file)!r}")
    try:
        arr = np.load(file, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{str(file)!r} is not a plain numpy array file (pickles are refused): {exc}") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[1] not in (3, 4):
        shape = getattr(arr, "shape", None)
        raise DataError(f"{str(file)!r} must hold an (events, 3) or (events, 4) array, got shape {shape}")
    cols = _np_columns(fmt, arr.shape[1])
    col = {letter: arr[:, cols.index(letter)] for letter in cols}
    t_ms = col["t"].astype(np.float64) * unit * 1e3
    return event(col["x"], col.get("y"), col["p"], t_ms)


def encodeNpSpikes(  # noqa: N802
    filename: str | os.PathLike[str], TD: event, fmt: str = "xypt", timeUnit: float = 1e-3  # noqa: N803
) -> None:
    """Write events as a float64 numpy array in the layout of :func:`readNpSpikes`.

    ``numpy.save`` appends ``.npy`` to a name that lacks it. The time column is written
    in units of ``timeUnit`` seconds, so reading with the same ``fmt`` and ``timeUnit``
    gives the events back.

    Raises:
        DTypeError: If ``TD`` is not an :class:`event`.
        ConfigError: If ``fmt`` or ``timeUnit`` is invalid.
    """
    unit = _check_time_unit(timeUnit)
    if not isinstance(TD, event):
        raise DTypeError(f"encodeNpSpikes needs a spikefi.snn.io.event, got {type(TD).__name__}")
    cols = _np_columns(fmt, 3 if TD.dim == 1 else 4)
    data = {"x": TD.x, "y": TD.y, "p": TD.p, "t": TD.t / (unit * 1e3)}
    arr = np.zeros((len(TD), len(cols)), dtype=np.float64)
    for i, letter in enumerate(cols):
        arr[:, i] = data[letter]
    np.save(filename, arr)


# --------------------------------------------------------------------------- animation


def _interactive_backend() -> bool:
    """Whether matplotlib runs an interactive (windowed) backend, i.e. a display exists."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    try:
        from matplotlib.backends import BackendFilter, backend_registry

        interactive = backend_registry.list_builtin(BackendFilter.INTERACTIVE)
    except ImportError:  # matplotlib < 3.9
        from matplotlib import rcsetup

        interactive = rcsetup.interactive_bk
    return backend in {b.lower() for b in interactive}


def _td_frames(td: event, frame_ms: float, first: int, count: int) -> np.ndarray:
    """RGB frames ``(count, H, W, 3)`` of 2-D events: channel 1 red, 2 green, 0 blue."""
    y = cast(np.ndarray, td.y)
    h, w = int(y.max()) + 1, int(td.x.max()) + 1
    frames = np.zeros((count, h, w, 3), dtype=np.float64)
    index = np.floor(td.t / frame_ms).astype(np.int64) - first
    colour = np.select([td.p == 1, td.p == 2, td.p == 0], [0, 1, 2], default=-1)
    ok = (index >= 0) & (index < count) & (colour >= 0) & (td.x >= 0) & (y >= 0)
    frames[index[ok], y[ok], td.x[ok], colour[ok]] = 1.0
    return frames


def animTD(  # noqa: N802
    TD: event,  # noqa: N803
    fig: Any = None,
    frameRate: float = 24,  # noqa: N803
    preComputeFrames: bool = True,  # noqa: N803
    repeat: bool = False,
) -> Any:
    """A matplotlib animation of the events; nothing is shown.

    2-D events are drawn as frames of ``1000 / frameRate`` ms (channel 1 red, channel 2
    green, channel 0 blue); 1-D events as a growing raster (time vs neuron).

    Args:
        TD: The events.
        fig: Figure to draw in; ``None`` makes one (a pyplot figure when an interactive
            backend is active, otherwise an off-screen Agg figure).
        frameRate: Frames per second of playback, one frame per ``1000 / frameRate`` ms.
        preComputeFrames: Build every 2-D frame up front (faster playback) or on demand.
        repeat: Loop the animation.

    Returns:
        The ``matplotlib.animation.FuncAnimation`` (keep a reference; save it with
        ``anim.save(...)`` or show it with ``to_jshtml()``).

    Raises:
        DTypeError: If ``TD`` is not an :class:`event`.
        DataError: If ``TD`` is empty.
        ConfigError: If ``frameRate`` is not positive.
    """
    from matplotlib import animation

    if not isinstance(TD, event):
        raise DTypeError(f"animTD needs a spikefi.snn.io.event, got {type(TD).__name__}")
    if len(TD) == 0:
        raise DataError("cannot animate an empty event stream")
    try:
        rate = float(frameRate)
    except (TypeError, ValueError):
        raise ConfigError(f"frameRate must be a positive number, got {frameRate!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ConfigError(f"frameRate must be a positive number, got {frameRate!r}")
    frame_ms = 1000.0 / rate
    first = int(np.floor(TD.t.min() / frame_ms))
    count = int(np.floor(TD.t.max() / frame_ms)) - first + 1
    if fig is None:
        if _interactive_backend():
            from matplotlib import pyplot as plt

            fig = plt.figure()
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            fig = Figure()
            FigureCanvasAgg(fig)
    ax = fig.axes[0] if fig.axes else fig.add_subplot()
    if TD.dim == 2:
        frames = _td_frames(TD, frame_ms, first, count) if preComputeFrames else None
        rows = int(cast(np.ndarray, TD.y).max()) + 1
        image = ax.imshow(np.zeros((rows, int(TD.x.max()) + 1, 3)), interpolation="nearest")
        ax.set_axis_off()

        def update(i: int) -> tuple[Any, ...]:
            image.set_data(frames[i] if frames is not None else _td_frames(TD, frame_ms, first + i, 1)[0])
            return (image,)
    else:
        raster = ax.plot([], [], ".", markersize=2)[0]
        scan = ax.axvline(first * frame_ms, color="tab:orange")
        x_top = float(TD.x.max()) + 1.0
        t_lo, t_hi = float(TD.t.min()), float(TD.t.max())
        pad = 0.05 * max(t_hi - t_lo, frame_ms)
        ax.set_xlim(t_lo - pad, t_hi + pad)
        ax.set_ylim(-0.05 * x_top, 1.05 * x_top)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("neuron")

        def update(i: int) -> tuple[Any, ...]:
            end = (first + i + 1) * frame_ms
            shown = TD.t < end
            raster.set_data(TD.t[shown], TD.x[shown])
            scan.set_xdata([end, end])
            return raster, scan

    return animation.FuncAnimation(fig, update, frames=count, interval=frame_ms, repeat=repeat)


def showTD(  # noqa: N802
    TD: event,  # noqa: N803
    fig: Any = None,
    frameRate: float = 24,  # noqa: N803
    preComputeFrames: bool = True,  # noqa: N803
    repeat: bool = False,
) -> Any:
    """Animate the events (see :func:`animTD`) and show them when a display exists.

    With an interactive matplotlib backend this calls ``pyplot.show()`` (which waits for
    the window, as slayerPytorch's ``showTD`` does); without a display (the Agg backend,
    CI, a server) nothing is shown and the call returns at once.

    Returns:
        The animation.
    """
    anim = animTD(TD, fig, frameRate, preComputeFrames, repeat)
    if _interactive_backend():
        from matplotlib import pyplot as plt

        plt.show()
    return anim
