"""Learning statistics with slayerPytorch's ``learningStats`` interface.

A training script written for slayerPytorch keeps working unchanged::

    stats = snn.utils.stats()          # or: from spikefi.snn import learningStats
    for epoch in range(epochs):
        for i, (x, target, label) in enumerate(train_loader):
            ...
            stats.training.correctSamples += int((snn.predict.getClass(out) == label).sum())
            stats.training.numSamples += len(label)
            stats.training.lossSum += loss.item()
            stats.print(epoch, i)
        ...
        stats.update()                 # closes the epoch: logs loss/accuracy, resets the sums
    stats.save("run-")                 # run-loss.txt, run-accuracy.txt (plain text)

Logs are written as whitespace-separated text (never pickled); :meth:`learningStats.load`
reads them back.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..errors import ConfigError, DataError, DatasetNotFoundError

__all__ = ["learningStat", "learningStats"]


def _number(value: Any) -> float:
    """A python float from a number, numpy scalar or one-element tensor."""
    item = getattr(value, "item", None)
    return float(item() if callable(item) else value)


class learningStat:  # noqa: N801 - slayerPytorch's name
    """Running loss and accuracy of one phase (training or testing) and its epoch logs.

    A script adds to ``lossSum``, ``correctSamples`` and ``numSamples`` during an epoch
    and calls :meth:`update` (log the epoch) then :meth:`reset` (zero the sums) at its end.

    Attributes:
        lossSum: Sum of the losses added this epoch.
        correctSamples: Correctly classified samples this epoch.
        numSamples: Samples seen this epoch.
        lossLog: Mean loss of every logged epoch (``None`` where no sample was seen).
        accuracyLog: Accuracy of every logged epoch (``None`` where no sample was seen).
        minloss: Smallest logged loss (``None`` before the first).
        maxAccuracy: Largest logged accuracy (``None`` before the first).
        bestLoss: Whether the last logged epoch has the smallest loss so far (``True``
            for the first logged loss).
        bestAccuracy: Whether the last logged epoch has the largest accuracy so far
            (``True`` for the first logged accuracy).
    """

    def __init__(self) -> None:
        self.lossSum: float = 0.0
        self.correctSamples: int = 0
        self.numSamples: int = 0
        self.minloss: float | None = None
        self.maxAccuracy: float | None = None
        self.lossLog: list[float | None] = []
        self.accuracyLog: list[float | None] = []
        self.bestLoss: bool = False
        self.bestAccuracy: bool = False

    def reset(self) -> None:
        """Zero the running sums (the logs and bests are kept)."""
        self.lossSum = 0.0
        self.correctSamples = 0
        self.numSamples = 0

    def loss(self) -> float | None:
        """Mean loss per sample since the last reset, or ``None`` if no sample was counted."""
        n = _number(self.numSamples)
        return _number(self.lossSum) / n if n > 0 else None

    def accuracy(self) -> float | None:
        """Fraction of correct samples since the last reset, or ``None`` if no sample was
        counted (0.0 when samples were counted and none was correct)."""
        n = _number(self.numSamples)
        return _number(self.correctSamples) / n if n > 0 else None

    def update(self) -> None:
        """Log the epoch's loss and accuracy and update the bests (the sums are kept)."""
        loss, accuracy = self.loss(), self.accuracy()
        self.lossLog.append(loss)
        self.accuracyLog.append(accuracy)
        self.bestLoss = loss is not None and (self.minloss is None or loss < self.minloss)
        if self.bestLoss:
            self.minloss = loss
        self.bestAccuracy = accuracy is not None and (self.maxAccuracy is None or accuracy > self.maxAccuracy)
        if self.bestAccuracy:
            self.maxAccuracy = accuracy

    def displayString(self) -> str | None:  # noqa: N802
        """One line with the running loss/accuracy and the bests, or ``None`` before any sample."""
        loss, accuracy = self.loss(), self.accuracy()
        if loss is None:
            return None
        text = f"loss = {loss:<11.5g}"
        if self.minloss is not None:
            text += f" (min = {self.minloss:<11.5g})"
        if accuracy is not None:
            text += f"    accuracy = {accuracy:<8.5g}"
            if self.maxAccuracy is not None:
                text += f" (max = {self.maxAccuracy:<8.5g})"
        return text

    def __repr__(self) -> str:
        return (
            f"learningStat(numSamples={self.numSamples}, loss={self.loss()}, accuracy={self.accuracy()}, "
            f"epochs logged={len(self.lossLog)})"
        )


def _lines(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _column(log: Sequence[float | None], rows: int) -> np.ndarray:
    out = np.full(rows, np.nan)
    for i, v in enumerate(log):
        if v is not None:
            out[i] = v
    return out


class learningStats:  # noqa: N801 - slayerPytorch's name
    """Training and testing :class:`learningStat` with printing, plotting and text logs.

    Attributes:
        training: Statistics of the training phase.
        testing: Statistics of the testing phase.
        linesPrinted: Lines written by the last :meth:`print` (overwritten in a terminal).
    """

    def __init__(self) -> None:
        self.linesPrinted: int = 0
        self.training = learningStat()
        self.testing = learningStat()

    def update(self) -> None:
        """Close an epoch: log both phases, then reset their sums."""
        self.training.update()
        self.training.reset()
        self.testing.update()
        self.testing.reset()

    def print(  # noqa: A003 - slayerPytorch's name
        self,
        epoch: int,
        iter: int | None = None,  # noqa: A002 - slayerPytorch's argument name
        timeElapsed: float | None = None,  # noqa: N803
        header: str | Iterable[str] | None = None,
        footer: str | Iterable[str] | None = None,
        file: TextIO | None = None,
    ) -> None:
        """Print the running statistics.

        In a terminal the previous block is overwritten, so a call per iteration shows a
        live display; elsewhere (a log file, CI) every call appends its lines.

        Args:
            epoch: Epoch number shown.
            iter: Iteration number shown, if given.
            timeElapsed: Seconds shown (as ms), if given.
            header: Line(s) printed before the statistics.
            footer: Line(s) printed after them.
            file: Stream to write to (default ``sys.stdout``).
        """
        stream = sys.stdout if file is None else file
        lines = _lines(header)
        head = f"Epoch : {int(epoch):10d}"
        if iter is not None:
            head += f"(i = {int(iter):7d})"
        if timeElapsed is not None:
            head += f", {float(timeElapsed) * 1000:12.4f} ms elapsed"
        lines.append(head)
        for phase in (self.training, self.testing):
            text = phase.displayString()
            if text is not None:
                lines.append(text)
        lines += _lines(footer)
        isatty = getattr(stream, "isatty", None)
        if self.linesPrinted and callable(isatty) and isatty():
            stream.write(f"\033[{self.linesPrinted}F\033[J")
        stream.write("\n".join(lines) + "\n")
        stream.flush()
        self.linesPrinted = len(lines)

    def plot(
        self, figures: Sequence[int] = (1, 2), saveFig: bool = False, path: str | os.PathLike[str] = ""  # noqa: N803
    ) -> tuple[Any, Any]:
        """Plot the loss (log scale) and accuracy logs against the epoch.

        With an interactive matplotlib backend the curves go to pyplot figures number
        ``figures[0]`` and ``figures[1]`` (cleared first); without a display they are drawn
        off-screen. Nothing blocks.

        Args:
            figures: pyplot figure numbers of the loss and accuracy plots.
            saveFig: Write ``<path>loss.png`` and ``<path>accuracy.png``.
            path: Prefix of the saved files (a folder needs its trailing ``/``).

        Returns:
            ``(loss_figure, accuracy_figure)``.

        Raises:
            ConfigError: If ``figures`` is not two figure numbers.
        """
        from ..plots import learning_curve
        from .io import _interactive_backend

        if len(tuple(figures)) != 2:
            raise ConfigError(f"figures must be two figure numbers (loss, accuracy), got {figures!r}")
        drawn = []
        for number, ylabel, attr, logy in (
            (figures[0], "Loss", "lossLog", True),
            (figures[1], "Accuracy", "accuracyLog", False),
        ):
            series = {
                name: getattr(phase, attr)
                for name, phase in (("Training", self.training), ("Testing", self.testing))
                if any(v is not None for v in getattr(phase, attr))
            }
            ax = None
            if _interactive_backend():
                from matplotlib import pyplot as plt

                fig = plt.figure(number)
                fig.clf()
                ax = fig.add_subplot()
            fig = learning_curve(series, ylabel=ylabel, logy=logy, ax=ax)
            if saveFig:
                fig.savefig(f"{os.fspath(path)}{ylabel.lower()}.png")
            drawn.append(fig)
        return drawn[0], drawn[1]

    def save(self, filename: str | os.PathLike[str] = "") -> None:
        """Write the logs as text: ``<filename>loss.txt`` and ``<filename>accuracy.txt``.

        Each file has a ``#  Train  Test`` header and one row per epoch; a missing value
        (a phase that saw no sample, or a shorter log) is written as ``nan``.
        """
        prefix = os.fspath(filename)
        rows = max(len(self.training.lossLog), len(self.testing.lossLog))
        for name, attr in (("loss", "lossLog"), ("accuracy", "accuracyLog")):
            train = _column(getattr(self.training, attr), rows)
            test = _column(getattr(self.testing, attr), rows)
            with open(f"{prefix}{name}.txt", "w", encoding="utf-8") as out:
                out.write(f"#{'Train':>11s} {'Test':>12s}\n")
                for a, b in zip(train, test, strict=True):
                    out.write(f"{a:12.6g} {b:12.6g}\n")

    def load(self, filename: str | os.PathLike[str] = "", numEpoch: int | None = None, modulo: int = 1) -> int:  # noqa: N803
        """Read logs written by :meth:`save` (to resume a run).

        Args:
            filename: The prefix given to :meth:`save`.
            numEpoch: Number of epochs to keep; ``None`` keeps them all.
            modulo: Epoch interval at which the run was checkpointed (with ``numEpoch``
                ``None``, the kept epochs are ``rows // modulo * modulo + 1`` at most).

        Returns:
            The epoch to resume at: ``numEpoch``, or ``rows // modulo * modulo + 1``
            (slayerPytorch's rule).

        Raises:
            DatasetNotFoundError: If a log file is missing.
            DataError: If a file does not hold two numeric columns.
            ConfigError: If ``numEpoch`` or ``modulo`` is not a non-negative / positive int.
        """
        if isinstance(modulo, bool) or not isinstance(modulo, int) or modulo < 1:
            raise ConfigError(f"modulo must be a positive int, got {modulo!r}")
        if numEpoch is not None and (isinstance(numEpoch, bool) or not isinstance(numEpoch, int) or numEpoch < 0):
            raise ConfigError(f"numEpoch must be None or a non-negative int, got {numEpoch!r}")
        prefix = os.fspath(filename)
        logs = {}
        for name in ("loss", "accuracy"):
            file = Path(f"{prefix}{name}.txt")
            if not file.is_file():
                raise DatasetNotFoundError(f"learning statistics file not found: {str(file)!r}")
            try:
                table = np.loadtxt(file, ndmin=2, comments="#")
            except ValueError as exc:
                raise DataError(f"{str(file)!r} is not a table of numbers: {exc}") from None
            if table.size and table.shape[1] != 2:
                raise DataError(f"{str(file)!r} must hold two columns (Train, Test), got {table.shape[1]}")
            logs[name] = table.reshape(-1, 2)
        epochs = logs["loss"].shape[0] // modulo * modulo + 1 if numEpoch is None else numEpoch
        for col, phase in ((0, self.training), (1, self.testing)):
            loss = logs["loss"][:epochs, col]
            accuracy = logs["accuracy"][:epochs, col]
            phase.lossLog = [None if math.isnan(v) else float(v) for v in loss]
            phase.accuracyLog = [None if math.isnan(v) else float(v) for v in accuracy]
            phase.minloss = float(np.nanmin(loss)) if np.any(~np.isnan(loss)) else None
            phase.maxAccuracy = float(np.nanmax(accuracy)) if np.any(~np.isnan(accuracy)) else None
        return epochs
