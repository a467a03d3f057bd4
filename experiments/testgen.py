"""Test-generation entry point: ``python -m experiments.testgen --config FILE [--set k=v ...]``.

From a fault list — a tracked campaign run (``--campaign-run RUN_ID``), the best fault
sets of a search run (``--search-run RUN_ID``), local campaign result folders
(``--from-results DIR``, repeatable) or an inline campaign of the config's
``testgen.faults.exhaustive`` / ``rounds`` — builds a test program (spikefi.testgen):
detection matrix over the candidate inputs (the test split), selection on one seeded half
of the fault list, input generation for the faults no sample detects, and coverage
measured by applying the program to every fault of both halves. Everything is one MLflow
run: params, metrics (coverage on the selection / held-out half / all, test length,
undetected, generated-input gain), the coverage curve as metric histories (step = test
length) and a plot, the test program as an artifact (``program/program.json`` +
``program/program.npz``), the fault list, the undetected faults and the generated inputs.

    python -m experiments.testgen --config experiments/configs/testgen_digits.yaml
    python -m experiments.testgen --campaign-run RUN_ID --set testgen.faults.critical_only=true
    python -m experiments.testgen --from-results outputs/campaigns/<run>/results
    python -m experiments.testgen --apply outputs/testgen/<run>/program --fault "{model: DeadNeuron, sites: [{layer: SF4, position: [3, 0, 0]}]}"

``--apply PROGRAM_DIR`` applies a saved program to the config's network (with the faults
of ``--fault``, a YAML fault spec or list of them) and prints the verdict: exit 0 when it
passes, 1 when it fails. Exit codes otherwise: 0 done, 2 bad input (nothing run) or a
failed run (marked FAILED with the reason), 130 interrupted.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from spikefi.errors import ConfigError, SpikeFIError
from spikefi.jsonutil import json_default

from .campaign import Launch, connect, resolve_config_path, run_main, split_overrides
from .config import DEFAULT_EXPERIMENT, load_config

DEFAULTS: dict[str, Any] = {
    "testgen": {
        "name": "testgen",
        "network": None,
        "data": {"name": "spiking_digits", "seed": 0, "test_fraction": 0.2, "root": None, "split": "test",
                 "max_samples": None},
        "faults": {"campaign_run": None, "search_run": None, "search_top": 50, "from_results": None,
                   "critical_only": True, "exhaustive": [], "rounds": []},
        "detection": {"count_tolerance": None},
        "selection": {"max_tests": 20, "selection_fraction": 0.5, "split_seed": 0, "method": "greedy+exact",
                      "exact_limit": 2000, "node_limit": 200000, "exact_time_limit_s": 30.0},
        "generation": {"enabled": True, "targets": "undetected", "max_faults": 32, "steps": 60, "restarts": 4,
                       "lr": 0.1, "max_density": None, "time_limit_s": None},
        "options": {"seed": 0, "batch_size": 64, "engine": "parallel", "chunk_size": 64},
    },
    "output_dir": "outputs/testgen",
    "tracking": {"experiment": DEFAULT_EXPERIMENT, "uri": None, "enabled": True},
}

#: the options this entry point takes (MLproject parameters: config, overrides, campaign_run, from_results)
OPTIONS = ("--config", "--set", "--overrides", "--campaign-run", "--search-run", "--from-results", "--critical-only",
           "--all-faults", "--apply", "--fault", "--no-mlflow", "--no-progress")
DEFAULT_CONFIG = "testgen_digits.yaml"
ARTIFACT_SCHEMA_VERSION = 1


def say(message: str) -> None:
    print(message, flush=True)


def load_testgen_config(path: Path, overrides: list[str]) -> dict[str, Any]:
    """The config over :data:`DEFAULTS` (unknown keys are errors) with basic checks."""
    config = load_config(path, DEFAULTS, overrides)
    t = config["testgen"]
    if t.get("network") is None:
        raise ConfigError(f"{str(path)!r}: testgen.network is required ({{pretrained: digits_cnn}} or {{path: FILE}})")
    from spikefi.campaign.spec import check_network_section
    from spikefi.names import check_plain_name

    t["network"] = check_network_section(t["network"], "testgen.network")
    check_plain_name(t["name"], "testgen.name")
    if t["options"]["engine"] not in ("naive", "sequential", "parallel"):
        raise ConfigError(f"testgen.options.engine must be naive, sequential or parallel, got {t['options']['engine']!r}")
    fr = t["faults"]["from_results"]
    if fr is not None and not isinstance(fr, (str, list)):
        raise ConfigError(f"testgen.faults.from_results must be a folder or a list of folders, got {fr!r}")
    if not isinstance(t["faults"]["critical_only"], bool):
        raise ConfigError(f"testgen.faults.critical_only must be true or false, got {t['faults']['critical_only']!r}")
    return config


def testgen_config(t: dict[str, Any]) -> Any:
    """The :class:`~spikefi.testgen.TestGenConfig` of a config's ``testgen`` section."""
    from spikefi.testgen import TestGenConfig

    s, g, o = t["selection"], t["generation"], t["options"]
    return TestGenConfig(
        max_tests=s["max_tests"], selection_fraction=s["selection_fraction"], split_seed=s["split_seed"],
        method=s["method"], exact_limit=s["exact_limit"], node_limit=s["node_limit"],
        exact_time_limit_s=s["exact_time_limit_s"], count_tolerance=t["detection"]["count_tolerance"],
        generate=bool(g["enabled"]), generation_targets=g["targets"], generation_max_faults=g["max_faults"],
        generation_steps=g["steps"], generation_restarts=g["restarts"], generation_lr=g["lr"],
        max_density=g["max_density"], generation_time_limit_s=g["time_limit_s"], seed=o["seed"],
        batch_size=o["batch_size"], engine=o["engine"], chunk_size=o["chunk_size"])


class TestGenJob:
    """Everything a test generation needs, built and validated before any work runs."""

    __test__ = False

    def __init__(self, config: dict[str, Any], client: Any = None) -> None:
        import torch

        from spikefi.campaign.network import network_map
        from spikefi.campaign.spec import load_spec_network, load_splits
        from spikefi.training import dataset_tensors

        self.config = config
        t = config["testgen"]
        self.name = str(t["name"])
        self.cfg = testgen_config(t)
        self.net, _ = load_spec_network(t["network"], None)
        train, test, self.data_label = load_splits(t["data"])
        x, y = dataset_tensors(test if t["data"].get("split", "test") == "test" else train)
        n = t["data"].get("max_samples")
        if n is not None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"testgen.data.max_samples must be an int >= 1, got {n!r}")
            x, y = x[:n], y[:n]
        self.x = x.to(torch.float32)
        self.y = y
        self.netmap = network_map(self.net, tuple(self.x.shape[1:4]), int(self.x.shape[-1]))  # type: ignore[arg-type]
        self.critical_only = bool(t["faults"]["critical_only"])
        self.detection = None
        self.fault_list, self.fault_source, self.results = self._fault_list(t["faults"], client)
        self.fault_list.check_network(self.netmap)  # a fault list from another network: error before work

    def _fault_list(self, f: dict[str, Any], client: Any) -> tuple[Any, str, list[tuple[Any, Any]]]:
        from spikefi.campaign import CampaignResult
        from spikefi.testgen import FaultList, fault_list_from_result

        parts: list[tuple[Any, Any]] = []
        sources = []
        if f.get("campaign_run"):
            if client is None:
                raise ConfigError("--campaign-run needs MLflow tracking (not --no-mlflow)")
            from .artifacts import load_run_result

            run_id = str(f["campaign_run"]).strip()
            try:
                result = load_run_result(run_id, client)
            except SpikeFIError:
                raise
            except Exception as exc:  # noqa: BLE001 - MLflow raises several kinds for a bad id
                raise ConfigError(f"campaign run {run_id!r} has no readable campaign result: {exc}") from None
            parts.append((result, fault_list_from_result(result, self.critical_only, f"run:{run_id}")))
            sources.append(f"run:{run_id}")
        if f.get("search_run"):
            if client is None:
                raise ConfigError("--search-run needs MLflow tracking (not --no-mlflow)")
            import tempfile

            import pandas as pd

            from spikefi.testgen import fault_list_from_trials

            run_id = str(f["search_run"]).strip()
            try:
                local = client.download_artifacts(run_id, "search/trials.csv", tempfile.mkdtemp(prefix="spikefi-search-"))
            except Exception as exc:  # noqa: BLE001 - MLflow raises several kinds for a bad id or a missing file
                raise ConfigError(f"search run {run_id!r} has no readable search/trials.csv: {exc}") from None
            top = f.get("search_top")
            parts.append((None, fault_list_from_trials(pd.read_csv(local), top, self.critical_only,
                                                       f"search:{run_id}")))
            sources.append(f"search:{run_id}")
        dirs = f.get("from_results") or []
        for d in [dirs] if isinstance(dirs, str) else list(dirs):
            path = Path(str(d))
            if (path / "results" / "meta.json").is_file():
                path = path / "results"
            result = CampaignResult.load(path)
            parts.append((result, fault_list_from_result(result, self.critical_only, f"dir:{path}")))
            sources.append(f"dir:{path}")
        if not parts:
            if not f.get("exhaustive") and not f.get("rounds"):
                raise ConfigError("no fault list: give --campaign-run RUN_ID, --search-run RUN_ID, --from-results DIR, or "
                                  "testgen.faults.exhaustive / rounds in the config")
            result = self._inline_campaign(f)  # the user's own config: their dotted-path models are allowed
            parts.append((result, fault_list_from_result(result, self.critical_only, "inline campaign",
                                                         allow_import=True)))
            sources.append("inline campaign")
        for _, fl in parts:
            fl.check_network(self.netmap)
        lists = [fl for _, fl in parts]
        fault_list = lists[0] if len(lists) == 1 else FaultList.concat(lists)
        return fault_list, "+".join(sources), parts

    def _inline_campaign(self, f: dict[str, Any]) -> Any:
        from spikefi.campaign import CampaignSpec

        t = self.config["testgen"]
        o = t["options"]
        spec = CampaignSpec.from_dict({
            "name": self.name, "network": t["network"], "data": t["data"],
            "options": {"seed": o["seed"], "batch_size": o["batch_size"], "engine": o["engine"],
                        "chunk_size": o["chunk_size"]},
            "rounds": f.get("rounds") or [], "exhaustive": f.get("exhaustive") or []})
        cmpn = spec.build()  # the candidates' data: the same samples as self.x
        return cmpn.run(engine=o["engine"], chunk_size=o["chunk_size"], progress=False, keep_predictions=True)

    def reuse_detection(self, golden_pred: np.ndarray) -> tuple[Any, str]:
        """The detection matrix from the campaigns' kept predictions when they are on exactly
        these candidates (checked: every round's ``critical`` and ``changed`` counts recomputed
        from the predictions equal the table's); ``(None, reason)`` otherwise."""
        from spikefi.testgen import DetectionMatrix, detection_from_result

        y = self.y.numpy()
        mats = []
        for result, fl in self.results:
            preds = getattr(result, "predictions", None)
            if result is None:
                return None, f"{fl.source} is a search (no per-sample predictions): recomputed"
            if preds is None:
                return None, f"{fl.source} kept no per-sample predictions: recomputed"
            if preds.shape[1] != len(golden_pred):
                return None, f"{fl.source} has {preds.shape[1]} samples, the candidates {len(golden_pred)}: recomputed"
            rows = np.asarray(fl.info["result_row"])
            p = preds[rows]
            crit = ((golden_pred == y)[None, :] & (p != y[None, :])).sum(axis=1)
            changed = (p != golden_pred[None, :]).sum(axis=1)
            if not (np.array_equal(crit, np.asarray(fl.info["critical"]))
                    and ("changed" not in fl.info or np.array_equal(changed, np.asarray(fl.info["changed"])))):
                return None, f"{fl.source} was run on other samples (critical counts differ): recomputed"
            mats.append(detection_from_result(result, fl, golden_pred))
        dm = mats[0] if len(mats) == 1 else DetectionMatrix.concat_faults(mats)
        if list(dm.fault_ids) != list(self.fault_list.ids):  # duplicates dropped by concat: realign
            index = {fid: j for j, fid in enumerate(dm.fault_ids)}
            dm = dm.restrict(faults=[index[fid] for fid in self.fault_list.ids])
        return dm, "campaign predictions (checked against the campaign's critical/changed counts)"




def write_outputs(job: TestGenJob, res: Any, root: Path, params: dict[str, str]) -> list[str]:
    """Writes the run's files under ``root``; returns their relative paths."""
    import pandas as pd

    from spikefi.testgen import coverage_curve_figure

    files = []
    res.program.save(root / "program")
    files += ["program/program.json", "program/program.npz"]
    (root / "testgen").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(res.curve).to_csv(root / "testgen" / "coverage_curve.csv", index=False)
    half = np.full(len(job.fault_list), "heldout", dtype=object)
    half[res.selection_half] = "selection"
    detected = res.program_detection.detected.any(axis=0)
    detectable = res.detection.detected.any(axis=0)
    if res.generated_detection is not None:
        detectable |= res.generated_detection.detected.any(axis=0)
    faults = pd.DataFrame(job.fault_list.to_records())
    faults["half"] = half
    faults["detected_by_program"] = detected
    faults["detectable"] = detectable
    faults["detected_by_samples"] = res.detection.detected.sum(axis=0)
    faults.to_csv(root / "testgen" / "faults.csv", index=False)
    faults[~faults["detected_by_program"]].to_csv(root / "testgen" / "undetected.csv", index=False)
    gen_rows = [] if res.generation is None else [
        {"fault_index": g.fault_index, "fault_id": g.fault_id, "found": g.input is not None, "verified": g.verified,
         "golden_class": g.golden_class, "faulty_class": g.faulty_class, "density": g.density, "steps": g.steps,
         "init_sample": g.init, "seconds": round(g.seconds, 3)} for g in res.generation.inputs]
    pd.DataFrame(gen_rows, columns=["fault_index", "fault_id", "found", "verified", "golden_class", "faulty_class",
                                    "density", "steps", "init_sample", "seconds"]).to_csv(
        root / "testgen" / "generated.csv", index=False)
    summary = {"metrics": res.metrics, "timings": res.timings, "params": params,
               "sample_selection": {"tests": res.sample_selection.tests, "method": res.sample_selection.method,
                                    "optimal": res.sample_selection.optimal, "info": res.sample_selection.info},
               "final_selection": {"tests": res.final_selection.tests, "method": res.final_selection.method,
                                   "optimal": res.final_selection.optimal, "info": res.final_selection.info},
               "generation": None if res.generation is None else res.generation.settings,
               "program_tests": res.program.names}
    (root / "testgen" / "summary.json").write_text(json.dumps(summary, indent=2, default=json_default))
    (root / "testgen" / "config.yaml").write_text(yaml.safe_dump(job.config, sort_keys=False))
    files += ["testgen/coverage_curve.csv", "testgen/faults.csv", "testgen/undetected.csv", "testgen/generated.csv",
              "testgen/summary.json", "testgen/config.yaml"]
    (root / "plots").mkdir(exist_ok=True)
    fig = coverage_curve_figure(res.curve, title=f"{job.name}: coverage vs test length")
    fig.savefig(root / "plots" / "coverage_curve.png", dpi=110)
    files.append("plots/coverage_curve.png")
    (root / "manifest.json").write_text(json.dumps({"artifact_schema_version": ARTIFACT_SCHEMA_VERSION,
                                                    "kind": "testgen", "files": files}, indent=2))
    files.append("manifest.json")
    return files


def run_job(job: TestGenJob, client: Any = None, experiment_id: str | None = None, launcher: str | None = None,
            progress: bool = False) -> dict[str, Any]:
    """Runs the test generation (logging to MLflow when ``client`` is given); returns a summary."""
    from spikefi.testgen import architecture_fingerprint, generate_test_program, golden_responses

    from .tracking import common_tags

    t_start = time.perf_counter()
    t = job.config["testgen"]
    cfg = job.cfg
    run_id = None
    if client is not None:
        run_id = launcher or client.create_run(experiment_id, run_name=f"testgen-{job.name}").info.run_id
        for k, v in common_tags("testgen").items():
            client.set_tag(run_id, k, v)
    status = "FAILED"
    try:
        golden_pred, _ = golden_responses(job.net, job.x, batch_size=cfg.batch_size)
        dm, how = job.reuse_detection(golden_pred)
        say(f"fault list: {len(job.fault_list)} faults from {job.fault_source} "
            f"({'critical only' if job.critical_only else 'all rounds'}); detection: {how}")
        if cfg.count_tolerance is not None and dm is not None:
            dm, how = None, "recomputed (count tolerance needs output counts)"
        fp = architecture_fingerprint(job.net, tuple(job.x.shape[1:4]), int(job.x.shape[-1]))
        from analysis.describe import network_label  # not at import time: --help stays light

        params = {
            "testgen": job.name,
            "network": network_label(t["network"]),
            "network.architecture": fp["sha256"][:16],
            "dataset": job.data_label, "candidates": str(len(job.x)),
            "fault_source": job.fault_source[:500], "critical_only": str(job.critical_only),
            "faults": str(len(job.fault_list)), "detection.source": how if dm is not None else "recomputed",
            "criterion": "prediction" if cfg.count_tolerance is None else f"prediction+counts(tol={cfg.count_tolerance})",
            "max_tests": str(cfg.max_tests), "method": cfg.method, "selection_fraction": str(cfg.selection_fraction),
            "split_seed": str(cfg.split_seed), "seed": str(cfg.seed), "engine": cfg.engine,
            "generation": str(cfg.generate), "generation.targets": cfg.generation_targets,
            "generation.steps": str(cfg.generation_steps), "generation.restarts": str(cfg.generation_restarts),
            "generation.max_faults": str(cfg.generation_max_faults),
            "generation.max_density": "max of candidates" if cfg.max_density is None else str(cfg.max_density),
        }
        if client is not None:
            from mlflow.entities import Param

            client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
        res = generate_test_program(job.net, job.x, job.fault_list, config=cfg, detection=dm, progress=progress,
                                    log=say)
        root = Path(job.config["output_dir"]) / (run_id or time.strftime("local-%Y%m%d-%H%M%S"))
        files = write_outputs(job, res, root, params)
        metrics = {k: float(v) for k, v in res.metrics.items() if isinstance(v, (int, float)) and np.isfinite(v)}
        metrics.update({f"seconds.{k.removesuffix('_s')}": float(v) for k, v in res.timings.items()})
        metrics["duration_s"] = time.perf_counter() - t_start
        if client is not None:
            from mlflow.entities import Metric

            ts = int(time.time() * 1000)
            points = [Metric(k, v, ts, 0) for k, v in metrics.items()]
            for row in res.curve:
                step = int(row["tests"])
                points += [Metric(f"curve.{k}", float(row[k]), ts, step) for k in
                           ("coverage.selection", "coverage.heldout", "coverage.all", "detected")]
            for i in range(0, len(points), 900):
                client.log_batch(run_id, metrics=points[i:i + 900])
            for sub in ("program", "testgen", "plots"):
                client.log_artifacts(run_id, str(root / sub), sub)
            client.log_artifact(run_id, str(root / "manifest.json"))
            client.set_tag(run_id, "spikefi.status_reason", "finished")
        status = "FINISHED"
        return {"run_id": run_id, "local_dir": str(root), "files": files, "metrics": res.metrics,
                "program_tests": res.program.names, "undetected": len(res.undetected)}
    except BaseException as exc:
        if client is not None and run_id is not None:
            try:
                client.set_tag(run_id, "spikefi.status_reason", f"{type(exc).__name__}: {exc}"[:5000])
            except Exception:  # noqa: BLE001 - best effort, the error is raised anyway
                pass
        if isinstance(exc, KeyboardInterrupt):
            status = "KILLED"
        raise
    finally:
        if client is not None and run_id is not None and os.environ.get("MLFLOW_RUN_ID") != run_id:
            client.set_terminated(run_id, status)
        elif client is not None and run_id is not None and status != "FINISHED":
            client.set_terminated(run_id, status)


def apply_program(job_config: dict[str, Any], program_dir: str, faults_text: str | None) -> int:
    """``--apply``: prints the verdict of a saved program on the config's network; 0 pass, 1 fail."""
    from spikefi.campaign.spec import load_spec_network
    from spikefi.faults.sites import Fault
    from spikefi.testgen import TestProgram, apply_test_program

    program = TestProgram.load(program_dir)
    net, _ = load_spec_network(job_config["testgen"]["network"], None)
    faults = []
    if faults_text:
        try:
            spec = yaml.safe_load(faults_text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--fault is not valid YAML: {exc}") from None
        faults = [Fault.from_spec(s) for s in (spec if isinstance(spec, list) else [spec])]
    verdict = apply_test_program(net, program, faults, seed=int(job_config["testgen"]["options"]["seed"]))
    print(json.dumps({"verdict": "pass" if verdict.passed else "fail", "failing_tests": verdict.failing_names,
                      "tests": len(program), "rule": verdict.rule, "same_weights": verdict.same_weights}))
    return 0 if verdict.passed else 1


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m experiments.testgen", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=None, help=f"yaml config file or bundled name (default: {DEFAULT_CONFIG})")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value, e.g. --set testgen.selection.max_tests=10")
    ap.add_argument("--overrides", default="", help="several KEY=VALUE overrides in one string (MLproject parameter)")
    ap.add_argument("--campaign-run", default="", metavar="RUN_ID", help="take the fault list from this campaign run")
    ap.add_argument("--search-run", default="", metavar="RUN_ID",
                    help="take the fault list from the fault sets of a search run (testgen.faults.search_top best)")
    ap.add_argument("--from-results", action="append", default=[], metavar="DIR",
                    help="take the fault list from a local campaign result folder (repeatable)")
    crit = ap.add_mutually_exclusive_group()
    crit.add_argument("--critical-only", dest="critical", action="store_const", const=True, default=None,
                      help="only the critical faults of the fault list (default of the bundled config)")
    crit.add_argument("--all-faults", dest="critical", action="store_const", const=False,
                      help="every round of the fault list")
    ap.add_argument("--apply", default="", metavar="PROGRAM_DIR", help="apply a saved test program and print the verdict")
    ap.add_argument("--fault", default="", help="with --apply: a YAML fault spec (or list) to inject")
    ap.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow (local files only)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()

    def body(launch: Launch) -> int:
        args, unknown = ap.parse_known_args(argv)
        if unknown:
            raise ConfigError(f"unknown parameter(s) {' '.join(unknown)}; {ap.prog} takes {', '.join(OPTIONS)}")
        args.from_results = [d for d in args.from_results if d.strip()]  # mlflow run passes '' when unset
        path = resolve_config_path(args.config, DEFAULT_CONFIG)
        overrides = split_overrides(args.sets, args.overrides)
        config = load_testgen_config(path, overrides)
        if args.campaign_run.strip():
            config["testgen"]["faults"]["campaign_run"] = args.campaign_run.strip()
        if args.from_results:
            config["testgen"]["faults"]["from_results"] = list(args.from_results)
        if args.search_run.strip():
            config["testgen"]["faults"]["search_run"] = args.search_run.strip()
        if args.critical is not None:
            config["testgen"]["faults"]["critical_only"] = args.critical
        if args.campaign_run.strip() or args.from_results or args.search_run.strip():  # replaces the inline campaign
            config["testgen"]["faults"]["exhaustive"] = []
            config["testgen"]["faults"]["rounds"] = []
        if args.apply:
            return apply_program(config, args.apply, args.fault or None)
        if args.fault:
            raise ConfigError("--fault is only for --apply")
        track = bool(config["tracking"]["enabled"]) and not args.no_mlflow
        uri, experiment_id = None, None
        if track:
            launch.client, uri, experiment_id, launch.launcher = connect(config["tracking"])
        job = TestGenJob(copy.deepcopy(config), launch.client)
        summary = run_job(job, launch.client, experiment_id, launch.launcher, progress=not args.no_progress)
        print_summary(summary, uri)
        return 0

    return run_main(body)


def print_summary(summary: dict[str, Any], uri: str | None) -> None:
    m = summary["metrics"]
    print(f"test program: {int(m['test_length'])} inputs ({int(m['generated.in_program'])} generated) for "
          f"{int(m['faults'])} faults")
    print(f"coverage of detectable faults: selection half {m['coverage.selection']:.4f}, held-out half "
          f"{m['coverage.heldout']:.4f}, all {m['coverage.all']:.4f}; undetected {int(m['undetected'])} "
          f"({int(m['undetectable'])} undetectable by any candidate or generated input)")
    print(f"generated inputs: {int(m['generated.verified'])} verified of {int(m['generated.targets'])} targets; gain "
          f"{int(m['generated.gain.all'])} faults (selection half {int(m['generated.gain.selection'])}, held-out "
          f"{int(m['generated.gain.heldout'])})")
    print(f"local files: {summary['local_dir']}")
    for f in summary["files"]:
        print(f"  {f}")
    if summary.get("run_id"):
        from .tracking import where_line

        print(where_line(uri or "", summary["run_id"]))


if __name__ == "__main__":
    sys.exit(main())
