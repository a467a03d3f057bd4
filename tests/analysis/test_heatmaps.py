"""Per-site heat maps of dense layers (issue 17 item 5): one cell per neuron, a colour scale
inside [0, 1], and the same figures in campaign artifacts and in the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from experiments import artifacts as art
from spikefi import plots


def _grid(fig) -> np.ndarray:
    return np.ma.filled(fig.axes[0].images[0].get_array(), np.nan)


def dense_table(neurons: int = 10, accuracy: float | None = None) -> pd.DataFrame:
    """Single dead-neuron rounds of a dense layer SF4 (C x 1 x 1) plus synapse rounds of SF3."""
    acc = np.linspace(0.4, 0.95, neurons) if accuracy is None else np.full(neurons, accuracy)
    neuron_rows = pd.DataFrame({
        "round_id": range(neurons), "n_faults": 1, "layer": "SF4", "model": "DeadNeuron", "target": "neuron",
        "pos0": range(neurons), "pos1": 0, "pos2": 0, "pos3": -1, "param": np.nan, "param_name": "",
        "accuracy": acc, "critical": 1, "samples": 10, "golden_accuracy": 0.97})
    synapse_rows = pd.DataFrame({
        "round_id": range(neurons, neurons + 6), "n_faults": 1, "layer": "SF3", "model": "BitFlipSynapse",
        "target": "synapse", "pos0": [0, 0, 1, 1, 2, 2], "pos1": [0, 5, 0, 5, 0, 5], "pos2": 0, "pos3": 0,
        "param": 7.0, "param_name": "bit", "accuracy": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], "critical": 0, "samples": 10,
        "golden_accuracy": 0.97})
    return pd.concat([neuron_rows, synapse_rows], ignore_index=True)


SHAPES = {"SF3": [64, 1, 1], "SF4": [10, 1, 1]}


def test_dense_layer_gets_one_cell_per_neuron_and_a_unit_colour_scale():
    fig = plots.site_heatmap(dense_table(), "SF4", neuron_shape=[10, 1, 1])
    grid = _grid(fig)
    assert grid.shape == (1, 10)  # not one pooled 1x1 cell
    np.testing.assert_allclose(grid[0], np.linspace(0.4, 0.95, 10))
    low, high = fig.axes[0].images[0].get_clim()
    assert 0.0 <= low and high <= 1.0
    # a layer wider than the grid width wraps: neuron = 16 x row + column
    wide = plots.site_heatmap(dense_table(40), "SF4", neuron_shape=[40, 1, 1])
    assert _grid(wide).shape == (3, 16) and _grid(wide)[2, 7] == pytest.approx(np.linspace(0.4, 0.95, 40)[39])
    # without the shape: all neurons at row/col 0 in several channels is recognized as dense
    assert _grid(plots.site_heatmap(dense_table(), "SF4")).shape == (1, 10)


@pytest.mark.parametrize("value", [1.0, 0.0, 0.5])
def test_a_constant_value_keeps_the_colour_scale_inside_0_1(value):
    low, high = plots.site_heatmap(dense_table(accuracy=value), "SF4").axes[0].images[0].get_clim()
    assert 0.0 <= low < high <= 1.0 and low <= value <= high


def test_artifacts_and_report_draw_the_same_heatmaps(tmp_path: Path):
    table = dense_table()
    skipped = art.write_plots(tmp_path, table, {k: {"neuron_shape": v} for k, v in SHAPES.items()})
    assert skipped == []
    written = sorted(p.name for p in (tmp_path / "plots").glob("site_heatmap_*.png"))
    assert written == ["site_heatmap_SF3.png", "site_heatmap_SF4.png"]
    figures = {name: fig for name, _, fig in plots.site_heatmaps(table, SHAPES)}
    assert _grid(figures["site_heatmap_SF4"]).shape == (1, 10)
    assert _grid(figures["site_heatmap_SF3"]).shape == (3, 6)  # synapses: out x in
    # the report draws its heat maps through the same function
    from analysis import report

    captions = [c for c, _ in report.heatmap_figures(table.assign(run_name="r"), SHAPES)]
    assert captions == [f"r: {caption}" for _, caption, _ in plots.site_heatmaps(table, SHAPES)]


def test_heatmaps_of_several_models_in_one_layer_are_separate():
    table = dense_table()
    other = table[table["layer"] == "SF4"].assign(model="SaturatedNeuron", accuracy=0.1)
    names = [name for name, _, _ in plots.site_heatmaps(pd.concat([table, other]), SHAPES)]
    assert names == ["site_heatmap_SF4_DeadNeuron", "site_heatmap_SF4_SaturatedNeuron", "site_heatmap_SF3"]


def test_figures_are_white_even_after_a_global_style_change(tmp_path: Path):
    """Optuna's plots call plt.style.use('ggplot'); campaign figures keep the default style."""
    import matplotlib
    import matplotlib.pyplot as plt

    with matplotlib.rc_context():
        plt.style.use("ggplot")
        from analysis import report

        fig = report.styled(lambda: plots.site_heatmaps(dense_table(), SHAPES)[0][2])
        assert to_rgba(fig.axes[0].get_facecolor()) == to_rgba("white")
