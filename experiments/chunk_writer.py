"""A bounded background writer: the engine keeps computing while finished chunks are written.

:class:`ChunkWriter` runs one thread (standard library ``threading`` and ``queue``) that makes
chunks durable in the order they were handed in, through the sink's own synchronous write.

* **Back-pressure.** The queue holds at most ``capacity`` chunks; :meth:`ChunkWriter.submit`
  blocks while it is full (the engine waits for the writer, never the other way round unless
  the writer falls that far behind). Memory is bounded by ``capacity`` chunks of rows.
* **Durable means written.** A chunk counts as done only once the sink's write returned; a
  chunk still queued when the process dies is not on disk, so a resume recomputes it (never
  skips it, never holds it twice: chunk files are replaced atomically, rows are read back
  once per round).
* **Errors.** The first exception of a write (any ``BaseException``: a disk error, a test's
  ``KeyboardInterrupt``) stops the writer; the engine's thread raises that same exception at its
  next :meth:`submit` or :meth:`drain`. Tracking-store failures never get here: the MLflow sink
  turns them into its offline mode (results kept locally, exit code 3) inside the write.
* **Signals.** SIGINT and SIGTERM arrive in the engine's thread; the tracked campaign then
  calls :meth:`drain` with a time limit (``DRAIN_ON_SIGNAL_S``): the chunks already queued
  (at most ``capacity``) are written before the run is marked KILLED; whatever is not written
  by then is abandoned and recomputed on resume.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ChunkWriter", "DEFAULT_CAPACITY", "DRAIN_ON_SIGNAL_S"]

#: chunks the writer may hold (queued, besides the one it writes) by default
DEFAULT_CAPACITY = 4
#: how long a run stopped by SIGINT/SIGTERM waits for queued chunks before it is marked KILLED
DRAIN_ON_SIGNAL_S = 60.0

_STOP = object()


class ChunkWriter:
    """One writer thread in front of ``write`` (see the module docstring).

    Args:
        write: makes one chunk durable; called with the arguments given to :meth:`submit`.
        capacity: chunks the queue holds before :meth:`submit` blocks (>= 1).
        on_wait: called once, the first time :meth:`submit` has to wait (a progress line).
    """

    def __init__(self, write: Callable[..., None], capacity: int = DEFAULT_CAPACITY,
                 on_wait: Callable[[int], None] | None = None) -> None:
        if int(capacity) < 1:
            raise ValueError(f"the chunk writer's capacity must be >= 1, got {capacity!r}")
        self._write = write
        self.capacity = int(capacity)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.capacity)
        self._error: BaseException | None = None
        self._on_wait = on_wait
        self._waited = False
        #: seconds :meth:`submit` spent blocked (back-pressure)
        self.blocked_s = 0.0
        self._thread = threading.Thread(target=self._loop, name="spikefi-chunk-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is _STOP:
                    return
                if self._error is None:
                    args, kwargs = job
                    self._write(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the engine's thread
                self._error = exc
            finally:
                self._queue.task_done()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, *args: Any, **kwargs: Any) -> None:
        """Queues one chunk; blocks while the queue is full; raises the writer's error."""
        self._check()
        job = (args, kwargs)
        try:
            self._queue.put_nowait(job)
            return
        except queue.Full:
            pass
        if self._on_wait is not None and not self._waited:
            self._waited = True
            self._on_wait(self.capacity)
        t0 = time.perf_counter()
        while True:
            self._check()
            try:
                self._queue.put(job, timeout=0.2)
                break
            except queue.Full:
                continue
        self.blocked_s += time.perf_counter() - t0

    def pending(self) -> int:
        """Chunks accepted but not yet durable (queued or being written)."""
        return self._queue.unfinished_tasks

    def drain(self, timeout: float | None = None) -> bool:
        """Waits until every accepted chunk is durable (True), or ``timeout`` seconds passed
        (False); raises the writer's error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                done.wait(0.5 if left is None else min(left, 0.5))
        self._check()
        return not self._queue.unfinished_tasks

    def close(self, timeout: float = 5.0) -> None:
        """Stops the thread once the queue is empty (queued chunks are abandoned after
        ``timeout`` seconds: the thread is a daemon, it ends with the process)."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)
