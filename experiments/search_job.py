"""The search job: what one search worker does, from its config to its MLflow runs.

``SearchJob`` validates a search config and builds the study, the evaluator and the fault
space; ``run_job`` runs its trials and logs them (one parent run per worker, one nested run
per trial), and writes the local files and plots. The command line
(:mod:`experiments.search`) and the Ray tasks (:mod:`experiments.search_ray`) both run this
module's job: search -> search_ray -> search_job, nothing imports back upwards.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

from analysis.schema import (
    KIND_SEARCH,
    KIND_SEARCH_TRIAL,
    METRIC_BEST_ACCURACY,
    METRIC_BEST_ACCURACY_DROP,
    METRIC_BEST_SITES,
    METRIC_GOLDEN_ACCURACY,
    METRIC_TRIALS_PRUNED,
    METRIC_TRIALS_TOTAL,
    PARAM_K,
    PARAM_MODELS,
    PARAM_OBJECTIVE,
    PARAM_SAMPLER,
    PARAM_STUDY_NAME,
    TAG_BEST_FAULTS,
    TAG_FAULTS,
    TAG_OPTUNA_STORAGE,
    TAG_SEARCH_HASH,
    TAG_STATUS_REASON,
    TAG_STUDY,
    TAG_WORKER,
)
from spikefi.errors import ConfigError
from spikefi.names import check_plain_name
from spikefi.spec_defaults import DEFAULT_DATA  # plain data: --help imports neither torch nor mlflow

from .config import DEFAULT_EXPERIMENT, config_hash, load_config

__all__ = ["DEFAULTS", "SearchJob", "load_search_config", "run_job", "summarize", "write_outputs"]

DEFAULTS: dict[str, Any] = {
    "search": {
        "name": "search",
        "network": None,
        "data": dict(DEFAULT_DATA),
        "options": {"seed": 0, "batch_size": 64, "engine": "parallel", "chunk_size": 64, "device": "cpu",
                    "dtype": "float32", "quantization": None},
        "space": None,
        "objective": "accuracy",
        "sampler": {"name": "tpe", "seed": 0, "options": None},
        "pruner": {"name": "median", "first_stage": 0.25, "options": None},
        "trials": 50,
        "batch": 8,
        "study": {"name": None, "storage": None},
    },
    "output_dir": "outputs/search",
    "tracking": {"experiment": DEFAULT_EXPERIMENT, "uri": None, "enabled": True},
}
TOP = 10


def load_search_config(path: Path, overrides: list[str]) -> dict[str, Any]:
    """The search config, checked before anything is created (names first, with suggestions,
    before PyTorch or Optuna is imported)."""
    from .precheck import check_search_section

    config = load_config(path, DEFAULTS, overrides)
    check_search_section(config["search"])
    from spikefi.campaign.spec import check_network_section

    s = config["search"]
    if s.get("network") is None:
        raise ConfigError(f"{str(path)!r}: search.network is required ({{pretrained: digits_cnn}} or {{path: FILE}})")
    s["network"] = check_network_section(s["network"], "search.network")
    check_plain_name(s["name"], "search.name")
    if not isinstance(s.get("study"), dict):
        raise ConfigError(f"search.study must be a mapping such as {{name: NAME, storage: URL}}, got {s.get('study')!r}")
    if s["study"].get("name") is not None:
        check_plain_name(s["study"]["name"], "search.study.name")
    for key in ("data", "options", "sampler"):
        if not isinstance(s.get(key), dict):
            raise ConfigError(f"search.{key} must be a mapping, got {s.get(key)!r}")
    if s.get("pruner") is not None and not isinstance(s["pruner"], dict):
        raise ConfigError(f"search.pruner must be a mapping or null, got {s['pruner']!r}")
    _check_search_options(s["options"])
    seed = s["sampler"].get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"search.sampler.seed must be null or an int >= 0, got {seed!r}")
    first = (s["pruner"] or {}).get("first_stage")
    if (s["pruner"] or {}).get("name", "none") not in (None, "none") and first is not None and (
            isinstance(first, bool) or not isinstance(first, (int, float)) or not 0 < first < 1):
        raise ConfigError(f"search.pruner.first_stage must be a fraction in (0, 1) or null, got {first!r}")
    if not isinstance(s.get("space"), dict):
        raise ConfigError(f"{str(path)!r}: search.space is required (k, layers, models, timing)")
    for key in ("trials", "batch"):
        value = s[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"search.{key} must be an int >= 1, got {value!r}")
    return config


def _check_search_options(opts: dict[str, Any]) -> None:
    """search.options values: known keys, ints, engine and dtype (before anything is created)."""
    from spikefi.spec_defaults import ENGINE_NAMES as ENGINES

    unknown = set(opts) - set(DEFAULTS["search"]["options"])
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in search.options; allowed: "
                          f"{sorted(DEFAULTS['search']['options'])}")
    for key, low in (("seed", 0), ("batch_size", 1), ("chunk_size", 1)):
        value = opts[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"search.options.{key} must be an int >= {low}, got {value!r}")
    if opts["engine"] not in ENGINES:
        raise ConfigError(f"unknown engine {opts['engine']!r}; allowed: {list(ENGINES)}")
    if opts["dtype"] not in ("float32", "float64"):
        raise ConfigError(f"search.options.dtype must be one of ['float32', 'float64'], got {opts['dtype']!r}")


class SearchJob:
    """Builds everything a search needs from its config and validates it before any work."""

    def __init__(self, config: dict[str, Any], worker: int = 0) -> None:
        import torch

        from spikefi.campaign.spec import load_data, load_spec_network
        from spikefi.search import FaultSetEvaluator, FaultSpace
        from spikefi.search.study import OBJECTIVES, create_study, make_pruner, make_sampler, open_storage

        self.config = config
        s = config["search"]
        self.name = str(s["name"])
        self.objective = s["objective"]
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r}; allowed: {list(OBJECTIVES)}")
        n_obj = len(OBJECTIVES[self.objective])
        if isinstance(worker, bool) or not isinstance(worker, int) or worker < 0:
            raise ConfigError(f"--worker must be an int >= 0, got {worker!r}")
        self.worker = worker
        opts = s["options"]
        _check_search_options(opts)
        sampler_cfg, pruner_cfg = s["sampler"], s["pruner"] or {"name": "none"}
        seed = sampler_cfg.get("seed")
        self.sampler_seed = None if seed is None else int(seed) + worker
        self.sampler = make_sampler(sampler_cfg["name"], self.sampler_seed, n_obj, **(sampler_cfg.get("options") or {}))
        self.pruner = make_pruner(pruner_cfg.get("name"), n_obj, **(pruner_cfg.get("options") or {}))
        first_stage = pruner_cfg.get("first_stage") if self.pruner is not None else None
        out = Path(config["output_dir"])
        self.study_name = s["study"]["name"] or self.name
        net, _ = load_spec_network(s["network"], None)
        from spikefi.digest import network_digest

        loaded_digest = network_digest(net)  # before the evaluator's campaigns quantize it
        dtypes = {"float32": torch.float32, "float64": torch.float64}
        if opts["dtype"] not in dtypes:
            raise ConfigError(f"search.options.dtype must be one of {list(dtypes)}, got {opts['dtype']!r}")
        dataset = load_data(s["data"])
        # the space first (layer names: a probe pass of the network), then the golden pass
        layers, steps = _layers_and_steps(net, dataset)
        if layers is not None:
            FaultSpace(layers, s["space"], steps)
        self.evaluator = FaultSetEvaluator(
            net, dataset, first_stage=first_stage, seed=int(opts["seed"]), engine=opts["engine"],
            chunk_size=int(opts["chunk_size"]), batch_size=int(opts["batch_size"]), device=opts["device"],
            dtype=dtypes[opts["dtype"]], quantization=opts["quantization"], max_samples=s["data"].get("max_samples"),
        )
        from .provenance import network_digests

        self.digests = network_digests(loaded_digest, self.evaluator.campaigns[0].net, opts["quantization"])
        self.space = FaultSpace(self.evaluator.netmap.layers, s["space"], self.evaluator.steps)
        # the store is opened (a sqlite file created) only once the space -- layer names, which
        # need the network -- is known to be good
        out.mkdir(parents=True, exist_ok=True)
        self.storage_url = s["study"]["storage"] or f"sqlite:///{out / 'optuna.db'}"
        self.storage = open_storage(self.storage_url)
        identity = {"space": self.space.to_dict(), "objective": self.objective, "network": s["network"],
                    "data": s["data"], "options": {k: opts[k] for k in ("seed", "dtype", "quantization")}}
        self.identity_hash = config_hash(identity)
        self.study = create_study(self.storage, self.study_name, self.objective, self.sampler, self.pruner, identity)
        self.trials, self.batch = int(s["trials"]), int(s["batch"])
        self.out_dir = out / self.name / f"worker{worker}-{time.strftime('%Y%m%d-%H%M%S')}"


def _layers_and_steps(net: Any, dataset: Any) -> tuple[Any, int]:
    """The network's layers (one probe pass) and the time steps of the dataset's samples,
    without a golden run; ``(None, 0)`` for a dataset the evaluator's own checks will refuse."""
    from spikefi.campaign.network import network_map

    try:
        sample = dataset.tensors[0] if hasattr(dataset, "tensors") else dataset[0][0]
        shape = tuple(int(v) for v in sample.shape)
    except Exception:  # noqa: BLE001 - the evaluator names what is wrong with the data
        return None, 0
    if len(shape) != 4:
        return None, 0
    return network_map(net, shape[:3], shape[3]).layers, shape[3]


def run_job(job: SearchJob, client: Any = None, experiment_id: str | None = None, launcher: str | None = None,
            progress: bool = True, parent_run_id: str | None = None, fail_running: bool = False) -> dict[str, Any]:
    """Runs the search; logs to MLflow when ``client`` is given (the search run nested under
    ``parent_run_id`` when given). Returns a summary.

    First, trials that a killed worker of this host left RUNNING are marked FAIL (with
    ``fail_running``: every RUNNING trial of the study, for when no worker runs anywhere)."""
    from spikefi.search.study import fail_orphaned_trials, run_search, trials_table

    orphans = fail_orphaned_trials(job.study, all_running=fail_running)
    if orphans:
        print(f"marked {len(orphans)} RUNNING trial(s) of the study FAIL "
              f"({'--fail-running' if fail_running else 'their worker process is gone'}): {orphans}", flush=True)
    job.out_dir.mkdir(parents=True, exist_ok=True)
    golden = job.evaluator.golden_accuracy
    parent = None
    if client is not None:
        nested = {"mlflow.parentRunId": parent_run_id} if parent_run_id else {}
        parent = launcher or client.create_run(experiment_id, run_name=f"search-{job.name}-w{job.worker}",
                                               tags=nested).info.run_id
        _log_parent_start(client, parent, job)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=job.trials, unit="trial", desc=f"search {job.name}", mininterval=0.5)
    best: list[float] = []
    t0 = time.perf_counter()

    def on_trial(rec: Any) -> None:
        if client is not None:
            _log_trial(client, experiment_id, parent, job, rec, golden)
        if rec.state == "COMPLETE" and rec.values:
            v = rec.values[0]
            better = not best or (v < best[-1] if job.objective == "accuracy" else v > best[-1])
            best.append(v if better else best[-1])
            if client is not None:
                from mlflow.entities import Metric

                ts = int(time.time() * 1000)
                client.log_batch(parent, metrics=[Metric("trial_value", v, ts, rec.number),
                                                  Metric("best_value", best[-1], ts, rec.number)])
        if bar is not None:
            bar.update(1)
            if best:
                bar.set_postfix(best=f"{best[-1]:.4g}", refresh=False)

    status = "FAILED"
    try:
        records = run_search(job.study, job.space, job.evaluator, job.objective, job.trials, job.batch, on_trial)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - t0
        table = trials_table(job.study)  # every trial of the study, read once
        files = write_outputs(job, golden, table)
        summary = summarize(job, golden, seconds, table)
        summary["files"] = [str(f) for f in files]
        summary["local_dir"] = str(job.out_dir)
        if client is not None:
            _log_parent_end(client, parent, job, summary, files, status)
            summary["run_id"] = parent
    summary["trials_this_worker"] = len(records)
    summary["orphaned_trials_failed"] = orphans
    return summary


def _log_parent_start(client: Any, run_id: str, job: SearchJob) -> None:
    from mlflow.entities import Param, RunTag

    from .tracking import common_tags

    s = job.config["search"]
    tags = common_tags(KIND_SEARCH, **{TAG_STUDY: job.study_name, TAG_OPTUNA_STORAGE: job.storage_url,
                                    TAG_SEARCH_HASH: job.identity_hash, TAG_WORKER: job.worker})
    params = {
        PARAM_OBJECTIVE: job.objective, PARAM_SAMPLER: s["sampler"]["name"], "sampler_seed": job.sampler_seed,
        "pruner": (s["pruner"] or {}).get("name", "none") if job.pruner is not None else "none",
        "first_stage": (s["pruner"] or {}).get("first_stage") if job.pruner is not None else None,
        "trials": job.trials, "batch": job.batch, PARAM_STUDY_NAME: job.study_name, "storage": job.storage_url,
        "worker": job.worker, PARAM_K: json.dumps(job.space.to_dict()["k"]),
        PARAM_MODELS: ",".join(e.label for e in job.space.entries), "network": json.dumps(s["network"]),
        "test_samples": job.evaluator.num_samples, "engine": s["options"]["engine"], **job.digests,
    }
    client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    job.out_dir.mkdir(parents=True, exist_ok=True)
    (job.out_dir / "search_config.yaml").write_text(yaml.safe_dump(job.config, sort_keys=False))
    (job.out_dir / "space.yaml").write_text(yaml.safe_dump(job.space.to_dict(), sort_keys=False))
    client.log_artifact(run_id, str(job.out_dir / "search_config.yaml"), "search")
    client.log_artifact(run_id, str(job.out_dir / "space.yaml"), "search")
    client.log_metric(run_id, METRIC_GOLDEN_ACCURACY, job.evaluator.golden_accuracy)
    from .provenance import copy_network_files, write_network_record

    model_dir = job.out_dir / "golden" / "model"  # the network testgen --search-run builds on
    file = copy_network_files(s["network"], model_dir)
    write_network_record(model_dir, s["network"], job.digests, s["options"].get("quantization"), s["data"], file)
    client.log_artifacts(run_id, str(job.out_dir / "golden"), "golden")


def _log_trial(client: Any, experiment_id: str | None, parent: str, job: SearchJob, rec: Any, golden: float) -> None:
    from mlflow.entities import Metric, Param, RunTag

    from .tracking import common_tags

    tags = common_tags(KIND_SEARCH_TRIAL, **{"mlflow.parentRunId": parent, TAG_STUDY: job.study_name,
                                          "optuna.trial": rec.number, "optuna.state": rec.state,
                                          TAG_FAULTS: rec.description[:5000]})
    if rec.error:
        tags[TAG_STATUS_REASON] = rec.error[:5000]
    run = client.create_run(experiment_id, run_name=f"trial-{rec.number}", tags=tags)
    ts = int(time.time() * 1000)
    params = [Param(k, str(v)[:6000]) for k, v in rec.params.items()]
    params.append(Param("faults", json.dumps(rec.faults)[:6000]))
    metrics = [Metric(k, float(v), ts, 0) for k, v in rec.metrics().items()]
    client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=[RunTag("optuna.study", job.study_name)])
    client.set_terminated(run.info.run_id, "FAILED" if rec.state == "FAIL" else "FINISHED")


def summarize(job: SearchJob, golden: float, seconds: float, table: Any) -> dict[str, Any]:
    """Counts by state and the best fault set, from the study's trials ``table``."""
    states = table["state"].value_counts().to_dict() if len(table) else {}
    done = table[table["state"] == "COMPLETE"] if len(table) else table
    summary: dict[str, Any] = {
        "study": job.study_name, "storage": job.storage_url, "objective": job.objective, METRIC_GOLDEN_ACCURACY: golden,
        "trials_complete": int(states.get("COMPLETE", 0)), METRIC_TRIALS_PRUNED: int(states.get("PRUNED", 0)),
        "trials_failed": int(states.get("FAIL", 0)), METRIC_TRIALS_TOTAL: int(len(table)), "seconds": seconds,
    }
    if len(done):
        top = done.iloc[0]
        summary.update({METRIC_BEST_ACCURACY: float(top["accuracy"]), METRIC_BEST_ACCURACY_DROP: float(top["accuracy_drop"]),
                        "best_critical_samples": int(top["critical_samples"]), METRIC_BEST_SITES: int(top["sites"]),
                        "best_trial": int(top["trial"]), "best_faults": str(top["description"])})
    return summary


def write_outputs(job: SearchJob, golden: float, table: Any) -> list[Path]:
    """Trials table, best faults, plots (optimization history, importances, Pareto front)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spikefi.search.study import pareto_table

    out = job.out_dir
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "trials.parquet", out / "trials.csv"]
    table.to_parquet(files[0], index=False)
    table.to_csv(files[1], index=False)
    done = table[table["state"] == "COMPLETE"] if len(table) else table
    best = pareto_table(job.study, table) if job.objective == "pareto" and len(done) else done.head(TOP)
    cols = ["trial", "accuracy", "accuracy_drop", "critical_samples", "sites", "description"]
    best_csv = out / ("pareto_front.csv" if job.objective == "pareto" else "best_faults.csv")
    best.to_csv(best_csv, index=False)
    files.append(best_csv)
    md = [f"# Search {job.name}: {'Pareto front' if job.objective == 'pareto' else f'best {TOP} fault sets'}", "",
          f"objective {job.objective}, golden accuracy {golden:.4f}, study {job.study_name} ({job.storage_url})", "",
          "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in best.iterrows():
        md.append("| " + " | ".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    (out / "best_faults.md").write_text("\n".join(md) + "\n")
    files.append(out / "best_faults.md")
    notes = []
    for name, make in _plots(job).items():
        # Optuna's matplotlib plots switch the global style to ggplot: keep it inside this context
        with matplotlib.rc_context():
            try:
                fig = make()
            except Exception as exc:  # noqa: BLE001 - a plot Optuna cannot draw yet (too few trials) is left out
                notes.append(f"{name}: not drawn ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
                continue
            fig.savefig(out / name, dpi=110, bbox_inches="tight")
            plt.close(fig)
        files.append(out / name)
    if notes:
        (out / "plots_left_out.txt").write_text("\n".join(notes) + "\n")
        files.append(out / "plots_left_out.txt")
    return files


#: Optuna's parameter-importance warnings every search with few trials per parameter region
#: triggers (its PED-ANOVA evaluator; the importance plot notes nothing wrong with the search):
#: kept out of the console. Any other warning stays visible.
EXPECTED_OPTUNA_WARNINGS = (
    r"Target and region quantiles select the same set of trials",
    r"Some regimes for parameter .* have less than 2 trials",
)


#: parameters the importance figure shows (the most important ones)
IMPORTANCE_TOP = 10


def _plots(job: SearchJob) -> dict[str, Any]:
    import warnings

    import optuna.visualization.matplotlib as ovm
    from optuna.exceptions import ExperimentalWarning

    warnings.filterwarnings("ignore", category=ExperimentalWarning)
    study = job.study
    first = "accuracy drop" if job.objective == "pareto" else ("accuracy" if job.objective == "accuracy"
                                                                 else "critical samples")

    def fig_of(ax: Any) -> Any:
        ax = ax.flat[0] if hasattr(ax, "flat") else ax
        return ax.figure

    def history() -> Any:
        kw = {"target": lambda t: t.values[0], "target_name": first} if job.objective == "pareto" else \
            {"target_name": first}
        return fig_of(ovm.plot_optimization_history(study, **kw))

    def importances() -> Any:
        # the top parameters in plain words ("fault 1: SP1 neuron row", not "f0.SP1.neuron.h")
        import optuna

        from spikefi.plots import param_importances
        from spikefi.search.space import param_label

        kw = {"target": lambda t: t.values[0]} if job.objective == "pareto" else {}
        with warnings.catch_warnings():  # what a short search always triggers stays out of the console
            for pattern in EXPECTED_OPTUNA_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern, category=UserWarning)
            values = optuna.importance.get_param_importances(study, **kw)
        return param_importances(values, first, top=IMPORTANCE_TOP, label=param_label)

    plots = {"optimization_history.png": history, "param_importances.png": importances}
    if job.objective == "pareto":
        plots["pareto_front.png"] = lambda: fig_of(ovm.plot_pareto_front(study, target_names=["accuracy drop", "sites"]))
    return plots


def _log_parent_end(client: Any, run_id: str, job: SearchJob, summary: dict[str, Any], files: list[Path],
                    status: str) -> None:
    from mlflow.entities import Metric

    ts = int(time.time() * 1000)
    metrics = [Metric(k, float(v), ts, 0) for k, v in summary.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    client.log_batch(run_id, metrics=metrics)
    if "best_faults" in summary:
        client.set_tag(run_id, TAG_BEST_FAULTS, summary["best_faults"][:5000])
    for f in files:
        client.log_artifact(run_id, str(f), "search")
    manifest = job.out_dir / "manifest.json"
    manifest.write_text(json.dumps({"kind": "search", "schema_version": 1, "study": job.study_name,
                                    "storage": job.storage_url, "files": ["search/" + f.name for f in files]},
                                   indent=2))
    client.log_artifact(run_id, str(manifest))
    if not os.environ.get("MLFLOW_RUN_ID") == run_id:  # the mlflow-run launcher ends its own run
        client.set_terminated(run_id, status)


