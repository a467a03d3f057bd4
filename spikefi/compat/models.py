"""SpikeFI 1.3's fault library (``spikefi.models``), each model mapped to a native one.

=============================================  ==============================================
SpikeFI model                                  evaluated as (``spikefi.faults``)
=============================================  ==============================================
``DeadNeuron()``                               ``DeadNeuron()``
``SaturatedNeuron()``                          ``SaturatedNeuron()`` (a spike in every bin)
``StuckNeuron(x)``                             ``StuckNeuron(probability=x)``
``ParametricNeuron(p, percentage)``            ``ParametricNeuron(p, factor=percentage)``
``Integration/Refractory/ThresholdFault...``   ``ParametricNeuron("tauSr"/"tauRef"/"theta", .)``
``DeadSynapse()``                              ``DeadSynapse()``
``StuckSynapse(x)``                            ``StuckSynapse(x)``
``SaturatedSynapse(Q1, Q3, tail, intensity)``  ``StuckSynapse`` at the integer beyond the fence
``PerturbedSynapse(percentage)``               ``PerturbedSynapse(factor=percentage)``
``BitflippedSynapse(bit, scale, zp, dtype)``   :class:`AffineBitFlipSynapse` (same arguments)
=============================================  ==============================================

``percentage`` is the factor applied to the parameter or weight (``ThresholdFaultNeuron(3.)``:
theta x 3). Where SpikeFI draws a missing argument at random (``StuckNeuron()``,
``ParametricNeuron(p)``, ``PerturbedSynapse()``) or picks a model at random
(``RandomNeuron``, ``RandomSynapse``, ``RandomParametricNeuron``) the draw uses Python's
:mod:`random`, so ``random.seed`` fixes it.

Meaning of the neuron output models: SpikeFI overwrites the output with a constant value
(``1.`` for a saturated neuron, ``x`` for a stuck one); spikefi models spike trains, so a
saturated neuron spikes (``1/Ts``) in every time bin and a stuck neuron spikes with
probability ``x`` per bin (seeded per campaign, round and sample).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ..errors import FaultSpecError
from ..faults import DeadNeuron as NativeDeadNeuron
from ..faults import DeadSynapse as NativeDeadSynapse
from ..faults import FaultModel as NativeModel
from ..faults import ParametricNeuron as NativeParametricNeuron
from ..faults import PerturbedSynapse as NativePerturbedSynapse
from ..faults import SaturatedNeuron as NativeSaturatedNeuron
from ..faults import StuckNeuron as NativeStuckNeuron
from ..faults import StuckSynapse as NativeStuckSynapse
from ..faults import SynapseContext, SynapseFaultModel
from ..faults.quantization import QuantParams, dequantize, flip_bits_int, quantize
from .faults import FaultModel, FaultTarget
from .quantization import dtype_name

__all__ = [
    "DeadNeuron",
    "SaturatedNeuron",
    "StuckNeuron",
    "RandomNeuron",
    "ParametricNeuron",
    "IntegrationFaultNeuron",
    "RefractoryFaultNeuron",
    "ThresholdFaultNeuron",
    "RandomParametricNeuron",
    "DeadSynapse",
    "SaturatedSynapse",
    "StuckSynapse",
    "PerturbedSynapse",
    "BitflippedSynapse",
    "RandomSynapse",
    "RandomModelChoice",
    "RandomFaultModel",
    "AffineBitFlipSynapse",
]


def _number(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FaultSpecError(f"{name} must be a finite number, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------- neurons


class DeadNeuron(FaultModel):
    """The neuron never spikes."""

    def __init__(self) -> None:
        super().__init__(FaultTarget.OUTPUT, "set_value", 0.0)

    def native(self) -> NativeModel:
        return NativeDeadNeuron()


class SaturatedNeuron(FaultModel):
    """The neuron spikes in every time bin."""

    def __init__(self) -> None:
        super().__init__(FaultTarget.OUTPUT, "set_value", 1.0)

    def native(self) -> NativeModel:
        return NativeSaturatedNeuron()


class StuckNeuron(FaultModel):
    """The neuron's output is stuck: it spikes with probability ``x`` per time bin.

    Args:
        x: Value in ``[0, 1]``; ``None`` draws it with ``random.uniform(0, 1)``.

    Raises:
        FaultSpecError: If ``x`` is outside ``[0, 1]``.
    """

    def __init__(self, x: float | None = None) -> None:
        value = random.uniform(0, 1) if x is None else _number("StuckNeuron x", x)
        if not 0.0 <= value <= 1.0:
            raise FaultSpecError(f"StuckNeuron x must be in [0, 1], got {x!r}")
        super().__init__(FaultTarget.OUTPUT, "set_value", value)

    def native(self) -> NativeModel:
        return NativeStuckNeuron(probability=self.args[0])


class ParametricNeuron(FaultModel):
    """A neuron parameter multiplied by ``percentage`` for the faulty neuron only.

    Args:
        param_name: ``theta``, ``tauSr``, ``tauRef`` or ``scaleRef`` (others are refused
            at injection, by the native model).
        percentage: The factor; ``None`` draws it with ``random.uniform(0.1, 3.0)``.
    """

    def __init__(self, param_name: str, percentage: float | None = None) -> None:
        factor = random.uniform(0.1, 3.0) if percentage is None else _number("percentage", percentage)
        super().__init__(FaultTarget.PARAMETER, "set_value", {})
        self.param_name = param_name
        self.param_method = "mul_value"
        self.param_args = (factor,)

    def _key(self) -> tuple[Any, ...]:
        return type(self), self.target, self.param_name, self.param_args

    def native(self) -> NativeModel:
        return NativeParametricNeuron(self.param_name, self.param_args[0])

    def __repr__(self) -> str:
        return f"Fault Model '{self.get_name()}': {self.target}, {self.param_name} x {self.param_args[0]:g}"

    __str__ = __repr__


class IntegrationFaultNeuron(ParametricNeuron):
    """``tauSr`` (integration time constant) multiplied by ``percentage``."""

    def __init__(self, percentage: float | None = None) -> None:
        super().__init__("tauSr", percentage)


class RefractoryFaultNeuron(ParametricNeuron):
    """``tauRef`` (refractory time constant) multiplied by ``percentage``."""

    def __init__(self, percentage: float | None = None) -> None:
        super().__init__("tauRef", percentage)


class ThresholdFaultNeuron(ParametricNeuron):
    """``theta`` (threshold) multiplied by ``percentage``."""

    def __init__(self, percentage: float | None = None) -> None:
        super().__init__("theta", percentage)


# --------------------------------------------------------------------------- synapses


class DeadSynapse(FaultModel):
    """The weight is 0."""

    def __init__(self) -> None:
        super().__init__(FaultTarget.WEIGHT, "set_value", 0.0)

    def native(self) -> NativeModel:
        return NativeDeadSynapse()


class StuckSynapse(FaultModel):
    """The weight is stuck at ``x``."""

    def __init__(self, x: float) -> None:
        super().__init__(FaultTarget.WEIGHT, "set_value", _number("StuckSynapse x", x))

    def native(self) -> NativeModel:
        return NativeStuckSynapse(self.args[0])


class SaturatedSynapse(FaultModel):
    """The weight is set just beyond the IQR fence of the layer's weights.

    With ``IQR = Q3 - Q1`` and ``k = 1.5`` (mild) or ``3`` (extreme): ``upper`` sets the
    weight to ``ceil(Q3 + k * IQR) + 1``, ``lower`` to ``floor(Q1 - k * IQR) - 1`` (SpikeFI's
    rule; compute ``Q1``/``Q3`` e.g. with ``torch.quantile(layer.weight, 0.25)``).

    Raises:
        FaultSpecError: If ``tail`` or ``intensity`` is not one of the allowed words.
    """

    def __init__(self, Q1: float, Q3: float, tail: str = "lower", intensity: str = "mild") -> None:  # noqa: N803
        if tail not in ("upper", "lower"):
            raise FaultSpecError(f"SaturatedSynapse tail must be 'upper' or 'lower', got {tail!r}")
        if intensity not in ("mild", "extreme"):
            raise FaultSpecError(f"SaturatedSynapse intensity must be 'mild' or 'extreme', got {intensity!r}")
        q1, q3 = _number("Q1", Q1), _number("Q3", Q3)
        k = 3.0 if intensity == "extreme" else 1.5
        iqr = q3 - q1
        value = math.ceil(q3 + k * iqr) + 1 if tail == "upper" else math.floor(q1 - k * iqr) - 1
        super().__init__(FaultTarget.WEIGHT, "set_value", float(value))

    def native(self) -> NativeModel:
        return NativeStuckSynapse(self.args[0])


class PerturbedSynapse(FaultModel):
    """The weight multiplied by ``percentage`` (``None``: ``random.uniform(0.1, 3.0)``)."""

    def __init__(self, percentage: float | None = None) -> None:
        factor = random.uniform(0.1, 3.0) if percentage is None else _number("percentage", percentage)
        super().__init__(FaultTarget.WEIGHT, "mul_value", factor)

    def native(self) -> NativeModel:
        return NativePerturbedSynapse(self.args[0])


class AffineBitFlipSynapse(SynapseFaultModel):
    """Native model of SpikeFI's bit flip: the weight is quantized with the given affine
    parameters, the bits are flipped in the stored code and the code is read back.

    Unlike :class:`spikefi.faults.BitFlipSynapse` (which needs a quantized golden
    network) the golden weights stay in floating point; only the faulty synapse is
    quantized: ``dequantize(flip(quantize(w)))`` with ``q = clamp(round(w / scale) +
    zero_point)``.

    Args:
        bits: One bit index or several (flipped together), 0 = least significant.
        scale: Quantization step (> 0).
        zero_point: Code of the real value 0 (inside the dtype's range).
        dtype: ``"uint8"``, ``"int8"`` or ``"int32"`` (``torch.quint8``/``qint8``/``qint32``
            and ``torch.uint8``/``int8``/``int32`` are accepted too).

    Raises:
        FaultSpecError: If a parameter is out of range.
    """

    def __init__(self, bits: int | Sequence[int], scale: float, zero_point: int, dtype: Any) -> None:
        self.qparams = QuantParams(dtype_name(dtype), _number("scale", scale), zero_point)
        values = [bits] if isinstance(bits, int) and not isinstance(bits, bool) else list(bits)
        if not values or any(isinstance(b, bool) or not isinstance(b, int) for b in values):
            raise FaultSpecError(f"bit must be an int or a list of ints, got {bits!r}")
        if len(set(values)) != len(values) or any(not 0 <= b < self.qparams.bits for b in values):
            raise FaultSpecError(
                f"bits {values!r} must be distinct and in [0, {self.qparams.bits}) for {self.qparams.dtype} codes"
            )
        self.bits = sorted(values)

    def params(self) -> dict[str, Any]:
        return {"bits": self.bits[0] if len(self.bits) == 1 else list(self.bits), "scale": self.qparams.scale,
                "zero_point": self.qparams.zero_point, "dtype": self.qparams.dtype}

    def scalar_parameter(self) -> tuple[str, float]:
        return "bit", float(self.bits[0]) if len(self.bits) == 1 else float("nan")

    def faulty_weights(self, golden: torch.Tensor, context: SynapseContext) -> torch.Tensor:
        codes = flip_bits_int(quantize(golden, self.qparams), self.bits, self.qparams)
        return dequantize(codes, self.qparams, dtype=golden.dtype)


class BitflippedSynapse(FaultModel):
    """Bits of the weight's affine-quantized code flipped (see :class:`AffineBitFlipSynapse`).

    Args:
        bit: One bit index or several flipped together (bit 0 = LSB).
        scale: Quantization step, e.g. from :func:`spikefi.utils.quantization.qargs_from_tensor`.
        zero_point: Quantization zero point.
        dtype: ``torch.quint8``, ``torch.qint8`` or ``torch.qint32`` (or the names).
    """

    def __init__(self, bit: int | Iterable[int], scale: float, zero_point: int, dtype: Any) -> None:
        bits = bit if isinstance(bit, int) else list(bit)
        self._native = AffineBitFlipSynapse(bits, scale, zero_point, dtype)
        super().__init__(FaultTarget.WEIGHT, "bfl_value", bits, float(scale), int(zero_point), dtype)

    def native(self) -> NativeModel:
        return self._native


# --------------------------------------------------------------------------- random choices


@dataclass
class RandomModelChoice:
    """One candidate of a random model choice: a model class, a factory of its arguments
    and its selection chance (``None``: an equal share of what the others leave)."""

    model_cls: type
    args_factory: Callable[[], tuple[Any, ...]] = field(default=lambda: ())
    select_chance: float | None = None


class RandomFaultModel:
    """A model picked at random (Python's ``random.choices``) among candidates when built.

    ``RandomFaultModel(choices)`` returns an instance of the chosen model class.
    """

    DEF_MODEL_CHOICES: ClassVar[list[RandomModelChoice]] = []

    def __new__(cls, model_choices: list[RandomModelChoice] | None = None) -> Any:  # noqa: D102
        choices = list(model_choices or cls.DEF_MODEL_CHOICES)
        if not choices or not all(isinstance(c, RandomModelChoice) for c in choices):
            raise FaultSpecError("a random fault model needs a non-empty list of RandomModelChoice")
        given = [c.select_chance for c in choices if c.select_chance is not None]
        if any(not isinstance(p, (int, float)) or p < 0 for p in given):
            raise FaultSpecError(f"select_chance values must be >= 0, got {given!r}")
        total = float(sum(given))
        unset = sum(1 for c in choices if c.select_chance is None)
        if total > 1.0:  # chances beyond 1 are not shares: treat every candidate alike
            weights = [1.0] * len(choices)
        else:
            share = (1.0 - total) / unset if unset else 0.0
            weights = [share if c.select_chance is None else float(c.select_chance) for c in choices]
        if sum(weights) <= 0:
            raise FaultSpecError("the selection chances of a random fault model sum to 0")
        chosen = random.choices(choices, weights=weights, k=1)[0]
        return chosen.model_cls(*chosen.args_factory())


class RandomNeuron(RandomFaultModel):
    """Dead (2/3), saturated (1/6) or stuck (1/6) neuron, picked at random."""

    DEF_MODEL_CHOICES: ClassVar[list[RandomModelChoice]] = [
        RandomModelChoice(DeadNeuron, select_chance=2 / 3),
        RandomModelChoice(SaturatedNeuron, select_chance=1 / 6),
        RandomModelChoice(StuckNeuron, select_chance=1 / 6),
    ]


class RandomSynapse(RandomFaultModel):
    """Dead (2/3) or perturbed (1/3) synapse, picked at random."""

    DEF_MODEL_CHOICES: ClassVar[list[RandomModelChoice]] = [
        RandomModelChoice(DeadSynapse, select_chance=2 / 3),
        RandomModelChoice(PerturbedSynapse, select_chance=1 / 3),
    ]


class RandomParametricNeuron(RandomFaultModel):
    """A parametric neuron fault of a random parameter (theta, tauSr or tauRef) and factor."""

    DEF_MODEL_CHOICES: ClassVar[list[RandomModelChoice]] = [
        RandomModelChoice(ParametricNeuron, lambda: (random.choice(["theta", "tauSr", "tauRef"]), None)),
    ]
