"""CampaignResult: one row per round, saved as Parquet + CSV + JSON metadata (no pickles)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..jsonutil import json_default
from .stats import wilson_interval

__all__ = ["CampaignResult", "RESULT_SCHEMA_VERSION", "CSV_MAX_ROWS"]

RESULT_SCHEMA_VERSION = 1
_TABLE = "rounds.parquet"
_CSV = "rounds.csv"
_META = "meta.json"
_PREDICTIONS = "predictions.npy"
#: the largest table :meth:`CampaignResult.save` also writes as CSV by default. The CSV copy is for
#: spreadsheets (which stop near 1M rows) and takes about 230 bytes a round against the Parquet
#: table's 20: a campaign of a million rounds would write 231 MiB of CSV that no reader needs.
CSV_MAX_ROWS = 100_000


class CampaignResult:
    """Results of a campaign: :attr:`table` (pandas, one row per round) and :attr:`meta`."""

    def __init__(self, table: pd.DataFrame, meta: dict[str, Any], predictions: np.ndarray | None = None) -> None:
        self.table = table
        self.meta = meta
        #: predicted class per (round, sample), rows in table order; None unless kept
        self.predictions = predictions

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]], meta: dict[str, Any]) -> CampaignResult:
        table = pd.DataFrame(rows)
        if len(table):
            table = table.sort_values("round_id", kind="stable").reset_index(drop=True)
        return cls(table, {"schema_version": RESULT_SCHEMA_VERSION, **meta})

    @property
    def golden_accuracy(self) -> float:
        return float(self.meta["golden"]["accuracy"])

    def summary(self, confidence: float = 0.95) -> dict[str, float]:
        """Critical-fault rate with its Wilson interval, accuracy statistics, mean drop."""
        t = self.table
        n = len(t)
        if n == 0:
            return {"rounds": 0}
        critical = int((t["critical"] > 0).sum())
        low, high = wilson_interval(critical, n, confidence)
        acc = t["accuracy"].to_numpy(dtype=float)
        return {
            "rounds": n,
            "critical_faults": critical,
            "critical_fault_rate": critical / n,
            "critical_fault_rate_low": low,
            "critical_fault_rate_high": high,
            "accuracy_min": float(acc.min()),
            "accuracy_mean": float(acc.mean()),
            "accuracy_q05": float(np.quantile(acc, 0.05)),
            "accuracy_q50": float(np.quantile(acc, 0.5)),
            "accuracy_q95": float(np.quantile(acc, 0.95)),
            "mean_accuracy_drop": float(self.golden_accuracy - acc.mean()),
            "golden_accuracy": self.golden_accuracy,
        }

    def save(self, directory: str | Path, csv_max_rows: int | None = CSV_MAX_ROWS) -> Path:
        """Writes ``rounds.parquet`` and ``meta.json`` into ``directory``, and ``rounds.csv`` too when
        the table has at most ``csv_max_rows`` rows (None: always). A larger table gets no CSV (and a
        stale one from an earlier save is removed); ``pd.read_parquet(directory / "rounds.parquet")``
        reads it, and :meth:`load` never needs the CSV."""
        if csv_max_rows is not None and (isinstance(csv_max_rows, bool) or not isinstance(csv_max_rows, int)
                                         or csv_max_rows < 0):
            raise ConfigError(f"csv_max_rows must be an integer >= 0 or None, got {csv_max_rows!r}")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.table.to_parquet(directory / _TABLE, index=False)
        if csv_max_rows is None or len(self.table) <= csv_max_rows:
            self.table.to_csv(directory / _CSV, index=False)
        else:
            (directory / _CSV).unlink(missing_ok=True)
        (directory / _META).write_text(json.dumps(self.meta, indent=2, default=json_default))
        if self.predictions is not None:
            np.save(directory / _PREDICTIONS, self.predictions, allow_pickle=False)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> CampaignResult:
        directory = Path(directory)
        meta_path, table_path = directory / _META, directory / _TABLE
        if not meta_path.is_file() or not table_path.is_file():
            raise ConfigError(f"{str(directory)!r} holds no campaign result ({_META} and {_TABLE} expected)")
        try:
            meta = json.loads(meta_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{str(meta_path)!r} is not valid JSON ({exc}): the result folder is corrupt") from None
        if not isinstance(meta, dict):
            raise ConfigError(f"{str(meta_path)!r} must hold a JSON object, got {type(meta).__name__}")
        version = meta.get("schema_version")
        if version != RESULT_SCHEMA_VERSION:
            raise ConfigError(f"campaign result schema_version {version!r}; this spikefi reads {RESULT_SCHEMA_VERSION}")
        pred_path = directory / _PREDICTIONS
        try:
            predictions = np.load(pred_path, allow_pickle=False) if pred_path.is_file() else None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{str(pred_path)!r} is not a readable .npy array ({exc})") from None
        try:
            table = pd.read_parquet(table_path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
            raise ConfigError(f"{str(table_path)!r} is not a readable Parquet table "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
        return cls(table, meta, predictions)

    def __repr__(self) -> str:
        s = self.summary()
        if not s.get("rounds"):
            return "CampaignResult(0 rounds)"
        return (f"CampaignResult({s['rounds']} rounds, critical {s['critical_faults']} "
                f"({s['critical_fault_rate']:.1%}), mean accuracy {s['accuracy_mean']:.4f}, golden {s['golden_accuracy']:.4f})")

