"""What a tracked campaign writes and logs: per-round metric points, summary metrics,
params, the dataset input, set-up files and results (the flush and resume helpers).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from analysis.describe import (
    describe_model,
    describe_quantization,
    describe_timing,
    model_parameter,
    network_label,
)
from analysis.schema import (  # noqa: F401 - the run schema, re-exported for the tracked-campaign modules
    CURVE_METRICS,
    FAULTS_INPUT_CONTEXT,
    LEGACY_METRIC_NAMES,
    PARAM_ARCHITECTURE,
    PARAM_CAMPAIGN,
    PARAM_CONFIG_HASH,
    PARAM_DATASET,
    PARAM_NETWORK,
    PARAM_RATE_SWEEP,
    PARAM_SAMPLING,
    ROUND_METRICS,
    ROUND_TABLE_VIEW,
    ROUND_TABLE_VIEW_COLUMNS,
    ROUND_TABLE_VIEW_ROWS,
    SUMMARY_METRICS,
    TAG_PREFIX,
    THROUGHPUT_METRIC,
    metric_of,
    summary_from_metrics,
)
from spikefi.campaign import CampaignSpec
from spikefi.campaign.stats import format_percent

from . import artifacts as art
from .deployment_tracking import deployment_params
from .provenance import copy_network_files, spec_network_digests, write_network_record
from .round_metrics import RoundMetricsMode, curve_metric_points, round_metric_points  # noqa: F401 - re-exported
from .run_lookup import network_digest, say


# -- shared helpers -------------------------------------------------------------------------
def _test_hold(n: int, stage: str) -> None:
    """Test hook: ``SPIKEFI_TEST_HOLD_AFTER_CHUNK=N[:rows|metrics]`` stops after the N-th flushed
    chunk (after its rows, or after its metric points too) so a test can SIGKILL the process."""
    spec = os.environ.get("SPIKEFI_TEST_HOLD_AFTER_CHUNK")
    if not spec:
        return
    count, _, where = spec.partition(":")
    if int(count) == n and (where or "metrics") == stage:
        say(f"holding after chunk {n} ({stage} flushed) for the test hook")
        time.sleep(3600)


def attempts_wall_seconds(infos: Sequence[Mapping[str, Any]], current_start: float) -> float:
    """Wall-clock seconds of all attempts: killed ones up to their last flushed chunk."""
    ends: dict[float, float] = {}
    for i in infos:
        # a merged chunk file (``FolderSink.compact``) keeps each attempt's span
        spans = i.get("spans") or [[i.get("attempt_started", current_start), i.get("finished_at", None)]]
        for start_, end_ in spans:
            start = float(start_)
            ends[start] = max(ends.get(start, start), float(end_ if end_ is not None else start))
    ends[current_start] = time.time()
    return float(sum(end - start for start, end in ends.items()))


def log_missing_round_metrics(client: MlflowClient, run_id: str, rows: Mapping[int, Mapping[str, Any]],
                              track: Callable[[str, Callable[[], Any]], Any],
                              selected: set[int] | None = None) -> dict[str, set[int]]:
    """Logs the per-round points of ``rows`` that the run's histories lack, for the rounds in
    ``selected`` only (None: every round; see :func:`~experiments.round_metrics.selected_rounds`);
    returns the steps each history holds now."""
    if selected is not None and not selected:
        return {}  # round_metrics: none -- nothing to read, nothing to log
    missing: list[Metric] = []
    now = int(time.time() * 1000)
    present: dict[str, set[int]] = {}
    wanted = {int(rid): row for rid, row in rows.items() if selected is None or int(rid) in selected}
    for key, col in ROUND_METRICS.items():
        history = track("reading metric history", lambda key=key: client.get_metric_history(run_id, key))
        if history is None:
            return {}
        have = {m.step for m in history}
        missing.extend(Metric(key, float(row[col]), now, rid) for rid, row in sorted(wanted.items()) if rid not in have)
        present[key] = have | set(wanted)
    if missing:
        track("logging metrics", lambda: client.log_batch(run_id, metrics=missing))
    return present


def log_curves(client: MlflowClient, run_id: str, table: Any, golden_accuracy: float, mode: RoundMetricsMode,
               track: Callable[[str, Callable[[], Any]], Any]) -> None:
    """Logs the sorted curves (``CURVE_METRICS``) over every round of ``table`` once: a run
    that holds one of them already (a resume after the end) is left as it is."""
    run = track("reading the run", lambda: client.get_run(run_id))
    if run is None or any(k in run.data.metrics for k in CURVE_METRICS) or not len(table):
        return
    points = curve_metric_points(table["accuracy"].tolist(), table["critical"].tolist(), golden_accuracy, mode,
                                 int(time.time() * 1000))
    track("logging curves", lambda: client.log_batch(run_id, metrics=points))


def round_table_view(table: Any) -> Any:
    """The rows and columns of ``table`` that MLflow's table view shows: every round when they
    are at most ``ROUND_TABLE_VIEW_ROWS``, else that many of the worst (most critical samples,
    then lowest accuracy, then round id), in round order."""
    view = table[[c for c in ROUND_TABLE_VIEW_COLUMNS if c in table.columns]]
    if len(view) > ROUND_TABLE_VIEW_ROWS:
        view = view.sort_values(["critical", "accuracy", "round_id"], ascending=[False, True, True],
                                kind="stable").head(ROUND_TABLE_VIEW_ROWS)
    return view.sort_values("round_id", kind="stable").reset_index(drop=True)


def log_round_table(client: MlflowClient, run_id: str, table: Any,
                    track: Callable[[str, Callable[[], Any]], Any]) -> None:
    """Registers the round table with ``log_table`` (``ROUND_TABLE_VIEW``) once per run:
    ``log_table`` appends to an existing file, so a run that has it (a resume) is left alone."""
    folder = ROUND_TABLE_VIEW.rsplit("/", 1)[0]
    listed = track("listing tables", lambda: client.list_artifacts(run_id, folder))
    if listed is None or any(f.path == ROUND_TABLE_VIEW for f in listed) or not len(table):
        return
    track("logging the round table", lambda: client.log_table(run_id, round_table_view(table), ROUND_TABLE_VIEW))


def fault_list_input(rounds: Sequence[Any], name: str, source: str) -> Any:
    """The campaign's fault list as an MLflow dataset (``round_id``, ``faults`` as in the
    result table); its digest is the sha256 (first 16 hex digits) of every round's faults."""
    import hashlib

    import mlflow.data
    import pandas as pd

    from spikefi.campaign.types import faults_json

    frame = pd.DataFrame({"round_id": [int(r.round_id) for r in rounds],
                          "faults": [faults_json(r.faults) for r in rounds]})
    sha = hashlib.sha256()
    for rid, faults in zip(frame["round_id"], frame["faults"], strict=True):
        sha.update(f"{rid}\t{faults}\n".encode())
    return mlflow.data.from_pandas(frame, source=source, name=name, digest=sha.hexdigest()[:16])


def publish_results(client: MlflowClient, run_id: str, root: Path, summary: Mapping[str, Any],
                    extra: Mapping[str, float], track: Callable[[str, Callable[[], Any]], Any]) -> None:
    """Uploads results/, spikes/, plots/ and manifest.json; logs the summary metrics that are absent."""
    for sub in ("results", "spikes", "plots"):
        if (root / sub).is_dir():
            track(f"uploading {sub}/", lambda sub=sub: client.log_artifacts(run_id, str(root / sub), sub))
    track("uploading the manifest", lambda: client.log_artifact(run_id, str(root / "manifest.json")))
    run = track("reading the run", lambda: client.get_run(run_id))
    present = run.data.metrics if run is not None else {}
    now = int(time.time() * 1000)
    values = {name: float(summary[k]) for k, name in SUMMARY_METRICS.items() if k in summary}
    values.update({k: float(v) for k, v in extra.items()})
    metrics = [Metric(k, v, now, 0) for k, v in values.items() if k not in present]
    track("logging summary metrics", lambda: client.log_batch(run_id, metrics=metrics))


def publish_finished(client: MlflowClient, run_id: str, root: Path, summary: Mapping[str, Any],
                     extra: Mapping[str, float], table: Any, mode: RoundMetricsMode, description: str | None,
                     track: Callable[[str, Callable[[], Any]], Any]) -> None:
    """Everything a finished run shows, short of its status: the result files and summary
    metrics (:func:`publish_results`), the rounds done, the curves, the round table and the
    description (None: left as it is). Shared by a campaign run's end
    (:meth:`~experiments.mlflow_sink.MlflowSink.finish`) and a sharded parent's merge
    (:func:`~experiments.shards.merge_shards`)."""
    publish_results(client, run_id, root, summary, extra, track)
    track("tagging", lambda: client.set_tag(run_id, TAG_PREFIX + "rounds_done", str(summary["rounds"])))
    log_curves(client, run_id, table, float(summary["golden_accuracy"]), mode, track)
    log_round_table(client, run_id, table, track)
    if description:
        track("describing the run", lambda: client.set_tag(run_id, "mlflow.note.content", description))


def golden_metrics(golden: Mapping[str, Any]) -> dict[str, float]:
    out = {"golden.accuracy": float(golden["accuracy"]), "golden.loss": float(golden["loss"]),
           "golden.tied_samples": float(golden["tied"]), "golden.samples": float(golden["samples"]),
           "golden.seconds": float(golden.get("seconds", 0.0))}
    out.update({f"golden.firing_rate.{k}": float(v) for k, v in golden["firing_rates"].items()})
    out.update({f"golden.spikes.{k}": float(v) for k, v in golden["spike_counts"].items()})
    return out


def campaign_kind(spec: CampaignSpec) -> str:
    kinds = []
    if spec.rounds:
        kinds.append("explicit")
    if spec.exhaustive:
        kinds.append("sampled" if all(e.get("sample") for e in spec.exhaustive) else "exhaustive")
    if getattr(spec, "rate_sweep", None):
        kinds.append("rate-sweep")
    return "+".join(kinds) or "empty"


def _dataset_root(data: Mapping[str, Any]) -> str | None:
    """The data folder a campaign reads: the config's ``root``, else (N-MNIST) the folder
    ``SPIKEFI_NMNIST_DIR`` names, resolved to an absolute path."""
    root = data.get("root") or (os.environ.get("SPIKEFI_NMNIST_DIR") if data["name"] == "nmnist" else None)
    return str(Path(root).resolve()) if root else None


def _dataset_label(data: Mapping[str, Any]) -> str:
    if data["name"] == "spiking_digits":
        return f"spiking_digits(seed={data['seed']}, test_fraction={data['test_fraction']})/{data['split']}"
    listed = data.get(f"{data['split']}_list")
    return f"{data['name']}({_dataset_root(data)})/{listed or data['split']}"


def _fault_groups(rounds: Sequence[Any]) -> list[dict[str, Any]]:
    """The campaign's faults grouped by (model, timing): model spec, timing spec, layers,
    rounds holding such a fault and sites per fault, in order of appearance."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    # the faults of an exhaustive entry share their model and timing objects: describe each
    # pair once (the objects live as long as ``rounds``, so their ids stay theirs)
    described: dict[tuple[int, int], tuple[tuple[str, str], Any, Any]] = {}
    for rnd in rounds:
        for f in rnd.faults:
            # faults of a weight-memory model (fault map, burst) are named by that model
            source = getattr(f, "source", None) or f.model
            seen = described.get((id(source), id(f.timing)))
            if seen is None:
                model, timing = source.spec(), f.timing.spec()
                key = (json.dumps(model, sort_keys=True, default=str), json.dumps(timing, sort_keys=True, default=str))
                seen = described[(id(source), id(f.timing))] = (key, model, timing)
            key, model, timing = seen
            g = groups.setdefault(key, {"model": model, "timing": timing, "target": getattr(f.model, "target", ""),
                                        "layers": {}, "rounds": set(), "sites": set()})
            g["layers"][f.layer] = None
            g["rounds"].add(rnd.round_id)
            g["sites"].add(len(f.positions))
    return list(groups.values())


def fault_params(rounds: Sequence[Any]) -> dict[str, str]:
    """``fault.model``, ``fault.parameter``, ``fault.layers``, ``fault.timing`` in plain words
    (``DeadNeuron``, ``bit 7``, ``SF3, SF4``, ``transient: time bins 10-19 of every sample``)."""
    groups = _fault_groups(rounds)
    models = list(dict.fromkeys(g["model"]["model"] for g in groups))
    per_model: dict[str, list[str]] = {}
    for g in groups:
        value = model_parameter(g["model"])
        if value:
            per_model.setdefault(g["model"]["model"], [])
            if value not in per_model[g["model"]["model"]]:
                per_model[g["model"]["model"]].append(value)
    if len(models) == 1:
        parameter = ", ".join(per_model.get(models[0], [])) or "none"
    else:
        parameter = "; ".join(f"{m}: {', '.join(v)}" for m, v in per_model.items()) or "none"
    layers = list(dict.fromkeys(layer for g in groups for layer in g["layers"]))
    timings = list(dict.fromkeys(describe_timing(g["timing"]) for g in groups))
    return {"fault.model": ", ".join(models) or "none", "fault.parameter": parameter,
            "fault.layers": ", ".join(layers) or "none", "fault.timing": "; ".join(timings) or "none"}


def campaign_params(spec: CampaignSpec, cmpn: Any, chash: str) -> dict[str, str]:
    """The run's params (values as strings, at most 6000 characters each); the fault is named
    in plain words by ``fault.model``, ``fault.parameter``, ``fault.layers`` and ``fault.timing``."""
    rounds = cmpn.rounds
    sampling = []
    if spec.rounds:
        sampling.append(f"explicit({len(spec.rounds)} rounds)")
    for e in spec.exhaustive:
        sampling.append(f"exhaustive(sample={e['sample']})" if e.get("sample") else "exhaustive")
    opts = spec.options
    data = spec.data
    params = {
        PARAM_CAMPAIGN: spec.name, PARAM_NETWORK: network_label(spec.network),
        PARAM_ARCHITECTURE: str(getattr(cmpn.net, "architecture", None) or type(cmpn.net).__name__),
        "network.sha256": network_digest(spec.network), PARAM_CONFIG_HASH: chash,
        **spec_network_digests(spec.network, cmpn.net, opts["quantization"]),
        PARAM_DATASET: _dataset_label(data), "dataset.samples": cmpn.num_samples,
        **fault_params(rounds),
        "rounds": len(rounds), "n_faults": sum(len(f.positions) for r in rounds for f in r.faults),
        PARAM_SAMPLING: "+".join(sampling) or "none",
        "seed": opts["seed"], "engine": opts["engine"], "chunk_size": opts["chunk_size"],
        "batch_size": opts["batch_size"], "early_stop_tolerance": opts["early_stop_tolerance"],
        "quantization": describe_quantization(opts["quantization"]).split(";")[0],
        "device": opts["device"], "dtype": opts["dtype"], "ci_confidence": 0.95,
        "snn_path": getattr(cmpn, "snn_path", "reference"),
        **deployment_params(opts["quantization"]),
    }
    if getattr(spec, "rate_sweep", None):
        from .rate_sweep_run import describe_rate_sweep

        params[PARAM_RATE_SWEEP] = describe_rate_sweep(spec.rate_sweep)
    return {k: str(v)[:6000] for k, v in params.items()}


#: where the result paragraph of a run description starts (replaced when the run finishes)
RESULT_HEADING = "**Result:**"


def campaign_description(spec: CampaignSpec, cmpn: Any, summary: Mapping[str, Any] | None = None) -> str:
    """The run description (``mlflow.note.content``, Markdown) of a spec's campaign: what was
    injected where and when, on which network and data, and (when finished) the headline result."""
    opts = spec.options
    return describe_campaign(spec.name, cmpn, _dataset_label(spec.data), network_label(spec.network),
                             opts["quantization"], opts["engine"], opts["seed"], summary)


def describe_campaign(name: str, cmpn: Any, dataset: str, network: str, quantization: Any, engine: str, seed: Any,
                      summary: Mapping[str, Any] | None = None) -> str:
    """A campaign's run description from its parts (see :func:`campaign_description`)."""
    lines = [f"**{name}**: fault-injection campaign of {len(cmpn.rounds)} rounds "
             f"on {cmpn.num_samples} samples of {dataset}.", ""]
    for g in _fault_groups(cmpn.rounds):
        sites = sorted(g["sites"])
        per = f"{sites[0]}" if len(sites) == 1 else f"{sites[0]}-{sites[-1]}"
        target = g["target"] if g["target"] in ("neuron", "synapse") else "neuron"
        lines.append(f"- {describe_model(g['model'])} in {', '.join(g['layers'])}: {len(g['rounds'])} rounds, "
                     f"{per} {target}{'' if per == '1' else 's'} per fault; {describe_timing(g['timing'])}")
    lines += ["", f"Network {network}; quantization: {describe_quantization(quantization)}; engine {engine}, "
                  f"seed {seed}."]
    text = "\n".join(lines)
    return with_result(text, summary) if summary else text


def with_result(description: str, summary: Mapping[str, Any]) -> str:
    """A run description whose first line is the result of ``summary`` (so that the MLflow run
    page shows it above the fold, before "Show more"), followed by what the campaign injected; an
    earlier result paragraph (first, or last as older versions wrote it) is replaced."""
    head = description
    if head.startswith(RESULT_HEADING):
        head = head.split("\n\n", 1)[1] if "\n\n" in head else ""
    head = head.split(RESULT_HEADING)[0].strip()
    golden = float(summary["golden_accuracy"])
    worst = f", worst {100 * (golden - float(summary['accuracy_min'])):.2f} pp" if "accuracy_min" in summary else ""
    result = (f"{RESULT_HEADING} {format_percent(summary['critical_fault_rate'])} of {summary['rounds']} faults "
              f"critical [{format_percent(summary['critical_fault_rate_low'])}, "
              f"{format_percent(summary['critical_fault_rate_high'])}] (95% Wilson interval); mean accuracy drop "
              f"{100 * float(summary['mean_accuracy_drop']):.2f} percentage points{worst} (golden accuracy {golden:.4f},"
              f" mean under faults {float(summary['accuracy_mean']):.4f}).")
    return f"{result}\n\n{head}" if head else result


def log_dataset_input(client: MlflowClient, run_id: str, spec: CampaignSpec, cmpn: Any,
                      faults_source: str | Path | None = None) -> None:
    """``mlflow.log_input`` equivalent for the campaign's test inputs (digest, schema, profile)
    and its fault list (:func:`fault_list_input`, context ``faults``; source ``faults_source``,
    the run's ``campaign/spec.yaml``)."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    data = spec.data
    if data["name"] == "spiking_digits":
        source = "https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_digits.html"
    else:
        source = _dataset_root(data) or str(Path(".").resolve())
    name = _dataset_label(data) + (f"[:{data['max_samples']}]" if data.get("max_samples") else "")
    ds = mlflow.data.from_numpy(cmpn.x.detach().cpu().numpy(), targets=cmpn.y.detach().cpu().numpy(),
                                source=source, name=name)
    faults = fault_list_input(cmpn.rounds, f"faults({spec.name}, {len(cmpn.rounds)} rounds)",
                              str(Path(faults_source or ".").resolve()))
    with warnings.catch_warnings():  # MLflow's hint about integer columns with missing values: none here
        warnings.simplefilter("ignore", UserWarning)
        faults_entity = faults._to_mlflow_entity()
    inputs = [DatasetInput(ds._to_mlflow_entity(), [InputTag(MLFLOW_DATASET_CONTEXT, "test")]),
              DatasetInput(faults_entity, [InputTag(MLFLOW_DATASET_CONTEXT, FAULTS_INPUT_CONTEXT)])]
    for attempt in range(4):
        try:
            client.log_inputs(run_id, inputs)
            return
        except MlflowException:
            # two runs registering the same dataset at once (shards) race on the server's
            # unique (experiment, name, digest) key; the loser succeeds on a retry
            if attempt == 3:
                raise
            time.sleep(0.5 * (attempt + 1))


def write_setup_files(root: Path, spec: CampaignSpec, config: Mapping[str, Any], spec_data: Mapping[str, Any],
                      golden: Mapping[str, Any], digests: Mapping[str, str] | None = None) -> None:
    """The spec, config, golden baseline and golden model (``golden/model/``: the network
    file with its siblings and, given ``digests``, the ``network.json`` record testgen reads)."""
    (root / "campaign").mkdir(parents=True, exist_ok=True)
    spec.to_yaml(root / "campaign" / "spec.yaml")
    (root / "campaign" / "config.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(config, default=str)),
                                                                  sort_keys=False))
    art.write_json(root / "campaign" / "hashed_spec.json", spec_data)
    art.write_json(root / "golden" / "baseline.json", {k: v for k, v in golden.items()})
    model_dir = root / "golden" / "model"
    file = copy_network_files(spec.network, model_dir)
    if digests:
        write_network_record(model_dir, spec.network, digests, spec.options.get("quantization"), spec.data, file)
