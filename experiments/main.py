"""The main job: ``python -m experiments.main [--config FILE] [--set k=v ...]``.

On the embedded default (bundled spiking digits, local MLflow store ``mlflow.db``):
train the digits CNN if no model is given, evaluate it (golden baseline), run a sweep of
fault-injection campaigns on it (experiments.sweep: one nested run per campaign), a short
worst-case fault search (experiments.search), a test program for one campaign's critical
faults (experiments.testgen), the reliability report of all of it, and print what was
produced and where. Every stage is a nested MLflow run under one ``demo`` run.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

from analysis.schema import TAG_DEMO_RUN
from spikefi.errors import ConfigError, SpikeFIError

from .config import DEFAULT_EXPERIMENT, bundled_config, load_config
from .search_job import DEFAULTS as SEARCH_DEFAULTS
from .sweep import DEFAULTS as SWEEP_DEFAULTS
from .testgen import DEFAULTS as TESTGEN_DEFAULTS

DEFAULTS: dict[str, Any] = {
    "model": None,
    "architecture": "digits_cnn",
    "dataset": {"name": "spiking_digits", "seed": 0, "test_fraction": 0.2, "root": None},
    "training": {"epochs": 4, "lr": 0.02, "batch_size": 32, "seed": 0, "max_samples": None},
    "device": "cpu",
    "output_dir": "outputs/demo",
    "tracking": {"experiment": DEFAULT_EXPERIMENT, "enabled": True, "uri": None},
    # stage 3: a sweep of campaigns on the model (the sweep section of experiments.sweep;
    # sweep.base.network is set to the model)
    "campaigns": {"enabled": True, "sweep": copy.deepcopy(SWEEP_DEFAULTS["sweep"])},
    # stage 4: a short worst-case fault search on the model (the search section of
    # experiments.search; search.network is set to the model)
    "search": {"enabled": True, "search": copy.deepcopy(SEARCH_DEFAULTS["search"])},
    # stage 5: a test program for the faults of one stage-3 campaign (``from_campaign``, by
    # name; the testgen section of experiments.testgen, network and fault source set here)
    "testgen": {"enabled": True, "from_campaign": None, "testgen": copy.deepcopy(TESTGEN_DEFAULTS["testgen"])},
    # stage 6: the reliability report (experiments.report); severity classes by accuracy drop (pp)
    "report": {"severity_pp": "1,5,10"},
}


#: tag of the sweep and search runs a demo created (they are not nested under the demo run, so
#: that campaign and trial runs sit at most two levels deep in the MLflow UI)
DEMO_RUN_TAG = TAG_DEMO_RUN


def stage(message: str) -> None:
    print(f"\n=== {message}", flush=True)


def run_demo(config: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    import os

    from .golden import run_golden
    from .train import run_training

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    t0 = time.perf_counter()
    out = Path(config["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    track = bool(config["tracking"]["enabled"])
    if config["testgen"]["enabled"] and not config["campaigns"]["enabled"]:
        raise ConfigError("testgen.enabled needs campaigns.enabled (the test program covers a campaign's faults)")
    n_stages = 2 + int(bool(config["campaigns"]["enabled"])) + int(bool(config["search"]["enabled"]))
    n_stages += int(bool(config["testgen"]["enabled"]))
    n_stages += 1 if config["campaigns"]["enabled"] and track else 0
    done = 2
    produced: dict[str, Any] = {}
    parent = None
    if track:
        import mlflow

        from .tracking import common_tags, setup_tracking

        produced["tracking_uri"] = setup_tracking(config["tracking"]["experiment"], config["tracking"]["uri"])
        parent = mlflow.start_run(run_name="demo")
        mlflow.set_tags(common_tags("demo"))
        produced["demo_run"] = parent.info.run_id
        produced["experiment"] = mlflow.get_experiment(parent.info.experiment_id).name
        produced["experiment_id"] = parent.info.experiment_id
    try:
        model = config["model"]
        if model is None:
            stage(f"1/{n_stages} training {config['architecture']} on {config['dataset']['name']} "
                  f"({config['training']['epochs']} epochs)")
            train_cfg = {k: config[k] for k in ("architecture", "dataset", "training", "device")}
            train_cfg["output_dir"] = str(out / "model")
            train_cfg["tracking"] = dict(config["tracking"])
            summary = run_training(train_cfg, progress=progress)
            model = summary["model"]
            produced["model"] = model
            produced["model_card"] = summary["model_card"]
            produced["test_accuracy_after_training"] = summary["test_accuracy"]
        else:
            stage(f"1/{n_stages} using the given model {model}")
        stage(f"2/{n_stages} golden evaluation on the test split")
        golden = run_golden(model, config["dataset"], out / "golden", track=track)
        produced["golden"] = golden
        if config["campaigns"]["enabled"]:
            sweep = config["campaigns"]["sweep"]
            done += 1
            stage(f"{done}/{n_stages} fault-injection campaigns: sweep {sweep['name']!r} "
                  f"({len(sweep['campaigns'])} campaigns, one MLflow run each)")
            produced["campaigns"] = run_campaigns(config, model, out, parent, progress)
        if config["search"]["enabled"]:
            s = config["search"]["search"]
            done += 1
            stage(f"{done}/{n_stages} worst-case fault search: {s['trials']} trials of {s['space'].get('k')} "
                  f"simultaneous faults ({s['sampler']['name']}, objective {s['objective']})")
            produced["search"] = run_search_stage(config, model, out, parent, progress)
        if config["testgen"]["enabled"]:
            done += 1
            source = testgen_source(config, produced["campaigns"])
            stage(f"{done}/{n_stages} test program for the faults of campaign {source['campaign']!r} "
                  f"({'critical faults' if config['testgen']['testgen']['faults']['critical_only'] else 'all faults'})")
            produced["testgen"] = run_testgen_stage(config, model, out, parent, source, progress)
        if config["campaigns"]["enabled"] and track and produced["campaigns"].get("run_id"):
            done += 1
            stage(f"{done}/{n_stages} reliability report from the tracked runs")
            from .report import build_parser
            from .report import run as run_report

            extra = []
            if produced.get("search", {}).get("run_id"):
                extra += ["--search-runs", produced["search"]["run_id"]]
            if produced.get("testgen", {}).get("run_id"):
                extra += ["--testgen-runs", produced["testgen"]["run_id"]]
            args = build_parser().parse_args([
                "--experiment", produced["experiment"], "--parent", produced["campaigns"]["run_id"],
                "--output-dir", str(out / "report"), "--tracking-uri", produced["tracking_uri"],
                "--severity-pp", _thresholds_text(config["report"]["severity_pp"]), *extra,
            ])
            html, md, report_run = run_report(args)
            produced["report"] = {"html": str(html), "markdown": str(md), "run_id": report_run}
    finally:
        if parent is not None:
            import mlflow

            mlflow.end_run()
    produced["seconds"] = time.perf_counter() - t0
    return produced


def _thresholds_text(value: Any) -> str:
    """``report.severity_pp`` as the report's ``--severity-pp`` text (``"1,5,10"`` or a list)."""
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def run_search_stage(config: dict[str, Any], model: str | Path, out: Path, parent: Any,
                     progress: bool) -> dict[str, Any]:
    """Stage 4: a short worst-case search on ``model``; when tracked, a top-level search run (its
    trials nested under it: two levels) tagged ``spikefi.demo_run`` with the demo run's id."""
    from .search_job import SearchJob, run_job

    search_config = {"search": copy.deepcopy(config["search"]["search"]), "output_dir": str(out / "search"),
                     "tracking": {"experiment": config["tracking"]["experiment"], "uri": config["tracking"]["uri"],
                                  "enabled": parent is not None}}
    search_config["search"]["network"] = {"path": str(model)}
    job = SearchJob(search_config)
    if parent is None:
        return run_job(job, progress=progress)
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    summary = run_job(job, client, parent.info.experiment_id, None, progress)
    if summary.get("run_id"):
        client.set_tag(summary["run_id"], DEMO_RUN_TAG, parent.info.run_id)
    return summary


def testgen_source(config: dict[str, Any], campaigns: dict[str, Any]) -> dict[str, Any]:
    """The stage-3 campaign whose faults the test program covers (``testgen.from_campaign``)."""
    rows = campaigns["campaigns"]
    name = config["testgen"]["from_campaign"] or rows[0]["campaign"]
    for row in rows:
        if row["campaign"] == name:
            return row
    raise ConfigError(f"testgen.from_campaign {name!r} is not a campaign of the sweep; "
                      f"choose one of {[r['campaign'] for r in rows]}")


def run_testgen_stage(config: dict[str, Any], model: str | Path, out: Path, parent: Any, source: dict[str, Any],
                      progress: bool) -> dict[str, Any]:
    """Stage 5: a test program for the faults of ``source`` (a tracked campaign run, or its
    local results when tracking is off), nested under the demo run when tracked."""
    from .testgen import TestGenJob, run_job

    t = copy.deepcopy(config["testgen"]["testgen"])
    t["network"] = {"path": str(model)}
    # tracked: the campaign run's own golden model (network, weights, quantization, data); untracked,
    # the plain result folder stores none, so the model is named explicitly
    t["network_explicit"] = not source["run_id"]
    t["faults"].update(exhaustive=[], rounds=[], campaign_run=source["run_id"] or None,
                       from_results=None if source["run_id"] else [source["local_dir"]])
    tg_config = {"testgen": t, "output_dir": str(out / "testgen"),
                 "tracking": {"experiment": config["tracking"]["experiment"], "uri": config["tracking"]["uri"],
                              "enabled": parent is not None}}
    client = None
    if parent is not None:
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
    job = TestGenJob(tg_config, client)
    summary = run_job(job, client, parent.info.experiment_id if parent is not None else None, None, progress)
    if client is not None and summary.get("run_id"):
        client.set_tag(summary["run_id"], "mlflow.parentRunId", parent.info.run_id)
    summary["campaign"] = source["campaign"]
    return summary


def run_campaigns(config: dict[str, Any], model: str | Path, out: Path, parent: Any, progress: bool) -> dict[str, Any]:
    """Stage 3: the configured sweep on ``model``: when tracked, a top-level sweep run tagged
    ``spikefi.demo_run`` with one nested run per campaign (two levels, so the MLflow UI lists the
    campaigns under the sweep); with tracking off, each campaign run directly and saved under
    ``out/campaigns``."""
    sweep_config = {"sweep": copy.deepcopy(config["campaigns"]["sweep"]), "output_dir": str(out / "campaigns"),
                    "tracking": {"experiment": config["tracking"]["experiment"], "uri": config["tracking"]["uri"],
                                 "stale_after_s": 1800}}
    sweep_config["sweep"]["base"]["network"] = {"path": str(model)}
    if parent is None:
        from .sweep import sweep_specs

        rows = []
        for spec in sweep_specs(sweep_config["sweep"]):
            result = spec.build().run(spec.options["engine"], int(spec.options["chunk_size"]), progress=progress)
            path = result.save(out / "campaigns" / spec.name)
            rows.append({"campaign": spec.name, "run_id": "", "local_dir": str(path), **result.summary()})
        return {"run_id": None, "campaigns": rows, "local_dir": str(out / "campaigns")}
    from mlflow.tracking import MlflowClient

    from .sweep import run_sweep

    client = MlflowClient()
    result = run_sweep(sweep_config, client, parent.info.experiment_id, resume="never",
                       extra_tags={DEMO_RUN_TAG: parent.info.run_id}, progress=progress)
    rows = [{"campaign": c["name"], "run_id": c["run_id"], "local_dir": c["local_dir"], **c["summary"]}
            for c in result["children"]]
    return {"run_id": result["run_id"], "campaigns": rows, "local_dir": result["local_dir"]}


def print_summary(produced: dict[str, Any]) -> None:
    golden = produced["golden"]
    stage(f"done in {produced['seconds']:.0f} s — what was produced and where")
    if "model" in produced:
        print(f"trained model     : {produced['model']}  (model card {produced['model_card']})")
    print(f"golden accuracy   : {golden['accuracy']:.4f} on {golden['samples']:.0f} test samples "
          f"({golden['dataset']})")
    rates = ", ".join(f"{k.removeprefix('firing_rate_')} {v:.3f}" for k, v in golden.items() if k.startswith("firing_rate_"))
    print(f"firing rates      : {rates}")
    print("golden files      :")
    for f in golden["files"]:
        print(f"  {f}")
    campaigns = produced.get("campaigns")
    if campaigns:
        print("fault campaigns   : critical-fault rate [95% Wilson CI], mean accuracy (golden "
              f"{golden['accuracy']:.4f}), MLflow run")
        for c in campaigns["campaigns"]:
            print(f"  {c['campaign']:<26} {c['critical_fault_rate']:.3f} [{c['critical_fault_rate_low']:.3f}, "
                  f"{c['critical_fault_rate_high']:.3f}] over {c['rounds']} faults, accuracy {c['accuracy_mean']:.4f}"
                  + (f"  run {c['run_id']}" if c["run_id"] else ""))
            print(f"  {'':<26} tables, plots, spike statistics: {c['local_dir']}")
        if campaigns["run_id"]:
            print(f"  sweep run {campaigns['run_id']}; comparison table {campaigns['local_dir']}/sweep/campaigns.csv")
    search = produced.get("search")
    if search:
        print(f"worst-case search : {search['trials_total']} trials ({search['trials_pruned']} pruned) in "
              f"{search['seconds']:.0f} s; worst fault set {search.get('best_faults', 'n/a')} -> accuracy "
              f"{search.get('best_accuracy', float('nan')):.4f}" + (f"  run {search['run_id']}" if search.get("run_id")
                                                                 else ""))
        print(f"  {'':<26} trials, best faults, plots: {search['local_dir']}; Optuna study {search['storage']}")
    tg = produced.get("testgen")
    if tg:
        m = tg["metrics"]
        print(f"test program      : {int(m['test_length'])} inputs ({int(m['generated.in_program'])} generated) "
              f"for the {int(m['faults'])} faults of {tg['campaign']}; held-out coverage {m['coverage.heldout']:.4f} "
              f"of the detectable faults the selection never saw (selection half {m['coverage.selection']:.4f}, "
              f"all {m['coverage.all']:.4f})" + (f"  run {tg['run_id']}" if tg.get("run_id") else ""))
        print(f"  {'':<26} program (inputs + expected responses + rule), coverage curve: {tg['local_dir']}")
    if "report" in produced:
        rep = produced["report"]
        print(f"reliability report: {rep['html']} (open in a browser; Markdown: {rep['markdown']}; "
              f"MLflow run {rep['run_id']})")
    if "tracking_uri" in produced:
        from .tracking import experiment_link

        uri = produced["tracking_uri"]
        exp = produced["experiment"]
        print(f"MLflow            : run {produced['demo_run']} (experiment {exp!r}) in {uri}")
        if uri.startswith(("http://", "https://")):
            print(f"                    open {experiment_link(uri, produced['experiment_id'])}")
        else:
            print(f"                    view with: .venv/bin/mlflow ui --backend-store-uri {uri}")
            print(f"                    then open {experiment_link(uri, produced['experiment_id'])}")
            print("                    (the sweep run lists one run per campaign; docs/mlflow-ui.md shows how to "
                  "compare them)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.main", description=__doc__)
    ap.add_argument("--config", default=None, help="yaml config (default: experiments/configs/demo.yaml)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value, e.g. --set search.enabled=false (repeatable)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    try:
        config = load_config(args.config or bundled_config("demo.yaml"), DEFAULTS, args.overrides)
        produced = run_demo(config, progress=not args.no_progress)
    except SpikeFIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(produced)
    return 0


if __name__ == "__main__":
    sys.exit(main())
