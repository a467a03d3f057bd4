"""Where a tracked campaign is recorded: the :class:`CampaignSink` seam.

A :class:`~experiments.tracked_campaign.TrackedCampaign` computes; a sink records. Two sinks
implement the contract below: :class:`~experiments.mlflow_sink.MlflowSink` (an MLflow run, the
default) and :class:`~experiments.local_sink.LocalSink` (a plain folder, no tracking store:
``tracking: {sink: local, dir: PATH}`` or ``--sink local --sink-dir PATH``). Both keep the same
files in the run's local folder (``experiments/artifacts.py``), so ``analysis.load_results`` and
``python -m experiments.report --from-results`` read either.

The contract (``tests/experiments/sink_conformance.py`` checks it for every sink):

* **Identity.** A campaign's run is found by its kind and config hash (and shard, parent);
  :meth:`CampaignSink.find` never creates anything. ``resume`` is a run id, ``"auto"`` (the
  finished run if any, which is then not computed again, else the latest unfinished one) or
  ``"never"``; a run that another live process still owns is a :class:`ConfigError`.
* **Open.** :meth:`create` makes a new run, RUNNING and owned by this process;
  :meth:`claim` (after :meth:`create`, or after :meth:`find` returned an unfinished run) marks
  the attempt (attempt number, owner, heartbeat, rounds to do) and sets the run RUNNING.
* **Chunks.** :meth:`write_chunk` accepts a finished chunk's rows. A chunk counts as done only
  once durable: :meth:`done_rows` of any later attempt returns exactly the rounds of the chunks
  that were durable when the process died, each once, however often a chunk was written; a
  chunk whose file is damaged is left out (its rounds are recomputed). The sink may write in a
  bounded background writer (:mod:`experiments.chunk_writer`): :meth:`write_chunk` then blocks
  while the writer is full (back-pressure), and :meth:`drain` returns once every accepted chunk
  is durable, or raises the writer's error. A chunk's durable write also updates the run's
  heartbeat and its count of rounds done (so a heartbeat always means "chunks are landing").
* **End.** :meth:`finish` records the result files of the run's local folder and marks it
  FINISHED; :meth:`fail` marks it ``KILLED`` or ``FAILED`` with a one-line reason that
  :meth:`status` returns; a later :meth:`find` + :meth:`claim` resumes a killed or failed run.
* **Read back.** :meth:`read_result` returns the finished run's
  :class:`~spikefi.campaign.CampaignResult` (the table and its metadata).
* **Losing the store.** A sink that records into a service (MLflow) keeps computing when the
  service fails: it sets :attr:`offline_reason` and keeps every file locally; the campaign then
  ends with :class:`~experiments.run_lookup.TrackingLostError` (exit code 3).

All methods are called from one thread (the engine's); only the sink's own writer thread
writes chunks beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from spikefi.errors import ConfigError

__all__ = ["SinkRun", "SetupInfo", "CampaignSink", "SINKS", "DEFAULT_SINK", "check_sink_choice",
           "RUNNING", "FINISHED", "FAILED", "KILLED"]

RUNNING, FINISHED, FAILED, KILLED = "RUNNING", "FINISHED", "FAILED", "KILLED"
#: the sinks ``tracking.sink`` / ``--sink`` name
SINKS = ("mlflow", "local")
DEFAULT_SINK = "mlflow"


@dataclass
class SinkRun:
    """A run as a sink sees it."""

    run_id: str
    status: str
    #: attempts made so far (1 for a run just created)
    attempts: int = 1
    name: str = ""
    #: the ``round_metrics`` mode the run was created with (None: unknown, an older run)
    round_metrics: str | None = None
    #: the run's summary metrics (a finished run), by metric name
    metrics: dict[str, float] = field(default_factory=dict)
    local_dir: str | None = None
    reason: str = ""


@dataclass
class SetupInfo:
    """What :meth:`CampaignSink.setup` records once per run (idempotent on resume)."""

    spec: Any
    cmpn: Any
    golden: Mapping[str, Any]
    config: Mapping[str, Any]
    spec_data: Mapping[str, Any]
    params: Mapping[str, str]
    tags: Mapping[str, str]
    golden_metrics: Mapping[str, float]


@runtime_checkable
class CampaignSink(Protocol):
    """Records one campaign (or shard) run; see the module docstring for the contract."""

    #: ``"mlflow"`` or ``"local"``
    name: str
    #: why the store stopped accepting records (None while it works); files stay local
    offline_reason: str | None
    #: the run this sink records (None before :meth:`create` or :meth:`claim`)
    run_id: str | None

    @property
    def local_dir(self) -> Path:
        """The run's local folder (chunks, results, plots...)."""
        ...

    def find(self, kind: str, config_hash: str, resume: str, *, shard: str | None = None,
             spec_data: Mapping[str, Any] | None = None) -> SinkRun | None:
        """The run to continue (possibly FINISHED), or None for a new one; creates nothing."""
        ...

    def create(self, *, name: str, kind: str, config_hash: str, round_metrics: str,
               shard: str | None = None) -> SinkRun:
        """A new RUNNING run owned by this process."""
        ...

    def claim(self, run: SinkRun, *, attempt: int, rounds_total: int, campaign_rounds: int, resumed: bool,
              shard: tuple[int, int] | None = None) -> None:
        """Starts an attempt on ``run`` (RUNNING, owner, heartbeat, rounds to do)."""
        ...

    def setup(self, make: Callable[[], SetupInfo]) -> None:
        """Params, spec, config, golden baseline and model (``make()``'s), once per run."""
        ...

    def plan(self, selected: set[int] | None) -> None:
        """The rounds whose per-round points the store keeps (None: all)."""
        ...

    def done_rows(self, wanted: set[int]) -> dict[int, dict[str, Any]]:
        """The durable rows of earlier attempts (rounds in ``wanted``), each round once."""
        ...

    def write_chunk(self, rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any], rounds_total: int) -> None:
        """Accepts a finished chunk (durable now, or once :meth:`drain` returns)."""
        ...

    def drain(self, timeout: float | None = None) -> bool:
        """True once every accepted chunk is durable (False: ``timeout`` passed first);
        raises the writer's error."""
        ...

    def compact(self, paths: Sequence[Path] | None = None) -> Path | None:
        """Merges chunk files (default: all of the run's) into one: written and stored before
        the merged ones are removed, so every round stays readable at every moment."""
        ...

    def heartbeat(self) -> None:
        """Marks the run alive now (the writer does so with every durable chunk)."""
        ...

    def read_table(self, wanted: set[int]) -> tuple[Any, list[dict[str, Any]]]:
        """The durable rows of ``wanted`` (one per round, by round id) and the chunks' infos."""
        ...

    def finish(self, summary: Mapping[str, Any], extra: Mapping[str, float], table: Any, mode: Any,
               description: str) -> None:
        """Records the result files in :attr:`local_dir` and marks the run FINISHED (when the
        store works: else :attr:`offline_reason` says why and the run stays RUNNING)."""
        ...

    def fail(self, status: str, reason: str) -> None:
        """Marks the run ``KILLED`` or ``FAILED`` with ``reason`` (best effort)."""
        ...

    def status(self, run_id: str) -> tuple[str, str]:
        """``(status, reason)`` of a run."""
        ...

    def read_result(self, run_id: str) -> Any:
        """The :class:`~spikefi.campaign.CampaignResult` of a finished run."""
        ...

    def close(self) -> None:
        """Stops the writer (after :meth:`drain`, or abandoning what is queued)."""
        ...


def check_sink_choice(sink: Any, directory: Any) -> tuple[str, str | None]:
    """``(sink, dir)`` from ``tracking.sink`` / ``tracking.dir``, checked: a one-line
    :class:`ConfigError` names a bad value."""
    name = str(sink or DEFAULT_SINK).strip().lower()
    if name not in SINKS:
        raise ConfigError(f"tracking.sink must be one of {', '.join(SINKS)}, got {sink!r}")
    folder = str(directory).strip() if directory not in (None, "") else None
    if name == "local" and not folder:
        raise ConfigError("tracking.sink local needs a folder: tracking.dir (or --sink-dir PATH)")
    return name, folder
