"""Track a campaign built in Python as an MLflow run, in one call.

A :class:`~spikefi.campaign.Campaign` of your own network (any slayerPytorch-style module),
built and filled with faults in Python, becomes the same kind of MLflow run as a campaign
from a config (``spikefi.kind=campaign``): params naming the faults in plain words, the
golden baseline, per-fault metric histories (``round_acc``, ``round_critical``,
``round_changed``, step = round id, logged with ``log_batch``; at most ``round_metrics`` points
per key, default 1,000), the sorted curves ``curve_drop`` and ``curve_crit``, summary metrics, a run
description, and the artifact tree (per-fault table, spike statistics, plots), so that the
MLflow UI compares it with other campaigns and ``python -m experiments.report`` reports it. Like
config runs it stores the golden baseline and model (``golden/``, :func:`write_golden`), and it
logs into the experiment MLflow's fluent API would (:func:`resolve_experiment`:
``mlflow.set_experiment``, ``MLFLOW_EXPERIMENT_NAME``)::

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

__all__ = ["track_campaign", "resolve_experiment", "write_golden"]


def resolve_experiment(client: Any, experiment: str | None = None) -> str:
    """The experiment id a Python-tracked campaign logs into, as MLflow's fluent API chooses
    it: ``experiment`` (a name) when given; else the active experiment
    (``mlflow.set_experiment``); else ``MLFLOW_EXPERIMENT_NAME``, else ``MLFLOW_EXPERIMENT_ID``;
    else ``spikefi``. A named experiment is created when missing (with the classic-view tag)."""
    import os

    from mlflow.exceptions import MlflowException

    from spikefi.errors import ConfigError

    from .tracking import ensure_experiment, mark_experiment_kind

    if experiment:
        return ensure_experiment(client, experiment)
    import mlflow.tracking.fluent as fluent

    active = getattr(fluent, "_active_experiment_id", None)
    if active:
        try:
            exp = client.get_experiment(active)
        except MlflowException:
            exp = None
        if exp is not None and exp.lifecycle_stage == "active":
            mark_experiment_kind(client, exp.experiment_id)
            return exp.experiment_id
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "").strip()
    if name:
        return ensure_experiment(client, name)
    given = os.environ.get("MLFLOW_EXPERIMENT_ID", "").strip()
    if given:
        try:
            exp = client.get_experiment(given)
        except MlflowException:
            raise ConfigError(f"MLFLOW_EXPERIMENT_ID={given} names no experiment of {client.tracking_uri}") from None
        mark_experiment_kind(client, exp.experiment_id)
        return exp.experiment_id
    return ensure_experiment(client, DEFAULT_EXPERIMENT)


def write_golden(root: Path, cmpn: Any, golden: Any, network: str) -> dict[str, str]:
    """The golden baseline and model of a Python-built campaign under ``root/golden/``, as a
    config run stores them: ``baseline.json``, the network (a spikefi ``SpikingNetwork`` as its
    plain-data checkpoint and SLAYER yaml, which ``load_network`` reads; any other module as
    its ``state_dict`` of plain tensors, ``torch.load(..., weights_only=True)``) and the
    ``network.json`` record with the network's digest. Returns ``{"network.digest": ...}``."""
    import torch

    from spikefi.zoo.architectures import SpikingNetwork
    from spikefi.zoo.serialization import save_network

    from . import artifacts as art
    from .provenance import network_digests, write_network_record

    art.write_json(root / "golden" / "baseline.json", dict(golden))
    model_dir = root / "golden" / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    net = cmpn.net
    if isinstance(net, SpikingNetwork):
        file = save_network(net, model_dir / f"{net.architecture}.pt", net.config).name
        section: dict[str, Any] = {"path": file}
    else:
        file = f"{type(net).__name__}.state_dict.pt"
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, model_dir / file)
        section = {"python": network}
    digests = network_digests(net)
    write_network_record(model_dir, section, digests, cmpn.quantization or None, None, file)
    return digests


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
        experiment: MLflow experiment name; default: the active experiment
            (``mlflow.set_experiment``), else ``MLFLOW_EXPERIMENT_NAME`` /
            ``MLFLOW_EXPERIMENT_ID``, else ``spikefi`` (created with the classic-view tag).
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
    from .tracking import common_tags, probe_tracking, resolve_tracking_uri, where_line

    if not cmpn.rounds:
        raise ConfigError("the campaign has no rounds: add faults (exhaustive, then_inject) before tracking it")
    mode = parse_round_metrics(round_metrics)
    selected = selected_rounds([r.round_id for r in cmpn.rounds], mode)
    uri = resolve_tracking_uri(tracking_uri)
    probe_tracking(uri)
    client = MlflowClient(uri)
    experiment_id = resolve_experiment(client, experiment)
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
        digests = write_golden(root, cmpn, golden, network)
        client.log_batch(run_id, params=[Param(k, v) for k, v in digests.items()])
        client.log_artifacts(run_id, str(root / "golden"), "golden")
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

