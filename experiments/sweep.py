"""Sweep entry point: ``python -m experiments.sweep --config FILE [--set k=v ...]``.

A sweep config lists several campaigns over a shared ``base`` (network, data, options)::

    sweep:
      name: neuron-faults
      base: {network: {pretrained: digits_cnn}, data: {max_samples: 128}, options: {chunk_size: 16}}
      campaigns:
        - {name: dead-SF3, exhaustive: [{model: DeadNeuron, layers: [SF3]}]}
        - {name: saturated-SF3, exhaustive: [{model: SaturatedNeuron, layers: [SF3]}]}

It becomes one parent run (kind ``sweep``) with one nested child run per campaign, all with
the same metric names, so the MLflow UI compares them side by side.

A campaign may be a soft-error rate sweep (a ``rate_sweep:`` section, in ``base`` for every
campaign -- the rate curve as the axis, the campaigns as the curves -- or per campaign; a
campaign's keys replace those of ``base``, ``rate_sweep: null`` turns it off). Each such
child run holds its own curve (``results/rate_sweep.csv``, histories ``rate_sweep.*``); the
sweep run holds every curve in one table, ``sweep/rate_sweeps.csv`` (one row per campaign
and point), and says each curve's ends in its description. Each child is a
resumable campaign run (experiments.campaign); a killed sweep continues with the same
command (automatic resume by config hash) or ``--resume SWEEP_RUN_ID``: finished
campaigns are skipped, an interrupted one continues where it stopped.
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from analysis.schema import ROUND_METRICS_DEFAULT, TAG_ARTIFACT_SCHEMA, TAG_CONFIG_HASH
from spikefi.errors import ConfigError
from spikefi.names import check_plain_name
from spikefi.spec_defaults import DEFAULT_DATA, DEFAULT_OPTIONS  # plain data: --help imports no torch/mlflow

from .campaign import (
    Launch,
    add_executor_options,
    add_round_metrics_option,
    apply_round_metrics,
    build_parser,
    connect,
    parse_args,
    resolve_config_path,
    run_main,
    split_overrides,
)
from .config import DEFAULT_EXPERIMENT, config_hash, load_config, merge_checked

if TYPE_CHECKING:
    from spikefi.campaign.spec import CampaignSpec

DEFAULTS: dict[str, Any] = {
    "sweep": {
        "name": "sweep",
        "base": {"network": None, "data": dict(DEFAULT_DATA), "options": dict(DEFAULT_OPTIONS), "rounds": [],
                 "exhaustive": [], "rate_sweep": None},
        "campaigns": [],
    },
    "output_dir": "outputs/campaigns",
    "tracking": {"experiment": DEFAULT_EXPERIMENT, "uri": None, "stale_after_s": 1800, "writer_queue": 4,
                 "compact_every": 64, "flush_every_s": 5.0,
                 "round_metrics": ROUND_METRICS_DEFAULT},
}
#: the metrics of each campaign in ``sweep/campaigns.csv``
SWEEP_TABLE_METRICS = ("rounds", "crit_rate", "crit_ci_low", "crit_ci_high", "acc_mean", "acc_min", "acc_drop",
                       "golden.accuracy", "golden.float_accuracy", "deployment.accuracy_change", "throughput",
                       "duration_s")
#: the deployment format of each campaign in ``sweep/campaigns.csv`` (issue 34: accuracy vs bits), in words
SWEEP_TABLE_PARAMS = ("deployment.weights", "deployment.layers", "deployment.membrane", "deployment.psp_kernel",
                      "rate_sweep")
#: every rate-sweep campaign's curve, one row per campaign and point (``sweep/rate_sweeps.csv``)
SWEEP_RATE_TABLE = "rate_sweeps.csv"
OPTIONS = ("--config", "--set", "--overrides", "--resume", "--stale-after", "--no-progress", "--executor", "--address",
           "--workers", "--gpus-per-worker", "--cpus-per-worker", "--round-metrics")


def sweep_specs(sweep: dict[str, Any]) -> list[CampaignSpec]:
    """The sweep's campaigns, each merged over ``base`` and validated before anything runs
    (names first, with suggestions, before PyTorch is imported)."""
    from .precheck import check_campaign_section

    check_plain_name(sweep.get("name"), "sweep.name")  # it names the sweep's folder and its campaigns
    entries = sweep.get("campaigns")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("sweep.campaigns must be a non-empty list of campaigns")
    check_campaign_section(sweep.get("base"), "sweep.base")
    for i, entry in enumerate(entries):
        check_campaign_section(entry, f"sweep.campaigns[{i}]")
    from spikefi.campaign.spec import CampaignSpec

    template = {k: v for k, v in sweep["base"].items() if k != "network"}
    template["name"] = None
    template["rate_sweep"] = None  # merged on its own (merged_rate_sweep); named among the allowed keys
    specs = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"sweep.campaigns[{i}] must be a mapping, got {entry!r}")
        merged = merge_checked(template, {k: v for k, v in entry.items() if k not in ("network", "rate_sweep")},
                               f"sweep.campaigns[{i}].")
        rate_sweep = merged_rate_sweep(sweep["base"].get("rate_sweep"), entry, f"sweep.campaigns[{i}].rate_sweep")
        if rate_sweep is None:
            merged.pop("rate_sweep")
        else:
            merged["rate_sweep"] = rate_sweep
        merged["network"] = entry.get("network") or sweep["base"]["network"]
        if merged["network"] is None:
            raise ConfigError(f"sweep.campaigns[{i}] has no network (set sweep.base.network)")
        if merged["name"] is None:
            merged["name"] = f"{sweep['name']}-{i}"
        specs.append(CampaignSpec.from_dict(merged))
        specs[-1].check_runnable()
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"sweep campaign names must be unique, got {names}")
    return specs


def merged_rate_sweep(base: Any, entry: dict[str, Any], where: str) -> dict[str, Any] | None:
    """A campaign's ``rate_sweep`` section: ``base``'s (``sweep.base.rate_sweep``) with the
    campaign's keys in place of its own (a campaign's ``draws`` replaces ``base``'s
    ``margin`` and the other way round); ``rate_sweep: null`` in the campaign: none. Checked
    (:func:`spikefi.campaign.rate_sweep.check_sweep_section`), errors naming ``where``."""
    from spikefi.campaign.rate_sweep import check_sweep_section

    if base is not None and not isinstance(base, dict):
        raise ConfigError(f"sweep.base.rate_sweep must be a mapping (model, rates, draws or margin, ...) or null, "
                          f"got {base!r}")
    if "rate_sweep" in entry and entry["rate_sweep"] is None:
        return None
    own = entry.get("rate_sweep")
    if own is None:
        return None if base is None else check_sweep_section(base, where)
    if not isinstance(own, dict):
        raise ConfigError(f"{where} must be a mapping (model, rates, draws or margin, ...) or null, got {own!r}")
    merged = dict(base or {})
    if "draws" in own or "margin" in own:  # the campaign says how many draws: base's other way goes
        merged.pop("draws", None)
        merged.pop("margin", None)
    if "model" in own and own["model"] != merged.get("model", "SoftErrors"):  # another model: base's register keys go
        for key in ("state", "width", "frac_bits"):
            merged.pop(key, None)
    merged.update(own)
    return check_sweep_section(merged, where)


def sweep_description(name: str, specs: list[CampaignSpec]) -> str:
    """The sweep run's description (``mlflow.note.content``): its campaigns and how to compare them."""
    lines = [f"**{name}**: a sweep of {len(specs)} fault-injection campaigns, one child run each (expand this "
             "row in the runs table; select the children and press Compare to see them side by side):", ""]
    for spec in specs:
        what = [f"{e.get('model')} in {', '.join(e.get('layers') or ['every layer'])}" for e in spec.exhaustive]
        if spec.rounds:
            what.append(f"{len(spec.rounds)} explicit rounds")
        if spec.rate_sweep:
            from .rate_sweep_run import describe_rate_sweep

            what.append(f"rate sweep of {describe_rate_sweep(spec.rate_sweep)}")
        lines.append(f"- {spec.name}: {'; '.join(what) or 'no faults'}")
    return "\n".join(lines)


def sweep_result(rows: list[dict[str, Any]]) -> str:
    """The first line of a finished sweep's description: its campaigns by mean accuracy drop,
    largest first, each with its critical-fault rate (ties in the drop keep the sweep's order)."""
    done = [r for r in rows if r.get("acc_drop") is not None and r.get("crit_rate") is not None]
    done.sort(key=lambda r: -round(float(r["acc_drop"]), 12))
    parts = [f"{r['campaign']} {100 * float(r['acc_drop']):.2f} pp ({100 * float(r['crit_rate']):.1f}% of faults "
             "critical)" for r in done]
    return ("**Result:** mean accuracy drop per campaign, largest first: " + "; ".join(parts) + "."
            if parts else "**Result:** no finished campaign.")


def run_sweep(config: dict[str, Any], client: Any, experiment_id: str, *, resume: str = "auto",
              launcher_run_id: str | None = None, parent_run_id: str | None = None, progress: bool = True,
              extra_tags: dict[str, str] | None = None, executor: Any = None) -> dict[str, Any]:
    """Runs (or resumes) a sweep; returns ``{"run_id", "children": [summary dicts], "local_dir"}``.

    The sweep run is top-level (nested under ``parent_run_id`` only when given) and its
    campaign runs are its children, so campaigns sit at most two levels deep in the MLflow UI
    (``extra_tags`` relate it to other runs without nesting, e.g. ``spikefi.demo_run``)."""
    import pandas as pd
    from mlflow.entities import Param, RunStatus, RunTag

    from . import artifacts as art
    from . import campaign_run as cr
    from .chunk_flush import metric_of
    from .tracking import common_tags, process_identity

    sweep = config["sweep"]
    specs = sweep_specs(sweep)
    hashes = [cr.campaign_hash(s) for s in specs]
    shash = config_hash({"name": sweep["name"], "campaigns": hashes})
    stale_after = float(config["tracking"]["stale_after_s"])
    existing = cr.select_run(client, experiment_id, cr.KIND_SWEEP, shash, resume, parent_run_id)
    if existing is None:
        if launcher_run_id and not parent_run_id:
            run_id = launcher_run_id
            client.set_tag(run_id, "mlflow.runName", sweep["name"])
        else:
            tags = {"mlflow.runName": sweep["name"], cr.T + "kind": cr.KIND_SWEEP, cr.T + "config_hash": shash,
                    cr.T + "process": process_identity(), cr.T + "heartbeat": f"{time.time():.3f}"}
            if parent_run_id:
                tags["mlflow.parentRunId"] = parent_run_id
            tags.update(extra_tags or {})
            run_id = client.create_run(experiment_id, tags=tags, run_name=sweep["name"]).info.run_id
            if launcher_run_id:
                cr.point_launcher(client, launcher_run_id, run_id)
        attempt = 1
    else:
        run_id = existing.info.run_id
        if launcher_run_id and launcher_run_id != run_id:
            cr.point_launcher(client, launcher_run_id, run_id)
        if existing.info.status != "FINISHED":
            client.update_run(run_id, status="RUNNING")
        attempt = int(existing.data.tags.get(cr.T + "attempts", "1")) + 1
        cr.say(f"resuming sweep run {run_id} (attempt {attempt})")
    root = Path(config["output_dir"]) / run_id
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in {
        **common_tags(cr.KIND_SWEEP, **{TAG_CONFIG_HASH: shash, TAG_ARTIFACT_SCHEMA: art.ARTIFACT_SCHEMA_VERSION}),
        cr.T + "process": process_identity(), cr.T + "heartbeat": f"{time.time():.3f}", cr.T + "attempts": str(attempt),
        cr.T + "local_dir": str(root.resolve()), cr.T + "status_reason": "running", cr.T + "campaigns": str(len(specs)),
        "mlflow.note.content": sweep_description(sweep["name"], specs),
    }.items()])
    present = client.get_run(run_id).data.params
    params = {"sweep": sweep["name"], "campaigns": ",".join(s.name for s in specs)[:6000], "n_campaigns": len(specs),
              "config_hash": shash}
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items() if k not in present])
    children: list[dict[str, Any]] = []
    current = None
    try:
        for spec in specs:
            current = spec.name
            child_config = {"campaign": spec.to_dict(), "output_dir": config["output_dir"],
                            "tracking": config["tracking"], "sweep": {"name": sweep["name"], "run_id": run_id}}
            tracked = cr.TrackedCampaign(spec, child_config, client, experiment_id, config["output_dir"], resume="auto",
                                         parent_run_id=run_id, progress=progress, stale_after_s=stale_after,
                                         heartbeat_runs=[run_id], executor=executor)
            cr.say(f"sweep {sweep['name']}: campaign {spec.name}")
            children.append(tracked.run())
            client.set_tag(run_id, cr.T + "heartbeat", f"{time.time():.3f}")
        current = None
        rows = []
        for child in children:
            run = client.get_run(child["run_id"])
            rows.append({"campaign": run.data.tags.get("mlflow.runName"), "run_id": child["run_id"],
                         "status": run.info.status, "config_hash": run.data.tags.get(cr.T + "config_hash"),
                         **{k: metric_of(run.data.metrics, k) for k in SWEEP_TABLE_METRICS},
                         **{k: run.data.params.get(k) for k in SWEEP_TABLE_PARAMS}})
        table = pd.DataFrame(rows)
        result_lines = [sweep_result(rows)]
        (root / "sweep").mkdir(parents=True, exist_ok=True)
        curves = [(spec.name, child["run_id"]) for spec, child in zip(specs, children, strict=True) if spec.rate_sweep]
        if curves:
            from .rate_sweep_run import collect_rate_sweeps, rate_sweeps_result

            rate_table = collect_rate_sweeps(client, curves)
            rate_table.to_csv(root / "sweep" / SWEEP_RATE_TABLE, index=False)
            result_lines.append(rate_sweeps_result(rate_table))
        client.set_tag(run_id, "mlflow.note.content",
                       "\n\n".join([*result_lines, sweep_description(sweep["name"], specs)]))
        table.to_csv(root / "sweep" / "campaigns.csv", index=False)
        (root / "sweep" / "config.yaml").write_text(yaml.safe_dump(copy.deepcopy(config), sort_keys=False))
        art.write_manifest(root, cr.KIND_SWEEP, run_id=run_id, config_hash=shash,
                           children={r["campaign"]: r["run_id"] for r in rows})
        client.log_artifacts(run_id, str(root / "sweep"), "sweep")
        client.log_artifact(run_id, str(root / "manifest.json"))
        if "campaigns_finished" not in client.get_run(run_id).data.metrics:
            client.log_metric(run_id, "campaigns_finished", float(len(rows)))
        client.set_tag(run_id, cr.T + "status_reason", "finished")
        client.set_terminated(run_id, "FINISHED")
    except cr.Terminated as exc:
        cr._terminate(client, run_id, RunStatus.KILLED, f"{exc} during campaign {current}; resume with --resume {run_id}")
        raise
    except KeyboardInterrupt:
        cr._terminate(client, run_id, RunStatus.KILLED, f"interrupted during campaign {current}; resume with --resume {run_id}")
        raise
    except Exception as exc:
        try:
            cr._terminate(client, run_id, RunStatus.FAILED, f"campaign {current}: {type(exc).__name__}: {exc}")
        except Exception:  # noqa: BLE001 - the server may be what failed
            pass
        raise
    cr.say(f"sweep run {run_id} finished: {len(children)} campaigns; comparison in {root / 'sweep' / 'campaigns.csv'}")
    return {"run_id": run_id, "children": children, "local_dir": str(root), "table": table}


def main(argv: list[str] | None = None) -> int:
    from .signals import install_signal_handlers

    ap = build_parser("python -m experiments.sweep", __doc__, "sweep_neuron_faults.yaml", section="sweep.base.data")
    add_executor_options(ap)
    add_round_metrics_option(ap)
    install_signal_handlers()

    def body(launch: Launch) -> int:
        args = parse_args(ap, argv, OPTIONS)
        path = resolve_config_path(args.config, "sweep_neuron_faults.yaml")
        config = load_config(path, DEFAULTS, split_overrides(args.sets, args.overrides))
        if args.stale_after is not None:
            config["tracking"]["stale_after_s"] = args.stale_after
        apply_round_metrics(config, args)
        specs = sweep_specs(config["sweep"])  # validate before connecting
        from .campaign import check_built, executor_from_args

        executor = executor_from_args(args)
        for spec in specs:  # layer names need the network: checked before any store or run exists
            check_built(spec, executor, keep=False)
        import pandas as pd

        from .campaign_run import mark_stale_runs, say
        from .tracking import where_line

        if executor is not None:  # an unreachable cluster or too few GPUs/CPUs: before any run is created
            executor.check_resources(executor.connect())
        launch.client, uri, experiment_id, launch.launcher = connect(config["tracking"])
        for run_id, reason in mark_stale_runs(launch.client, [experiment_id],
                                              float(config["tracking"]["stale_after_s"])):
            say(f"marked run {run_id} KILLED: {reason}")
        result = run_sweep(config, launch.client, experiment_id, resume=args.resume or "auto",
                           launcher_run_id=launch.launcher, progress=not args.no_progress, executor=executor)
        print(f"sweep run {result['run_id']} ({len(result['children'])} campaigns):")
        with pd.option_context("display.width", 160, "display.max_columns", 8):
            print(result["table"][["campaign", "run_id", "rounds", "crit_rate", "acc_mean"]]
                  .to_string(index=False))
        print(f"local files: {result['local_dir']}")
        print(where_line(uri, experiment_id=experiment_id))
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
