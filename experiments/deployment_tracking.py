"""MLflow params and metrics of a campaign's deployment (issue 34): the format in plain words
(so formats compare across runs in the runs table) and the deployment gap (float golden vs
deployed golden, no faults)."""

from __future__ import annotations

import math
from typing import Any

from analysis.schema import (
    METRIC_DEPLOYMENT_ACCURACY_CHANGE,
    METRIC_DEPLOYMENT_AGREEMENT,
    METRIC_DEPLOYMENT_MISMATCHED_PREFIX,
    METRIC_DEPLOYMENT_SPIKE_CHANGE_PREFIX,
    METRIC_FLOAT_GOLDEN_ACCURACY,
    PARAM_DEPLOYMENT_PREFIX,
)

__all__ = ["deployment_params", "deployment_metrics"]


def deployment_params(quantization: Any) -> dict[str, str]:
    """``deployment.weights``, ``deployment.layers``, ``deployment.membrane``,
    ``deployment.threshold``, ``deployment.psp_kernel`` in words (``float (not quantized)``
    for a part that stays float), from a campaign's ``quantization`` option."""
    from spikefi.faults.deployment import describe_quantization_option

    return {PARAM_DEPLOYMENT_PREFIX + k: v for k, v in describe_quantization_option(quantization).items()}


def deployment_metrics(cmpn: Any) -> dict[str, float]:
    """The deployment gap as metrics (quantized and deployed campaigns; ``{}`` otherwise):
    the float golden accuracy, the accuracy change, the prediction agreement and per layer
    the spike-count change and the share of neuron-steps whose spike differs."""
    if getattr(cmpn, "_float_net", None) is None:
        return {}
    gap = cmpn.deployment_gap()
    out = {METRIC_FLOAT_GOLDEN_ACCURACY: float(gap["float_accuracy"]),
           METRIC_DEPLOYMENT_ACCURACY_CHANGE: float(gap["accuracy_change"]),
           METRIC_DEPLOYMENT_AGREEMENT: float(gap["prediction_agreement"])}
    for layer, v in gap["layers"].items():
        out[METRIC_DEPLOYMENT_SPIKE_CHANGE_PREFIX + layer] = float(v["spike_change"])
        out[METRIC_DEPLOYMENT_MISMATCHED_PREFIX + layer] = float(v["mismatched_share"])
    return {k: v for k, v in out.items() if math.isfinite(v)}
