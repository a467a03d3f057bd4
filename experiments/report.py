"""Entry point ``report``: a reliability report (HTML + Markdown) built from campaign results.

    python -m experiments.report                                  # every campaign of the experiment 'spikefi'
    python -m experiments.report --experiment NAME [--runs ID ...] [--output-dir DIR]
    python -m experiments.report --parent SWEEP_RUN_ID            # the campaigns of one sweep
    python -m experiments.report --compare ID1,ID2 ID3            # two groups of runs side by side
    python -m experiments.report --from-results DIR [DIR ...]     # results saved on disk, no MLflow

Without ``--experiment``, the experiment is the one of the ``mlflow run`` this runs in
(``mlflow run . -e report``), else ``spikefi`` (the default of every entry point); a missing
experiment is an error that lists the experiments that exist. The report is logged as
artifacts (``report/``) of a new run named ``report`` (``spikefi.kind=report``) in the
experiment of the analysed runs (under ``mlflow run -e report``: of the run ``mlflow run``
created); ``--from-results`` reads ``CampaignResult.save(DIR)`` folders (or a tracked run's
local folder) and logs nothing. The paths are printed. Exit code 2 on bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .config import DEFAULT_EXPERIMENT


def _split(values: list[str] | None) -> list[str]:
    return [v for item in values or [] for v in item.replace(",", " ").split() if v]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m experiments.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", default=None,
                    help=f"MLflow experiment name (default: the experiment of the `mlflow run` this runs in, "
                         f"else {DEFAULT_EXPERIMENT!r})")
    ap.add_argument("--runs", nargs="*", help="run ids (space or comma separated); a sweep id stands for its children")
    ap.add_argument("--parent", help="a sweep parent run id: its children")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"), help="two groups of run ids, each comma separated")
    ap.add_argument("--from-results", nargs="+", metavar="DIR", default=None,
                    help="campaign result folders on disk (CampaignResult.save(DIR) or a tracked run's local folder) "
                         "instead of MLflow runs; nothing is logged")
    ap.add_argument("--output-dir", default=None, help="where report.html/report.md go (default outputs/reports/<run id>)")
    ap.add_argument("--tracking-uri", default=None,
                    help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    ap.add_argument("--confidence", type=float, default=0.95, help="confidence of the Wilson intervals (default 0.95)")
    ap.add_argument("--top", type=int, default=10, help="ranked critical fault sites per campaign (default 10)")
    ap.add_argument("--severity-pp", default="1,5,10", metavar="T1,T2,T3",
                    help="severity classes: a round is negligible up to T1 pp of accuracy drop, mild up to T2, "
                         "moderate up to T3, severe beyond (default 1,5,10)")
    ap.add_argument("--search-runs", nargs="*", default=None,
                    help="search runs for the search section (default with --experiment alone: all of them)")
    ap.add_argument("--testgen-runs", nargs="*", default=None,
                    help="test-generation runs for the coverage section (default with --experiment alone: all)")
    ap.add_argument("--no-log", action="store_true", help="do not create the MLflow report run")
    return ap


def default_experiment(client: Any) -> str:
    """The experiment of the ``mlflow run`` this process runs in, else :data:`DEFAULT_EXPERIMENT`."""
    launcher = os.environ.get("MLFLOW_RUN_ID")
    if launcher:
        return client.get_experiment(client.get_run(launcher).info.experiment_id).name
    return DEFAULT_EXPERIMENT


def run(args: argparse.Namespace) -> tuple[Path, Path, str | None]:
    from analysis.report import build_report, write_report

    check_args(args)

    if args.from_results:
        from analysis.load import load_results

        if args.runs or args.parent or args.compare or args.experiment:
            from spikefi.errors import ConfigError

            raise ConfigError("--from-results reads result folders; it cannot be combined with --experiment, "
                              "--runs, --parent or --compare")
        loaded = load_results(args.from_results)
        report = build_report(loaded, args.confidence, args.top, severity=args.severity)
        return (*write_report(report, Path(args.output_dir or Path("outputs") / "reports" / "local")), None)
    return _run_tracked(args, build_report, write_report)


def _run_tracked(args: argparse.Namespace, build_report: Any, write_report: Any) -> tuple[Path, Path, str | None]:
    from mlflow.tracking import MlflowClient

    from analysis.extras import SEARCH_FILES, TESTGEN_FILES, load_tool_runs
    from analysis.load import load_runs
    from analysis.schema import (
        KIND_REPORT,
        KIND_SEARCH,
        KIND_TESTGEN,
        PARAM_REPORT_NETWORKS,
        PARAM_REPORT_SEVERITY,
        TAG_REPORT_RUNS,
        TAG_REPORT_SKIPPED,
    )
    from analysis.severity import network_groups
    from analysis.stats import compare_groups
    from spikefi.errors import SpikeFIError

    from .tracking import common_tags, resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri)
    args.runs = _split(args.runs)  # `mlflow run -e report` passes --runs '' when no run is named
    args.parent = (args.parent or "").strip() or None
    experiment = (args.experiment or "").strip() or None
    if experiment is None and not (args.runs or args.parent or args.compare):
        experiment = default_experiment(MlflowClient(uri))
    comparison, names = None, ("A", "B")
    if args.compare:
        group_a, group_b = (_split([g]) for g in args.compare)
        if not group_a or not group_b:
            raise SpikeFIError("--compare needs two non-empty groups of run ids")
        a = load_runs(experiment, group_a, tracking_uri=uri)
        b = load_runs(experiment, group_b, tracking_uri=uri)
        comparison = compare_groups(a, b, args.confidence)
        names = (f"A ({', '.join(a.runs['run_name'])})", f"B ({', '.join(b.runs['run_name'])})")
        loaded = load_runs(experiment, group_a + group_b, tracking_uri=uri)
    else:
        loaded = load_runs(experiment, _split(args.runs) or None, args.parent, tracking_uri=uri)
    everything = not (args.runs or args.parent or args.compare)
    searches, testgens = [], []
    for kind, files, ids, sink in ((KIND_SEARCH, SEARCH_FILES, args.search_runs, searches),
                                   (KIND_TESTGEN, TESTGEN_FILES, args.testgen_runs, testgens)):
        ids = _split(ids)
        if ids or everything:
            found, skipped = load_tool_runs(kind, files, experiment if not ids else None, ids or None, uri)
            sink.extend(found)
            loaded.skipped.extend({**s, "status": "", "reason": s["reason"]} for s in skipped)
    report = build_report(loaded, args.confidence, args.top, comparison, names, searches, testgens,
                          severity=args.severity)

    client = None if args.no_log else MlflowClient(uri)
    run_id, own_run = None, True
    if client is not None:
        tags = common_tags(KIND_REPORT, **{TAG_REPORT_RUNS: ",".join(loaded.runs["run_id"]),
                                           TAG_REPORT_SKIPPED: str(len(loaded.skipped))})
        run_id = os.environ.get("MLFLOW_RUN_ID")  # under `mlflow run`: log into the run it created
        if run_id:
            own_run = False
            for key, value in tags.items():
                client.set_tag(run_id, key, value)
        else:
            run_id = client.create_run(loaded.experiment_id, run_name="report", tags=tags).info.run_id
    output_dir = Path(args.output_dir or Path("outputs") / "reports" / (run_id or "latest"))
    try:
        html_path, md_path = write_report(report, output_dir)
        if client is not None:
            # not "runs": under `mlflow run` that key already holds the MLproject parameter
            client.log_param(run_id, "report.campaign_runs", len(loaded.runs))
            client.log_param(run_id, "report.skipped_runs", len(loaded.skipped))
            client.log_param(run_id, "report.confidence", args.confidence)
            client.log_param(run_id, PARAM_REPORT_SEVERITY, ",".join(f"{t:g}" for t in args.severity))
            client.log_param(run_id, PARAM_REPORT_NETWORKS, len(network_groups(loaded)))
            client.log_artifact(run_id, str(html_path), "report")
            client.log_artifact(run_id, str(md_path), "report")
            if (output_dir / "figures").is_dir():
                client.log_artifacts(run_id, str(output_dir / "figures"), "report/figures")
            if own_run:
                client.set_terminated(run_id, "FINISHED")
    except BaseException:
        if client is not None and own_run:
            client.set_terminated(run_id, "FAILED")
        raise
    return html_path, md_path, run_id


def check_args(args: argparse.Namespace) -> None:
    """Numbers that make no report are refused before anything is read or created."""
    from spikefi.errors import SpikeFIError

    if args.top < 1:
        raise SpikeFIError(f"--top must be an int >= 1, got {args.top}")
    if not 0 < args.confidence < 1:
        raise SpikeFIError(f"--confidence must be in (0, 1), got {args.confidence}")
    from analysis.severity import parse_thresholds

    try:
        args.severity = parse_thresholds(args.severity_pp)
    except SpikeFIError as exc:
        raise SpikeFIError(f"--severity-pp: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from spikefi.errors import SpikeFIError

    try:
        check_args(args)
        html_path, md_path, run_id = run(args)
    except SpikeFIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report (HTML): {html_path.resolve()}")
    print(f"report (Markdown): {md_path.resolve()}")
    if run_id:
        print(f"logged as artifacts of MLflow run {run_id} (report/)")
    elif args.from_results:
        print("(from result folders: nothing logged to MLflow)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
