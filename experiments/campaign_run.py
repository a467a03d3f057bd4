"""A fault-injection campaign as one resumable MLflow run.

:class:`TrackedCampaign` builds a campaign from a :class:`~spikefi.campaign.CampaignSpec`,
creates (or resumes) its run and evaluates it chunk by chunk. Each finished chunk is
flushed before the next one starts, in this order:

1. its rows are written atomically to ``<output_dir>/<run id>/progress/chunks/`` (local);
2. that file is logged as an artifact under ``progress/chunks/``;
3. its metric points (step = round id) and a heartbeat go out in one ``log_batch``.

A resume (``--resume RUN_ID``, or automatic by config hash, shard and parent) reads the
finished rounds back from the local folder and the run's artifacts, uploads what only
exists locally, logs only the metric points that are missing, and evaluates only the
remaining rounds — in the ORIGINAL run. If the tracking server fails mid-campaign the
computation goes on, everything stays in the local folder, and a later ``--resume``
uploads it without recomputing.

The implementation is split by concern: :mod:`experiments.run_lookup` (run selection and
liveness, hashing), :mod:`experiments.chunk_flush` (what is written and logged per chunk),
:mod:`experiments.tracked_campaign` (:class:`TrackedCampaign`) and :mod:`experiments.shards`
(shard parents and merging). This module keeps the names scripts and tests import.
"""

from __future__ import annotations

from .chunk_flush import (
    ROUND_METRICS,
    SUMMARY_METRICS,
    _test_hold,
    attempts_wall_seconds,
    campaign_kind,
    campaign_params,
    golden_metrics,
    log_dataset_input,
    log_missing_round_metrics,
    publish_results,
    round_metric_points,
    write_setup_files,
)
from .run_lookup import (
    DEFAULT_STALE_AFTER_S,
    KIND_CAMPAIGN,
    KIND_LAUNCHER,
    KIND_SHARD,
    KIND_SHARDED,
    KIND_SWEEP,
    T,
    Terminated,
    TrackingLostError,
    _terminate,
    campaign_hash,
    exit_code_for,
    hashed_spec,
    install_signal_handlers,
    mark_stale_runs,
    network_digest,
    point_launcher,
    run_liveness,
    say,
    select_run,
)
from .shards import find_or_create_shard_parent, merge_shards
from .tracked_campaign import TrackedCampaign

__all__ = [
    "TrackedCampaign", "campaign_hash", "mark_stale_runs", "select_run", "merge_shards", "Terminated",
    "TrackingLostError", "install_signal_handlers", "ROUND_METRICS", "KIND_CAMPAIGN", "KIND_SHARD",
    "KIND_SHARDED", "KIND_SWEEP", "KIND_LAUNCHER", "SUMMARY_METRICS", "DEFAULT_STALE_AFTER_S", "T",
    "attempts_wall_seconds", "campaign_kind", "campaign_params", "golden_metrics", "log_dataset_input",
    "log_missing_round_metrics", "publish_results", "round_metric_points", "write_setup_files", "exit_code_for",
    "hashed_spec", "network_digest", "point_launcher", "run_liveness", "say", "find_or_create_shard_parent",
    "_terminate", "_test_hold",
]
