"""Faults, timings and quantization in plain words (run params, run descriptions, the report).

Everything here works on the plain-data specs that campaigns store (``Fault.spec()``, the
``faults`` JSON column of a result table, ``options.quantization``), so the same words
appear in the MLflow run of a campaign and in a report built long after it.

Example:
    >>> describe_model({"model": "BitFlipSynapse", "bits": 7})
    'bit flip of bit 7 of the quantized weight code'
    >>> model_parameter({"model": "ParametricNeuron", "parameter": "theta", "factor": 0.5})
    'theta x 0.5'
    >>> describe_timing({"timing": "Window", "t_start": 10, "t_end": 20})
    'transient: time bins 10-19 of every sample'
    >>> describe_fault_id('[{"model": "DeadNeuron", "sites": [{"layer": "SF4", "position": [4, 0, 0]}]}]')
    'dead neuron SF4 (4, 0, 0)'
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .describe_state import upset_description, upset_parameter

__all__ = [
    "describe_model", "model_parameter", "describe_timing", "describe_quantization", "describe_round_sites",
    "round_faults", "network_label", "describe_fault_id",
]


def _num(value: Any) -> str:
    """A number without trailing zeros (0.5, 2, 1e-05)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return str(value)


def _bits(value: Any) -> list[int]:
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    return [int(value)] if value is not None else []


def model_parameter(spec: Mapping[str, Any]) -> str:
    """The fault model's parameter in a few words (``bit 7``, ``theta x 0.5``, ``stuck at 1.5``),
    or ``""`` for models without one (dead or saturated neurons, dead synapses)."""
    if upset_parameter(spec):
        return upset_parameter(spec)
    name = spec.get("model")
    if name in ("BitFlipSynapse", "FloatBitFlipSynapse"):
        bits = _bits(spec.get("bits"))
        if len(bits) == 1:
            return f"bit {bits[0]}"
        return "bits " + "+".join(str(b) for b in bits) + " together"
    if name == "ParametricNeuron":
        return f"{spec.get('parameter')} x {_num(spec.get('factor'))}"
    if name == "StuckSynapse":
        return f"stuck at {_num(spec.get('value'))}"
    if name == "PerturbedSynapse":
        return f"weight x {_num(spec.get('factor'))}"
    if name == "SaturatedSynapse":
        return f"{spec.get('side', 'upper')} {spec.get('severity', 'mild')} outlier"
    if name == "StuckNeuron":
        if spec.get("probability") is not None:
            return f"fires with p={_num(spec['probability'])}"
        return f"pattern {spec.get('pattern')}"
    if name == "StuckBitSynapse":
        parts = [f"bit{'s' if len(_bits(spec.get(k))) > 1 else ''} {'+'.join(map(str, _bits(spec.get(k))))} stuck at {v}"
                 for k, v in (("stuck_at_0", 0), ("stuck_at_1", 1)) if _bits(spec.get(k))]
        return ", ".join(parts)
    if name == "FaultMap":
        digest = str(spec.get("sha256") or "")[:12]
        return f"fault map {spec.get('file')}" + (f" (sha256 {digest})" if digest else "")
    if name in ("AdjacentBitUpset", "Float32AdjacentBitUpset"):
        if name == "Float32AdjacentBitUpset":
            per = int(spec.get("word_bits") or 32) // 32
            words = f"{32 * per}-bit words ({per} float32 weight{'s' if per > 1 else ''} each)"
        else:
            words = f"{spec['word_bits']}-bit words" if spec.get("word_bits") else "words of one code"
        inter = int(spec.get("interleave") or 1)
        where = f"start cell {spec['start']}" if spec.get("start") is not None else \
            f"{int(spec.get('bursts') or 1)} random burst{'s' if int(spec.get('bursts') or 1) > 1 else ''}"
        return (f"{int(spec.get('width', 1))} adjacent cells, {words}, "
                f"{'no interleaving' if inter == 1 else f'interleaving distance {inter}'}, {where}")
    if name == "SoftErrors":
        rate, exposure = float(spec.get("rate") or 0.0), float(spec.get("exposure", 1.0))
        return (f"rate {_num(rate)} per bit, exposure {_num(exposure)} "
                f"(bit upset probability {-math.expm1(-rate * exposure):.3g})")
    if name == "AnalogDevices":
        return describe_analog(spec)
    if name == "RandomModel":
        return "random: " + ", ".join(str(m.get("model") if isinstance(m, Mapping) else m)
                                      for m in spec.get("models", []))
    extra = {k: v for k, v in spec.items() if k != "model"}
    return ", ".join(f"{k}={_num(v)}" for k, v in extra.items())


def describe_analog(spec: Mapping[str, Any]) -> str:
    """Analog devices in plain words: ``differential pairs, Gmax 25, 16 levels, stuck at 0 1%,
    programming noise 3% of Gmax, read noise 1% of g, age 3600 (t0 20, drift nu 0.05 +- 0.02),
    threshold mismatch 10%``."""
    mapping = spec.get("mapping", "differential")
    parts = [] if mapping == "none" else [
        "differential pairs" if mapping == "differential" else "single devices (sign in the periphery)",
        f"Gmax {_num(spec.get('g_max', 1.0))}"]
    if spec.get("levels"):
        parts.append(f"{int(spec['levels'])} levels")
    ref = "g" if spec.get("noise_reference") == "g" else "Gmax"
    for key, words in (("stuck_at_0", "stuck at 0"), ("stuck_at_gmax", "stuck at Gmax")):
        if spec.get(key):
            parts.append(f"{words} {_num(100 * float(spec[key]))}%")
    if spec.get("device_map"):
        parts.append(f"device map {spec['device_map']}" + (f" (sha256 {str(spec.get('sha256') or '')[:12]})"
                                                            if spec.get("sha256") else ""))
    for key, words in (("program_sigma", "programming noise"), ("read_sigma", "read noise per sample")):
        if spec.get(key):
            parts.append(f"{words} {_num(100 * float(spec[key]))}% of {ref}")
    if spec.get("age") is not None:
        parts.append(f"age {_num(spec['age'])} (t0 {_num(spec.get('t0', 20.0))}, drift nu "
                     f"{_num(spec.get('drift_nu_mean', 0.0))} +- {_num(spec.get('drift_nu_std', 0.0))})")
    if spec.get("threshold_sigma"):
        parts.append(f"threshold mismatch {_num(100 * float(spec['threshold_sigma']))}%")
    return ", ".join(parts) or "mapping only"


def describe_model(spec: Mapping[str, Any] | str) -> str:
    """A fault model spec in plain words (``dead neuron (never fires)``)."""
    if isinstance(spec, str):
        spec = {"model": spec}
    if upset_description(spec):
        return upset_description(spec)
    name = str(spec.get("model"))
    param = model_parameter(spec)
    fixed = {
        "DeadNeuron": "dead neuron (never fires)",
        "SaturatedNeuron": "saturated neuron (fires at every time step)",
        "DeadSynapse": "dead synapse (weight 0)",
    }
    if name in fixed:
        return fixed[name]
    if name == "BitFlipSynapse":
        bits = _bits(spec.get("bits"))
        what = f"bit flip of bit {bits[0]}" if len(bits) == 1 else \
            f"multi-bit upset of bits {', '.join(map(str, bits))} (one fault flips all of them)"
        return f"{what} of the quantized weight code"
    if name == "FloatBitFlipSynapse":
        bits = _bits(spec.get("bits"))
        what = f"bit flip of bit {bits[0]}" if len(bits) == 1 else \
            f"multi-bit upset of bits {', '.join(map(str, bits))} (one fault flips all of them)"
        return f"{what} of the float32 weight"
    if name == "ParametricNeuron":
        return f"neuron with its {spec.get('parameter')} scaled by {_num(spec.get('factor'))}"
    if name == "StuckSynapse":
        return f"synapse stuck at weight {_num(spec.get('value'))}"
    if name == "PerturbedSynapse":
        return f"perturbed synapse (weight x {_num(spec.get('factor'))})"
    if name == "SaturatedSynapse":
        return f"saturated synapse ({param} weight)"
    if name == "StuckNeuron":
        return f"stuck neuron ({param})"
    if name == "StuckBitSynapse":
        return f"stuck-at cells of the quantized weight code ({param})"
    if name == "FaultMap":
        return f"stuck-at cells of the quantized weight memory from a {param}"
    if name == "SoftErrors":
        return f"soft errors of the quantized weight memory ({param}), one random draw per round"
    if name == "AdjacentBitUpset":
        return f"adjacent multi-bit upset of the quantized weight memory ({param})"
    if name == "Float32AdjacentBitUpset":
        return f"adjacent multi-bit upset of the float32 weight memory ({param})"
    if name == "RandomModel":
        return f"one of several models at random ({param.removeprefix('random: ')})"
    return f"{name} ({param})" if param else name


def describe_timing(spec: Mapping[str, Any] | None) -> str:
    """A timing spec (``{"timing": "Window", "t_start": 10, "t_end": 20}``) in plain words."""
    if not spec:
        return "permanent"
    name = spec.get("timing", "Permanent")
    if name == "Permanent":
        return "permanent"
    if name == "Window":
        return f"transient: time bins {spec['t_start']}-{int(spec['t_end']) - 1} of every sample"
    if name == "Intermittent":
        period, duty = int(spec["period"]), float(spec["duty"])
        on = max(1, round(duty * period))
        phase = int(spec.get("phase", 0))
        return f"intermittent: on {on} of every {period} time bins" + (f" (phase {phase})" if phase else "")
    if name == "PerSample":
        inner = spec.get("within")
        text = f"per sample: each sample affected with probability {_num(spec['probability'])}"
        return text + (f", {describe_timing(inner)} within it" if inner else "")
    extra = ", ".join(f"{k}={_num(v)}" for k, v in spec.items() if k != "timing")
    return f"{name} ({extra})" if extra else str(name)


def describe_quantization(quantization: Mapping[str, Any] | str | None) -> str:
    """``options.quantization`` in words: ``none (float32 weights)`` or ``int8 weight codes``."""
    if not quantization:
        return "none (float weights)"
    if isinstance(quantization, str):
        try:
            quantization = json.loads(quantization)
        except ValueError:
            return quantization
        if not quantization:
            return "none (float weights)"
    if isinstance(quantization, Mapping) and "dtype" not in quantization and not set(quantization) <= {"symmetric"}:
        from .deployment import format_label  # a deployment format (issue 34): its parts in words

        return f"deployment format ({format_label(quantization)}); golden = the deployed network"
    q = dict(quantization)
    dtype = q.pop("dtype", "int8")
    rest = ", ".join(f"{k}={_num(v)}" for k, v in q.items())
    return f"{dtype} weight codes" + (f" ({rest})" if rest else "") + "; golden = the quantized network"


def network_label(network: Mapping[str, Any]) -> str:
    """``pretrained:NAME``, ``path:FILE``, ``factory:pkg.mod:fn`` or ``nir:FILE`` of a spec's network section."""
    if "pretrained" in network:
        return f"pretrained:{network['pretrained']}"
    if "factory" in network:
        return f"factory:{network['factory']}" + (f" weights:{network['weights']}" if network.get("weights") else "")
    if "nir" in network:
        extra = "".join(f" {k}:{network[k]}" for k in ("dt", "convention", "reset", "readout")
                        if network.get(k) is not None)
        return f"nir:{network['nir']}{extra}"
    return f"path:{network['path']}"


def round_faults(faults: str | Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The fault specs of one round (the ``faults`` column: a JSON list) as dicts."""
    if faults is None or (isinstance(faults, float) and faults != faults):
        return []
    if isinstance(faults, str):
        try:
            faults = json.loads(faults)
        except ValueError:
            return []
    return [dict(f) for f in faults] if isinstance(faults, Iterable) else []


def describe_round_sites(faults: str | Sequence[Mapping[str, Any]] | None, shown: int = 3) -> str:
    """Where a round's faults sit: ``SF4 (3, 0, 0)``; ``2 sites: SF3 (3, 0, 0); SF4 (3, 0, 0)``;
    ``20 sites in SC1: (0, 3, 0); (1, 14, 7); (1, 6, 4); ... 17 more``."""
    sites = [(f.get("layer", "?"), tuple(int(x) for x in p)) for f in round_faults(faults)
             for p in f.get("positions", [])]
    if not sites:
        return "n/a"
    layers = list(dict.fromkeys(layer for layer, _ in sites))

    def label(layer: str, pos: tuple[int, ...]) -> str:
        text = "(" + ", ".join(map(str, pos)) + ")"
        return text if len(layers) == 1 else f"{layer} {text}"

    if len(sites) == 1:
        return f"{sites[0][0]} {label(*sites[0])}"
    head = f"{len(sites)} sites in {layers[0]}: " if len(layers) == 1 else f"{len(sites)} sites: "
    body = "; ".join(label(layer, pos) for layer, pos in sites[:shown])
    more = f"; ... {len(sites) - shown} more" if len(sites) > shown else ""
    return head + body + more


#: short names of fault models for one-line fault descriptions
_SHORT = {"DeadNeuron": "dead neuron", "SaturatedNeuron": "saturated neuron", "DeadSynapse": "dead synapse",
          "BitFlipSynapse": "bit flip", "FloatBitFlipSynapse": "float bit flip", "ParametricNeuron": "neuron",
          "StuckSynapse": "stuck synapse", "PerturbedSynapse": "perturbed synapse",
          "SaturatedSynapse": "saturated synapse", "StuckNeuron": "stuck neuron", "StuckBitSynapse": "stuck bits"}


def _sites_of(spec: Mapping[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
    """``(layer, position)`` of a fault spec: the ``sites`` form (``Fault.spec()``) or the
    ``layer`` + ``positions`` form of a result table's ``faults`` column."""
    if spec.get("sites"):
        return [(str(s.get("layer", "?")), tuple(int(x) for x in s.get("position", ()))) for s in spec["sites"]]
    return [(str(spec.get("layer", "?")), tuple(int(x) for x in p)) for p in spec.get("positions", [])]


def describe_fault_id(fault_id: str | Sequence[Mapping[str, Any]] | None) -> str:
    """A fault list's fault id (the JSON list of the fault specs of one entry) in a few words:
    ``dead neuron SF4 (4, 0, 0)``; ``bit flip (bit 7) SF4 (3, 12, 0, 0)``; several faults joined
    by ``+``. Text that is not such a list is returned as it is."""
    faults = round_faults(fault_id)
    if not faults:
        return "" if fault_id is None else str(fault_id)
    parts = []
    for f in faults:
        name = str(f.get("model"))
        spec = {k: v for k, v in f.items() if k not in ("layer", "positions", "sites", "timing")}
        param = model_parameter(spec)
        what = _SHORT.get(name, name) + (f" ({param})" if param else "")
        where = "; ".join(f"{layer} ({', '.join(map(str, pos))})" for layer, pos in _sites_of(f))
        timing = describe_timing(f.get("timing"))
        parts.append(f"{what} {where}".strip() + ("" if timing == "permanent" else f", {timing}"))
    return " + ".join(parts)
