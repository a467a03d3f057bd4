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

Partial recomputation changes the float summation order of the recomputed neurons
(a one-channel convolution instead of the full one). In float64 this never flips a spike
in practice; in float32 a flip can occur only where the potential is within rounding of
the threshold (the exactness suite and ``benchmarks/campaign_throughput.py`` count them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..snn.loss import spike_counts
from .engine import (
    ENGINES,
    Engine,
    LayerFaults,
    PreparedRound,
    RoundStats,
    neuron_output,
    synaptic_output,
    tied_top,
)

if TYPE_CHECKING:
    from .campaign import Campaign, Round

__all__ = ["ParallelEngine", "rows_budget"]


def _available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def rows_budget(campaign: Campaign, memory_fraction: float = 0.25) -> int:
    """How many (round, sample) rows fit in ``memory_fraction`` of free memory."""
    itemsize = torch.empty((), dtype=campaign.dtype).element_size()
    largest = max(info.neurons for info in campaign.netmap.layers.values())
    # input + synaptic output + potential + spikes + refractory copy of the largest layer
    per_row = 6 * largest * campaign.steps * itemsize
    return max(1, int(_available_bytes(campaign.device) * memory_fraction // per_row))


@dataclass
class _Rows:
    """Active rows at the input of a layer."""

    rounds: torch.Tensor  # (M,) index into the chunk's rounds
    samples: torch.Tensor  # (M,) index into the batch
    x: torch.Tensor  # (M, C, H, W, T) input spikes


class ParallelEngine(Engine):
    """Fault-parallel evaluation with late start, sparse first-layer work and fault dropping.

    Args:
        early_stop_tolerance: must be 0 (rows are dropped only when exactly golden).
        memory_fraction: share of free memory (GPU or RAM) the stacked rows may use;
            chunks larger than that are split into sub-chunks.
    """

    name = "parallel"

    def __init__(self, early_stop_tolerance: float = 0.0, memory_fraction: float = 0.25) -> None:
        super().__init__(early_stop_tolerance)
        if early_stop_tolerance:
            from ..errors import ConfigError

            raise ConfigError("the parallel engine drops rows only when exactly golden: early_stop_tolerance must be 0")
        self.memory_fraction = memory_fraction

    def run(self, campaign, rounds, chunk_size=64, on_progress=None):  # type: ignore[override]
        if not campaign.netmap.chain or campaign.force_hooks:
            yield from _fallback(self, campaign, rounds, chunk_size, on_progress)
            return
        yield from super().run(campaign, rounds, chunk_size, on_progress)

    def evaluate(self, campaign, prep, samples, x, y, golden, stats):  # type: ignore[override]
        self.evaluate_many(campaign, [prep], samples, x, y, golden, [stats])

    def evaluate_chunk(self, campaign, prepared, samples, x, y, golden, stats):  # type: ignore[override]
        budget = max(1, rows_budget(campaign, self.memory_fraction) // max(1, len(samples)))
        for start in range(0, len(prepared), budget):
            self.evaluate_many(campaign, prepared[start : start + budget], samples, x, y, golden,
                               stats[start : start + budget])

    def evaluate_many(self, campaign: Campaign, prepared: Sequence[PreparedRound], samples: list[int],
                      x: torch.Tensor, y: torch.Tensor, golden: dict[str, Any], stats: Sequence[RoundStats]) -> None:
        """Evaluates several rounds on one batch together."""
        netmap = campaign.netmap
        order = netmap.order
        slayer = netmap.slayer
        device = x.device
        n_layers = len(order)
        value = 1.0 / float(netmap.simulation()["Ts"])
        n_rounds = len(prepared)
        has_fault = torch.zeros(n_rounds, n_layers + 1, dtype=torch.bool)
        for r, p in enumerate(prepared):
            for name in p.layers:
                has_fault[r, order.index(name)] = True
        faulty_layers = [torch.nonzero(has_fault[r]).flatten().tolist() for r in range(n_rounds)]
        last_layer = torch.tensor([fl[-1] if fl else -1 for fl in faulty_layers], device=device)
        has_fault_dev = has_fault.to(device)
        for st in stats:  # golden baseline; active rows add their differences
            for name in order:
                st.add_spikes(name, golden["spike_counts"][name])
        golden_a: dict[int, torch.Tensor] = {}

        def golden_input(layer: int) -> torch.Tensor:
            return x if layer == 0 else golden["spikes"][order[layer - 1]].to(campaign.dtype) * value

        def golden_synaptic(layer: int) -> torch.Tensor:
            if layer not in golden_a:
                golden_a[layer] = netmap.layer_forward(order[layer], golden_input(layer))
            return golden_a[layer]

        reentries: dict[int, dict[int, torch.Tensor]] = {}
        active: _Rows | None = None
        end_rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for layer in range(n_layers):
            name = order[layer]
            g_spikes = golden["spikes"][name]
            outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
            # 1. rows carried from the previous layer
            if active is not None and active.rounds.numel():
                with_faults = has_fault_dev[active.rounds, layer]
                plain = ~with_faults
                if bool(plain.any()):
                    out = slayer.spike(slayer.psp(netmap.layer_forward(name, active.x[plain])))
                    outputs.append((active.rounds[plain], active.samples[plain], out))
                for r in torch.unique(active.rounds[with_faults]).tolist():
                    sel = active.rounds == r
                    outputs.append(self._faulty_rows(campaign, prepared[r], name, active.x[sel], active.samples[sel],
                                                     samples, r))
            # 2. rounds whose first faulty layer is this one, from golden data
            for r, layers in enumerate(faulty_layers):
                if layers and layers[0] == layer:
                    entered = self._entry_rows(campaign, prepared[r], layer, golden, golden_input,
                                               golden_synaptic, samples, r)
                    outputs.append(entered)
                    if len(layers) > 1 and entered[1].numel() < len(samples):
                        # rows left golden here still meet the round's later faults
                        quiet = torch.ones(len(samples), dtype=torch.bool, device=device)
                        quiet[entered[1]] = False
                        reentries.setdefault(layers[1], {})[r] = torch.nonzero(quiet).flatten()
            # 3. dormant rows (golden so far) re-enter at their round's next faulty layer
            for r, rows_s in reentries.pop(layer, {}).items():
                outputs.append(self._faulty_rows(campaign, prepared[r], name, golden_input(layer)[rows_s], rows_s,
                                                 samples, r))
            outputs = [o for o in outputs if o[0].numel()]
            if not outputs:
                active = None
                continue
            rounds_t = torch.cat([o[0] for o in outputs])
            samples_t = torch.cat([o[1] for o in outputs])
            out_t = torch.cat([o[2] for o in outputs])
            fired = out_t != 0
            differs = (fired != g_spikes[samples_t]).flatten(1).any(1)
            delta = fired.flatten(1).sum(1) - golden["sample_spike_counts"][name][samples_t]
            for r in torch.unique(rounds_t).tolist():
                sel = rounds_t == r
                stats[r].add_spikes(name, int(delta[sel].sum()))
                if bool(differs[sel].any()):
                    stats[r].diverged_at(layer)
            # fault dropping: golden rows leave, or wait for their round's next faulty layer
            later = last_layer[rounds_t] > layer
            dormant = ~differs & later
            for r in torch.unique(rounds_t[dormant]).tolist():
                nxt = next(i for i in faulty_layers[r] if i > layer)
                rows_s = samples_t[dormant & (rounds_t == r)]
                entry = reentries.setdefault(nxt, {})
                entry[r] = torch.sort(torch.cat([entry[r], rows_s])).values if r in entry else rows_s
            keep = differs
            if layer == n_layers - 1:
                end_rows.append((rounds_t[keep], samples_t[keep], out_t[keep]))
                active = None
            else:
                active = _Rows(rounds_t[keep], samples_t[keep], out_t[keep])
        self._finish_many(campaign, prepared, end_rows, y, golden, stats)

    @staticmethod
    def _faulty_rows(campaign: Campaign, prep: PreparedRound, name: str, xin: torch.Tensor, rows_s: torch.Tensor,
                     samples: list[int], r: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Full faulty layer for some rows of one round."""
        slayer = campaign.netmap.slayer
        lf = prep.layers[name]
        smp = [samples[i] for i in rows_s.tolist()]
        a = synaptic_output(campaign, name, xin, lf, smp, prep.round_id)
        out = neuron_output(campaign, a, slayer.spike(slayer.psp(a)), lf, smp, prep.round_id)
        return torch.full((rows_s.numel(),), r, device=xin.device), rows_s, out

    @staticmethod
    def _entry_rows(campaign: Campaign, prep: PreparedRound, layer: int, golden: dict[str, Any], golden_input: Any,
                    golden_synaptic: Any, samples: list[int], r: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows of a round at its first faulty layer, built from golden data; only rows that
        differ from golden (or that later faults need) are materialised."""
        netmap = campaign.netmap
        slayer = netmap.slayer
        name = netmap.order[layer]
        lf = prep.layers[name]
        device = golden["spikes"][name].device
        batch = len(samples)
        value = 1.0 / float(netmap.simulation()["Ts"])
        all_rows = torch.arange(batch, device=device)
        if lf.synapse:
            # only the output channels fed by a faulty synapse change: recompute those
            channels = sorted({int(c) for syn in lf.synapse for c in syn.idx[0].tolist()})
            s = golden["spikes"][name].to(campaign.dtype) * value
            a_ch = _synaptic_channels(campaign, name, golden_input(layer), lf, samples, prep.round_id, channels)
            s[:, channels] = slayer.spike(slayer.psp(a_ch))
            a = golden_synaptic(layer).clone() if lf.parametric else s
            if lf.parametric:
                a[:, channels] = a_ch
            out = neuron_output(campaign, a, s, lf, samples, prep.round_id)
            return torch.full((batch,), r, device=device), all_rows, out
        # neuron-output and parametric faults: work on the faulty neurons' trains only
        positions = sorted({tuple(int(v) for v in p) for f in (*lf.parametric, *lf.neuron) for p in f.fault.positions})
        index = {p: i for i, p in enumerate(positions)}
        pos_t = torch.tensor(positions, device=device)
        g_trains = golden["spikes"][name][:, pos_t[:, 0], pos_t[:, 1], pos_t[:, 2]].to(campaign.dtype) * value
        mini_s = g_trains[:, :, None, None, :]  # (B, P, 1, 1, T)
        mini_a = mini_s
        if lf.parametric:
            a = golden_synaptic(layer)
            mini_a = a[:, pos_t[:, 0], pos_t[:, 1], pos_t[:, 2]][:, :, None, None, :]
        mini = _remap_neurons(lf, index, device)
        new = neuron_output(campaign, mini_a, mini_s, mini, samples, prep.round_id)[:, :, 0, 0, :]
        changed = (new != g_trains).flatten(1).any(1)
        rows = all_rows[changed]
        out = golden["spikes"][name][rows].to(campaign.dtype) * value
        out[:, pos_t[:, 0], pos_t[:, 1], pos_t[:, 2]] = new[rows]
        return torch.full((rows.numel(),), r, device=device), rows, out

    @staticmethod
    def _finish_many(campaign: Campaign, prepared: Sequence[PreparedRound],
                     end_rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], y: torch.Tensor,
                     golden: dict[str, Any], stats: Sequence[RoundStats]) -> None:
        g_pred, g_counts = golden["pred"], golden["counts"]
        g_correct = g_pred == y
        base_correct = int(g_correct.sum())
        base_tied = int(golden["tied"].sum())
        base_loss = float(golden["losses"].sum()) if golden["losses"] is not None else 0.0
        for st in stats:
            st.samples += int(y.numel())
            st.correct += base_correct
            st.tied += base_tied
            st.loss_sum += base_loss
        if campaign.keep_predictions:
            batch_preds = [g_pred.clone() for _ in stats]
        if not end_rows or sum(int(r[0].numel()) for r in end_rows) == 0:
            if campaign.keep_predictions:
                for st, p in zip(stats, batch_preds, strict=True):
                    st.predictions.append(p.cpu())
            return
        rounds_t = torch.cat([r[0] for r in end_rows])
        samples_t = torch.cat([r[1] for r in end_rows])
        out = torch.cat([r[2] for r in end_rows])
        counts = spike_counts(out)
        pred = campaign.predict_counts(counts)
        ys = y[samples_t]
        d_correct = (pred == ys).long() - g_correct[samples_t].long()
        critical = (g_correct[samples_t] & (pred != ys)).long()
        changed = (pred != g_pred[samples_t]).long()
        d_tied = tied_top(counts).long() - golden["tied"][samples_t].long()
        deviation = (counts - g_counts[samples_t]).abs().sum(1)
        d_loss = None
        if campaign.loss_fn is not None:
            d_loss = campaign.sample_losses(out, ys) - golden["losses"][samples_t]
        for r in torch.unique(rounds_t).tolist():
            sel = rounds_t == r
            st = stats[r]
            st.correct += int(d_correct[sel].sum())
            st.critical += int(critical[sel].sum())
            st.changed += int(changed[sel].sum())
            st.tied += int(d_tied[sel].sum())
            st.deviation_sum += float(deviation[sel].sum())
            if d_loss is not None:
                st.loss_sum += float(d_loss[sel].sum())
            if campaign.keep_predictions:
                batch_preds[r][samples_t[sel]] = pred[sel]
        if campaign.keep_predictions:
            for st, p in zip(stats, batch_preds, strict=True):
                st.predictions.append(p.cpu())


def _remap_neurons(lf: LayerFaults, index: dict[tuple[int, ...], int], device: torch.device) -> LayerFaults:
    """The layer's neuron/parametric faults re-indexed onto a (B, P, 1, 1, T) tensor."""
    def idx(positions: Sequence[tuple[int, ...]]) -> tuple[torch.Tensor, ...]:
        p = torch.tensor([index[tuple(int(v) for v in q)] for q in positions], device=device)
        zero = torch.zeros_like(p)
        return p, zero, zero

    parametric = [type(q)(q.fault, q.index, idx(q.fault.positions), q.slayer) for q in lf.parametric]
    neuron = [type(n)(n.fault, n.index, idx(n.fault.positions)) for n in lf.neuron]
    return LayerFaults(synapse=[], parametric=parametric, neuron=neuron)


def _synaptic_channels(campaign: Campaign, name: str, x: torch.Tensor, lf: LayerFaults, samples: list[int],
                       round_id: int, channels: list[int]) -> torch.Tensor:
    """Synaptic output of the given output channels only, with the layer's synapse faults."""
    netmap = campaign.netmap
    module = netmap.modules[name]
    sub = _ChannelView(lf, channels)
    view = _NetmapChannels(netmap, name, module, channels)
    return synaptic_output(_CampaignView(campaign, view), name, x, sub, samples, round_id)  # type: ignore[arg-type]


class _ChannelView(LayerFaults):
    """The layer's faults with synapse indices renumbered into the kept channels."""

    def __init__(self, lf: LayerFaults, channels: list[int]) -> None:
        remap = {c: i for i, c in enumerate(channels)}
        synapse = []
        for s in lf.synapse:
            out = torch.tensor([remap[int(c)] for c in s.idx[0].tolist()], device=s.idx[0].device)
            synapse.append(type(s)(s.fault, s.index, (out, *s.idx[1:]), s.values))
        permanent = None
        if lf.permanent_weight is not None:
            permanent = lf.permanent_weight[channels]
        super().__init__(synapse=synapse, parametric=[], neuron=[], permanent_weight=permanent, trainable=lf.trainable)


class _NetmapChannels:
    """A NetworkMap view whose layer ``name`` has only the given output channels."""

    def __init__(self, netmap: Any, name: str, module: Any, channels: list[int]) -> None:
        self._netmap = netmap
        self._name = name
        self._channels = channels

    def effective_weight(self, name: str) -> torch.Tensor:
        return self._netmap.effective_weight(name)[self._channels]

    def layer_forward(self, name: str, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        if weight is None:
            weight = self.effective_weight(name)
        return self._netmap.layer_forward(name, x, weight)

    def __getattr__(self, item: str) -> Any:
        return getattr(self._netmap, item)


class _CampaignView:
    def __init__(self, campaign: Any, netmap: Any) -> None:
        self._campaign = campaign
        self.netmap = netmap

    def __getattr__(self, item: str) -> Any:
        return getattr(self._campaign, item)


def _fallback(engine: ParallelEngine, campaign: Any, rounds: Sequence[Round], chunk_size: int, on_progress: Any):
    from .engine import NaiveEngine

    naive = NaiveEngine()
    yield from naive.run(campaign, rounds, chunk_size, on_progress)


ENGINES["parallel"] = ParallelEngine
