"""Tests of spikefi.plots on synthetic campaign results."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from spikefi import plots  # noqa: E402
from spikefi.campaign.stats import wilson_intervals  # noqa: E402
from spikefi.errors import ConfigError  # noqa: E402

GOLDEN = 0.9625
NEURON_SHAPE = (4, 5, 6)  # channels, rows, cols of "conv1"
SYNAPSE_SHAPE = (3, 4, 3, 3)  # out, in, kh, kw of "conv2"
EMPTY_CELL = (0, 0)  # (row, col) of conv1 that never gets a fault
EMPTY_SYNAPSE = (2, 1)  # (out, in) of conv2 that never gets a fault


def _campaign(seed: int = 7) -> pd.DataFrame:
    """A synthetic campaign: neuron faults in conv1 and fc1, synapse faults in conv2."""
    rng = np.random.default_rng(seed)
    records: list[dict] = []

    def add(layer: str, pos: tuple[int, int, int, int], model: str, param: float, name: str) -> None:
        samples = int(rng.integers(50, 200))
        critical = int(rng.binomial(samples, 0.04)) if rng.random() < 0.4 else 0
        accuracy = float(np.clip(GOLDEN - critical / samples - rng.uniform(0, 0.05), 0, 1))
        records.append(
            {
                "round_id": len(records),
                "layer": layer,
                "model": model,
                "n_faults": int(rng.integers(1, 4)),
                "pos0": pos[0],
                "pos1": pos[1],
                "pos2": pos[2],
                "pos3": pos[3],
                "param": param,
                "param_name": name,
                "accuracy": accuracy,
                "critical": critical,
                "samples": samples,
                "golden_accuracy": GOLDEN,
            }
        )

    channels, rows, cols = NEURON_SHAPE
    for _ in range(220):
        r, c = int(rng.integers(rows)), int(rng.integers(cols))
        if (r, c) == EMPTY_CELL:
            continue
        add("conv1", (int(rng.integers(channels)), r, c, -1), "bitflip", float(rng.integers(0, 8)), "bit position")
    add("conv1", (1, rows - 1, cols - 1, -1), "bitflip", 3.0, "bit position")  # fix the grid extent
    out, inp, kh, kw = SYNAPSE_SHAPE
    for _ in range(150):
        o, i = int(rng.integers(out)), int(rng.integers(inp))
        if (o, i) == EMPTY_SYNAPSE:
            continue
        pos = (o, i, int(rng.integers(kh)), int(rng.integers(kw)))
        add("conv2", pos, "threshold", float(rng.choice([0.5, 0.75, 1.25, 1.5])), "threshold factor")
    for _ in range(60):
        add("fc1", (int(rng.integers(10)), 0, 0, -1), "dead", float("nan"), "")
    df = pd.DataFrame.from_records(records)
    return df.sample(frac=1.0, random_state=3).reset_index(drop=True)  # interleave the layers


@pytest.fixture
def campaign() -> pd.DataFrame:
    return _campaign()


@pytest.fixture
def history() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    frames = []
    for label in ("baseline", "dropout"):
        epochs = np.arange(1, 13)
        train = 1 - 0.8 * np.exp(-epochs / rng.uniform(2, 4)) - rng.uniform(0, 0.02, epochs.size)
        test = train - rng.uniform(0.01, 0.05, epochs.size)
        test[3] = np.nan  # an epoch without a test evaluation
        frames.append(pd.DataFrame({"epoch": epochs, "train_accuracy": train, "test_accuracy": test, "label": label}))
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=5)  # epochs out of order


@pytest.fixture
def clean_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Runs the test in an empty folder and checks no file, pyplot figure or rcParam changed."""
    monkeypatch.chdir(tmp_path)
    before = matplotlib.rcParams.copy()
    figures = plt.get_fignums()
    yield tmp_path
    assert list(tmp_path.iterdir()) == [], "a plot function wrote a file"
    assert dict(matplotlib.rcParams) == dict(before), "a plot function changed matplotlib.rcParams"
    assert plt.get_fignums() == figures, "a plot function registered a pyplot figure"


def _check_labels(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel().strip() and ax.get_ylabel().strip() and ax.get_title().strip()


def _expected_grid(frame: pd.DataFrame, first: str, second: str, shape: tuple[int, int], value: pd.Series) -> np.ndarray:
    means = value.groupby([frame[first], frame[second]]).mean()
    grid = np.full(shape, np.nan)
    for (a, b), v in means.items():
        grid[int(a), int(b)] = v
    return grid


# ----------------------------------------------------------------------------- critical_faults_per_layer


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_critical_faults_per_layer(campaign: pd.DataFrame, clean_state: Path, confidence: float) -> None:
    fig = plots.critical_faults_per_layer(campaign, confidence=confidence)
    _check_labels(fig)
    ax = fig.axes[0]
    order = list(dict.fromkeys(campaign["layer"]))  # first-appearance order
    assert [t.get_text() for t in ax.get_xticklabels()] == order
    k = np.array([(campaign.loc[campaign.layer == layer, "critical"] > 0).sum() for layer in order])
    n = np.array([(campaign.layer == layer).sum() for layer in order])
    assert 0 < (k / n).min() < (k / n).max() < 1  # the data are non-trivial
    heights = np.array([bar.get_height() for bar in ax.patches])
    np.testing.assert_allclose(heights, k / n, rtol=0, atol=1e-12)

    low, high = wilson_intervals(k, n, confidence)
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    segments = bars.errorbar.lines[2][0].get_segments()
    np.testing.assert_allclose([s[0][1] for s in segments], low, atol=1e-12)
    np.testing.assert_allclose([s[1][1] for s in segments], high, atol=1e-12)
    assert f"{confidence:.0%}" in ax.get_title()


def test_critical_faults_per_layer_errors(campaign: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"\['critical'\]"):
        plots.critical_faults_per_layer(campaign.drop(columns="critical"))
    with pytest.raises(ConfigError, match="empty"):
        plots.critical_faults_per_layer(campaign.iloc[:0])
    with pytest.raises(ConfigError, match="confidence"):
        plots.critical_faults_per_layer(campaign, confidence=1.5)
    bad = campaign.copy()
    bad.loc[0, "critical"] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        plots.critical_faults_per_layer(bad)
    with pytest.raises(ConfigError, match="DataFrame"):
        plots.critical_faults_per_layer(campaign.to_dict())  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- site_heatmap


def _image_grid(fig: Figure) -> np.ndarray:
    data = fig.axes[0].images[0].get_array()
    return np.ma.filled(np.ma.asarray(data, dtype=float), np.nan)


@pytest.mark.parametrize("value", ["accuracy", "critical_rate"])
@pytest.mark.parametrize("channel", [None, 2])
def test_site_heatmap_neuron(campaign: pd.DataFrame, clean_state: Path, value: str, channel: int | None) -> None:
    fig = plots.site_heatmap(campaign, "conv1", value=value, channel=channel)
    _check_labels(fig)
    rows = campaign[campaign.layer == "conv1"]
    shape = (int(rows.pos1.max()) + 1, int(rows.pos2.max()) + 1)
    assert shape == NEURON_SHAPE[1:]
    if channel is not None:
        rows = rows[rows.pos0 == channel]
    metric = rows.accuracy if value == "accuracy" else rows.critical / rows.samples
    expected = _expected_grid(rows, "pos1", "pos2", shape, metric)
    grid = _image_grid(fig)
    assert np.isnan(grid[EMPTY_CELL])
    np.testing.assert_array_equal(np.isnan(grid), np.isnan(expected))
    np.testing.assert_allclose(grid, expected, rtol=1e-12, equal_nan=True)
    assert np.nanstd(grid) > 0
    colorbar_axes = fig.axes[1]
    assert colorbar_axes.get_ylabel().strip()


@pytest.mark.parametrize("value", ["accuracy", "critical_rate"])
def test_site_heatmap_synapse(campaign: pd.DataFrame, clean_state: Path, value: str) -> None:
    fig = plots.site_heatmap(campaign, "conv2", value=value)
    _check_labels(fig)
    rows = campaign[campaign.layer == "conv2"]
    metric = rows.accuracy if value == "accuracy" else rows.critical / rows.samples
    expected = _expected_grid(rows, "pos0", "pos1", SYNAPSE_SHAPE[:2], metric)
    grid = _image_grid(fig)
    assert grid.shape == SYNAPSE_SHAPE[:2]
    assert np.isnan(grid[EMPTY_SYNAPSE])
    np.testing.assert_allclose(grid, expected, rtol=1e-12, equal_nan=True)
    assert "Input" in fig.axes[0].get_xlabel() and "Output" in fig.axes[0].get_ylabel()


def test_site_heatmap_mixed_layer_needs_kind(campaign: pd.DataFrame) -> None:
    mixed = campaign.copy()
    mixed.loc[mixed.layer == "conv2", "layer"] = "conv1"
    with pytest.raises(ConfigError, match="kind="):
        plots.site_heatmap(mixed, "conv1")
    neuron = _image_grid(plots.site_heatmap(mixed, "conv1", kind="neuron"))
    np.testing.assert_allclose(neuron, _image_grid(plots.site_heatmap(campaign, "conv1")), equal_nan=True)
    synapse = _image_grid(plots.site_heatmap(mixed, "conv1", kind="synapse"))
    np.testing.assert_allclose(synapse, _image_grid(plots.site_heatmap(campaign, "conv2")), equal_nan=True)


def test_site_heatmap_errors(campaign: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="unknown layer 'conv9'"):
        plots.site_heatmap(campaign, "conv9")
    with pytest.raises(ConfigError, match=r"\['pos2'\]"):
        plots.site_heatmap(campaign.drop(columns="pos2"), "conv1")
    with pytest.raises(ConfigError, match=r"\['samples'\]"):
        plots.site_heatmap(campaign.drop(columns="samples"), "conv1", value="critical_rate")
    # accuracy does not need critical/samples
    plots.site_heatmap(campaign.drop(columns=["critical", "samples"]), "conv1")
    with pytest.raises(ConfigError, match="'flips'"):
        plots.site_heatmap(campaign, "conv1", value="flips")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="channel 17"):
        plots.site_heatmap(campaign, "conv1", channel=17)
    with pytest.raises(ConfigError, match="neuron faults only"):
        plots.site_heatmap(campaign, "conv2", channel=0)
    with pytest.raises(ConfigError, match="no synapse faults"):
        plots.site_heatmap(campaign, "conv1", kind="synapse")
    bad = campaign.copy()
    bad.loc[bad.layer == "conv1", "pos1"] = -1
    with pytest.raises(ConfigError, match="pos1"):
        plots.site_heatmap(bad, "conv1")


# ----------------------------------------------------------------------------- accuracy_vs_parameter


@pytest.mark.parametrize("model", ["bitflip", "threshold"])
def test_accuracy_vs_parameter(campaign: pd.DataFrame, clean_state: Path, model: str) -> None:
    fig = plots.accuracy_vs_parameter(campaign, model=model)
    _check_labels(fig)
    ax = fig.axes[0]
    rows = campaign[campaign.model == model]
    assert ax.get_xlabel() == rows.param_name.iloc[0]
    expected = rows.groupby("param").accuracy.agg(["mean", "min", "max"]).sort_index()
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_xdata(), expected.index.to_numpy())
    np.testing.assert_allclose(line.get_ydata(), expected["mean"].to_numpy(), rtol=1e-12)
    # min-max band: the fill polygon's vertices span exactly the min and max per parameter
    band = ax.collections[0].get_paths()[0].vertices
    for x, lo, hi in zip(expected.index, expected["min"], expected["max"], strict=True):
        ys = band[np.isclose(band[:, 0], x), 1]
        assert ys.min() == pytest.approx(lo) and ys.max() == pytest.approx(hi)
    golden = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(golden) == 1
    np.testing.assert_allclose(golden[0].get_ydata(), [GOLDEN, GOLDEN])


def test_accuracy_vs_parameter_errors(campaign: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="mix parameter names"):
        plots.accuracy_vs_parameter(campaign)
    with pytest.raises(ConfigError, match="unknown model 'stuck'"):
        plots.accuracy_vs_parameter(campaign, model="stuck")
    with pytest.raises(ConfigError, match="NaN everywhere"):
        plots.accuracy_vs_parameter(campaign, model="dead")
    with pytest.raises(ConfigError, match=r"\['golden_accuracy'\]"):
        plots.accuracy_vs_parameter(campaign.drop(columns="golden_accuracy"), model="bitflip")
    with pytest.raises(ConfigError, match=r"\['model'\]"):
        plots.accuracy_vs_parameter(campaign.drop(columns="model"), model="bitflip")
    # without model=, a single-model frame works and needs no 'model' column
    only = campaign[campaign.model == "threshold"].drop(columns="model")
    assert isinstance(plots.accuracy_vs_parameter(only), Figure)


# ----------------------------------------------------------------------------- training_curves


def test_training_curves(history: pd.DataFrame, clean_state: Path) -> None:
    fig = plots.training_curves(history)
    _check_labels(fig)
    lines = fig.axes[0].lines
    assert [ln.get_label() for ln in lines] == [
        f"{label}: {split}" for label in dict.fromkeys(history.label) for split in ("train", "test")
    ]
    for line in lines:
        label, split = line.get_label().split(": ")
        run = history[history.label == label].sort_values("epoch")
        y = run[f"{split}_accuracy"]
        ok = y.notna()
        np.testing.assert_allclose(line.get_xdata(), run.epoch[ok].to_numpy())
        np.testing.assert_allclose(line.get_ydata(), y[ok].to_numpy())
    assert len(lines[1].get_xdata()) == 11  # the NaN test epoch is skipped
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert {ln.get_linestyle() for ln in lines[1::2]} == {"--"}


def test_training_curves_without_label(history: pd.DataFrame, clean_state: Path) -> None:
    fig = plots.training_curves(history[history.label == "dropout"].drop(columns="label"))
    assert [ln.get_label() for ln in fig.axes[0].lines] == ["train", "test"]


def test_training_curves_errors(history: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"\['test_accuracy'\]"):
        plots.training_curves(history.drop(columns="test_accuracy"))
    with pytest.raises(ConfigError, match="empty"):
        plots.training_curves(history.iloc[:0])


# ----------------------------------------------------------------------------- common


@pytest.mark.parametrize(
    "make",
    [
        lambda df, h: plots.critical_faults_per_layer(df),
        lambda df, h: plots.site_heatmap(df, "conv1", "critical_rate", channel=0),
        lambda df, h: plots.site_heatmap(df, "conv2"),
        lambda df, h: plots.accuracy_vs_parameter(df, "bitflip"),
        lambda df, h: plots.training_curves(h),
    ],
)
def test_figures_render_and_use_okabe_ito(
    campaign: pd.DataFrame, history: pd.DataFrame, clean_state: Path, make: Callable
) -> None:
    fig = make(campaign, history)
    fig.canvas.draw()  # renders without error on a pyplot-free canvas
    assert fig.get_figwidth() >= 4 and fig.get_figheight() >= 4
    palette = {matplotlib.colors.to_rgba(c) for c in plots.OKABE_ITO}
    ax = fig.axes[0]
    used = [matplotlib.colors.to_rgba(ln.get_color()) for ln in ax.lines if ln.get_linestyle() == "-"]
    used += [p.get_facecolor() for p in ax.patches]
    assert all(c in palette for c in used)
    assert ax.xaxis.label.get_fontsize() >= 10
    plt.close(fig)


def test_input_frame_not_modified(campaign: pd.DataFrame, history: pd.DataFrame) -> None:
    before, before_history = campaign.copy(), history.copy()
    plots.critical_faults_per_layer(campaign)
    plots.site_heatmap(campaign, "conv1", "critical_rate")
    plots.accuracy_vs_parameter(campaign, "threshold")
    plots.training_curves(history)
    pd.testing.assert_frame_equal(campaign, before)
    pd.testing.assert_frame_equal(history, before_history)
