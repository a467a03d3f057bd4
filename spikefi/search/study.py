"""Worst-case fault search with Optuna: samplers, storages, objectives and the trial loop.

The loop asks Optuna for a batch of trials, turns each into a fault set
(:class:`~spikefi.search.space.FaultSpace`), evaluates the batch together
(:class:`~spikefi.search.evaluate.FaultSetEvaluator`, fault-parallel), optionally prunes
hopeless trials after a first subset of the test set, and tells Optuna the results. Several
processes (or machines) may run the loop on one study in a shared storage.

Objectives:

- ``accuracy``: minimize the faulty network's accuracy.
- ``critical``: maximize the number of critical samples (correct in the golden network,
  wrong under the faults).
- ``pareto``: two objectives, maximize the accuracy drop and minimize the number of faulty
  sites — the front of "fewest faults that break the network" (use a variable ``k``).

Example:
    >>> import optuna
    >>> from spikefi.zoo import load_pretrained
    >>> from spikefi.data import load_spiking_digits
    >>> net, _, _ = load_pretrained("digits_cnn")
    >>> _, test = load_spiking_digits()
    >>> ev = FaultSetEvaluator(net, test, max_samples=16)
    >>> space = FaultSpace(ev.netmap.layers, {"k": 1, "models": ["DeadNeuron"], "layers": ["SF4"]}, ev.steps)
    >>> study = create_study(None, "demo", "accuracy", make_sampler("random", 0, 1), None)
    >>> records = run_search(study, space, ev, "accuracy", n_trials=4, batch=2)
    >>> len(records), records[0].state
    (4, 'COMPLETE')
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from ..errors import ConfigError, FaultSpecError
from ..faults.sites import Fault
from .evaluate import FaultSetEvaluator, FaultSetScore
from .space import FaultSpace, describe_faults

__all__ = [
    "OBJECTIVES", "SAMPLERS", "PRUNERS", "TrialRecord", "make_sampler", "make_pruner", "open_storage",
    "create_study", "run_search", "objective_values", "trials_table", "fail_orphaned_trials", "worker_identity",
    "WORKER_ATTR",
]

#: user attribute of every trial this loop asks for: the host and process id of its worker
WORKER_ATTR = "spikefi_worker"

#: objective name -> Optuna directions
OBJECTIVES: dict[str, list[str]] = {
    "accuracy": ["minimize"],
    "critical": ["maximize"],
    "pareto": ["maximize", "minimize"],
}
SAMPLERS = ("tpe", "random", "cmaes", "gp", "nsga2")
PRUNERS = ("none", "median", "percentile", "threshold")


@dataclass
class TrialRecord:
    """One evaluated (or pruned, or failed) trial."""

    number: int
    state: str
    params: dict[str, Any]
    faults: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    values: list[float] | None = None
    score: FaultSetScore | None = None
    error: str = ""

    def metrics(self) -> dict[str, float]:
        """Numbers to log for this trial.

        The accuracy drop is the score's own (golden minus faulty accuracy on the same
        samples). A pruned trial was evaluated on the first stage's samples only: its numbers
        go under distinct names (``partial_accuracy``, ``partial_accuracy_drop``,
        ``partial_critical_samples``, ``partial_changed_samples``, ``partial_samples``), so that no
        chart or ranking mixes them with complete trials' whole-set numbers.
        """
        out: dict[str, float] = {"sites": float(len(self.faults))}
        if self.score is not None:
            s = self.score
            numbers = {"accuracy": s.accuracy, "accuracy_drop": s.accuracy_drop if s.samples else math.nan,
                       "critical_samples": float(s.critical), "changed_samples": float(s.changed)}
            if self.state == "PRUNED":
                out.update({f"partial_{k}": v for k, v in numbers.items()}, partial_samples=float(s.samples))
            else:
                out.update(numbers, samples_evaluated=float(s.samples))
            out["seconds"] = s.seconds
        return out


def make_sampler(name: str, seed: int | None, n_objectives: int, **options: Any) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name: ``tpe``, ``random``, ``cmaes``, ``gp`` or ``nsga2``.

    Raises:
        ConfigError: unknown name, bad options, or a single-objective sampler (CMA-ES) for two
            objectives.
    """
    samplers: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "gp": optuna.samplers.GPSampler,
        "nsga2": optuna.samplers.NSGAIISampler,
    }
    if name not in samplers:
        raise ConfigError(f"unknown sampler {name!r}; allowed: {list(SAMPLERS)}")
    if name == "cmaes" and n_objectives > 1:
        raise ConfigError("the cmaes sampler optimizes one objective; use tpe or nsga2 for the pareto objective")
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError("the cmaes sampler needs the 'cmaes' package (pip install cmaes)") from None
        options.setdefault("warn_independent_sampling", False)
    if name == "tpe":
        options.setdefault("multivariate", True)
        options.setdefault("group", True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return samplers[name](seed=seed, **options)
    except TypeError as exc:
        raise ConfigError(f"bad options {options} for sampler {name!r}: {exc}") from None


def make_pruner(name: str | None, n_objectives: int, **options: Any) -> optuna.pruners.BasePruner | None:
    """A pruner for partial test-set evaluations: ``none``, ``median``, ``percentile`` or
    ``threshold`` (options are the Optuna pruner's arguments)."""
    if name in (None, "none"):
        return None
    if n_objectives > 1:
        raise ConfigError("pruning needs a single objective; set pruner: none for the pareto objective")
    pruners: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "threshold": optuna.pruners.ThresholdPruner,
    }
    if name not in pruners:
        raise ConfigError(f"unknown pruner {name!r}; allowed: {list(PRUNERS)}")
    try:
        return pruners[name](**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad options {options} for pruner {name!r}: {exc}") from None


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage: an RDB URL (``sqlite:///study.db``, ``postgresql://...``) or a
    journal file ``journal:PATH`` (safe for several processes on one file system).

    Raises:
        ConfigError: the storage cannot be opened (the reason is in the message).
    """
    if not isinstance(url, str) or not url:
        raise ConfigError(f"storage must be a URL string, got {url!r}")
    if url.startswith("journal:"):
        path = Path(url[len("journal:"):])
        if not str(path) or not path.parent.is_dir():
            raise ConfigError(f"cannot open storage {url!r}: folder {str(path.parent)!r} does not exist")
        try:
            from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

            return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
        except Exception as exc:  # noqa: BLE001 - any backend failure is the user's storage problem
            raise ConfigError(f"cannot open storage {url!r}: {exc}") from None
    if "://" not in url:
        raise ConfigError(f"cannot open storage {url!r}: give an RDB URL (sqlite:///FILE, postgresql://...) "
                          "or journal:PATH")
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if str(path) != ":memory:" and not path.parent.is_dir():
            raise ConfigError(f"cannot open storage {url!r}: folder {str(path.parent)!r} does not exist")
        _prepare_sqlite(url)
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as exc:  # noqa: BLE001 - driver missing, server down, bad URL ...
        raise ConfigError(f"cannot open storage {url!r}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None


def _create_sqlite_study_db(tmp: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp}")
    storage.engine.dispose()


def _prepare_sqlite(url: str) -> None:
    """Safe first use of a sqlite study database: created completely under an inter-process
    lock in a temporary file, then renamed into place (workers starting together on a new
    study, or one killed while creating it, leave no partial database); a hot rollback journal
    left by a worker killed during a write is rolled back (the study keeps all its trials); a
    database an earlier creation left half-done is a one-line error with the repair."""
    from ..sqlite_store import create_once, schema_state, sqlite_file

    path = sqlite_file(url)
    if path is None:
        return
    try:
        create_once(path, _create_sqlite_study_db)
        version, studies, tables = schema_state(path, "alembic_version", "studies")
    except Exception as exc:  # noqa: BLE001 - locking or reading failed: say why
        raise ConfigError(f"cannot open storage {url!r}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    if version is None and tables:
        held = "holds no studies: delete it" if not studies else f"holds {studies} studies: back it up, move it aside"
        raise ConfigError(f"the Optuna storage {str(path)!r} was left half-created (no schema version recorded), most "
                          f"likely by a process killed while creating it; it {held} (rm {path}) and run again")


def create_study(storage: str | optuna.storages.BaseStorage | None, name: str, objective: str,
                 sampler: optuna.samplers.BaseSampler, pruner: optuna.pruners.BasePruner | None,
                 identity: Mapping[str, Any] | None = None) -> optuna.Study:
    """Creates the study or joins an existing one of the same objective and ``identity``
    (the space and network: a study never mixes trials of two searches).

    Raises:
        ConfigError: unknown objective, or an existing study of another objective or space.
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; allowed: {list(OBJECTIVES)}")
    if isinstance(storage, str):
        storage = open_storage(storage)
    ident = json.dumps(dict(identity or {}), sort_keys=True, default=str)
    try:
        study = optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                    pruner=pruner or optuna.pruners.NopPruner(),
                                    directions=OBJECTIVES[objective], load_if_exists=True)
    except ValueError as exc:
        raise ConfigError(f"study {name!r} exists with other directions ({exc}); use another study name") from None
    wanted = [d.lower() for d in OBJECTIVES[objective]]
    if [d.name.lower() for d in study.directions] != wanted:
        raise ConfigError(f"study {name!r} exists with other directions "
                          f"({[d.name.lower() for d in study.directions]}, {objective!r} needs {wanted}); "
                          "use another study name")
    stored = study.user_attrs.get("spikefi.identity")
    if stored is None:
        study.set_user_attr("spikefi.identity", ident)
        study.set_user_attr("spikefi.objective", objective)
    elif stored != ident:
        raise ConfigError(f"study {name!r} already holds trials of another search space or network; "
                          "use another study name (or the same config)")
    return study


def objective_values(objective: str, score: FaultSetScore, sites: int) -> list[float]:
    """The values Optuna optimizes for one evaluated fault set."""
    if objective == "accuracy":
        return [score.accuracy]
    if objective == "critical":
        return [float(score.critical)]
    return [score.accuracy_drop, float(sites)]


def _intermediate(objective: str, score: FaultSetScore) -> float:
    return score.accuracy if objective == "accuracy" else score.critical_rate


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> int:
    """When process ``pid`` started (clock ticks since boot; 0 where unknown)."""
    stat = _read(f"/proc/{pid}/stat")
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name may hold spaces
    except (IndexError, ValueError):
        return 0


def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


_TOKEN = uuid.uuid4().hex


def worker_identity() -> dict[str, Any]:
    """Who runs a trial: host, boot and process-id namespace (pids mean something only
    within both), pid, the process's start time (a reused pid starts later) and a token
    unique to this process (a restarted container may run its worker under the same pid)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "boot": _read("/proc/sys/kernel/random/boot_id"),
            "pidns": _pid_namespace(), "pid": pid, "start": _start_ticks(pid), "token": _TOKEN}


def _orphaned(worker: Any, me: dict[str, Any]) -> bool:
    """Whether a trial's recorded worker is certainly gone, judged from this process."""
    if not isinstance(worker, dict) or not isinstance(worker.get("pid"), int):
        return False  # not recorded by this loop: unknown
    if any(worker.get(k) != me[k] for k in ("host", "boot", "pidns")):
        return False  # another machine, boot or pid namespace: its pids cannot be checked here
    if worker.get("token") == me["token"]:
        return False  # this process's own trial
    pid = worker["pid"]
    if pid == me["pid"] or not _process_alive(pid):
        return True
    start = worker.get("start", 0)
    return bool(start) and _start_ticks(pid) not in (0, start)  # the pid now belongs to another process


def fail_orphaned_trials(study: optuna.Study, all_running: bool = False) -> list[int]:
    """Marks FAIL the RUNNING trials whose worker is gone; returns their numbers.

    A worker killed without a chance to clean up (SIGKILL, a crash, a lost machine)
    leaves its in-flight trials RUNNING. Every trial asked by :func:`run_search` records
    who runs it (:func:`worker_identity`, user attribute :data:`WORKER_ATTR`); a RUNNING
    trial of this host, boot and pid namespace whose process no longer exists (or whose
    pid now belongs to another process) is an orphan. Trials of other hosts or containers
    cannot be checked from here: ``all_running=True`` fails every RUNNING trial of the
    study — use it only when no worker is running anywhere.

    Example:
        >>> study = create_study(None, "orphans", "accuracy", make_sampler("random", 0, 1), None)
        >>> t = study.ask()
        >>> t.set_user_attr(WORKER_ATTR, {**worker_identity(), "pid": 2**22 + 7, "token": "gone"})  # no such process
        >>> fail_orphaned_trials(study)
        [0]
    """
    me = worker_identity()
    failed = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if all_running or _orphaned(t.user_attrs.get(WORKER_ATTR), me):
            try:
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)
            except (ValueError, RuntimeError):  # finished by its worker meanwhile
                continue
            failed.append(t.number)
    return failed


def run_search(
    study: optuna.Study,
    space: FaultSpace,
    evaluator: FaultSetEvaluator,
    objective: str,
    n_trials: int,
    batch: int = 8,
    on_trial: Callable[[TrialRecord], None] | None = None,
    timeout: float | None = None,
) -> list[TrialRecord]:
    """Runs ``n_trials`` trials of ``study`` (this process's share), ``batch`` at a time.

    With a two-stage evaluator, every trial first runs on the first stage's samples and
    reports that value (step 0); trials the study's pruner prunes stop there.

    Returns the records of this process's trials, in trial order. An interruption
    (KeyboardInterrupt, an error) marks the unfinished trials of the current batch FAIL and
    re-raises; finished trials are already in the storage. Trials a killed worker left
    RUNNING are failed by :func:`fail_orphaned_trials` (the entry point calls it first).
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; allowed: {list(OBJECTIVES)}")
    for name, value in (("n_trials", n_trials), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
    if len(study.directions) != len(OBJECTIVES[objective]):
        raise ConfigError(f"study {study.study_name!r} has {len(study.directions)} objective(s); "
                          f"{objective!r} needs {len(OBJECTIVES[objective])}")
    two_stage = evaluator.stages == 2
    records: list[TrialRecord] = []
    t_start = time.perf_counter()
    worker = worker_identity()
    done = 0
    while done < n_trials:
        if timeout is not None and time.perf_counter() - t_start > timeout:
            break
        trials = []
        for _ in range(min(batch, n_trials - done)):
            trials.append(study.ask())
            trials[-1].set_user_attr(WORKER_ATTR, worker)  # at once: a kill leaves no RUNNING trial without its worker
        done += len(trials)
        told: set[int] = set()
        try:
            batch_records = _run_batch(study, trials, space, evaluator, objective, two_stage, told)
        except BaseException:
            for t in trials:
                if t.number not in told:
                    with contextlib.suppress(ValueError, RuntimeError):  # failed meanwhile (--fail-running)
                        study.tell(t, state=optuna.trial.TrialState.FAIL)
            raise
        for rec in batch_records:
            records.append(rec)
            if on_trial is not None:
                on_trial(rec)
    return records


def _run_batch(study: optuna.Study, trials: list[optuna.Trial], space: FaultSpace, evaluator: FaultSetEvaluator,
               objective: str, two_stage: bool, told: set[int]) -> list[TrialRecord]:
    recs: dict[int, TrialRecord] = {}
    live: list[tuple[optuna.Trial, list[Fault]]] = []
    for t in trials:
        try:
            faults = space.suggest(t)
        except FaultSpecError as exc:
            recs[t.number] = TrialRecord(t.number, "FAIL", dict(t.params), error=str(exc))
            study.tell(t, state=optuna.trial.TrialState.FAIL)
            told.add(t.number)
            continue
        spec = [f.spec() for f in faults]
        t.set_user_attr("faults", json.dumps(spec))
        t.set_user_attr("description", describe_faults(faults))
        t.set_user_attr("sites", len(faults))
        recs[t.number] = TrialRecord(t.number, "RUNNING", dict(t.params), spec, describe_faults(faults))
        live.append((t, faults))
    if two_stage and live:
        first = evaluator.evaluate([f for _, f in live], stage=0)
        survivors = []
        for (t, faults), score in zip(live, first, strict=True):
            t.report(_intermediate(objective, score), step=0)
            rec = recs[t.number]
            rec.score = score
            if t.should_prune():
                _set_score_attrs(t, score, partial=True)
                study.tell(t, state=optuna.trial.TrialState.PRUNED)
                told.add(t.number)
                rec.state = "PRUNED"
            else:
                survivors.append((t, faults))
        rest = evaluator.evaluate([f for _, f in survivors], stage=1) if survivors else []
        finals = [(t, faults, recs[t.number].score + s) for (t, faults), s in zip(survivors, rest, strict=True)]
    else:
        scores = evaluator.evaluate([f for _, f in live]) if live else []
        finals = [(t, faults, s) for (t, faults), s in zip(live, scores, strict=True)]
    for t, faults, score in finals:
        values = objective_values(objective, score, len(faults))
        _set_score_attrs(t, score)
        study.tell(t, values)
        told.add(t.number)
        rec = recs[t.number]
        rec.state, rec.values, rec.score = "COMPLETE", values, score
    return [recs[t.number] for t in trials]


def _set_score_attrs(trial: optuna.Trial, score: FaultSetScore, partial: bool = False) -> None:
    """The score as user attributes; a pruned trial's (first stage only) under ``partial_`` names."""
    prefix = "partial_" if partial else ""
    trial.set_user_attr(prefix + "accuracy", score.accuracy)
    trial.set_user_attr(prefix + "accuracy_drop", score.accuracy_drop)
    trial.set_user_attr(prefix + "critical_samples", score.critical)
    trial.set_user_attr(prefix + "samples", score.samples)


def trials_table(study: optuna.Study) -> Any:
    """Every trial of the study (all workers) as a pandas table, best first: number, state,
    values, accuracy, accuracy drop, critical samples, sites, fault description and specs.

    Complete trials come first, ranked; the others follow by number. Whole-set numbers
    (``accuracy``, ``accuracy_drop``, ``critical_samples``, ``samples``) are those of complete
    trials only; a pruned trial's first-stage numbers are in the ``partial_*`` columns."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        ua = t.user_attrs
        row = {
            "trial": t.number,
            "state": t.state.name,
            "accuracy": ua.get("accuracy", math.nan),
            "accuracy_drop": ua.get("accuracy_drop", math.nan),
            "critical_samples": ua.get("critical_samples", -1),
            "samples": ua.get("samples", 0),
            "sites": ua.get("sites", 0),
            "description": ua.get("description", ""),
            "faults": ua.get("faults", "[]"),
            "duration_s": t.duration.total_seconds() if t.duration is not None else math.nan,
            "partial_accuracy": ua.get("partial_accuracy", math.nan),
            "partial_accuracy_drop": ua.get("partial_accuracy_drop", math.nan),
            "partial_critical_samples": ua.get("partial_critical_samples", -1),
            "partial_samples": ua.get("partial_samples", 0),
        }
        if t.state != optuna.trial.TrialState.COMPLETE and "partial_samples" not in ua and "samples" in ua:
            # pruned by an earlier spikefi, which stored first-stage numbers under the whole-set names
            for key in ("accuracy", "accuracy_drop", "critical_samples", "samples"):
                row["partial_" + key] = row[key]
            row.update(accuracy=math.nan, accuracy_drop=math.nan, critical_samples=-1, samples=0)
        for i, v in enumerate(t.values or []):
            row[f"value{i}"] = v
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        key = "accuracy" if len(study.directions) > 1 or study.directions[0].name == "MINIMIZE" else "critical_samples"
        ascending = key == "accuracy"
        done = table["state"] == "COMPLETE"
        table = pd.concat([table[done].sort_values([key, "sites", "trial"], ascending=[ascending, True, True]),
                           table[~done].sort_values("trial")], ignore_index=True)
    return table


def pareto_table(study: optuna.Study, table: Any = None) -> Any:
    """The best trials (Pareto front for two objectives) as a table (rows of ``table``, the
    study's :func:`trials_table`, when already read)."""
    import pandas as pd

    numbers = {t.number for t in study.best_trials}
    table = trials_table(study) if table is None else table
    return table[table["trial"].isin(numbers)].sort_values(["sites", "accuracy"]).reset_index(drop=True) \
        if len(table) else pd.DataFrame()


def parse_faults(text: str | Sequence[Mapping[str, Any]], *, allow_import: bool = False) -> list[Fault]:
    """Faults of a trial back from their JSON (``faults`` column or user attribute).

    Read back from a study, they name built-in or registered models only unless
    ``allow_import`` (see :mod:`spikefi.plugins`).
    """
    specs = json.loads(text) if isinstance(text, str) else text
    return [Fault.from_spec(s, allow_import=allow_import) for s in specs]


__all__ += ["pareto_table", "parse_faults"]
