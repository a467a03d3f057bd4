"""Fault lists: the faults a test program must detect, with the network they were made for.

A fault list is a sequence of *rounds* (one or more faults evaluated together), each with
a stable id (the canonical JSON of its resolved faults, as in a campaign table's
``faults`` column), and the layer signature of the network the faults were drawn on,
so a list from another network is refused before any work runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..digest import short_digest
from ..errors import ConfigError, FaultListMismatchError, FaultSpecError
from ..faults.memory import MemoryFaultModel
from ..faults.models import model_from_spec
from ..faults.sites import Fault, Site
from ..faults.timing import timing_from_spec

__all__ = [
    "FaultList",
    "FaultListMismatchError",
    "fault_list_from_result",
    "fault_list_from_trials",
    "faults_from_json",
    "layer_signature",
]


def faults_from_json(text: str, *, allow_import: bool = False) -> list[Fault]:
    """The faults of one campaign round from its ``faults`` JSON (fixed sites).

    Args:
        text: a campaign table's ``faults`` cell: a JSON list of
            ``{model, <params>, layer, positions, timing}``.
        allow_import: whether a dotted-path model may be imported. False by default: a
            table is read back from a result or a tracked run, so only built-in models and
            models registered through the entry-point group ``spikefi.fault_models`` are
            accepted (:mod:`spikefi.plugins`). Pass True for a table you just computed.

    Returns:
        one :class:`~spikefi.faults.Fault` per entry, with every position as a fixed site.

    Raises:
        FaultSpecError: the text is not such a JSON list.
    """
    try:
        entries = json.loads(text)
    except (TypeError, json.JSONDecodeError) as exc:
        raise FaultSpecError(f"a round's faults must be a JSON list, got {text!r} ({exc})") from None
    if not isinstance(entries, list):
        raise FaultSpecError(f"a round's faults must be a JSON list, got {text!r}")
    faults = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not {"model", "layer", "positions"} <= set(entry):
            raise FaultSpecError(f"a fault entry needs model, layer and positions, got {entry!r}")
        spec = {k: v for k, v in entry.items() if k not in ("layer", "positions", "timing")}
        if spec.get("model") == "AnalogLayer":
            raise FaultSpecError("AnalogLayer draws its devices anew in every round (analog devices); a test program "
                                 "needs fixed per-weight faults")
        positions = entry["positions"]
        if not isinstance(positions, list) or not positions:
            raise FaultSpecError(f"positions must be a non-empty list, got {positions!r}")
        sites = [Site(str(entry["layer"]), tuple(int(v) for v in p)) for p in positions]
        model = model_from_spec(spec, allow_import=allow_import)
        faults.append(Fault(model, sites, timing_from_spec(entry.get("timing"))))  # type: ignore[arg-type]
    return faults


def layer_signature(netmap: Any) -> dict[str, dict[str, Any]]:
    """``{layer: {kind, neuron_shape, synapse_shape}}`` of a :class:`~spikefi.campaign.NetworkMap`,
    in the format of a campaign result's ``meta["layers"]``."""
    return {name: {"kind": info.kind, "neuron_shape": [int(v) for v in info.neuron_shape],
                   "synapse_shape": [int(v) for v in info.synapse_shape] if info.synapse_shape else None}
            for name, info in netmap.layers.items()}


def _canonical(layers: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, info in layers.items():
        syn = info.get("synapse_shape")
        out[str(name)] = {"kind": info.get("kind"), "neuron_shape": [int(v) for v in info.get("neuron_shape", [])],
                          "synapse_shape": [int(v) for v in syn] if syn else None}
    return out


@dataclass(frozen=True)
class FaultList:
    """Rounds of faults to detect.

    Attributes:
        rounds: the faults of each entry (a round: faults evaluated together).
        ids: a stable id per entry (canonical JSON of its resolved faults).
        layers: layer signature of the network the list was made for (``None``: unknown;
            then only the sites are checked against a network).
        source: where the list comes from (for logs).
        info: per-entry metadata columns (e.g. ``critical``, ``accuracy`` from the campaign).
        network_digest: canonical digest (:mod:`spikefi.digest`) of the weights the faults were
            evaluated on (``None``: unknown, e.g. a list read from an older run).
    """

    rounds: tuple[tuple[Fault, ...], ...]
    ids: tuple[str, ...]
    layers: dict[str, dict[str, Any]] | None = None
    source: str = ""
    info: dict[str, list[Any]] = field(default_factory=dict)
    network_digest: str | None = None

    def __post_init__(self) -> None:
        if len(self.rounds) != len(self.ids):
            raise ConfigError(f"a fault list needs one id per round: {len(self.rounds)} rounds, {len(self.ids)} ids")
        if len(set(self.ids)) != len(self.ids):
            raise ConfigError("a fault list holds the same fault round twice (duplicate ids)")
        for key, values in self.info.items():
            if len(values) != len(self.rounds):
                raise ConfigError(f"fault list info column {key!r} has {len(values)} values for {len(self.rounds)} rounds")

    def __len__(self) -> int:
        return len(self.rounds)

    @classmethod
    def from_rounds(cls, rounds: Sequence[Fault | Sequence[Fault]], layers: Mapping[str, Any] | None = None,
                    source: str = "explicit") -> FaultList:
        """A list from faults with fixed sites (a :class:`Fault` or a list of them per round)."""
        out, ids = [], []
        for i, rnd in enumerate(rounds):
            faults = (rnd,) if isinstance(rnd, Fault) else tuple(rnd)
            if not faults or not all(isinstance(f, Fault) for f in faults):
                raise FaultSpecError(f"fault list entry {i} must be a Fault or a non-empty list of Faults, got {rnd!r}")
            for f in faults:
                if getattr(f.model, "whole_layer", False) or type(f.model).__name__ == "AnalogDevices":
                    raise FaultSpecError(f"fault list entry {i}: {f.model.name} draws its devices anew in every round; "
                                         "a test program needs fixed per-weight faults")
                if isinstance(f.model, MemoryFaultModel) or getattr(f.model, "chooses_own_cells", False):
                    draws = "draws its cells anew in every round" if f.model.stochastic else "chooses its own cells"
                    per = "per-neuron" if f.model.target == "parametric" else "per-weight"
                    raise FaultSpecError(f"fault list entry {i}: {f.model.name} {draws}; a test program needs fixed "
                                         f"{per} faults: run a campaign with it and build the list from its "
                                         "result (fault_list_from_result)")
                if not all(s.is_fixed for s in f.sites) or f.count is not None or f.density is not None:
                    raise FaultSpecError(f"fault list entry {i}: every site must be fixed (layer and full position), "
                                         f"got {f.spec()}")
            out.append(faults)
            ids.append(json.dumps([f.spec() for f in faults], sort_keys=True))
        return cls(tuple(out), tuple(ids), _canonical(layers) if layers else None, source)

    @classmethod
    def concat(cls, lists: Sequence[FaultList], source: str = "") -> FaultList:
        """Entries of several lists (same network) in order; a fault round present twice is kept once.

        Info columns present in every list are kept; others are dropped.
        """
        if not lists:
            raise ConfigError("concat needs at least one fault list")
        layers = next((fl.layers for fl in lists if fl.layers is not None), None)
        for fl in lists:
            if fl.layers is not None and layers is not None and _canonical(fl.layers) != _canonical(layers):
                raise FaultListMismatchError(f"fault lists {lists[0].source!r} and {fl.source!r} are for different networks")
        digests = {fl.network_digest for fl in lists if fl.network_digest}
        if len(digests) > 1:
            raise FaultListMismatchError(
                "fault lists made on networks with different weights cannot be joined: "
                + ", ".join(f"{fl.source or '?'} ({short_digest(fl.network_digest)})" for fl in lists))
        keys = [k for k in lists[0].info if all(k in fl.info for fl in lists)]
        rounds, ids, seen = [], [], set()
        info: dict[str, list[Any]] = {k: [] for k in keys}
        for fl in lists:
            for i, fid in enumerate(fl.ids):
                if fid in seen:
                    continue
                seen.add(fid)
                rounds.append(fl.rounds[i])
                ids.append(fid)
                for k in keys:
                    info[k].append(fl.info[k][i])
        return cls(tuple(rounds), tuple(ids), layers, source or "+".join(fl.source for fl in lists), info,
                   next(iter(digests), None))

    def subset(self, indices: Sequence[int] | np.ndarray) -> FaultList:
        """The entries at ``indices`` (in that order)."""
        idx = [int(i) for i in indices]
        for i in idx:
            if not 0 <= i < len(self):
                raise ConfigError(f"fault list index {i} out of range [0, {len(self)})")
        return FaultList(tuple(self.rounds[i] for i in idx), tuple(self.ids[i] for i in idx), self.layers, self.source,
                         {k: [v[i] for i in idx] for k, v in self.info.items()}, self.network_digest)

    def with_digest(self, digest: str | None) -> FaultList:
        """The same list, recorded as evaluated on the network of canonical digest ``digest``."""
        return FaultList(self.rounds, self.ids, self.layers, self.source, self.info, digest)

    def check_digest(self, digest: str) -> None:
        """Raises :class:`FaultListMismatchError` when the list records another network digest
        than ``digest`` (nothing to check when the list's digest is unknown)."""
        if self.network_digest and self.network_digest != digest:
            raise FaultListMismatchError(
                f"the fault list ({self.source or 'unknown source'}) was evaluated on the network with digest "
                f"{short_digest(self.network_digest)}, this network's digest is {short_digest(digest)} (other weights)")

    def check_network(self, netmap: Any) -> None:
        """Raises :class:`FaultListMismatchError` when the list was made for another network.

        The layer signature (names, kinds, neuron and synapse shapes) must be equal when the
        list has one; every site must name a layer of the network and lie in range.
        """
        have = layer_signature(netmap)
        if self.layers is not None and _canonical(self.layers) != have:
            diffs = []
            for name in sorted(set(have) | set(self.layers)):
                a, b = self.layers.get(name), have.get(name)
                if a != b:
                    diffs.append(f"{name}: fault list has {a}, network has {b}")
            raise FaultListMismatchError(
                f"the fault list ({self.source or 'unknown source'}) was made for another network: " + "; ".join(diffs[:6])
            )
        for i, rnd in enumerate(self.rounds):
            for f in rnd:
                target = "synapse" if f.model.target == "synapse" else "neuron"
                for s in f.sites:
                    info = netmap.layers.get(s.layer)
                    if info is None:
                        raise FaultListMismatchError(
                            f"fault list entry {i} names layer {s.layer!r}, which the network lacks; layers: {list(netmap.layers)}")
                    shape = info.shape_for(target)
                    pos = s.position or ()
                    if len(pos) != len(shape) or any(not 0 <= p < n for p, n in zip(pos, shape, strict=False)):
                        raise FaultListMismatchError(
                            f"fault list entry {i}: {target} position {list(pos)} is outside layer {s.layer!r} "
                            f"of shape {list(shape)}: the list was made for another network")

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per entry: ``fault_id``, ``layer``, ``model`` and the info columns."""
        rows = []
        for i, rnd in enumerate(self.rounds):
            row: dict[str, Any] = {"index": i, "fault_id": self.ids[i],
                                   "layer": ";".join(dict.fromkeys(s.layer for f in rnd for s in f.sites)),
                                   "model": ";".join(sorted({f.model.name for f in rnd}))}
            row.update({k: v[i] for k, v in self.info.items()})
            rows.append(row)
        return rows


def fault_list_from_result(result: Any, critical_only: bool = False, source: str = "", *,
                           allow_import: bool = False) -> FaultList:
    """The fault list of a campaign result: one entry per round (optionally only critical ones).

    Args:
        result: a :class:`~spikefi.campaign.CampaignResult`.
        critical_only: keep only rounds with at least one critical sample.
        source: a description for logs (e.g. the run id or directory).
        allow_import: see :func:`faults_from_json` (False: a result read back from disk or a
            tracked run names built-in or registered models only).

    Returns:
        the list, with the result's layer signature and the info columns ``round_id``,
        ``critical``, ``changed``, ``accuracy`` and ``result_row`` (row in ``result.table``);
        a round whose faults repeat an earlier round's is kept once.

    Raises:
        ConfigError: the table lacks the ``faults``/``round_id`` columns, or nothing is left.
    """
    table = result.table
    for col in ("faults", "round_id", "critical"):
        if col not in table.columns:
            raise ConfigError(f"the campaign result has no {col!r} column; it is not a campaign table")
    rows = np.flatnonzero(table["critical"].to_numpy() > 0) if critical_only else np.arange(len(table))
    if len(rows) == 0:
        what = "critical rounds" if critical_only else "rounds"
        raise ConfigError(f"the campaign result ({source or 'given'}) holds no {what}: nothing to detect")
    rounds, ids, kept, seen = [], [], [], set()
    for r in rows:  # a round repeated in the campaign (same faults) is kept once
        faults = tuple(faults_from_json(str(table["faults"].iloc[r]), allow_import=allow_import))
        fid = json.dumps([f.spec() for f in faults], sort_keys=True)
        if fid in seen:
            continue
        seen.add(fid)
        rounds.append(faults)
        ids.append(fid)
        kept.append(r)
    rows = np.asarray(kept, dtype=int)
    info = {"result_row": [int(r) for r in rows],
            "round_id": [int(v) for v in table["round_id"].to_numpy()[rows]],
            "critical": [int(v) for v in table["critical"].to_numpy()[rows]]}
    for col in ("changed", "accuracy"):
        if col in table.columns:
            info[col] = [v.item() for v in table[col].to_numpy()[rows]]
    layers = result.meta.get("layers") if isinstance(result.meta, Mapping) else None
    return FaultList(tuple(rounds), tuple(ids), _canonical(layers) if layers else None, source or "campaign result", info)


def fault_list_from_trials(table: Any, top: int | None = None, critical_only: bool = False,
                           source: str = "", *, allow_import: bool = False) -> FaultList:
    """The fault sets of a worst-case search (``spikefi.search`` trials table) as a fault list.

    Args:
        table: the search's trials table (columns ``state``, ``faults`` — a JSON list of fault
            specs with fixed sites —, ``accuracy``, ``critical_samples``), best first.
        top: keep the first ``top`` distinct completed fault sets (``None``: all).
        critical_only: keep only fault sets with at least one critical sample.
        source: a description for logs.
        allow_import: see :func:`faults_from_json` (False: the trials were read back from a
            study or a tracked run).

    Raises:
        ConfigError: the table is not a trials table, or nothing is left.
    """
    for col in ("state", "faults"):
        if col not in table.columns:
            raise ConfigError(f"the search table has no {col!r} column; it is not a spikefi search trials table")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise ConfigError(f"top must be None or an int >= 1, got {top!r}")
    done = table[table["state"] == "COMPLETE"]
    if critical_only and "critical_samples" in done.columns:
        done = done[done["critical_samples"] > 0]
    rounds, ids, info = [], [], {"trial": [], "accuracy": [], "critical": []}
    for _, row in done.iterrows():
        try:
            specs = json.loads(str(row["faults"]))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"trial {row.get('trial')}: faults are not JSON ({exc})") from None
        faults = tuple(Fault.from_spec(sp, allow_import=allow_import) for sp in specs)
        if not faults:
            continue
        fid = json.dumps([f.spec() for f in faults], sort_keys=True)
        if fid in ids:
            continue
        for f in faults:
            if not all(st.is_fixed for st in f.sites):
                raise FaultSpecError(f"trial {row.get('trial')}: fault {f.spec()} has no fixed site")
        rounds.append(faults)
        ids.append(fid)
        info["trial"].append(int(row.get("trial", -1)))
        info["accuracy"].append(float(row.get("accuracy", float("nan"))))
        info["critical"].append(int(row.get("critical_samples", -1)))
        if top is not None and len(rounds) >= top:
            break
    if not rounds:
        raise ConfigError(f"the search ({source or 'given'}) holds no completed fault sets"
                          + (" with critical samples" if critical_only else ""))
    return FaultList(tuple(rounds), tuple(ids), None, source or "search trials", info)
