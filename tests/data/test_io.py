"""Tests of spikefi.snn.io: Events, spike-tensor binning, the N-MNIST file format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikefi.errors import (
    ConfigError,
    DataError,
    DatasetNotFoundError,
    DTypeError,
    ShapeError,
)
from spikefi.snn.io import (
    NMNIST_MAX_TIMESTAMP_US,
    Events,
    num_time_bins,
    read_nmnist_binary,
    write_nmnist_binary,
)


def _nonzero(spikes: torch.Tensor) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in idx) for idx in torch.nonzero(spikes)}


# --------------------------------------------------------------------------- Events


def test_events_store_validated_copies() -> None:
    x = np.array([1, 2])
    ev = Events(x, [3, 4], [0, 1], [0.5, 1.5])
    x[0] = 99
    assert ev.x.tolist() == [1, 2]
    assert ev.x.dtype == np.int64 and ev.t.dtype == np.float64
    assert len(ev) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(x=[0, 1], y=[0], p=[0, 1], t=[0, 1]), ShapeError, "equal lengths"),
        (dict(x=[0, -1], y=[0, 0], p=[0, 1], t=[0, 1]), DataError, "x=-1"),
        (dict(x=[0, 1], y=[0, -3], p=[0, 1], t=[0, 1]), DataError, "y=-3"),
        (dict(x=[0, 1], y=[0, 0], p=[0, 2], t=[0, 1]), DataError, "p=2"),
        (dict(x=[0, 1], y=[0, 0], p=[0, 1], t=[0, -0.5]), DataError, "t=-0.5"),
        (dict(x=[0, 1], y=[0, 0], p=[0, 1], t=[0, np.nan]), DataError, "finite"),
        (dict(x=[0.5, 1], y=[0, 0], p=[0, 1], t=[0, 1]), DataError, "whole numbers"),
        (dict(x=[[0, 1]], y=[0, 0], p=[0, 1], t=[0, 1]), ShapeError, "1-D"),
        (dict(x=["a", "b"], y=[0, 0], p=[0, 1], t=[0, 1]), DTypeError, "numbers"),
    ],
)
def test_events_reject_bad_arrays(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Events(**kwargs)


def test_to_spike_tensor_hand_computed_positions() -> None:
    # Ts = 2 ms -> bins floor(t / 2): 0, 1, 1, 3, and 4 (dropped: T = 4).
    ev = Events(
        x=[0, 3, 3, 5, 1],
        y=[1, 2, 2, 0, 1],
        p=[1, 0, 0, 1, 0],
        t=[0.0, 2.5, 3.9, 7.9, 8.0],
    )
    spikes = ev.to_spike_tensor((2, 4, 6, 4), sampling_time=2.0)
    assert spikes.shape == (2, 4, 6, 4)
    assert spikes.dtype == torch.float32
    # (c, y, x, t); the two events of pixel (2, 3) in bin 1 give one spike.
    assert _nonzero(spikes) == {(1, 1, 0, 0), (0, 2, 3, 1), (1, 0, 5, 3)}
    assert torch.all(spikes[spikes != 0] == 0.5)


def test_spike_value_is_float32_reciprocal_of_ts() -> None:
    spikes = Events([0], [0], [1], [0.0]).to_spike_tensor((2, 1, 1, 1), sampling_time=3.0)
    assert spikes[1, 0, 0, 0].item() == float(np.float32(1.0 / 3.0))
    double = Events([0], [0], [1], [0.0]).to_spike_tensor((2, 1, 1, 1), 3.0, dtype=torch.float64)
    assert double.dtype == torch.float64
    assert double[1, 0, 0, 0].item() == pytest.approx(1.0 / 3.0, abs=1e-15)


def test_binning_is_robust_to_float_round_off() -> None:
    # 0.3 / 0.1 == 2.9999999999999996 in binary floating point; the event belongs in bin 3.
    spikes = Events([0], [0], [0], [0.3]).to_spike_tensor((2, 1, 1, 5), sampling_time=0.1)
    assert _nonzero(spikes) == {(0, 0, 0, 3)}


def test_inferred_shape_holds_every_event() -> None:
    spikes = Events([4, 0], [2, 0], [0, 1], [0.0, 9.5]).to_spike_tensor(sampling_time=2.0)
    assert spikes.shape == (2, 3, 5, 5)
    assert _nonzero(spikes) == {(0, 2, 4, 0), (1, 0, 0, 4)}


def test_empty_events_give_zero_tensor() -> None:
    spikes = Events([], [], [], []).to_spike_tensor((2, 3, 3, 4))
    assert spikes.shape == (2, 3, 3, 4) and not spikes.any()
    with pytest.raises(ShapeError, match="empty event stream"):
        Events([], [], [], []).to_spike_tensor()


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([6], [0], "x=6, outside the sensor: x must be < 6"),
        ([0], [4], "y=4, outside the sensor: y must be < 4"),
    ],
)
def test_events_outside_sensor_raise(x: list[int], y: list[int], match: str) -> None:
    with pytest.raises(DataError, match=match):
        Events(x, y, [1], [0.0]).to_spike_tensor((2, 4, 6, 3))


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((1, 4, 4, 3), "must be 2 polarities"),
        ((2, 4, 4), "four ints"),
        ((2, 0, 4, 3), "positive"),
        ((2, 4.0, 4, 3), "four ints"),
    ],
)
def test_bad_shapes_raise(shape: tuple, match: str) -> None:
    with pytest.raises(ShapeError, match=match):
        Events([0], [0], [1], [0.0]).to_spike_tensor(shape)


def test_bad_dtype_and_sampling_time_raise() -> None:
    ev = Events([0], [0], [1], [0.0])
    with pytest.raises(DTypeError, match="torch.int64"):
        ev.to_spike_tensor((2, 1, 1, 1), dtype=torch.int64)
    with pytest.raises(ConfigError, match="got 0"):
        ev.to_spike_tensor((2, 1, 1, 1), sampling_time=0)


def test_from_structured_converts_microseconds() -> None:
    dtype = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])
    arr = np.array([(1, 2, True, 1500), (3, 4, False, 0)], dtype=dtype)
    ev = Events.from_structured(arr)
    assert ev.x.tolist() == [1, 3] and ev.y.tolist() == [2, 4] and ev.p.tolist() == [1, 0]
    assert ev.t.tolist() == [1.5, 0.0]
    bad = np.zeros(2, dtype=[("x", int), ("y", int), ("t", int)])
    with pytest.raises(DataError, match=r"lacks field\(s\) \['p'\]"):
        Events.from_structured(bad)
    with pytest.raises(ConfigError, match="'min'"):
        Events.from_structured(arr, time_unit="min")


def test_num_time_bins() -> None:
    assert num_time_bins(300, 6) == 50
    assert num_time_bins(1500, 4) == 375
    assert num_time_bins(0.3, 0.1) == 3
    with pytest.raises(ConfigError, match="shorter than one bin"):
        num_time_bins(3, 6)
    with pytest.raises(ConfigError, match="sample_length_ms.*-1"):
        num_time_bins(-1, 6)


# --------------------------------------------------------------------------- N-MNIST files


def test_read_hand_written_nmnist_bytes(tmp_path) -> None:
    raw = bytes(
        [
            5,
            7,
            0x80 | 0x01,
            0x23,
            0x45,  # x=5, y=7, ON, ts=0x012345 us = 74.565 ms
            33,
            0,
            0x00,
            0x17,
            0x70,  # x=33, y=0, OFF, ts=0x001770 us = 6 ms
            0,
            33,
            0x84,
            0x93,
            0xE0,  # x=0, y=33, ON, ts=0x0493E0 us = 300 ms
        ]
    )
    path = tmp_path / "sample.bin"
    path.write_bytes(raw)
    ev = read_nmnist_binary(path)
    assert ev.x.tolist() == [5, 33, 0]
    assert ev.y.tolist() == [7, 0, 33]
    assert ev.p.tolist() == [1, 0, 1]
    assert ev.t.tolist() == [74.565, 6.0, 300.0]
    spikes = ev.to_spike_tensor((2, 34, 34, 50), sampling_time=6.0)
    # 74.565 / 6 -> bin 12; 6 / 6 -> bin 1; 300 / 6 = bin 50 is past T = 50: dropped.
    assert _nonzero(spikes) == {(1, 7, 5, 12), (0, 0, 33, 1)}
    # The writer produces exactly the same bytes.
    out = tmp_path / "copy.bin"
    write_nmnist_binary(out, ev)
    assert out.read_bytes() == raw


def test_nmnist_round_trip_random_events(tmp_path) -> None:
    rng = np.random.default_rng(1)
    n = 500
    ev = Events(
        rng.integers(0, 34, n),
        rng.integers(0, 34, n),
        rng.integers(0, 2, n),
        np.sort(rng.integers(0, NMNIST_MAX_TIMESTAMP_US + 1, n)) / 1000.0,
    )
    path = tmp_path / "r.bin"
    write_nmnist_binary(path, ev)
    assert path.stat().st_size == 5 * n
    back = read_nmnist_binary(path)
    for name in ("x", "y", "p"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ev, name))
    np.testing.assert_allclose(back.t, ev.t, rtol=0, atol=1e-9)
    assert torch.equal(
        back.to_spike_tensor((2, 34, 34, 300), 30.0), ev.to_spike_tensor((2, 34, 34, 300), 30.0)
    )


def test_read_nmnist_errors(tmp_path) -> None:
    with pytest.raises(DatasetNotFoundError, match="missing.bin"):
        read_nmnist_binary(tmp_path / "missing.bin")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00" * 7)
    with pytest.raises(DataError, match="7 bytes, not a multiple of 5"):
        read_nmnist_binary(bad)


def test_write_nmnist_errors(tmp_path) -> None:
    with pytest.raises(DataError, match="x=256"):
        write_nmnist_binary(tmp_path / "a.bin", Events([256], [0], [0], [0.0]))
    with pytest.raises(DataError, match="23-bit"):
        write_nmnist_binary(tmp_path / "a.bin", Events([0], [0], [0], [8388.608]))
    with pytest.raises(DTypeError, match="Events instance"):
        write_nmnist_binary(tmp_path / "a.bin", [0, 0, 0, 0])  # type: ignore[arg-type]
