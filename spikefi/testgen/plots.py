"""Figures of test generation: coverage against test length.

Built with ``matplotlib.figure.Figure()`` directly (not registered with pyplot; nothing
global is touched), like :mod:`spikefi.plots`. Save with ``fig.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["coverage_curve_figure"]

_SERIES = (("coverage.selection", "selection half", "#0072B2", "-"),
           ("coverage.heldout", "held-out half", "#E69F00", "--"),
           ("coverage.all", "all faults", "#009E73", ":"))


def coverage_curve_figure(curve: Sequence[Mapping[str, float]], title: str = "Fault coverage vs test length",
                          target: float | None = 0.99) -> Any:
    """Coverage (detected / detectable) of each half against the number of tests.

    Args:
        curve: :attr:`~spikefi.testgen.TestGenResult.curve` rows (``tests`` and ``coverage.*``).
        title: axes title.
        target: a horizontal reference line (``None``: none).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not curve:
        raise ConfigError("the coverage curve is empty: nothing to plot")
    if any("tests" not in row for row in curve):
        raise ConfigError("coverage curve rows need a 'tests' entry")
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    xs = [int(row["tests"]) for row in curve]
    for key, label, colour, style in _SERIES:
        ys = [float(row[key]) for row in curve if key in row]
        if len(ys) == len(xs):
            ax.plot(xs, ys, style, marker="o", markersize=3, color=colour, label=label)
    if target is not None:
        ax.axhline(target, color="0.5", linewidth=0.8, linestyle="-.", label=f"{target:.0%}")
    ax.set_xlabel("test length (inputs)")
    ax.set_ylabel("coverage of detectable faults")
    ax.set_title(title)
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return fig
