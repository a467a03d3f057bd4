"""The faulty-layer maths: a round's faults prepared once, and a layer computed with them.

Shared by the engines, training under faults (:mod:`spikefi.campaign.fault_training`), test
generation (:mod:`spikefi.testgen.generation`) and the SpikeFI 1.3 faces
(:mod:`spikefi.compat`). It reads a campaign only through
:class:`~spikefi.campaign.context.InjectionContext`.

Within a layer, faults are applied in this order: synapse faults (on the layer's
effective weight), then the membrane potential and spikes with golden parameters, then
parametric neurons (re-simulated with their own kernels and threshold), then neuron
output faults (in the order they were injected).

Networks whose forward is not a SLAYER chain get the faults injected into their own
``forward`` through scoped hooks (:func:`scoped_injection`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any, cast

import numpy as np
import torch

from ..errors import ConfigError, FaultSpecError
from ..faults.models import NeuronFaultModel, ParametricFaultModel, SynapseContext, SynapseFaultModel
from ..faults.sites import ResolvedFault
from ..faults.timing import Permanent, PerSample, sample_rng
from ..snn.functional import stats_of_spikes
from .context import InjectionContext, NetworkMapLike
from .types import LayerFaults, PreparedRound, Round, _LazyIndex, _Neuron, _Parametric, _Synapse

__all__ = [
    "prepare_round", "prepare_rounds", "permanent_weight", "parametric_fire", "faulty_layer", "synaptic_output", "neuron_output",
    "spikes_with_stats", "layer_spikes_with_stats", "scoped_injection",
]


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
    shapes: list[tuple[int, int]] = []
    rows: list[list[int]] = []
    for rnd in rounds:
        for fault in rnd.faults:
            if getattr(fault.model, "whole_layer", False):  # every synapse of the layer: built from its shape
                shapes.append((0, 0))
                continue
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
        for fault in rnd.faults:
            n, width = shapes[k]
            if getattr(fault.model, "whole_layer", False):
                per_round.append(_LazyIndex(partial(cast(Any, fault.positions).index_tensors, campaign.device)))
                k += 1
                continue
            per_round.append(_LazyIndex(partial(_columns, dev, start, n, width)))
            start, k = start + n, k + 1
        out.append(per_round)
    return out


def prepare_rounds(campaign: InjectionContext, rounds: Sequence[Round]) -> list[PreparedRound]:
    """:func:`prepare_round` for several rounds, with one host-to-device copy of their indices.

    Rounds of one permanent synapse fault whose model is elementwise
    (:attr:`~spikefi.faults.models.SynapseFaultModel.elementwise`) are prepared together, per
    layer and model: one call of the model for all their sites instead of one per round (on a
    GPU: a dozen kernel launches per round saved). The values are those of
    :func:`prepare_round`, bit for bit.
    """
    if not rounds:
        return []
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, rnd in enumerate(rounds):
        key = _group_key(rnd)
        if key is not None:
            groups.setdefault(key, []).append(i)
    grouped = {i for members in groups.values() if len(members) > 1 for i in members}
    rest = [i for i in range(len(rounds)) if i not in grouped]
    out: list[PreparedRound | None] = [None] * len(rounds)
    if rest:
        if campaign.device.type == "cuda":
            indices = _device_indices(campaign, [rounds[i] for i in rest])
            for i, ix in zip(rest, indices, strict=True):
                out[i] = prepare_round(campaign, rounds[i], indices=ix)
        else:
            for i in rest:
                out[i] = prepare_round(campaign, rounds[i])
    for members in groups.values():
        if len(members) > 1:
            for i, prep in zip(members, _prepare_group(campaign, [rounds[i] for i in members]), strict=True):
                out[i] = prep
    return cast(list[PreparedRound], out)


def _group_key(rnd: Round) -> tuple[Any, ...] | None:
    """The key of rounds :func:`prepare_rounds` prepares together, or None."""
    if len(rnd.faults) != 1:
        return None
    fault = rnd.faults[0]
    model = fault.model
    if not isinstance(model, SynapseFaultModel) or not type(model).__dict__.get("elementwise", False) \
            or not isinstance(fault.timing, Permanent) or not fault.positions:
        return None
    return fault.layer, type(model), repr(sorted(model.params().items()))


def _prepare_group(campaign: InjectionContext, rounds: Sequence[Round]) -> list[PreparedRound]:
    """Rounds of one elementwise synapse model in one layer (see :func:`_group_key`): the
    sites of all in one index, the model called once, each round a view of its part."""
    name = rounds[0].faults[0].layer
    sizes = [len(r.faults[0].positions) for r in rounds]
    idx_all = _index([(*p, 0) for r in rounds for p in r.faults[0].positions], campaign.device)
    values = _synapse_values(campaign, name, cast(SynapseFaultModel, rounds[0].faults[0].model), idx_all)
    layer = list(campaign.netmap.order).index(name)
    # each round's views in one split per tensor (slicing per round costs a few µs a view on the
    # host, between chunks, while the device waits)
    parts = zip(*(torch.split(col, sizes) for col in idx_all), strict=True)
    out = []
    for rnd, idx, vals in zip(rounds, parts, torch.split(values, sizes), strict=True):
        lf = LayerFaults(synapse=[_Synapse(rnd.faults[0], 0, tuple(idx), vals)])
        out.append(PreparedRound(rnd.round_id, {name: lf}, layer, layer))
    return out


def _synapse_values(campaign: InjectionContext, name: str, model: SynapseFaultModel,
                    idx: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Faulty values of layer ``name``'s synapses ``idx`` under ``model`` (golden weights, and the
    campaign's quantized codes and parameters at those sites where it has them)."""
    weight = campaign.netmap.effective_weight(name).detach()
    codes = campaign.qcodes.get(name)
    qp = campaign.qparams.get(name)
    at_sites = getattr(qp, "at_sites", None)  # per-channel scales of a deployment format: one per site
    ctx = SynapseContext(weight, at_sites(idx) if at_sites is not None else qp,
                         None if codes is None else codes[idx], codes_in_range=codes is not None)
    return model.faulty_weights(weight[idx].clone(), ctx).to(weight.dtype)


def permanent_weight(netmap: NetworkMapLike, name: str, lf: LayerFaults) -> torch.Tensor | None:
    """The effective weight of layer ``name`` with the round's permanent synapse faults written
    in (``None`` without any, or when training: faulty values are then recomputed at every
    forward). Built at first use and kept on ``lf``: engines that never compute the whole
    faulty layer (the parallel engine's channel rows) never copy the layer's weight."""
    if lf.permanent_weight is None and not lf.trainable:
        perm = [s for s in lf.synapse if isinstance(s.fault.timing, Permanent)]
        if perm:
            w = netmap.effective_weight(name).detach().clone()
            for s in perm:
                w[s.idx] = s.values
            lf.permanent_weight = w
    return lf.permanent_weight


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
        if isinstance(model, SynapseFaultModel) and getattr(model, "whole_layer", False):
            # analog devices: the whole layer's weights, read noise and threshold mismatch of one draw
            if trainable:
                raise FaultSpecError(f"{model.name} (analog devices) is not supported in training under faults")
            weight = netmap.effective_weight(fault.layer).detach()
            idx = indices[i].get() if indices is not None else fault.positions.index_tensors(device)  # type: ignore[attr-defined]
            draw = model.draw(weight[idx].clone(), netmap.layers[fault.layer].neuron_shape)  # type: ignore[attr-defined]
            lf.synapse.append(_Synapse(fault, i, idx, draw.values.to(weight.dtype), draw.read_std))
            if draw.neuron_scale is not None:
                lf.neuron_scale = draw.neuron_scale if lf.neuron_scale is None else lf.neuron_scale * draw.neuron_scale
        elif isinstance(model, SynapseFaultModel):
            idx = indices[i].get() if indices is not None else _index([(*p, 0) for p in fault.positions], device)
            lf.synapse.append(_Synapse(fault, i, idx, _synapse_values(campaign, fault.layer, model, idx)))
        elif isinstance(model, ParametricFaultModel):
            p_idx = indices[i] if indices is not None else _index(fault.positions, device)
            fire = parametric_fire(campaign, fault.layer, model, p_idx)
            lf.parametric.append(_Parametric(fault, i, p_idx, fire))
        elif isinstance(model, NeuronFaultModel):
            lf.neuron.append(_Neuron(fault, i, indices[i] if indices is not None else _index(fault.positions, device)))
        else:
            raise ConfigError(f"fault model {model!r} has an unknown target {getattr(model, 'target', None)!r}")
    order = {name: i for i, name in enumerate(netmap.order)}
    idxs = [order[n] for n in layers]
    return PreparedRound(rnd.round_id, layers, min(idxs, default=len(order)), max(idxs, default=-1))


def _slayer_fire(slayer: Any, a: torch.Tensor) -> torch.Tensor:
    fire = getattr(slayer, "fire", None)
    return fire(a) if fire is not None else slayer.spike(slayer.psp(a))


def parametric_fire(campaign: InjectionContext, layer: str, model: ParametricFaultModel,
                    index: tuple[torch.Tensor, ...] | _LazyIndex) -> Any:
    """The spiking function of the neurons ``index`` of ``layer`` with ``model``'s faulty
    parameters: ``(B, k, T)`` synaptic outputs to ``(B, k, T)`` spikes (a SLAYER layer's
    faulty neuron is one spiking layer for all: the index is then not built)."""
    netmap = campaign.netmap
    upset = getattr(model, "slayer_fire", None)
    if upset is not None:  # a neuron-state upset (spikefi.faults.neuron_state): the golden layer, re-simulated
        if netmap.slayer is None:
            raise FaultSpecError(f"{model.name} upsets the state of SLAYER neurons; layer {layer!r} is a NIR neuron "
                                 "stage (use MembraneBitFlip)")
        steps = getattr(campaign, "steps", None)
        if steps is not None:
            model.check_steps(int(steps))  # type: ignore[attr-defined]
        return upset(netmap.slayer)
    if netmap.slayer is not None:  # SLAYER: one faulty spiking layer for the faulty neurons
        return partial(_slayer_fire, campaign.faulty_slayer(model.faulty_neuron(netmap.neuron())))
    change = getattr(model, "change_stage", None)
    if change is None:
        raise FaultSpecError(f"{model.name} changes SLAYER neuron parameters; layer {layer!r} is a NIR neuron stage "
                             "(use NeuronDrift, LeakFault, NoReset, BiasShift or MembraneBitFlip)")
    return netmap.faulty_fire(layer, change, index.get() if isinstance(index, _LazyIndex) else index)


# ------------------------------------------------------------------------------------
# the faulty layer


def _at(idx: tuple[torch.Tensor, ...]) -> tuple[Any, ...]:
    """Index of the neurons ``idx`` in every sample of a ``(B, C, H, W, T)`` tensor."""
    return (slice(None), *idx)


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


def layer_spikes_with_stats(netmap: NetworkMapLike, name: str, x: torch.Tensor, keep_mask: bool = False,
                            golden: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
    """Healthy layer ``name`` on input spikes ``x``: its spikes and :func:`spikes_with_stats`'s statistics."""
    if netmap.slayer is not None:
        from ..snn.layer import layer as spiking_layer

        slayer = netmap.slayer
        if isinstance(slayer, spiking_layer) and type(slayer).fire is spiking_layer.fire:
            # spikefi's own layer: fire_stats fuses psp, spikes and statistics where it can
            # and otherwise takes the instance's (possibly replaced) psp and spike
            a = netmap.layer_forward(name, x)
            if slayer._fuses(a):
                return slayer.fire_stats(a, keep_mask=keep_mask, golden=golden)
            return spikes_with_stats(slayer, slayer.psp(a), keep_mask, golden)
        return spikes_with_stats(slayer, slayer.psp(netmap.layer_forward(name, x)), keep_mask, golden)
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
    return neuron_output(campaign, a, netmap.fire(name, a), lf, samples, round_id, owned=True)


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
            s.values = cast(SynapseFaultModel, s.fault.model).faulty_weights(weight[s.idx], ctx).to(weight.dtype)
        base = weight
        for s in lf.synapse:
            if isinstance(s.fault.timing, Permanent):
                base = base.index_put(s.idx, s.values)
        a = netmap.layer_forward(name, x, base)
    else:
        perm_w = permanent_weight(netmap, name, lf)
        base = netmap.effective_weight(name).detach() if perm_w is None else perm_w
        noisy = [s for s in lf.synapse if s.read_std is not None]
        if noisy:  # read noise: other weights for every sample (one read per inference)
            a = _read_noise_output(campaign, name, x, base, noisy, samples)
        else:
            # an explicit weight: the module itself is not called (safe inside its forward hook)
            a = netmap.layer_forward(name, x, base) if lf.synapse else netmap.layer_forward(name, x)
    if lf.neuron_scale is not None:  # threshold mismatch: theta * m fires as theta on a / m
        a = a * lf.neuron_scale.to(a.dtype)[None, ..., None]
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


def _read_noise_output(campaign: InjectionContext, name: str, x: torch.Tensor, base: torch.Tensor,
                       noisy: Sequence[_Synapse], samples: Sequence[int]) -> torch.Tensor:
    """The synaptic output with per-sample read noise: each sample's weights are ``base``
    plus, at the noisy faults' synapses, ``read_std * N(0, 1)`` drawn for that sample."""
    netmap = campaign.netmap
    outs = []
    for b, sample in enumerate(samples):
        w = base
        for s in noisy:
            n = cast(Any, s.fault.model).read_noise(sample, s.values.numel(), base.dtype, base.device)
            read = s.values + cast(torch.Tensor, s.read_std) * n
            # every synapse of the layer in row-major order: the read weights are the tensor itself
            w = read.reshape(base.shape) if s.values.numel() == base.numel() else w.index_put(s.idx, read)
        outs.append(netmap.layer_forward(name, x[b:b + 1], w))
    return torch.cat(outs) if outs else netmap.layer_forward(name, x, base)


def neuron_output(
    campaign: InjectionContext,
    a: torch.Tensor,
    s_out: torch.Tensor,
    lf: LayerFaults,
    samples: Sequence[int],
    round_id: int,
    owned: bool = False,
) -> torch.Tensor:
    """Spikes after parametric and neuron-output faults (stages 3 and 4).

    Args:
        a: the layer's (faulty) synaptic output.
        s_out: its spikes with golden neuron parameters.
        owned: ``s_out`` is a fresh tensor no one else reads (a layer's just-fired spikes): the
            faults are written into it in place instead of into a copy (a whole layer's spikes:
            hundreds of MB for an early conv layer). It is copied all the same when it shares
            memory with ``a`` or records a gradient (training under faults: autograd forbids
            writing into a custom function's output).
    """
    if not lf.parametric and not lf.neuron:
        return s_out
    steps = a.shape[-1]
    seed = campaign.seed
    device = a.device
    if not owned or s_out.requires_grad or s_out.untyped_storage().data_ptr() == a.untyped_storage().data_ptr():
        s_out = s_out.clone()
    upsets = _batched_upsets(lf.parametric, a)
    if len(upsets) == 1 and upsets[0][0] is None:  # every parametric fault: one write
        s_out[_at(upsets[0][1])] = upsets[0][2]
        parametric: Sequence[_Parametric] = ()
    else:
        parametric = lf.parametric
    done = {i: s_f for members, _, spikes in upsets if members is not None
            for i, s_f in zip(members, spikes.split([lf.parametric[i].idx[0].numel() for i in members], dim=1),
                              strict=True)}
    for i, p in enumerate(parametric):
        s_f = done[i] if i in done else p.fire(a[_at(p.idx)])  # (B, k, T)
        if isinstance(p.fault.timing, PerSample):
            hit = torch.as_tensor(p.fault.timing.affected(samples, seed, round_id, p.index), device=device)
            s_f = torch.where(hit[:, None, None], s_f, s_out[_at(p.idx)])
        s_out[_at(p.idx)] = s_f
    spike_value = campaign.netmap.spike_value
    for n in lf.neuron:
        cur = s_out[_at(n.idx)]  # (B, k, T)
        noise = None
        if n.fault.model.stochastic:
            k = cur.shape[1]
            noise = torch.as_tensor(
                np.stack([sample_rng(seed, round_id, n.index, s, stream=2).random((k, steps)) for s in samples]),
                dtype=cur.dtype, device=device,
            )
        new = cast(NeuronFaultModel, n.fault.model).apply(cur, spike_value, noise)
        m = _masks(n.fault, n.index, samples, steps, seed, round_id, device)
        if m is not None:
            new = torch.where(m[:, None, :], new, cur)
        s_out[_at(n.idx)] = new
    return s_out


def _batched_upsets(parametric: Sequence[_Parametric], a: torch.Tensor,
                    ) -> list[tuple[list[int] | None, tuple[torch.Tensor, ...], torch.Tensor]]:
    """The spikes of a layer's neuron-state upset faults (:mod:`spikefi.faults.neuron_state`),
    those of one register format simulated together: per group ``(members, index, spikes)``,
    the faults' positions in ``parametric``, their concatenated neuron index and spikes
    ``(B, sum k, T)``. ``members`` is ``None`` when the group is every fault of the list, on
    distinct neurons, all on every sample: its spikes are then written at once."""
    from ..faults.neuron_state import fire_upsets

    groups: dict[Any, list[int]] = {}
    for i, p in enumerate(parametric):
        key = getattr(p.fire, "batch_key", None)
        if key is not None:
            groups.setdefault(key, []).append(i)
    out: list[tuple[list[int] | None, tuple[torch.Tensor, ...], torch.Tensor]] = []
    for members in groups.values():
        faults = [parametric[i] for i in members]
        idx = tuple(torch.cat(dims) for dims in zip(*(p.idx for p in faults), strict=True))
        parts = [(p.fire.model, p.idx[0].numel()) for p in faults]
        spikes = fire_upsets(faults[0].fire.slayer, parts, a[_at(idx)])
        positions = [tuple(int(v) for v in q) for p in faults for q in p.fault.positions]
        whole = (len(members) == len(parametric) and len(set(positions)) == len(positions)
                 and not any(isinstance(p.fault.timing, PerSample) for p in faults))
        out.append((None if whole else members, idx, spikes))
    return out


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
            if lf is not None and lf.synapse:
                a = synaptic_output(campaign, name, inputs[0], lf, samples, round_id)
            elif name in getattr(netmap, "integer", {}):  # integer-exact like the chain engines
                a = netmap.layer_forward(name, inputs[0])
            else:
                a = output
            state["last"], state["a"] = name, a
            return a
        handles.append(module.register_forward_hook(hook))
    original = slayer.spike

    def record_spikes(s: torch.Tensor) -> torch.Tensor:
        name = state["last"]
        if name is None:
            return s
        lf = prep.layers.get(name) if prep is not None else None
        if lf is not None:
            s = neuron_output(campaign, state["a"], s, lf, samples, round_id, owned=True)
        record[name] = s
        state["last"] = None
        return s

    def spike(u: torch.Tensor) -> torch.Tensor:
        return record_spikes(original(u))

    slayer.spike = spike
    wrap_fire = hasattr(slayer, "fire_fused")
    if wrap_fire:
        # a fused fire (the network's forward on the fused path) calls no spike: wrap it too
        def fire(a: torch.Tensor) -> torch.Tensor:
            if slayer._fuses(a, replaced_ok=True):
                return record_spikes(slayer.fire_fused(a))
            return spike(slayer.psp(a))

        slayer.fire = fire
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        del slayer.spike
        if wrap_fire:
            del slayer.fire
