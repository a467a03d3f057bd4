"""Neuron-state upsets and float32 soft errors in plain words (issue 32's models).

:func:`analysis.describe.model_parameter` and :func:`analysis.describe.describe_model` ask
here first; an empty string means "not one of these models".

Example:
    >>> upset_parameter({"model": "MembraneUpset", "bits": 30, "steps": [4, 8], "width": None})
    'bit 30 of the float32 membrane potential at steps 4, 8'
    >>> upset_parameter({"model": "StateSoftErrors", "rate": 1e-6, "exposure": 2, "state": "refractory",
    ...                  "width": 16, "frac_bits": 8})
    'rate 1e-06 per bit per step, exposure 2 (bit upset probability 2e-06), 16-bit fixed-point (8 fractional bits) refractory state'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["upset_parameter", "upset_description"]

_STATE = {"MembraneUpset": "membrane potential", "RefractoryUpset": "refractory state"}


def _register(spec: Mapping[str, Any]) -> str:
    width = spec.get("width")
    if width is None:
        return "float32"
    frac = int(spec.get("frac_bits") or 0)
    return f"{int(width)}-bit fixed-point" + (f" ({frac} fractional bits)" if frac else "")


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _rate(spec: Mapping[str, Any], per: str) -> str:
    rate, exposure = float(spec.get("rate") or 0.0), float(spec.get("exposure", 1.0))
    return (f"rate {rate:g} per bit{per}, exposure {exposure:g} "
            f"(bit upset probability {-math.expm1(-rate * exposure):.3g})")


def upset_parameter(spec: Mapping[str, Any]) -> str:
    """The parameter of a neuron-state or float32 soft-error model in a few words, else ``""``."""
    name = spec.get("model")
    if name in _STATE:
        steps = ", ".join(str(t) for t in _list(spec.get("steps")))
        bits = _list(spec.get("bits"))
        if bits and all(isinstance(b, (list, tuple)) for b in bits):
            which = "bits " + "; ".join("+".join(map(str, b)) for b in bits) + " (per step)"
        else:
            which = ("bit " if len(bits) == 1 else "bits ") + "+".join(map(str, bits))
        s = "s" if len(_list(spec.get("steps"))) > 1 else ""
        return f"{which} of the {_register(spec)} {_STATE[name]} at step{s} {steps}"
    if name == "StateSoftErrors":
        state = "membrane potential" if spec.get("state", "membrane") == "membrane" else "refractory state"
        return f"{_rate(spec, ' per step')}, {_register(spec)} {state}"
    if name == "Float32SoftErrors":
        return _rate(spec, "")
    return ""


def upset_description(spec: Mapping[str, Any]) -> str:
    """A neuron-state or float32 soft-error model in plain words, else ``""``."""
    name = spec.get("model")
    param = upset_parameter(spec)
    if name in _STATE:
        return f"transient upset of the {_STATE[name]} ({param})"
    if name == "StateSoftErrors":
        return f"soft errors of the neuron state ({param}), one random draw per round"
    if name == "Float32SoftErrors":
        return f"soft errors of the float32 weight memory ({param}), one random draw per round"
    return ""
