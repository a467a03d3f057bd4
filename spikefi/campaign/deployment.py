"""A campaign's deployed network: weights stored in a :class:`~spikefi.faults.deployment.DeploymentFormat`,
the SRM neuron in fixed point, and the deployment gap (float network vs deployed network).

:class:`DeployedLayer` is SLAYER's spiking layer as a chip with a fixed-point neuron
computes it (the equations are in :mod:`spikefi.faults.deployment`). A deployed campaign
puts it in place of its network copy's spiking layer, so every engine, the network's own
forward and faulty neurons (parametric faults: their parameters are stored in the same
formats) compute with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import DeploymentFormatError
from ..faults.deployment import (
    DeployedQuantParams,
    DeploymentFormat,
    FixedPoint,
    quantize_weight,
    round_mode,
    weight_qparams,
)
from ..faults.quantization import dequantize
from ..snn import functional as fn
from ..snn.layer import layer as spiking_layer

__all__ = ["DeployedLayer", "deploy_spiking_layer", "deploy_weights", "deployment_gap", "snap_half_steps"]


#: how far (relative, in units of the float type's epsilon) a potential may lie from a half step
#: of the membrane grid and still count as on it: float rounding noise, not a value of its own
_SNAP_EPS = {torch.float64: 2.0 ** 16, torch.float32: 2.0 ** 4}


def snap_half_steps(n: torch.Tensor) -> torch.Tensor:
    """``n`` (a potential in units of the membrane step) moved onto the nearest multiple of 1/2
    where it lies within float rounding noise of it (relative ``2**16 * eps`` in float64,
    ``2**4 * eps`` in float32). The exact potential of a deployed network often lies exactly on
    the grid or half-way between two grid values (power-of-two scales; a spike value ``1/Ts``
    that binary floats cannot hold exactly, e.g. Ts = 6); rounding the float value that missed
    it by 1e-16 with ``floor`` or a tie rule would round the other way than the chip's integers."""
    factor = _SNAP_EPS.get(n.dtype)
    if factor is None:
        return n
    tol = factor * torch.finfo(n.dtype).eps
    half = torch.round(n * 2) / 2
    return torch.where((n - half).abs() <= tol * n.abs().clamp(min=1.0), half, n)


def _deployed_spikes(u: torch.Tensor, theta: float, ref: torch.Tensor, ts: float,
                     membrane: FixedPoint | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes and register values ``v`` of membrane potentials ``u`` (already on the grid):
    at each step the register ``v[t] = overflow(u[t] + refractory)`` is compared with ``theta``."""
    shape = u.shape
    steps = shape[-1]
    ut = u.detach().reshape(-1, steps).t().contiguous()
    st = torch.zeros_like(ut)
    vt = torch.empty_like(ut)
    ref = ref.to(dtype=u.dtype, device=u.device)
    klen = ref.numel()
    for t in range(steps):
        v = ut[t] if membrane is None else membrane.apply_overflow(ut[t])
        vt[t] = v
        fired = (v >= theta).to(ut.dtype)
        st[t] = fired
        span = min(klen - 1, steps - 1 - t)
        if span > 0:
            ut[t + 1 : t + 1 + span].addcmul_(ref[1 : 1 + span, None], fired)
    st.mul_(1.0 / ts)
    return st.t().reshape(shape), vt.t().reshape(shape)


class DeployedLayer(spiking_layer):
    """SLAYER's spiking layer with the deployed (fixed-point) SRM neuron.

    ``neuron`` keeps the float description (what was trained); the stored values are
    ``srmKernel`` (taps in ``psp_kernel`` format), ``refKernel`` (taps in ``membrane``
    format) and :attr:`theta_q` (``threshold`` format, default ``membrane``). ``psp`` rounds
    the potential to the membrane grid; ``spike`` adds the refractory taps, applies the
    membrane's overflow and compares with ``theta_q``. Inference only (no surrogate gradient).

    Raises:
        DeploymentFormatError: a threshold that rounds to 0 or lies above what the membrane
            register can hold (the neuron could never fire).
    """

    def __init__(self, neuron: Mapping[str, Any], simulation: Mapping[str, Any], fmt: DeploymentFormat,
                 fullRefKernel: bool = False) -> None:  # noqa: N803
        super().__init__(neuron, simulation, fullRefKernel)
        self.membrane = fmt.membrane
        self.psp_format = fmt.psp_kernel
        self.threshold_fmt = fmt.threshold_format()
        theta = float(self.neuron["theta"])
        srm = fn.srm_kernel(self.neuron, self.simulation, dtype=torch.float64)
        ref = fn.ref_kernel(self.neuron, self.simulation, full=self.fullRefKernel, dtype=torch.float64)
        if self.psp_format is not None:
            srm = self.psp_format.quantize(srm)
        if self.membrane is not None:
            ref = self.membrane.quantize(ref)
        self.srmKernel = srm
        self.refKernel = ref
        if self.threshold_fmt is not None and not theta <= self.threshold_fmt.max:
            raise DeploymentFormatError(f"threshold {theta!r} is above the largest value {self.threshold_fmt.max!r} of "
                                        f"the threshold format {self.threshold_fmt.describe()}; give it more int_bits")
        theta_q = theta if self.threshold_fmt is None else float(self.threshold_fmt.quantize(torch.tensor(theta,
                                                                                 dtype=torch.float64)))
        if not theta_q > 0:
            raise DeploymentFormatError(f"threshold {theta!r} is stored as {theta_q!r} in "
                                        f"{self.threshold_fmt.describe() if self.threshold_fmt else 'float'}; "
                                        "it must stay > 0 (give the threshold format more range or fraction bits)")
        if self.membrane is not None and theta_q > self.membrane.max:
            raise DeploymentFormatError(f"threshold {theta_q!r} is above the largest membrane value "
                                        f"{self.membrane.max!r} of {self.membrane.describe()}: the neuron could never "
                                        "fire; give the membrane more int_bits")
        self.theta_q = theta_q
        self.deployment = fmt

    def psp(self, spike: torch.Tensor) -> torch.Tensor:
        """The post-synaptic potential with the stored kernel, rounded to the membrane grid."""
        u = super().psp(spike)
        if self.membrane is None:
            return u
        m = self.membrane
        return round_mode(snap_half_steps(u * (1 << m.frac_bits)), m.rounding) * m.step

    def spike(self, membranePotential: torch.Tensor) -> torch.Tensor:  # noqa: N803
        return self.spike_with_potential(membranePotential)[0]

    def spike_with_potential(self, membranePotential: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: N803
        """``(spikes, v)``: the spikes and the membrane register's values at every step."""
        fn.check_spike_tensor(membranePotential, "membrane potential", min_rank=1)
        return _deployed_spikes(membranePotential, self.theta_q, self.refKernel, self.Ts, self.membrane)

    def spike_stats(self, membranePotential: torch.Tensor, keep_mask: bool = False,  # noqa: N803
                    golden: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
        s = self.spike(membranePotential)
        return s, fn.stats_of_spikes(s, keep_mask, golden)

    def extra_repr(self) -> str:
        parts = [f"theta_q={self.theta_q:g}"]
        for key, f in (("membrane", self.membrane), ("psp_kernel", self.psp_format)):
            if f is not None:
                parts.append(f"{key}=Q{f.int_bits}.{f.frac_bits}")
        return super().extra_repr() + ", " + ", ".join(parts)


def deploy_spiking_layer(net: nn.Module, fmt: DeploymentFormat) -> DeployedLayer | None:
    """Puts a :class:`DeployedLayer` in place of ``net``'s spiking layer (every attribute that
    holds it), in place; returns it (``None`` when ``fmt`` has no neuron formats)."""
    if not fmt.has_neuron_formats:
        return None
    from .network import find_spiking_layer

    old = find_spiking_layer(net)
    param = next(iter(net.parameters()), None)
    new = DeployedLayer(dict(old.neuron), dict(old.simulation), fmt, bool(getattr(old, "fullRefKernel", False)))
    if param is not None:
        new = new.to(device=param.device, dtype=param.dtype)
    replaced = 0
    for module in net.modules():
        for name, child in list(module.named_children()):
            if child is old:
                setattr(module, name, new)
                replaced += 1
    if not replaced:
        raise DeploymentFormatError("the network's spiking layer is not a submodule; a deployed neuron needs it as one")
    return new


def deploy_weights(netmap: Any, fmt: DeploymentFormat) -> tuple[dict[str, DeployedQuantParams], dict[str, torch.Tensor]]:
    """Stores every synaptic layer's weights in its format (``netmap.set_weight``), returning
    the per-layer quantization parameters and integer codes (for bit-level faults)."""
    synaptic = [n for n, i in netmap.layers.items() if i.synapse_shape is not None]
    fmt.check_layers(list(netmap.layers), synaptic)
    qparams: dict[str, DeployedQuantParams] = {}
    qcodes: dict[str, torch.Tensor] = {}
    for name in synaptic:
        wf = fmt.weight_format(name)
        if wf is None:
            continue
        module = netmap.modules[name]
        if getattr(module, "preHookFx", None) is not None:
            raise DeploymentFormatError(f"layer {name!r} has a preHookFx; deployed weights need plain weights")
        weight = netmap.effective_weight(name).detach()
        qp = weight_qparams(weight, wf)
        codes = quantize_weight(weight, qp, wf.rounding)
        netmap.set_weight(name, dequantize(codes, qp, dtype=weight.dtype))
        qparams[name] = qp
        qcodes[name] = codes
    return qparams, qcodes


def deployment_gap(float_golden: Mapping[str, Any], deployed_golden: Mapping[str, Any],
                   mismatched: Mapping[str, int], agreement: float, neuron_steps: Mapping[str, int]) -> dict[str, Any]:
    """The deployment gap from the two golden passes: accuracies, their difference (deployed
    minus float), the share of samples predicted alike, and per layer the spike counts, their
    change and the number (and share) of neuron-steps whose spike differs."""
    layers = {}
    for name, deployed in deployed_golden["spike_counts"].items():
        flt = float_golden["spike_counts"][name]
        layers[name] = {"float_spikes": int(flt), "deployed_spikes": int(deployed),
                        "spike_change": int(deployed) - int(flt),
                        "relative_change": (int(deployed) - int(flt)) / flt if flt else float("nan"),
                        "mismatched": int(mismatched[name]),
                        "mismatched_share": int(mismatched[name]) / neuron_steps[name] if neuron_steps[name] else 0.0}
    return {"float_accuracy": float_golden["accuracy"], "deployed_accuracy": deployed_golden["accuracy"],
            "accuracy_change": deployed_golden["accuracy"] - float_golden["accuracy"],
            "prediction_agreement": agreement, "samples": deployed_golden["samples"], "layers": layers}
