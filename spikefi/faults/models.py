"""Fault models: *what* a fault does, never per-run state.

Three kinds, by the part of a neuromorphic chip they break:

* :class:`NeuronFaultModel` — acts on the output spike train of faulty neurons
  (dead, saturated, stuck-at).
* :class:`SynapseFaultModel` — maps golden weights at faulty synapses to faulty weights
  (dead, stuck-at, saturated, perturbed, bit flips in quantized or float32 weights).
* :class:`ParametricFaultModel` — gives the neuron parameters of a faulty neuron
  (threshold, integration or refractory time constants changed by a factor). The faulty
  neuron behaves exactly as a SLAYER neuron with those parameters would: its SRM and
  refractory kernels are recomputed from them (a ``theta`` fault therefore also scales
  the refractory kernel ``-scaleRef * theta * ...``) and so is its surrogate gradient
  (``scaleRho / (tauRho * theta) * exp(-|u - theta| / (tauRho * theta))``).

Users add models by subclassing one of these and referring to them from YAML in one of
two ways (:mod:`spikefi.plugins`): by dotted path (``my_package.my_module.MyModel``) in a
config or call they give directly, or by a name registered through the entry-point group
``spikefi.fault_models``, which also works in specs read back from results and tracked
runs (those never import a dotted path). Every evaluation mode runs them.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import FaultSpecError
from ..plugins import FAULT_MODELS_GROUP, load_object, registered_name
from .quantization import (
    QuantParams,
    _check_bits,
    _check_codes,
    dequantize_codes,
    flip_bits_float32,
    flip_codes,
    quantize,
)

__all__ = [
    "FaultModel",
    "NeuronFaultModel",
    "SynapseFaultModel",
    "ParametricFaultModel",
    "SynapseContext",
    "DeadNeuron",
    "SaturatedNeuron",
    "StuckNeuron",
    "ParametricNeuron",
    "NeuronStageFaultModel",
    "NeuronDrift",
    "NoReset",
    "LeakFault",
    "BiasShift",
    "MembraneBitFlip",
    "DeadSynapse",
    "StuckSynapse",
    "SaturatedSynapse",
    "PerturbedSynapse",
    "BitFlipSynapse",
    "FloatBitFlipSynapse",
    "RandomModel",
    "model_from_spec",
    "model_registry",
    "model_class",
]


def _finite(name: str, value: Any, *, positive: bool = False, nonnegative: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FaultSpecError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise FaultSpecError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise FaultSpecError(f"{name} must be > 0, got {value!r}")
    if nonnegative and value < 0:
        raise FaultSpecError(f"{name} must be >= 0, got {value!r}")
    return value


class FaultModel(ABC):
    """Base of every fault model.

    Subclasses set ``target`` (``"neuron"``, ``"synapse"`` or ``"parametric"``) and
    implement the method of their kind. ``params()`` returns the constructor arguments
    (JSON-compatible), so that ``type(m)(**m.params())`` rebuilds the model.
    """

    target: ClassVar[str]
    #: a model drawing random numbers gets a per-(round, sample) uniform noise tensor
    stochastic: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return type(self).__name__

    def params(self) -> dict[str, Any]:
        return {}

    def scalar_parameter(self) -> tuple[str, float]:
        """``(name, value)`` of the model's main numeric parameter, for tables and plots."""
        return "", float("nan")

    def spec(self) -> dict[str, Any]:
        """A YAML-able description: ``{"model": <built-in name, registered name or dotted path>, **params}``."""
        cls = type(self)
        if _REGISTRY.get(cls.__name__) is cls:
            name = cls.__name__
        else:
            name = registered_name(cls, FAULT_MODELS_GROUP) or f"{cls.__module__}.{cls.__qualname__}"
        return {"model": name, **self.params()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{self.name}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params() == other.params()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self), repr(self.params())))


class NeuronFaultModel(FaultModel):
    """A fault of the neuron's output: maps its spike train to a faulty spike train."""

    target: ClassVar[str] = "neuron"

    @abstractmethod
    def apply(self, spikes: torch.Tensor, spike_value: float, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Faulty spike trains.

        Args:
            spikes: spike trains of the faulty neurons, ``(..., T)``, values ``{0, 1/Ts}``.
            spike_value: the value of one spike (``1/Ts``).
            noise: for ``stochastic`` models, uniform ``[0, 1)`` numbers shaped like
                ``spikes``, drawn per (campaign seed, round, sample).
        """


class SynapseFaultModel(FaultModel):
    """A fault of a synapse weight: maps golden weights to faulty weights."""

    target: ClassVar[str] = "synapse"
    #: whether the model needs a quantized golden network (``SynapseContext.qparams``)
    needs_quantization: ClassVar[bool] = False
    #: ``faulty_weights`` maps each site on its own (the faulty values of several sites'
    #: weights in one call equal those of one call per site, for one layer's context), and
    #: ``params()`` describes the model entirely. The engines then prepare many rounds of
    #: the model in one call. Read from the class itself: a subclass declares it again.
    elementwise: ClassVar[bool] = False

    @abstractmethod
    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        """Faulty values of the weights ``golden`` (1-D, one per faulty synapse)."""


class ParametricFaultModel(FaultModel):
    """A fault of a neuron's parameters: returns the faulty neuron's SLAYER description."""

    target: ClassVar[str] = "parametric"

    @abstractmethod
    def faulty_neuron(self, neuron: Mapping[str, Any]) -> dict[str, Any]:
        """The ``neuron`` section (theta, tauSr, ...) of the faulty neuron."""


@dataclass(frozen=True)
class SynapseContext:
    """What a synapse model may look at besides the golden weights of its sites."""

    layer_weight: torch.Tensor
    qparams: QuantParams | None = None
    #: the quantized codes of the faulty synapses (quantized campaigns), in site order
    site_codes: torch.Tensor | None = None
    #: ``site_codes`` come from the campaign's own quantization (in range by construction):
    #: models may skip the range check, which reads the codes back (a GPU synchronisation)
    codes_in_range: bool = False

    def codes(self, golden: torch.Tensor, qp: QuantParams) -> torch.Tensor:
        """The sites' integer codes under ``qp``: ``site_codes`` (range-checked unless
        :attr:`codes_in_range`), or ``golden`` quantized (in range by construction)."""
        if self.site_codes is None:
            return quantize(golden, qp)
        return self.site_codes if self.codes_in_range else _check_codes(self.site_codes, qp)


# ---------------------------------------------------------------------------------
# neuron output faults


class DeadNeuron(NeuronFaultModel):
    """The neuron never spikes."""

    def apply(self, spikes: torch.Tensor, spike_value: float, noise: torch.Tensor | None = None) -> torch.Tensor:
        return torch.zeros_like(spikes)


class SaturatedNeuron(NeuronFaultModel):
    """The neuron spikes at every time step."""

    def apply(self, spikes: torch.Tensor, spike_value: float, noise: torch.Tensor | None = None) -> torch.Tensor:
        return torch.full_like(spikes, spike_value)


class StuckNeuron(NeuronFaultModel):
    """The neuron's output is stuck: a fixed pattern or random spikes of a fixed rate.

    Args:
        probability: spike probability per time step (draws depend only on the campaign
            seed, the round and the sample).
        pattern: a 0/1 sequence repeated over time (e.g. ``[1, 0, 0]``: every third step).
            Exactly one of ``probability`` and ``pattern`` is given.
    """

    def __init__(self, probability: float | None = None, pattern: Sequence[int] | None = None) -> None:
        if (probability is None) == (pattern is None):
            raise FaultSpecError("StuckNeuron needs exactly one of probability= or pattern=")
        if probability is not None:
            probability = _finite("StuckNeuron probability", probability)
            if not 0 <= probability <= 1:
                raise FaultSpecError(f"StuckNeuron probability must be in [0, 1], got {probability!r}")
        if pattern is not None:
            pattern = [int(v) for v in pattern]
            if not pattern or any(v not in (0, 1) for v in pattern):
                raise FaultSpecError(f"StuckNeuron pattern must be a non-empty 0/1 sequence, got {pattern!r}")
        self.probability = probability
        self.pattern = pattern

    @property
    def stochastic(self) -> bool:  # type: ignore[override]
        return self.probability is not None

    def params(self) -> dict[str, Any]:
        return {"probability": self.probability} if self.probability is not None else {"pattern": list(self.pattern or [])}

    def scalar_parameter(self) -> tuple[str, float]:
        if self.probability is not None:
            return "probability", self.probability
        return "pattern_rate", sum(self.pattern or []) / len(self.pattern or [1])

    def apply(self, spikes: torch.Tensor, spike_value: float, noise: torch.Tensor | None = None) -> torch.Tensor:
        zero = torch.zeros((), dtype=spikes.dtype, device=spikes.device)
        value = torch.tensor(spike_value, dtype=spikes.dtype, device=spikes.device)
        if self.probability is not None:
            if noise is None:
                raise FaultSpecError("StuckNeuron(probability=...) needs the engine's noise tensor")
            return torch.where(noise < self.probability, value, zero)
        steps = spikes.shape[-1]
        reps = -(-steps // len(self.pattern or [1]))
        pattern = torch.tensor((self.pattern or [0]) * reps, device=spikes.device)[:steps].bool()
        return torch.where(pattern, value, zero).expand_as(spikes).clone()


# ---------------------------------------------------------------------------------
# parametric neuron faults

_PARAMETERS = ("theta", "tauSr", "tauRef", "scaleRef")


class ParametricNeuron(ParametricFaultModel):
    """One neuron parameter multiplied by ``factor`` for the faulty neuron only.

    Args:
        parameter: ``theta`` (threshold), ``tauSr`` (integration), ``tauRef`` or
            ``scaleRef`` (refractory).
        factor: multiplier (> 0; ``scaleRef`` also allows 0: no refractoriness).
    """

    def __init__(self, parameter: str, factor: float) -> None:
        if parameter not in _PARAMETERS:
            raise FaultSpecError(f"parameter {parameter!r} is not a neuron parameter; allowed: {list(_PARAMETERS)}")
        factor = _finite(f"{parameter} factor", factor, nonnegative=parameter == "scaleRef",
                         positive=parameter != "scaleRef")
        self.parameter = parameter
        self.factor = factor

    def params(self) -> dict[str, Any]:
        return {"parameter": self.parameter, "factor": self.factor}

    def scalar_parameter(self) -> tuple[str, float]:
        return f"{self.parameter}_factor", self.factor

    def faulty_neuron(self, neuron: Mapping[str, Any]) -> dict[str, Any]:
        faulty = dict(neuron)
        faulty[self.parameter] = neuron[self.parameter] * self.factor
        return faulty


# ---------------------------------------------------------------------------------
# parametric faults of NIR neuron stages (networks from spikefi.nir.load)

_STAGE_PARAMETERS = ("v_threshold", "v_reset", "v_leak", "tau_mem", "tau_syn", "gain")


class NeuronStageFaultModel(ParametricFaultModel):
    """A fault of the per-neuron parameters of a NIR neuron stage (LIF, CubaLIF, IF).

    The engine hands :meth:`change_stage` a copy of the layer's neuron stage restricted to the
    faulty neurons; the model replaces parameters of that copy (never of the network).
    """

    def faulty_neuron(self, neuron: Mapping[str, Any]) -> dict[str, Any]:
        raise FaultSpecError(f"{self.name} changes NIR neuron stages (networks from spikefi.nir.load); "
                             "SLAYER layers take ParametricNeuron")

    @abstractmethod
    def change_stage(self, stage: Any) -> Any:
        """Changes the restricted stage copy ``stage`` in place and returns it."""


def _set(stage: Any, key: str, value: torch.Tensor) -> None:
    stage._buffers[key] = value  # noqa: SLF001 - the engine's private copy of the stage


class NeuronDrift(NeuronStageFaultModel):
    """A drifted parameter of a NIR neuron: ``new = old * factor + offset``.

    Args:
        parameter: ``v_threshold``, ``v_reset``, ``v_leak`` (these take ``factor`` and
            ``offset``); ``tau_mem``, ``tau_syn`` (CubaLIF) or ``gain`` (input gain:
            ``r``, or ``w_in`` for CubaLIF), which take ``factor`` only.
        factor: multiplier (> 0 for time constants).
        offset: added after the multiplication (potentials only).

    A time constant changes the stage's discrete coefficients as NIR's equations say: in
    snnTorch's convention ``beta' = 1 - (1 - beta) / factor`` and the input gain
    ``dt/tau`` is divided by ``factor`` too; in Norse's and the Euler convention the
    update rate ``dt/tau`` is divided by ``factor``. ``factor`` 1 and ``offset`` 0 are refused.
    """

    def __init__(self, parameter: str, factor: float = 1.0, offset: float = 0.0) -> None:
        if parameter not in _STAGE_PARAMETERS:
            raise FaultSpecError(f"parameter {parameter!r} is not a NIR neuron parameter; allowed: {list(_STAGE_PARAMETERS)}")
        timing = parameter.startswith("tau")
        factor = _finite(f"{parameter} factor", factor, positive=timing)
        offset = _finite(f"{parameter} offset", offset)
        if offset and not parameter.startswith("v_"):
            raise FaultSpecError(f"{parameter} takes a factor only (offset is for v_threshold, v_reset, v_leak), "
                                 f"got offset={offset!r}")
        if factor == 1.0 and offset == 0.0:
            raise FaultSpecError(f"NeuronDrift({parameter!r}) with factor 1 and offset 0 changes nothing")
        self.parameter, self.factor, self.offset = parameter, factor, offset

    def params(self) -> dict[str, Any]:
        return {"parameter": self.parameter, "factor": self.factor, "offset": self.offset}

    def scalar_parameter(self) -> tuple[str, float]:
        if self.offset and self.factor == 1.0:
            return f"{self.parameter}_offset", self.offset
        return f"{self.parameter}_factor", self.factor

    def change_stage(self, stage: Any) -> Any:
        kind, p, f = type(stage).__name__, self.parameter, self.factor
        buffers = stage._buffers  # noqa: SLF001
        snntorch = stage.convention == "snntorch"

        def need(key: str) -> torch.Tensor:
            value = buffers.get(key)
            if value is None:
                raise FaultSpecError(f"NeuronDrift({p!r}) does not apply to a {kind} neuron")
            return value

        if p == "v_reset" and stage.reset != "value":
            raise FaultSpecError(f"NeuronDrift('v_reset') acts on neurons that reset to v_reset; this {kind} resets "
                                 f"by {stage.reset!r}")
        if p == "v_leak" and kind not in ("LIFStage", "CubaLIFStage"):
            raise FaultSpecError(f"NeuronDrift('v_leak') needs a LIF or CubaLIF neuron, got {kind}")
        if p == "gain" and kind not in ("LIFStage", "CubaLIFStage", "IFStage"):
            raise FaultSpecError(f"NeuronDrift('gain') needs a LIF, CubaLIF or IF neuron, got {kind}")
        if p in ("v_threshold", "v_reset"):
            _set(stage, p, need(p) * f + self.offset)
        elif p == "v_leak":
            new = need("v_leak") * f + self.offset
            _set(stage, "v_leak", new)
            if snntorch and kind in ("LIFStage", "CubaLIFStage"):
                decay = need("decay" if kind == "LIFStage" else "mem_decay")
                _set(stage, "leak", (1 - decay) * new)
        elif p in ("tau_mem", "tau_syn"):
            if p == "tau_mem" and kind not in ("LIFStage", "CubaLIFStage"):
                raise FaultSpecError(f"NeuronDrift('tau_mem') needs a LIF or CubaLIF neuron, got {kind}")
            if p == "tau_syn" and kind != "CubaLIFStage":
                raise FaultSpecError(f"NeuronDrift('tau_syn') needs a CubaLIF neuron, got {kind}")
            key = "decay" if kind == "LIFStage" else ("mem_decay" if p == "tau_mem" else "syn_decay")
            gain_key = "syn_gain" if p == "tau_syn" else "gain"
            decay = need(key)
            if snntorch:
                new = 1 - (1 - decay) / f
                gain = buffers.get(gain_key)
                _set(stage, gain_key, (torch.ones_like(decay) if gain is None else gain) / f)
                if p == "tau_mem" and buffers.get("leak") is not None:
                    _set(stage, "leak", (1 - new) * buffers["v_leak"])
            else:
                new = decay / f
            _set(stage, key, new)
        else:  # gain
            key = "syn_gain" if kind == "CubaLIFStage" else "gain"
            gain = buffers.get(key)
            _set(stage, key, (torch.ones_like(stage.v_leak) if gain is None else gain) * f)
        return stage


class NoReset(NeuronStageFaultModel):
    """The NIR neuron's reset is broken: after a spike its membrane keeps its value."""

    def change_stage(self, stage: Any) -> Any:
        if getattr(stage, "v_threshold", None) is None or stage.reset == "none":
            raise FaultSpecError(f"NoReset needs a spiking neuron that resets, got {type(stage).__name__} "
                                 f"(reset {stage.reset!r})")
        stage.reset = "none"
        return stage


class LeakFault(NeuronStageFaultModel):
    """The NIR neuron's leak is broken (LIF, CubaLIF membrane).

    Args:
        mode: ``none`` — the membrane never decays towards ``v_leak`` (it integrates its
            input as an IF neuron would, with the same input gain); ``full`` — it keeps no
            memory: each step it starts again from ``v_leak``.
    """

    def __init__(self, mode: str) -> None:
        if mode not in ("none", "full"):
            raise FaultSpecError(f"LeakFault mode must be 'none' or 'full', got {mode!r}")
        self.mode = mode

    def params(self) -> dict[str, Any]:
        return {"mode": self.mode}

    def change_stage(self, stage: Any) -> Any:
        if type(stage).__name__ not in ("LIFStage", "CubaLIFStage"):
            raise FaultSpecError(f"LeakFault needs a LIF or CubaLIF neuron, got {type(stage).__name__}")
        stage.leak_mode = self.mode
        return stage


class BiasShift(NeuronStageFaultModel):
    """A constant ``offset`` added to the neuron's input at every step: its bias (an
    ``Affine``/``Conv2d`` bias, or a bias the neuron should not have) is shifted."""

    def __init__(self, offset: float) -> None:
        self.offset = _finite("BiasShift offset", offset)
        if self.offset == 0:
            raise FaultSpecError("BiasShift offset 0 changes nothing")

    def params(self) -> dict[str, Any]:
        return {"offset": self.offset}

    def scalar_parameter(self) -> tuple[str, float]:
        return "offset", self.offset

    def change_stage(self, stage: Any) -> Any:
        base = stage._buffers.get("input_offset")  # noqa: SLF001
        shift = torch.full_like(stage.v_leak, self.offset)
        _set(stage, "input_offset", shift if base is None else base + shift)
        return stage


class MembraneBitFlip(NeuronStageFaultModel):
    """Transient upsets of the membrane potential: ``bits`` of its float32 encoding are
    flipped right before each of the time ``steps`` (bit 31 is the sign, 23-30 the exponent).

    Args:
        bits: one bit index or distinct indices in ``[0, 32)`` (several: one multi-bit upset).
        steps: the time steps (``0 .. T-1``) at which the upset happens.
    """

    def __init__(self, bits: int | Sequence[int], steps: int | Sequence[int]) -> None:
        self.bits = _bits(bits, 32, "MembraneBitFlip")
        steps = [steps] if isinstance(steps, int) and not isinstance(steps, bool) else steps
        if not isinstance(steps, Sequence) or not steps or any(
                isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in steps):
            raise FaultSpecError(f"MembraneBitFlip steps must be time steps (ints >= 0), got {steps!r}")
        self.steps = sorted(set(steps))

    def params(self) -> dict[str, Any]:
        return {"bits": list(self.bits), "steps": list(self.steps)}

    def scalar_parameter(self) -> tuple[str, float]:
        return "bit", float(self.bits[0]) if len(self.bits) == 1 else float("nan")

    def change_stage(self, stage: Any) -> Any:
        if getattr(stage, "v_threshold", None) is None:
            raise FaultSpecError(f"MembraneBitFlip needs a spiking neuron, got {type(stage).__name__}")
        stage.membrane_flip = (tuple(self.bits), frozenset(self.steps))
        return stage


# ---------------------------------------------------------------------------------
# synapse faults


class DeadSynapse(SynapseFaultModel):
    """The synapse weight is 0."""

    elementwise: ClassVar[bool] = True

    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        return torch.zeros_like(golden)


class StuckSynapse(SynapseFaultModel):
    """The synapse weight is stuck at ``value``."""

    elementwise: ClassVar[bool] = True

    def __init__(self, value: float) -> None:
        self.value = _finite("StuckSynapse value", value)

    def params(self) -> dict[str, Any]:
        return {"value": self.value}

    def scalar_parameter(self) -> tuple[str, float]:
        return "value", self.value

    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        return torch.full_like(golden, self.value)


class SaturatedSynapse(SynapseFaultModel):
    """The weight becomes an outlier of its layer's weight distribution (IQR fences).

    ``upper``: ``Q3 + k * IQR``; ``lower``: ``Q1 - k * IQR``, with ``k = 1.5`` (mild) or
    ``3`` (extreme), quartiles of all weights of the layer (linear interpolation).
    """

    elementwise: ClassVar[bool] = True

    def __init__(self, side: str = "upper", severity: str = "extreme") -> None:
        if side not in ("upper", "lower"):
            raise FaultSpecError(f"SaturatedSynapse side must be 'upper' or 'lower', got {side!r}")
        if severity not in ("mild", "extreme"):
            raise FaultSpecError(f"SaturatedSynapse severity must be 'mild' or 'extreme', got {severity!r}")
        self.side = side
        self.severity = severity

    def params(self) -> dict[str, Any]:
        return {"side": self.side, "severity": self.severity}

    def outlier(self, layer_weight: torch.Tensor) -> float:
        w = layer_weight.detach().double().flatten().cpu().numpy()
        q1, q3 = np.quantile(w, [0.25, 0.75])
        k = 1.5 if self.severity == "mild" else 3.0
        return float(q3 + k * (q3 - q1)) if self.side == "upper" else float(q1 - k * (q3 - q1))

    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        return torch.full_like(golden, self.outlier(context.layer_weight))


class PerturbedSynapse(SynapseFaultModel):
    """The weight is multiplied by ``factor`` (any finite number)."""

    elementwise: ClassVar[bool] = True

    def __init__(self, factor: float) -> None:
        self.factor = _finite("PerturbedSynapse factor", factor)

    def params(self) -> dict[str, Any]:
        return {"factor": self.factor}

    def scalar_parameter(self) -> tuple[str, float]:
        return "factor", self.factor

    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        return golden * self.factor


def _bits(bits: int | Sequence[int], limit: int | None, what: str) -> list[int]:
    values = [bits] if isinstance(bits, int) and not isinstance(bits, bool) else list(bits)
    if not values or any(isinstance(b, bool) or not isinstance(b, int) for b in values):
        raise FaultSpecError(f"{what} bits must be an int or a non-empty list of ints, got {bits!r}")
    if len(set(values)) != len(values):
        raise FaultSpecError(f"{what} bits must be distinct, got {values!r}")
    if limit is not None and any(not 0 <= b < limit for b in values):
        raise FaultSpecError(f"{what} bit index out of range in {values!r}; allowed 0..{limit - 1}")
    return sorted(values)


class _BitFlips:
    """What both bit-flip models share: one bit, or several bits flipped *together*.

    A list of bits is one **multi-bit upset** (every listed bit of the same weight flips in
    the same fault), named as such in tables (``param_name`` ``multi_bit_upset``, ``bits``
    ``0+3+5``). For one round per bit, use ``per_bit=True`` in an exhaustive campaign.
    """

    bits: list[int]

    @property
    def multi_bit(self) -> bool:
        """Whether one fault flips several bits at once (a multi-bit upset)."""
        return len(self.bits) > 1

    def params(self) -> dict[str, Any]:
        return {"bits": self.bits[0] if len(self.bits) == 1 else list(self.bits)}

    def scalar_parameter(self) -> tuple[str, float]:
        if self.multi_bit:
            return "multi_bit_upset", float("nan")
        return "bit", float(self.bits[0])

    def split_bits(self) -> list[FaultModel]:
        """One single-bit model per bit (same class), in bit order: the per-bit sweep."""
        return [type(self)(b) for b in self.bits]  # type: ignore[call-arg]


class BitFlipSynapse(_BitFlips, SynapseFaultModel):
    """Flips bits of the quantized weight code (int8/uint8/int32 affine quantization).

    Needs a quantized campaign: the golden network's weights are
    ``dequantize(quantize(w))``, so flipping bit ``b`` changes a weight by exactly
    ``±2**b * scale`` (the sign bit of a signed code by ``∓2**(bits-1) * scale``).
    ``bits=[0, 3]`` is one multi-bit upset flipping both bits of the same weight.
    """

    needs_quantization: ClassVar[bool] = True
    elementwise: ClassVar[bool] = True

    def __init__(self, bits: int | Sequence[int]) -> None:
        self.bits = _bits(bits, 32, "BitFlipSynapse")

    def check_quantization(self, qparams: QuantParams) -> None:
        _bits(self.bits, qparams.bits, f"BitFlipSynapse ({qparams.dtype})")

    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        if context.qparams is None:
            raise FaultSpecError("BitFlipSynapse needs a quantized campaign (quantization: {dtype: int8, ...})")
        qp = context.qparams
        flips = _check_bits(self.bits, qp.bits, f"{qp.dtype} codes")
        return dequantize_codes(flip_codes(context.codes(golden, qp), flips, qp), qp, golden.dtype)


class FloatBitFlipSynapse(_BitFlips, SynapseFaultModel):
    """Flips bits of the IEEE-754 float32 encoding of the weight.

    Bits 0–22 are the mantissa, 23–30 the exponent, 31 the sign. A flip can give ±Inf or
    NaN weights; the engine then follows IEEE arithmetic: a +Inf membrane potential
    crosses the threshold (spikes), -Inf never does, and a NaN potential never spikes
    (``NaN >= theta`` is false). Downstream the NaN or Inf does not propagate through
    spikes, which stay ``{0, 1/Ts}``. ``bits=[30, 31]`` is one multi-bit upset.
    """

    elementwise: ClassVar[bool] = True

    def __init__(self, bits: int | Sequence[int]) -> None:
        self.bits = _bits(bits, 32, "FloatBitFlipSynapse")

    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        return flip_bits_float32(golden, self.bits)


# ---------------------------------------------------------------------------------
# random choice among models


class RandomModel:
    """A random choice among models, drawn once per fault when the campaign is built.

    Args:
        models: candidate models, all of the same target kind.
        probabilities: their probabilities (default: uniform); must sum to 1.
    """

    def __init__(self, models: Sequence[FaultModel], probabilities: Sequence[float] | None = None) -> None:
        if not models:
            raise FaultSpecError("RandomModel needs at least one model")
        targets = {m.target for m in models}
        if len(targets) != 1:
            raise FaultSpecError(f"RandomModel models must share one target kind, got {sorted(targets)}")
        probs = [1 / len(models)] * len(models) if probabilities is None else [float(p) for p in probabilities]
        if len(probs) != len(models) or any(not math.isfinite(p) or p < 0 for p in probs) or abs(sum(probs) - 1) > 1e-9:
            raise FaultSpecError(f"probabilities must be {len(models)} non-negative numbers summing to 1, got {probabilities!r}")
        self.models = list(models)
        self.probabilities = probs
        self.target = targets.pop()

    def draw(self, rng: np.random.Generator) -> FaultModel:
        return self.models[int(rng.choice(len(self.models), p=self.probabilities))]

    def spec(self) -> dict[str, Any]:
        return {"model": "RandomModel", "models": [m.spec() for m in self.models], "probabilities": self.probabilities}


_REGISTRY: dict[str, type[FaultModel]] = {
    cls.__name__: cls
    for cls in (DeadNeuron, SaturatedNeuron, StuckNeuron, ParametricNeuron, NeuronDrift, NoReset, LeakFault, BiasShift,
                MembraneBitFlip, DeadSynapse, StuckSynapse,
                SaturatedSynapse, PerturbedSynapse, BitFlipSynapse, FloatBitFlipSynapse)
}


def model_registry() -> dict[str, type[FaultModel]]:
    """Built-in models by name."""
    return dict(_REGISTRY)


def model_class(name: Any, *, allow_import: bool = True) -> type[FaultModel]:
    """A fault model class by built-in name, registered name (entry-point group
    ``spikefi.fault_models``) or dotted path (``package.module.Class``).

    Args:
        name: the ``model`` value of a spec.
        allow_import: whether a dotted path may be imported (True for a config or call the
            user gives directly; False for specs read back from results and tracked runs,
            which then accept built-in and registered models only). An imported object is
            checked to be a FaultModel subclass right after the import.

    Raises:
        FaultSpecError: unknown name, a refused or broken dotted path, or not a FaultModel.
    """
    return load_object(name, group=FAULT_MODELS_GROUP, what="fault model", check=_is_model_class,
                       expected="a FaultModel subclass", builtins=_REGISTRY, allow_import=allow_import,
                       error=FaultSpecError)


def _is_model_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, FaultModel)


def model_from_spec(spec: Mapping[str, Any] | str, *, allow_import: bool = True) -> FaultModel | RandomModel:
    """Builds a model from ``{"model": name-or-dotted-path, **params}`` (or a bare name).

    ``allow_import``: see :func:`model_class` (False for specs read back from stored results).
    """
    if isinstance(spec, str):
        spec = {"model": spec}
    if not isinstance(spec, Mapping) or "model" not in spec:
        raise FaultSpecError(f"a fault model spec needs a 'model' key, got {spec!r}")
    name = spec["model"]
    kwargs = {k: v for k, v in spec.items() if k != "model"}
    if name == "RandomModel":
        models = [model_from_spec(m, allow_import=allow_import) for m in kwargs.get("models", [])]
        return RandomModel(models, kwargs.get("probabilities"))  # type: ignore[arg-type]
    cls = model_class(name, allow_import=allow_import)
    _check_parameters(cls, name, kwargs)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise FaultSpecError(f"bad parameters {kwargs} for fault model {name!r}: {exc}") from None


def _check_parameters(cls: type, name: Any, kwargs: Mapping[str, Any]) -> None:
    """Unknown or missing constructor parameters, named with the allowed ones."""
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return
    params = [p for p in list(sig.parameters.values())[1:]
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    allowed = [p.name for p in params]
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise FaultSpecError(f"unknown parameter(s) {unknown} for fault model {name!r}; allowed: {allowed}")
    missing = [p.name for p in params if p.default is p.empty and p.name not in kwargs]
    if missing:
        raise FaultSpecError(f"missing parameter(s) {missing} for fault model {name!r}; allowed: {allowed}")
