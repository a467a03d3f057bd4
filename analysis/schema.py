"""The run schema: names that tracked runs are written under and read back by.

``experiments/`` writes runs (tags, params, metrics, artifacts) under these names and
``analysis/`` reads them back; both import them from here, so a renamed metric or tag
cannot drift between the writer and the reader. This module imports nothing from either
package (``analysis`` never imports ``experiments``).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "RATE_SWEEP_PREFIX", "RATE_SWEEP_METRICS", "RATE_SWEEP_TABLE", "PARAM_RATE_SWEEP",
    "TAG_PREFIX", "TAG_KIND", "TAG_STATUS_REASON", "TAG_VERSION", "TAG_GIT_COMMIT", "TAG_CONFIG_HASH",
    "TAG_ARTIFACT_SCHEMA", "TAG_CAMPAIGN_KIND", "TAG_BEST_FAULTS", "TAG_LAUNCHED_RUN", "TAG_SHARDS",
    "TAG_REPORT_RUNS", "TAG_REPORT_SKIPPED", "TAG_DEMO_RUN", "TAG_STUDY", "TAG_OPTUNA_STORAGE", "TAG_SEARCH_HASH",
    "TAG_WORKER", "TAG_FAULTS",
    "KIND_CAMPAIGN", "KIND_SHARD", "KIND_SHARDED", "KIND_SWEEP", "KIND_LAUNCHER", "KIND_SEARCH", "KIND_SEARCH_TRIAL",
    "KIND_TESTGEN", "KIND_REPORT", "RESULT_KINDS",
    "ROUND_METRICS", "ROUND_METRICS_DEFAULT", "CURVE_METRICS", "TAG_ROUND_METRICS", "PARAM_ROUND_METRICS",
    "SUMMARY_METRICS", "THROUGHPUT_METRIC", "LEGACY_METRIC_NAMES", "metric_of",
    "summary_from_metrics", "metrics_from_summary", "METRIC_CAMPAIGN_GOLDEN_ACCURACY",
    "PARAM_CAMPAIGN", "PARAM_NETWORK", "PARAM_ARCHITECTURE", "PARAM_CONFIG_HASH", "PARAM_DATASET", "PARAM_SAMPLING",
    "CAMPAIGN_PARAM_COLUMNS", "PARAM_NETWORK_DIGEST", "PARAM_NETWORK_DIGEST_QUANTIZED", "PARAM_TEST_SAMPLES",
    "PARAM_OBJECTIVE", "PARAM_SAMPLER", "PARAM_MODELS", "PARAM_K", "PARAM_STUDY_NAME",
    "METRIC_TRIALS_TOTAL", "METRIC_TRIALS_PRUNED", "METRIC_GOLDEN_ACCURACY", "METRIC_BEST_ACCURACY",
    "METRIC_BEST_ACCURACY_DROP", "METRIC_BEST_SITES", "PARAM_TESTGEN", "PARAM_FAULT_SOURCE", "METRIC_FAULTS",
    "METRIC_TEST_LENGTH", "METRIC_N_DETECT", "METRIC_COVERAGE_SELECTION", "METRIC_COVERAGE_HELDOUT",
    "METRIC_COVERAGE_ALL", "METRIC_UNDETECTED", "METRIC_UNDETECTABLE", "METRIC_GENERATED_TARGETS",
    "METRIC_GENERATED_VERIFIED", "METRIC_GENERATED_IN_PROGRAM", "METRIC_GENERATED_GAIN_SELECTION",
    "METRIC_GENERATED_GAIN_HELDOUT", "METRIC_GENERATED_GAIN_ALL", "METRIC_HINDSIGHT_TEST_LENGTH",
    "METRIC_HINDSIGHT_COVERAGE_HELDOUT", "METRIC_DURATION", "METRIC_SECONDS_PREFIX", "COVERAGE_CURVE_PREFIX",
    "COVERAGE_CURVE_METRICS",
    "TESTGEN_METRICS",
    "RESULTS_TABLE", "RESULTS_META", "ROUND_TABLE_VIEW", "ROUND_TABLE_VIEW_ROWS", "ROUND_TABLE_VIEW_COLUMNS",
    "FAULTS_INPUT_CONTEXT",
    "SEVERITY_THRESHOLDS_PP", "SEVERITY_CLASSES", "PARAM_REPORT_SEVERITY", "PARAM_REPORT_NETWORKS",
]

# -- tags ------------------------------------------------------------------------------------
#: every spikefi tag starts with this
TAG_PREFIX = "spikefi."
#: the run's kind (one of the ``KIND_*`` values)
TAG_KIND = TAG_PREFIX + "kind"
#: why a run is not (yet) finished, or how it finished
TAG_STATUS_REASON = TAG_PREFIX + "status_reason"
TAG_VERSION = TAG_PREFIX + "version"
TAG_GIT_COMMIT = TAG_PREFIX + "git_commit"
#: hash of the campaign or sweep config a run resumes by
TAG_CONFIG_HASH = TAG_PREFIX + "config_hash"
TAG_ARTIFACT_SCHEMA = TAG_PREFIX + "artifact_schema"
#: ``python`` for a campaign tracked from a script
TAG_CAMPAIGN_KIND = TAG_PREFIX + "campaign_kind"
#: a search run's worst fault sets, in words
TAG_BEST_FAULTS = TAG_PREFIX + "best_faults"
#: a launcher run's target run id
TAG_LAUNCHED_RUN = TAG_PREFIX + "launched_run"
#: a sharded campaign's number of shards
TAG_SHARDS = TAG_PREFIX + "shards"
TAG_REPORT_RUNS = TAG_PREFIX + "report.runs"
TAG_REPORT_SKIPPED = TAG_PREFIX + "report.skipped"
TAG_DEMO_RUN = TAG_PREFIX + "demo_run"
TAG_STUDY = TAG_PREFIX + "study"
TAG_OPTUNA_STORAGE = TAG_PREFIX + "optuna_storage"
TAG_SEARCH_HASH = TAG_PREFIX + "search_hash"
TAG_WORKER = TAG_PREFIX + "worker"
#: a search trial's fault set, in words
TAG_FAULTS = TAG_PREFIX + "faults"

# -- run kinds (values of TAG_KIND) -------------------------------------------------------------
KIND_CAMPAIGN = "campaign"
KIND_SHARD = "shard"
KIND_SHARDED = "sharded-campaign"
KIND_SWEEP = "sweep"
KIND_LAUNCHER = "launcher"
KIND_SEARCH = "search"
KIND_SEARCH_TRIAL = "search-trial"
KIND_TESTGEN = "testgen"
KIND_REPORT = "report"
#: run kinds whose per-round table analysis counts
RESULT_KINDS = (KIND_CAMPAIGN, KIND_SHARDED)

# -- campaign metrics ------------------------------------------------------------------------
#: per-round metric histories (step = round id) and the table column each comes from
ROUND_METRICS = {
    "round_acc": "accuracy",
    "round_critical": "critical",
    "round_changed": "changed",
}
#: ``tracking.round_metrics`` by default: at most this many points per ``ROUND_METRICS`` key and
#: run (a stride over the run's rounds; docs/mlflow.md, "Per-round metrics")
ROUND_METRICS_DEFAULT = 1000
#: the tag (set when a run is created) and param holding the run's ``round_metrics`` mode
TAG_ROUND_METRICS = TAG_PREFIX + "round_metrics"
PARAM_ROUND_METRICS = "round_metrics"
#: curves over every round, logged once at the end (step = rank, 0 = worst round; at most the
#: cap's points at evenly spaced ranks): metric name -> what is sorted
CURVE_METRICS = {
    "curve_drop": "accuracy drop (golden - round accuracy, fraction), worst first",
    "curve_crit": "critical samples of the round, most first",
}
#: summary metrics (step 0): key of ``CampaignResult.summary()`` -> metric name. The names are
#: short and differ in their first characters, so the MLflow UI's truncated headers stay distinct.
SUMMARY_METRICS = {
    "rounds": "rounds", "critical_faults": "critical", "critical_fault_rate": "crit_rate",
    "critical_fault_rate_low": "crit_ci_low", "critical_fault_rate_high": "crit_ci_high",
    "accuracy_min": "acc_min", "accuracy_mean": "acc_mean", "accuracy_q05": "acc_q05",
    "accuracy_q50": "acc_q50", "accuracy_q95": "acc_q95", "mean_accuracy_drop": "acc_drop",
}
#: a campaign run's golden accuracy (one of its ``golden.*`` metrics)
METRIC_CAMPAIGN_GOLDEN_ACCURACY = "golden.accuracy"
#: the other summary metric of a campaign run (computed by the tracked campaign)
THROUGHPUT_METRIC = "throughput"
#: metric names of runs logged before the renaming (stores of spikefi <= 0.1): new -> old
LEGACY_METRIC_NAMES = {
    "round_acc": "fault.accuracy", "round_critical": "fault.critical_samples", "round_changed": "fault.changed_samples",
    "critical": "critical_faults", "crit_rate": "critical_fault_rate", "crit_ci_low": "critical_fault_rate.ci_low",
    "crit_ci_high": "critical_fault_rate.ci_high", "acc_min": "accuracy.min", "acc_mean": "accuracy.mean",
    "acc_q05": "accuracy.q05", "acc_q50": "accuracy.q50", "acc_q95": "accuracy.q95", "acc_drop": "mean_accuracy_drop",
    "throughput": "faults_x_samples_per_s",
}


def metric_of(metrics: Mapping[str, float], name: str) -> float | None:
    """The value of metric ``name`` of a run, read under its legacy name in older stores."""
    if name in metrics:
        return metrics[name]
    legacy = LEGACY_METRIC_NAMES.get(name)
    return metrics.get(legacy) if legacy else None


def metrics_from_summary(summary: Mapping[str, float]) -> dict[str, float]:
    """``CampaignResult.summary()`` under the metric names a campaign run logs (``crit_rate``,
    ``acc_mean``, ..., ``golden.accuracy``): what ``results/summary.json`` holds."""
    out = {name: summary[key] for key, name in SUMMARY_METRICS.items() if key in summary}
    if "golden_accuracy" in summary:
        out[METRIC_CAMPAIGN_GOLDEN_ACCURACY] = summary["golden_accuracy"]
    return out


def summary_from_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """The ``CampaignResult.summary()`` keys a finished run's metrics hold (new or legacy names)."""
    out = {}
    for key, name in SUMMARY_METRICS.items():
        value = metric_of(metrics, name)
        if value is not None:
            out[key] = value
    if "rounds" in out:
        out["rounds"] = int(out["rounds"])
    return out


# -- params ----------------------------------------------------------------------------------
#: campaign run params that analysis reads
PARAM_CAMPAIGN = "campaign"
PARAM_NETWORK = "network"
PARAM_ARCHITECTURE = "network.architecture"
PARAM_CONFIG_HASH = "config_hash"
PARAM_DATASET = "dataset"
PARAM_SAMPLING = "sampling"
#: the canonical digest (spikefi.digest) of the network as loaded, and of the weights a quantized
#: run computed with; every run kind logs them (experiments/provenance.py)
PARAM_NETWORK_DIGEST = "network.digest"
PARAM_NETWORK_DIGEST_QUANTIZED = "network.digest_quantized"
#: how many samples a search or golden evaluation ran on
PARAM_TEST_SAMPLES = "test_samples"
#: campaign run params that analysis adds to every row (column -> MLflow param)
CAMPAIGN_PARAM_COLUMNS = {
    "campaign": PARAM_CAMPAIGN, "network": PARAM_NETWORK, "architecture": PARAM_ARCHITECTURE,
    "config_hash": PARAM_CONFIG_HASH, "dataset": PARAM_DATASET, "sampling": PARAM_SAMPLING,
}
#: search run params and metrics the report reads
PARAM_OBJECTIVE = "objective"
PARAM_SAMPLER = "sampler"
PARAM_MODELS = "models"
PARAM_K = "k"
PARAM_STUDY_NAME = "study_name"
METRIC_TRIALS_TOTAL = "trials_total"
METRIC_TRIALS_PRUNED = "trials_pruned"
METRIC_GOLDEN_ACCURACY = "golden_accuracy"
METRIC_BEST_ACCURACY = "best_accuracy"
METRIC_BEST_ACCURACY_DROP = "best_accuracy_drop"
METRIC_BEST_SITES = "best_sites"
#: test-generation run params and metrics (step 0: the keys of ``spikefi.testgen``'s result
#: metrics, logged as they are; the report reads them)
PARAM_TESTGEN = "testgen"
PARAM_FAULT_SOURCE = "fault_source"
METRIC_FAULTS = "faults"
METRIC_TEST_LENGTH = "test_length"
METRIC_N_DETECT = "n_detect"
METRIC_COVERAGE_SELECTION = "coverage.selection"
METRIC_COVERAGE_HELDOUT = "coverage.heldout"
METRIC_COVERAGE_ALL = "coverage.all"
METRIC_UNDETECTED = "undetected"
METRIC_UNDETECTABLE = "undetectable"
METRIC_GENERATED_TARGETS = "generated.targets"
METRIC_GENERATED_VERIFIED = "generated.verified"
METRIC_GENERATED_IN_PROGRAM = "generated.in_program"
METRIC_GENERATED_GAIN_SELECTION = "generated.gain.selection"
METRIC_GENERATED_GAIN_HELDOUT = "generated.gain.heldout"
METRIC_GENERATED_GAIN_ALL = "generated.gain.all"
#: the best program of the same length chosen with hindsight on all faults (the held-out bound)
METRIC_HINDSIGHT_TEST_LENGTH = "hindsight.test_length"
METRIC_HINDSIGHT_COVERAGE_HELDOUT = "hindsight.coverage.heldout"
#: a test-generation run's wall time; its phases are ``METRIC_SECONDS_PREFIX + phase``
METRIC_DURATION = "duration_s"
METRIC_SECONDS_PREFIX = "seconds."
#: testgen's coverage curve as metric histories (step = test length): ``COVERAGE_CURVE_PREFIX + name``
COVERAGE_CURVE_PREFIX = "curve."
COVERAGE_CURVE_METRICS = (METRIC_COVERAGE_SELECTION, METRIC_COVERAGE_HELDOUT, METRIC_COVERAGE_ALL, "detected")
TESTGEN_METRICS = (METRIC_FAULTS, METRIC_TEST_LENGTH, METRIC_COVERAGE_SELECTION, METRIC_COVERAGE_HELDOUT,
                   METRIC_COVERAGE_ALL, METRIC_UNDETECTED, METRIC_GENERATED_IN_PROGRAM, METRIC_GENERATED_GAIN_ALL)

# -- artifacts -------------------------------------------------------------------------------
#: a campaign run's per-round table
RESULTS_TABLE = "results/rounds.parquet"
#: a campaign run's result metadata
RESULTS_META = "results/meta.json"
#: the round table as MLflow shows tables (``log_table``, once per run): every round up to
#: ``ROUND_TABLE_VIEW_ROWS``, else that many of the worst (most critical samples, then lowest accuracy)
ROUND_TABLE_VIEW = "tables/rounds.json"
ROUND_TABLE_VIEW_ROWS = 10_000
ROUND_TABLE_VIEW_COLUMNS = ("round_id", "layer", "model", "target", "pos0", "pos1", "pos2", "pos3", "param_name",
                            "param", "bits", "timing", "accuracy", "critical", "changed", "first_divergent_layer")
#: the dataset-input context of a campaign's fault list (the test set's is ``test``)
FAULTS_INPUT_CONTEXT = "faults"


# -- soft-error rate sweeps (campaign section rate_sweep) -----------------------------------------
#: a rate sweep's points as metric histories (step = point index, in the order of the config):
#: ``RATE_SWEEP_PREFIX + name``
RATE_SWEEP_PREFIX = "rate_sweep."
RATE_SWEEP_METRICS = ("rate", "exposure", "bit_upset_probability", "draws", "mean_upsets", "accuracy_mean",
                      "accuracy_low", "accuracy_high", "critical_draw_rate", "critical_draw_low", "critical_draw_high")
#: the sweep's summary table (one row per point)
RATE_SWEEP_TABLE = "results/rate_sweep.csv"
#: the sweep in plain words
PARAM_RATE_SWEEP = "rate_sweep"

# -- report ----------------------------------------------------------------------------------
#: severity classes of a fault round by its accuracy drop (golden minus round accuracy, in
#: percentage points): at most the first threshold, up to the second, up to the third, beyond
SEVERITY_THRESHOLDS_PP = (1.0, 5.0, 10.0)
SEVERITY_CLASSES = ("negligible", "mild", "moderate", "severe")
#: the report run's params: the thresholds it used, and how many networks its campaigns ran on
PARAM_REPORT_SEVERITY = "report.severity_pp"
PARAM_REPORT_NETWORKS = "report.networks"

# -- deployment formats (issue 34) ------------------------------------------------------------
#: a campaign's deployment in plain words: ``deployment.weights``, ``deployment.layers``,
#: ``deployment.membrane``, ``deployment.threshold``, ``deployment.psp_kernel`` (every campaign run)
PARAM_DEPLOYMENT_PREFIX = "deployment."
#: quantized and deployed campaigns: the float network's golden accuracy on the same samples
METRIC_FLOAT_GOLDEN_ACCURACY = "golden.float_accuracy"
#: deployed golden accuracy - float golden accuracy (no faults)
METRIC_DEPLOYMENT_ACCURACY_CHANGE = "deployment.accuracy_change"
#: share of samples the float and the deployed golden networks predict alike
METRIC_DEPLOYMENT_AGREEMENT = "deployment.prediction_agreement"
#: per layer (``<prefix><layer>``): golden spike count change, share of neuron-steps whose spike differs
METRIC_DEPLOYMENT_SPIKE_CHANGE_PREFIX = "deployment.spike_change."
METRIC_DEPLOYMENT_MISMATCHED_PREFIX = "deployment.mismatched_share."

__all__ += ["PARAM_DEPLOYMENT_PREFIX", "METRIC_FLOAT_GOLDEN_ACCURACY", "METRIC_DEPLOYMENT_ACCURACY_CHANGE",
            "METRIC_DEPLOYMENT_AGREEMENT", "METRIC_DEPLOYMENT_SPIKE_CHANGE_PREFIX", "METRIC_DEPLOYMENT_MISMATCHED_PREFIX"]
