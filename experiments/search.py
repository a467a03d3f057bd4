"""Search entry point: ``python -m experiments.search --config FILE [--set k=v ...]``.

A worst-case fault search: an Optuna study over a fault space (``search.space``, see
:mod:`spikefi.search.space`), one MLflow parent run per worker process with one nested run
per trial. The parent logs the best faults found (table), all trials, the optimization
history, parameter importances (and the Pareto front for two objectives) as plots, and the
study's storage URL. Example config (``experiments/configs/search_worst_faults.yaml``)::

    search:
      name: worst-2-neuron-faults
      network: {pretrained: digits_cnn}
      data: {name: spiking_digits, seed: 0}
      space: {k: 2, exclude_layers: [SF4], models: [DeadNeuron, SaturatedNeuron]}
      objective: accuracy              # accuracy | critical | pareto
      sampler: {name: tpe, seed: 0}    # tpe | random | cmaes | gp | nsga2
      pruner: {name: median, first_stage: 0.25}
      trials: 60                       # trials this process runs
      batch: 8                         # trials evaluated together (fault-parallel)
      study: {name: null, storage: null}   # default: sqlite:///<output_dir>/optuna.db

Several workers share one study through its storage (an RDB URL or ``journal:FILE``)::

    python -m experiments.search --config X --set search.study.storage=journal:study.log --worker 0 &
    python -m experiments.search --config X --set search.study.storage=journal:study.log --worker 1 &

``--worker N`` offsets the sampler seed so that workers do not propose the same faults.
With Ray, one command starts N workers as Ray tasks (``experiments.search_ray``)::

    python -m experiments.search --config X --executor ray --workers 4 [--address auto]
Running the same command again adds trials to the same study. View the study with
``optuna-dashboard sqlite:///outputs/search/optuna.db`` (or ``optuna-dashboard FILE`` for a
journal file; ``pip install optuna-dashboard``).

Exit codes: 0 done, 2 bad input, 130 interrupted (finished trials stay in the study).
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from .campaign import (
    Launch,
    build_parser,
    connect,
    parse_args,
    resolve_config_path,
    run_main,
    split_overrides,
)
from .search_job import SearchJob, load_search_config, run_job

__all__ = ["OPTIONS", "main", "print_summary"]

OPTIONS = ("--config", "--set", "--overrides", "--worker", "--no-mlflow", "--fail-running", "--no-progress",
           "--executor", "--address", "--workers", "--gpus-per-worker", "--cpus-per-worker")


def main(argv: list[str] | None = None) -> int:
    ap = build_parser("python -m experiments.search", __doc__, "search_worst_faults.yaml", section="search.data",
                      resumable=False)
    ap.add_argument("--worker", type=int, default=0, help="worker index (offsets the sampler seed)")
    ap.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow (local files and the study only)")
    ap.add_argument("--fail-running", action="store_true",
                    help="first mark every RUNNING trial of the study FAIL (trials of killed workers on other "
                         "hosts; only when no worker runs anywhere). Orphans of this host are failed anyway")
    from .campaign import add_executor_options

    add_executor_options(ap)

    def body(launch: Launch) -> int:
        args = parse_args(ap, argv, OPTIONS)
        path = resolve_config_path(args.config, "search_worst_faults.yaml")
        config = load_search_config(path, split_overrides(args.sets, args.overrides))
        track = config["tracking"]["enabled"] and not args.no_mlflow
        from .campaign import executor_from_args

        executor = executor_from_args(args)
        if executor is not None:
            executor.connect()  # an unreachable cluster is reported before any run is created
        uri, experiment_id = None, None
        # the network, the space (layer names) and the study store, before any MLflow store or run
        job = SearchJob(copy.deepcopy(config), worker=args.worker) if executor is None else None
        if track:
            launch.client, uri, experiment_id, launch.launcher = connect(config["tracking"])
        if executor is not None:
            from .search_ray import run_search_on_ray

            for summary in run_search_on_ray(config, executor, args.worker, uri, experiment_id):
                print_summary(summary, track, uri)
            return 0
        job = job if job is not None else SearchJob(copy.deepcopy(config), worker=args.worker)
        summary = run_job(job, launch.client, experiment_id, launch.launcher, progress=not args.no_progress,
                          fail_running=args.fail_running)
        print_summary(summary, track, uri)
        return 0

    return run_main(body, interrupted="interrupted (finished trials are in the study)")


def print_summary(summary: dict[str, Any], tracked: bool, uri: str | None) -> None:
    print(f"search {summary['study']}: {summary['trials_total']} trials in the study "
          f"({summary['trials_complete']} complete, {summary['trials_pruned']} pruned, {summary['trials_failed']} failed); "
          f"this worker ran {summary['trials_this_worker']} in {summary['seconds']:.1f} s")
    if "best_faults" in summary:
        print(f"worst fault set found: {summary['best_faults']}  -> accuracy {summary['best_accuracy']:.4f} "
              f"(golden {summary['golden_accuracy']:.4f}, drop {summary['best_accuracy_drop']:.4f})")
    print(f"local files: {summary['local_dir']}")
    for f in summary["files"]:
        print(f"  {f}")
    print(f"Optuna study: {summary['storage']}  (view with: optuna-dashboard {summary['storage'].removeprefix('journal:')})")
    if tracked and uri:
        from .tracking import where_line

        print(where_line(uri, summary.get("run_id")))


if __name__ == "__main__":
    sys.exit(main())
