"""Evaluating fault rounds: the faulty layer computation and the engines.

One mechanism carries progress, checkpoints and sharding: rounds are evaluated in
*chunks*, and an engine yields a :class:`ChunkResult` as soon as a chunk is done.

Within a layer, faults are applied in this order: synapse faults (on the layer's
effective weight), then the membrane potential and spikes with golden parameters, then
parametric neurons (re-simulated with their own kernels and threshold), then neuron
output faults (in the order they were injected).

Engines:

* ``naive`` — the reference: every round runs the whole network from the input.
Networks whose forward is not a SLAYER chain run their own ``forward`` with the faults
injected through scoped hooks (:func:`scoped_injection`), in either engine, without late
start or early stop.

* ``sequential`` — SpikeFI's optimisations: loop order batch → round, late start from the
  cached golden spikes at the first faulty layer, early stop once a layer at or after the
  last faulty one reproduces the golden spikes (``early_stop_tolerance`` > 0 stops when
  at most that fraction of spike entries differ — an approximation).
"""

from __future__ import annotations

import contextlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, FaultSpecError
from ..faults.models import NeuronFaultModel, ParametricFaultModel, SynapseContext, SynapseFaultModel
from ..faults.sites import ResolvedFault
from ..faults.timing import Permanent, PerSample, sample_rng
from ..snn.functional import stats_of_spikes
from .context import CampaignContext, InjectionContext
from .types import (
    ChunkResult,
    GoldenBatch,
    LayerFaults,
    PreparedRound,
    Round,
    RoundStats,
    _LazyIndex,
    _Neuron,
    _Parametric,
    _Synapse,
)

__all__ = ["ChunkResult", "Engine", "NaiveEngine", "SequentialEngine", "ENGINES", "get_engine", "RoundStats",
           "prepare_round", "prepare_rounds"]


# ------------------------------------------------------------------------------------
# preparing a round


def _index(positions: Sequence[tuple[int, ...]], device: torch.device) -> tuple[torch.Tensor, ...]:
    arr = torch.tensor(positions, dtype=torch.long, device=device)
    return tuple(arr[:, i] for i in range(arr.shape[1]))


def _columns(dev: torch.Tensor, start: int, n: int, width: int) -> tuple[torch.Tensor, ...]:
    return dev[start : start + n, :width].T.unbind(0)


def _device_indices(campaign: InjectionContext, rounds: Sequence[Round]) -> list[list[_LazyIndex]]:
    """Index tensors of every fault of ``rounds`` (synapse positions get the trailing time
    index 0), moved to the device in one copy rather than one per fault; each fault's
    tensors are views made at first use."""
    shapes, rows = [], []
    for rnd in rounds:
        for fault in rnd.faults:
            synapse = isinstance(fault.model, SynapseFaultModel)
            width = len(fault.positions[0]) + (1 if synapse else 0) if fault.positions else 0
            shapes.append((len(fault.positions), width))
            rows.extend([*p, *([0] if synapse else []), *[0] * (5 - width)] for p in fault.positions)
    host = torch.tensor(rows, dtype=torch.long).reshape(-1, 5)
    dev = host.pin_memory().to(campaign.device, non_blocking=True) if campaign.device.type == "cuda" else host
    out: list[list[_LazyIndex]] = []
    start, k = 0, 0
    for rnd in rounds:
        per_round = []
        for _ in rnd.faults:
            n, width = shapes[k]
            per_round.append(_LazyIndex(partial(_columns, dev, start, n, width)))
            start, k = start + n, k + 1
        out.append(per_round)
    return out


def prepare_rounds(campaign: InjectionContext, rounds: Sequence[Round]) -> list[PreparedRound]:
    """:func:`prepare_round` for several rounds, with one host-to-device copy of their indices."""
    if campaign.device.type != "cuda" or not rounds:
        return [prepare_round(campaign, r) for r in rounds]
    indices = _device_indices(campaign, rounds)
    return [prepare_round(campaign, r, indices=ix) for r, ix in zip(rounds, indices, strict=True)]


def prepare_round(campaign: InjectionContext, rnd: Round, trainable: bool = False,
                  indices: Sequence[_LazyIndex] | None = None) -> PreparedRound:
    """Tensors a round needs (faulty weight values, faulty-neuron kernels), built once.

    With ``trainable`` the faulty weight values are recomputed from the current weights
    at every forward (training under faults): gradients flow to the healthy weights, and
    through the model's mapping where it has one (e.g. a perturbed synapse ``w * factor``).
    ``indices`` (from :func:`prepare_rounds`) are the faults' index tensors, already on the
    device.
    """
    netmap = campaign.netmap
    device = campaign.device
    layers: dict[str, LayerFaults] = {}
    for i, fault in enumerate(rnd.faults):
        lf = layers.setdefault(fault.layer, LayerFaults(trainable=trainable))
        model = fault.model
        if isinstance(model, SynapseFaultModel):
            weight = netmap.effective_weight(fault.layer).detach()
            idx = indices[i].get() if indices is not None else _index([(*p, 0) for p in fault.positions], device)
            codes = campaign.qcodes.get(fault.layer)
            ctx = SynapseContext(weight, campaign.qparams.get(fault.layer), None if codes is None else codes[idx])
            values = model.faulty_weights(weight[idx].clone(), ctx).to(weight.dtype)
            lf.synapse.append(_Synapse(fault, i, idx, values))
        elif isinstance(model, ParametricFaultModel):
            idx = indices[i] if indices is not None else _index(fault.positions, device)
            fire = parametric_fire(campaign, fault.layer, model, idx)
            lf.parametric.append(_Parametric(fault, i, idx, fire))
        elif isinstance(model, NeuronFaultModel):
            lf.neuron.append(_Neuron(fault, i, indices[i] if indices is not None else _index(fault.positions, device)))
        else:
            raise ConfigError(f"fault model {model!r} has an unknown target {getattr(model, 'target', None)!r}")
    for name, lf in layers.items():
        perm = [s for s in lf.synapse if isinstance(s.fault.timing, Permanent)]
        if perm and not trainable:
            w = netmap.effective_weight(name).detach().clone()
            for s in perm:
                w[s.idx] = s.values
            lf.permanent_weight = w
    order = {name: i for i, name in enumerate(netmap.order)}
    idxs = [order[n] for n in layers]
    return PreparedRound(rnd.round_id, layers, min(idxs, default=len(order)), max(idxs, default=-1))


def _slayer_fire(slayer: Any, a: torch.Tensor) -> torch.Tensor:
    return slayer.spike(slayer.psp(a))


def parametric_fire(campaign: InjectionContext, layer: str, model: ParametricFaultModel,
                    index: tuple[torch.Tensor, ...] | _LazyIndex) -> Any:
    """The spiking function of the neurons ``index`` of ``layer`` with ``model``'s faulty
    parameters: ``(B, k, T)`` synaptic outputs to ``(B, k, T)`` spikes (a SLAYER layer's
    faulty neuron is one spiking layer for all: the index is then not built)."""
    netmap = campaign.netmap
    if netmap.slayer is not None:  # SLAYER: one faulty spiking layer for the faulty neurons
        return partial(_slayer_fire, campaign.faulty_slayer(model.faulty_neuron(netmap.neuron())))
    change = getattr(model, "change_stage", None)
    if change is None:
        raise FaultSpecError(f"{model.name} changes SLAYER neuron parameters; layer {layer!r} is a NIR neuron stage "
                             "(use NeuronDrift, LeakFault, NoReset, BiasShift or MembraneBitFlip)")
    return netmap.faulty_fire(layer, change, index.get() if isinstance(index, _LazyIndex) else index)


# ------------------------------------------------------------------------------------
# the faulty layer


def _masks(fault: ResolvedFault, index: int, samples: Sequence[int], steps: int, seed: int, round_id: int,
           device: torch.device) -> torch.Tensor | None:
    return fault.timing.mask(samples, steps, seed, round_id, index, device)


def spikes_with_stats(slayer: Any, u: torch.Tensor, keep_mask: bool = False,
                      golden: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    """``slayer.spike(u)`` with its spike count, firing mask (``keep_mask``) and whether
    it differs from ``golden`` (see :func:`spikefi.snn.functional.spike_stats`): computed
    by the spiking kernel itself where the layer is spikefi's own and its ``spike`` is not
    replaced, otherwise from the spikes."""
    from ..snn.layer import layer as spiking_layer

    if (isinstance(slayer, spiking_layer) and type(slayer).spike is spiking_layer.spike
            and "spike" not in vars(slayer)):
        return slayer.spike_stats(u, keep_mask=keep_mask, golden=golden)
    s = slayer.spike(u)
    return s, stats_of_spikes(s, keep_mask, golden)


def layer_spikes_with_stats(netmap: Any, name: str, x: torch.Tensor, keep_mask: bool = False,
                            golden: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    """Healthy layer ``name`` on input spikes ``x``: its spikes and :func:`spikes_with_stats`'s statistics."""
    if netmap.slayer is not None:
        return spikes_with_stats(netmap.slayer, netmap.slayer.psp(netmap.layer_forward(name, x)), keep_mask, golden)
    s = netmap.fire(name, netmap.layer_forward(name, x))
    return s, stats_of_spikes(s, keep_mask, golden)


def faulty_layer(
    campaign: InjectionContext,
    name: str,
    x: torch.Tensor,
    lf: LayerFaults | None,
    samples: Sequence[int],
    round_id: int,
) -> torch.Tensor:
    """Output spikes of layer ``name`` for input spikes ``x`` with the round's faults of that layer."""
    netmap = campaign.netmap
    if lf is None:
        return netmap.fire(name, netmap.layer_forward(name, x))
    a = synaptic_output(campaign, name, x, lf, samples, round_id)
    return neuron_output(campaign, a, netmap.fire(name, a), lf, samples, round_id)


def synaptic_output(
    campaign: InjectionContext, name: str, x: torch.Tensor, lf: LayerFaults, samples: Sequence[int], round_id: int
) -> torch.Tensor:
    """Synaptic output of layer ``name`` with the layer's synapse faults (stage 1)."""
    netmap = campaign.netmap
    steps = x.shape[-1]
    device = x.device
    transient = [s for s in lf.synapse if not isinstance(s.fault.timing, Permanent)]
    if lf.trainable and lf.synapse:
        weight = netmap.effective_weight(name)
        for s in lf.synapse:
            ctx = SynapseContext(weight.detach(), campaign.qparams.get(name))
            s.values = s.fault.model.faulty_weights(weight[s.idx], ctx).to(weight.dtype)
        base = weight
        for s in lf.synapse:
            if isinstance(s.fault.timing, Permanent):
                base = base.index_put(s.idx, s.values)
        a = netmap.layer_forward(name, x, base)
    else:
        base = netmap.effective_weight(name).detach() if lf.permanent_weight is None else lf.permanent_weight
        # an explicit weight: the module itself is not called (safe inside its forward hook)
        a = netmap.layer_forward(name, x, base) if lf.synapse else netmap.layer_forward(name, x)
    if transient:
        masks = []
        for s in transient:
            m = _masks(s.fault, s.index, samples, steps, campaign.seed, round_id, device)
            masks.append(torch.ones(len(samples), steps, dtype=torch.bool, device=device) if m is None else m)
        code = torch.zeros(len(samples), steps, dtype=torch.long, device=device)
        for j, m in enumerate(masks):
            code |= m.long() << j
        for combo in torch.unique(code).tolist():
            if combo == 0:
                continue
            w = base
            for j, s in enumerate(transient):
                if combo >> j & 1:
                    w = w.index_put(s.idx, s.values)
            a_combo = netmap.layer_forward(name, x, w)
            sel = (code == combo)[:, None, None, None, :]
            a = torch.where(sel, a_combo, a)
    return a


def neuron_output(
    campaign: InjectionContext,
    a: torch.Tensor,
    s_out: torch.Tensor,
    lf: LayerFaults,
    samples: Sequence[int],
    round_id: int,
) -> torch.Tensor:
    """Spikes after parametric and neuron-output faults (stages 3 and 4).

    Args:
        a: the layer's (faulty) synaptic output.
        s_out: its spikes with golden neuron parameters.
    """
    if not lf.parametric and not lf.neuron:
        return s_out
    steps = a.shape[-1]
    seed = campaign.seed
    device = a.device
    s_out = s_out.clone()
    for p in lf.parametric:
        a_sel = a[(slice(None), *p.idx)]  # (B, k, T)
        s_f = p.fire(a_sel)
        if isinstance(p.fault.timing, PerSample):
            hit = torch.as_tensor(p.fault.timing.affected(samples, seed, round_id, p.index), device=device)
            s_f = torch.where(hit[:, None, None], s_f, s_out[(slice(None), *p.idx)])
        s_out[(slice(None), *p.idx)] = s_f
    spike_value = campaign.netmap.spike_value
    for n in lf.neuron:
        cur = s_out[(slice(None), *n.idx)]  # (B, k, T)
        noise = None
        if n.fault.model.stochastic:
            k = cur.shape[1]
            noise = torch.as_tensor(
                np.stack([sample_rng(seed, round_id, n.index, s, stream=2).random((k, steps)) for s in samples]),
                dtype=cur.dtype, device=device,
            )
        new = n.fault.model.apply(cur, spike_value, noise)
        m = _masks(n.fault, n.index, samples, steps, seed, round_id, device)
        if m is not None:
            new = torch.where(m[:, None, :], new, cur)
        s_out[(slice(None), *n.idx)] = new
    return s_out


@contextlib.contextmanager
def scoped_injection(
    campaign: InjectionContext, prep: PreparedRound | None, samples: Sequence[int], record: dict[str, torch.Tensor]
) -> Iterator[None]:
    """Injects a round into the network's *own* forward, for any topology.

    Forward hooks on the synaptic layers apply synapse faults; a wrapper around the
    spiking layer's ``spike`` (scoped: removed on exit, also on errors) applies neuron and
    parametric faults to the spikes of the synaptic layer that ran last, and records each
    layer's spikes in ``record``.
    """
    netmap = campaign.netmap
    slayer = netmap.slayer
    if slayer is None:
        raise ConfigError("scoped hooks inject into a SLAYER network's own forward; a NIR network is a chain "
                          "(leave force_hooks off)")
    state: dict[str, Any] = {"last": None, "a": None}
    round_id = prep.round_id if prep is not None else -1
    handles = []
    for name, module in netmap.modules.items():
        def hook(module: Any, inputs: tuple, output: torch.Tensor, name: str = name) -> torch.Tensor:
            lf = prep.layers.get(name) if prep is not None else None
            a = synaptic_output(campaign, name, inputs[0], lf, samples, round_id) if lf is not None and lf.synapse else output
            state["last"], state["a"] = name, a
            return a
        handles.append(module.register_forward_hook(hook))
    original = slayer.spike

    def spike(u: torch.Tensor) -> torch.Tensor:
        s = original(u)
        name = state["last"]
        if name is None:
            return s
        lf = prep.layers.get(name) if prep is not None else None
        if lf is not None:
            s = neuron_output(campaign, state["a"], s, lf, samples, round_id)
        record[name] = s
        state["last"] = None
        return s

    slayer.spike = spike
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        del slayer.spike


# ------------------------------------------------------------------------------------
# statistics of a round


def tied_top(counts: torch.Tensor) -> torch.Tensor:
    """Whether the top output spike count is shared by two or more classes (per sample)."""
    top = counts.max(dim=1, keepdim=True).values
    return (counts == top).sum(dim=1) > 1


# ------------------------------------------------------------------------------------
# engines


class Engine(ABC):
    """Evaluates rounds of a campaign, chunk by chunk."""

    name: str = "engine"

    def __init__(self, early_stop_tolerance: float = 0.0) -> None:
        if not (isinstance(early_stop_tolerance, (int, float)) and 0 <= early_stop_tolerance < 1):
            raise ConfigError(f"early_stop_tolerance must be in [0, 1), got {early_stop_tolerance!r}")
        self.early_stop_tolerance = float(early_stop_tolerance)

    def run(self, campaign: CampaignContext, rounds: Sequence[Round], chunk_size: int = 64,
            on_progress: Any = None) -> Iterator[ChunkResult]:
        """Yields one :class:`ChunkResult` per ``chunk_size`` rounds, in round order."""
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ConfigError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
        for c, start in enumerate(range(0, len(rounds), chunk_size)):
            chunk = list(rounds[start : start + chunk_size])
            t0 = time.perf_counter()
            prepared = prepare_rounds(campaign, chunk)
            stats = [RoundStats() for _ in chunk]
            for b, (samples, x, y) in enumerate(self.batches(campaign)):
                self.evaluate_chunk(campaign, prepared, samples, x, y, campaign.golden_batch(b), stats)
                if on_progress is not None:
                    on_progress(len(chunk), len(samples))
            rows = [campaign.result_row(r, p, s) for r, p, s in zip(chunk, prepared, stats, strict=True)]
            preds = {r.round_id: torch.cat(s.predictions) for r, s in zip(chunk, stats, strict=True) if s.predictions}
            yield ChunkResult(c, [r.round_id for r in chunk], rows, time.perf_counter() - t0, campaign.num_samples, preds)

    def batches(self, campaign: CampaignContext) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """The test set in batches ``(sample indices, inputs, labels)`` (the campaign's)."""
        return campaign.batches()

    def evaluate_chunk(self, campaign: CampaignContext, prepared: Sequence[PreparedRound], samples: list[int],
                       x: torch.Tensor, y: torch.Tensor, golden: GoldenBatch, stats: Sequence[RoundStats]) -> None:
        """Evaluates a chunk's rounds on one batch (default: one round after the other)."""
        for prep, st in zip(prepared, stats, strict=True):
            self.evaluate(campaign, prep, samples, x, y, golden, st)

    @abstractmethod
    def evaluate(self, campaign: CampaignContext, prep: PreparedRound, samples: list[int], x: torch.Tensor,
                 y: torch.Tensor, golden: GoldenBatch, stats: RoundStats) -> None:
        """Evaluates one round on one batch, adding to ``stats``."""

    @staticmethod
    def finish(campaign: CampaignContext, out: torch.Tensor, y: torch.Tensor, golden: GoldenBatch, stats: RoundStats) -> None:
        values, loss, pred = _finish_tensors(campaign, out, y, golden)
        _apply_finish(campaign, stats, int(y.numel()), values.tolist(), None if loss is None else float(loss),
                      pred.cpu() if campaign.options.keep_predictions else None)


def _finish_tensors(campaign: CampaignContext, out: torch.Tensor, y: torch.Tensor,
                    golden: GoldenBatch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """On the device: (correct, critical, changed, tied, deviation) of a round's batch, its
    summed loss (or ``None``) and its predictions."""
    counts = campaign.netmap.scores(out)
    pred = campaign.predict_counts(counts)
    g_pred = golden.pred
    parts = [(pred == y).sum(), ((g_pred == y) & (pred != y)).sum(), (pred != g_pred).sum(), tied_top(counts).sum()]
    if counts.is_floating_point():  # a readout's scores: the deviation is a float64 sum
        values = torch.stack([*(p.double() for p in parts), (counts.double() - golden.counts.double()).abs().sum()])
    else:
        values = torch.stack([*parts, (counts - golden.counts).abs().sum()])
    loss = campaign.sample_losses(out, y).sum() if campaign.loss_fn is not None else None
    return values, loss, pred


def _apply_finish(campaign: CampaignContext, stats: RoundStats, samples: int, values: Sequence[int], loss: float | None,
                  pred: torch.Tensor | None) -> None:
    correct, critical, changed, tied, deviation = values
    stats.samples += samples
    stats.correct += int(correct)
    stats.critical += int(critical)
    stats.changed += int(changed)
    stats.tied += int(tied)
    stats.deviation_sum += float(deviation)
    if loss is not None:
        stats.loss_sum += loss
    if pred is not None:
        stats.predictions.append(pred)


class NaiveEngine(Engine):
    """Every round runs the whole network from the input: the reference engine.

    For chain networks the statistics of all rounds of a chunk are read back from the
    device together after the batch (no host-device synchronisation per round, so the
    host queues the next round while the device computes).
    """

    name = "naive"

    def evaluate_chunk(self, campaign, prepared, samples, x, y, golden, stats):  # type: ignore[override]
        if not campaign.netmap.chain or campaign.options.force_hooks or type(self).finish is not Engine.finish:
            super().evaluate_chunk(campaign, prepared, samples, x, y, golden, stats)
            return
        pending: list[dict[str, Any]] = []
        for prep, st in zip(prepared, stats, strict=True):
            _naive_round(campaign, prep, samples, x, y, golden, st, pending)
        _resolve_naive(campaign, pending, int(y.numel()))

    def evaluate(self, campaign, prep, samples, x, y, golden, stats):  # type: ignore[override]
        if not campaign.netmap.chain or campaign.options.force_hooks:
            record: dict[str, torch.Tensor] = {}
            with scoped_injection(campaign, prep, samples, record):
                out = campaign.net(x)
            for i, name in enumerate(campaign.netmap.order):
                fired = record[name] != 0
                stats.add_spikes(name, int(fired.sum()))
                if not torch.equal(fired, golden.spikes[name]):
                    stats.diverged_at(i)
            self.finish(campaign, out, y, golden, stats)
            return
        pending: list[dict[str, Any]] = []
        _naive_round(campaign, prep, samples, x, y, golden, stats, pending)
        _resolve_naive(campaign, pending, int(y.numel()))


def _naive_round(campaign: CampaignContext, prep: PreparedRound, samples: Sequence[int], x: torch.Tensor, y: torch.Tensor,
                 golden: GoldenBatch, stats: RoundStats, pending: list[dict[str, Any]]) -> None:
    """The whole network for one round (chain networks); its statistics stay on the device
    in ``pending`` until :func:`_resolve_naive`."""
    s = x
    netmap = campaign.netmap
    counts, checked = [], []
    for i, name in enumerate(netmap.order):
        check = stats.first_divergence is None or i < stats.first_divergence
        lf = prep.layers.get(name)
        if lf is None:  # a healthy layer: its statistics come with its spikes
            s, st = layer_spikes_with_stats(netmap, name, s, golden=golden.spikes[name] if check else None)
            counts.append(st["count"])
            if check:
                checked.append((i, st["differs"].long()))  # type: ignore[union-attr]
            continue
        s = faulty_layer(campaign, name, s, lf, samples, prep.round_id)
        st = stats_of_spikes(s, golden=golden.spikes[name] if check else None)
        counts.append(st["count"])
        if check:
            checked.append((i, st["differs"].long()))  # type: ignore[union-attr]
    values, loss, pred = _finish_tensors(campaign, s, y, golden)
    pending.append({"stats": stats, "ints": [*counts, *(c[1] for c in checked), *values.unbind()],
                    "checked": [c[0] for c in checked], "loss": loss, "pred": pred})


def _resolve_naive(campaign: CampaignContext, pending: list[dict[str, Any]], samples: int) -> None:
    """Reads the pending statistics back in one transfer and adds them to the rounds' stats."""
    if not pending:
        return
    order = campaign.netmap.order
    ints = torch.stack([t for p in pending for t in p["ints"]]).tolist()
    losses = [p["loss"] for p in pending if p["loss"] is not None]
    loss_values = iter(torch.stack(losses).tolist()) if losses else iter(())
    preds = torch.stack([p["pred"] for p in pending]).cpu() if campaign.options.keep_predictions else None
    k = 0
    for j, p in enumerate(pending):
        st: RoundStats = p["stats"]
        vals = ints[k : k + len(p["ints"])]
        k += len(p["ints"])
        n_checked = len(p["checked"])
        for name, count in zip(order, vals[: len(order)], strict=True):
            st.add_spikes(name, count)
        for i, differs in zip(p["checked"], vals[len(order) : len(order) + n_checked], strict=True):
            if differs:
                st.diverged_at(i)
        _apply_finish(campaign, st, samples, vals[len(order) + n_checked :],
                      next(loss_values) if p["loss"] is not None else None,
                      preds[j] if preds is not None else None)


class SequentialEngine(Engine):
    """SpikeFI-style: late start at the first faulty layer, early stop on golden spikes."""

    name = "sequential"

    def evaluate(self, campaign, prep, samples, x, y, golden, stats):  # type: ignore[override]
        if not campaign.netmap.chain or campaign.options.force_hooks:  # no late start without a chain
            NaiveEngine.evaluate(self, campaign, prep, samples, x, y, golden, stats)  # type: ignore[arg-type]
            return
        order = campaign.netmap.order
        if prep.first >= len(order):  # empty round: the golden network
            for name in order:
                stats.add_spikes(name, golden.spike_counts[name])
            self.finish(campaign, golden.output, y, golden, stats)
            return
        for name in order[: prep.first]:
            stats.add_spikes(name, golden.spike_counts[name])
        s = campaign.golden_input(golden, prep.first, x)
        out = None
        for i in range(prep.first, len(order)):
            name = order[i]
            s = faulty_layer(campaign, name, s, prep.layers.get(name), samples, prep.round_id)
            fired = s != 0
            stats.add_spikes(name, int(fired.sum()))
            g = golden.spikes[name]
            differs = fired != g
            if bool(differs.any()):
                stats.diverged_at(i)
            if i >= prep.last:
                frac = float(differs.float().mean()) if self.early_stop_tolerance > 0 else (1.0 if bool(differs.any()) else 0.0)
                if frac <= self.early_stop_tolerance:
                    for rest in order[i + 1 :]:
                        stats.add_spikes(rest, golden.spike_counts[rest])
                    out = golden.output if frac == 0 else None
                    if out is None:  # approximate stop: continue golden from here
                        out = golden.output
                    break
        if out is None:
            out = s
        self.finish(campaign, out, y, golden, stats)


ENGINES: dict[str, type[Engine]] = {"naive": NaiveEngine, "sequential": SequentialEngine}


def get_engine(name: str, **kwargs: Any) -> Engine:
    if "parallel" not in ENGINES:
        from . import parallel  # noqa: F401 - registers the fault-parallel engine
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}; allowed: {sorted(ENGINES)}")
    return ENGINES[name](**kwargs)


def faults_json(faults: Sequence[ResolvedFault]) -> str:
    return json.dumps([
        {**f.model.spec(), "layer": f.layer, "positions": [list(p) for p in f.positions], "timing": f.timing.spec()}
        for f in faults
    ])


