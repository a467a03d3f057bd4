"""Detection matrix: which test input detects which fault.

A test input *detects* a fault when the faulty network's predicted class differs from
the golden network's (the primary criterion). Optionally (``count_tolerance=k``) it also
detects it when some output neuron's spike count differs from the golden count by more
than ``k`` spikes.

Where the predictions come from is explicit (:attr:`DetectionMatrix.source`):

* ``campaign predictions`` — the per-(round, sample) predictions a campaign kept
  (``Campaign.run(keep_predictions=True)``); no network is run;
* ``recomputed`` — a campaign over the given inputs with the fault list as its rounds
  (any engine; ``parallel`` by default), predictions kept;
* with a count tolerance, the per-sample output counts are *recomputed* by re-running
  every fault on the inputs (sequential engine: late start and early stop, batched over
  the inputs, one round at a time), since campaigns keep predictions, not counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..campaign.campaign import Campaign
from ..campaign.engines import SequentialEngine
from ..errors import ConfigError
from ..snn.loss import spike_counts
from .faultlist import FaultList

__all__ = [
    "DetectionMatrix",
    "CountingEngine",
    "golden_responses",
    "detection_from_predictions",
    "detection_from_result",
    "compute_detection",
    "fault_campaign",
]


@dataclass
class DetectionMatrix:
    """Boolean ``(tests, faults)`` matrix: ``detected[t, f]`` when test ``t`` detects fault ``f``.

    Attributes:
        detected: the matrix (bool).
        test_names: a name per row (``sample:<index>`` for a dataset sample,
            ``generated:<k>`` for a generated input).
        fault_ids: a fault list id per column.
        criterion: ``prediction`` or ``prediction+counts(tol=k)``.
        source: where the predictions come from (module docstring).
    """

    detected: np.ndarray
    test_names: list[str]
    fault_ids: list[str]
    criterion: str = "prediction"
    source: str = "recomputed"
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d = np.asarray(self.detected)
        if d.ndim != 2:
            raise ConfigError(f"a detection matrix must be 2-D (tests, faults), got shape {d.shape}")
        self.detected = d.astype(bool)
        if len(self.test_names) != d.shape[0] or len(self.fault_ids) != d.shape[1]:
            raise ConfigError(f"detection matrix of shape {d.shape} needs {d.shape[0]} test names and "
                              f"{d.shape[1]} fault ids, got {len(self.test_names)} and {len(self.fault_ids)}")

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.detected.shape)  # type: ignore[return-value]

    def detectable(self) -> np.ndarray:
        """Bool per fault: some test detects it."""
        return self.detected.any(axis=0)

    def undetectable(self) -> list[int]:
        """Column indices of the faults no test detects."""
        return [int(i) for i in np.flatnonzero(~self.detectable())]

    def covered(self, tests: Sequence[int]) -> np.ndarray:
        """Bool per fault: detected by at least one of ``tests``."""
        idx = np.asarray(list(tests), dtype=int)
        if idx.size == 0:
            return np.zeros(self.shape[1], dtype=bool)
        return self.detected[idx].any(axis=0)

    def restrict(self, tests: Sequence[int] | None = None, faults: Sequence[int] | None = None) -> DetectionMatrix:
        """The sub-matrix of the given rows and columns (``None``: all)."""
        t = np.arange(self.shape[0]) if tests is None else np.asarray(list(tests), dtype=int)
        f = np.arange(self.shape[1]) if faults is None else np.asarray(list(faults), dtype=int)
        return DetectionMatrix(self.detected[np.ix_(t, f)], [self.test_names[i] for i in t],
                               [self.fault_ids[i] for i in f], self.criterion, self.source, dict(self.info))

    def stack(self, other: DetectionMatrix) -> DetectionMatrix:
        """Rows of ``self`` then rows of ``other`` (same faults in the same order)."""
        if other.fault_ids != self.fault_ids:
            raise ConfigError("stacked detection matrices must cover the same faults in the same order")
        if other.criterion != self.criterion:
            raise ConfigError(f"cannot stack detection matrices of criteria {self.criterion!r} and {other.criterion!r}")
        source = self.source if other.source == self.source else f"{self.source}+{other.source}"
        return DetectionMatrix(np.vstack([self.detected, other.detected]), self.test_names + other.test_names,
                               list(self.fault_ids), self.criterion, source, dict(self.info))

    @staticmethod
    def concat_faults(parts: Sequence[DetectionMatrix]) -> DetectionMatrix:
        """Columns of several matrices over the same tests, side by side."""
        if not parts:
            raise ConfigError("concat_faults needs at least one detection matrix")
        first = parts[0]
        for p in parts[1:]:
            if p.test_names != first.test_names or p.criterion != first.criterion:
                raise ConfigError("concatenated detection matrices need the same tests and criterion")
        sources = list(dict.fromkeys(p.source for p in parts))
        return DetectionMatrix(np.hstack([p.detected for p in parts]), list(first.test_names),
                               [fid for p in parts for fid in p.fault_ids], first.criterion, "+".join(sources))


class CountingEngine(SequentialEngine):
    """The sequential engine, keeping every (round, sample)'s output spike counts.

    After a run, :attr:`counts` maps a round id to an ``(samples, classes)`` int64 array.
    """

    name = "sequential"

    def __init__(self, early_stop_tolerance: float = 0.0) -> None:
        super().__init__(early_stop_tolerance)
        self.counts: dict[int, list[torch.Tensor]] = {}
        self.add_output_observer(self._count)

    def _count(self, round_id: int, out: torch.Tensor) -> None:
        self.counts.setdefault(int(round_id), []).append(spike_counts(out).cpu())

    def round_counts(self, round_id: int) -> np.ndarray:
        """``(samples, classes)`` output spike counts of a round."""
        if round_id not in self.counts:
            raise ConfigError(f"round {round_id} was not evaluated by this engine")
        return torch.cat(self.counts[round_id]).numpy().astype(np.int64)



def _as_inputs(inputs: Any) -> torch.Tensor:
    x = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
    if x.ndim != 5:
        raise ConfigError(f"test inputs must be a (N, C, H, W, T) tensor, got shape {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ConfigError("test inputs must hold at least one input")
    return x


def fault_campaign(net: Any, inputs: Any, labels: Any, fault_list: FaultList | None = None, *, seed: int = 0,
                   batch_size: int = 64, device: Any = None) -> Campaign:
    """A campaign over ``inputs`` (labels: e.g. golden predictions) with one round per fault list entry.

    The fault list is checked against the network first (:meth:`FaultList.check_network`).
    """
    x = _as_inputs(inputs)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if y.shape != (x.shape[0],):
        raise ConfigError(f"need one label per input: {x.shape[0]} inputs, labels of shape {tuple(y.shape)}")
    cmpn = Campaign(net, (x, y), batch_size=batch_size, seed=seed, device=device)
    if fault_list is not None:
        fault_list.check_network(cmpn.netmap)
        for rnd in fault_list.rounds:
            cmpn.then_inject(list(rnd))
    return cmpn


def golden_responses(net: Any, inputs: Any, *, batch_size: int = 64, device: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``(predicted class (N,), output spike counts (N, classes))`` of the fault-free network."""
    x = _as_inputs(inputs)
    cmpn = Campaign(net, (x, torch.zeros(x.shape[0], dtype=torch.long)), batch_size=batch_size, device=device)
    cmpn.golden()
    n_batches = -(-x.shape[0] // batch_size)
    pred = np.concatenate([cmpn.golden_batch(b)["pred"].cpu().numpy() for b in range(n_batches)])
    counts = np.concatenate([cmpn.golden_batch(b)["counts"].cpu().numpy() for b in range(n_batches)])
    return pred.astype(np.int64), counts.astype(np.int64)


def detection_from_predictions(predictions: np.ndarray, golden_pred: np.ndarray, fault_ids: Sequence[str],
                               test_names: Sequence[str] | None = None,
                               source: str = "campaign predictions") -> DetectionMatrix:
    """Detection matrix from per-(fault, sample) predictions ``(faults, samples)`` and golden ones."""
    p = np.asarray(predictions)
    g = np.asarray(golden_pred)
    if p.ndim != 2 or g.ndim != 1 or p.shape[1] != g.shape[0]:
        raise ConfigError(f"predictions must be (faults, samples) and golden predictions (samples,); got "
                          f"{p.shape} and {g.shape}")
    if p.shape[0] != len(fault_ids):
        raise ConfigError(f"{p.shape[0]} prediction rows for {len(fault_ids)} faults")
    names = list(test_names) if test_names is not None else [f"sample:{i}" for i in range(g.shape[0])]
    return DetectionMatrix((p != g[None, :]).T, names, list(fault_ids), "prediction", source)


def detection_from_result(result: Any, fault_list: FaultList, golden_pred: np.ndarray,
                          test_names: Sequence[str] | None = None) -> DetectionMatrix:
    """Detection matrix from a campaign result that kept its predictions (no network is run).

    Args:
        result: the :class:`~spikefi.campaign.CampaignResult` ``fault_list`` was made from
            (:func:`~spikefi.testgen.fault_list_from_result`).
        fault_list: its fault list (the ``result_row`` info column names the table rows).
        golden_pred: golden predicted class of every sample of the campaign.

    Raises:
        ConfigError: the result kept no predictions, or the sizes disagree.
    """
    if getattr(result, "predictions", None) is None:
        raise ConfigError("the campaign result kept no per-sample predictions (run it with keep_predictions=True), "
                          "or use compute_detection to recompute them")
    rows = fault_list.info.get("result_row")
    if rows is None:
        raise ConfigError("the fault list does not come from a campaign result (no 'result_row' info column)")
    preds = np.asarray(result.predictions)
    if max(rows) >= preds.shape[0]:
        raise ConfigError(f"fault list rows up to {max(rows)} but the result holds {preds.shape[0]} prediction rows")
    return detection_from_predictions(preds[np.asarray(rows)], golden_pred, fault_list.ids, test_names)


def compute_detection(net: Any, inputs: Any, fault_list: FaultList, *, golden_pred: np.ndarray | None = None,
                      count_tolerance: int | None = None, seed: int = 0, batch_size: int = 64,
                      engine: str = "parallel", chunk_size: int = 64, test_names: Sequence[str] | None = None,
                      device: Any = None, progress: bool = False) -> DetectionMatrix:
    """Detection matrix by running every fault of ``fault_list`` on ``inputs``.

    Args:
        net: the golden network.
        inputs: ``(N, C, H, W, T)`` input spikes (values ``0`` or ``1/Ts``).
        fault_list: the faults (checked against ``net`` first).
        golden_pred: golden predictions of the inputs (computed when not given).
        count_tolerance: also detect by output spike counts differing by more than this
            many spikes (counts recomputed, see the module docstring); ``None``: predictions only.
        seed: campaign seed (timing draws of transient faults).
        engine: campaign engine for the predictions.

    Returns:
        the ``(N, len(fault_list))`` matrix, ``source="recomputed"``.
    """
    if count_tolerance is not None and (isinstance(count_tolerance, bool) or not isinstance(count_tolerance, int)
                                        or count_tolerance < 0):
        raise ConfigError(f"count_tolerance must be None or an int >= 0, got {count_tolerance!r}")
    x = _as_inputs(inputs)
    if golden_pred is None:
        golden_pred, golden_counts = golden_responses(net, x, batch_size=batch_size, device=device)
    else:
        golden_counts = None
    cmpn = fault_campaign(net, x, golden_pred, fault_list, seed=seed, batch_size=batch_size, device=device)
    result = cmpn.run(engine=engine, chunk_size=chunk_size, progress=progress, keep_predictions=True)
    names = list(test_names) if test_names is not None else [f"sample:{i}" for i in range(x.shape[0])]
    dm = detection_from_predictions(result.predictions, np.asarray(golden_pred), fault_list.ids, names, "recomputed")
    if count_tolerance is None:
        return dm
    if golden_counts is None:
        _, golden_counts = golden_responses(net, x, batch_size=batch_size, device=device)
    counting = CountingEngine()
    counted = cmpn.run(engine=counting, chunk_size=chunk_size, progress=progress)
    for j, rid in enumerate(counted.table["round_id"].tolist()):
        diff = np.abs(counting.round_counts(int(rid)) - golden_counts).max(axis=1)
        dm.detected[:, j] |= diff > count_tolerance
    dm.criterion = f"prediction+counts(tol={count_tolerance})"
    dm.source = "recomputed (predictions: campaign; counts: sequential re-run of every fault)"
    return dm
