"""Issue 34: deployment formats (weight codes of 2-16 bits per layer or channel, a fixed-point
SRM neuron) as a campaign's golden network; agreement with a brute-force fixed-point reference
(integer arithmetic, explicit time loop), engines equal, bad formats refused in one line."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikefi.campaign import Campaign, CampaignSpec
from spikefi.campaign.deployment import DeployedLayer
from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError, DeploymentFormatError, FaultSpecError
from spikefi.faults import (
    BitFlipSynapse,
    DeadNeuron,
    DeadSynapse,
    Fault,
    ParametricNeuron,
    Site,
    StuckBitSynapse,
)
from spikefi.faults.deployment import DeploymentFormat, FixedPoint, WeightFormat
from spikefi.snn import functional as fn
from spikefi.zoo import load_pretrained

SAMPLES = 12


@pytest.fixture(scope="module")
def digits():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    return net, test


# ------------------------------------------------------------------------------------
# the brute-force reference: integer codes and an explicit loop over time and kernel taps


def _round_int(x: np.ndarray, mode: str) -> np.ndarray:
    if mode == "nearest_even":
        return np.rint(x)
    if mode == "nearest_away":
        return np.where(x >= 0, np.floor(x + 0.5), -np.floor(-x + 0.5))
    if mode == "floor":
        return np.floor(x)
    return np.trunc(x)


def _to_range(n: np.ndarray, f: FixedPoint) -> np.ndarray:
    lo = -(2 ** (f.int_bits + f.frac_bits)) if f.signed else 0
    hi = 2 ** (f.int_bits + f.frac_bits) - 1
    if f.overflow == "saturate":
        return np.clip(n, lo, hi)
    return (n - lo) % (2 ** f.bits) + lo


def _fixed(x: np.ndarray, f: FixedPoint) -> np.ndarray:
    """Integers n (float64 holding integers) with value n * 2**-frac_bits."""
    return _to_range(_round_int(np.asarray(x, dtype=np.float64) * 2.0 ** f.frac_bits, f.rounding), f)


def _alpha(tau: float, mult: float, t_sample: float, ts: float, eps: float) -> list[float]:
    out = []
    for t in np.arange(0, t_sample, ts):
        v = mult * t / tau * math.exp(1 - t / tau)
        if abs(v) < eps and t > tau:
            break
        out.append(v)
    return out


def _reference_layer(a: np.ndarray, neuron: dict, sim: dict, fmt: DeploymentFormat) -> np.ndarray:
    """Spikes (0/1) of the deployed SRM neuron for synaptic input ``a`` (rows, T), float64."""
    mem, thr, kern = fmt.membrane, fmt.threshold_format(), fmt.psp_kernel
    ts = float(sim["Ts"])
    srm = np.array(_alpha(neuron["tauSr"], 1, sim["tSample"], ts, 0.01), dtype=np.float32).astype(np.float64)
    ref = np.array(_alpha(neuron["tauRef"], -neuron["scaleRef"] * neuron["theta"], sim["tSample"], ts, 0.01),
                   dtype=np.float32).astype(np.float64)
    k_int = _fixed(srm, kern)  # taps as integers of 2**-kern.frac_bits
    r_int = _fixed(ref, mem)
    theta_val = _fixed(np.array(float(neuron["theta"])), thr) * 2.0 ** -thr.frac_bits
    rows, steps = a.shape
    out = np.zeros_like(a)
    p_int = np.zeros((rows, steps))
    for t in range(steps):  # every neuron (row) at once; time and kernel taps one by one
        acc = np.zeros(rows)
        for k in range(min(len(k_int), t + 1)):
            acc += a[:, t - k] * k_int[k]  # a * (tap integer): exact in float64 here
        p_int[:, t] = _round_int(acc * ts * 2.0 ** (mem.frac_bits - kern.frac_bits), mem.rounding)
    refr = np.zeros((rows, steps))
    for t in range(steps):
        v_int = _to_range(p_int[:, t] + refr[:, t], mem)
        fired = v_int * 2.0 ** -mem.frac_bits >= theta_val
        out[fired, t] = 1.0
        for k in range(1, len(r_int)):
            if t + k < steps:
                refr[fired, t + k] += r_int[k]
    return out


def _reference_network(cmpn: Campaign, fmt: DeploymentFormat) -> dict[str, np.ndarray]:
    """Every layer's spikes (0/1, ``(N, C, H, W, T)``) of the reference on the campaign's inputs;
    weights come from the campaign's integer codes and scales."""
    netmap = cmpn.netmap
    slayer = netmap.slayer
    neuron, sim = dict(slayer.neuron), dict(slayer.simulation)
    ts = float(sim["Ts"])
    x = cmpn.x.to(torch.float64)
    spikes = {}
    for name in netmap.order:
        module = netmap.modules[name]
        if name in cmpn.qcodes:
            qp = cmpn.qparams[name]
            scale = qp.scale if not isinstance(qp.scale, torch.Tensor) else qp.scale.to(torch.float64)
            w = (cmpn.qcodes[name].to(torch.float64) - qp.zero_point) * scale
            a = fn.conv3d(x, w, module.stride, module.padding, module.dilation, module.groups)
        else:
            a = module.to(torch.float64)(x)
        shape = a.shape
        s = _reference_layer(a.reshape(-1, shape[-1]).numpy(), neuron, sim, fmt).reshape(shape)
        spikes[name] = s
        x = torch.from_numpy(s / ts)
    return spikes


FORMATS = [
    {"weights": {"bits": 4, "scale": "channel"}, "membrane": {"int_bits": 7, "frac_bits": 4},
     "psp_kernel": {"int_bits": 0, "frac_bits": 6, "signed": False}},
    {"weights": {"bits": 6, "signed": False, "symmetric": False, "scale_type": "power_of_two", "rounding": "floor"},
     "layers": {"SF4": {"bits": 3, "scale": "channel", "symmetric": False}},
     "membrane": {"int_bits": 4, "frac_bits": 2, "rounding": "floor", "overflow": "wrap"},
     "threshold": {"int_bits": 4, "frac_bits": 0}, "psp_kernel": {"int_bits": 1, "frac_bits": 3,
                                                                  "rounding": "nearest_away"}},
    {"weights": {"bits": 8}, "membrane": {"int_bits": 5, "frac_bits": 3, "rounding": "toward_zero"},
     "psp_kernel": {"int_bits": 0, "frac_bits": 4, "signed": False, "rounding": "toward_zero"}},
]


@pytest.mark.parametrize("spec", FORMATS, ids=["int4-channel", "uint6-pow2-wrap", "int8-trunc"])
def test_golden_spikes_equal_the_brute_force_fixed_point_reference(digits, spec):
    net, test = digits
    fmt = DeploymentFormat.from_spec(spec)
    cmpn = Campaign(net, test, max_samples=SAMPLES, quantization=spec)
    assert cmpn.dtype == torch.float64
    cmpn.golden()
    ref = _reference_network(cmpn, fmt)
    assert sum(int(r.sum()) for r in ref.values()) > 0
    for name in cmpn.netmap.order:
        mine = torch.cat([cmpn.golden_batch(b).spikes[name] for b in range(math.ceil(SAMPLES / cmpn.batch_size))])
        assert np.array_equal(mine.numpy(), ref[name] != 0), name


def test_wrap_overflow_changes_spikes_and_is_modelled(digits):
    """The wrapping format above wraps some potentials (its reference agrees, test above);
    with saturation instead the spikes differ, so the overflow mode is really exercised."""
    net, test = digits
    wrap = dict(FORMATS[1])
    sat = {**wrap, "membrane": {**wrap["membrane"], "overflow": "saturate"}}
    a = Campaign(net, test, max_samples=SAMPLES, quantization=wrap).golden()["spike_counts"]
    b = Campaign(net, test, max_samples=SAMPLES, quantization=sat).golden()["spike_counts"]
    assert a != b


def test_weights_are_codes_times_scales_within_half_a_step(digits):
    net, test = digits
    cmpn = Campaign(net, test, max_samples=4, quantization=FORMATS[0])
    flt = cmpn._float_net
    for name, codes in cmpn.qcodes.items():
        qp = cmpn.qparams[name]
        assert int(codes.min()) >= -8 and int(codes.max()) <= 7
        w = dict(flt.named_modules())[name].weight.detach().to(torch.float64)
        step = qp.scale.expand_as(w)
        assert torch.equal(cmpn.netmap.effective_weight(name), codes.to(torch.float64) * qp.scale)
        assert bool(((cmpn.netmap.effective_weight(name) - w).abs() <= step / 2 + 1e-12).all())
        # per channel: each channel's largest |w| maps onto the code range
        assert int(codes.abs().reshape(codes.shape[0], -1).max(dim=1).values.min()) >= 6


def test_per_channel_bit_flip_changes_the_weight_by_its_channels_step(digits):
    net, test = digits
    cmpn = Campaign(net, test, max_samples=4, quantization=FORMATS[0])
    from spikefi.campaign.inject import prepare_round

    rid = cmpn.then_inject([Fault(BitFlipSynapse(1), Site("SF3", (5, 3, 1, 2))),
                            Fault(StuckBitSynapse(stuck_at_1=[0]), Site("SF3", (9, 0, 0, 0)))])
    prep = prepare_round(cmpn, cmpn.rounds[-1])
    assert prep.round_id == rid
    w = cmpn.netmap.effective_weight("SF3")
    qp = cmpn.qparams["SF3"]
    flip, stuck = prep.layers["SF3"].synapse
    code = int(cmpn.qcodes["SF3"][5, 3, 1, 2, 0])
    expect = ((code ^ 2) - code) * float(qp.scale[5, 0, 0, 0, 0])
    assert float(flip.values[0] - w[5, 3, 1, 2, 0]) == pytest.approx(expect, abs=0)
    code = int(cmpn.qcodes["SF3"][9, 0, 0, 0, 0])
    assert float(stuck.values[0]) == (code | 1) * float(qp.scale[9, 0, 0, 0, 0])


def test_engines_agree_on_a_deployed_network(digits):
    net, test = digits
    cmpn = Campaign(net, test, max_samples=SAMPLES, batch_size=8, seed=3, quantization=FORMATS[0])
    cmpn.exhaustive(BitFlipSynapse([2]), layers=["SF3"], sample=4)
    cmpn.exhaustive(DeadNeuron(), layers=["SC2"], sample=4)
    cmpn.exhaustive(DeadSynapse(), layers=["SF4"], sample=3)
    cmpn.then_inject(Fault(ParametricNeuron("theta", 0.7), Site("SF3", (4, 0, 0))))
    tables = {e: cmpn.run(engine=e, progress=False, chunk_size=5).table for e in ("naive", "sequential", "parallel")}
    cols = ["round_id", "accuracy", "critical", "changed", "spike_count_deviation", "first_divergent_layer"] + [
        c for c in tables["naive"].columns if c.startswith("spikes.")]
    for e in ("sequential", "parallel"):
        assert tables[e][cols].equals(tables["naive"][cols]), e
    assert (tables["naive"]["spike_count_deviation"] > 0).sum() >= 8


def test_parametric_fault_uses_a_deployed_faulty_neuron(digits):
    net, test = digits
    cmpn = Campaign(net, test, max_samples=4, quantization=FORMATS[0])
    faulty = cmpn.faulty_slayer({**cmpn.netmap.neuron(), "theta": 7.3})
    assert isinstance(faulty, DeployedLayer)
    assert faulty.theta_q == 7.3125  # Q7.4: 7.3 rounds to 117/16


def test_deployment_gap_and_float_golden(digits):
    net, test = digits
    cmpn = Campaign(net, test, max_samples=SAMPLES, quantization={"weights": {"bits": 2}})
    flt = Campaign(net, test, max_samples=SAMPLES, dtype=torch.float64).golden()
    assert cmpn.float_golden()["accuracy"] == flt["accuracy"]
    assert cmpn.float_golden()["spike_counts"] == flt["spike_counts"]
    gap = cmpn.deployment_gap()
    assert gap["accuracy_change"] == cmpn.golden()["accuracy"] - flt["accuracy"]
    assert set(gap["layers"]) == set(cmpn.netmap.order)
    assert any(v["mismatched"] > 0 for v in gap["layers"].values())
    for name, v in gap["layers"].items():
        assert v["spike_change"] == cmpn.golden()["spike_counts"][name] - flt["spike_counts"][name]
    cmpn.exhaustive(DeadNeuron(), layers=["SF4"], sample=1)
    meta = cmpn.run(progress=False).meta
    assert meta["deployment_gap"]["float_accuracy"] == flt["accuracy"]
    assert meta["float_golden"]["accuracy"] == flt["accuracy"]
    assert meta["quantization"]["weights"]["bits"] == 2


def test_format_round_trips_and_describes_itself_in_words():
    fmt = DeploymentFormat.from_spec(FORMATS[1])
    assert DeploymentFormat.from_spec(fmt.to_spec()) == fmt
    words = fmt.describe()
    assert words["weights"] == "uint6 codes, per-layer power-of-two scale, affine, floor"
    assert words["layers"] == "SF4: uint3 codes, per-channel power-of-two scale, affine, floor"
    assert words["membrane"] == "Q4.2 signed (7 bits), floor, wrap"
    assert words["threshold"] == "Q4.0 signed (5 bits), nearest_even, saturate"
    assert WeightFormat(bits=5, scale="tensor").scale == "layer"


@pytest.mark.parametrize("spec, message", [
    ({"weights": {"bits": 1}}, "weight bits must be an int in [2, 16], got 1"),
    ({"weights": {"bits": 17}}, "weight bits must be an int in [2, 16], got 17"),
    ({"weights": {"bits": 4, "scale": "row"}}, "weight scale 'row' is not supported; allowed: ['layer', 'channel'"),
    ({"weights": {"bits": 4, "rounding": "up"}}, "weight rounding 'up' is not supported; allowed: ['nearest_even'"),
    ({"weights": {"bits": 4, "scale_type": "log"}}, "weight scale_type 'log' is not supported; allowed: ['float'"),
    ({"weights": {"bits": 4, "signed": "yes"}}, "weight signed must be true or false, got 'yes'"),
    ({"weights": {"bitz": 4}}, "unknown weights key(s) ['bitz']; allowed: ['bits', 'signed'"),
    ({"membrane": {"int_bits": 30, "frac_bits": 8}}, "= 39 bits (int_bits=30, frac_bits=8); allowed: 2 to 32 bits"),
    ({"membrane": {"int_bits": 7}}, "membrane needs ['frac_bits']"),
    ({"membrane": {"int_bits": 7, "frac_bits": 2, "overflow": "clip"}},
     "overflow 'clip' is not supported; allowed: ['saturate', 'wrap']"),
    ({"membrane": {"int_bits": -1, "frac_bits": 2}}, "int_bits must be an int in [0, 32], got -1"),
    ({"psp_kernel": "Q1.7"}, "psp_kernel must be a mapping such as {int_bits: 7, frac_bits: 8}, got 'Q1.7'"),
    ({"weights": {"bits": 4}, "membrane_bits": 8}, "unknown deployment format key(s) ['membrane_bits']; allowed:"),
    ({"layers": {"SF4": {"bits": 20}}}, "weight bits must be an int in [2, 16], got 20"),
])
def test_bad_formats_are_refused_in_one_line(spec, message):
    with pytest.raises(DeploymentFormatError) as err:
        DeploymentFormat.from_spec(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, ConfigError)


def test_formats_that_do_not_fit_the_network_are_refused(digits):
    net, test = digits
    with pytest.raises(DeploymentFormatError, match=r"threshold 10.0 is above the largest value 7.75 of the threshold format Q3.2"):
        Campaign(net, test, max_samples=4, quantization={"membrane": {"int_bits": 3, "frac_bits": 2}})
    with pytest.raises(DeploymentFormatError, match=r"threshold 10.0 is above the largest membrane value 7.75 of Q3.2"):
        Campaign(net, test, max_samples=4, quantization={"membrane": {"int_bits": 3, "frac_bits": 2},
                                                         "threshold": {"int_bits": 4, "frac_bits": 0}})
    with pytest.raises(FaultSpecError, match=r"faulty neuron parameters are invalid: threshold 0.3 is stored as 0.0 "):
        Campaign(net, test, max_samples=4, quantization={"threshold": {"int_bits": 4, "frac_bits": 0, "signed": False}}
                 ).faulty_slayer({**net.slayer.neuron, "theta": 0.3})
    with pytest.raises(DeploymentFormatError, match="layers names unknown layer 'SF9'"):
        Campaign(net, test, max_samples=4, quantization={"weights": {"bits": 4}, "layers": {"SF9": {"bits": 2}}})
    with pytest.raises(DeploymentFormatError, match="layer 'SP1' has no stored weights"):
        Campaign(net, test, max_samples=4, quantization={"layers": {"SP1": {"bits": 2}}})
    with pytest.raises(DeploymentFormatError, match=r"unknown deployment format key\(s\) \['bits'\]"):
        CampaignSpec.from_dict({"network": {"pretrained": "digits_cnn"},
                                "options": {"quantization": {"bits": 4}}})


def test_a_deployed_campaign_ships_to_workers_and_runs_through_the_networks_own_forward(digits):
    """What an executor does (a portable copy, pickled) and the scoped-hook path (force_hooks)
    give the same table as the chain engines."""
    import pickle

    net, test = digits
    cmpn = Campaign(net, test, max_samples=8, quantization=FORMATS[1])
    cmpn.exhaustive(BitFlipSynapse([1]), layers=["SF4"], sample=3)
    cmpn.exhaustive(DeadNeuron(), layers=["SF3"], sample=3)
    cols = ["accuracy", "spike_count_deviation", "critical"]
    chain = cmpn.run(progress=False).table[cols]
    shipped = pickle.loads(pickle.dumps(cmpn.portable_copy()))
    assert isinstance(shipped.netmap.slayer, DeployedLayer)
    assert shipped.run(progress=False).table[cols].equals(chain)
    cmpn.force_hooks = True
    assert cmpn.run(progress=False, engine="naive").table[cols].equals(chain)


class _TinyNet(torch.nn.Module):
    """Two dense SLAYER layers with Ts = 3 (spikes of value 1/3: not exact in binary)."""

    def __init__(self) -> None:
        super().__init__()
        from spikefi.snn import layer

        self.slayer = layer({"type": "SRMALPHA", "theta": 5, "tauSr": 3.0, "tauRef": 1.0, "scaleRef": 2,
                             "tauRho": 1, "scaleRho": 1}, {"Ts": 3.0, "tSample": 90})
        self.fc1 = self.slayer.dense(24, 16, weightScale=4)
        self.fc2 = self.slayer.dense(16, 4, weightScale=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.slayer.spike(self.slayer.psp(self.fc2(self.slayer.spike(self.slayer.psp(self.fc1(x))))))


def test_exact_rounding_when_the_spike_value_is_not_a_binary_fraction():
    """With Ts = 3 the float potential misses the exact one by rounding noise; with power-of-two
    weight scales and floor rounding the exact potential often lies exactly on the membrane grid.
    The deployed spikes equal an exact rational reference (fractions.Fraction) of the chip's
    arithmetic, although the raw float potentials would floor the other way."""
    from fractions import Fraction

    torch.manual_seed(0)
    net = _TinyNet()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(6, 24, 1, 1, 30, generator=g) < 0.3).float() / 3.0
    spec = {"weights": {"bits": 5, "scale_type": "power_of_two"},
            "membrane": {"int_bits": 6, "frac_bits": 3, "rounding": "floor"},
            "psp_kernel": {"int_bits": 0, "frac_bits": 5, "signed": False}}
    fmt = DeploymentFormat.from_spec(spec)
    cmpn = Campaign(net, (x, torch.zeros(6, dtype=torch.long)), quantization=spec)
    cmpn.golden()
    slayer = cmpn.netmap.slayer
    taps = [Fraction(float(v)) for v in slayer.srmKernel.tolist()]
    ref = [int(round(float(v) * 8)) for v in slayer.refKernel.tolist()]  # integers of 1/8
    theta8 = int(slayer.theta_q * 8)
    spikes = (x * 3).round().to(torch.int64)  # 0/1 counts
    near_misses = 0
    for name in ("fc1", "fc2"):
        qp = cmpn.qparams[name]
        w = [[Fraction(int(c)) * Fraction(qp.scale) for c in row] for row in cmpn.qcodes[name].reshape(
            cmpn.qcodes[name].shape[0], -1).tolist()]
        s_in = spikes.reshape(spikes.shape[0], -1, spikes.shape[-1]).tolist()
        out = torch.zeros(len(s_in), len(w), 1, 1, 30, dtype=torch.int64)
        # the float potentials before rounding (SLAYER's psp with the stored kernel) and the deployed ones
        a_float = cmpn.netmap.layer_forward(name, spikes.to(torch.float64) / 3.0)
        flt = super(DeployedLayer, slayer).psp(a_float)
        deployed = slayer.psp(a_float)
        for b in range(len(s_in)):
            for o in range(len(w)):
                a = [sum((w[o][i] for i in range(len(w[o])) if s_in[b][i][t]), Fraction(0)) for t in range(30)]
                refr = [0] * 30
                for t in range(30):
                    p = sum((a[t - k] * taps[k] for k in range(min(len(taps), t + 1))), Fraction(0))
                    n = math.floor(p * 8)
                    assert float(deployed[b, o, 0, 0, t]) * 8 == n
                    if math.floor(float(flt[b, o, 0, 0, t]) * 8) != n:
                        near_misses += 1  # flooring the raw float potential would store another value
                    v = max(min(n + refr[t], 2 ** 9 - 1), -(2 ** 9))
                    if v >= theta8:
                        out[b, o, 0, 0, t] = 1
                        for k in range(1, len(ref)):
                            if t + k < 30:
                                refr[t + k] += ref[k]
        assert torch.equal(cmpn.golden_batch(0).spikes[name], out != 0), name
        spikes = out.reshape(out.shape[0], -1, 1, 1, 30)
    assert near_misses > 0  # the case the snapping exists for does occur here (raw floats floor wrongly)
    assert fmt.membrane.rounding == "floor"


def test_deployed_neuron_never_takes_the_float_fused_kernel(digits, monkeypatch):
    """Where the fused path is active (CUDA), a deployed (fixed-point) neuron still fires through
    its own psp and spike: the fused kernel is the float SRM neuron."""
    import sys

    snn_layer = sys.modules["spikefi.snn.layer"]  # the module (``spikefi.snn.layer`` is the class)
    net, test = digits
    shipped = Campaign(net, test, max_samples=4, quantization=FORMATS[0])
    slayer = shipped.netmap.slayer
    assert isinstance(slayer, DeployedLayer)
    monkeypatch.setattr(snn_layer, "fused_active", lambda a: True)
    monkeypatch.setattr(fn, "_fire_kernel_ok", lambda *a: True)
    a = torch.randn(2, 3, 1, 1, 30, generator=torch.Generator().manual_seed(2)) * 2
    plain = snn_layer.layer(dict(slayer.neuron), dict(slayer.simulation))
    assert plain._fuses(a) and not slayer._fuses(a) and not slayer._fuses(a, replaced_ok=True)
    assert torch.equal(slayer.fire(a), slayer.spike(slayer.psp(a)))
