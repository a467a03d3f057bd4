"""Track a campaign built in Python as an MLflow run, in one call.

A :class:`~spikefi.campaign.Campaign` of your own network (any slayerPytorch-style module),
built and filled with faults in Python, becomes the same kind of MLflow run as a campaign
from a config (``spikefi.kind=campaign``): params naming the faults in plain words, the
golden baseline, per-fault metric histories (``round_acc``, ``round_critical``,
``round_changed``, step = round id, logged with ``log_batch``; at most ``round_metrics`` points
per key, default 1,000), the sorted curves ``curve_drop`` and ``curve_crit``, summary metrics, a run
description, and the artifact tree (per-fault table, spike statistics, plots), so that the
MLflow UI compares it with other campaigns and ``python -m experiments.report`` reports it::

    from experiments.track import track_campaign
    from spikefi.campaign import Campaign

    cmpn = Campaign(my_net, test_set, seed=0)
    cmpn.exhaustive(DeadNeuron(), layers=["fc1"])
    run = track_campaign(cmpn, "dead-fc1")          # runs it, tracked; returns run id, summary, files
    # or, for a result computed already: track_campaign(cmpn, "dead-fc1", result=cmpn.run())

Unlike config campaigns, such a run is not resumable after a crash (there is no config to
resume from): it is marked FAILED with the reason and the campaign runs again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from analysis.schema import ROUND_METRICS_DEFAULT

from .config import DEFAULT_EXPERIMENT

__all__ = ["track_campaign"]


def track_campaign(cmpn: Any, name: str = "campaign", *, result: Any = None, experiment: str | None = None,
                   tracking_uri: str | None = None, engine: str = "sequential", chunk_size: int = 64,
                   early_stop_tolerance: float = 0.0, output_dir: str | Path = "outputs/campaigns",
                   network: str | None = None, dataset: str | None = None, progress: bool = True,
                   round_metrics: str | int = ROUND_METRICS_DEFAULT) -> dict[str, Any]:
    """Runs ``cmpn`` (unless ``result`` is given) and logs it as one MLflow campaign run.

    Args:
        cmpn: the campaign, with its rounds.
        name: the run name (and the campaign's name in reports).
        result: an existing :class:`~spikefi.campaign.CampaignResult` of ``cmpn`` to log
            instead of running the campaign.
        experiment: MLflow experiment (default ``spikefi``; created with the classic-view tag).
        tracking_uri: default ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``.
        engine, chunk_size, early_stop_tolerance: how the campaign runs (see ``Campaign.iter_chunks``).
        output_dir: the run's local files go to ``output_dir/<run id>/``.
        network: how the network is named in the run's params (default ``python:<class name>``).
        dataset: how the data is named (default ``python``).
        progress: show a progress bar.
        round_metrics: per-round metric points per key: ``"all"``, ``"none"`` or at most N
            (default 1,000; rounds on a stride, see ``experiments/round_metrics.py``).

    Returns:
        ``{"run_id", "summary", "local_dir", "tracking_uri", "result"}``.

    Raises:
        SpikeFIError: the tracking server is unreachable, the campaign has no rounds, or
            ``round_metrics`` is not ``all``, ``none`` or a positive number.
    """
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from analysis.describe import describe_quantization
    from analysis.schema import PARAM_ROUND_METRICS, TAG_ARTIFACT_SCHEMA, TAG_CAMPAIGN_KIND, TAG_ROUND_METRICS
    from spikefi.campaign import CampaignResult
    from spikefi.campaign.result import RESULT_SCHEMA_VERSION
    from spikefi.errors import ConfigError

    from . import artifacts as art
    from .chunk_flush import (
        THROUGHPUT_METRIC,
        describe_campaign,
        fault_params,
        golden_metrics,
        log_curves,
        log_round_table,
        publish_results,
        round_metric_points,
    )
    from .deployment_tracking import deployment_metrics, deployment_params
    from .round_metrics import mode_label, parse_round_metrics, selected_rounds
    from .run_lookup import KIND_CAMPAIGN, T, say
    from .tracking import common_tags, ensure_experiment, probe_tracking, resolve_tracking_uri, where_line

    if not cmpn.rounds:
        raise ConfigError("the campaign has no rounds: add faults (exhaustive, then_inject) before tracking it")
    mode = parse_round_metrics(round_metrics)
    selected = selected_rounds([r.round_id for r in cmpn.rounds], mode)
    uri = resolve_tracking_uri(tracking_uri)
    probe_tracking(uri)
    client = MlflowClient(uri)
    experiment_id = ensure_experiment(client, experiment or DEFAULT_EXPERIMENT)
    net = cmpn.net
    network = network or f"python:{type(net).__name__}"
    dataset = dataset or "python"
    run_id = client.create_run(experiment_id, run_name=name, tags={
        "mlflow.runName": name, TAG_ROUND_METRICS: mode_label(mode),
        **common_tags(KIND_CAMPAIGN, **{TAG_CAMPAIGN_KIND: "python", TAG_ARTIFACT_SCHEMA: art.ARTIFACT_SCHEMA_VERSION}),
    }).info.run_id
    root = Path(output_dir) / run_id

    def describe(summary: Any = None) -> str:
        return describe_campaign(name, cmpn, dataset, network, cmpn.quantization, engine, cmpn.seed, summary)

    try:
        t0 = time.time()
        golden = cmpn.golden()
        rounds = cmpn.rounds
        params = {"campaign": name, "network": network,
                  "network.architecture": str(getattr(net, "architecture", None) or type(net).__name__),
                  "dataset": dataset, "dataset.samples": cmpn.num_samples, **fault_params(rounds),
                  "rounds": len(rounds), "n_faults": sum(len(f.positions) for r in rounds for f in r.faults),
                  "sampling": "python", "seed": cmpn.seed, "engine": engine, "chunk_size": chunk_size,
                  "batch_size": cmpn.batch_size, "early_stop_tolerance": early_stop_tolerance,
                  "quantization": describe_quantization(cmpn.quantization).split(";")[0], "device": str(cmpn.device),
                  "dtype": str(cmpn.dtype).replace("torch.", ""), "ci_confidence": 0.95,
                  "snn_path": cmpn.snn_path,
                  PARAM_ROUND_METRICS: mode_label(mode), **deployment_params(cmpn.quantization)}
        now = int(time.time() * 1000)
        client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                         metrics=[Metric(k, v, now, 0) for k, v in {**golden_metrics(golden),
                                                                     **deployment_metrics(cmpn)}.items()],
                         tags=[RunTag("mlflow.note.content", describe()), RunTag(T + "local_dir", str(root.resolve()))])
        compute_s = 0.0
        if result is None:
            rows: list[dict[str, Any]] = []
            for chunk in cmpn.iter_chunks(engine, chunk_size, progress=progress, early_stop_tolerance=early_stop_tolerance):
                rows.extend(chunk.rows)
                compute_s += chunk.seconds
                points = round_metric_points(chunk.rows, int(time.time() * 1000), selected)
                if points:
                    client.log_batch(run_id, metrics=points)
            meta = cmpn.metadata(engine, compute_s, early_stop_tolerance)
            result = CampaignResult.from_rows(rows, {"schema_version": RESULT_SCHEMA_VERSION, **meta, "name": name})
        else:
            compute_s = float(result.meta.get("seconds", 0.0))
            points = round_metric_points(result.table.to_dict("records"), int(time.time() * 1000), selected)
            for i in range(0, len(points), 999):
                client.log_batch(run_id, metrics=points[i:i + 999])
            result.meta.setdefault("name", name)
        summary = art.write_results(root, result)
        skipped = art.write_plots(root, result.table, result.meta.get("layers"))
        art.write_manifest(root, KIND_CAMPAIGN, run_id=run_id, skipped_plots=skipped)
        extra = {"compute_s": compute_s, "duration_s": time.time() - t0,
                 THROUGHPUT_METRIC: len(result.table) * cmpn.num_samples / compute_s if compute_s > 0 else 0.0}
        publish_results(client, run_id, root, summary, extra, lambda what, fn: fn())
        log_curves(client, run_id, result.table, float(summary["golden_accuracy"]), mode, lambda what, fn: fn())
        log_round_table(client, run_id, result.table, lambda what, fn: fn())
        client.log_batch(run_id, tags=[RunTag("mlflow.note.content", describe(summary)),
                                       RunTag(T + "rounds_done", str(len(result.table))),
                                       RunTag(T + "status_reason", "finished")])
        client.set_terminated(run_id, "FINISHED")
    except BaseException as exc:
        client.set_tag(run_id, T + "status_reason", f"{type(exc).__name__}: {exc}"[:5000])
        client.set_terminated(run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    say(f"campaign {name!r} tracked as MLflow run {run_id}: critical-fault rate {summary['critical_fault_rate']:.4f}; "
        f"files in {root}")
    say(where_line(uri, run_id, experiment_id))
    return {"run_id": run_id, "summary": summary, "local_dir": str(root), "tracking_uri": uri, "result": result}

