"""Torch stages of an imported NIR network, in spikefi's time-last layout ``(N, C, H, W, T)``.

Synaptic stages (:class:`AffineStage`, :class:`Conv2dStage` — also NIR ``Conv1d`` as a
``(k, 1)`` kernel —, :class:`Pool2dStage`, :class:`FlattenStage`, :class:`ScaleStage`,
:class:`DelayStage`) act on every time step at once. Neuron stages (:class:`LIFStage`,
:class:`CubaLIFStage`, :class:`IFStage`, :class:`ThresholdStage`, and the non-spiking
readouts :class:`LIStage`, :class:`CubaLIStage`, :class:`IntegratorStage`) step through time with forward-Euler updates whose discrete
coefficients were computed once at import (see :mod:`spikefi.nir.loader` for how each
convention maps NIR's continuous-time parameters to them). Every parameter is per neuron,
stored as a buffer of shape ``(C, H, W)``.

Firing is strict (``v > v_threshold``). When autograd records the input, spikes are the
same 0/1 values as floats with a fast-sigmoid surrogate derivative (:data:`SURROGATE_SLOPE`;
the reset takes no gradient): what input generation for test programs optimises through.
``reset`` is ``"value"`` (NIR's semantics: set to
``v_reset``), ``"subtract"`` (subtract ``v_threshold``) or ``"none"``. With the
``snntorch`` convention the reset follows snnTorch's order (see each stage).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

__all__ = ["AffineStage", "Conv2dStage", "Pool2dStage", "FlattenStage", "ScaleStage", "DelayStage", "NeuronStage",
           "LIFStage", "CubaLIFStage", "IFStage", "ThresholdStage", "LIStage", "CubaLIStage", "IntegratorStage",
           "RESETS"]

#: reset mechanisms a spiking stage accepts
RESETS = ("value", "subtract", "none")


class AffineStage(nn.Module):
    """``y = W x + b`` on features, for dense inputs ``(N, F, 1, 1, T)``.

    Args:
        weight: ``(out, in)``.
        bias: ``(out,)`` or ``None`` (NIR ``Linear``).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the affine map at every time step."""
        n, _, _, _, t = x.shape
        y = F.linear(x.reshape(n, -1, t).transpose(1, 2), self.weight, self.bias)
        return y.transpose(1, 2).reshape(n, -1, 1, 1, t)


def _per_frame(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W, T)`` -> ``(N*T, C, H, W)``."""
    n, c, h, w, t = x.shape
    return x.permute(0, 4, 1, 2, 3).reshape(n * t, c, h, w)


def _time_last(y: torch.Tensor, n: int) -> torch.Tensor:
    """``(N*T, C, H, W)`` -> ``(N, C, H, W, T)``."""
    return y.reshape(n, -1, *y.shape[1:]).permute(0, 2, 3, 4, 1)


class Conv2dStage(nn.Module):
    """2-D convolution of every time step (NIR ``Conv2d``).

    Args:
        weight: ``(out, in/groups, kh, kw)``.
        bias: ``(out,)`` or ``None``.
        stride, padding, dilation, groups: as :func:`torch.nn.functional.conv2d`.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
                 padding: tuple[int, int] | str, dilation: tuple[int, int], groups: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve each time step."""
        y = F.conv2d(_per_frame(x), self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return _time_last(y, x.shape[0])


class Pool2dStage(nn.Module):
    """Sum (NIR ``SumPool2d``) or average (NIR ``AvgPool2d``) pooling of every time step.

    Args:
        mode: ``sum`` or ``avg``.
        kernel_size, stride, padding: as :func:`torch.nn.functional.avg_pool2d`.
    """

    def __init__(self, mode: str, kernel_size: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int]) -> None:
        super().__init__()
        self.mode, self.kernel_size, self.stride, self.padding = mode, kernel_size, stride, padding

    def extra_repr(self) -> str:
        return f"{self.mode}, kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool each time step (sums are exact: no division)."""
        y = F.avg_pool2d(_per_frame(x), self.kernel_size, self.stride, self.padding,
                         divisor_override=1 if self.mode == "sum" else None)
        return _time_last(y, x.shape[0])


class FlattenStage(nn.Module):
    """``(N, C, H, W, T)`` -> ``(N, C*H*W, 1, 1, T)`` in C, H, W order (NIR ``Flatten``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Flatten the neuron dimensions."""
        return x.reshape(x.shape[0], -1, 1, 1, x.shape[-1])


def _check_features(stage: nn.Module, x: torch.Tensor, per: torch.Tensor) -> None:
    """Per-feature parameters ``per`` ``(C, H, W)`` must match ``x``'s neuron dimensions."""
    if per.dim() and tuple(x.shape[1:4]) != tuple(per.shape):
        from .errors import NIRShapeError

        raise NIRShapeError(
            f"{type(stage).__name__} has per-feature parameters of shape {tuple(per.shape)} but is fed "
            f"{tuple(x.shape[1:4])} (a subset of channels cannot be mapped back to its features)"
        )


class ScaleStage(nn.Module):
    """``y = scale * x`` elementwise per feature (NIR ``Scale``), at every time step.

    Args:
        scale: ``(C, H, W)`` per feature, or a 0-d tensor when every feature has the same scale
            (the stage then takes any shape, e.g. a campaign's subset of channels).
    """

    def __init__(self, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale)

    def extra_repr(self) -> str:
        return f"scale={tuple(self.scale.shape) or float(self.scale)}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale every time step."""
        _check_features(self, x, self.scale)
        return x * (self.scale[..., None] if self.scale.dim() else self.scale)


class DelayStage(nn.Module):
    """``y[..., t] = x[..., t - d]`` (zeros for ``t < d``) with ``d`` whole time steps per
    feature (NIR ``Delay``; ``d = delay/dt``).

    Args:
        steps: ``(C, H, W)`` int64 per feature, or a 0-d tensor for one delay shared by all
            features (the stage then takes any shape).
    """

    def __init__(self, steps: torch.Tensor) -> None:
        super().__init__()
        if bool(torch.any(steps < 0)):
            raise ValueError("DelayStage: delays must be >= 0 steps")
        self.register_buffer("steps", steps.to(torch.int64))

    def extra_repr(self) -> str:
        return f"steps={tuple(self.steps.shape) or int(self.steps)}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shift every feature's train ``d`` steps later (exact: values are only moved)."""
        _check_features(self, x, self.steps)
        t = x.shape[-1]
        if not self.steps.dim():
            d = min(int(self.steps), t)
            if d == 0:
                return x
            return torch.cat([torch.zeros_like(x[..., :d]), x[..., : t - d]], dim=-1)
        src = torch.arange(t, device=x.device) - self.steps[..., None]  # (C, H, W, T)
        valid = src >= 0
        moved = torch.gather(x, -1, src.clamp(min=0).expand(x.shape).contiguous())
        return torch.where(valid, moved, torch.zeros_like(moved))


#: slope of the surrogate derivative ``1 / (1 + SLOPE*|v - v_threshold|)**2`` (fast sigmoid)
SURROGATE_SLOPE = 10.0


class _SpikeFunction(torch.autograd.Function):
    """Heaviside ``u > 0`` forward; the fast-sigmoid derivative backward."""

    @staticmethod
    def forward(ctx: object, u: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(u)  # type: ignore[attr-defined]
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (u,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad / (1.0 + SURROGATE_SLOPE * u.abs()) ** 2


def _emit(v: torch.Tensor, threshold: torch.Tensor, spk: torch.Tensor) -> torch.Tensor:
    """The step's output: the bool spikes, or (when autograd records ``v``) the same 0/1
    values as floats that carry a surrogate gradient (input generation of test programs)."""
    if v.requires_grad and torch.is_grad_enabled():
        return _SpikeFunction.apply(v - threshold)
    return spk


def _gain(values: torch.Tensor | None) -> torch.Tensor | None:
    """``None`` where every gain is exactly 1 (the multiplication is skipped)."""
    if values is None or bool(torch.all(values == 1)):
        return None
    return values


class NeuronStage(nn.Module):
    """Common part of the neuron stages: threshold, reset and the time loop.

    Args:
        convention: ``snntorch``, ``norse`` or ``euler`` (selects the update order).
        v_threshold: per-neuron threshold ``(C, H, W)`` (``None`` for non-spiking stages).
        v_reset: per-neuron reset value ``(C, H, W)``.
        v_leak: per-neuron leak (resting) potential ``(C, H, W)``; also the initial membrane.
        reset: ``value``, ``subtract`` or ``none``.
    """

    spiking: bool = True

    def __init__(self, convention: str, v_threshold: torch.Tensor | None, v_reset: torch.Tensor,
                 v_leak: torch.Tensor, reset: str = "value") -> None:
        super().__init__()
        self.convention = convention
        self.reset = reset
        self.register_buffer("v_threshold", v_threshold)
        self.register_buffer("v_reset", v_reset)
        self.register_buffer("v_leak", v_leak)
        self.leaky = bool(torch.any(v_leak != 0))
        # fault hooks (set on the engine's copies of faulty neurons only; a healthy stage has none)
        #: an offset added to the neuron's input (a shifted bias), per neuron
        self.register_buffer("input_offset", None)
        #: ``None``, ``"none"`` (the membrane never decays) or ``"full"`` (it forgets each step)
        self.leak_mode: str | None = None
        #: ``(bits, steps)``: the float32 membrane's ``bits`` are flipped before those time steps
        self.membrane_flip: tuple[tuple[int, ...], frozenset[int]] | None = None

    def extra_repr(self) -> str:
        return f"neurons={tuple(self.v_leak.shape)}, convention={self.convention}, reset={self.reset}"

    def init_state(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        """Initial state for one time step's input ``like`` ``(N, C, H, W)``."""
        return {"v": self.v_leak.expand_as(like).clone()}

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """One time step: update ``state`` in place and return the output (spikes or ``v``)."""
        raise NotImplementedError

    def _fire(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Spikes ``v > v_threshold`` and the membrane after the (immediate) reset (the reset
        takes no gradient)."""
        spk = v > self.v_threshold
        out = _emit(v, self.v_threshold, spk)
        if self.reset == "value":
            v = torch.where(spk, self.v_reset, v)
        elif self.reset == "subtract":
            v = v - spk.to(v.dtype) * self.v_threshold
        return out, v

    def _membrane(self, v: torch.Tensor, drive: torch.Tensor, decay: torch.Tensor,
                  leak: torch.Tensor | None) -> torch.Tensor:
        """The membrane after one update with input term ``drive`` (leak faults applied)."""
        mode = self.leak_mode
        if self.convention == "snntorch":
            if mode is None:
                v = decay * v + drive
                return v if leak is None else v + leak
            return v + drive if mode == "none" else self.v_leak + drive
        if mode is None:
            return v + decay * ((self.v_leak - v) + drive)
        return v + decay * drive if mode == "none" else self.v_leak + decay * drive

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run all time steps of ``x`` ``(N, C, H, W, T)``; returns the same shape."""
        if self.input_offset is not None:
            x = x + self.input_offset[..., None]
        state = self.init_state(x[..., 0])
        if self.membrane_flip is None:
            out = [self.step(x[..., t], state) for t in range(x.shape[-1])]
        else:
            from ..faults.quantization import flip_bits_float32

            bits, steps = self.membrane_flip
            out = []
            for t in range(x.shape[-1]):
                if t in steps:
                    state["v"] = flip_bits_float32(state["v"], list(bits))
                out.append(self.step(x[..., t], state))
        return torch.stack(out, dim=-1).to(x.dtype)


class LIFStage(NeuronStage):
    """Leaky integrate-and-fire (NIR ``LIF``).

    * ``snntorch``: ``v = beta*v + g*x`` (+ ``(1-beta)*v_leak``), then fire and reset — exactly
      snnTorch ``Leaky`` with ``reset_mechanism="zero"`` (its reset of the next step's
      starting membrane equals resetting right after the spike). ``reset="subtract"``
      follows snnTorch: the threshold is subtracted after the next step's decay; with
      ``reset_delay=False`` (snnTorch's ``Leaky(reset_delay=False)``) right after the spike.
    * ``norse`` / ``euler``: ``v = v + a*((v_leak - v) + g*x)``, fire, reset (Norse ``LIFBoxCell``).

    Args:
        decay: ``beta`` (``snntorch``) or ``a = dt/tau`` (``norse``/``euler``), ``(C, H, W)``.
        gain: input gain ``(C, H, W)``, ``None`` for 1.
        leak: ``(1-beta)*v_leak`` for ``snntorch`` (``None`` when ``v_leak`` is 0).
    """

    def __init__(self, convention: str, decay: torch.Tensor, gain: torch.Tensor | None,
                 v_threshold: torch.Tensor, v_reset: torch.Tensor, v_leak: torch.Tensor,
                 leak: torch.Tensor | None = None, reset: str = "value", reset_delay: bool = True) -> None:
        super().__init__(convention, v_threshold, v_reset, v_leak, reset)
        self.reset_delay = bool(reset_delay)
        self.register_buffer("decay", decay)
        self.register_buffer("gain", _gain(gain))
        self.register_buffer("leak", leak if self.leaky else None)

    def init_state(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        state = super().init_state(like)
        state["pending"] = torch.zeros_like(like)  # snnTorch's delayed subtraction
        return state

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        v = state["v"]
        inp = x if self.gain is None else self.gain * x
        if self.convention == "snntorch":
            v = self._membrane(v, inp, self.decay, self.leak)
            if self.reset == "subtract" and not self.reset_delay:
                return _snntorch_undelayed(self, v, state)
            if self.reset == "subtract":
                v = v - state["pending"] * self.v_threshold
                spk = v > self.v_threshold
                state["pending"] = spk.to(v.dtype)
                state["v"] = v
                return _emit(v, self.v_threshold, spk)
        else:
            v = self._membrane(v, inp, self.decay, None)
        spk, state["v"] = self._fire(v)
        return spk


def _snntorch_undelayed(stage: NeuronStage, v: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
    """snnTorch's ``reset_delay=False`` step after the membrane update ``v``, in its own order:
    a reset still pending from the stored membrane (``stored > threshold``) applies first, then
    the neuron fires and ``spk - pending`` more resets apply at once (to ``v_reset`` or by
    subtracting the threshold); ``state["v"]`` keeps the membrane after that reset."""
    pending = (state["v"] > stage.v_threshold).to(v.dtype)
    if stage.reset == "value":
        v = torch.where(pending.bool(), stage.v_reset, v)
    elif stage.reset == "subtract":
        v = v - pending * stage.v_threshold
    spk = v > stage.v_threshold
    out = _emit(v, stage.v_threshold, spk)
    more = (spk.to(v.dtype) - pending).detach()
    if stage.reset == "value":
        v = v - more * (v - stage.v_reset)
    elif stage.reset == "subtract":
        v = v - more * stage.v_threshold
    state["v"] = v
    state["spk"] = spk
    return out


def _register_current(stage: NeuronStage, syn_decay: torch.Tensor, mem_decay: torch.Tensor,
                      syn_gain: torch.Tensor | None, gain: torch.Tensor | None, leak: torch.Tensor | None) -> None:
    """The buffers of a current-based neuron (CubaLIF, CubaLI)."""
    stage.register_buffer("syn_decay", syn_decay)
    stage.register_buffer("mem_decay", mem_decay)
    stage.register_buffer("syn_gain", _gain(syn_gain))
    stage.register_buffer("gain", _gain(gain))
    stage.register_buffer("leak", leak if stage.leaky else None)


def _current_in(stage: NeuronStage, x: torch.Tensor, i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A current-based neuron's synaptic current after this step's input, and the membrane's
    drive ``g*i`` (Norse's decay of the current comes after the membrane update)."""
    inp = x if stage.syn_gain is None else stage.syn_gain * x
    if stage.convention == "snntorch":
        i = stage.syn_decay * i + inp
    elif stage.convention == "norse":
        i = i + inp
    else:
        i = i + stage.syn_decay * (inp - i)
    return i, (i if stage.gain is None else stage.gain * i)


class CubaLIFStage(NeuronStage):
    """Current-based LIF (NIR ``CubaLIF``): a synaptic current ``i`` feeding a LIF membrane.

    * ``snntorch`` (snnTorch ``Synaptic``, ``reset_mechanism="zero"``):
      ``i = alpha*i + g_in*x``; ``v = beta*v + g*i`` with the *updated* current; a neuron that
      spiked at the previous step has its membrane set to ``v_reset`` for this whole step
      (snnTorch zeroes the new membrane), then fires on ``v > v_threshold``. With
      ``reset_delay=False`` (snnTorch's ``Synaptic(reset_delay=False)``) the membrane is reset
      right after the spike instead, so the neuron may fire again at the next step.
    * ``norse`` (Norse ``LIFCell``): ``i = i + g_in*x``; ``v = v + a_mem*((v_leak - v) + g*i)``;
      fire and reset; then the current decays ``i = i + b_syn*i`` with ``b_syn = -dt/tau_syn``.
    * ``euler``: ``i = i + a_syn*(g_in*x - i)``; ``v = v + a_mem*((v_leak - v) + g*i)``; fire, reset.

    Args:
        syn_decay: ``alpha`` (``snntorch``), ``b_syn`` (``norse``) or ``a_syn`` (``euler``).
        mem_decay: ``beta`` (``snntorch``) or ``a_mem`` (others).
        syn_gain: input gain into the current (``w_in`` scaled by the convention), ``None`` for 1.
        gain: gain from current to membrane, ``None`` for 1.
        leak: ``(1-beta)*v_leak`` for ``snntorch``.
    """

    def __init__(self, convention: str, syn_decay: torch.Tensor, mem_decay: torch.Tensor,
                 syn_gain: torch.Tensor | None, gain: torch.Tensor | None, v_threshold: torch.Tensor,
                 v_reset: torch.Tensor, v_leak: torch.Tensor, leak: torch.Tensor | None = None,
                 reset: str = "value", reset_delay: bool = True) -> None:
        super().__init__(convention, v_threshold, v_reset, v_leak, reset)
        self.reset_delay = bool(reset_delay)
        _register_current(self, syn_decay, mem_decay, syn_gain, gain, leak)

    def init_state(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        state = super().init_state(like)
        state["i"] = torch.zeros_like(like)
        state["spk"] = torch.zeros_like(like, dtype=torch.bool)
        return state

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        v, (i, drive) = state["v"], _current_in(self, x, state["i"])
        if self.convention == "snntorch":
            v = self._membrane(v, drive, self.mem_decay, self.leak)
            if not self.reset_delay:
                state["i"] = i
                return _snntorch_undelayed(self, v, state)
            prev = state["spk"]
            if self.reset == "value":
                v = torch.where(prev, self.v_reset, v)
            elif self.reset == "subtract":
                v = v - prev.to(v.dtype) * self.v_threshold
            spk = v > self.v_threshold
            state.update(v=v, i=i, spk=spk)
            return _emit(v, self.v_threshold, spk)
        v = self._membrane(v, drive, self.mem_decay, None)
        if self.convention == "norse":
            i = i + self.syn_decay * i
        spk, state["v"] = self._fire(v)
        state["i"] = i
        return spk


class IFStage(NeuronStage):
    """Integrate-and-fire (NIR ``IF``): ``v = v + g*x``, fire, reset (every convention).

    Args:
        gain: ``r`` (``snntorch``/``norse``) or ``r*dt`` (``euler``), ``None`` for 1.
    """

    def __init__(self, convention: str, gain: torch.Tensor | None, v_threshold: torch.Tensor,
                 v_reset: torch.Tensor, reset: str = "value") -> None:
        super().__init__(convention, v_threshold, v_reset, torch.zeros_like(v_threshold), reset)
        self.register_buffer("gain", _gain(gain))

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        v = state["v"] + (x if self.gain is None else self.gain * x)
        spk, state["v"] = self._fire(v)
        return spk


class LIStage(NeuronStage):
    """Leaky integrator readout (NIR ``LI``): outputs its membrane, never fires.

    ``snntorch``: ``v = beta*v + g*x`` (+ leak); ``norse``/``euler``: ``v = v + a*((v_leak - v) + g*x)``.

    Args:
        decay: ``beta`` or ``a`` as for :class:`LIFStage`.
        gain: input gain, ``None`` for 1.
        leak: ``(1-beta)*v_leak`` for ``snntorch``.
    """

    spiking = False

    def __init__(self, convention: str, decay: torch.Tensor, gain: torch.Tensor | None,
                 v_leak: torch.Tensor, leak: torch.Tensor | None = None) -> None:
        super().__init__(convention, None, torch.zeros_like(v_leak), v_leak, "none")
        self.register_buffer("decay", decay)
        self.register_buffer("gain", _gain(gain))
        self.register_buffer("leak", leak if self.leaky else None)

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        v = state["v"]
        inp = x if self.gain is None else self.gain * x
        if self.convention == "snntorch":
            v = self.decay * v + inp
            if self.leak is not None:
                v = v + self.leak
        else:
            v = v + self.decay * ((self.v_leak - v) + inp)
        state["v"] = v
        return v


class ThresholdStage(NeuronStage):
    """Stateless threshold (NIR ``Threshold``): spike where ``x > threshold``, per neuron.

    The input of a step is taken as the stage's membrane: ``input_offset`` shifts it and
    ``membrane_flip`` flips its float32 bits at the given steps before it is compared.
    There is no leak (``v_leak`` is 0, ``leak_mode`` does nothing) and no reset.

    Args:
        v_threshold: per-neuron threshold ``(C, H, W)``.
    """

    def __init__(self, v_threshold: torch.Tensor) -> None:
        zeros = torch.zeros_like(v_threshold)
        super().__init__("euler", v_threshold, zeros, zeros, "none")

    def extra_repr(self) -> str:
        return f"neurons={tuple(self.v_leak.shape)}"

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        state["v"] = x
        return _emit(x, self.v_threshold, x > self.v_threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All time steps at once (no state carries over)."""
        if self.input_offset is not None:
            x = x + self.input_offset[..., None]
        if self.membrane_flip is not None:
            from ..faults.quantization import flip_bits_float32

            bits, steps = self.membrane_flip
            x = x.clone()
            for t in sorted(steps):
                if 0 <= t < x.shape[-1]:
                    x[..., t] = flip_bits_float32(x[..., t], list(bits))
        threshold = self.v_threshold[..., None]
        return _emit(x, threshold, x > threshold).to(x.dtype)


class CubaLIStage(NeuronStage):
    """Current-based leaky integrator readout (NIR ``CubaLI``): :class:`CubaLIFStage`'s
    current and membrane updates without firing; outputs the membrane.

    * ``snntorch``: ``i = alpha*i + g_in*x``; ``v = beta*v + g*i`` (+ leak).
    * ``norse`` (Norse ``LICell``): ``i = i + g_in*x``; ``v = v + a_mem*((v_leak - v) + g*i)``;
      then ``i = i + b_syn*i``.
    * ``euler``: ``i = i + a_syn*(g_in*x - i)``; ``v = v + a_mem*((v_leak - v) + g*i)``.

    Args: as :class:`CubaLIFStage`, without threshold, reset and ``reset``.
    """

    spiking = False

    def __init__(self, convention: str, syn_decay: torch.Tensor, mem_decay: torch.Tensor,
                 syn_gain: torch.Tensor | None, gain: torch.Tensor | None, v_leak: torch.Tensor,
                 leak: torch.Tensor | None = None) -> None:
        super().__init__(convention, None, torch.zeros_like(v_leak), v_leak, "none")
        _register_current(self, syn_decay, mem_decay, syn_gain, gain, leak)

    def init_state(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        state = super().init_state(like)
        state["i"] = torch.zeros_like(like)
        return state

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        v, (i, drive) = state["v"], _current_in(self, x, state["i"])
        v = self._membrane(v, drive, self.mem_decay, self.leak if self.convention == "snntorch" else None)
        if self.convention == "norse":
            i = i + self.syn_decay * i
        state["v"], state["i"] = v, i
        return v


class IntegratorStage(NeuronStage):
    """Integrator readout (NIR ``I``, ``dv/dt = r*x``): ``v = v + g*x``; outputs ``v``.

    Args:
        gain: ``r`` (``snntorch``/``norse``, as :class:`IFStage`) or ``r*dt`` (``euler``),
            ``None`` for 1.
    """

    spiking = False

    def __init__(self, convention: str, gain: torch.Tensor | None, like: torch.Tensor) -> None:
        zeros = torch.zeros_like(like)
        super().__init__(convention, None, zeros, zeros, "none")
        self.register_buffer("gain", _gain(gain))

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        v = state["v"] + (x if self.gain is None else self.gain * x)
        state["v"] = v
        return v
