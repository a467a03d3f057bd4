"""Issue 32, item 3 (and 1, neuron state): transient upsets of the membrane potential and the
refractory state of SLAYER neurons, float32 or fixed point, and soft errors of the neuron
state at a rate. Engines agree, and equal a brute-force reference: the network run layer by
layer in float64 with this file's own threshold/refractory loop (numpy), the upsets applied
with numpy's float32 view or Python integers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from spikefi.campaign import Campaign, CampaignSpec
from spikefi.data import load_spiking_digits
from spikefi.errors import FaultSpecError
from spikefi.faults import (
    DeadNeuron,
    Fault,
    MembraneUpset,
    ParametricNeuron,
    RefractoryUpset,
    Site,
    StateSoftErrors,
)
from spikefi.faults.models import model_from_spec
from spikefi.faults.neuron_state import StateRegister
from spikefi.faults.sites import LayerInfo, resolve_fault
from spikefi.snn.loss import spike_counts
from spikefi.testgen.faultlist import FaultList
from spikefi.zoo import load_pretrained

ENGINES = ("naive", "sequential", "parallel")
SHAPES = {"SC1": (8, 16, 16), "SP1": (8, 8, 8), "SC2": (16, 8, 8), "SP2": (16, 4, 4), "SF3": (64, 1, 1),
          "SF4": (10, 1, 1)}
T = 30


@pytest.fixture(scope="module")
def digits():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    return net.double(), (test.tensors[:12].double(), test.labels[:12])


def campaign(digits) -> Campaign:
    net, data = digits
    return Campaign(net, data, batch_size=5, seed=3)


# -- brute force ----------------------------------------------------------------------------


def ref_flip_float32(x: float, bits) -> float:
    v = np.array([x], dtype=np.float32).view(np.uint32)
    for b in bits:
        v ^= np.uint32(1 << b)
    return float(v.view(np.float32)[0])


def ref_flip_fixed(x: float, bits, width: int, frac: int) -> float:
    if not math.isfinite(x):
        return x
    q = min(max(round(x * 2**frac), -(2 ** (width - 1))), 2 ** (width - 1) - 1)
    stored = q & ((1 << width) - 1)
    for b in bits:
        stored ^= 1 << b
    if stored >= 1 << (width - 1):
        stored -= 1 << width
    return float(np.float64(x) + np.float64((stored - q) * 2.0**-frac))


def ref_spikes(u: np.ndarray, theta: float, ref: np.ndarray, upsets: dict[int, dict[int, tuple]]) -> np.ndarray:
    """Rows of potentials ``u`` (N, T); ``upsets`` {row: {step: (state, bits, width, frac)}}."""
    u = u.copy()
    psp = u.copy()
    r = np.zeros_like(u)
    s = np.zeros_like(u)
    steps = u.shape[1]
    for t in range(steps):
        for row, per_step in upsets.items():
            if t in per_step:
                state, bits, width, frac = per_step[t]
                value = u[row, t] if state == "membrane" else r[row, t]
                flipped = ref_flip_float32(value, bits) if width is None else ref_flip_fixed(value, bits, width, frac)
                u[row, t] = flipped if state == "membrane" else psp[row, t] + flipped
        fired = u[:, t] >= theta
        s[:, t] = fired
        end = min(len(ref), steps - t)
        for row in np.nonzero(fired)[0]:
            u[row, t + 1 : t + end] += ref[1:end]
            r[row, t + 1 : t + end] += ref[1:end]
    return s


def brute_force_predictions(cmpn: Campaign, rnd) -> tuple[np.ndarray, dict[str, int]]:
    """Predictions and per-layer spike counts of the round's neuron-state upsets."""
    net = cmpn.net
    slayer = net.slayer
    theta = float(slayer.neuron["theta"])
    ref = slayer.refKernel.double().numpy()
    x = cmpn.x.double()
    counts = {}
    for name in cmpn.netmap.order:
        u = net.membrane_potential(name, x).detach().numpy()
        shape = u.shape
        rows = u.reshape(-1, shape[-1])
        upsets: dict[int, dict[int, tuple]] = {}
        for f in rnd.faults:
            if f.layer != name:
                continue
            m = f.model
            for pos in f.positions:
                for b in range(shape[0]):
                    row = int(np.ravel_multi_index((b, *pos), shape[:-1]))
                    upsets[row] = {t: (m.state, bits, m.register.width, m.register.frac_bits) for t, bits in m.upsets}
        s = ref_spikes(rows, theta, ref, upsets).reshape(shape)
        counts[name] = int(s.sum())
        x = torch.tensor(s / float(slayer.Ts), dtype=torch.float64)
    return cmpn.predict_counts(spike_counts(x)).numpy(), counts


def assert_engines_agree(cmpn: Campaign):
    results = {e: cmpn.run(engine=e, chunk_size=3, progress=False, keep_predictions=True) for e in ENGINES}
    ref = results["naive"]
    cols = [c for c in ref.table.columns if c != "seconds"]
    for e, r in results.items():
        assert (r.predictions == ref.predictions).all(), e
        pd.testing.assert_frame_equal(r.table[cols], ref.table[cols], check_exact=False, rtol=1e-9)
    return ref


# -- the register ---------------------------------------------------------------------------


def test_register_flips():
    x = torch.tensor([1.0, -2.5, 0.0, 9.75, float("inf")], dtype=torch.float64)
    f32 = StateRegister()
    assert f32.flip(x, [31])[:4].tolist() == [-1.0, 2.5, -0.0, -9.75]
    assert f32.flip(x, [30]).tolist()[:2] == [ref_flip_float32(1.0, [30]), ref_flip_float32(-2.5, [30])]
    fixed = StateRegister(16, 8)
    for v in (1.0, -2.5, 0.0, 9.75, 127.99, -128.0, 0.123456):
        for bits in ([0], [8], [14], [15], [3, 15]):
            got = fixed.flip(torch.tensor([v], dtype=torch.float64), bits).item()
            assert got == ref_flip_fixed(v, bits, 16, 8), (v, bits)
    assert fixed.flip(torch.tensor([1.0]), [15]).item() == 1.0 - 128.0  # the sign bit of q = 256
    assert math.isinf(fixed.flip(x, [3])[4].item())  # a non-finite value is not a fixed-point value
    for kwargs, match in (({"width": 40}, "register width must be null"), ({"frac_bits": 3}, "give width"),
                          ({"width": 8, "frac_bits": 8}, "must be below the width")):
        with pytest.raises(FaultSpecError, match=match):
            StateRegister(**kwargs)


def test_model_parameters_and_errors():
    m = MembraneUpset(30, 5)
    assert m.params() == {"bits": 30, "steps": 5, "width": None, "frac_bits": 0}
    assert model_from_spec(m.spec()) == m and m.scalar_parameter() == ("bit", 30.0)
    r = RefractoryUpset([[15], [3, 4]], [9, 2], width=16, frac_bits=8)
    assert r.upsets == ((2, (3, 4)), (9, (15,)))
    assert model_from_spec(r.spec()) == r and r.scalar_parameter() == ("upset_bits", 3.0)
    for args, kwargs, match in (
            ((32, 1), {}, "bit index out of range .* allowed 0..31"),
            ((8, 1), {"width": 8}, "allowed 0..7"),
            (([1, 1], 1), {}, "bits must be distinct"),
            ((1, [2, 2]), {}, "steps must be distinct"),
            ((1, -1), {}, "steps must be a time step"),
            (([[1], [2]], [3]), {}, "2 bit lists for 1 steps")):
        with pytest.raises(FaultSpecError, match=match):
            MembraneUpset(*args, **kwargs)
    with pytest.raises(FaultSpecError, match="no faulty neuron parameters"):
        m.faulty_neuron({})


def test_upsets_engines_and_brute_force(digits):
    cmpn = campaign(digits)
    cmpn.then_inject(Fault(MembraneUpset(30, [3, 10]), Site("SF4", (2, 0, 0))))
    cmpn.then_inject(Fault(MembraneUpset(31, 12), [Site("SF3", (5, 0, 0)), Site("SF3", (7, 0, 0))]))
    cmpn.then_inject(Fault(MembraneUpset(30, 4), Site("SC1"), count=20))
    cmpn.then_inject(Fault(RefractoryUpset(30, [6, 14, 20]), Site("SF4", (1, 0, 0))))
    cmpn.then_inject(Fault(RefractoryUpset([[31], [30, 29]], [8, 11]), Site("SF3"), count=10))
    cmpn.then_inject(Fault(MembraneUpset(14, [2, 9, 17], width=16, frac_bits=8), Site("SF4"), count=3))
    cmpn.then_inject([Fault(RefractoryUpset(12, 7, width=16, frac_bits=8), Site("SF4", (4, 0, 0))),
                      Fault(DeadNeuron(), Site("SF3", (1, 0, 0)))])
    cmpn.then_inject(Fault(MembraneUpset(0, 3), Site("SF4", (0, 0, 0))))  # a mantissa LSB: harmless
    ref = assert_engines_agree(cmpn)
    golden_pred = ref.predictions[7]
    effects = 0
    for rnd in cmpn.rounds:
        if any(isinstance(f.model, DeadNeuron) for f in rnd.faults):
            continue
        pred, counts = brute_force_predictions(cmpn, rnd)
        assert (ref.predictions[rnd.round_id] == pred).all(), rnd.round_id
        row = ref.table.set_index("round_id").loc[rnd.round_id]
        for name, count in counts.items():
            assert row[f"spikes.{name}"] == count, (rnd.round_id, name)
        effects += int((pred != golden_pred).any() or row["spike_count_deviation"] > 0)
    assert effects >= 3  # the upsets change outputs for real


def test_state_soft_errors(digits):
    cmpn = campaign(digits)
    model = StateSoftErrors(rate=2e-6, exposure=1.0)  # N = 3,040 neurons * 30 steps * 32 bits: ~5.8 upsets
    for _ in range(3):
        cmpn.then_inject(Fault(model))
    cmpn.then_inject(Fault(StateSoftErrors(1e-3, state="refractory", width=12, frac_bits=4), Site("SF4")))
    ref = assert_engines_agree(cmpn)
    neurons = sum(math.prod(s) for s in SHAPES.values())
    for rnd in cmpn.rounds[:3]:
        # this file's own redraw of the upsets: K ~ Binomial(N, p), K distinct cells
        rng = np.random.default_rng([3, rnd.round_id, 0, 7])
        total = neurons * T * 32
        k = int(rng.binomial(total, model.probability))
        cells = set()
        for c in rng.choice(total, size=k, replace=False):
            rest, bit = divmod(int(c), 32)
            neuron, step = divmod(rest, T)
            cells.add((neuron, step, bit))
        got = set()
        offsets = dict(zip(SHAPES, np.cumsum([0, *[math.prod(s) for s in SHAPES.values()]])[:-1], strict=True))
        for f in rnd.faults:
            assert isinstance(f.model, MembraneUpset) and f.source is model
            for pos in f.positions:
                n = int(offsets[f.layer] + np.ravel_multi_index(pos, SHAPES[f.layer]))
                got.update((n, t, b) for t, bits in f.model.upsets for b in bits)
        assert got == cells
        pred, _ = brute_force_predictions(cmpn, rnd)
        assert (ref.predictions[rnd.round_id] == pred).all()
    last = cmpn.rounds[3]
    assert {f.layer for f in last.faults} == {"SF4"}
    assert all(isinstance(f.model, RefractoryUpset) and f.model.register.width == 12 for f in last.faults)
    assert (ref.predictions[3] == brute_force_predictions(cmpn, last)[0]).all()
    table = ref.table
    assert (table["param_name"] == "state_upset_probability").all()
    assert math.isclose(table["param"].iloc[0], model.probability)


def test_errors_are_one_line(digits):
    cmpn = campaign(digits)
    with pytest.raises(FaultSpecError, match=r"step\(s\) \[30\] out of range: .* T = 30 steps") as info:
        cmpn.then_inject(Fault(MembraneUpset(3, 30), Site("SF4", (0, 0, 0))))
    assert "\n" not in str(info.value)
    with pytest.raises(FaultSpecError, match="unknown layer 'XX'"):
        cmpn.then_inject(Fault(StateSoftErrors(1e-3), Site("XX")))
    with pytest.raises(FaultSpecError, match="sites name layers only"):
        cmpn.then_inject(Fault(StateSoftErrors(1e-3), Site("SF4", (0, 0, 0))))
    with pytest.raises(FaultSpecError, match="cannot draw 1 distinct sites"):  # a neuron takes one of them
        cmpn.then_inject([Fault(MembraneUpset(3, 1), Site("SF4", (0, 0, 0))),
                          Fault(ParametricNeuron("theta", 2.0), Site("SF4", (0, 0, 0)))])
    with pytest.raises(FaultSpecError, match="StateSoftErrors draws its cells anew in every round; a test program "
                                             "needs fixed per-neuron faults") as info:
        FaultList.from_rounds([Fault(StateSoftErrors(1e-3))])
    assert "\n" not in str(info.value)
    layers = {"SF4": LayerInfo("SF4", 0, "dense", (10, 1, 1), (10, 64, 1, 1))}
    with pytest.raises(FaultSpecError, match="neuron-state registers; a Campaign resolves it"):
        resolve_fault(Fault(StateSoftErrors(1e-3)), layers, np.random.default_rng(0))
    for bad, match in (({"rate": -1.0}, "rate must be a finite number >= 0"), ({"rate": 0.0}, "upsets nothing"),
                       ({"rate": 1e-3, "state": "leak"}, "state must be one of")):
        with pytest.raises(FaultSpecError, match=match):
            StateSoftErrors(**bad)


def test_yaml(digits):
    spec = CampaignSpec.from_yaml("""
name: state
network: {pretrained: digits_cnn}
data: {name: spiking_digits, seed: 0, max_samples: 6}
options: {seed: 2, batch_size: 6}
rounds:
  - - {model: MembraneUpset, bits: 30, steps: [4, 8], sites: [{layer: SF4, position: [3, 0, 0]}]}
  - - {model: RefractoryUpset, bits: [[3], [14]], steps: [5, 6], width: 16, frac_bits: 8, sites: [{layer: SF3}], count: 2}
  - - {model: StateSoftErrors, rate: 1.0e-5, exposure: 2.0, state: membrane}
""")
    cmpn = spec.build()
    table = cmpn.run(progress=False).table
    assert list(table["model"])[:2] == ["MembraneUpset", "RefractoryUpset"]
    assert table["n_faults"].iloc[2] > 0


def test_scoped_hooks_and_fault_list_round_trip(digits):
    """The network's own forward with scoped hooks gives the chain engines' result; a result's
    drawn upsets become fixed per-neuron faults of a fault list that reproduce it."""
    from spikefi.testgen.faultlist import fault_list_from_result

    cmpn = campaign(digits)
    cmpn.then_inject(Fault(MembraneUpset(30, [3, 10]), Site("SF4", (2, 0, 0))))
    cmpn.then_inject(Fault(RefractoryUpset(30, [6, 14]), Site("SF3"), count=6))
    cmpn.then_inject(Fault(StateSoftErrors(1e-5), Site("SF3")))
    chain = cmpn.run(engine="sequential", progress=False, keep_predictions=True)
    cmpn.force_hooks = True
    try:
        hooked = cmpn.run(engine="naive", progress=False, keep_predictions=True)
    finally:
        cmpn.force_hooks = False
    assert (hooked.predictions == chain.predictions).all()
    cols = ["accuracy", "critical", "changed", "n_faults", *(f"spikes.{n}" for n in cmpn.netmap.order)]
    pd.testing.assert_frame_equal(hooked.table[cols], chain.table[cols])
    flist = fault_list_from_result(chain)
    again = campaign(digits)
    for faults in flist.rounds:
        again.then_inject(list(faults))
    replay = again.run(engine="parallel", progress=False, keep_predictions=True)
    assert (replay.predictions == chain.predictions).all()


def test_nir_networks_refuse_state_upsets_in_one_line():
    pytest.importorskip("nir")
    from ..nir.test_campaign import _net

    net, x, y = _net("conv")
    cmpn = Campaign(net, (x, y), seed=0)
    with pytest.raises(FaultSpecError, match="upsets the state of SLAYER neurons; layer 'lif1' is a NIR neuron stage "
                                             "\\(use MembraneBitFlip\\)") as info:
        cmpn.then_inject(Fault(MembraneUpset(30, 1), Site("lif1"), count=1))
    assert "\n" not in str(info.value)
    with pytest.raises(FaultSpecError, match="StateSoftErrors upsets the state of SLAYER neurons; this network is a NIR"):
        cmpn.then_inject(Fault(StateSoftErrors(1e-3)))
