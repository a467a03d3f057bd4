"""SpikeFI 1.3's ``spikefi.utils.progress``: progress of a campaign's rounds, epochs and batches.

:class:`CampaignProgress` counts what is done and times the run; :func:`refresh_progress_job`
prints its status line periodically (SpikeFI runs it in a thread) until the run ends.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from ..errors import ConfigError

__all__ = ["CampaignProgress", "refresh_progress_job"]

_MODES = ("", "verbose", "silent")


class CampaignProgress:
    """Counters and timer of a campaign run (evaluation or training).

    Args:
        batches_num: Batches per pass over the data.
        rounds_num: Fault rounds.
        epochs_num: Training epochs (0 for an evaluation).
    """

    def __init__(self, batches_num: int, rounds_num: int, epochs_num: int = 0) -> None:
        for name, value in (("batches_num", batches_num), ("rounds_num", rounds_num), ("epochs_num", epochs_num)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be an int >= 0, got {value!r}")
        self.batches_num, self.rounds_num, self.epochs_num = batches_num, rounds_num, epochs_num
        self.round = self.epoch = self.batch = self.steps = 0
        self.train_loss: float | None = None
        self.train_accuracy: float | None = None
        self._start: float | None = None
        self._end: float | None = None
        self.done = threading.Event()

    @property
    def total_steps(self) -> int:
        """Batches to process in the whole run."""
        return self.batches_num * self.rounds_num * max(self.epochs_num, 1)

    def timer(self) -> None:
        """First call starts the clock, the second stops it (and marks the run done)."""
        if self._start is None:
            self._start = time.perf_counter()
        else:
            self._end = time.perf_counter()
            self.done.set()

    def get_duration_sec(self) -> float:
        """Seconds between the two :meth:`timer` calls (so far, while running)."""
        if self._start is None:
            return 0.0
        return (self._end or time.perf_counter()) - self._start

    def step_round(self) -> None:
        """A new round starts."""
        self.round += 1
        self.epoch = self.batch = 0

    def step_epoch(self) -> None:
        """A new epoch starts."""
        self.epoch += 1
        self.batch = 0

    def step_batch(self) -> None:
        """A new batch starts."""
        self.batch += 1

    def step(self) -> None:
        """A batch is done."""
        self.steps += 1

    def set_train(self, loss: float | None, accuracy: float | None) -> None:
        """Running training loss and accuracy shown in the status line."""
        self.train_loss, self.train_accuracy = loss, accuracy

    def fraction(self) -> float:
        """Fraction of the run done, in [0, 1]."""
        return min(1.0, self.steps / self.total_steps) if self.total_steps else 1.0

    def status(self) -> str:
        """One status line."""
        parts = [f"{self.fraction():6.1%}", f"round {self.round}/{self.rounds_num}"]
        if self.epochs_num:
            parts.append(f"epoch {self.epoch}/{self.epochs_num}")
        parts.append(f"batch {self.batch}/{self.batches_num}")
        if self.train_loss is not None:
            parts.append(f"loss {self.train_loss:.4g}")
        if self.train_accuracy is not None:
            parts.append(f"accuracy {self.train_accuracy:.2%}")
        parts.append(f"{self.get_duration_sec():.1f} s")
        return " | ".join(parts)


def refresh_progress_job(progress: CampaignProgress, period: float = 0.1, mode: str | None = "",
                         file: TextIO | None = None) -> None:
    """Print ``progress.status()`` every ``period`` seconds until the run is done.

    Args:
        progress: The progress to show.
        period: Seconds between refreshes (> 0).
        mode: ``""`` (one line, rewritten in place), ``"verbose"`` (a new line each time)
            or ``"silent"``/``None`` (nothing).
        file: Stream (default ``sys.stdout``).

    Raises:
        ConfigError: If ``mode`` or ``period`` is invalid.
    """
    if mode is None or mode == "silent":
        progress.done.wait()
        return
    if mode not in _MODES:
        raise ConfigError(f"progress mode must be one of {list(_MODES)} or None, got {mode!r}")
    if not period > 0:
        raise ConfigError(f"period must be > 0 seconds, got {period!r}")
    stream = file or sys.stdout
    end = "\n" if mode == "verbose" else "\r"
    while not progress.done.wait(period):
        stream.write(progress.status() + end)
        stream.flush()
    stream.write(progress.status() + "\n")
    stream.flush()
