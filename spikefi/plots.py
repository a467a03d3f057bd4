"""Figures of fault injection campaign results and training histories.

Every function takes a :class:`pandas.DataFrame` and returns a new
:class:`matplotlib.figure.Figure`. The figures are built with
``matplotlib.figure.Figure()`` directly, so they are not registered with pyplot:
nothing is shown, saved, or left open, and neither ``matplotlib.rcParams`` nor the
global style is touched. Save one with ``fig.savefig(path)``.

The campaign functions expect one row per fault round with (some of) the columns
``round_id``, ``layer``, ``model``, ``n_faults``, ``pos0``..``pos3`` (-1 where
unused; neuron sites are ``(channel, row, col)``, synapse sites
``(out, in, kh, kw)``), ``param``, ``param_name``, ``accuracy``, ``critical``,
``samples`` and ``golden_accuracy``. Each function uses only the columns it needs.

Colours come from the colour-blind-safe Okabe-Ito palette; heatmaps use the
perceptually uniform, colour-blind-friendly ``cividis`` colour map.

Example:
    >>> import pandas as pd
    >>> from spikefi.plots import critical_faults_per_layer
    >>> df = pd.DataFrame({"layer": ["conv1", "conv1", "fc1"], "critical": [0, 4, 1]})
    >>> fig = critical_faults_per_layer(df)
    >>> [round(float(bar.get_height()), 3) for bar in fig.axes[0].patches]
    [0.5, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .campaign.stats import wilson_intervals
from .errors import ConfigError

__all__ = [
    "OKABE_ITO",
    "critical_faults_per_layer",
    "site_heatmap",
    "site_heatmaps",
    "accuracy_vs_parameter",
    "training_curves",
    "learning_curve",
    "accuracy_colorbar",
    "param_importances",
]

#: Okabe-Ito colour-blind-safe palette (black last, as it is reserved for references).
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

_LABEL_SIZE = 11
_TITLE_SIZE = 12
_TICK_SIZE = 10
_POSITIONS = ("pos0", "pos1", "pos2", "pos3")


def _require(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raises ConfigError if ``df`` is not a DataFrame or lacks one of ``columns``."""
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(f"{what} needs a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(
            f"{what} needs the column(s) {missing}, which the DataFrame lacks "
            f"(it has {list(map(str, df.columns))})"
        )
    if df.empty:
        raise ConfigError(f"{what} needs at least one row, got an empty DataFrame")


def _new_figure(width: float = 6.4, height: float = 4.2) -> tuple[Figure, Axes]:
    """A pyplot-free figure with one axes, constrained layout."""
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    ax.tick_params(labelsize=_TICK_SIZE)
    return fig, ax


def _style(ax: Axes, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel, fontsize=_LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=_LABEL_SIZE)
    ax.set_title(title, fontsize=_TITLE_SIZE)


def _numeric(df: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """The column as a float array; ConfigError if it is not numeric."""
    try:
        return pd.to_numeric(df[column], errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: column {column!r} must be numeric, got dtype {df[column].dtype}") from exc


def _ordered_unique(values: pd.Series) -> list:
    """Unique values in the order they first appear."""
    return list(pd.unique(values))


def critical_faults_per_layer(df: pd.DataFrame, confidence: float = 0.95) -> Figure:
    """Bar chart of the fraction of fault rounds with at least one critical sample, per layer.

    Each bar is ``k / n`` where ``n`` is the number of rounds of the layer and ``k``
    the number of them with ``critical > 0``; the error bars are the Wilson score
    interval of that proportion at ``confidence``. Layers keep the order in which
    they first appear in ``df``; the number of rounds is printed above each bar.

    Args:
        df: Campaign results with the columns ``layer`` and ``critical``.
        confidence: Confidence level of the error bars, strictly between 0 and 1.

    Returns:
        A new figure with one axes; its bars are ``fig.axes[0].patches``.

    Raises:
        ConfigError: If a column is missing, ``df`` is empty, ``critical`` holds
            NaN or non-numeric values, or ``confidence`` is out of range.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"layer": ["a", "b", "a", "a"], "critical": [0, 2, 1, 0]})
        >>> fig = critical_faults_per_layer(df, confidence=0.99)
        >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
        ['a', 'b']
    """
    what = "critical_faults_per_layer"
    _require(df, ("layer", "critical"), what)
    critical = _numeric(df, "critical", what)
    if np.isnan(critical).any():
        raise ConfigError(f"{what}: column 'critical' holds NaN in {int(np.isnan(critical).sum())} row(s)")
    layers = _ordered_unique(df["layer"])
    hit = pd.Series(critical > 0, index=df.index)
    k = np.array([int(hit[df["layer"] == layer].sum()) for layer in layers], dtype=np.int64)
    n = np.array([int((df["layer"] == layer).sum()) for layer in layers], dtype=np.int64)
    low, high = wilson_intervals(k, n, confidence)
    fraction = k / n
    yerr = np.vstack([fraction - low, high - fraction])

    fig, ax = _new_figure(max(4.8, 1.2 + 0.9 * len(layers)), 4.4)
    x = np.arange(len(layers))
    colors = [OKABE_ITO[i % (len(OKABE_ITO) - 1)] for i in range(len(layers))]
    bars = ax.bar(
        x,
        fraction,
        width=0.65,
        color=colors,
        edgecolor="black",
        linewidth=0.6,
        yerr=yerr,
        capsize=4,
        error_kw={"ecolor": "black", "elinewidth": 1.0},
    )
    for bar, count, top in zip(bars, n, high, strict=True):
        ax.annotate(
            f"n={count}",
            xy=(bar.get_x() + bar.get_width() / 2, top),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=_TICK_SIZE - 1,
        )
    names = [str(layer) for layer in layers]
    ax.set_xticks(x, names)
    if max(map(len, names)) * len(names) > 40:  # long labels would overlap: slant them
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    ax.set_ylim(0.0, 1.1)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    _style(
        ax,
        "Layer",
        "Rounds with ≥1 critical sample (fraction)",
        f"Critical fault rounds per layer\n(error bars: {confidence:.0%} Wilson interval)",
    )
    return fig


def _site_grid(
    first: np.ndarray, second: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Mean of ``values`` per ``(first, second)`` cell; NaN where a cell has no value."""
    total = np.zeros(shape, dtype=np.float64)
    count = np.zeros(shape, dtype=np.float64)
    np.add.at(total, (first, second), values)
    np.add.at(count, (first, second), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)


def site_heatmap(
    df: pd.DataFrame,
    layer: str,
    value: Literal["accuracy", "critical_rate"] = "accuracy",
    channel: int | None = None,
    kind: Literal["auto", "neuron", "synapse"] = "auto",
    neuron_shape: Sequence[int] | None = None,
    dense_width: int = 16,
    scale: tuple[float, float] | None = None,
) -> Figure:
    """Heatmap of a per-round metric over the fault sites of one layer.

    Rows with ``pos3 >= 0`` are synapse faults, the others neuron faults.

    * Neuron sites ``(channel, row, col)``: an image over ``(row, col)`` of the mean
      value of the rounds at that position, either for one ``channel`` or pooled over
      all channels (``channel=None``: the mean of every round at that ``(row, col)``).
    * Neurons of a dense layer (shape ``(C, 1, 1)``; pooling over channels would leave
      one cell): every neuron gets its own cell, ``dense_width`` per row
      (neuron index = width x row + column).
    * Synapse sites ``(out, in, kh, kw)``: an image over ``(out, in)`` of the mean of
      every round at that ``(out, in)``, pooled over ``kh`` and ``kw``.

    The grid spans the largest indices seen in the layer; cells without any fault
    are NaN and drawn blank (white). ``value`` is ``"accuracy"`` (the round's
    accuracy) or ``"critical_rate"`` (the round's ``critical / samples``, the
    fraction of evaluated samples that the fault made critical). The colour scale
    spans the values drawn and never leaves [0, 1], unless ``scale`` fixes it (one
    scale shared by several maps, so that they compare by colour).

    Args:
        df: Campaign results with the columns ``layer``, ``pos0``..``pos3`` and either
            ``accuracy`` or ``critical`` and ``samples``.
        layer: Layer whose sites are drawn.
        value: Metric to draw.
        channel: Neuron faults only: the channel to draw; ``None`` pools all channels.
        kind: ``"neuron"`` or ``"synapse"`` to choose the site kind of a layer that
            holds both; ``"auto"`` uses the only kind present.
        neuron_shape: The layer's neuron shape ``(C, H, W)`` when known: ``(C, 1, 1)``
            marks a dense layer. ``None``: a layer whose faulted neurons all sit at row
            and column 0 in more than one channel is drawn as dense.
        dense_width: Cells per row of a dense layer's grid.
        scale: ``(low, high)`` of the colour scale, ``0 <= low < high <= 1``; ``None``: the
            range of the values drawn.

    Returns:
        A new figure with the image axes and a labelled colour bar; the grid is
        ``fig.axes[0].images[0].get_array()`` (a masked array, NaN cells masked).

    Raises:
        ConfigError: If a column is missing, ``layer`` is not in ``df``, ``value`` or
            ``kind`` is unknown, ``channel`` is given for synapse faults or has no
            fault, the layer mixes neuron and synapse faults with ``kind="auto"``,
            a needed position is negative, ``samples`` is not positive, or ``scale`` is
            not ``0 <= low < high <= 1``.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({
        ...     "layer": ["conv1"] * 3, "pos0": [0, 1, 0], "pos1": [0, 0, 1],
        ...     "pos2": [1, 1, 0], "pos3": [-1, -1, -1], "accuracy": [0.9, 0.7, 0.5]})
        >>> grid = site_heatmap(df, "conv1").axes[0].images[0].get_array()
        >>> grid.filled(-1).round(2).tolist()
        [[-1.0, 0.8], [0.5, -1.0]]
    """
    what = "site_heatmap"
    if value not in ("accuracy", "critical_rate"):
        raise ConfigError(f"{what}: value must be 'accuracy' or 'critical_rate', got {value!r}")
    if kind not in ("auto", "neuron", "synapse"):
        raise ConfigError(f"{what}: kind must be 'auto', 'neuron' or 'synapse', got {kind!r}")
    if scale is not None and not (len(scale) == 2 and 0.0 <= float(scale[0]) < float(scale[1]) <= 1.0):
        raise ConfigError(f"{what}: scale must be (low, high) with 0 <= low < high <= 1, got {scale!r}")
    value_columns = ("accuracy",) if value == "accuracy" else ("critical", "samples")
    _require(df, ("layer", *_POSITIONS, *value_columns), what)
    layers = _ordered_unique(df["layer"])
    if layer not in layers:
        raise ConfigError(f"{what}: unknown layer {layer!r}; the DataFrame holds layers {layers}")
    rows = df[df["layer"] == layer]
    pos = {c: _numeric(rows, c, what) for c in _POSITIONS}
    synapse = pos["pos3"] >= 0
    present = {"neuron"} if not synapse.any() else {"synapse"} if synapse.all() else {"neuron", "synapse"}
    if kind == "auto":
        if len(present) > 1:
            raise ConfigError(
                f"{what}: layer {layer!r} holds both neuron and synapse faults; pass kind='neuron' "
                "or kind='synapse'"
            )
        kind = next(iter(present))
    elif kind not in present:
        raise ConfigError(f"{what}: layer {layer!r} has no {kind} faults (it has {sorted(present)})")
    keep = synapse if kind == "synapse" else ~synapse

    if value == "accuracy":
        metric = _numeric(rows, "accuracy", what)
    else:
        samples = _numeric(rows, "samples", what)
        if np.any(~(samples > 0)):
            raise ConfigError(f"{what}: column 'samples' must be > 0 for value='critical_rate'")
        metric = _numeric(rows, "critical", what) / samples

    if kind == "synapse":
        if channel is not None:
            raise ConfigError(f"{what}: channel={channel!r} applies to neuron faults only; layer {layer!r} "
                              "has synapse faults (drawn over output x input channels)")
        first, second = pos["pos0"][keep], pos["pos1"][keep]
        names = ("pos0 (out)", "pos1 (in)")
        xlabel, ylabel = "Input channel (index)", "Output channel (index)"
        subtitle = "synapses, mean over kernel positions"
    else:
        first, second = pos["pos1"][keep], pos["pos2"][keep]
        names = ("pos1 (row)", "pos2 (col)")
        xlabel, ylabel = "Column (neuron index)", "Row (neuron index)"
        subtitle = "neurons, pooled over channels"
        channels = pos["pos0"][keep]
        if neuron_shape is not None:
            dense = len(neuron_shape) == 3 and tuple(int(x) for x in neuron_shape[1:]) == (1, 1)
        else:
            dense = bool(np.all(first == 0) and np.all(second == 0) and np.unique(channels).size > 1)
        if dense and channel is None and np.all(channels >= 0):
            index = channels.astype(np.int64)
            width = max(1, min(int(dense_width), int(index.max()) + 1))
            first, second = (index // width).astype(np.float64), (index % width).astype(np.float64)
            names = ("pos0 (neuron)", "pos0 (neuron)")
            xlabel, ylabel = "Neuron index mod width (column)", "Neuron index // width (row)"
            subtitle = f"dense layer: one cell per neuron, neuron = {width} x row + column"
    for array, name in ((first, names[0]), (second, names[1])):
        if np.any(array < 0) or np.any(array != np.round(array)):
            raise ConfigError(
                f"{what}: layer {layer!r} has {kind} faults with {name} = "
                f"{array[(array < 0) | (array != np.round(array))][0]!r}; a heatmap needs indices >= 0"
            )
    first, second = first.astype(np.int64), second.astype(np.int64)
    shape = (int(first.max()) + 1, int(second.max()) + 1)
    selected = np.ones(first.shape, dtype=bool)
    if channel is not None and kind == "neuron":
        channels = pos["pos0"][keep]
        selected = channels == channel
        if not selected.any():
            available = sorted({int(c) for c in channels})
            raise ConfigError(f"{what}: layer {layer!r} has no neuron fault in channel {channel!r}; "
                              f"channels with faults: {available}")
        subtitle = f"neurons, channel {channel}"
    grid = _site_grid(first[selected], second[selected], metric[keep][selected], shape)
    finite = grid[np.isfinite(grid)]
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1e-9:  # one value: a small range around it (matplotlib's default leaves [0, 1])
        low, high = low - 0.05, high + 0.05
    low, high = max(0.0, low), min(1.0, high)
    if high <= low:
        low, high = (0.0, 1.0)
    if scale is not None:
        low, high = float(scale[0]), float(scale[1])

    strip = shape[0] <= 2  # a row or two of cells (a small dense layer): a flatter figure
    fig, ax = _new_figure(7.0, 2.2 + 0.6 * shape[0]) if strip else _new_figure(6.0, 4.8)
    cmap = colormaps["cividis"].with_extremes(bad="white")
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        cmap=cmap,
        vmin=low,
        vmax=high,
        origin="upper",
        aspect="equal" if kind == "neuron" else "auto",
        interpolation="nearest",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if strip:
        ax.set_yticks(range(shape[0]))
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label(
        "Mean accuracy (fraction)" if value == "accuracy" else "Mean critical rate (fraction of samples)",
        fontsize=_LABEL_SIZE,
    )
    colorbar.ax.tick_params(labelsize=_TICK_SIZE)
    _style(ax, xlabel, ylabel, f"{layer}: {value.replace('_', ' ')} per fault site\n({subtitle})")
    return fig


def site_heatmaps(
    df: pd.DataFrame,
    layer_shapes: Mapping[str, Sequence[int]] | None = None,
    value: Literal["accuracy", "critical_rate"] = "accuracy",
    scale: tuple[float, float] | None = None,
) -> list[tuple[str, str, Figure]]:
    """Every per-site heatmap of a campaign table: one per layer, fault model, parameter value
    and site kind (neuron or synapse), from the single-fault rounds (``n_faults == 1``).

    The one plotting path of campaign artifacts and reports: both draw these figures.

    Args:
        df: Campaign results (``layer``, ``model``, ``pos0``..``pos3``, ``accuracy``; optional
            ``n_faults``, ``param``, ``param_name``).
        layer_shapes: Neuron shape per layer (``meta["layers"][name]["neuron_shape"]``), so
            that dense layers are recognized (see :func:`site_heatmap`).
        value: Metric to draw.
        scale: One ``(low, high)`` colour scale for every map (see :func:`site_heatmap`);
            ``None``: each map its own.

    Returns:
        ``(name, caption, figure)`` per heatmap; ``name`` is ``site_heatmap_<layer>`` when the
        layer has one group, else suffixed with the model, parameter and site kind.

    Raises:
        ConfigError: If a column is missing.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"layer": ["fc"] * 3, "model": ["DeadNeuron"] * 3, "pos0": [0, 1, 2],
        ...     "pos1": [0] * 3, "pos2": [0] * 3, "pos3": [-1] * 3, "accuracy": [0.9, 0.5, 0.7]})
        >>> [(name, caption) for name, caption, _ in site_heatmaps(df)]
        [('site_heatmap_fc', 'fc: accuracy per neuron under DeadNeuron (dense layer: one cell per neuron)')]
    """
    _require(df, ("layer", "model", *_POSITIONS), "site_heatmaps")
    rows = df[df["pos0"] >= 0]
    if "n_faults" in rows.columns:
        rows = rows[rows["n_faults"] == 1]
    if rows.empty:
        return []
    params = rows["param"] if "param" in rows.columns else pd.Series(np.nan, index=rows.index)
    rows = rows.assign(_param=params.astype(float).fillna(-1.0), _kind=np.where(rows["pos3"] >= 0, "synapse", "neuron"))
    out: list[tuple[str, str, Figure]] = []
    for layer, lrows in rows.groupby("layer", sort=False):
        groups = list(lrows.groupby(["model", "_param", "_kind"], sort=False))
        for (model, param, kind), group in groups:
            label = str(model)
            if param != -1.0 and "param_name" in group.columns:
                label += f", {group['param_name'].iloc[0]}={param:g}"
            shape = (layer_shapes or {}).get(str(layer))
            fig = site_heatmap(group, str(layer), value=value, kind=kind,  # type: ignore[arg-type]
                               neuron_shape=shape, scale=scale)
            ax = fig.axes[0]
            dense = "dense layer" in ax.get_title()
            ax.set_title(f"{layer}: {value.replace('_', ' ')} per {kind} under {label}"
                         + ("\n(dense layer: neuron = width x row + column)" if dense else ""), fontsize=_TITLE_SIZE)
            name = f"site_heatmap_{layer}"
            if len(groups) > 1:
                name += f"_{model}" + (f"_{param:g}" if param != -1.0 else "") + ("_synapse" if kind == "synapse" else "")
            caption = f"{layer}: {value.replace('_', ' ')} per {kind} under {label}" + (
                " (dense layer: one cell per neuron)" if dense else "")
            out.append((name, caption, fig))
    return out


def accuracy_vs_parameter(df: pd.DataFrame, model: str | None = None) -> Figure:
    """Mean accuracy against the fault model's scalar parameter, with its min-max range.

    Rows whose ``param`` is NaN (models without a scalar parameter) are ignored.
    The x axis is labelled with the ``param_name`` of the rows drawn; a dashed
    black line marks the mean golden (fault-free) accuracy.

    Args:
        df: Campaign results with the columns ``param``, ``param_name``, ``accuracy``,
            ``golden_accuracy`` and, when ``model`` is given, ``model``.
        model: Fault model to draw; ``None`` draws every row, which must then share
            one ``param_name``.

    Returns:
        A new figure; ``fig.axes[0].lines[0]`` is the mean-accuracy line.

    Raises:
        ConfigError: If a column is missing, ``model`` is not in ``df``, no row has a
            parameter, or the rows mix several parameter names.

    Example:
        >>> import numpy as np, pandas as pd
        >>> df = pd.DataFrame({"param": [0, 0, 7], "param_name": ["bit"] * 3,
        ...     "accuracy": [0.9, 0.8, 0.2], "golden_accuracy": [0.95] * 3})
        >>> line = accuracy_vs_parameter(df).axes[0].lines[0]
        >>> np.round(line.get_ydata(), 2).tolist()
        [0.85, 0.2]
    """
    what = "accuracy_vs_parameter"
    needed = ["param", "param_name", "accuracy", "golden_accuracy"]
    if model is not None:
        needed.append("model")
    _require(df, needed, what)
    rows = df
    if model is not None:
        models = _ordered_unique(df["model"])
        if model not in models:
            raise ConfigError(f"{what}: unknown model {model!r}; the DataFrame holds models {models}")
        rows = df[df["model"] == model]
    param = _numeric(rows, "param", what)
    has_param = ~np.isnan(param)
    if not has_param.any():
        raise ConfigError(
            f"{what}: no row{'' if model is None else f' of model {model!r}'} has a scalar parameter "
            "(param is NaN everywhere)"
        )
    rows = rows[has_param]
    names = [str(name) for name in _ordered_unique(rows["param_name"])]
    if len(names) > 1:
        raise ConfigError(f"{what}: the rows mix parameter names {names}; select one fault model with model=")
    frame = pd.DataFrame({"param": param[has_param], "accuracy": _numeric(rows, "accuracy", what)})
    stats = frame.groupby("param", sort=True)["accuracy"].agg(["mean", "min", "max"])
    golden = float(np.nanmean(_numeric(rows, "golden_accuracy", what)))

    fig, ax = _new_figure()
    x = stats.index.to_numpy(dtype=np.float64)
    ax.plot(x, stats["mean"].to_numpy(), color=OKABE_ITO[0], marker="o", linewidth=1.8, label="Mean accuracy")
    ax.fill_between(
        x, stats["min"].to_numpy(), stats["max"].to_numpy(), color=OKABE_ITO[5], alpha=0.35, label="Min–max range"
    )
    ax.axhline(golden, color="black", linestyle="--", linewidth=1.2, label=f"Golden accuracy ({golden:.3f})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=_TICK_SIZE, frameon=False)
    title = "Accuracy under faults" + ("" if model is None else f": {model}")
    _style(ax, names[0], "Accuracy (fraction)", title)
    return fig


def training_curves(history: pd.DataFrame) -> Figure:
    """Train and test accuracy per epoch, one colour per run label.

    Each label gets a solid train line and a dashed test line in the same
    Okabe-Ito colour. Missing (NaN) accuracies are skipped.

    Args:
        history: One row per epoch with the columns ``epoch``, ``train_accuracy``,
            ``test_accuracy`` and optionally ``label`` (one curve pair per label, in
            order of first appearance).

    Returns:
        A new figure; ``fig.axes[0].lines`` alternate train and test lines per label.

    Raises:
        ConfigError: If a column is missing or ``history`` is empty.

    Example:
        >>> import pandas as pd
        >>> history = pd.DataFrame({"epoch": [1, 2], "train_accuracy": [0.5, 0.8],
        ...     "test_accuracy": [0.4, 0.7]})
        >>> [line.get_label() for line in training_curves(history).axes[0].lines]
        ['train', 'test']
    """
    what = "training_curves"
    _require(history, ("epoch", "train_accuracy", "test_accuracy"), what)
    labels: Sequence = _ordered_unique(history["label"]) if "label" in history.columns else [None]
    fig, ax = _new_figure()
    for i, label in enumerate(labels):
        run = history if label is None else history[history["label"] == label]
        run = run.sort_values("epoch", kind="stable")
        epoch = _numeric(run, "epoch", what)
        color = OKABE_ITO[i % len(OKABE_ITO)]
        prefix = "" if label is None else f"{label}: "
        for column, style, name in (("train_accuracy", "-", "train"), ("test_accuracy", "--", "test")):
            y = _numeric(run, column, what)
            ok = ~np.isnan(y)
            ax.plot(epoch[ok], y[ok], linestyle=style, color=color, marker="o", markersize=3, label=prefix + name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=_TICK_SIZE, frameon=False, ncols=1 if len(labels) < 4 else 2)
    _style(ax, "Epoch", "Accuracy (fraction)", "Training curves")
    return fig


def learning_curve(
    series: Mapping[str, Sequence[float | None]],
    ylabel: str = "Accuracy",
    xlabel: str = "Epoch",
    logy: bool = False,
    title: str = "",
    ax: Axes | None = None,
    x: Sequence[float] | None = None,
) -> Figure:
    """One line per named series of per-epoch values (epochs numbered from 1).

    ``None`` and NaN values are skipped; non-positive values are skipped too when
    ``logy`` is set.

    Args:
        series: Name -> values, e.g. ``{"Training": [...], "Testing": [...]}``.
        ylabel: Label of the value axis.
        xlabel: Label of the epoch axis.
        logy: Logarithmic value axis.
        title: Figure title.
        ax: Axes to draw in (e.g. of a pyplot figure); ``None`` makes a new figure.
        x: x value of each entry (default: 1, 2, ...); as long as every series.

    Returns:
        The figure drawn in.

    Raises:
        ConfigError: If ``series`` is not a mapping of sequences of numbers.

    Example:
        >>> fig = learning_curve({"Training": [0.5, 0.8, None], "Testing": [0.4, 0.7, 0.75]})
        >>> [len(line.get_xdata()) for line in fig.axes[0].lines]
        [2, 3]
    """
    if not isinstance(series, Mapping):
        raise ConfigError(f"learning_curve needs a mapping name -> values, got {type(series).__name__}")
    if ax is None:
        fig, ax = _new_figure()
    else:
        fig = ax.get_figure()
        ax.tick_params(labelsize=_TICK_SIZE)
    for i, (name, values) in enumerate(series.items()):
        try:
            y = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"learning_curve: series {name!r} must hold numbers or None") from exc
        xs = np.arange(1, y.size + 1) if x is None else np.asarray(x, dtype=np.float64)
        if xs.shape != y.shape:
            raise ConfigError(f"learning_curve: series {name!r} has {y.size} values but x has {xs.size}")
        ok = ~np.isnan(y) & ((y > 0) if logy else True)
        ax.plot(xs[ok], y[ok], color=OKABE_ITO[i % len(OKABE_ITO)], marker="o", markersize=3, label=str(name))
    if logy:
        ax.set_yscale("log")
    if x is None:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if len(series):
        ax.legend(fontsize=_TICK_SIZE, frameon=False)
    _style(ax, xlabel, ylabel, title)
    return fig


def accuracy_colorbar(cmap: str = "cividis") -> Figure:
    """A horizontal colour bar of accuracy from 0 to 100 %, the scale of accuracy heatmaps.

    Args:
        cmap: Matplotlib colormap name.

    Returns:
        A new, short figure holding only the colour bar.

    Raises:
        ConfigError: If ``cmap`` is not a known colormap.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    if cmap not in colormaps:
        raise ConfigError(f"unknown colormap {cmap!r}")
    fig = Figure(figsize=(6.4, 1.1), layout="constrained")
    ax = fig.add_subplot()
    bar = fig.colorbar(ScalarMappable(norm=Normalize(0, 100), cmap=colormaps[cmap]), cax=ax, orientation="horizontal")
    bar.set_ticks(list(range(0, 101, 10)))
    bar.set_label("Classification accuracy (%)", fontsize=_LABEL_SIZE)
    ax.tick_params(labelsize=_TICK_SIZE)
    return fig


def param_importances(
    importances: Mapping[str, float],
    target: str,
    top: int = 10,
    label: Callable[[str], str] | None = None,
) -> Figure:
    """Horizontal bars of the ``top`` most important search parameters, most important on top.

    Args:
        importances: Parameter name -> importance (e.g. ``optuna.importance.get_param_importances``).
        target: What the importance is measured on (the axis label says it).
        top: How many parameters to draw; the title says how many were left out.
        label: Turns a parameter name into the label drawn (e.g. ``spikefi.search.space.param_label``).

    Returns:
        A new figure; its bars' labels are ``fig.axes[0].get_yticklabels()``.

    Raises:
        ConfigError: If ``importances`` is empty or ``top`` is not a positive int.

    Example:
        >>> fig = param_importances({"f0.SF3.neuron.c": 0.7, "f0.model": 0.2, "k": 0.1}, "accuracy", top=2)
        >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
        ['f0.model', 'f0.SF3.neuron.c']
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"param_importances: top must be a positive int, got {top!r}")
    if not importances:
        raise ConfigError("param_importances: no parameter importances to draw")
    ranked = sorted(importances.items(), key=lambda kv: -float(kv[1]))
    shown = ranked[:top]
    names = [(label or str)(name) for name, _ in shown][::-1]
    values = [float(v) for _, v in shown][::-1]
    fig, ax = _new_figure(7.0, 1.2 + 0.38 * len(shown))
    ax.barh(range(len(shown)), values, color=OKABE_ITO[0])
    ax.set_yticks(range(len(shown)), names)
    ax.tick_params(labelsize=_TICK_SIZE)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=_TICK_SIZE - 1)
    ax.set_xlim(0, max(values) * 1.18 if max(values) > 0 else 1.0)
    ax.grid(axis="x", alpha=0.3)
    rest = len(ranked) - len(shown)
    title = f"Parameter importance for {target}" + (
        f"\n(top {len(shown)} of {len(ranked)} parameters; {rest} less important ones not shown)" if rest else "")
    _style(ax, f"Importance for {target} (fraction)", "", title)
    return fig
