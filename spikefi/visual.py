"""SpikeFI 1.3's ``spikefi.visual`` (implemented in :mod:`spikefi.compat.visual`; drawn by :mod:`spikefi.plots`)."""

from .compat.visual import bar, colormap, heat, learning_curve, plot, plot_train

__all__ = ["bar", "heat", "plot", "plot_train", "learning_curve", "colormap"]
