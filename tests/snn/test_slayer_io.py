"""slayerPytorch's ``spikeFileIO`` names in ``spikefi.snn.io``: file round trips, edge
values, binning semantics and the real N-MNIST recordings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import spikefi.snn as snn
from spikefi.errors import ConfigError, DataError, DatasetNotFoundError, DTypeError, ShapeError
from spikefi.snn.io import read_nmnist_binary

io = snn.io


def _random_2d(rng: np.random.Generator, n: int, xy_max: int, p_max: int, t_max_us: int) -> io.event:
    p = rng.integers(0, p_max + 1, n)
    p[0] = 0  # the event constructor shifts p so that its minimum is 0: keep it 0
    return io.event(
        rng.integers(0, xy_max + 1, n), rng.integers(0, xy_max + 1, n), p, rng.integers(0, t_max_us + 1, n) / 1000.0
    )


def _assert_same_events(a: io.event, b: io.event) -> None:
    assert a.dim == b.dim and len(a) == len(b)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.p, b.p)
    if a.dim == 2:
        np.testing.assert_array_equal(a.y, b.y)
    else:
        assert a.y is None and b.y is None
    np.testing.assert_allclose(a.t, b.t, rtol=0, atol=1e-9)  # whole microseconds


# --------------------------------------------------------------------------- file formats


@pytest.mark.parametrize(
    ("reader", "writer", "xy_bits", "p_bits", "t_bits", "record"),
    [
        (io.read2Dspikes, io.encode2Dspikes, 8, 1, 23, 5),
        (io.read3Dspikes, io.encode3Dspikes, 12, 8, 24, 7),
    ],
)
def test_2d_formats_round_trip_random_and_edge_values(tmp_path, reader, writer, xy_bits, p_bits, t_bits, record):
    rng = np.random.default_rng(11)
    xy_max, p_max, t_max = (1 << xy_bits) - 1, (1 << p_bits) - 1, (1 << t_bits) - 1
    ev = _random_2d(rng, 700, xy_max, p_max, t_max)
    # the largest value of every field, and the smallest
    ev.x[1:3], ev.y[1:3], ev.p[1:3] = (xy_max, 0), (0, xy_max), (p_max, 0)
    ev.t[1:3] = (t_max / 1000.0, 0.0)
    path = tmp_path / "ev.bin"
    writer(path, ev)
    assert path.stat().st_size == record * len(ev)
    _assert_same_events(reader(path), ev)
    # one past the largest value of each field is refused, naming the field and the range
    for field, value in (("x", xy_max + 1), ("y", xy_max + 1), ("p", p_max + 1)):
        bad = io.event(ev.x.copy(), ev.y.copy(), ev.p.copy(), ev.t.copy())
        getattr(bad, field)[5] = value
        with pytest.raises(DataError, match=rf"{field}={value} \(allowed 0\.\.{(1 << (p_bits if field == 'p' else xy_bits)) - 1}\)"):
            writer(tmp_path / "bad.bin", bad)
    late = io.event([0], [0], [0], [(t_max + 1) / 1000.0])
    with pytest.raises(DataError, match=f"{t_bits}-bit microsecond"):
        writer(tmp_path / "bad.bin", late)


def test_1d_format_round_trip_and_edges(tmp_path):
    rng = np.random.default_rng(12)
    n = 600
    p = rng.integers(0, 2, n)
    p[0] = 0
    ev = io.event(rng.integers(0, 1 << 16, n), None, p, rng.integers(0, 1 << 23, n) / 1000.0)
    ev.x[1], ev.t[1], ev.p[1] = (1 << 16) - 1, ((1 << 23) - 1) / 1000.0, 1
    path = tmp_path / "ev.bs1"
    io.encode1Dspikes(path, ev)
    assert path.stat().st_size == 5 * n
    _assert_same_events(io.read1Dspikes(path), ev)
    with pytest.raises(DataError, match=r"x=65536 \(allowed 0\.\.65535\)"):
        io.encode1Dspikes(path, io.event([65536], None, [0], [0.0]))
    with pytest.raises(DataError, match="needs 1-D events"):
        io.encode1Dspikes(path, io.event([0], [0], [0], [0.0]))
    with pytest.raises(DataError, match="needs 2-D events"):
        io.encode2Dspikes(path, ev)


def test_num_spikes_round_trip_and_edges(tmp_path):
    rng = np.random.default_rng(13)
    n = 50
    ids = rng.integers(0, 1 << 16, n)
    starts = rng.integers(0, 1 << 24, n) / 1000.0
    ends = rng.integers(0, 1 << 24, n) / 1000.0
    counts = rng.integers(0, 1 << 16, n)
    ids[0], starts[0], ends[0], counts[0] = (1 << 16) - 1, ((1 << 24) - 1) / 1000.0, 0.0, (1 << 16) - 1
    path = tmp_path / "target.bsn"
    io.encode1DnumSpikes(path, ids, starts, ends, counts)
    assert path.stat().st_size == 10 * n
    got = io.read1DnumSpikes(path)
    np.testing.assert_array_equal(got[0], ids)
    np.testing.assert_allclose(got[1], starts, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got[2], ends, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got[3], counts)
    with pytest.raises(DataError, match=r"nSp=65536"):
        io.encode1DnumSpikes(path, [0], [0.0], [1.0], [65536])
    with pytest.raises(ShapeError, match="equal length"):
        io.encode1DnumSpikes(path, [0, 1], [0.0], [1.0], [3])


@pytest.mark.parametrize(("fmt", "time_unit"), [("xypt", 1e-3), ("txyp", 1e-6), ("ptyx", 1.0)])
def test_numpy_events_round_trip(tmp_path, fmt, time_unit):
    rng = np.random.default_rng(14)
    ev = _random_2d(rng, 300, 127, 1, 300_000)
    path = tmp_path / "ev.npy"
    io.encodeNpSpikes(path, ev, fmt=fmt, timeUnit=time_unit)
    back = io.readNpSpikes(path, fmt=fmt, timeUnit=time_unit)
    _assert_same_events(back, ev)
    # the time column is in units of timeUnit seconds
    raw = np.load(path)
    np.testing.assert_allclose(raw[:, fmt.index("t")] * time_unit * 1e3, ev.t, rtol=1e-12, atol=1e-9)


def test_numpy_events_1d_and_errors(tmp_path):
    ev = io.event([3, 1, 4], None, [0, 1, 1], [0.5, 2.0, 9.25])
    path = tmp_path / "one.npy"
    io.encodeNpSpikes(path, ev)
    assert np.load(path).shape == (3, 3)
    _assert_same_events(io.readNpSpikes(path), ev)
    with pytest.raises(ConfigError, match="fmt='xyzt'"):
        io.readNpSpikes(path, fmt="xyzt")
    with pytest.raises(ConfigError, match="timeUnit"):
        io.readNpSpikes(path, timeUnit=0)
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="pickles are refused"):
        io.readNpSpikes(pickled)
    with pytest.raises(DatasetNotFoundError, match="missing.npy"):
        io.readNpSpikes(tmp_path / "missing.npy")


def test_empty_files_round_trip(tmp_path):
    empty2 = io.event([], [], [], [])
    for reader, writer, ev in (
        (io.read2Dspikes, io.encode2Dspikes, empty2),
        (io.read3Dspikes, io.encode3Dspikes, empty2),
        (io.read1Dspikes, io.encode1Dspikes, io.event([], None, [], [])),
    ):
        path = tmp_path / f"{writer.__name__}.bin"
        writer(path, ev)
        assert path.stat().st_size == 0
        back = reader(path)
        assert len(back) == 0 and back.dim == ev.dim
    io.encode1DnumSpikes(tmp_path / "e.bsn", [], [], [], [])
    assert all(a.size == 0 for a in io.read1DnumSpikes(tmp_path / "e.bsn"))
    io.encodeNpSpikes(tmp_path / "e.npy", empty2)
    assert len(io.readNpSpikes(tmp_path / "e.npy")) == 0
    spikes = empty2.toSpikeTensor(torch.zeros(2, 3, 3, 4), randomShift=True)
    assert not spikes.any()


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "cut.bs2"
    path.write_bytes(b"\x01" * 12)
    with pytest.raises(DataError, match="12 bytes, not a multiple of 5"):
        io.read2Dspikes(path)
    with pytest.raises(DataError, match="not a multiple of 7"):
        io.read3Dspikes(path)
    with pytest.raises(DatasetNotFoundError, match="nothere.bs2"):
        io.read2Dspikes(tmp_path / "nothere.bs2")


# --------------------------------------------------------------------------- binning


def test_to_spike_tensor_or_vs_sum_and_rounding():
    ts = 2.0
    # bins: round(t / 2): 0.9 -> 0, 1.1 -> 1 (0.55 rounds up), 3.0 -> 2 (1.5 ties to even),
    # 5.0 -> 2 (2.5 ties to even), 5.2 -> 3, 7.9 -> 4 (past T = 4: dropped)
    ev = io.event([0, 0, 1, 1, 1, 2], [0, 0, 0, 0, 0, 1], [0, 0, 1, 1, 1, 0], [0.9, 1.1, 3.0, 5.0, 5.2, 7.9])
    out = ev.toSpikeTensor(torch.zeros(2, 2, 3, 4), samplingTime=ts)
    want = torch.zeros(2, 2, 3, 4)
    want[0, 0, 0, 0] = want[0, 0, 0, 1] = want[1, 0, 1, 2] = want[1, 0, 1, 3] = 1 / ts
    assert torch.equal(out, want)
    summed = ev.toSpikeTensor(torch.zeros(2, 2, 3, 4), samplingTime=ts, binningMode="sum")
    want[1, 0, 1, 2] = 2 / ts  # two events (3.0 and 5.0 ms) share bin 2
    assert torch.equal(summed, want)


def test_to_spike_tensor_random_events_against_brute_force():
    rng = np.random.default_rng(21)
    ts = 0.7
    ev = _random_2d(rng, 2000, 9, 2, 40_000)
    ev.x[:5] = [-1, 10, 3, 3, 3]  # outside the tensor: dropped
    shape = (3, 10, 10, 40)
    for mode in ("OR", "SUM"):
        got = ev.toSpikeTensor(np.zeros(shape), samplingTime=ts, binningMode=mode)
        want = np.zeros(shape)
        for x, y, p, t in zip(ev.x, ev.y, ev.p, ev.t, strict=True):
            b = int(np.round(t / ts))
            if 0 <= x < 10 and 0 <= y < 10 and b < 40:
                want[p, y, x, b] = 1 / ts if mode == "OR" else want[p, y, x, b] + 1 / ts
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert len(np.unique(got)) > 2  # SUM really counted repeated events


def test_random_shift_is_seeded_and_follows_the_rule():
    rng = np.random.default_rng(3)
    ev = _random_2d(rng, 400, 5, 1, 100_000)  # bins up to 100 at Ts = 1
    base = ev.toSpikeTensor(torch.zeros(2, 6, 6, 150))
    np.random.seed(5)
    a = ev.toSpikeTensor(torch.zeros(2, 6, 6, 150), randomShift=True)
    np.random.seed(5)
    b = ev.toSpikeTensor(torch.zeros(2, 6, 6, 150), randomShift=True)
    assert torch.equal(a, b)
    c = ev.toSpikeTensor(torch.zeros(2, 6, 6, 150), randomShift=True, rng=7)
    assert torch.equal(c, ev.toSpikeTensor(torch.zeros(2, 6, 6, 150), randomShift=True, rng=np.random.default_rng(7)))
    # the shifted tensor is the unshifted one moved earlier by a start in [0, high)
    first, last = int(ev.t.min()), int(ev.t.max())
    high = max(first, last - 150, 150 - last, 1)
    start = int(np.random.default_rng(7).integers(high))
    assert start > 0
    assert torch.equal(c[..., : 150 - start], base[..., start:])
    assert not c[..., 150 - start :].any()


def test_to_spike_tensor_1d_and_to_spike_array():
    ev = io.event([0, 4, 4], None, [1, 2, 2], [0.0, 3.0, 3.2])  # p shifted to 0, 1, 1
    assert ev.p.tolist() == [0, 1, 1]
    arr = ev.toSpikeArray(samplingTime=1.0)
    assert arr.shape == (2, 5, 4)  # (C, W, T): T = round(3.2 + 1) = 4
    assert {tuple(i) for i in np.argwhere(arr)} == {(0, 0, 0), (1, 4, 3)}
    assert arr[1, 4, 3] == 1.0
    back = io.spikeArrayToEvent(arr, samplingTime=1.0)
    assert back.dim == 1 and back.x.tolist() == [0, 4] and back.t.tolist() == [0.0, 3.0]
    two = io.event([1, 2], [0, 3], [0, 1], [0.0, 5.0])
    arr2 = two.toSpikeArray(samplingTime=2.5, dim=(2, 4, 3, 3))
    assert arr2.shape == (2, 4, 3, 3) and arr2.sum() == pytest.approx(2 / 2.5)
    back2 = io.spikeArrayToEvent(torch.from_numpy(arr2), samplingTime=2.5)
    _assert_same_events(back2, two)


def test_binning_errors():
    ev = io.event([0], [0], [0], [1.0])
    with pytest.raises(ConfigError, match="binningMode"):
        ev.toSpikeTensor(torch.zeros(2, 1, 1, 2), binningMode="MAX")
    with pytest.raises(ConfigError, match="sampling_time"):
        ev.toSpikeTensor(torch.zeros(2, 1, 1, 2), samplingTime=0)
    with pytest.raises(ShapeError, match="4-D"):
        ev.toSpikeTensor(torch.zeros(2, 1, 2))
    with pytest.raises(DTypeError, match="floating"):
        ev.toSpikeTensor(torch.zeros(2, 1, 1, 2, dtype=torch.int64))
    with pytest.raises(ShapeError, match=r"\(C, H, W, T\)"):
        ev.toSpikeArray(dim=(2, 1, 1))
    with pytest.raises(ShapeError, match="equal lengths"):
        io.event([0, 1], [0], [0, 0], [0.0, 1.0])
    with pytest.raises(DataError, match="whole numbers"):
        io.event([0.5], [0], [0], [0.0])
    with pytest.raises(ShapeError, match="3-D or 4-D|\\(C, W, T\\)"):
        io.spikeArrayToEvent(np.zeros((2, 2)))


def test_anim_td_returns_without_display(tmp_path):
    ev2 = io.event([0, 3, 1], [0, 2, 1], [0, 1, 1], [0.0, 50.0, 90.0])
    fig = Figure()
    FigureCanvasAgg(fig)
    anim = io.showTD(ev2, fig=fig, frameRate=20)  # Agg backend in tests: returns at once
    assert len(list(anim.new_frame_seq())) == 2  # 50 ms frames over 0..90 ms
    anim.save(tmp_path / "td.gif", writer="pillow", fps=20)
    assert (tmp_path / "td.gif").stat().st_size > 0
    img = fig.axes[0].images[0].get_array()  # the last frame drawn: 50..100 ms
    assert img.shape == (3, 4, 3)
    assert img[2, 3, 0] == 1.0 and img[1, 1, 0] == 1.0 and img[0, 0].sum() == 0  # p = 1 is red
    ev1 = io.event([0, 5], None, [0, 0], [0.0, 30.0])
    anim1 = io.animTD(ev1, frameRate=100, preComputeFrames=False)
    assert len(list(anim1.new_frame_seq())) == 4
    anim1.save(tmp_path / "td1.gif", writer="pillow", fps=10)
    raster = anim1._fig.axes[0].lines[0]  # a figure made by animTD (off-screen without a display)
    assert list(raster.get_xdata()) == [0.0, 30.0]  # every event drawn by the last frame
    with pytest.raises(DataError, match="empty"):
        io.animTD(io.event([], [], [], []))


# --------------------------------------------------------------------------- real recordings


def test_bs2_reader_equals_nmnist_reader_on_real_recordings(nmnist_dir):
    files = sorted(nmnist_dir.glob("*.bs2"))[:40]
    assert files
    for file in files:
        td = io.read2Dspikes(file)
        native = read_nmnist_binary(file)
        assert td.dim == 2 and len(td) == len(native) > 0
        assert set(np.unique(native.p)) == {0, 1}  # both polarities: no shift of p
        for name in ("x", "y", "p", "t"):
            np.testing.assert_array_equal(getattr(td, name), getattr(native, name))
        spikes = td.toSpikeTensor(torch.zeros(2, 34, 34, 50), samplingTime=6)
        # binned at round(t / Ts): the same set of (p, y, x, bin) as the events with bin < 50
        bins = np.round(native.t / 6).astype(int)
        keep = bins < 50
        want = {(int(p), int(y), int(x), int(b)) for p, y, x, b in zip(native.p[keep], native.y[keep], native.x[keep], bins[keep], strict=True)}
        assert {tuple(int(v) for v in i) for i in torch.nonzero(spikes)} == want
