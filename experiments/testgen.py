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

from analysis.schema import (
    COVERAGE_CURVE_METRICS,
    COVERAGE_CURVE_PREFIX,
    KIND_TESTGEN,
    METRIC_COVERAGE_ALL,
    METRIC_COVERAGE_HELDOUT,
    METRIC_COVERAGE_SELECTION,
    METRIC_DURATION,
    METRIC_FAULTS,
    METRIC_GENERATED_GAIN_ALL,
    METRIC_GENERATED_GAIN_HELDOUT,
    METRIC_GENERATED_GAIN_SELECTION,
    METRIC_GENERATED_IN_PROGRAM,
    METRIC_GENERATED_TARGETS,
    METRIC_GENERATED_VERIFIED,
    METRIC_HINDSIGHT_COVERAGE_HELDOUT,
    METRIC_HINDSIGHT_TEST_LENGTH,
    METRIC_N_DETECT,
    METRIC_SECONDS_PREFIX,
    METRIC_TEST_LENGTH,
    METRIC_UNDETECTABLE,
    METRIC_UNDETECTED,
    PARAM_ARCHITECTURE,
    PARAM_DATASET,
    PARAM_FAULT_SOURCE,
    PARAM_NETWORK_DIGEST,
    PARAM_NETWORK_DIGEST_QUANTIZED,
    PARAM_TESTGEN,
    TAG_STATUS_REASON,
)
from spikefi.errors import ConfigError, SpikeFIError
from spikefi.jsonutil import json_default

from .campaign import Launch, connect, resolve_config_path, run_main, split_overrides
from .config import DEFAULT_EXPERIMENT, load_config

DEFAULTS: dict[str, Any] = {
    "testgen": {
        "name": "testgen",
        "network": None,
        # with a run or result folder as the fault source, the network, weights, quantization and data
        # are the source's (its golden model record); true: this section's network is used instead
        "network_explicit": False,
        "data": {"name": "spiking_digits", "seed": 0, "test_fraction": 0.2, "root": None, "split": "test",
                 "max_samples": None},
        "faults": {"campaign_run": None, "search_run": None, "search_top": 50, "from_results": None,
                   "critical_only": True, "exhaustive": [], "rounds": []},
        "detection": {"count_tolerance": None},
        "selection": {"max_tests": 20, "n_detect": 1, "class_cover": True, "tie_break": "fragile",
                      "fill_budget": True, "selection_fraction": 0.5, "split_seed": 0, "method": "greedy+exact",
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
           "--all-faults", "--network", "--apply", "--fault", "--allow-other-network", "--no-mlflow", "--no-progress")
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
    if not isinstance(t["network_explicit"], bool):
        raise ConfigError(f"testgen.network_explicit must be true or false, got {t['network_explicit']!r}")
    if not isinstance(t["faults"]["critical_only"], bool):
        raise ConfigError(f"testgen.faults.critical_only must be true or false, got {t['faults']['critical_only']!r}")
    return config


def testgen_config(t: dict[str, Any]) -> Any:
    """The :class:`~spikefi.testgen.TestGenConfig` of a config's ``testgen`` section."""
    from spikefi.testgen import TestGenConfig

    s, g, o = t["selection"], t["generation"], t["options"]
    return TestGenConfig(
        max_tests=s["max_tests"], n_detect=s["n_detect"], class_cover=s["class_cover"], tie_break=s["tie_break"],
        fill_budget=s["fill_budget"],
        selection_fraction=s["selection_fraction"], split_seed=s["split_seed"],
        method=s["method"], exact_limit=s["exact_limit"], node_limit=s["node_limit"],
        exact_time_limit_s=s["exact_time_limit_s"], count_tolerance=t["detection"]["count_tolerance"],
        generate=bool(g["enabled"]), generation_targets=g["targets"], generation_max_faults=g["max_faults"],
        generation_steps=g["steps"], generation_restarts=g["restarts"], generation_lr=g["lr"],
        max_density=g["max_density"], generation_time_limit_s=g["time_limit_s"], seed=o["seed"],
        batch_size=o["batch_size"], engine=o["engine"], chunk_size=o["chunk_size"])


def parse_network_option(text: str) -> dict[str, Any]:
    """``--network``: ``pretrained:NAME``, ``path:FILE``, ``nir:FILE`` or a YAML network section."""
    from spikefi.campaign.spec import check_network_section

    text = text.strip()
    kind, _, value = text.partition(":")
    if kind in ("pretrained", "path", "nir") and value and not value.startswith(" "):
        section: Any = {kind: value}
    else:
        try:
            section = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--network is not pretrained:NAME, path:FILE, nir:FILE or a YAML section: {exc}") from None
    if not isinstance(section, dict):
        raise ConfigError(f"--network must be pretrained:NAME, path:FILE, nir:FILE or a YAML section, got {text!r}")
    return check_network_section(section, "--network")


def quantize_network(net: Any, quantization: Any, x: Any, y: Any) -> Any:
    """A copy of ``net`` quantized exactly as a campaign with ``quantization`` does (the
    campaign's own code: weights become ``dequantize(quantize(w))``)."""
    from spikefi.campaign import Campaign

    return Campaign(net, (x[:1], y[:1]), quantization=dict(quantization)).net


class SourceNetwork:
    """The network a fault source's runs used, from its golden model record (or none)."""

    def __init__(self, source: str, record: dict[str, Any] | None, model_dir: Path | None) -> None:
        self.source = source
        self.record = record
        self.model_dir = model_dir

    @property
    def digest(self) -> str | None:
        from spikefi.digest import effective_digest

        return effective_digest(self.record) if self.record else None


def _run_golden_model(client: Any, run_id: str, what: str) -> SourceNetwork:
    import tempfile

    from .provenance import MODEL_DIR, read_network_record

    try:
        client.get_run(run_id)
    except Exception:  # noqa: BLE001 - MLflow raises several kinds for a bad id
        label = "campaign" if what == "run" else what
        raise ConfigError(f"{label} run {run_id!r} is not in the tracking store") from None
    try:
        local = Path(client.download_artifacts(run_id, MODEL_DIR, tempfile.mkdtemp(prefix="spikefi-model-")))
    except Exception:  # noqa: BLE001 - MLflow raises several kinds for a missing folder
        return SourceNetwork(f"{what}:{run_id}", None, None)
    return SourceNetwork(f"{what}:{run_id}", read_network_record(local), local)


def _folder_golden_model(path: Path) -> SourceNetwork:
    from .provenance import MODEL_DIR, read_network_record

    for root in (path, path.parent):
        model_dir = root / MODEL_DIR
        if model_dir.is_dir():
            return SourceNetwork(f"dir:{path}", read_network_record(model_dir), model_dir)
    return SourceNetwork(f"dir:{path}", None, None)


NO_RECORD_HINT = ("stores no golden model record (made before spikefi stored one, or a plain result folder); "
                  "pass --network pretrained:NAME|path:FILE|nir:FILE to build the program on a network you name")


class TestGenJob:
    """Everything a test generation needs, built and validated before any work runs.

    With a run or result folder as the fault source, the network, its weights, its
    quantization and the candidate data are the source's (its stored golden model record,
    checked against the digest the source logged); a source without a record is refused
    unless ``testgen.network_explicit`` (``--network``) names the network.
    """

    __test__ = False

    def __init__(self, config: dict[str, Any], client: Any = None) -> None:
        import torch

        from spikefi.campaign.network import network_map
        from spikefi.campaign.spec import load_spec_network, load_splits
        from spikefi.digest import network_digest, short_digest
        from spikefi.training import dataset_tensors

        from .provenance import record_network_section

        self.config = config
        t = config["testgen"]
        self.name = str(t["name"])
        self.cfg = testgen_config(t)
        self.critical_only = bool(t["faults"]["critical_only"])
        self.detection = None
        explicit = bool(t["network_explicit"])
        self.sources = self._source_networks(t["faults"], client)
        records = [s for s in self.sources if s.record is not None]
        if not explicit:
            missing = [s.source for s in self.sources if s.record is None]
            if missing:
                raise ConfigError(f"{missing[0]} {NO_RECORD_HINT}")
            digests = {s.digest for s in records}
            if len(digests) > 1:
                raise ConfigError("the fault sources were run on different networks ("
                                  + ", ".join(f"{s.source}: {short_digest(s.digest)}" for s in records)
                                  + "); give sources of one network")
        self.quantization = None
        self.network_source = "config (inline campaign)" if not self.sources else "explicit (--network)"
        network = t["network"]
        self.network_named = dict(network)  # how the network is named in logs (the source's own section)
        first = records[0] if records else None
        if first is not None and not explicit:
            try:
                network = record_network_section(first.record, first.model_dir)  # type: ignore[arg-type]
            except ConfigError as exc:
                raise ConfigError(f"{first.source}: {exc}; pass --network to name the network") from None
            self.quantization = first.record.get("quantization")  # type: ignore[union-attr]
            self.network_source = f"golden model of {first.source}"
            self.network_named = dict(first.record["network"])  # type: ignore[index]
            t["network"] = network
        if first is not None and first.record.get("data"):  # type: ignore[union-attr]
            t["data"] = {"split": "test", "max_samples": None, **first.record["data"]}  # type: ignore[index]
        self.net, _ = load_spec_network(network, None)
        self.loaded_digest = network_digest(self.net)
        train, test, self.data_label = load_splits(t["data"])
        x, y = dataset_tensors(test if t["data"].get("split", "test") == "test" else train)
        n = t["data"].get("max_samples")
        if n is not None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"testgen.data.max_samples must be an int >= 1, got {n!r}")
            x, y = x[:n], y[:n]
        self.x = x.to(torch.float32)
        self.y = y
        if self.quantization:
            self.net = quantize_network(self.net, self.quantization, self.x, self.y)
        self.digest = network_digest(self.net)  # the weights the program is built and measured on
        if first is not None and not explicit:
            want = first.record[PARAM_NETWORK_DIGEST]  # type: ignore[index]
            if self.loaded_digest != want or self.digest != first.digest:
                raise ConfigError(f"the golden model stored by {first.source} does not reproduce the digest it logged "
                                  f"({short_digest(self.loaded_digest)} vs {short_digest(want)}): the artifact was "
                                  "changed; pass --network to name the network")
        self.source_digest = first.digest if first is not None else None
        self.netmap = network_map(self.net, tuple(self.x.shape[1:4]), int(self.x.shape[-1]))  # type: ignore[arg-type]
        self.fault_list, self.fault_source, self.results = self._fault_list(t["faults"], client)
        self.fault_list.check_network(self.netmap)  # a fault list from another network: error before work
        if not explicit:
            self.fault_list.check_digest(self.digest)

    def provenance(self) -> dict[str, Any]:
        """Which network the run used and where it came from (logged and stored in the program)."""
        from analysis.describe import network_label  # not at import time: --help stays light

        out: dict[str, Any] = {"network": network_label(self.network_named),
                               "network.source": self.network_source, PARAM_NETWORK_DIGEST: self.loaded_digest}
        if self.quantization:
            out[PARAM_NETWORK_DIGEST_QUANTIZED] = self.digest
            out["quantization"] = self.quantization
        if self.source_digest is not None:
            out["network.source_digest"] = self.source_digest
            out["network.matches_source"] = self.source_digest == self.digest
        return out

    @staticmethod
    def _source_networks(f: dict[str, Any], client: Any) -> list[SourceNetwork]:
        out = []
        if f.get("campaign_run"):
            if client is None:
                raise ConfigError("--campaign-run needs MLflow tracking (not --no-mlflow)")
            out.append(_run_golden_model(client, str(f["campaign_run"]).strip(), "run"))
        if f.get("search_run"):
            if client is None:
                raise ConfigError("--search-run needs MLflow tracking (not --no-mlflow)")
            out.append(_run_golden_model(client, str(f["search_run"]).strip(), "search"))
        dirs = f.get("from_results") or []
        for d in [dirs] if isinstance(dirs, str) else list(dirs):
            path = Path(str(d))
            if not path.exists():
                raise ConfigError(f"{str(path)!r} holds no campaign result (no such folder)")
            out.append(_folder_golden_model(path))
        return out

    def _fault_list(self, f: dict[str, Any], client: Any) -> tuple[Any, str, list[tuple[Any, Any]]]:
        from spikefi.campaign import CampaignResult
        from spikefi.testgen import FaultList, fault_list_from_result

        digests = {s.source: s.digest for s in self.sources}
        parts: list[tuple[Any, Any]] = []
        sources = []
        if f.get("campaign_run"):
            from .artifacts import load_run_result

            run_id = str(f["campaign_run"]).strip()
            try:
                result = load_run_result(run_id, client)
            except SpikeFIError:
                raise
            except Exception as exc:  # noqa: BLE001 - MLflow raises several kinds for a bad id
                raise ConfigError(f"campaign run {run_id!r} has no readable campaign result: {exc}") from None
            fl = fault_list_from_result(result, self.critical_only, f"run:{run_id}")
            parts.append((result, fl.with_digest(digests.get(f"run:{run_id}"))))
            sources.append(f"run:{run_id}")
        if f.get("search_run"):
            import tempfile

            import pandas as pd

            from spikefi.testgen import fault_list_from_trials

            run_id = str(f["search_run"]).strip()
            try:
                local = client.download_artifacts(run_id, "search/trials.csv", tempfile.mkdtemp(prefix="spikefi-search-"))
            except Exception as exc:  # noqa: BLE001 - MLflow raises several kinds for a bad id or a missing file
                raise ConfigError(f"search run {run_id!r} has no readable search/trials.csv: {exc}") from None
            top = f.get("search_top")
            fl = fault_list_from_trials(pd.read_csv(local), top, self.critical_only, f"search:{run_id}")
            parts.append((None, fl.with_digest(digests.get(f"search:{run_id}"))))
            sources.append(f"search:{run_id}")
        dirs = f.get("from_results") or []
        for d in [dirs] if isinstance(dirs, str) else list(dirs):
            path = Path(str(d))
            digest = digests.get(f"dir:{path}")
            if (path / "results" / "meta.json").is_file():
                path = path / "results"
            result = CampaignResult.load(path)
            fl = fault_list_from_result(result, self.critical_only, f"dir:{path}")
            parts.append((result, fl.with_digest(digest)))
            sources.append(f"dir:{path}")
        if not parts:
            if not f.get("exhaustive") and not f.get("rounds"):
                raise ConfigError("no fault list: give --campaign-run RUN_ID, --search-run RUN_ID, --from-results DIR, or "
                                  "testgen.faults.exhaustive / rounds in the config")
            result = self._inline_campaign(f)  # the user's own config: their dotted-path models are allowed
            fl = fault_list_from_result(result, self.critical_only, "inline campaign", allow_import=True)
            parts.append((result, fl.with_digest(self.digest)))
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
               "program_tests": res.program.names, "network": res.program.info.get("network"),
               "fault_list_digest": job.fault_list.network_digest}
    (root / "testgen" / "summary.json").write_text(json.dumps(summary, indent=2, default=json_default))
    inputs = pd.DataFrame([{**{k: v for k, v in row.items() if k not in ("faults", "fault_labels")},
                            "faults": ";".join(row["fault_labels"])} for row in res.program.info.get("tests", [])],
                          columns=["test", "name", "origin", "sample", "label", "expected_class", "golden_margin", "detects",
                                   "detects.selection", "detects.heldout", "new_detections", "faults"])
    inputs.to_csv(root / "testgen" / "program_inputs.csv", index=False)
    (root / "testgen" / "config.yaml").write_text(yaml.safe_dump(job.config, sort_keys=False))
    files += ["testgen/program_inputs.csv", "testgen/coverage_curve.csv", "testgen/faults.csv", "testgen/undetected.csv", "testgen/generated.csv",
              "testgen/summary.json", "testgen/config.yaml"]
    (root / "plots").mkdir(exist_ok=True)
    fig = coverage_curve_figure(res.curve, title=f"{job.name}: coverage vs test length")
    fig.savefig(root / "plots" / "coverage_curve.png", dpi=110)
    files.append("plots/coverage_curve.png")
    (root / "manifest.json").write_text(json.dumps({"artifact_schema_version": ARTIFACT_SCHEMA_VERSION,
                                                    "kind": KIND_TESTGEN, "files": files}, indent=2))
    files.append("manifest.json")
    return files


def run_job(job: TestGenJob, client: Any = None, experiment_id: str | None = None, launcher: str | None = None,
            progress: bool = False) -> dict[str, Any]:
    """Runs the test generation (logging to MLflow when ``client`` is given); returns a summary."""
    from spikefi.testgen import architecture_fingerprint, generate_test_program, golden_responses

    from .tracking import common_tags

    t_start = time.perf_counter()
    cfg = job.cfg
    run_id = None
    if client is not None:
        run_id = launcher or client.create_run(experiment_id, run_name=f"testgen-{job.name}").info.run_id
        for k, v in common_tags(KIND_TESTGEN).items():
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
        provenance = job.provenance()
        params = {
            PARAM_TESTGEN: job.name,
            **{k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in provenance.items()},
            PARAM_ARCHITECTURE: fp["sha256"][:16],
            PARAM_DATASET: job.data_label, "candidates": str(len(job.x)),
            PARAM_FAULT_SOURCE: job.fault_source[:500], "critical_only": str(job.critical_only),
            "faults": str(len(job.fault_list)), "detection.source": how if dm is not None else "recomputed",
            "criterion": "prediction" if cfg.count_tolerance is None else f"prediction+counts(tol={cfg.count_tolerance})",
            "max_tests": str(cfg.max_tests), "n_detect": str(cfg.n_detect), "class_cover": str(cfg.class_cover),
            "tie_break": cfg.tie_break, "fill_budget": str(cfg.fill_budget),
            "method": cfg.method, "selection_fraction": str(cfg.selection_fraction),
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
                                    log=say, labels=job.y.numpy())
        res.program.info["network"] = provenance
        root = Path(job.config["output_dir"]) / (run_id or time.strftime("local-%Y%m%d-%H%M%S"))
        files = write_outputs(job, res, root, params)
        metrics = {k: float(v) for k, v in res.metrics.items() if isinstance(v, (int, float)) and np.isfinite(v)}
        metrics.update({METRIC_SECONDS_PREFIX + k.removesuffix("_s"): float(v) for k, v in res.timings.items()})
        metrics[METRIC_DURATION] = time.perf_counter() - t_start
        if client is not None:
            from mlflow.entities import Metric

            ts = int(time.time() * 1000)
            points = [Metric(k, v, ts, 0) for k, v in metrics.items()]
            for row in res.curve:
                step = int(row["tests"])
                points += [Metric(COVERAGE_CURVE_PREFIX + k, float(row[k]), ts, step) for k in COVERAGE_CURVE_METRICS]
            for i in range(0, len(points), 900):
                client.log_batch(run_id, metrics=points[i:i + 900])
            for sub in ("program", "testgen", "plots"):
                client.log_artifacts(run_id, str(root / sub), sub)
            client.log_artifact(run_id, str(root / "manifest.json"))
            client.set_tag(run_id, TAG_STATUS_REASON, "finished")
        status = "FINISHED"
        return {"run_id": run_id, "local_dir": str(root), "files": files, "metrics": res.metrics,
                "program_tests": res.program.names, "undetected": len(res.undetected),
                "tests": res.program.info.get("tests", []), "network": provenance}
    except BaseException as exc:
        if client is not None and run_id is not None:
            try:
                client.set_tag(run_id, TAG_STATUS_REASON, f"{type(exc).__name__}: {exc}"[:5000])
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


def apply_program(job_config: dict[str, Any], program_dir: str, faults_text: str | None,
                  allow_other_network: bool = False) -> int:
    """``--apply``: prints the verdict of a saved program on the config's network (or
    ``--network``'s), quantized as the program's network was; 0 pass, 1 fail. A network whose
    canonical digest differs from the program's is refused (exit 2) unless
    ``allow_other_network``, and the verdict then says so."""
    from spikefi.campaign.spec import load_spec_network
    from spikefi.faults.sites import Fault
    from spikefi.testgen import TestProgram, apply_test_program

    program = TestProgram.load(program_dir)
    net, _ = load_spec_network(job_config["testgen"]["network"], None)
    quantization = (program.info.get("network") or {}).get("quantization")
    if quantization:
        import torch

        x = program.input_tensor()
        net = quantize_network(net, quantization, x, torch.from_numpy(program.expected_class.astype(np.int64)))
    faults = []
    if faults_text:
        try:
            spec = yaml.safe_load(faults_text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--fault is not valid YAML: {exc}") from None
        faults = [Fault.from_spec(s) for s in (spec if isinstance(spec, list) else [spec])]
    verdict = apply_test_program(net, program, faults, seed=int(job_config["testgen"]["options"]["seed"]),
                                 allow_other_network=allow_other_network)
    out = {"verdict": "pass" if verdict.passed else "fail", "failing_tests": verdict.failing_names,
           "tests": len(program), "rule": verdict.rule, "same_weights": verdict.same_weights,
           "network_digest": verdict.network_digest, "program_digest": verdict.program_digest}
    if not verdict.same_weights:
        out["note"] = ("applied to ANOTHER network than the program was made for (--allow-other-network): "
                       "its expected responses need not hold for this network")
    print(json.dumps(out))
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
    ap.add_argument("--network", default="", metavar="SPEC",
                    help="the network to use (pretrained:NAME, path:FILE, nir:FILE or a YAML section) instead of the "
                         "fault source's stored golden model; with --apply, the network the program is applied to")
    ap.add_argument("--apply", default="", metavar="PROGRAM_DIR", help="apply a saved test program and print the verdict")
    ap.add_argument("--allow-other-network", action="store_true",
                    help="with --apply: apply the program to a network of another digest (the verdict says so)")
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
        if args.network.strip():
            config["testgen"]["network"] = parse_network_option(args.network)
            config["testgen"]["network_explicit"] = True
        if args.apply:
            return apply_program(config, args.apply, args.fault or None, args.allow_other_network)
        if args.allow_other_network:
            raise ConfigError("--allow-other-network is only for --apply")
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
    net = summary.get("network") or {}
    print(f"network: {net.get('network', '?')} ({net.get('network.source', '?')}; digest "
          f"{str(net.get(PARAM_NETWORK_DIGEST_QUANTIZED) or net.get(PARAM_NETWORK_DIGEST, '?'))[:12]})")
    print(f"test program: {int(m[METRIC_TEST_LENGTH])} inputs ({int(m[METRIC_GENERATED_IN_PROGRAM])} generated, "
          f"{int(m[METRIC_N_DETECT])}-detect) for {int(m[METRIC_FAULTS])} faults; held-out coverage "
          f"{m[METRIC_COVERAGE_HELDOUT]:.4f} of the detectable faults the selection never saw (the best "
          f"{int(m[METRIC_HINDSIGHT_TEST_LENGTH])} inputs chosen with hindsight on all faults reach "
          f"{m[METRIC_HINDSIGHT_COVERAGE_HELDOUT]:.4f})")
    print(f"coverage of detectable faults: selection half {m[METRIC_COVERAGE_SELECTION]:.4f}, all "
          f"{m[METRIC_COVERAGE_ALL]:.4f} of {int(m[METRIC_FAULTS])} faults; undetected {int(m[METRIC_UNDETECTED])} "
          f"({int(m[METRIC_UNDETECTABLE])} undetectable by any candidate or generated input)")
    print(f"generated inputs: {int(m[METRIC_GENERATED_VERIFIED])} verified of {int(m[METRIC_GENERATED_TARGETS])} "
          f"targets; gain {int(m[METRIC_GENERATED_GAIN_ALL])} faults (selection half "
          f"{int(m[METRIC_GENERATED_GAIN_SELECTION])}, held-out {int(m[METRIC_GENERATED_GAIN_HELDOUT])})")
    tests = summary.get("tests") or []
    if tests:
        print("program inputs (sample id in the test split, label, expected class: faults detected, new ones):")
        for row in tests:
            what = f"sample {row['sample']}, label {row['label']}" if row["origin"] == "sample" else row["name"]
            shown = ", ".join(row["fault_labels"][:4]) + (", ..." if len(row["fault_labels"]) > 4 else "")
            print(f"  {row['test'] + 1:>2}. {what}, expects class {row['expected_class']}: detects {row['detects']} "
                  f"({row['new_detections']} new) {shown}")
    print(f"local files: {summary['local_dir']}")
    for f in summary["files"]:
        print(f"  {f}")
    if summary.get("run_id"):
        from .tracking import where_line

        print(where_line(uri or "", summary["run_id"]))


if __name__ == "__main__":
    sys.exit(main())
