"""SpikeFI 1.3's ``spikefi.visual``: figures of one or several campaigns' data.

Every function takes :class:`~spikefi.core.CampaignData` (``cmpn.export()``) or a list of
them, draws through :mod:`spikefi.plots` (the one place that draws; figures are not
registered with pyplot, so nothing is shown and nothing blocks) and, with
``to_save=True`` (the default, as in SpikeFI), writes the figure under
``<out>/fig`` (:func:`spikefi.utils.io.set_out_dir` changes ``<out>``).

================  ==============================================================
SpikeFI           drawn with
================  ==============================================================
``bar``           :func:`spikefi.plots.critical_faults_per_layer` (critical-round rate per layer, Wilson CI)
``heat``          :func:`spikefi.plots.site_heatmap` (accuracy per fault site, one figure per layer)
``plot``          :func:`spikefi.plots.accuracy_vs_parameter` (accuracy vs the model's parameter)
``plot_train``    :func:`spikefi.plots.learning_curve` (mean accuracy per campaign vs ``x_range``)
``learning_curve`` :func:`spikefi.plots.learning_curve` (per round: training/testing accuracy per epoch)
``colormap``      :func:`spikefi.plots.accuracy_colorbar`
================  ==============================================================
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from . import io as sfi_io
from .core import CampaignData

__all__ = ["bar", "heat", "plot", "plot_train", "learning_curve", "colormap"]


def _datas(cmpns_data: Any) -> list[CampaignData]:
    items = [cmpns_data] if isinstance(cmpns_data, CampaignData) else list(cmpns_data)
    if not items or not all(isinstance(d, CampaignData) for d in items):
        raise ConfigError("expected CampaignData (cmpn.export()) or a non-empty list of them")
    return items


def _table(datas: list[CampaignData], what: str) -> Any:
    import pandas as pd

    tables = [d.table for d in datas if d.table is not None and len(d.table)]
    if not tables:
        raise ConfigError(f"{what} needs the results of cmpn.run(...) (the exported data hold no result table)")
    return pd.concat(tables, ignore_index=True)


def _common_name(datas: list[CampaignData]) -> str:
    name = datas[0].name
    for d in datas[1:]:
        i = 0
        while i < min(len(name), len(d.name)) and name[i] == d.name[i]:
            i += 1
        name = name[:i]
    return name.strip("_- ") or "campaign"


def _finish(fig: Any, stem: str, title_suffix: str | None, fig_size: Sequence[float] | None, format: str,  # noqa: A002
            to_save: bool) -> Any:
    if fig_size is not None:
        fig.set_size_inches(*fig_size)
    if to_save:
        if not isinstance(format, str) or not format.strip("."):
            raise ConfigError(f"format must be a file extension such as 'svg' or 'png', got {format!r}")
        suffix = f"_{title_suffix.strip('_')}" if title_suffix else ""
        safe = re.sub(r"[^\w.\- ()]+", "_", f"{stem}{suffix}")
        fig.savefig(sfi_io.make_fig_filepath(f"{safe}.{format.strip('.')}"), bbox_inches="tight")
    return fig


def bar(cmpns_data: Any, model_friendly: str | None = None, fig_size: Sequence[float] | None = None,
        title_suffix: str | None = None, format: str = "svg", to_save: bool = True) -> Any:  # noqa: A002
    """Fraction of critical rounds per layer (with Wilson intervals) over the campaigns.

    Returns:
        The figure.
    """
    from ..plots import critical_faults_per_layer

    datas = _datas(cmpns_data)
    fig = critical_faults_per_layer(_table(datas, "bar"))
    stem = _common_name(datas) + (f"_{model_friendly.strip('_')}" if model_friendly else "") + "_bar"
    return _finish(fig, stem, title_suffix, fig_size, format, to_save)


def heat(cmpns_data: Any, layer: str | None = None, fault_model: Any = None, preserve_dim: bool = False,
         ratio: float = 1.0, max_area: int = 512**2, show_axes: bool = True, model_friendly: str | None = None,
         fig_size: Sequence[float] | None = None, title_suffix: str | None = None, format: str = "svg",  # noqa: A002
         to_save: bool = True) -> list[Any]:
    """Accuracy per fault site, one figure per layer (and fault model) with single-site rounds.

    Neuron sites are drawn over ``(row, column)`` (channels pooled), synapse sites over
    ``(out, in)`` (kernel positions pooled); SpikeFI's ``preserve_dim``/``ratio``
    reshaping options are accepted and not needed. ``max_area`` skips layers with more
    single-site rounds than that.

    Args:
        layer: Only this layer.
        fault_model: Only rounds of this model (a SpikeFI model or its class name).

    Returns:
        The figures.
    """
    from ..plots import site_heatmap

    datas = _datas(cmpns_data)
    table = _table(datas, "heat")
    table = table[table["n_faults"] == 1]
    if layer is not None:
        table = table[table["layer"] == layer]
    if fault_model is not None:
        name = fault_model if isinstance(fault_model, str) else fault_model.native().name
        table = table[table["model"] == name]
    figs = []
    for (lay, model), rows in table.groupby(["layer", "model"], sort=False):
        if len(rows) > max_area:
            continue
        fig = site_heatmap(rows, lay, "accuracy")
        if not show_axes:
            for ax in fig.axes[:1]:
                ax.set_xticklabels([])
                ax.set_yticklabels([])
        stem = f"{_common_name(datas)}_{lay}_{model}" + (f"_{model_friendly.strip('_')}" if model_friendly else "")
        figs.append(_finish(fig, stem + "_heat", title_suffix, fig_size, format, to_save))
    return figs


def plot(cmpns_data: Any, xlabel: str | None = None, layer: str | None = None, legend_loc: str = "lower right",
         model_friendly: str | None = None, fig_size: Sequence[float] | None = None, title_suffix: str | None = None,
         format: str = "svg", to_save: bool = True) -> Any:  # noqa: A002
    """Mean (and min-max) accuracy against the fault model's parameter (e.g. the factor of
    a parametric fault), over every campaign given.

    Returns:
        The figure.
    """
    from ..plots import accuracy_vs_parameter

    datas = _datas(cmpns_data)
    table = _table(datas, "plot")
    if layer is not None:
        table = table[table["layer"] == layer]
        if not len(table):
            raise ConfigError(f"plot: no round in layer {layer!r}")
    models = list(dict.fromkeys(table["model"]))
    fig = accuracy_vs_parameter(table, model=models[0] if len(models) == 1 else None)
    if xlabel:
        fig.axes[0].set_xlabel(xlabel)
    if fig.axes[0].get_legend() is not None:
        fig.axes[0].legend(loc=legend_loc, frameon=False)
    stem = _common_name(datas) + (f"_{model_friendly.strip('_')}" if model_friendly else "") + "_scatter"
    return _finish(fig, stem, title_suffix, fig_size, format, to_save)


def plot_train(cmpns_data: Any, x_range: Sequence[float], fig_size: Sequence[float] | None = None,
               title_suffix: str | None = None, format: str = "svg", to_save: bool = True) -> Any:  # noqa: A002
    """Mean over the campaigns of each round's best training accuracy, against ``x_range``
    (one value per round, e.g. the fault percentage of each round of ``run_train``).

    Returns:
        The figure.

    Raises:
        ConfigError: If the campaigns have different numbers of rounds or ``x_range``
            another length.
    """
    from ..plots import learning_curve as draw

    datas = _datas(cmpns_data)
    counts = {len(d.performance) for d in datas}
    xs = list(x_range)
    if len(counts) != 1 or counts.pop() != len(xs):
        raise ConfigError(f"plot_train needs one performance entry per x value in every campaign: {len(xs)} x values, "
                          f"rounds per campaign {[len(d.performance) for d in datas]}")
    mean = []
    for r in range(len(xs)):
        values = [d.performance[r].training.maxAccuracy for d in datas]
        known = [v for v in values if v is not None]
        mean.append(sum(known) / len(known) if known else None)
    fig = draw({"Faulty": mean}, ylabel="Mean accuracy", xlabel="x", x=xs)
    return _finish(fig, _common_name(datas) + "_mean", title_suffix, fig_size, format, to_save)


def learning_curve(cmpns_data: Any, fig_size: Sequence[float] | None = None, title_suffix: str | None = None,
                   format: str = "svg", to_save: bool = True) -> list[Any]:  # noqa: A002
    """Training and testing accuracy per epoch, one figure per round of every campaign.

    Returns:
        The figures.
    """
    from ..plots import learning_curve as draw

    figs = []
    for data in _datas(cmpns_data):
        many = len(data.performance) > 1
        for r, perf in enumerate(data.performance):
            series = {"Training": perf.training.accuracyLog}
            if any(v is not None for v in perf.testing.accuracyLog):
                series["Testing"] = perf.testing.accuracyLog
            fig = draw(series, ylabel="Accuracy", title=f"{data.name}" + (f" round {r}" if many else ""))
            stem = f"{data.name}_learning" + (f"_r{r}" if many else "")
            figs.append(_finish(fig, stem, title_suffix, fig_size, format, to_save))
    return figs


def colormap(format: str = "svg", to_save: bool = True) -> Any:  # noqa: A002
    """The accuracy colour scale (0-100 %) of the heatmaps.

    Returns:
        The figure.
    """
    from ..plots import accuracy_colorbar

    return _finish(accuracy_colorbar(), "colormap", None, None, format, to_save)
