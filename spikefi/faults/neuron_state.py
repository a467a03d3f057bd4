"""Upsets of the neuron state of SLAYER layers: the membrane potential and the refractory state.

A SLAYER (SRM) neuron computes, at every time step ``t``,

    u[t] = psp[t] + r[t],      r[t] = sum over its earlier spikes s of ref[t - s]

(``psp``: the post-synaptic potential of its input; ``ref``: the refractory kernel), and
spikes when ``u[t] >= theta``. A transient upset flips bits of the register holding one of
these values at one step:

* :class:`MembraneUpset` — ``u[t]`` becomes ``flip(u[t])`` before the threshold comparison;
* :class:`RefractoryUpset` — ``u[t]`` becomes ``psp[t] + flip(r[t])``.

The register is float32 (IEEE-754 binary32; bit 31 the sign, 23-30 the exponent) or a
signed fixed-point number of ``width`` bits with ``frac_bits`` fractional bits (two's
complement). In fixed point the flip changes the stored value ``q = clamp(round(x * 2^f))``
into ``q'`` and the potential by exactly ``(q' - q) * 2^-f``.

SLAYER's SRM neuron carries no value from one step to the next besides the refractory
response of its spikes, so an upset lasts its step; it persists only through a spike it
adds or removes (that spike's refractory response, and downstream layers).

Both models are parametric faults of the neurons their sites name: every engine re-simulates
those neurons (from the golden synaptic input) with :func:`simulate_with_upsets`, a time loop
in torch on the campaign's device that equals the golden spiking function at every other
step; the rest of the layer keeps the fused kernel. :class:`StateSoftErrors` draws such
upsets at a rate (one Monte-Carlo draw per round).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import FaultSpecError
from .models import _REGISTRY, FaultModel, ParametricFaultModel

__all__ = ["StateRegister", "NeuronStateUpset", "MembraneUpset", "RefractoryUpset", "StateSoftErrors",
           "UpsetPlan", "UpsetFire", "simulate_plan", "simulate_with_upsets", "fire_upsets"]


# ---------------------------------------------------------------------------------
# the register


class StateRegister:
    """How a neuron-state register stores a value: float32 (``width=None``) or signed fixed
    point with ``width`` bits, ``frac_bits`` of them fractional."""

    def __init__(self, width: int | None = None, frac_bits: int = 0) -> None:
        if width is not None and (isinstance(width, bool) or not isinstance(width, int) or not 2 <= width <= 32):
            raise FaultSpecError(f"register width must be null (float32) or an int in 2..32, got {width!r}")
        if isinstance(frac_bits, bool) or not isinstance(frac_bits, int) or frac_bits < 0:
            raise FaultSpecError(f"frac_bits must be an int >= 0, got {frac_bits!r}")
        if width is None and frac_bits:
            raise FaultSpecError("frac_bits applies to a fixed-point register (give width)")
        if width is not None and frac_bits >= width:
            raise FaultSpecError(f"frac_bits {frac_bits} must be below the width {width}")
        self.width, self.frac_bits = width, frac_bits

    @property
    def bits(self) -> int:
        """Bits of the register (32 for float32)."""
        return 32 if self.width is None else self.width

    def describe(self) -> str:
        return "float32" if self.width is None else f"fixed point {self.width} bits ({self.frac_bits} fractional)"

    def flip(self, x: torch.Tensor, bits: Sequence[int]) -> torch.Tensor:
        """``x`` with ``bits`` of its stored encoding flipped (a new tensor, ``x``'s dtype)."""
        mask = 0
        for b in bits:
            mask |= 1 << b
        return self.flip_mask(x, self.signed_mask(mask))

    def signed_mask(self, mask: int) -> int:
        """The XOR mask ``mask`` (bits ``0 .. bits-1``) as :meth:`flip_mask` takes it: a float32
        register's as a signed int32 value."""
        return mask - (1 << 32) if self.width is None and mask >= 1 << 31 else mask

    def flip_mask(self, x: torch.Tensor, mask: int | torch.Tensor) -> torch.Tensor:
        """``x`` with its stored encoding XOR ``mask`` (:meth:`signed_mask`): one mask for all, or
        a tensor of masks broadcast against ``x`` (int32 for float32, int64 for fixed point)."""
        if self.width is None:  # the IEEE-754 binary32 encoding (a float64 value rounded to float32 first)
            pattern = x.to(torch.float32).contiguous().view(torch.int32)
            return torch.bitwise_xor(pattern, mask).view(torch.float32).to(x.dtype)
        w, f = self.width, self.frac_bits
        finite = torch.isfinite(x)
        scaled = torch.where(finite, x.double() * 2.0**f, torch.zeros_like(x, dtype=torch.float64))
        q = torch.round(scaled).clamp(-(2.0 ** (w - 1)), 2.0 ** (w - 1) - 1).to(torch.int64)
        stored = torch.bitwise_xor(torch.bitwise_and(q, (1 << w) - 1), mask)
        flipped = torch.where(stored >= 1 << (w - 1), stored - (1 << w), stored)
        delta = (flipped - q).double() * 2.0**-f
        return torch.where(finite, (x.double() + delta).to(x.dtype), x)


# ---------------------------------------------------------------------------------
# the simulation with upsets


class UpsetPlan:
    """The upsets of several faults' neurons, laid out as the columns of one ``(B, K, T)``
    tensor: ``parts`` gives each fault's model and its number of neurons (consecutive
    columns, in order). Built once per call, on the host: per step with upsets, the slice of
    one column-index tensor and one mask tensor (both copied to ``device`` once)."""

    def __init__(self, parts: Sequence[tuple[NeuronStateUpset, int]], device: torch.device | str) -> None:
        if not parts:
            raise ValueError("an upset plan needs at least one model")
        first = parts[0][0]
        self.state, self.register = first.state, first.register
        key = _register_key(first)
        if any(_register_key(m) != key for m, _ in parts):
            raise ValueError("an upset plan takes models of one state and one register format")
        self.columns = sum(k for _, k in parts)
        entries: dict[int, list[tuple[int, int, int]]] = {}  # step -> [(first column, count, mask)]
        offset = 0
        for model, k in parts:
            for t, bits in model.upsets:
                mask = 0
                for b in bits:
                    mask |= 1 << b
                entries.setdefault(t, []).append((offset, k, self.register.signed_mask(mask)))
            offset += k
        cols: list[int] = []
        masks: list[int] = []
        #: per step with upsets, ascending: (step, start, end) into :attr:`cols`/:attr:`masks`,
        #: or (step, -1, mask) when every column is upset with the same mask
        self.by_step: list[tuple[int, int, int]] = []
        for t in sorted(entries):
            runs = entries[t]
            if sum(k for _, k, _ in runs) == self.columns and len({m for _, _, m in runs}) == 1:
                self.by_step.append((t, -1, runs[0][2]))
                continue
            start = len(cols)
            for first_col, k, mask in runs:
                cols.extend(range(first_col, first_col + k))
                masks.extend([mask] * k)
            self.by_step.append((t, start, len(cols)))
        host = torch.tensor(cols + masks, dtype=torch.long)
        device = torch.device(device)
        on_device = host.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else host
        self.cols = on_device[:len(cols)]
        self.masks = on_device[len(cols):].to(torch.int32 if self.register.width is None else torch.int64)

    @property
    def last_step(self) -> int:
        return self.by_step[-1][0] if self.by_step else -1


def _register_key(model: NeuronStateUpset) -> tuple[str, int | None, int]:
    return model.state, model.register.width, model.register.frac_bits


def simulate_plan(u: torch.Tensor, theta: float, ref: torch.Tensor, ts: float, plan: UpsetPlan,
                  stretches: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """SLAYER's threshold and refractory loop with the upsets of ``plan``: ``(spikes, u_after)``.

    ``u``: membrane potentials ``(B, K, T)`` of the faulty neurons (their ``psp``), column
    ``k`` carrying the plan's upsets of column ``k`` in every sample. Every step is one set
    of operations on all ``B * K`` neurons (a step with upsets adds one gather, flip and
    scatter over the columns it upsets); with ``stretches`` (default: where the fused CUDA
    kernel runs, :mod:`spikefi.snn.cuda.spike_kernel`) a stretch of more than two steps
    without upsets runs the golden spiking function
    (:func:`spikefi.snn.functional._simulate_spikes`) instead, and the refractory response of
    its last spikes is then added to the steps after it. Every potential gets the same
    additions in the same order as in :func:`spikefi.snn.functional._simulate_spikes_torch`
    (a refractory kernel added at its firing step, earliest firing first), so the result is
    bit-identical to that loop with the upsets applied at their steps.
    """
    from ..snn.functional import _fused, _simulate_spikes

    steps = u.shape[-1]
    if u.dim() != 3 or u.shape[1] != plan.columns:
        raise ValueError(f"the potentials must be (B, {plan.columns}, T), got {tuple(u.shape)}")
    if plan.last_step >= steps:
        bad = [t for t, _, _ in plan.by_step if t >= steps]
        raise FaultSpecError(f"upset step(s) {bad} out of range: the input has T = {steps} steps; "
                             f"allowed 0..{steps - 1}")
    x = u.detach().clone(memory_format=torch.contiguous_format)
    psp = u.detach() if plan.state == "refractory" else None
    fired = torch.zeros_like(x)
    ref = ref.to(dtype=u.dtype, device=u.device)
    klen = ref.numel()
    if stretches is None:
        fused = _fused() if x.is_cuda and x.dtype in (torch.float32, torch.float64) else None
        stretches = fused is not None and klen <= fused[1]

    def step(t: int) -> None:  # threshold at t, its refractory response to the steps after
        fired[..., t] = x[..., t] >= theta
        hi = min(t + klen - 1, steps - 1)
        if hi > t:
            x[..., t + 1:hi + 1].addcmul_(ref[1:hi - t + 1], fired[..., t:t + 1])

    def golden(a: int, c: int) -> None:  # steps a .. c-1 (no upsets)
        if not stretches or c - a <= 2:
            for t in range(a, c):
                step(t)
            return
        _, u_after = _simulate_spikes(x[..., a:c].clone(), theta, ref, ts)  # (its own memory)
        x[..., a:c] = u_after
        fired[..., a:c] = u_after >= theta
        for s in range(max(a, c - klen + 1), c):  # the responses beyond c, earliest firing first
            hi = min(s + klen - 1, steps - 1)
            if hi >= c:
                x[..., c:hi + 1].addcmul_(ref[c - s:hi - s + 1], fired[..., s:s + 1])

    cursor = 0
    for t, start, end in plan.by_step:
        golden(cursor, t)
        cols: Any = slice(None) if start < 0 else plan.cols[start:end]
        mask: int | torch.Tensor = end if start < 0 else plan.masks[start:end]
        if psp is None:
            x[:, cols, t] = plan.register.flip_mask(x[:, cols, t], mask)
        else:  # r[t]: the refractory responses of the earlier spikes, from 0, earliest first
            r = torch.zeros_like(x[:, cols, t])
            for s in range(max(0, t - klen + 1), t):
                r.addcmul_(ref[t - s:t - s + 1], fired[:, cols, s])
            x[:, cols, t] = psp[:, cols, t] + plan.register.flip_mask(r, mask)
        step(t)
        cursor = t + 1
    golden(cursor, steps)
    fired.mul_(1.0 / ts)  # 0 or the spike value (a Python scalar: no host-to-device copy)
    return fired, x


def simulate_with_upsets(u: torch.Tensor, theta: float, ref: torch.Tensor, ts: float,
                         upsets: Mapping[int, Sequence[int]], state: str,
                         register: StateRegister) -> tuple[torch.Tensor, torch.Tensor]:
    """SLAYER's threshold and refractory loop with upsets: ``(spikes, u_after)``.

    ``u``: membrane potentials ``(..., T)`` of the faulty neurons (their ``psp``);
    ``upsets``: ``{step: bits}`` flipped at that step in the ``state`` register
    (``membrane`` or ``refractory``), in every neuron. At every other step the arithmetic
    is the golden loop's (:func:`spikefi.snn.functional._simulate_spikes_torch`): same
    operations, same order, so the result is bit-identical there (see :func:`simulate_plan`).
    """
    shape = u.shape
    items = sorted((int(t), bits) for t, bits in upsets.items() if len(bits))
    if not items:
        from ..snn.functional import _simulate_spikes_torch

        return _simulate_spikes_torch(u, theta, ref, ts)
    steps, bits = zip(*items, strict=True)
    model = _STATES[state]([[int(b) for b in bs] for bs in bits], list(steps), register.width,
                           register.frac_bits)
    flat = u.reshape(1, -1, shape[-1])
    spikes, u_after = simulate_plan(flat, theta, ref, ts, UpsetPlan([(model, flat.shape[1])], u.device))
    return spikes.reshape(shape), u_after.reshape(shape)


class _UpsetSpike(torch.autograd.Function):
    """Spikes with upsets; the gradient is SLAYER's surrogate on the upset potential."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor, plan: UpsetPlan, neuron: dict[str, Any],  # type: ignore[override]
                ref: torch.Tensor, ts: float) -> torch.Tensor:
        spikes, u_after = simulate_plan(u, float(neuron["theta"]), ref, ts, plan)
        ctx.save_for_backward(u_after)
        ctx.neuron = neuron
        return spikes

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:  # type: ignore[override]
        from ..snn.functional import surrogate_pdf

        (u_after,) = ctx.saved_tensors
        n = ctx.neuron
        return grad * surrogate_pdf(u_after, n["theta"], n["tauRho"], n["scaleRho"]), None, None, None, None


def fire_upsets(slayer: Any, parts: Sequence[tuple[NeuronStateUpset, int]], a: torch.Tensor) -> torch.Tensor:
    """Spikes ``(B, K, T)`` of the golden spiking layer ``slayer`` for synaptic outputs ``a``
    ``(B, K, T)`` whose consecutive column blocks carry the upsets of ``parts`` (model,
    number of columns): several faults of one layer in one simulation (:class:`UpsetPlan`)."""
    plan = UpsetPlan(parts, a.device)
    return _UpsetSpike.apply(slayer.psp(a), plan, slayer.neuron, slayer.refKernel, float(slayer.Ts))


class UpsetFire:
    """The faulty neurons' spiking function of one neuron-state upset model for the golden
    spiking layer ``slayer``: ``(B, k, T)`` synaptic outputs to ``(B, k, T)`` spikes.
    Faults whose :attr:`batch_key` is equal run together through :func:`fire_upsets`."""

    def __init__(self, slayer: Any, model: NeuronStateUpset) -> None:
        self.slayer, self.model = slayer, model

    @property
    def batch_key(self) -> tuple[int, str, int | None, int]:
        return (id(self.slayer), *_register_key(self.model))

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        return fire_upsets(self.slayer, [(self.model, a.shape[1])], a)


# ---------------------------------------------------------------------------------
# the models


def _steps(value: Any, what: str) -> list[int]:
    values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(values, Sequence) or isinstance(values, str) or not values
            or any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in values)):
        raise FaultSpecError(f"{what} steps must be a time step or a list of them (ints >= 0), got {value!r}")
    if len(set(values)) != len(values):
        raise FaultSpecError(f"{what} steps must be distinct, got {list(values)!r}")
    return list(values)


def _bit_set(value: Any, limit: int, what: str) -> tuple[int, ...]:
    values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(values, Sequence) or isinstance(values, str) or not values
            or any(isinstance(b, bool) or not isinstance(b, int) for b in values)):
        raise FaultSpecError(f"{what} bits must be an int or a non-empty list of ints, got {value!r}")
    if len(set(values)) != len(values):
        raise FaultSpecError(f"{what} bits must be distinct, got {list(values)!r}")
    if any(not 0 <= b < limit for b in values):
        raise FaultSpecError(f"{what} bit index out of range in {list(values)!r}; allowed 0..{limit - 1}")
    return tuple(sorted(values))


class NeuronStateUpset(ParametricFaultModel):
    """Transient bit flips of a neuron-state register of SLAYER neurons at given steps.

    Args:
        bits: the flipped bits: one index or a list (flipped together at every step), or one
            list per step (``[[30], [3, 4]]`` with ``steps=[5, 9]``).
        steps: the time steps (``0 .. T-1``) of the upsets.
        width: ``None``: a float32 register; else a signed fixed-point register of ``width``
            bits (2..32) ...
        frac_bits: ... with this many fractional bits.
    """

    #: the register: ``membrane`` or ``refractory``
    state: ClassVar[str]

    def __init__(self, bits: int | Sequence[int] | Sequence[Sequence[int]], steps: int | Sequence[int],
                 width: int | None = None, frac_bits: int = 0) -> None:
        what = type(self).__name__
        self.register = StateRegister(width, frac_bits)
        step_list = _steps(steps, what)
        per_step = isinstance(bits, Sequence) and not isinstance(bits, str) and len(bits) > 0 and all(
            isinstance(b, Sequence) and not isinstance(b, str) for b in bits)
        if per_step:
            if len(bits) != len(step_list):  # type: ignore[arg-type]
                raise FaultSpecError(f"{what} gives {len(bits)} bit lists for {len(step_list)} steps; "  # type: ignore[arg-type]
                                     "one list per step")
            sets = [_bit_set(b, self.register.bits, what) for b in bits]  # type: ignore[union-attr]
        else:
            sets = [_bit_set(bits, self.register.bits, what)] * len(step_list)
        self.upsets: tuple[tuple[int, tuple[int, ...]], ...] = tuple(sorted(zip(step_list, sets, strict=True)))

    @property
    def upsets_by_step(self) -> dict[int, tuple[int, ...]]:
        return dict(self.upsets)

    @property
    def bits(self) -> list[int]:
        """Every flipped bit (for the result table's ``bits`` column)."""
        return sorted({b for _, bits in self.upsets for b in bits})

    @property
    def steps(self) -> list[int]:
        return [t for t, _ in self.upsets]

    def params(self) -> dict[str, Any]:
        sets = [list(b) for _, b in self.upsets]
        same = all(s == sets[0] for s in sets)
        bits: Any = (sets[0][0] if len(sets[0]) == 1 else sets[0]) if same else sets
        steps: Any = self.steps[0] if len(self.upsets) == 1 else self.steps
        return {"bits": bits, "steps": steps, "width": self.register.width, "frac_bits": self.register.frac_bits}

    def scalar_parameter(self) -> tuple[str, float]:
        flipped = {b for _, bits in self.upsets for b in bits}
        return ("bit", float(flipped.pop())) if len(flipped) == 1 else ("upset_bits", float(
            sum(len(b) for _, b in self.upsets)))

    def faulty_neuron(self, neuron: Mapping[str, Any]) -> dict[str, Any]:
        raise FaultSpecError(f"{self.name} upsets the state of SLAYER neurons (a campaign re-simulates them); "
                             "it has no faulty neuron parameters")

    def slayer_fire(self, slayer: Any) -> UpsetFire:
        """The faulty neurons' spiking function for the golden spiking layer ``slayer``:
        ``(B, k, T)`` synaptic outputs to ``(B, k, T)`` spikes."""
        return UpsetFire(slayer, self)

    def check_steps(self, steps: int) -> None:
        bad = [t for t in self.steps if t >= steps]
        if bad:
            raise FaultSpecError(f"{self.name} step(s) {bad} out of range: the campaign's inputs have T = {steps} "
                                 f"steps; allowed 0..{steps - 1}")


class MembraneUpset(NeuronStateUpset):
    """A transient upset of the membrane potential: ``u[t] <- flip(u[t])`` before the
    threshold comparison at each step ``t`` (see :class:`NeuronStateUpset` for the arguments)."""

    state: ClassVar[str] = "membrane"


class RefractoryUpset(NeuronStateUpset):
    """A transient upset of the refractory state: ``u[t] <- psp[t] + flip(r[t])`` at each step
    ``t``, ``r[t]`` the summed refractory response of the neuron's earlier spikes (0 before its
    first spike). See :class:`NeuronStateUpset` for the arguments."""

    state: ClassVar[str] = "refractory"


# ---------------------------------------------------------------------------------
# soft errors of the neuron state


_STATES: dict[str, type[NeuronStateUpset]] = {"membrane": MembraneUpset, "refractory": RefractoryUpset}


class StateSoftErrors(FaultModel):
    """Soft errors of the neuron-state registers of SLAYER layers at a bit-error rate: one
    Monte-Carlo draw of upsets per round.

    The registers are one per neuron and time step (``state``: the membrane potential or the
    refractory state), each of ``bits`` cells (32 for float32, ``width`` in fixed point). Every
    cell is upset with probability ``p = 1 - exp(-rate * exposure)``; a round draws
    ``K ~ Binomial(N, p)`` (``N = neurons * T * bits`` of the layers concerned) and ``K``
    distinct cells uniformly from the round's generator (campaign seed, round id, fault
    index), and turns them into :class:`MembraneUpset` / :class:`RefractoryUpset` faults of
    the neurons hit. The draw applies to every sample of the round.

    Args:
        rate: upsets per bit per unit of exposure (>= 0).
        exposure: the exposure of one register during one time step, in the rate's unit
            (e.g. the duration of a step in hours for a rate per bit per hour).
        state: ``membrane`` or ``refractory``.
        width, frac_bits: the register (see :class:`NeuronStateUpset`).
    """

    target: ClassVar[str] = "parametric"
    #: a campaign resolves it (:meth:`resolve`); site resolution alone cannot
    chooses_own_cells: ClassVar[bool] = True

    def __init__(self, rate: float, exposure: float = 1.0, state: str = "membrane", width: int | None = None,
                 frac_bits: int = 0) -> None:
        self.rate = _finite_nonneg("StateSoftErrors rate", rate)
        self.exposure = _finite_nonneg("StateSoftErrors exposure", exposure)
        if self.rate * self.exposure == 0:
            raise FaultSpecError("StateSoftErrors with rate or exposure 0 upsets nothing")
        if state not in _STATES:
            raise FaultSpecError(f"StateSoftErrors state must be one of {list(_STATES)}, got {state!r}")
        self.state = state
        self.register = StateRegister(width, frac_bits)

    @property
    def stochastic(self) -> bool:  # type: ignore[override]
        return True

    @property
    def probability(self) -> float:
        """Probability that one register cell is upset during one step."""
        return float(-math.expm1(-self.rate * self.exposure))

    def params(self) -> dict[str, Any]:
        return {"rate": self.rate, "exposure": self.exposure, "state": self.state,
                "width": self.register.width, "frac_bits": self.register.frac_bits}

    def scalar_parameter(self) -> tuple[str, float]:
        return "state_upset_probability", self.probability

    def resolve(self, layers: Sequence[Any], steps: int, rng: np.random.Generator, timing: Any) -> list[Any]:
        """The round's faults: ``layers`` (LayerInfo, network order) with ``steps`` time steps."""
        from .sites import ResolvedFault

        nbits = self.register.bits
        sizes = [info.neurons for info in layers]
        total = sum(sizes) * steps * nbits
        k = int(rng.binomial(total, self.probability))
        if k == 0:
            return []
        hits: dict[tuple[int, int], dict[int, int]] = {}  # (layer, neuron) -> {step: mask}
        bounds = np.cumsum(sizes)
        for cell in sorted(int(c) for c in rng.choice(total, size=k, replace=False)):
            rest, bit = divmod(cell, nbits)
            neuron, step = divmod(rest, steps)
            layer = int(np.searchsorted(bounds, neuron, side="right"))
            local = neuron - (int(bounds[layer - 1]) if layer else 0)
            masks = hits.setdefault((layer, local), {})
            masks[step] = masks.get(step, 0) | (1 << bit)
        groups: dict[tuple[int, tuple[tuple[int, int], ...]], list[int]] = {}
        for (layer, local), masks in sorted(hits.items()):
            groups.setdefault((layer, tuple(sorted(masks.items()))), []).append(local)
        cls = _STATES[self.state]
        out = []
        for (layer, pattern), locals_ in sorted(groups.items()):
            info = layers[layer]
            model = cls([[b for b in range(nbits) if m >> b & 1] for _, m in pattern], [t for t, _ in pattern],
                        self.register.width, self.register.frac_bits)
            positions = tuple(tuple(int(v) for v in np.unravel_index(n, info.neuron_shape)) for n in locals_)
            out.append(ResolvedFault(model, info.name, positions, timing, self))
        return out


def _finite_nonneg(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise FaultSpecError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


_REGISTRY.update({cls.__name__: cls for cls in (MembraneUpset, RefractoryUpset, StateSoftErrors)})
