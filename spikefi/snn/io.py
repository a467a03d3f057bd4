"""Event streams, their conversion to SLAYER spike tensors, and the N-MNIST file format.

A spike tensor follows the SLAYER convention: a float tensor of shape
``(C, H, W, T)`` per sample, where ``C = 2`` polarities (0 = OFF, 1 = ON),
``H``/``W`` are the pixel rows/columns and ``T`` the number of time bins of
width ``Ts`` (the sampling time, in ms). A bin holding at least one event has
the value ``1 / Ts``; every other bin is 0.

This module deliberately imports nothing from the rest of :mod:`spikefi.snn`
so that it can be used (and tested) on its own.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

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
        if np.any(keep):
            idx = (
                torch.from_numpy(self.p[keep]),
                torch.from_numpy(self.y[keep]),
                torch.from_numpy(self.x[keep]),
                torch.from_numpy(bins[keep]),
            )
            out[idx] = torch.tensor(1.0 / ts, dtype=dtype)
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
    file = Path(path)
    if not file.is_file():
        raise DatasetNotFoundError(f"N-MNIST event file not found: {str(file)!r}")
    raw = np.fromfile(file, dtype=np.uint8)
    if raw.size % 5:
        raise DataError(
            f"N-MNIST file {str(file)!r} has {raw.size} bytes, not a multiple of 5 (5 bytes per event)"
        )
    ev = raw.reshape(-1, 5).astype(np.int64)
    ts_us = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    return Events(ev[:, 0], ev[:, 1], ev[:, 2] >> 7, ts_us.astype(np.float64) / 1000.0)


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
    raw = np.empty((len(events), 5), dtype=np.uint8)
    raw[:, 0] = events.x
    raw[:, 1] = events.y
    raw[:, 2] = (events.p << 7) | (ts_us >> 16)
    raw[:, 3] = (ts_us >> 8) & 0xFF
    raw[:, 4] = ts_us & 0xFF
    Path(path).write_bytes(raw.tobytes())
