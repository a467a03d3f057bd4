"""Campaign entry point: ``python -m experiments.campaign --config FILE [--set k=v ...]``.

Runs a fault-injection campaign (a ``campaign:`` section holding a CampaignSpec) as one
MLflow run — params, golden baseline, per-round metric histories (step = round id),
summary metrics, the per-fault table, plots and spike statistics (docs/mlflow.md) — and
keeps it resumable: after a crash or kill the same command continues the original run
(automatic resume by config hash), or ``--resume RUN_ID`` names the run.

    python -m experiments.campaign --config experiments/configs/dead_neurons_sf4.yaml
    python -m experiments.campaign --config X --shard 0/4     # one of 4 shards; the last merges
    python -m experiments.campaign --config X --mark-stale    # mark dead RUNNING runs KILLED
    python -m experiments.campaign --config X --executor ray --workers 2 --gpus-per-worker 1
                                                              # chunks on Ray actors (local Ray)
    python -m experiments.campaign --config X --executor ray --address auto   # an existing cluster

Exit codes: 0 done, 2 bad input or failed run (marked FAILED with the reason), 3 finished
but the tracking server failed (results kept locally; rerun with --resume), 4 the Ray executor
lost the driver's node, the cluster's head or every worker (run marked FAILED with the reason;
the same command resumes it), 130/143 killed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.schema import ROUND_METRICS_DEFAULT, TAG_LAUNCHED_RUN, TAG_STATUS_REASON
from spikefi.errors import ConfigError, SpikeFIError
from spikefi.spec_defaults import DEFAULT_DATA, DEFAULT_OPTIONS  # plain data: --help imports no torch/mlflow

from .config import DEFAULT_EXPERIMENT, bundled_config, load_config
from .signals import Terminated, install_signal_handlers

if TYPE_CHECKING:
    from spikefi.campaign.spec import CampaignSpec

DEFAULTS: dict[str, Any] = {
    "campaign": {"name": "campaign", "network": None, "data": dict(DEFAULT_DATA), "options": dict(DEFAULT_OPTIONS),
                 "rounds": [], "exhaustive": [], "rate_sweep": None},
    "output_dir": "outputs/campaigns",
    "tracking": {"experiment": DEFAULT_EXPERIMENT, "uri": None, "stale_after_s": 1800,
                 "round_metrics": ROUND_METRICS_DEFAULT, "sink": "mlflow", "dir": None,
                 "writer_queue": 4, "compact_every": 64, "flush_every_s": 5.0},
}

#: the options this entry point takes (as MLproject parameters: config, overrides, resume, shard, parent)
OPTIONS = ("--config", "--set", "--overrides", "--resume", "--shard", "--parent", "--merge", "--mark-stale",
           "--stale-after", "--no-progress", "--executor", "--address", "--workers", "--gpus-per-worker",
           "--cpus-per-worker", "--round-metrics", "--sink", "--sink-dir")


def add_round_metrics_option(ap: argparse.ArgumentParser) -> None:
    """``--round-metrics all|none|N`` (campaign, sweep)."""
    ap.add_argument("--round-metrics", default="", metavar="all|none|N",
                    help="per-round metric points per key and run: all, none, or at most N on a stride over the "
                         f"rounds (default: tracking.round_metrics of the config, {ROUND_METRICS_DEFAULT})")


def apply_round_metrics(config: dict[str, Any], args: argparse.Namespace) -> None:
    """Sets ``tracking.round_metrics`` from ``--round-metrics`` (when given) and checks it."""
    from .round_metrics import parse_round_metrics

    value = str(getattr(args, "round_metrics", "") or "").strip()
    if value:
        config["tracking"]["round_metrics"] = value
    parse_round_metrics(config["tracking"]["round_metrics"])


def add_sink_options(ap: argparse.ArgumentParser) -> None:
    """``--sink mlflow|local`` and ``--sink-dir PATH`` (experiments/sink.py)."""
    ap.add_argument("--sink", default="", choices=("", "mlflow", "local"),
                    help="where the run is recorded: an MLflow run (default) or a local folder (--sink-dir; "
                         "no tracking store; resumable by config hash from the folder)")
    ap.add_argument("--sink-dir", default="", metavar="PATH",
                    help="the local sink's folder (one subfolder per run); tracking.dir of the config")


def apply_sink_options(config: dict[str, Any], args: argparse.Namespace) -> tuple[str, str | None]:
    """Sets ``tracking.sink`` / ``tracking.dir`` from ``--sink`` / ``--sink-dir`` and checks them."""
    from .sink import check_sink_choice

    if getattr(args, "sink", ""):
        config["tracking"]["sink"] = args.sink
    if str(getattr(args, "sink_dir", "") or "").strip():
        config["tracking"]["dir"] = args.sink_dir.strip()
        if not getattr(args, "sink", "") and config["tracking"].get("sink") in (None, "", "mlflow"):
            config["tracking"]["sink"] = "local"
    name, folder = check_sink_choice(config["tracking"].get("sink"), config["tracking"].get("dir"))
    config["tracking"]["sink"], config["tracking"]["dir"] = name, folder
    return name, folder


def add_executor_options(ap: argparse.ArgumentParser) -> None:
    """``--executor in-process|ray`` and the Ray options (campaign, sweep)."""
    ap.add_argument("--executor", default="in-process", choices=("in-process", "ray"),
                    help="where chunks run: this process (default) or Ray actors (one per GPU; needs spikefi[ray])")
    ap.add_argument("--address", default="", help="Ray cluster: empty starts a local Ray, 'auto' joins this "
                                                  "machine's cluster, HOST:PORT a remote head")
    ap.add_argument("--workers", default="", help="Ray actors (default: one per GPU of the cluster, else 2)")
    ap.add_argument("--gpus-per-worker", default="", help="GPUs per Ray actor: 1, a fraction such as 0.5 (two "
                                                          "actors share a GPU) or 0 for CPU actors (default: 1 when "
                                                          "the cluster has GPUs, else 0)")
    ap.add_argument("--cpus-per-worker", default="", help="CPU cores (torch threads) per Ray actor (default: a GPU actor gets its GPU's share of the node's cores, a CPU actor 1)")


def executor_from_args(args: argparse.Namespace) -> Any:
    """The executor the options name (validated before anything is created), or None."""
    if getattr(args, "executor", "in-process") in ("", "in-process", None):
        for name in ("address", "workers", "gpus_per_worker", "cpus_per_worker"):
            if str(getattr(args, name, "") or "").strip():
                raise ConfigError(f"--{name.replace('_', '-')} is a Ray option: add --executor ray")
        return None
    from spikefi.campaign.executors.ray import RayExecutor, import_ray

    def number(name: str, kind: type, default: Any) -> Any:
        text = str(getattr(args, name, "") or "").strip()
        if not text:
            return default
        try:
            return kind(text)
        except ValueError:
            raise ConfigError(f"--{name.replace('_', '-')} must be a {kind.__name__}, got {text!r}") from None

    workers = number("workers", int, None)
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    gpus = number("gpus_per_worker", float, None)
    if gpus is not None and not 0 <= gpus <= 1:
        raise ConfigError(f"--gpus-per-worker must be in [0, 1] (0: CPU actors, 0.5: two actors share a GPU), got {gpus:g}")
    cpus = number("cpus_per_worker", int, None)
    if cpus is not None and cpus < 1:
        raise ConfigError(f"--cpus-per-worker must be >= 1, got {cpus}")
    import_ray()  # a missing Ray is reported before any run is created
    address = (args.address or "").strip() or None
    if gpus is None:
        gpus = 1.0 if _cluster_has_gpus(address) else 0.0
    return RayExecutor(address=address, workers=workers, gpus_per_worker=gpus, cpus_per_worker=cpus)


def _cluster_has_gpus(address: str | None) -> bool:
    if address is None:
        import torch

        return torch.cuda.is_available()
    from spikefi.campaign.executors.ray import RayExecutor

    ray = RayExecutor(address=address).connect()
    return float(ray.cluster_resources().get("GPU", 0.0)) > 0


def resolve_config_path(value: str | None, default: str) -> Path:
    """A config path, or the name of a bundled config (``dead_neurons_sf4`` or ``.yaml``)."""
    if not value:
        return bundled_config(default)
    path = Path(value)
    if path.is_file():
        return path
    name = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    if path.parent == Path(".") or str(path.parent).endswith("experiments/configs"):
        try:
            return bundled_config(name)
        except ConfigError:
            pass
    raise ConfigError(f"config file not found: {value!r}")


def split_overrides(sets: list[str], overrides: str | None) -> list[str]:
    """``--set`` items plus the whitespace-separated (shell-quoted) items of ``--overrides``."""
    items = list(sets)
    if overrides and overrides.strip():
        try:
            items.extend(shlex.split(overrides))
        except ValueError as exc:
            raise ConfigError(f"--overrides {overrides!r} cannot be split: {exc}") from None
    return items


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` → ``(i, n)``; ``i`` may be ``env`` (JOB_COMPLETION_INDEX, e.g. a Kubernetes indexed job)."""
    if not text or not text.strip():
        return None
    index, sep, count = text.strip().partition("/")
    if index == "env":
        index = os.environ.get("SPIKEFI_SHARD_INDEX") or os.environ.get("JOB_COMPLETION_INDEX") or ""
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise ConfigError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return i, n


def load_campaign_config(path: Path, overrides: list[str]) -> tuple[dict[str, Any], CampaignSpec]:
    """The config and its campaign spec; names are checked (with suggestions) before PyTorch is imported."""
    from .precheck import check_campaign_section

    config = load_config(path, DEFAULTS, overrides)
    if config["campaign"].get("rate_sweep") is None:  # unset: config hashes stay those of earlier versions
        config["campaign"].pop("rate_sweep", None)
    check_campaign_section(config["campaign"])
    from spikefi.campaign.spec import CampaignSpec

    if config["campaign"].get("network") is None:
        raise ConfigError(f"{str(path)!r}: campaign.network is required ({{pretrained: digits_cnn}}, {{path: FILE}} or {{factory: pkg.module:build, weights: FILE}})")
    spec = CampaignSpec.from_dict(config["campaign"])
    spec.check_runnable()  # a campaign without faults is refused before any run is created
    return config, spec


def check_built(spec: CampaignSpec, executor: Any = None, keep: bool = True) -> Any:
    """Builds the campaign a spec describes -- network, data, every fault resolved against the
    network's layers -- so that a bad layer name is a one-line error before any tracking store
    or run exists. Returns the campaign for an in-process run (``keep``: it is then not built
    twice); with a remote executor, or not kept, the check builds a CPU copy and returns None."""
    if executor is None and keep:
        return spec.build()
    from spikefi.campaign.spec import CampaignSpec

    data = spec.to_dict()
    data["options"] = {**data["options"], "device": "cpu"}
    CampaignSpec.from_dict(data).build()
    return None


def connect(tracking: dict[str, Any]) -> tuple[Any, str, str, str | None]:
    """``(client, tracking uri, experiment id, launcher run id)``; under ``mlflow run`` the
    launcher's experiment is used."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from .tracking import ensure_experiment, mark_experiment_kind, probe_tracking, resolve_tracking_uri

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = resolve_tracking_uri(tracking.get("uri"))
    probe_tracking(uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    launcher = os.environ.get("MLFLOW_RUN_ID") or None
    if launcher:
        experiment_id = client.get_run(launcher).info.experiment_id
        try:
            mark_experiment_kind(client, experiment_id)
        except MlflowException as exc:  # a read-only permission on a server: the tag is cosmetic
            print(f"[spikefi] WARNING: experiment {experiment_id} not tagged: {exc}", file=sys.stderr)
        return client, uri, experiment_id, launcher
    return client, uri, ensure_experiment(client, tracking["experiment"]), None


def fail_launcher(client: Any, launcher: str | None, reason: str) -> None:
    """Marks the ``mlflow run`` launcher FAILED with the reason when it holds nothing else
    (also when the error came before connecting: bad parameters or config)."""
    launcher = launcher or os.environ.get("MLFLOW_RUN_ID") or None
    if not launcher:
        return
    try:
        if client is None:
            from mlflow.tracking import MlflowClient

            from .tracking import probe_tracking, resolve_tracking_uri

            uri = resolve_tracking_uri()
            probe_tracking(uri)
            client = MlflowClient(uri)
        run = client.get_run(launcher)
        if run.info.status in ("RUNNING", "SCHEDULED") and TAG_LAUNCHED_RUN not in run.data.tags:
            client.set_tag(launcher, TAG_STATUS_REASON, reason[:5000])
            client.set_terminated(launcher, "FAILED")
    except Exception:  # noqa: BLE001 - best effort; the error is printed anyway
        pass


@dataclass
class Launch:
    """What an entry point has connected to so far (for marking the launcher run FAILED)."""

    client: Any = None
    launcher: str | None = None


def run_main(body: Callable[[Launch], int | None], interrupted: str = "interrupted") -> int:
    """Runs an entry point's ``body`` and turns its errors into exit codes: 2 bad input or a
    failed run (3 when the tracking server failed mid-run, 4 when the Ray executor lost its
    node, head or workers: ``run_lookup.exit_code_for``), 143 SIGTERM, 130 interrupted.
    Bad input and failures also mark the ``mlflow run`` launcher run FAILED with the reason."""
    launch = Launch()
    try:
        return int(body(launch) or 0)
    except (SpikeFIError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        fail_launcher(launch.client, launch.launcher, f"{type(exc).__name__}: {exc}")
        # only a run that reached tracking can have lost its server (exit 3); a bad option or
        # config fails before run_lookup (MLflow, PyTorch) is imported, and stays fast
        lookup = sys.modules.get(f"{__package__}.run_lookup")
        return lookup.exit_code_for(exc) if lookup is not None else 2
    except Terminated as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"error: {interrupted}", file=sys.stderr)
        return 130
    except Exception as exc:
        fail_launcher(launch.client, launch.launcher, f"{type(exc).__name__}: {exc}")
        raise


def build_parser(prog: str, description: str | None, default_config: str, section: str = "campaign.data",
                 resumable: bool = True) -> argparse.ArgumentParser:
    """The options the campaign, sweep and search entry points share. ``section`` is the config
    section of the ``--set`` example (``sweep.base.data``, ``search.data``); ``resumable`` adds
    ``--resume`` and ``--stale-after`` (entry points whose runs resume)."""
    ap = argparse.ArgumentParser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=None, help=f"yaml config file or bundled name (default: {default_config})")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help=f"override a config value, e.g. --set {section}.max_samples=32 (repeatable)")
    ap.add_argument("--overrides", default="", help="several KEY=VALUE overrides in one string (the MLproject "
                                                    "parameter `overrides`)")
    if resumable:
        ap.add_argument("--resume", default="auto", help="RUN_ID, 'auto' (default: continue the unfinished run with "
                                                          "the same config hash) or 'never'")
        ap.add_argument("--stale-after", type=float, default=None, metavar="SECONDS",
                        help="a RUNNING run of another machine without heartbeat for this long counts as dead")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def parse_args(ap: argparse.ArgumentParser, argv: list[str] | None, options: tuple[str, ...]) -> argparse.Namespace:
    args, unknown = ap.parse_known_args(argv)
    if unknown:
        from .precheck import did_you_mean

        first = next((u.split("=", 1)[0] for u in unknown if u.startswith("-")), unknown[0])
        raise ConfigError(f"unknown parameter(s) {' '.join(unknown)}; {ap.prog} takes {', '.join(options)} "
                          "(MLproject: -P config=..., -P overrides='k=v ...', -P resume=..., -P shard=i/n)"
                          f"{did_you_mean(first, options)}")
    for name in ("resume", "parent", "merge"):
        value = getattr(args, name, None)
        if isinstance(value, str):
            setattr(args, name, value.strip())
    return args


def main(argv: list[str] | None = None) -> int:
    ap = build_parser("python -m experiments.campaign", __doc__, "dead_neurons_sf4.yaml")
    ap.add_argument("--shard", default="", help="run shard i of n (i/n) as a child of one parent run")
    ap.add_argument("--parent", default="", help="the sharded parent run (default: found by config hash)")
    ap.add_argument("--merge", default="", metavar="PARENT_RUN_ID", help="merge the finished shards of this parent")
    ap.add_argument("--mark-stale", action="store_true", help="only mark dead RUNNING runs KILLED (with the reason)")
    add_executor_options(ap)
    add_round_metrics_option(ap)
    add_sink_options(ap)
    install_signal_handlers()

    def body(launch: Launch) -> int:
        args = parse_args(ap, argv, OPTIONS)
        path = resolve_config_path(args.config, "dead_neurons_sf4.yaml")
        config, spec = load_campaign_config(path, split_overrides(args.sets, args.overrides))
        if args.stale_after is not None:
            config["tracking"]["stale_after_s"] = args.stale_after
        apply_round_metrics(config, args)
        sink, sink_dir = apply_sink_options(config, args)
        shard = parse_shard(args.shard)
        if sink == "local" and (shard or args.merge or args.parent or args.mark_stale):
            raise ConfigError("--shard, --parent, --merge and --mark-stale need the MLflow sink; the local sink "
                              "records whole campaigns (drop --sink local)")
        executor = executor_from_args(args)
        if executor is not None:
            # an unreachable cluster or too few GPUs/CPUs are reported before any run is created
            executor.check_resources(executor.connect())
        built = None if args.mark_stale or args.merge else check_built(spec, executor)
        if sink == "local":
            run_local(args, config, spec, str(sink_dir), executor, built)
            return 0
        launch.client, uri, experiment_id, launch.launcher = connect(config["tracking"])
        dispatch(args, config, spec, shard, launch.client, uri, experiment_id, launch.launcher, executor, built)
        return 0

    return run_main(body)


def dispatch(args: argparse.Namespace, config: dict[str, Any], spec: CampaignSpec, shard: tuple[int, int] | None,
             client: Any, uri: str, experiment_id: str, launcher: str | None,
             executor: Any = None, built: Any = None) -> dict[str, Any] | None:
    from . import campaign_run as cr

    stale_after = float(config["tracking"]["stale_after_s"])
    for run_id, reason in cr.mark_stale_runs(client, [experiment_id], stale_after):
        cr.say(f"marked run {run_id} KILLED: {reason}")
    if args.mark_stale:
        return {}
    if args.merge:
        merged = cr.merge_shards(client, args.merge, config["output_dir"])
        if merged is None:
            raise ConfigError(f"--merge {args.merge}: not every shard has finished yet")
        print_done(merged, uri)
        return merged
    parent = None
    if shard is not None:
        parent = cr.find_or_create_shard_parent(client, experiment_id, spec, cr.campaign_hash(spec), shard[1],
                                                args.parent or None)
    elif args.parent:
        raise ConfigError("--parent is for sharded campaigns (with --shard i/n)")
    tracked = cr.TrackedCampaign(spec, config, client, experiment_id, config["output_dir"], resume=args.resume or "auto",
                                 parent_run_id=parent, shard=shard, launcher_run_id=launcher,
                                 progress=not args.no_progress, stale_after_s=stale_after, executor=executor)
    tracked.prebuilt = built  # the campaign check_built made (in-process): not built a second time
    result = tracked.run()
    if tracked.launcher_run_id:  # a shard: the launcher points to the shard run
        cr.point_launcher(client, tracked.launcher_run_id, result["run_id"])
    if parent is not None:
        merger = None if result.get("skipped") else result["run_id"]  # a re-run of a finished shard merges anyway
        merged = cr.merge_shards(client, parent, config["output_dir"], merger_run_id=merger)
        if merged is None:
            cr.say(f"shard {shard[0]}/{shard[1]} done; parent run {parent} is merged when every shard has finished")
        else:
            result["merged"] = merged
    print_done(result, uri, experiment_id)
    return result


def run_local(args: argparse.Namespace, config: dict[str, Any], spec: CampaignSpec, directory: str,
              executor: Any = None, built: Any = None) -> dict[str, Any]:
    """The campaign recorded by the local-folder sink (no tracking store)."""
    from .local_sink import LocalSink
    from .tracked_campaign import TrackedCampaign, compact_every, flush_every_s, writer_queue

    stale_after = float(config["tracking"]["stale_after_s"])
    sink = LocalSink(directory, stale_after_s=stale_after, writer_capacity=writer_queue(config),
                     compact_every=compact_every(config), flush_every_s=flush_every_s(config))
    tracked = TrackedCampaign(spec, config, None, None, directory, resume=args.resume or "auto",
                              progress=not args.no_progress, executor=executor, sink=sink)
    tracked.prebuilt = built
    result = tracked.run()
    point_launcher_to_folder(result)
    print_done(result, None)
    return result


def point_launcher_to_folder(result: dict[str, Any]) -> None:
    """Under ``mlflow run``, tags the launcher run it created (``MLFLOW_RUN_ID``) as a launcher
    whose campaign the local sink recorded, with the run folder (it holds no results itself)."""
    launcher = os.environ.get("MLFLOW_RUN_ID") or None
    if not launcher:
        return
    from analysis.schema import KIND_LAUNCHER, TAG_PREFIX

    folder = str(result.get("local_dir") or "")
    try:
        from mlflow.entities import RunTag
        from mlflow.tracking import MlflowClient

        from .tracking import resolve_tracking_uri

        MlflowClient(resolve_tracking_uri()).log_batch(launcher, tags=[
            RunTag(TAG_PREFIX + "kind", KIND_LAUNCHER), RunTag(TAG_PREFIX + "local_run", str(result["run_id"])),
            RunTag(TAG_PREFIX + "local_dir", folder),
            RunTag("mlflow.note.content", f"Launcher created by `mlflow run`; it holds no results. The local sink "
                                          f"recorded the campaign (run {result['run_id']}) in {folder}."),
        ])
    except Exception as exc:  # noqa: BLE001 - cosmetic: the results are in the folder either way
        print(f"[spikefi] WARNING: could not tag the launcher run {launcher}: {exc}", file=sys.stderr)


def print_done(result: dict[str, Any], uri: str | None, experiment_id: str | None = None) -> None:
    summary = result.get("summary")
    if summary:
        print(f"campaign run {result['run_id']}: {summary['rounds']} rounds, critical-fault rate "
              f"{summary['critical_fault_rate']:.4f} [{summary['critical_fault_rate_low']:.4f}, "
              f"{summary['critical_fault_rate_high']:.4f}], mean accuracy drop {summary['mean_accuracy_drop']:.4f}")
    else:
        print(f"campaign run {result['run_id']}: {result.get('status', 'done')}")
    if result.get("local_dir"):
        print(f"local files: {result['local_dir']}")
    if uri is None:
        return
    from .tracking import where_line

    print(where_line(uri, experiment_id=experiment_id))


if __name__ == "__main__":
    sys.exit(main())
