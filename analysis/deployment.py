"""The deployment gap in a report: what deploying the network costs (float golden vs deployed
golden, no faults), apart from what faults cost on top of the deployed network.

Read from each campaign run's result metadata (``results/meta.json``: ``quantization``,
``float_golden``, ``deployment_gap``, written by quantized and deployed campaigns) and its
rounds. Runs without a float golden pass (unquantized, or older runs) are not listed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["deployment_tables", "deployment_section_text", "format_label", "DEPLOYMENT_PARTS"]

#: the parts of a deployment format, in the order the tables show them
DEPLOYMENT_PARTS: tuple[str, ...] = ("weights", "layers", "membrane", "threshold", "psp_kernel")


def _words(quantization: Any) -> dict[str, str]:
    from spikefi.faults.deployment import describe_quantization_option

    return describe_quantization_option(quantization)


def format_label(quantization: Any) -> str:
    """One line: the parts that are not float, in words."""
    if isinstance(quantization, Mapping) and quantization.get("name"):
        prefix = f"{quantization['name']}: "
    else:
        prefix = ""
    words = _words(quantization)
    parts = [f"{k} {v}" for k, v in words.items() if v not in ("none", "float (not quantized)")]
    return prefix + ("; ".join(parts) or "float")


def deployment_tables(runs: pd.DataFrame, meta: Mapping[str, Mapping[str, Any]],
                      rounds: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(gap, layers)``: per run, the float and deployed golden accuracy, the deployment's
    change in percentage points, the share of samples both predict alike, and the mean
    accuracy under faults with the drop it adds to the deployed golden; per run and layer,
    the golden spike counts of both networks, the change and the share of neuron-steps whose
    spike differs. Empty frames when no run has a deployment gap."""
    gap_rows: list[dict[str, Any]] = []
    layer_rows: list[dict[str, Any]] = []
    for run in runs.itertuples():
        m = meta.get(run.run_id, {})
        gap = m.get("deployment_gap")
        if not gap:
            continue
        t = rounds[rounds["run_id"] == run.run_id] if "run_id" in rounds else rounds.iloc[0:0]
        faulty = float(t["accuracy"].mean()) if len(t) else math.nan
        flt, dep = float(gap["float_accuracy"]), float(gap["deployed_accuracy"])
        gap_rows.append({
            "run": run.run_name, "format": format_label(m.get("quantization")), "samples": int(gap["samples"]),
            "float_golden_accuracy": flt, "deployed_golden_accuracy": dep,
            "deployment_change_pp": 100 * (dep - flt), "prediction_agreement": float(gap["prediction_agreement"]),
            "rounds": len(t), "mean_accuracy_under_faults": faulty,
            "fault_drop_pp": 100 * (dep - faulty) if len(t) else math.nan,
            "total_drop_from_float_pp": 100 * (flt - faulty) if len(t) else math.nan,
        })
        for layer, v in gap["layers"].items():
            layer_rows.append({"run": run.run_name, "layer": layer, "float_spikes": v["float_spikes"],
                               "deployed_spikes": v["deployed_spikes"], "spike_change": v["spike_change"],
                               "relative_change": v["relative_change"], "mismatched_share": v["mismatched_share"]})
    return pd.DataFrame(gap_rows), pd.DataFrame(layer_rows)


def deployment_section_text() -> str:
    """The section's explanation."""
    return ("What deployment costs, apart from what faults cost. A quantized or deployed campaign also runs the "
            "float network it was made from on the same samples: deployment_change_pp = deployed golden accuracy "
            "- float golden accuracy (no faults); fault_drop_pp = deployed golden accuracy - mean accuracy of the "
            "fault rounds (faults on top of the deployed network); total_drop_from_float_pp = their sum. "
            "prediction_agreement = share of samples both golden networks predict alike. Per layer: golden spike "
            "counts of both networks and mismatched_share = neuron-steps whose spike differs / all neuron-steps.")
