"""Everything MLflow: where runs go and small logging helpers.

The default store is a local sqlite database ``mlflow.db`` in the working directory
(``MLFLOW_TRACKING_URI`` overrides it), so ``mlflow ui --backend-store-uri
sqlite:///mlflow.db`` shows the runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import mlflow

import spikefi

__all__ = ["DEFAULT_TRACKING_URI", "setup_tracking", "common_tags", "git_commit"]

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def setup_tracking(experiment: str, tracking_uri: str | None = None) -> str:
    """Selects the tracking store and experiment; returns the tracking URI used."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    return uri


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parents[1],
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def common_tags(kind: str, **extra: Any) -> dict[str, str]:
    tags = {"spikefi.version": spikefi.__version__, "spikefi.git_commit": git_commit(), "spikefi.kind": kind}
    tags.update({k: str(v) for k, v in extra.items()})
    return tags
