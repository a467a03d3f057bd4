"""The fault-parallel engine: many rounds at once, starting from cached golden spikes.

Rows are (round, sample) pairs stacked along the batch dimension. A round's rows enter
at its first faulty layer with that layer's *golden* output modified by the round's
faults there, so nothing before it is recomputed:

* neuron-output faults edit the cached golden spike trains at the faulty neurons;
* parametric faults re-simulate only the faulty neurons from the golden synaptic input;
* synapse faults recompute only the output channels (conv) or neurons (dense) that the
  faulty synapses feed, with the faulty weights.

Downstream layers are computed for all surviving rows together with the golden weights.
After every layer, a row whose spikes equal the golden ones leaves the batch (fault
dropping): it takes the golden result — or, when its round has faults in a later layer,
re-enters there with golden input. Statistics of rows that left are the golden ones,
looked up per sample.

Rows travel as patches (a window of all channels, or of one channel) or, in an
integer-exact campaign (:mod:`spikefi.campaign.integer_synapses`), as *sparse rows*: the
spike trains of only the neurons that differ from golden (a conv layer fed by a
one-channel change fires only the positions that change reaches; a pooling layer then
recomputes only the pooled neurons those feed, a dense layer adds their integer
contributions to the golden integer sums). See ``docs/parity.md``.

Partial recomputation changes the float summation order of the recomputed neurons
(a one-channel convolution instead of the full one). In float64 this never flips a spike
in practice; in float32 a flip can occur only where the potential is within rounding of
the threshold (the exactness suite and ``benchmarks/campaign_throughput.py`` count them).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, cast

import numpy as np
import torch

from ....errors import ConfigError
from ....faults.models import NeuronFaultModel
from ....faults.timing import Permanent
from ....snn import functional as fn
from ....snn.paths import fused_active, triton_usable
from ... import integer_synapses as isyn
from ...context import CampaignContext
from ...inject import neuron_output, synaptic_output
from ...types import Batch, ChunkResult, GoldenBatch, PreparedRound, Round, RoundStats, _Neuron, _Parametric
from ..base import Engine, tied_top
from ..naive import NaiveEngine, _naive_round, _resolve_naive
from ..sequential import SequentialEngine
from .patches import _boxes, _crop_geometry, _merge, _overlay, _Patch, _Sparse, _window
from .views import _remap_neurons, _synaptic_channels

__all__ = ["ParallelEngine", "rows_budget"]


def _available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        # the driver's free memory, plus what PyTorch's caching allocator holds unused (after
        # the first chunk the cache holds most of it: counting it out shrank sub-chunks 5x)
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + max(0, cached))
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def rows_budget(campaign: CampaignContext, memory_fraction: float = 0.25) -> int:
    """How many (round, sample) rows fit in ``memory_fraction`` of free memory."""
    itemsize = torch.empty((), dtype=campaign.dtype).element_size()
    largest = max(info.neurons for info in campaign.netmap.layers.values())
    # a materialised row of the largest layer with its synaptic input and potential
    # (most rows travel as small patches or leave the batch early)
    per_row = 3 * largest * campaign.steps * itemsize
    return max(1, int(_available_bytes(campaign.device) * memory_fraction // per_row))


class _OnDevice:
    """A batch of inputs, copied to the device at its first use."""

    def __init__(self, x: torch.Tensor, device: torch.device, dtype: torch.dtype) -> None:
        self._x, self._device, self._dtype = x, device, dtype

    def get(self) -> torch.Tensor:
        if self._x.device != self._device or self._x.dtype != self._dtype:
            self._x = self._x.to(device=self._device, dtype=self._dtype)
        return self._x


#: ``SPIKEFI_GOLDEN_CACHE=0``: every chunk computes its batches' golden integer sums and golden
#: synaptic outputs again (as before the cache); ``1`` or unset: they are kept across the chunks
#: of one run (:class:`_GoldenCache`). The tables are the same either way.
GOLDEN_CACHE_ENV = "SPIKEFI_GOLDEN_CACHE"
#: share of the memory free at a run's start (GPU, or RAM) that :class:`_GoldenCache` may hold
GOLDEN_CACHE_FRACTION = 0.1


def _nbytes(data: dict[Any, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in data.values())


class _GoldenCache:
    """Golden data of a run's batches that does not depend on the rounds (each layer's golden
    integer sums, their time-major copies, golden synaptic outputs), kept from one chunk to the
    next: without it every chunk computes them again for every batch (on an H100 the
    realistic synapse workload recomputed the golden sums of SC2, SC3 and SF4a for each of its
    203 chunks). A batch's data is kept while the whole cache stays within ``limit`` bytes;
    the first batches that fit stay, later ones are computed per chunk as before (chunks visit
    the batches in the same order, so evicting would only trade one batch for another). The
    values are those a recomputation gives: the same tables either way. One cache per campaign
    being run (runs of several campaigns may interleave on one engine)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: dict[tuple[int, int, int], dict[Any, torch.Tensor]] = {}
        self.sizes: dict[tuple[int, int, int], int] = {}
        self.used = 0

    @staticmethod
    def _key(samples: list[int]) -> tuple[int, int, int]:
        return (samples[0], samples[-1], len(samples)) if samples else (0, -1, 0)

    def get(self, samples: list[int]) -> dict[Any, torch.Tensor]:
        """The batch's kept data (a chunk adds to it in place), or a new dict."""
        return self.entries.get(self._key(samples), {})

    def keep(self, samples: list[int], data: dict[Any, torch.Tensor]) -> None:
        """Keeps the batch's ``data`` after a chunk if the cache stays within its limit (a kept
        entry that grew past it is dropped: computed per chunk from then on)."""
        key = self._key(samples)
        if self.entries.pop(key, None) is not None:
            self.used -= self.sizes.pop(key)
        size = _nbytes(data)
        if data and self.used + size <= self.limit:
            self.entries[key] = data
            self.sizes[key] = size
            self.used += size


#: ``SPIKEFI_ENGINE_BATCH=N``: the parallel engine evaluates up to ``N`` samples at once,
#: joining consecutive batches of the campaign (:meth:`ParallelEngine.golden_batches`); unset
#: or ``0``: the campaign's batches as they are. Opt-in until it is measured on a GPU (where
#: fewer, larger stacks should spread the host's per-layer work; on the CPU there is no launch
#: overhead to spread). The tables are the same either way.
ENGINE_BATCH_ENV = "SPIKEFI_ENGINE_BATCH"


def engine_batch(campaign: CampaignContext) -> int:
    """Samples the parallel engine evaluates at once (:data:`ENGINE_BATCH_ENV`), never fewer
    than the campaign's batch size."""
    raw = os.environ.get(ENGINE_BATCH_ENV, "").strip()
    if not raw:
        wanted = 0
    elif raw.isascii() and raw.isdigit():
        wanted = int(raw)
    else:
        raise ConfigError(f"{ENGINE_BATCH_ENV} must be a whole number of samples (0: the campaign's batches), "
                          f"got {raw!r}")
    return max(wanted, campaign.batch_size)


def _joined(group: Sequence[tuple[list[int], torch.Tensor, torch.Tensor, GoldenBatch]]
            ) -> tuple[list[int], torch.Tensor, torch.Tensor, GoldenBatch]:
    """Consecutive batches and their golden runs as one batch (one of them: itself)."""
    if len(group) == 1:
        return group[0]
    goldens = [g[3] for g in group]
    cat = torch.cat
    first = goldens[0]
    golden = GoldenBatch(
        spikes={name: cat([g.spikes[name] for g in goldens]) for name in first.spikes},
        output=cat([g.output for g in goldens]), counts=cat([g.counts for g in goldens]),
        pred=cat([g.pred for g in goldens]), tied=cat([g.tied for g in goldens]),
        losses=None if first.losses is None else cat([cast(torch.Tensor, g.losses) for g in goldens]),
        spike_counts={name: sum(g.spike_counts[name] for g in goldens) for name in first.spike_counts})
    return [s for g in group for s in g[0]], cat([g[1] for g in group]), cat([g[2] for g in group]), golden


def _round_rows(campaign: CampaignContext, prep: PreparedRound, batch: int) -> float:
    """Estimated rows (in units of :func:`rows_budget`'s worst-case row) that a round may hold.

    Its rows enter at its first faulty layer as one channel (a synapse fault), the
    faulty neurons' neighbourhood (neuron faults) or whole rows (several faults there);
    downstream only the windows a difference reaches are recomputed.
    """
    netmap = campaign.netmap
    order = netmap.order
    if prep.first >= len(order):
        return 0.0
    infos = [netmap.layers[n] for n in order]
    largest = max(i.neurons for i in infos)
    first = infos[prep.first]
    lf = prep.layers[order[prep.first]]
    c, h, w = first.neuron_shape
    if lf.parametric or len(lf.synapse) + len(lf.neuron) > 1 or len(prep.layers) > 1 \
            or any(getattr(syn.fault.model, "whole_layer", False) for syn in lf.synapse):
        entry = first.neurons
    elif lf.synapse:
        entry = h * w
    else:
        entry = c * min(h * w, 9)
    down = max((i.neuron_shape[0] * min(i.neuron_shape[1] * i.neuron_shape[2], 9) for i in infos[prep.first + 1:]),
               default=0)
    return batch * min(1.0, (entry + down) / largest)


def _snapshot(st: RoundStats) -> RoundStats:
    snap = copy.copy(st)
    snap.spikes = dict(st.spikes)
    snap.predictions = list(st.predictions)
    return snap


class ParallelEngine(Engine):
    """Fault-parallel evaluation with late start, sparse first-layer work and fault dropping.

    Args:
        early_stop_tolerance: must be 0 (rows are dropped only when exactly golden).
        memory_fraction: share of free memory (GPU or RAM) the stacked rows may use;
            chunks larger than that are split into sub-chunks. Default: 0.6 on CUDA (where a
            sub-chunk that runs out of memory anyway is split and evaluated again), 0.25 on
            the CPU.
    """

    name = "parallel"

    def __init__(self, early_stop_tolerance: float = 0.0, memory_fraction: float | None = None,
                 crop: bool = True) -> None:
        super().__init__(early_stop_tolerance)
        #: recompute only the window of a conv/pool layer that a difference can reach
        self.crop = crop
        if early_stop_tolerance:
            raise ConfigError("the parallel engine drops rows only when exactly golden: early_stop_tolerance must be 0")
        self.memory_fraction = memory_fraction
        #: one :class:`_GoldenCache` per campaign being run (by ``id``; runs may interleave)
        self._golden_caches: dict[int, _GoldenCache] = {}

    def _fraction(self, campaign: CampaignContext) -> float:
        """The share of free memory the stacked rows may use (see the class's docstring)."""
        if self.memory_fraction is not None:
            return self.memory_fraction
        return 0.6 if campaign.device.type == "cuda" else 0.25

    def run(self, campaign: CampaignContext, rounds: Sequence[Round], chunk_size: int = 64,
            on_progress: Any = None) -> Iterator[ChunkResult]:
        if self.observed:
            raise ConfigError("the parallel engine does not compute every round's output (rows equal to golden leave "
                              "its batch): output observers need the naive or sequential engine")
        if not campaign.netmap.chain or campaign.options.force_hooks:
            yield from _fallback(self, campaign, rounds, chunk_size, on_progress)
            return
        on = _switch(GOLDEN_CACHE_ENV, "keep golden sums across chunks, also when unset", "compute them per chunk")
        # one cache per campaign being run (runs of other campaigns may interleave on this engine)
        caches = self._golden_caches
        mine = _GoldenCache(int(GOLDEN_CACHE_FRACTION * _available_bytes(campaign.device))) if on is not False else None
        if mine is not None:
            caches.setdefault(id(campaign), mine)
        try:
            yield from super().run(campaign, rounds, chunk_size, on_progress)
        finally:
            if mine is not None and caches.get(id(campaign)) is mine:
                del caches[id(campaign)]

    def batches(self, campaign: CampaignContext) -> Iterator[Batch]:
        """Like the campaign's batches, but the inputs stay where the campaign keeps them:
        only rounds with a fault in the first layer need them (see ``golden_input``)."""
        if campaign.inputs_on_device:
            yield from campaign.batches()
            return
        for start in range(0, campaign.num_samples, campaign.batch_size):
            stop = min(start + campaign.batch_size, campaign.num_samples)
            yield Batch(list(range(start, stop)), campaign.x[start:stop], campaign.y[start:stop].to(campaign.device))

    def golden_batches(self, campaign: CampaignContext) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor,
                                                                         GoldenBatch]]:
        """The campaign's batches, consecutive ones joined up to :func:`engine_batch` samples:
        a (round, sample) stack costs host work per layer whatever its size, so fewer, larger
        stacks keep a GPU busier. The memory budget still splits a chunk's rounds into
        sub-chunks (:meth:`evaluate_chunk`), for the joined batch as for any other; a stack
        never holds more samples than the budget's worst-case rows (so one round of it fits)."""
        limit = engine_batch(campaign)
        if limit > campaign.batch_size:
            limit = max(campaign.batch_size, min(limit, rows_budget(campaign, self._fraction(campaign))))
        group: list[tuple[list[int], torch.Tensor, torch.Tensor, GoldenBatch]] = []
        for item in super().golden_batches(campaign):
            if group and sum(len(g[0]) for g in group) + len(item[0]) > limit:
                yield _joined(group)
                group = []
            group.append(item)
        if group:
            yield _joined(group)

    def evaluate(self, campaign: CampaignContext, prep: PreparedRound, samples: list[int], x: torch.Tensor,
                 y: torch.Tensor, golden: GoldenBatch, stats: RoundStats) -> None:
        self.evaluate_many(campaign, [prep], samples, x, y, golden, [stats])

    def evaluate_chunk(self, campaign: CampaignContext, prepared: Sequence[PreparedRound], samples: list[int],
                       x: torch.Tensor, y: torch.Tensor, golden: GoldenBatch, stats: Sequence[RoundStats]) -> None:
        """Evaluates the chunk's rounds in as few sub-chunks as the memory budget allows.

        Rounds are taken in order of their first faulty layer; each costs an estimate of the
        rows it may materialise (:func:`_round_rows`), in units of :func:`rows_budget`. On
        CUDA, a sub-chunk that runs out of memory anyway is evaluated again in halves.
        """
        # whole-layer faults (analog devices) change every row of their layers: nothing to share
        # or drop, so such rounds run as whole networks from their first faulty layer
        whole = [i for i, p in enumerate(prepared) if _has_whole_layer(p)]
        if whole:
            xd = x.to(device=campaign.device, dtype=campaign.dtype) if any(prepared[i].first == 0 for i in whole) else x
            pending: list[dict[str, Any]] = []
            for i in whole:
                _naive_round(campaign, prepared[i], samples, xd, y, golden, stats[i], pending, late_start=True)
            _resolve_naive(campaign, pending, int(y.numel()))
        # on a GPU, rounds with faults in several layers or neuron-state upsets run faster as
        # one sequential pass each (late start, early stop) than as stacked rows
        sequential = [i for i, p in enumerate(prepared) if i not in set(whole) and _sequential_round(campaign, p)]
        if sequential:
            seq = SequentialEngine()
            xd = x.to(device=campaign.device, dtype=campaign.dtype) if any(prepared[i].first == 0 for i in sequential) else x
            for i in sequential:
                seq.evaluate(campaign, prepared[i], samples, xd, y, golden, stats[i])
        capacity = float(rows_budget(campaign, self._fraction(campaign)))
        skip = set(whole) | set(sequential)
        todo = sorted((i for i in range(len(prepared)) if i not in skip), key=lambda i: prepared[i].first)
        cost = {i: _round_rows(campaign, prepared[i], len(samples)) for i in todo}
        # the batch's golden integer sums (and golden synaptic outputs), shared by its sub-chunks
        # and, within a run, by later chunks (_GoldenCache)
        cache = self._golden_caches.get(id(campaign))
        sums: dict[str, torch.Tensor] = cache.get(samples) if cache is not None else {}
        start = 0
        while start < len(todo):
            end, used = start, 0.0
            while end < len(todo) and (end == start or used + cost[todo[end]] <= capacity):
                used += cost[todo[end]]
                end += 1
            sub = todo[start:end]
            saved = [_snapshot(stats[i]) for i in sub]
            try:
                self.evaluate_many(campaign, [prepared[i] for i in sub], samples, x, y, golden,
                                   [stats[i] for i in sub], integer_sums=sums)
            except torch.cuda.OutOfMemoryError:
                if len(sub) == 1:
                    raise
                for i, snap in zip(sub, saved, strict=True):
                    stats[i].__dict__.update(snap.__dict__)
                torch.cuda.empty_cache()
                capacity = used / 2
                continue
            start = end
        if cache is not None:
            cache.keep(samples, sums)

    def evaluate_many(self, campaign: CampaignContext, prepared: Sequence[PreparedRound], samples: list[int],
                      x: torch.Tensor, y: torch.Tensor, golden: GoldenBatch, stats: Sequence[RoundStats],
                      integer_sums: dict[str, torch.Tensor] | None = None) -> None:
        """Evaluates several rounds on one batch together.

        ``integer_sums``: the batch's golden integer sums per integer-exact layer (and its
        golden synaptic outputs), filled on first use (sub-chunks of one batch share them, and
        later chunks of a run: :class:`_GoldenCache`).

        Active rows travel as *patches*: a spatial window of the layer's output (all
        channels) at a per-row origin; outside it the row equals the golden spikes.
        """
        netmap = campaign.netmap
        order = netmap.order
        device = campaign.device
        inputs = _OnDevice(x, device, campaign.dtype)
        n_layers = len(order)
        value = netmap.spike_value
        n_rounds = len(prepared)
        position = {name: i for i, name in enumerate(order)}
        faulty_layers = [sorted(position[name] for name in p.layers) for p in prepared]
        has_fault = np.zeros((n_rounds, n_layers + 1), dtype=bool)
        for r, fl in enumerate(faulty_layers):
            has_fault[r, fl] = True
        last_np = np.array([fl[-1] if fl else -1 for fl in faulty_layers], dtype=np.int64)
        last_layer = torch.from_numpy(last_np).to(device)
        has_fault_dev = torch.from_numpy(has_fault).to(device)
        for st in stats:  # golden baseline; active rows add their differences
            for name in order:
                st.spikes[name] = st.spikes.get(name, 0) + golden.spike_counts[name]
        if integer_sums is None:  # golden integer synaptic sums (integer-exact layers)
            integer_sums = {}
        golden_a = integer_sums  # golden synaptic outputs, under "<layer>\tgolden synaptic"

        def golden_input(layer: int) -> torch.Tensor:
            return inputs.get() if layer == 0 else golden.spikes[order[layer - 1]].to(campaign.dtype) * value

        def golden_prev(layer: int) -> torch.Tensor:
            """Golden input of ``layer`` in its stored form (bool spikes, or the float input)."""
            return inputs.get() if layer == 0 else golden.spikes[order[layer - 1]]

        def golden_synaptic(layer: int) -> torch.Tensor:
            key = f"{order[layer]}\tgolden synaptic"
            if key not in golden_a:
                golden_a[key] = netmap.layer_forward(order[layer], golden_input(layer))
            return golden_a[key]

        reentries: dict[int, dict[int, torch.Tensor]] = {}
        active: list[Any] = []
        end_rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for layer in range(n_layers):
            name = order[layer]
            g_spikes = golden.spikes[name]
            outputs: list[Any] = []
            # 1. rows carried from the previous layer
            for group in active:
                with_faults = has_fault_dev[group.rounds, layer]
                plain = ~with_faults
                if bool(plain.any()):
                    sub = group.select(plain)
                    outputs.extend(_plain_rows(campaign, name, sub, golden_prev(layer), value,
                                               self.crop and netmap.croppable, integer_sums, g_spikes,
                                               partial(golden_synaptic, layer)))
                for r in torch.unique(group.rounds[with_faults]).tolist():
                    sub = group.select(group.rounds == r)
                    xin = sub.full(golden_prev(layer), campaign.dtype, value)
                    outputs.append(self._faulty_rows(campaign, prepared[r], name, xin, sub.samples, samples, r))
            # 2. rounds whose first faulty layer is this one, from golden data
            entering = [r for r, layers in enumerate(faulty_layers) if layers and layers[0] == layer]
            grouped, single = _uniform_neuron_groups(
                prepared, [r for r in entering if len(faulty_layers[r]) == 1], name)
            for rounds_g in grouped:  # many single-neuron rounds at once
                outputs.append(_entry_group(campaign, prepared, rounds_g, name, golden, value))
            syn_groups = _uniform_synapse_groups(
                prepared, [r for r in entering if len(faulty_layers[r]) == 1 and r not in {x for g in grouped for x in g}],
                name) if netmap.croppable and getattr(netmap.modules[name], "groups", 1) == 1 else []
            for rounds_g in syn_groups:  # many single-synapse rounds: one convolution
                outputs.append(_entry_synapse_group(campaign, prepared, rounds_g, layer, golden, golden_input, value,
                                                    integer_sums))
            done = {x for g in (*grouped, *syn_groups) for x in g}
            for r in entering:
                if r in done:
                    continue
                layers = faulty_layers[r]
                entered = self._entry_rows(campaign, prepared[r], layer, golden, golden_input,
                                           golden_synaptic, samples, r)
                outputs.append(entered)
                if len(layers) > 1 and entered.samples.numel() < len(samples):
                    # rows left golden here still meet the round's later faults
                    quiet = torch.ones(len(samples), dtype=torch.bool, device=device)
                    quiet[entered.samples] = False
                    reentries.setdefault(layers[1], {})[r] = torch.nonzero(quiet).flatten()
            # 3. dormant rows (golden so far) re-enter at their round's next faulty layer
            for r, rows_s in reentries.pop(layer, {}).items():
                outputs.append(self._faulty_rows(campaign, prepared[r], name, golden_input(layer)[rows_s], rows_s,
                                                 samples, r))
            active = []
            outputs = [g for g in outputs if g.rounds.numel()]
            compared = [group.known if group.known is not None else _compare(group, g_spikes) for group in outputs]
            if outputs:
                # statistics of all groups of this layer: one transfer to the host
                r_all = torch.cat([g.rounds for g in outputs])
                info = torch.stack([r_all, torch.cat([c[1] for c in compared]),
                                    torch.cat([c[2] for c in compared]).long()]).cpu().numpy()
                add = np.bincount(info[0], weights=info[1].astype(np.float64), minlength=n_rounds)
                hit = np.bincount(info[0], weights=info[2].astype(np.float64), minlength=n_rounds)
                for r in np.nonzero(add)[0].tolist():
                    stats[r].add_spikes(name, int(round(add[r])))
                for r in np.nonzero(hit)[0].tolist():
                    stats[r].diverged_at(layer)
                sizes = [g.rounds.numel() for g in outputs]
                differs_np = np.split(info[2].astype(bool), np.cumsum(sizes)[:-1])
                rounds_np = np.split(info[0], np.cumsum(sizes)[:-1])
            for k, group in enumerate(outputs):
                diff_map, _, differs = compared[k]
                # fault dropping: golden rows leave, or wait for their round's next faulty layer
                quiet_np = ~differs_np[k] & (last_np[rounds_np[k]] > layer)
                if quiet_np.any():
                    dormant = ~differs & (last_layer[group.rounds] > layer)
                    for r in np.unique(rounds_np[k][quiet_np]).tolist():
                        nxt = next(i for i in faulty_layers[r] if i > layer)
                        rows_s = group.samples[dormant & (group.rounds == r)]
                        entry = reentries.setdefault(nxt, {})
                        entry[r] = torch.sort(torch.cat([entry[r], rows_s])).values if r in entry else rows_s
                if differs_np[k].all():
                    kept = group
                    if isinstance(kept, _Patch):
                        kept.box = _boxes(diff_map) + torch.stack([kept.h0, kept.h0, kept.w0, kept.w0], 1)
                    active.append(kept)
                elif differs_np[k].any():
                    kept = group.select(differs)
                    if isinstance(kept, _Patch):
                        kept.box = _boxes(diff_map[differs]) + torch.stack([kept.h0, kept.h0, kept.w0, kept.w0], 1)
                    active.append(kept)
            active = _merge(active)
            if layer == n_layers - 1:
                for group in active:
                    end_rows.append((group.rounds, group.samples, group.full(g_spikes, campaign.dtype, value)))
        self._finish_many(campaign, prepared, end_rows, y, golden, stats)

    @staticmethod
    def _faulty_rows(campaign: CampaignContext, prep: PreparedRound, name: str, xin: torch.Tensor, rows_s: torch.Tensor,
                     samples: list[int], r: int) -> _Patch:
        """Full faulty layer for some rows of one round."""
        lf = prep.layers[name]
        smp = [samples[i] for i in rows_s.tolist()]
        a = synaptic_output(campaign, name, xin, lf, smp, prep.round_id)
        out = neuron_output(campaign, a, campaign.netmap.fire(name, a), lf, smp, prep.round_id, owned=True)
        return _Patch.whole(torch.full((rows_s.numel(),), r, device=xin.device), rows_s, out)

    @staticmethod
    def _entry_rows(campaign: CampaignContext, prep: PreparedRound, layer: int, golden: GoldenBatch, golden_input: Any,
                    golden_synaptic: Any, samples: list[int], r: int) -> _Patch:
        """Rows of a round at its first faulty layer, built from golden data; only rows that
        differ from golden (or that later faults need) are materialised."""
        netmap = campaign.netmap
        name = netmap.order[layer]
        lf = prep.layers[name]
        device = golden.spikes[name].device
        batch = len(samples)
        value = netmap.spike_value
        all_rows = torch.arange(batch, device=device)
        whole = any(getattr(syn.fault.model, "whole_layer", False) for syn in lf.synapse)
        if lf.synapse and (whole or not netmap.channels_aligned(name)):
            # weights' channels are not neuron channels, or analog devices change the whole layer
            a = synaptic_output(campaign, name, golden_input(layer), lf, samples, prep.round_id)
            out = neuron_output(campaign, a, netmap.fire(name, a), lf, samples, prep.round_id, owned=True)
            return _Patch.whole(torch.full((batch,), r, device=device), all_rows, out)
        if lf.synapse:
            # only the output channels fed by a faulty synapse change: recompute those
            channels = sorted({int(c) for syn in lf.synapse for c in syn.idx[0].tolist()})
            s = golden.spikes[name].to(campaign.dtype) * value
            a_ch = _synaptic_channels(campaign, name, golden_input(layer), lf, samples, prep.round_id, channels)
            s[:, channels] = netmap.fire(name, a_ch, channels)
            a = golden_synaptic(layer).clone() if lf.parametric else s
            if lf.parametric:
                a[:, channels] = a_ch
            out = neuron_output(campaign, a, s, lf, samples, prep.round_id, owned=True)
            return _Patch.whole(torch.full((batch,), r, device=device), all_rows, out)
        # neuron-output and parametric faults: work on the faulty neurons' trains only
        faulty: list[_Parametric | _Neuron] = [*lf.parametric, *lf.neuron]
        positions = sorted({tuple(int(v) for v in p) for f in faulty for p in f.fault.positions})
        index = {p: i for i, p in enumerate(positions)}
        pos_t = torch.tensor(positions, device=device)
        g_trains = golden.spikes[name][:, pos_t[:, 0], pos_t[:, 1], pos_t[:, 2]].to(campaign.dtype) * value
        mini_s = g_trains[:, :, None, None, :]  # (B, P, 1, 1, T)
        mini_a = mini_s
        if lf.parametric:
            a = golden_synaptic(layer)
            mini_a = a[:, pos_t[:, 0], pos_t[:, 1], pos_t[:, 2]][:, :, None, None, :]
        mini = _remap_neurons(lf, index, device)
        new = neuron_output(campaign, mini_a, mini_s, mini, samples, prep.round_id)[:, :, 0, 0, :]
        changed = (new != g_trains).flatten(1).any(1)
        rows = all_rows[changed]
        # a patch over the faulty neurons' bounding box, all channels
        h0, h1 = int(pos_t[:, 1].min()), int(pos_t[:, 1].max()) + 1
        w0, w1 = int(pos_t[:, 2].min()), int(pos_t[:, 2].max()) + 1
        patch = golden.spikes[name][rows][:, :, h0:h1, w0:w1].to(campaign.dtype) * value
        patch[:, pos_t[:, 0], pos_t[:, 1] - h0, pos_t[:, 2] - w0] = new[rows]
        m = rows.numel()
        return _Patch(torch.full((m,), r, device=device), rows, patch,
                      torch.full((m,), h0, device=device), torch.full((m,), w0, device=device))

    @staticmethod
    def _finish_many(campaign: CampaignContext, prepared: Sequence[PreparedRound],
                     end_rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], y: torch.Tensor,
                     golden: GoldenBatch, stats: Sequence[RoundStats]) -> None:
        g_pred, g_counts = golden.pred, golden.counts
        g_correct = g_pred == y
        base_correct = int(g_correct.sum())
        base_tied = int(golden.tied.sum())
        base_loss = float(golden.losses.sum()) if golden.losses is not None else 0.0
        for st in stats:
            st.samples += int(y.numel())
            st.correct += base_correct
            st.tied += base_tied
            st.loss_sum += base_loss
        if not end_rows or sum(int(r[0].numel()) for r in end_rows) == 0:
            if campaign.options.keep_predictions:
                g_cpu = g_pred.cpu()
                for st in stats:
                    st.predictions.append(g_cpu.clone())
            return
        rounds_t = torch.cat([r[0] for r in end_rows])
        samples_t = torch.cat([r[1] for r in end_rows])
        out = torch.cat([r[2] for r in end_rows])
        counts = campaign.netmap.scores(out)
        pred = campaign.predict_counts(counts)
        ys = y[samples_t]
        g_ok = g_correct[samples_t]
        columns = [
            rounds_t,
            (pred == ys).long() - g_ok.long(),  # correct
            (g_ok & (pred != ys)).long(),  # critical
            (pred != g_pred[samples_t]).long(),  # changed
            tied_top(counts).long() - golden.tied[samples_t].long(),  # tied
        ]
        n_rounds = len(stats)
        if counts.is_floating_point():  # a readout's scores: the deviation in float64
            ints = torch.stack(columns).cpu().numpy()
            deviation = (counts.double() - g_counts[samples_t].double()).abs().sum(1).cpu().numpy()
        else:  # one transfer: per-row differences, summed per round on the host (exact integers)
            ints = torch.stack([*columns, (counts - g_counts[samples_t]).abs().sum(1)]).cpu().numpy()
            deviation = ints[5].astype(np.float64)
        r_np = ints[0]
        sums = [np.bincount(r_np, weights=col, minlength=n_rounds) for col in ints[1:5].astype(np.float64)]
        sums.append(np.bincount(r_np, weights=deviation, minlength=n_rounds))
        loss = None
        if campaign.loss_fn is not None:
            d_loss = (campaign.sample_losses(out, ys) - cast(torch.Tensor, golden.losses)[samples_t]).cpu().numpy()
            loss = np.bincount(r_np, weights=d_loss, minlength=n_rounds)
        for r in np.unique(r_np).tolist():
            st = stats[r]
            st.correct += int(sums[0][r])
            st.critical += int(sums[1][r])
            st.changed += int(sums[2][r])
            st.tied += int(sums[3][r])
            st.deviation_sum += float(sums[4][r])
            if loss is not None:
                st.loss_sum += float(loss[r])
        if campaign.options.keep_predictions:
            table = g_pred.unsqueeze(0).repeat(n_rounds, 1)
            table[rounds_t, samples_t] = pred
            for st, p in zip(stats, table.cpu(), strict=True):
                st.predictions.append(p)


def _plain_rows(campaign: CampaignContext, name: str, rows: Any, golden_prev: torch.Tensor, value: float,
                crop: bool, integer_sums: dict[str, torch.Tensor] | None = None,
                golden_out: torch.Tensor | None = None,
                golden_a: Callable[[], torch.Tensor] | None = None) -> list[Any]:
    """Layer output (golden weights) of rows whose input differs from golden only inside ``rows.box``.

    For conv and pool layers only the output window the differences can reach is
    recomputed, with the same per-neuron arithmetic as the full layer; a pooling layer
    keeps channel patches to their channel. A dense layer computed integer-exactly
    (:mod:`spikefi.campaign.integer_synapses`) takes rows that differ in one input channel as
    the golden integer sums plus that channel's contribution (:func:`_integer_channel_rows`).
    Large row sets are processed in slices. Sparse rows (:class:`_Sparse`) take
    :func:`_sparse_rows`; ``golden_out`` (the layer's golden spikes) lets a layer return them.
    ``golden_a`` (the batch's golden synaptic output of the layer, on demand) lets a dense
    layer recompute only the time steps whose input differs (:func:`_time_sparse_dense`).
    """
    if isinstance(rows, _Sparse):
        return _sparse_rows(campaign, name, rows, golden_prev, golden_out, value, crop, integer_sums)
    if integer_sums is not None and rows.channel is not None:
        done = _integer_channel_rows(campaign, name, rows, golden_prev, value, integer_sums, golden_out)
        if done is not None:
            return done
    netmap = campaign.netmap
    info = netmap.layers[name]
    module: Any = netmap.modules[name]
    _, h_out, w_out = info.neuron_shape
    dtype = campaign.dtype
    channel_wise = rows.channel is not None and info.kind == "pool"
    c_in = 1 if channel_wise else golden_prev.shape[1]
    steps = golden_prev.shape[-1]
    geometry = None
    if crop and info.kind != "dense" and not (h_out == 1 and w_out == 1) and rows.box is not None:
        geometry = _crop_geometry(module, info.kind, rows.box, h_out, w_out)
    per_row = c_in * steps * (golden_prev.shape[2] * golden_prev.shape[3] if geometry is None
                              else geometry[4] * geometry[5])
    pieces = _slices(rows.rounds.numel(), per_row)
    if len(pieces) > 1:
        return [p for sl in pieces
                for p in _plain_rows(campaign, name, rows.select(sl), golden_prev, value, crop, integer_sums,
                                     golden_out, golden_a)]

    if geometry is None:  # the whole layer
        if channel_wise:  # the row's channel, whole map
            zero = torch.zeros_like(rows.h0)
            xin = _window(golden_prev, rows.samples, (zero, zero, golden_prev.shape[2], golden_prev.shape[3]),
                          rows.channel)
            xin = xin.to(dtype) * value if xin.dtype == torch.bool else xin
            xin = _overlay(xin, zero, zero, rows)
            out = netmap.fire(name, module(xin))  # SLAYER only (channel patches need croppable)
            return [_Patch(rows.rounds, rows.samples, out, zero, zero.clone(), channel=rows.channel)]
        time_sparse = info.kind == "dense" and golden_a is not None and _time_sparse_on() and _per_step(netmap, name)
        if time_sparse and rows.channel is not None and golden_prev.dtype == torch.bool:
            # channel patches: the changed steps found from the patches, whole rows never written
            a = _time_sparse_dense_channel(netmap, name, rows, golden_prev, cast(Callable, golden_a), dtype, value)
            if a is not None:
                return [_Patch.whole(rows.rounds, rows.samples, netmap.fire(name, a))]
            time_sparse = False  # too many changed steps: whole rows
        xin = rows.full(golden_prev, dtype, value)
        if time_sparse:
            a = _time_sparse_dense(netmap, name, rows, xin, golden_prev, cast(Callable, golden_a))
            if a is not None:
                return [_Patch.whole(rows.rounds, rows.samples, netmap.fire(name, a))]
        return [_Patch.whole(rows.rounds, rows.samples, netmap.fire(name, netmap.layer_forward(name, xin)))]
    oh0, ow0, ih0, iw0, in_h, in_w = geometry
    window = _window(golden_prev, rows.samples, (ih0, iw0, in_h, in_w), rows.channel if channel_wise else None)
    if window.dtype == torch.bool:
        window = window.to(dtype) * value
    window = _overlay(window, ih0, iw0, rows)
    if info.kind == "pool":
        a = module(window)
    else:
        a = cast(Any, netmap).synaptic_conv(name, window, padding=0)  # croppable: a SLAYER NetworkMap
    return [_Patch(rows.rounds, rows.samples, netmap.fire(name, a), oh0, ow0,
                   channel=rows.channel if channel_wise else None)]


#: ``SPIKEFI_TIME_SPARSE_ROWS=0`` turns :func:`_time_sparse_dense` off (whole rows through the
#: dense layer, as before it): the tables are the same either way.
TIME_SPARSE_ENV = "SPIKEFI_TIME_SPARSE_ROWS"
#: a dense layer recomputes only the differing time steps when they are at most this share
TIME_SPARSE_MAX_SHARE = 0.5


def _time_sparse_on() -> bool:
    return os.environ.get(TIME_SPARSE_ENV, "1") != "0"


def _per_step(netmap: Any, name: str) -> bool:
    """Whether layer ``name``'s synaptic output at a step depends on its input at that step
    alone: a SLAYER layer (NIR stages may hold delays) whose kernel spans one time bin with
    no temporal stride or padding."""
    if not netmap.croppable:
        return False
    module: Any = netmap.modules[name]
    weight = getattr(module, "weight", None)
    stride, padding = getattr(module, "stride", 1), getattr(module, "padding", 0)
    last = [v[-1] if isinstance(v, (tuple, list)) else v for v in (stride, padding)]
    return weight is not None and weight.dim() == 5 and weight.shape[-1] == 1 and last == [1, 0]


def _time_sparse_dense(netmap: Any, name: str, rows: Any, xin: torch.Tensor, golden_prev: torch.Tensor,
                       golden_a: Callable[[], torch.Tensor]) -> torch.Tensor | None:
    """A dense layer's synaptic output for whole rows ``xin`` ``(M, C, H, W, T)``, recomputing
    only the (row, step) pairs whose input differs from golden; ``None`` when more than
    :data:`TIME_SPARSE_MAX_SHARE` of them do.

    A SLAYER layer's synaptic output at step ``t`` depends on its input at ``t`` alone, so an
    unchanged step's output is the batch's golden one. The changed steps are packed, in order,
    into blocks of ``T`` steps of the same shape and memory layout as the rows (the same
    convolution, so each output column comes out as the whole-row computation gives it), and
    written over the golden outputs of the rows' samples.
    """
    g_in = golden_prev[rows.samples]
    # spikes compare as bools (rows of 0 and ``value``): no float copy of the golden rows
    changed = ((xin != 0) != g_in if g_in.dtype == torch.bool else xin != g_in).flatten(1, -2).any(1)  # (M, T)
    return _changed_steps_output(netmap, name, rows.samples, changed, golden_a, lambda m_i, t_i: xin[m_i, ..., t_i],
                                 lambda blocks: torch.zeros_like(xin[:blocks]))  # the rows' layout


def _changed_steps_output(netmap: Any, name: str, samples: torch.Tensor, changed: torch.Tensor,
                          golden_a: Callable[[], torch.Tensor],
                          inputs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                          zeros: Callable[[int], torch.Tensor]) -> torch.Tensor | None:
    """The time-sparse dense layer's shared part: the golden synaptic outputs of the rows'
    ``samples`` with the (row, step) pairs of ``changed`` ``(M, T)`` recomputed from their
    inputs (``inputs(m_i, t_i)``, ``(n, C, H, W)``), packed in order into blocks of ``T`` steps
    (``zeros(blocks)``, the whole rows' layout); ``None`` when more than
    :data:`TIME_SPARSE_MAX_SHARE` of the pairs changed."""
    m, steps = changed.shape
    n = int(changed.sum())
    if n > TIME_SPARSE_MAX_SHARE * m * steps:
        return None
    a = golden_a()[samples]  # (M, C_out, H', W', T): a copy
    if n == 0:
        return a
    m_i, t_i = torch.nonzero(changed, as_tuple=True)
    packed = zeros(-(-n // steps))
    slot = torch.arange(n, device=changed.device)
    packed[slot // steps, ..., slot % steps] = inputs(m_i, t_i)
    out = netmap.layer_forward(name, packed)
    a[m_i, ..., t_i] = out[slot // steps, ..., slot % steps].to(a.dtype)
    return a


def _zeros_in_order_of(ref: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """Zeros of shape ``(n, *ref.shape[1:])`` whose dimensions lie in memory in ``ref``'s order
    (dimension 0 outermost): the layout rows gathered from ``ref`` (``ref[rows]``) have, e.g.
    time-major spikes on the fused path."""
    strides = ref.stride()
    inner = sorted(range(1, ref.dim()), key=lambda d: -strides[d])  # stable: ties keep their order
    order = [0, *inner]
    z = torch.zeros([n if d == 0 else ref.shape[d] for d in order], dtype=dtype, device=ref.device)
    return z.permute([order.index(d) for d in range(ref.dim())])


def _time_sparse_dense_channel(netmap: Any, name: str, rows: _Patch, golden_prev: torch.Tensor,
                               golden_a: Callable[[], torch.Tensor], dtype: torch.dtype, value: float
                               ) -> torch.Tensor | None:
    """:func:`_time_sparse_dense` for channel patches (rows that differ from golden in one input
    channel, inside their window), without writing the whole rows: the changed (row, step)
    pairs come from the patches against the golden window, and each changed step's input is
    the golden step of the row's sample with the patch written into its channel. The packed
    blocks hold the same values in the same layout as :func:`_time_sparse_dense`'s, so the
    synaptic output is the same bit for bit; a float campaign's rows into a dense layer (SF4a
    after an SC3 synapse fault) read ``C_in`` times less. ``None`` when more than
    :data:`TIME_SPARSE_MAX_SHARE` of the steps changed."""
    patch, channel = rows.patch, cast(torch.Tensor, rows.channel)
    ph, pw = patch.shape[2], patch.shape[3]
    changed = ((patch != 0) != rows.golden_window(golden_prev)).flatten(1, -2).any(1)  # (M, T)

    def inputs(m_i: torch.Tensor, t_i: torch.Tensor) -> torch.Tensor:
        device = patch.device
        vals = golden_prev[rows.samples[m_i], ..., t_i].to(dtype) * value  # (n, C, H, W): the golden steps
        hh = rows.h0[m_i][:, None] + torch.arange(ph, device=device)[None]  # windows lie inside the map (_paste)
        ww = rows.w0[m_i][:, None] + torch.arange(pw, device=device)[None]
        at = torch.arange(m_i.numel(), device=device)
        vals[at[:, None, None], channel[m_i][:, None, None], hh[:, :, None], ww[:, None, :]] = \
            patch[m_i, 0, :, :, t_i].to(dtype)
        return vals

    # packed in the whole rows' layout (golden_prev[rows]'s)
    return _changed_steps_output(netmap, name, rows.samples, changed, golden_a, inputs,
                                 lambda blocks: _zeros_in_order_of(golden_prev, blocks, dtype))


def _integer_channel_rows(campaign: CampaignContext, name: str, rows: _Patch, golden_prev: torch.Tensor,
                          value: float, integer_sums: dict[str, torch.Tensor],
                          golden_out: torch.Tensor | None = None) -> list[Any] | None:
    """A dense integer-exact layer's output for rows whose input differs from golden in one
    channel (channel patches covering the whole map), or ``None`` where that does not apply.

    The synaptic output is ``S * fl(scale * value)`` with ``S`` an integer sum (see
    :mod:`spikefi.campaign.integer_synapses`); ``S`` of a row is the golden ``S`` of its
    sample plus the integer weights of the changed channel times the change of its 0/1
    spikes: integers below ``2**24``, exact in any order, so the result equals the full
    recomputation bit for bit at ``1/C_in`` of its multiply-adds.
    """
    netmap: Any = campaign.netmap
    layer = getattr(netmap, "integer", {}).get(name)
    info = netmap.layers[name]
    if layer is None or golden_prev.dtype != torch.bool or rows.channel is None:
        return None
    module: Any = netmap.modules[name]
    k, ok = layer.golden(netmap.effective_weight(name))
    if getattr(module, "groups", 1) != 1 or not bool(ok.all()) or not bool(isyn.spike_rows(rows.patch, value).all()):
        return None
    if info.kind == "conv":
        return _integer_conv_channel_rows(campaign, name, rows, golden_prev, layer, k, integer_sums, golden_out)
    if info.kind != "dense" or rows.patch.shape[2:4] != golden_prev.shape[2:4]:
        return None
    dtype = rows.patch.dtype
    gold_sum = _golden_integer_sums(integer_sums, name, module, k, golden_prev)[:, :, 0, 0]  # (B, C_out, T)
    m, _, h, w, steps = rows.patch.shape
    c_out = k.shape[0]
    scale = torch.tensor(layer.scale * layer.value, dtype=dtype, device=rows.patch.device)
    # the changed channel's integer weights per row, (C_in, C_out, h*w) gathered by channel
    k_in = k[..., 0].permute(1, 0, 2, 3).reshape(k.shape[1], c_out, h * w)
    isyn.count_call("dense channel delta")
    out = []
    for sl in _slices(m, c_out * h * w + h * w * steps):
        part = rows.select(sl)
        diff = (part.patch != 0).to(dtype) - part.golden_window(golden_prev).to(dtype)  # (M, 1, h, w, T) in {-1, 0, 1}
        # (M, T, C_out), exact integers
        delta_t = torch.bmm(diff.reshape(-1, h * w, steps).transpose(1, 2), k_in[part.channel].transpose(1, 2))
        s = _fire_rows_of_sums(netmap, integer_sums, name, gold_sum, (part.samples,), delta_t, scale, "dense channel",
                               golden=golden_out)
        out.append(_Patch.whole(part.rounds, part.samples, s[:, :, None, None, :]))
    return out


def _integer_conv_channel_rows(campaign: CampaignContext, name: str, rows: _Patch, golden_prev: torch.Tensor,
                               layer: isyn.IntegerLayer, k: torch.Tensor, integer_sums: dict[str, torch.Tensor],
                               golden_out: torch.Tensor | None = None) -> list[Any]:
    """:func:`_integer_channel_rows` for a conv layer: over the output window the changed
    channel reaches, ``S`` = the golden integer sums there plus the changed channel's
    integer kernel applied to the change of its 0/1 spikes (a per-row matrix product over
    the kernel's taps). With ``golden_out`` (the layer's golden spikes), only the neurons
    whose sum changed are fired and the rows come back sparse (:class:`_Sparse`)."""
    netmap: Any = campaign.netmap
    module: Any = netmap.modules[name]
    _, h_out, w_out = netmap.layers[name].neuron_shape
    kh, kw = k.shape[2], k.shape[3]
    sh, sw = module.stride[0], module.stride[1]
    dh, dw = module.dilation[0], module.dilation[1]
    device, dtype = rows.patch.device, rows.patch.dtype
    geometry = _crop_geometry(module, "conv", rows.box, h_out, w_out) if rows.box is not None else None
    m = rows.rounds.numel()
    if geometry is None:  # the whole map
        zero = torch.zeros(m, dtype=torch.long, device=device)
        oh0, ow0 = zero, zero.clone()
        ih0 = torch.full_like(zero, -module.padding[0])
        iw0 = torch.full_like(zero, -module.padding[1])
        size_h, size_w = h_out, w_out
    else:
        oh0, ow0, ih0, iw0, _, _ = geometry
        size_h = int(((geometry[4] - (kh - 1) * dh - 1) // sh) + 1)
        size_w = int(((geometry[5] - (kw - 1) * dw - 1) // sw) + 1)
    in_h = (size_h - 1) * sh + (kh - 1) * dh + 1
    in_w = (size_w - 1) * sw + (kw - 1) * dw + 1
    gold = _golden_integer_sums(integer_sums, name, module, k, golden_prev)
    c_out, steps = k.shape[0], golden_prev.shape[-1]
    k_in = k[..., 0].permute(1, 0, 2, 3).reshape(k.shape[1], c_out, kh * kw)  # (C_in, C_out, taps)
    scale = torch.tensor(layer.scale * layer.value, dtype=dtype, device=device)
    isyn.count_call("conv channel delta")
    sparse = golden_out is not None and _neuronwise(netmap)
    tap_h = torch.arange(kh, device=device).repeat_interleave(kw) * dh  # kernel row of tap i * kw + j
    tap_w = torch.arange(kw, device=device).repeat(kh) * dw
    out: list[Any] = []
    # sparse: the rows' windows and changes per row slice, the recomputed positions in pieces
    per_row = 4 * in_h * in_w * steps if sparse else c_out * size_h * size_w * steps + kh * kw * size_h * size_w * steps
    for sl in _slices(m, per_row):
        part = rows.select(sl)
        g_win = _window(golden_prev, part.samples, (ih0[sl], iw0[sl], in_h, in_w), part.channel)  # (M, 1, h, w, T)
        g01 = g_win.to(dtype)
        new01 = (_overlay(g01.clone(), ih0[sl], iw0[sl], part) != 0).to(dtype)
        diff = (new01 - g01)[:, 0]  # (M, in_h, in_w, T) in {-1, 0, 1}
        if sparse:
            # only the output positions a changed input reaches can change: their sums are
            # golden + (the changed channel's kernel x the change under it), all output
            # channels at once; fired alone (a neuron's spikes depend on its own input only)
            isyn.count_call("conv channel delta: changed neurons only")
            changed = (diff != 0).any(-1)  # (M, in_h, in_w)
            reached = torch.zeros(changed.shape[0], size_h, size_w, dtype=torch.bool, device=device)
            for i in range(kh):
                for j in range(kw):
                    reached |= changed[:, i * dh:i * dh + (size_h - 1) * sh + 1:sh, j * dw:j * dw + (size_w - 1) * sw + 1:sw]
            pos_r, pos_i, pos_j = torch.nonzero(reached, as_tuple=True)
            pieces = []
            for ps in _slices(max(1, pos_r.numel()), 4 * c_out * steps + kh * kw * steps):  # >= 1 piece
                r_i, i_i, j_i = pos_r[ps], pos_i[ps], pos_j[ps]
                taps_p = diff[r_i[:, None], (i_i * sh)[:, None] + tap_h[None], (j_i * sw)[:, None] + tap_w[None]]
                k_p = k_in[cast(torch.Tensor, part.channel)[r_i]]  # (P, C_out, taps)
                delta_t = torch.bmm(taps_p.transpose(1, 2), k_p.transpose(1, 2))  # (P, T, C_out), exact integers
                hh, ww = oh0[sl][r_i] + i_i, ow0[sl][r_i] + j_i
                smp = part.samples[r_i]
                s_p = _fire_rows_of_sums(netmap, integer_sums, name, gold, (smp, hh, ww), delta_t, scale,
                                         "conv channel", time_last=True, golden=golden_out)  # (P, C_out, T)
                p = r_i.numel()
                pieces.append((r_i.repeat_interleave(c_out), torch.arange(c_out, device=device).repeat(p),
                               hh.repeat_interleave(c_out), ww.repeat_interleave(c_out), s_p.reshape(p * c_out, steps),
                               cast(torch.Tensor, golden_out)[smp, :, hh, ww].reshape(p * c_out, steps)))
            out.append(_sparse_changes(part.rounds, part.samples, pieces))
            continue
        taps = torch.stack([diff[:, i * dh:i * dh + (size_h - 1) * sh + 1:sh, j * dw:j * dw + (size_w - 1) * sw + 1:sw]
                            for i in range(kh) for j in range(kw)], 1)  # (M, taps, size_h, size_w, T)
        delta = torch.bmm(k_in[part.channel], taps.reshape(taps.shape[0], kh * kw, -1))
        delta = delta.reshape(-1, c_out, size_h, size_w, steps)
        g_sum = _window(gold, part.samples, (oh0[sl], ow0[sl], size_h, size_w))
        a = (g_sum + delta) * scale
        out.append(_Patch(part.rounds, part.samples, netmap.fire(name, a), oh0[sl], ow0[sl]))
    return out


def _golden_integer_sums(integer_sums: dict[str, torch.Tensor], name: str, module: Any, k: torch.Tensor,
                         golden_in: torch.Tensor) -> torch.Tensor:
    """The batch's golden integer sums of layer ``name``, ``(B, C_out, H, W, T)``:
    ``round(conv3d(0/1 golden input, k))`` with the layer's geometry, computed on first use and
    kept in ``integer_sums`` (one entry per layer, shared by the batch's sub-chunks and by every
    shortcut that reads them)."""
    if name not in integer_sums:
        isyn.count_call("golden integer sums")
        s01 = (golden_in != 0).to(k.dtype)
        integer_sums[name] = torch.round(fn.conv3d(s01, k, module.stride, module.padding, module.dilation))
    return integer_sums[name]


#: ``SPIKEFI_TIME_MAJOR_ROWS=0`` builds rows from the golden integer sums with time last again
#: (:func:`_time_major_rows`): the tables are the same either way; the switch is for on/off measurements.
TIME_MAJOR_ROWS_ENV = "SPIKEFI_TIME_MAJOR_ROWS"


def _time_major_rows(netmap: Any, gold: torch.Tensor) -> bool:
    """Whether rows built from golden integer sums ``gold`` are laid out time-major, ``(rows,
    T, C_out)`` in memory: where the layer's spikes come from the fused psp + spike kernel
    (``slayer._fuses``: the fused path, the layer's own neuron dynamics, kernels short enough),
    which then reads and writes one step of many neurons in one coalesced access (with time
    last, each neuron's steps are contiguous and a warp's access touches as many cache lines as
    it has threads). The values are the same either way (integer sums, exact in any order) and
    so are the kernel's spikes; the reference path's psp is a matrix product whose summation may
    follow the layout, so it keeps time last."""
    if os.environ.get(TIME_MAJOR_ROWS_ENV, "1") == "0":
        return False
    fuses = getattr(getattr(netmap, "slayer", None), "_fuses", None)
    return fuses is not None and bool(fuses(gold))


def _time_major_sums(integer_sums: dict[str, torch.Tensor], name: str, gold: torch.Tensor) -> torch.Tensor:
    """``gold`` (the golden integer sums of layer ``name``, ``(B, C_out, ..., T)``) with the
    channels last, ``(B, ..., T, C_out)`` contiguous: rows gathered from it come out time-major.
    Kept in ``integer_sums`` beside the sums (one copy per batch)."""
    key = f"{name}\ttime-major"
    if key not in integer_sums:
        integer_sums[key] = torch.movedim(gold, 1, -1).contiguous()
    return integer_sums[key]


def _rows_of_sums(netmap: Any, integer_sums: dict[str, torch.Tensor], name: str, gold: torch.Tensor,
                  index: tuple[torch.Tensor, ...], delta_t: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Synaptic outputs ``(rows, C_out, T)`` of rows of an integer-exact layer: its golden integer
    sums ``gold`` (``(B, C_out, [H, W,] T)``) at ``index`` (sample, and the position where there
    is one) plus each row's integer change ``delta_t`` (``(rows, T, C_out)``), times ``scale``.
    Time-major in memory where :func:`_time_major_rows` says so, time last otherwise (the same
    values: sums of integers, exact in any order)."""
    if _time_major_rows(netmap, gold):
        return ((_time_major_sums(integer_sums, name, gold)[index] + delta_t) * scale).transpose(1, 2)
    at: tuple[Any, ...] = (index[0], slice(None), *index[1:])  # every channel
    return (gold[at] + delta_t.transpose(1, 2)) * scale


def _switch(env: str, on: str, off: str) -> bool | None:
    """An on/off switch in the environment: ``True`` for ``1``, ``False`` for ``0``, ``None``
    when unset or empty; any other value is refused with a :class:`~spikefi.errors.ConfigError`
    naming what ``1`` (``on``) and ``0`` (``off``) do."""
    flag = os.environ.get(env, "").strip()
    if flag not in ("", "0", "1"):
        raise ConfigError(f"{env} must be 1 ({on}), 0 ({off}) or unset, got {flag!r}")
    return None if flag == "" else flag == "1"


#: ``SPIKEFI_FUSED_SUMS=0`` writes the synaptic inputs of integer rows (golden sums plus the
#: change, times the scale) first and fires those; ``1`` or unset fires them straight from their
#: golden sums and change where :func:`_sums_fuse` holds (the fused path: CUDA). The tables are
#: the same either way; on an H100 (2026-12-07, with the golden prefix) the realistic workload
#: ran at 355,247 against 352,700 f·s/s, its 4,096-round subset at 369,016 against 358,788.
FUSED_SUMS_ENV = "SPIKEFI_FUSED_SUMS"


def _fused_sums_on() -> bool:
    """Whether :data:`FUSED_SUMS_ENV` allows fused sums (``1`` or unset; ``0``: no; anything
    else is refused with a :class:`~spikefi.errors.ConfigError`)."""
    return _switch(FUSED_SUMS_ENV, "fire integer rows from their golden sums, also when unset",
                   "write their inputs first") is not False


#: ``SPIKEFI_SUMS_PREFIX=0`` computes fused-sum rows over every bin; ``1`` or unset copies each
#: neuron's golden spikes before its first changed bin where the caller has them
#: (:func:`_golden_at`). The tables are the same either way; the switch is for measurements.
SUMS_PREFIX_ENV = "SPIKEFI_SUMS_PREFIX"


def _golden_at(golden: torch.Tensor | None, index: tuple[torch.Tensor, ...], channel: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]] | None:
    """``fused_fire_sums``'s ``golden`` for rows at ``index`` (sample, and the position where
    there is one) of a layer's golden spikes ``golden`` (``(B, C, [H, W,] T)`` bool), their
    features the channels (or, with ``channel``, each row that one channel alone), or
    ``None`` (no golden spikes, or :data:`SUMS_PREFIX_ENV` is ``0``; another value is refused
    with a :class:`~spikefi.errors.ConfigError`)."""
    off = _switch(SUMS_PREFIX_ENV, "copy golden spikes before a row's first change, also when unset",
                  "compute every bin") is False
    if golden is None or off:
        return None
    st = golden.stride()
    base = index[0] * st[0] + sum((i * st[d + 2] for d, i in enumerate(index[1:])), torch.zeros_like(index[0]))
    if channel is not None:
        return golden, base + channel * st[1], (0, st[-1])
    return golden, base, (st[1], st[-1])


def _sums_fuse(netmap: Any, probe: torch.Tensor, *others: torch.Tensor) -> bool:
    """Whether rows of an integer-exact layer fire straight from their golden sums and
    change (:func:`spikefi.snn.cuda.spike_kernel.fused_fire_sums`: the input is computed where
    the psp reads it, never written): allowed (:func:`_fused_sums_on`), a SLAYER network
    map (its ``fire`` is the spiking layer's), one threshold for all neurons, a layer whose
    ``fire`` would run fused for ``probe`` (the golden sums, time last), and ``others`` (the
    change, the scale) of its dtype and device."""
    if not _fused_sums_on() or not netmap.croppable:
        return False
    if any(t.dtype != probe.dtype or t.device != probe.device for t in others):
        return False
    theta = netmap.neuron().get("theta")
    if isinstance(theta, torch.Tensor) and theta.dim() > 0:
        return False
    from ....snn.layer import layer as spiking_layer

    slayer = getattr(netmap, "slayer", None)
    if not isinstance(slayer, spiking_layer) or type(slayer).fire is not spiking_layer.fire or "fire" in vars(slayer):
        return False  # a fire of its own (a wrapper) would not be the kernel's
    return bool(slayer._fuses(probe))


def _fire_sums(netmap: Any, site: str, gold: torch.Tensor, gold_base: torch.Tensor, gold_strides: tuple[int, int],
               change: torch.Tensor, change_base: torch.Tensor, change_strides: tuple[int, int],
               scale: torch.Tensor, out: torch.Tensor, mult: torch.Tensor | None = None,
               golden_at: tuple[torch.Tensor, torch.Tensor, tuple[int, int]] | None = None) -> torch.Tensor:
    """:func:`~spikefi.snn.cuda.spike_kernel.fused_fire_sums` with the network's spiking layer
    (where :func:`_sums_fuse` holds), counted as ``fused sums: {site}`` (and ``fused sums:
    {site}: golden prefix`` with ``golden_at``, the rows' golden spikes: :func:`_golden_at`)."""
    from ....snn.cuda.spike_kernel import fused_fire_sums

    slayer = netmap.slayer
    isyn.count_call(f"fused sums: {site}")
    if golden_at is not None:
        isyn.count_call(f"fused sums: {site}: golden prefix")
    return fused_fire_sums(gold, gold_base, gold_strides, change, change_base, change_strides, scale,
                           slayer.srmKernel, slayer.refKernel, float(slayer.neuron["theta"]), slayer.Ts, out, mult,
                           golden_at)


def _fire_rows_of_sums(netmap: Any, integer_sums: dict[str, torch.Tensor], name: str, gold: torch.Tensor,
                       index: tuple[torch.Tensor, ...], delta_t: torch.Tensor, scale: torch.Tensor, site: str,
                       time_last: bool = False, golden: torch.Tensor | None = None) -> torch.Tensor:
    """Spikes ``(rows, C_out, T)`` of :func:`_rows_of_sums`'s rows: fired straight from the
    golden sums and ``delta_t`` where :func:`_sums_fuse` holds and the rows are time-major
    (the same spikes), else their synaptic outputs written and fired. ``time_last`` asks the
    fused spikes with time last in memory (for a caller that reshapes them per neuron);
    otherwise they lie as the written outputs would. ``golden``: the layer's golden spikes
    (``(B, C_out, [H, W,] T)`` bool), whose bins before a row's first change are copied
    (:func:`_golden_at`)."""
    m, steps, c_out = delta_t.shape
    if m and _time_major_rows(netmap, gold) and _sums_fuse(netmap, gold, delta_t, scale):
        tm = _time_major_sums(integer_sums, name, gold)  # (B, [H, W,] T, C_out), contiguous
        base = sum(i * tm.stride(d) for d, i in enumerate(index))
        delta_t = delta_t.contiguous()
        out = (torch.empty(m, c_out, steps, dtype=tm.dtype, device=tm.device) if time_last
               else torch.empty(m, steps, c_out, dtype=tm.dtype, device=tm.device).transpose(1, 2))
        rows = torch.arange(m, device=tm.device) * delta_t.stride(0)
        return _fire_sums(netmap, site, tm, cast(torch.Tensor, base), (tm.stride(-1), tm.stride(-2)), delta_t, rows,
                          (delta_t.stride(2), delta_t.stride(1)), scale, out, golden_at=_golden_at(golden, index))
    a = _rows_of_sums(netmap, integer_sums, name, gold, index, delta_t, scale)
    return _fire_some(netmap, name, a[:, :, None, None, :])[:, :, 0, 0]


def _fire_some(netmap: Any, name: str, a: torch.Tensor) -> torch.Tensor:
    """``netmap.fire`` of some of a layer's neurons ``a`` (N, ..., T); none when N is 0."""
    return netmap.fire(name, a) if a.shape[0] else torch.zeros_like(a)


#: ``SPIKEFI_SPARSE_ROWS=0`` turns the sparse-row shortcuts off (rows stay whole, as before
#: them): the tables are the same either way; the switch is there to measure them on and off in
#: consecutive runs on one machine.
SPARSE_ROWS_ENV = "SPIKEFI_SPARSE_ROWS"


def _neuronwise(netmap: Any) -> bool:
    """Whether the layer's neurons may be fired one by one: one threshold for all (a
    per-neuron ``theta`` would need the neurons' positions), and sparse rows not switched off
    (:data:`SPARSE_ROWS_ENV`)."""
    if os.environ.get(SPARSE_ROWS_ENV, "1").strip() == "0":
        return False
    theta = netmap.neuron().get("theta")
    return not (isinstance(theta, torch.Tensor) and theta.dim() > 0)


#: ``SPIKEFI_SPARSE_ENTRY``: ``1`` makes single-synapse rounds leave their integer-exact layer as
#: sparse rows where the layers after it take them (:func:`_sparse_consumer`), ``0`` as channel
#: patches; unset, sparse rows on the CPU and channel patches on CUDA (:func:`_sparse_entry_on`).
#: The tables are the same either way.
SPARSE_ENTRY_ENV = "SPIKEFI_SPARSE_ENTRY"


def _sparse_entry_on(device: torch.device) -> bool:
    """Whether sparse entry rows are taken (``SPIKEFI_SPARSE_ENTRY``, else by device). Measured
    on the realistic workload (every SC3 synapse sign-bit flip + every SC2 synapse dead): on
    the CPU the SC3 rounds' evaluation took 0.74x the time with them; on an H100 the whole
    workload ran at 0.95x the rate (369,648 against 388,229 f·s/s, consecutive runs,
    2026-12-07): the pooling and the conv entry got faster there, but the integer dense layer's
    sparse product of the rows' changes (SF4a) took twice the time of the channel patches'
    batched product. Such rows now enter the dense layer as channel patches
    (:func:`_sparse_into_dense`, not yet measured on a GPU): the CUDA default waits for that
    measurement (``benchmarks/gpu_ab.sh``)."""
    flag = _switch(SPARSE_ENTRY_ENV, "sparse entry rows", "channel patches; unset: by device")
    return device.type == "cpu" if flag is None else flag


def _pools_each_neuron_once(module: Any) -> bool:
    """Whether a pooling layer reads each input neuron in at most one window (stride =
    kernel, no padding or dilation): :func:`_sparse_pool`'s condition on the layer."""
    kh, kw = int(module.weight.shape[2]), int(module.weight.shape[3])
    return (tuple(module.stride[:2]) == (kh, kw) and not any(module.padding)
            and all(d == 1 for d in module.dilation))


def _dense_over_map(netmap: Any, name: str, in_shape: tuple[int, ...]) -> bool:
    """Whether layer ``name`` is an integer-exact dense layer over a whole input map of shape
    ``in_shape`` ``(C, H, W)``: :func:`_sparse_dense`'s condition on the layer (its weights'
    integer check aside, made on the weights in use)."""
    module: Any = netmap.modules[name]
    if (getattr(netmap, "integer", {}).get(name) is None or netmap.layers[name].kind != "dense"
            or getattr(module, "groups", 1) != 1 or any(module.padding)):
        return False
    return tuple(int(v) for v in module.weight.shape[1:4]) == tuple(in_shape)


def _sparse_consumer(netmap: Any, layer: int) -> bool:
    """Whether the layer at position ``layer`` of the chain takes sparse rows (:class:`_Sparse`)
    as such, and so do the layers it hands them to: a sum-pooling layer that pools each
    input neuron at most once (:func:`_pools_each_neuron_once`: it recomputes only the pooled
    neurons a changed neuron feeds, :func:`_sparse_pool`) followed by such a layer, or an
    integer-exact dense layer over its whole input map (:func:`_dense_over_map`: it adds the
    changed neurons' integer contributions to the golden sums, :func:`_sparse_dense`).
    Anything else would make the rows whole."""
    order = netmap.order
    if not 0 < layer < len(order):
        return False
    name = order[layer]
    module: Any = netmap.modules[name]
    weight = getattr(module, "weight", None)
    if weight is None or weight.dim() != 5 or getattr(module, "groups", 1) != 1:
        return False
    if netmap.layers[name].kind == "pool":
        return _pools_each_neuron_once(module) and _sparse_consumer(netmap, layer + 1)
    return _dense_over_map(netmap, name, tuple(netmap.layers[order[layer - 1]].neuron_shape))


def _sparse_changes(rounds: torch.Tensor, samples: torch.Tensor,
                    pieces: Sequence[tuple[torch.Tensor, ...]]) -> _Sparse:
    """Sparse rows from recomputed neurons: each piece holds ``(row, c, h, w, trains, golden)``
    of some of them (their new and golden spike trains, (E, T)). Only the neurons whose
    trains differ from golden are kept (in the pieces' order: by row where the pieces are);
    the comparison with golden (spike-count delta and whether each row differs) is known
    from them."""
    m = rounds.numel()
    device = rounds.device
    delta = torch.zeros(m, dtype=torch.long, device=device)
    kept: list[list[torch.Tensor]] = [[], [], [], [], []]
    for row, c, h, w, trains, g in pieces:
        fired = trains != 0
        delta.index_add_(0, row, _count(fired) - _count(g))
        idx = torch.nonzero((fired != g).any(-1)).flatten()
        for dst, src in zip(kept, (row, c, h, w, trains), strict=True):
            dst.append(src[idx])
    row_k, c_k, h_k, w_k, trains_k = (torch.cat(v) if len(v) != 1 else v[0] for v in kept)
    differs = torch.zeros(m, dtype=torch.bool, device=device)
    differs[row_k] = True
    return _Sparse(rounds, samples, row_k, c_k, h_k, w_k, trains_k, known=(None, delta, differs))


def _sparse_parts(rows: _Sparse, per_entry: int, per_row: int) -> list[_Sparse]:
    """``rows`` in parts of consecutive rows whose temporaries (``per_entry`` elements per
    changed neuron plus ``per_row`` per row) stay within a slice's budget; a part never
    splits a row. Every producer of sparse rows keeps their entries ordered by row; others
    are ordered here first."""
    m = rows.rounds.numel()
    counts = torch.bincount(rows.row, minlength=m).cpu().numpy()
    cost = np.cumsum(counts.astype(np.int64) * per_entry + per_row)
    if m == 0 or cost[-1] <= _SLICE_ELEMS:
        return [rows]
    if not bool((rows.row[1:] >= rows.row[:-1]).all()):  # order the entries by row (stable)
        order = torch.sort(rows.row, stable=True).indices
        rows = _Sparse(rows.rounds, rows.samples, rows.row[order], rows.c[order], rows.h[order], rows.w[order],
                       rows.trains[order])
    parts, start, base = [], 0, 0
    first_entry = np.concatenate([[0], np.cumsum(counts)])
    while start < m:
        end = max(start + 1, int(np.searchsorted(cost, base + _SLICE_ELEMS, side="right")))
        e0, e1 = int(first_entry[start]), int(first_entry[end])
        parts.append(_Sparse(rows.rounds[start:end], rows.samples[start:end], rows.row[e0:e1] - start,
                             rows.c[e0:e1], rows.h[e0:e1], rows.w[e0:e1], rows.trains[e0:e1]))
        base = int(cost[end - 1])
        start = end
    return parts


def _sparse_rows(campaign: CampaignContext, name: str, rows: _Sparse, golden_prev: torch.Tensor,
                 golden_out: torch.Tensor | None, value: float, crop: bool,
                 integer_sums: dict[str, torch.Tensor] | None) -> list[Any]:
    """Layer output (golden weights) of sparse rows: a sum-pooling layer recomputes only the
    pooled neurons a changed neuron feeds (:func:`_sparse_pool`); an integer-exact dense
    layer adds the changed neurons' integer contributions to the golden integer sums
    (:func:`_sparse_dense`); elsewhere the rows are made whole and computed as before."""
    steps = golden_prev.shape[-1]
    if golden_prev.dtype == torch.bool and golden_out is not None and campaign.netmap.layers[name].kind == "pool":
        pooled = [_sparse_pool(campaign, name, part, golden_prev, golden_out, value)
                  for part in _sparse_parts(rows, 8 * steps, 0)]
        if all(p is not None for p in pooled):
            return pooled
    if (integer_sums is not None and golden_prev.dtype == torch.bool
            and _dense_over_map(campaign.netmap, name, tuple(golden_prev.shape[1:4]))):
        c_out = int(campaign.netmap.layers[name].neuron_shape[0])
        taps = int(golden_prev.shape[2] * golden_prev.shape[3])  # a channel patch of the whole map, per row
        parts = _sparse_parts(rows, 4 * steps, (4 * c_out + 2 * taps) * steps)
        dense = [_sparse_into_dense(campaign, name, part, golden_prev, value, integer_sums, golden_out)
                 for part in parts]
        if all(d is not None for d in dense):
            return [p for d in dense for p in cast(list, d)]
    whole = _Patch.whole(rows.rounds, rows.samples, rows.full(golden_prev, campaign.dtype, value))
    return _plain_rows(campaign, name, whole, golden_prev, value, crop, integer_sums, golden_out)


def _sparse_into_dense(campaign: CampaignContext, name: str, rows: _Sparse, golden_prev: torch.Tensor, value: float,
                       integer_sums: dict[str, torch.Tensor], golden_out: torch.Tensor | None = None
                       ) -> list[_Patch] | None:
    """An integer-exact dense layer for sparse rows. Rows whose changed neurons all lie in one
    input channel (a conv layer's single-synapse round keeps its change to one output channel,
    a pooling layer to that channel) go as channel patches of the whole map through the
    batched channel delta (:func:`_integer_channel_rows`); the others through the sparse
    product (:func:`_sparse_dense`). The same sums either way (exact integers); on an H100 the
    sparse product of such rows took twice the channel delta's time (2026-12-07: SF4a 0.41
    against 0.20 s for 2,048 realistic rounds). The caller checks the layer
    (:func:`_dense_over_map`); ``None`` where the weights in use are not integer codes.
    ``golden_out``: the layer's golden spikes, for fused sums (:func:`_fire_rows_of_sums`)."""
    m = rows.rounds.numel()
    device = rows.row.device
    c = rows.c.long()
    ch = torch.full((m,), -1, dtype=torch.long, device=device).scatter_reduce_(0, rows.row, c, "amax")
    low = torch.full((m,), 1 << 30, dtype=torch.long, device=device).scatter_reduce_(0, rows.row, c, "amin")
    one = (ch == low) | (ch < 0)  # rows without changed neurons count as one channel (their own golden)
    n_one = int(one.sum())
    out: list[_Patch] = []
    if n_one:
        single = rows if n_one == m else rows.select(one)
        channel = ch[one].clamp(min=0)
        patch = _channel_patch(golden_prev, single.samples, channel, (single.row, single.h, single.w), single.trains,
                               campaign.dtype, value)
        zero = torch.zeros(n_one, dtype=torch.long, device=device)
        as_patch = _Patch(single.rounds, single.samples, patch, zero, zero.clone(), channel=channel)
        from_patches = _integer_channel_rows(campaign, name, as_patch, golden_prev, value, integer_sums, golden_out)
        if from_patches is None:  # the channel delta does not apply: every row through the sparse product
            return _sparse_dense(campaign, name, rows, golden_prev, integer_sums, golden_out)
        out.extend(from_patches)
    if n_one < m:
        from_sparse = _sparse_dense(campaign, name, rows.select(~one), golden_prev, integer_sums, golden_out)
        if from_sparse is None:
            return None
        out.extend(from_sparse)
    return out


def _sparse_pool(campaign: CampaignContext, name: str, rows: _Sparse, golden_prev: torch.Tensor,
                 golden_out: torch.Tensor, value: float) -> _Sparse | None:
    """A sum-pooling layer (stride = kernel, no padding or dilation) for sparse rows: each
    pooled neuron a changed input neuron feeds is recomputed from its own input window
    (golden spikes with the changed trains written in) by the layer itself, as a cropped
    window is; the others keep their golden spikes. ``None`` where that does not apply."""
    netmap: Any = campaign.netmap
    module: Any = netmap.modules[name]
    kh, kw = int(module.weight.shape[2]), int(module.weight.shape[3])
    if not _pools_each_neuron_once(module) or not _neuronwise(netmap):
        return None
    _, c_in, h_in, w_in, steps = golden_prev.shape
    _, h_out, w_out = netmap.layers[name].neuron_shape
    device = rows.row.device
    ho, wo = torch.div(rows.h, kh, rounding_mode="floor"), torch.div(rows.w, kw, rounding_mode="floor")
    if h_out * kh < h_in or w_out * kw < w_in:
        # the layer's windows leave the map's last rows or columns out: neurons there feed no
        # pooled neuron (their changes go no further)
        fed = torch.nonzero((ho < h_out) & (wo < w_out)).flatten()
        rows = _Sparse(rows.rounds, rows.samples, rows.row[fed], rows.c[fed], rows.h[fed], rows.w[fed],
                       rows.trains[fed])
        ho, wo = ho[fed], wo[fed]
    key = ((rows.row * c_in + rows.c) * h_out + ho) * w_out + wo
    uniq, inv = torch.unique(key, return_inverse=True)
    wo_u = uniq % w_out
    rest = torch.div(uniq, w_out, rounding_mode="floor")
    ho_u = rest % h_out
    rest = torch.div(rest, h_out, rounding_mode="floor")
    c_u = rest % c_in
    row_u = torch.div(rest, c_in, rounding_mode="floor")
    hi = ho_u[:, None] * kh + torch.arange(kh, device=device)[None]  # (P, kh) input rows
    wi = wo_u[:, None] * kw + torch.arange(kw, device=device)[None]
    valid = (hi < h_in)[:, :, None] & (wi < w_in)[:, None, :]  # the layer pads odd sizes with zeros
    win = golden_prev[rows.samples[row_u][:, None, None], c_u[:, None, None], hi.clamp(max=h_in - 1)[:, :, None],
                      wi.clamp(max=w_in - 1)[:, None, :]]  # (P, kh, kw, T) bool
    win = (win & valid[..., None]).to(campaign.dtype) * value
    win[inv, rows.h - ho * kh, rows.w - wo * kw] = rows.trains.to(win.dtype)
    isyn.count_call("pool: changed neurons only")
    s = _fire_some(netmap, name, module(win[:, None]) if win.shape[0] else win[:, None, :1, :1])[:, 0, 0, 0]
    g = golden_out[rows.samples[row_u], c_u, ho_u, wo_u]
    return _sparse_changes(rows.rounds, rows.samples, [(row_u, c_u, ho_u, wo_u, s, g)])


def _sparse_dense(campaign: CampaignContext, name: str, rows: _Sparse, golden_prev: torch.Tensor,
                  integer_sums: dict[str, torch.Tensor], golden_out: torch.Tensor | None = None) -> list[_Patch] | None:
    """An integer-exact dense layer for sparse rows: ``S`` = the golden integer sums plus,
    per changed input neuron, its integer weights times the change of its 0/1 spikes
    (integers below ``2**24``: exact in any order, so equal to the full recomputation).
    ``None`` where that does not apply. ``golden_out``: the layer's golden spikes, for fused
    sums (:func:`_fire_rows_of_sums`)."""
    netmap: Any = campaign.netmap
    layer = getattr(netmap, "integer", {}).get(name)
    module: Any = netmap.modules[name]
    if layer is None or not _dense_over_map(netmap, name, tuple(golden_prev.shape[1:4])):
        return None
    k, ok = layer.golden(netmap.effective_weight(name))
    c_out, c_in, kh, kw = (int(v) for v in k.shape[:4])
    if not bool(ok.all()):
        return None
    dtype, device = campaign.dtype, rows.row.device
    gold_sum = _golden_integer_sums(integer_sums, name, module, k, golden_prev)[:, :, 0, 0]  # (B, C_out, T)
    steps = golden_prev.shape[-1]
    m = rows.rounds.numel()
    k_cols = k[..., 0].reshape(c_out, -1).t()  # (C_in*kh*kw, C_out)
    isyn.count_call("dense: changed neurons only")
    g01 = golden_prev[rows.samples[rows.row], rows.c, rows.h, rows.w].to(dtype)
    diff = (rows.trains != 0).to(dtype) - g01  # (E, T) in {-1, 0, 1}
    # the change as a sparse (M*T, C_in*kh*kw) matrix of its non-zero time bins, times the
    # integer weights: (M*T, C_out) integer sums, exact in any order
    e_i, t_i = torch.nonzero(diff, as_tuple=True)
    index = torch.stack([rows.row[e_i] * steps + t_i, (rows.c[e_i] * kh + rows.h[e_i]) * kw + rows.w[e_i]])
    change = torch.sparse_coo_tensor(index, diff[e_i, t_i], (m * steps, k_cols.shape[0]), check_invariants=False)
    delta_t = torch.sparse.mm(change, k_cols).reshape(m, steps, c_out)  # (M, T, C_out)
    scale = torch.tensor(layer.scale * layer.value, dtype=dtype, device=device)
    s = _fire_rows_of_sums(netmap, integer_sums, name, gold_sum, (rows.samples,), delta_t, scale, "sparse dense",
                           golden=golden_out)
    return [_Patch.whole(rows.rounds, rows.samples, s[:, :, None, None, :])]


def _uniform_neuron_groups(prepared: Sequence[PreparedRound], entering: list[int],
                           name: str) -> tuple[list[list[int]], set[int]]:
    """Entering rounds that can be processed together: one permanent, deterministic
    neuron-output fault at one neuron in this layer, the same model. Returns the groups
    and the set of rounds left for the per-round path."""
    groups: dict[str, list[int]] = {}
    single: set[int] = set()
    for r in entering:
        lf = prepared[r].layers[name]
        ok = (not lf.synapse and not lf.parametric and len(lf.neuron) == 1
              and isinstance(lf.neuron[0].fault.model, NeuronFaultModel)
              and not lf.neuron[0].fault.model.stochastic
              and isinstance(lf.neuron[0].fault.timing, Permanent)
              and len(lf.neuron[0].fault.positions) == 1)
        if ok:
            groups.setdefault(repr(lf.neuron[0].fault.model), []).append(r)
        else:
            single.add(r)
    return [g for g in groups.values() if len(g) > 1], single | {g[0] for g in groups.values() if len(g) == 1}


def _entry_group(campaign: CampaignContext, prepared: Sequence[PreparedRound], rounds: list[int], name: str,
                 golden: GoldenBatch, value: float) -> _Patch:
    """Rows of many single-neuron rounds (same model) at their faulty layer, at once."""
    g_spikes = golden.spikes[name]  # (B, C, H, W, T) bool
    device = g_spikes.device
    pos = torch.tensor([prepared[r].layers[name].neuron[0].fault.positions[0] for r in rounds], device=device)
    model = cast(NeuronFaultModel, prepared[rounds[0]].layers[name].neuron[0].fault.model)
    trains = g_spikes[:, pos[:, 0], pos[:, 1], pos[:, 2]].to(campaign.dtype) * value  # (B, R, T)
    new = model.apply(trains, value)
    changed = ((new != 0) != (trains != 0)).any(-1)  # (B, R): the firing pattern changed
    b_idx, r_idx = torch.nonzero(changed, as_tuple=True)
    patch = g_spikes[b_idx, :, pos[r_idx, 1], pos[r_idx, 2]].to(campaign.dtype) * value  # (M, C, T)
    patch[torch.arange(b_idx.numel(), device=device), pos[r_idx, 0]] = new[b_idx, r_idx]
    round_ids = torch.tensor(rounds, device=device)[r_idx]
    # only the faulty neuron's train differs: the comparison with golden is known
    m = b_idx.numel()
    delta = ((new != 0).sum(-1) - (trains != 0).sum(-1))[b_idx, r_idx]
    known = (torch.ones(m, 1, 1, dtype=torch.bool, device=device), delta, torch.ones(m, dtype=torch.bool, device=device))
    return _Patch(round_ids, b_idx, patch[:, :, None, None, :], pos[r_idx, 1], pos[r_idx, 2], known=known)


def _uniform_synapse_groups(prepared: Sequence[PreparedRound], entering: list[int], name: str) -> list[list[int]]:
    """Entering rounds whose only fault here is one permanent synapse fault at one synapse."""
    group = []
    for r in entering:
        lf = prepared[r].layers[name]
        if (not lf.parametric and not lf.neuron and len(lf.synapse) == 1
                and isinstance(lf.synapse[0].fault.timing, Permanent) and len(lf.synapse[0].fault.positions) == 1):
            group.append(r)
    return [group] if len(group) > 1 else []


def _entry_synapse_group(campaign: CampaignContext, prepared: Sequence[PreparedRound], rounds: list[int], layer: int,
                         golden: GoldenBatch, golden_input: Any, value: float,
                         integer_sums: dict[str, torch.Tensor] | None = None) -> _Patch | _Sparse:
    """Rows of many single-synapse rounds at their faulty layer: one output channel per
    round, all computed by one convolution whose channel ``r`` holds round ``r``'s faulty
    weights for its affected output channel (or, in an integer-exact layer, as the golden
    integer sums plus the changed weight times one shifted input map: :func:`_integer_entry`).
    The rows that differ travel as that channel alone (a channel patch), or as their
    differing neurons alone where the next layers take sparse rows."""
    netmap = campaign.netmap
    name = netmap.order[layer]
    weight = netmap.effective_weight(name).detach()
    device = weight.device
    syn = [prepared[r].layers[name].synapse[0] for r in rounds]
    out_ch = torch.tensor([int(q.idx[0][0]) for q in syn], device=device)
    stack = weight[out_ch].clone()  # (R, Cin, kh, kw, 1)
    ar = torch.arange(len(rounds), device=device)
    stack[ar, torch.stack([q.idx[1][0] for q in syn]), torch.stack([q.idx[2][0] for q in syn]),
          torch.stack([q.idx[3][0] for q in syn]), 0] = torch.stack([q.values[0] for q in syn])
    xin = golden_input(layer)
    round_ids = torch.tensor(rounds, device=device)
    a = None if integer_sums is None else _integer_entry(campaign, name, xin, stack, out_ch, syn, integer_sums,
                                                         (golden.spikes[name], round_ids))
    if isinstance(a, (_Patch, _Sparse)):
        return a
    if a is None:
        a = cast(Any, netmap).synaptic_conv(name, xin, stack)  # croppable: a SLAYER NetworkMap
    s = netmap.fire(name, a)  # (B, R, H, W, T) (SLAYER only: needs croppable)
    g_spikes = golden.spikes[name]
    g = g_spikes[:, out_ch]
    changed = ((s != 0) != g).flatten(2).any(-1)  # (B, R)
    b_idx, r_idx = torch.nonzero(changed, as_tuple=True)
    zero = torch.zeros(b_idx.numel(), dtype=torch.long, device=device)
    return _Patch(round_ids[r_idx], b_idx, s[b_idx, r_idx].unsqueeze(1), zero, zero.clone(), channel=out_ch[r_idx])


def _integer_entry(campaign: CampaignContext, name: str, xin: torch.Tensor, stack: torch.Tensor,
                   out_ch: torch.Tensor, syn: Sequence[Any], integer_sums: dict[str, torch.Tensor],
                   rows_of: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor | _Patch | _Sparse | None:
    """The synaptic outputs ``(B, R, H, W, T)`` of :func:`_entry_synapse_group`'s stacked
    channels in an integer-exact layer, without a convolution: round ``r``'s integer sum is
    the golden one of its output channel plus (faulty code - golden code) times its
    synapse's input map, shifted to the synapse's kernel offset (integers below ``2**24``:
    exact, hence equal to the full recomputation). ``None`` where that does not apply
    (the campaign is not integer-quantized, a faulty weight or an input is not integer).

    With ``rows_of`` (the layer's golden spikes and the rounds' ids) and neurons that fire
    one by one, only the neurons whose sum changes (the shifted input spiked there at
    least once) are fired, and the rows that differ come back as channel patches (sparse
    rows where the next layers take them, :func:`_sparse_consumer`) with their comparison
    known (:func:`_entry_changed_rows`)."""
    netmap: Any = campaign.netmap
    layer = getattr(netmap, "integer", {}).get(name)
    module: Any = netmap.modules[name]
    if layer is None or getattr(module, "groups", 1) != 1:
        return None
    k, ok = layer.golden(netmap.effective_weight(name))
    k_stack, ok_stack = isyn.integer_weights(stack, layer.scale)  # the naive engine's per-channel decision
    in_ok = isyn.spike_rows(xin, value=layer.value)
    if not bool(torch.stack([ok.all(), ok_stack.all(), in_ok.all()]).all()):
        return None
    dtype = xin.dtype
    s01 = (xin != 0).to(dtype)
    gold = _golden_integer_sums(integer_sums, name, module, k, s01)
    ci = torch.stack([q.idx[1][0] for q in syn])
    ki = torch.stack([q.idx[2][0] for q in syn])
    kj = torch.stack([q.idx[3][0] for q in syn])
    r = torch.arange(len(syn), device=stack.device)
    dk = k_stack[r, ci, ki, kj, 0] - k[out_ch, ci, ki, kj, 0]  # (R,) integers
    _, _, h_out, w_out, _ = gold.shape
    sh, sw = module.stride[0], module.stride[1]
    ph, pw = module.padding[0], module.padding[1]
    dh, dw = module.dilation[0], module.dilation[1]
    hh = ki[:, None] * dh - ph + torch.arange(h_out, device=stack.device)[None] * sh  # (R, H') input rows
    ww = kj[:, None] * dw - pw + torch.arange(w_out, device=stack.device)[None] * sw
    valid = ((hh >= 0) & (hh < s01.shape[2]))[:, :, None] & ((ww >= 0) & (ww < s01.shape[3]))[:, None, :]
    isyn.count_call("entry synapse delta")
    scale = torch.tensor(layer.scale * layer.value, dtype=dtype, device=stack.device)
    hc = hh.clamp(0, s01.shape[2] - 1)[:, :, None]
    wc = ww.clamp(0, s01.shape[3] - 1)[:, None, :]
    if rows_of is not None and _neuronwise(netmap):
        # neurons whose input map never spiked (or a change of 0) keep the golden sum: golden spikes
        isyn.count_call("entry synapse delta: changed neurons only")
        sparse = _sparse_entry_on(stack.device) and _sparse_consumer(netmap, netmap.order.index(name) + 1)
        fed = s01.any(-1)[:, ci[:, None, None], hc, wc] & (valid & (dk != 0)[:, None, None])[None]  # (B, R, H', W')
        b_e, r_e, i_e, j_e = torch.nonzero(fed, as_tuple=True)
        if b_e.numel() and _sums_fuse(netmap, gold, s01, scale):  # inputs computed where they are fired
            g_st, s_st = gold.stride(), s01.stride()
            s_e = _fire_sums(netmap, "entry", gold, b_e * g_st[0] + out_ch[r_e] * g_st[1] + i_e * g_st[2] + j_e * g_st[3],
                             (0, g_st[4]), s01,
                             b_e * s_st[0] + ci[r_e] * s_st[1] + hc[r_e, i_e, 0] * s_st[2] + wc[r_e, 0, j_e] * s_st[3],
                             (0, s_st[4]), scale,
                             torch.empty(b_e.numel(), 1, gold.shape[-1], dtype=dtype, device=gold.device),
                             dk[r_e].to(dtype), _golden_at(rows_of[0], (b_e, i_e, j_e), out_ch[r_e]))[:, 0]
        else:
            shifted_e = s01[b_e, ci[r_e], hc[r_e, i_e, 0], wc[r_e, 0, j_e]] * dk[r_e][:, None]  # (E, T)
            a_e = (gold[b_e, out_ch[r_e], i_e, j_e] + shifted_e) * scale
            s_e = _fire_some(netmap, name, a_e[:, None, None, None, :])[:, 0, 0, 0]
        return _entry_changed_rows(rows_of, out_ch, len(syn), b_e, r_e, i_e, j_e, s_e, layer.value, sparse)
    shifted = s01[:, ci[:, None, None], hc, wc, :]  # (B, R, H', W', T)
    shifted = shifted * (valid.to(dtype) * dk[:, None, None])[None, :, :, :, None]
    return (gold[:, out_ch] + shifted) * scale


def _entry_changed_rows(rows_of: tuple[torch.Tensor, torch.Tensor], out_ch: torch.Tensor, n_rounds: int,
                        b_e: torch.Tensor, r_e: torch.Tensor, i_e: torch.Tensor, j_e: torch.Tensor,
                        s_e: torch.Tensor, value: float, sparse: bool = False) -> _Patch | _Sparse:
    """Channel patches of the (sample, round) rows whose recomputed neurons ``(b_e, r_e, i_e,
    j_e)`` (spikes ``s_e``, (E, T)) differ from golden, in the order of the full entry's rows,
    with their comparison with golden known (difference map, spike-count delta); with
    ``sparse``, the same rows as :class:`_Sparse` (the differing neurons' trains alone, ordered
    by row), for layers that take them as such (:func:`_sparse_consumer`)."""
    g_spikes, round_ids = rows_of
    g = g_spikes[b_e, out_ch[r_e], i_e, j_e]  # (E, T) bool
    fired = s_e != 0
    moved = torch.nonzero((fired != g).any(-1)).flatten()
    key = b_e[moved] * n_rounds + r_e[moved]
    pairs, inv = torch.unique(key, return_inverse=True)  # sorted: (sample, round) order
    b_idx = torch.div(pairs, n_rounds, rounding_mode="floor")
    r_idx = pairs % n_rounds
    m = pairs.numel()
    device = s_e.device
    delta = torch.zeros(m, dtype=torch.long, device=device)
    delta.index_add_(0, inv, _count(fired[moved]) - _count(g[moved]))
    if sparse:
        known_s = (None, delta, torch.ones(m, dtype=torch.bool, device=device))
        return _Sparse(round_ids[r_idx], b_idx, inv, out_ch[r_e[moved]], i_e[moved], j_e[moved], s_e[moved],
                       known=known_s)
    ch = out_ch[r_idx]
    patch = _channel_patch(g_spikes, b_idx, ch, (inv, i_e[moved], j_e[moved]), s_e[moved], s_e.dtype, value)
    diff_map = torch.zeros(patch.shape[:1] + patch.shape[2:4], dtype=torch.bool, device=device)
    diff_map[inv, i_e[moved], j_e[moved]] = True
    zero = torch.zeros(m, dtype=torch.long, device=device)
    known = (diff_map, delta, torch.ones(m, dtype=torch.bool, device=device))
    return _Patch(round_ids[r_idx], b_idx, patch, zero, zero.clone(), channel=ch, known=known)


def _channel_patch(g_spikes: torch.Tensor, samples: torch.Tensor, channel: torch.Tensor,
                   at: tuple[torch.Tensor, torch.Tensor, torch.Tensor], trains: torch.Tensor, dtype: torch.dtype,
                   value: float) -> torch.Tensor:
    """Whole-map channel patches ``(M, 1, H, W, T)``: each row's channel of the golden spikes
    (bool ``g_spikes``) as spike values, with ``trains`` (E, T) written at ``at`` = (row, h, w)
    of each changed neuron (each at most once per row)."""
    patch = g_spikes[samples, channel].to(dtype) * value  # (M, H, W, T)
    patch[at] = trains.to(dtype)
    return patch.unsqueeze(1)


#: elements a temporary of one row-sliced operation may hold (2**28 float32 = 1 GiB)
_SLICE_ELEMS = 1 << 28


def _slices(rows: int, per_row: int) -> list[slice]:
    step = max(1, _SLICE_ELEMS // max(1, per_row))
    return [slice(i, min(i + step, rows)) for i in range(0, rows, step)]


def _count(fired: torch.Tensor) -> torch.Tensor:
    """True entries per row of a bool tensor ``(M, ..., T)``, as int64 (M,). Summed over
    time in uint8 first (no int64 copy of the whole tensor) when ``T`` < 256."""
    if fired.shape[-1] < 256 and fired.dim() > 2:
        return fired.view(torch.uint8).sum(-1, dtype=torch.uint8).flatten(1).sum(1)
    if fired.shape[-1] < 256 and fired.dim() == 2:
        return fired.view(torch.uint8).sum(-1, dtype=torch.uint8).long()
    return fired.flatten(1).sum(1)


#: ``SPIKEFI_FUSED_COMPARE=0`` compares rows with golden by tensor operations in row slices;
#: ``1`` or unset, in one kernel where the rows' spikes take the fused path (CUDA;
#: :func:`spikefi.snn.cuda.spike_kernel.fused_compare`). The tables are the same either way.
FUSED_COMPARE_ENV = "SPIKEFI_FUSED_COMPARE"


def _fused_compare(group: _Patch, g_spikes: torch.Tensor) -> bool:
    """Whether :func:`_compare` runs as one kernel: allowed (:data:`FUSED_COMPARE_ENV`, ``1`` or
    unset; another value is refused with a :class:`~spikefi.errors.ConfigError`), the rows'
    spikes on the fused path (:func:`spikefi.snn.paths.fused_active`) where Triton runs
    (:func:`spikefi.snn.paths.triton_usable`), bool golden spikes beside them."""
    on = _switch(FUSED_COMPARE_ENV, "compare rows with golden in one kernel, also when unset",
                 "by tensor operations") is not False
    return (on and g_spikes.dtype == torch.bool and g_spikes.device == group.patch.device
            and fused_active(group.patch) and triton_usable(group.patch.device))


def _compare(group: _Patch, g_spikes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(diff_map (M, h, w), spike-count delta (M,), differs (M,))`` of rows against golden:
    one kernel where :func:`_fused_compare` holds, else computed in row slices (bounded
    temporaries)."""
    if _fused_compare(group, g_spikes):
        from ....snn.cuda.spike_kernel import fused_compare

        isyn.count_call("fused compare")
        diff_map, delta = fused_compare(group.patch, g_spikes, group.samples, group.h0, group.w0, group.channel)
        return diff_map, delta, diff_map.flatten(1).any(1)
    maps, deltas = [], []
    per_row = group.patch[0].numel() if group.patch.shape[0] else 1
    for sl in _slices(group.rounds.numel(), per_row):
        part = group.select(sl)
        fired = part.patch != 0
        g_win = part.golden_window(g_spikes)
        maps.append((fired != g_win).any(-1).any(1))
        deltas.append(_count(fired) - _count(g_win))
    diff_map = torch.cat(maps) if len(maps) > 1 else maps[0]
    return diff_map, torch.cat(deltas) if len(deltas) > 1 else deltas[0], diff_map.flatten(1).any(1)


def _sequential_round(campaign: CampaignContext, prep: PreparedRound) -> bool:
    """Whether a round runs as one sequential pass inside the parallel engine: on CUDA, a round
    with faults in more than one layer (memory-wide soft errors, bursts across layers) or with
    a neuron-state upset (its neurons are re-simulated step by step). Measured on an H100
    (``benchmarks/fault_models_gpu.py``, N-MNIST CNN, 128 recordings, 64 rounds per model): as
    stacked rows such rounds ran at 0.46-0.95x the sequential engine; on the CPU stacking wins."""
    if campaign.device.type != "cuda" or not campaign.netmap.chain or prep.first >= len(campaign.netmap.order):
        return False
    return _spread_or_state(prep)


def _spread_or_state(prep: PreparedRound) -> bool:
    """A round with faults in more than one layer, or with a neuron-state upset."""
    if len(prep.layers) > 1:
        return True
    return any(getattr(p.fault.model, "slayer_fire", None) is not None
               for lf in prep.layers.values() for p in lf.parametric)


def _has_whole_layer(prep: PreparedRound) -> bool:
    """Whether a round holds a whole-layer synapse fault (analog devices)."""
    return any(getattr(syn.fault.model, "whole_layer", False) for lf in prep.layers.values() for syn in lf.synapse)


def _fallback(engine: ParallelEngine, campaign: CampaignContext, rounds: Sequence[Round], chunk_size: int,
              on_progress: Any) -> Iterator[ChunkResult]:
    naive = NaiveEngine()
    yield from naive.run(campaign, rounds, chunk_size, on_progress)
