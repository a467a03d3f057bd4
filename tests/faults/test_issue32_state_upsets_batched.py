"""Issue 32 (cost of neuron-state upsets): the upsets of many faults of one layer run as one
simulation (:class:`spikefi.faults.neuron_state.UpsetPlan`), the steps between upsets by the
golden spiking function. Checked against a brute force written here: every fault's neurons
simulated on their own, step by step, in numpy with the same arithmetic (float32 or float64),
upsets applied with numpy's float32 view or Python integers; and in a campaign, a round with
many upsets in every engine against the layer-by-layer float64 reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikefi.faults import Fault, MembraneUpset, RefractoryUpset, Site, StateSoftErrors
from spikefi.faults.neuron_state import UpsetPlan, simulate_plan, simulate_with_upsets
from spikefi.snn import functional
from spikefi.snn.functional import _simulate_spikes_torch

from .test_issue32_neuron_state import (
    T,
    assert_engines_agree,
    brute_force_predictions,
    campaign,
    digits,  # noqa: F401  (the fixture)
    ref_flip_fixed,
    ref_flip_float32,
)


def brute_force(u: np.ndarray, theta: float, ref: np.ndarray, upsets: dict[int, tuple], state: str,
                width: int | None, frac: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``u`` (N, T) of one fault's neurons with ``upsets`` {step: bits}: SLAYER's loop in
    ``u``'s dtype, every refractory response added (``ref * fired``) at every step."""
    u = u.copy()
    psp = u.copy()
    r = np.zeros_like(u)
    s = np.zeros_like(u)
    steps = u.shape[1]
    for t in range(steps):
        if t in upsets:
            for row in range(u.shape[0]):
                value = float(u[row, t] if state == "membrane" else r[row, t])
                flipped = ref_flip_float32(value, upsets[t]) if width is None else ref_flip_fixed(value, upsets[t], width,
                                                                                                 frac)
                if state == "membrane":
                    u[row, t] = flipped
                else:
                    u[row, t] = psp[row, t] + u.dtype.type(flipped)
        fired = (u[:, t] >= theta).astype(u.dtype)
        s[:, t] = fired
        end = min(len(ref), steps - t)
        u[:, t + 1:t + end] += ref[None, 1:end] * fired[:, None]
        r[:, t + 1:t + end] += ref[None, 1:end] * fired[:, None]
    return s, u


def random_models(rng: np.random.Generator, cls: type, n: int, steps: int, nbits: int, width: int | None,
                  frac: int) -> list[tuple]:
    """``n`` models with 1..4 upset steps each (several bits at some), 1..3 neurons each."""
    out = []
    for _ in range(n):
        ts = sorted(rng.choice(steps, size=int(rng.integers(1, 5)), replace=False).tolist())
        bits = [sorted(rng.choice(nbits, size=int(rng.integers(1, 3)), replace=False).tolist()) for _ in ts]
        out.append((cls(bits, ts, width, frac), int(rng.integers(1, 4))))
    return out


@pytest.mark.parametrize(("state", "dtype", "width", "frac"), [
    ("membrane", torch.float32, None, 0), ("refractory", torch.float32, None, 0),
    ("membrane", torch.float64, 16, 8), ("refractory", torch.float32, 12, 4), ("membrane", torch.float64, None, 0)])
@pytest.mark.parametrize("stretches", [False, True])  # True: the CUDA way (here the PyTorch loop runs them)
@pytest.mark.parametrize("n_models", [60, 4])  # dense upset steps; long stretches between them
def test_many_upsets_in_one_simulation_equal_brute_force(state, dtype, width, frac, stretches, n_models, monkeypatch):
    rng = np.random.default_rng([32, len(state), 0 if width is None else width])
    steps, theta, samples = 41, 1.0, 3
    ref = -2.0 * theta * np.exp(-np.arange(6) / 2.0) * np.arange(6) / 2.0  # a 6-step refractory kernel
    cls = MembraneUpset if state == "membrane" else RefractoryUpset
    nbits = 32 if width is None else width
    bits_used = [b for b in (30, 29, 23, 31, 3) if b < nbits] if width is None else list(range(nbits))
    parts = random_models(rng, cls, n_models, steps, nbits, width, frac)
    # many flips of the exponent and the sign: most of them change spikes
    parts = [(cls([[int(rng.choice(bits_used))] if rng.random() < 0.7 else list(b) for _, b in m.upsets],
                  m.steps, width, frac), k) for m, k in parts]
    cols = sum(k for _, k in parts)
    u = torch.tensor(rng.normal(0.7, 0.6, size=(samples, cols, steps)), dtype=dtype)
    ref_t = torch.tensor(ref, dtype=dtype)
    runs: list[int] = []
    simulate = functional._simulate_spikes
    monkeypatch.setattr(functional, "_simulate_spikes", lambda v, *a: runs.append(v.shape[-1]) or simulate(v, *a))
    spikes, u_after = simulate_plan(u, theta, ref_t, 1.0, UpsetPlan(parts, "cpu"), stretches=stretches)
    monkeypatch.undo()
    assert spikes.shape == u.shape
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    offset, changed = 0, 0
    golden = _simulate_spikes_torch(u, theta, ref_t, 1.0)[0]
    for model, k in parts:
        rows = u[:, offset:offset + k].numpy().astype(np_dtype).reshape(-1, steps)
        s_ref, u_ref = brute_force(rows, theta, ref.astype(np_dtype), dict(model.upsets), state, width, frac)
        got_s = spikes[:, offset:offset + k].reshape(-1, steps).numpy()
        got_u = u_after[:, offset:offset + k].reshape(-1, steps).numpy()
        assert np.array_equal(got_s, s_ref), (model, offset)
        nan = np.isnan(u_ref)  # a flip to NaN: the reference's Python float round trip may quiet it
        assert np.array_equal(np.isnan(got_u), nan), (model, offset)
        assert np.array_equal(np.where(nan, 0, got_u).view(np.uint8), np.where(nan, 0, u_ref).view(np.uint8)), (
            model, offset)  # bit for bit (the sign of zero included)
        # the single-model entry point (one fault on its own) gives the same
        one_s, one_u = simulate_with_upsets(u[:, offset:offset + k], theta, ref_t, 1.0, dict(model.upsets), state,
                                            model.register)
        assert torch.equal(one_s, spikes[:, offset:offset + k])
        changed += int(not torch.equal(spikes[:, offset:offset + k], golden[:, offset:offset + k]))
        offset += k
    assert changed >= (10 if n_models > 10 else 1)  # the upsets change spikes for real
    if stretches and n_models < 10:  # the golden spiking function ran stretches of more than two steps
        assert any(n > 2 for n in runs), runs


def test_plan_layout_and_errors():
    a, b = MembraneUpset(30, [2, 5]), MembraneUpset([[31], [3, 4]], [5, 9])
    plan = UpsetPlan([(a, 2), (b, 3)], "cpu")
    assert plan.columns == 5 and plan.last_step == 9
    assert [t for t, _, _ in plan.by_step] == [2, 5, 9]
    t, start, end = plan.by_step[1]  # step 5: bit 30 in columns 0-1, bit 31 in columns 2-4
    assert plan.cols[start:end].tolist() == [0, 1, 2, 3, 4]
    assert plan.masks[start:end].tolist() == [1 << 30] * 2 + [-(1 << 31)] * 3
    full = UpsetPlan([(MembraneUpset(30, 4), 7)], "cpu")
    assert full.by_step == [(4, -1, 1 << 30)]  # every column, one mask: no index
    with pytest.raises(ValueError, match="one state and one register format"):
        UpsetPlan([(a, 1), (RefractoryUpset(30, 2), 1)], "cpu")
    with pytest.raises(ValueError, match=r"must be \(B, 5, T\)"):
        simulate_plan(torch.zeros(1, 4, 12), 1.0, torch.zeros(3), 1.0, plan)
    with pytest.raises(Exception, match=r"step\(s\) \[9\] out of range: the input has T = 8 steps"):
        simulate_plan(torch.zeros(1, 5, 8), 1.0, torch.zeros(3), 1.0, plan)


def test_round_with_many_upsets_in_every_engine(digits):  # noqa: F811
    """~140 state upsets in one round (every layer), many in one dense layer, and a round with
    upset faults of two register formats in one layer: the engines agree and equal the float64
    layer-by-layer reference."""
    cmpn = campaign(digits)
    cmpn.then_inject(Fault(StateSoftErrors(5e-5)))
    cmpn.then_inject(Fault(StateSoftErrors(2e-3, state="refractory", width=12, frac_bits=4), Site("SF3")))
    cmpn.then_inject([Fault(MembraneUpset(30, [3, 9]), Site("SC2"), count=12),
                      Fault(MembraneUpset(14, [4, 9], width=16, frac_bits=8), Site("SC2"), count=12),
                      Fault(MembraneUpset(31, 6), Site("SF3"), count=5)])
    ref = assert_engines_agree(cmpn)
    assert ref.table["n_faults"].iloc[0] >= 60
    for rnd in cmpn.rounds:
        assert len(rnd.faults) >= 3
        pred, counts = brute_force_predictions(cmpn, rnd)
        assert (ref.predictions[rnd.round_id] == pred).all(), rnd.round_id
        row = ref.table.set_index("round_id").loc[rnd.round_id]
        for name, count in counts.items():
            assert row[f"spikes.{name}"] == count, (rnd.round_id, name)


def test_batched_faults_give_each_fault_its_own_spikes_and_gradient(digits):  # noqa: F811
    """Training under faults: the batched simulation's spikes and surrogate gradients equal
    those of every fault's neurons simulated on their own."""
    from spikefi.faults.neuron_state import UpsetFire, fire_upsets

    slayer = digits[0].slayer
    rng = np.random.default_rng(5)
    parts = random_models(rng, MembraneUpset, 5, T, 32, None, 0)
    cols = sum(k for _, k in parts)
    a = torch.tensor(rng.normal(0.3, 0.4, size=(2, cols, T)), dtype=torch.float64, requires_grad=True)
    weight = torch.tensor(rng.normal(size=(2, cols, T)), dtype=torch.float64)
    (fire_upsets(slayer, parts, a) * weight).sum().backward()
    batched = a.grad.clone()
    a.grad = None
    offset, outs = 0, []
    for model, k in parts:
        block = a[:, offset:offset + k]
        outs.append(UpsetFire(slayer, model)(block))
        offset += k
    single = torch.cat(outs, dim=1)
    (single * weight).sum().backward()
    assert torch.equal(single.detach(), fire_upsets(slayer, parts, a.detach()))
    assert torch.equal(batched, a.grad) and batched.abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("state", ["membrane", "refractory"])
def test_cuda_stretches_by_the_fused_kernel_equal_the_step_loop_and_the_cpu(state):
    """On CUDA the stretches without upsets run the fused kernel (where Triton is): the same
    spikes and potentials, bit for bit, as the step-by-step loop there and on the CPU."""
    rng = np.random.default_rng(9)
    cls = MembraneUpset if state == "membrane" else RefractoryUpset
    parts = random_models(rng, cls, 6, 50, 32, None, 0)
    cols = sum(k for _, k in parts)
    u = torch.tensor(rng.normal(0.7, 0.6, size=(16, cols, 50)), dtype=torch.float32)
    ref = torch.tensor(-2.0 * np.exp(-np.arange(4) / 2.0) * np.arange(4) / 2.0, dtype=torch.float32)
    want = simulate_plan(u, 1.0, ref, 1.0, UpsetPlan(parts, "cpu"), stretches=False)
    for stretches in (None, False):
        got = simulate_plan(u.cuda(), 1.0, ref.cuda(), 1.0, UpsetPlan(parts, "cuda"), stretches=stretches)
        for g, w in zip(got, want, strict=True):
            g = g.cpu()
            assert torch.equal(torch.isnan(g), torch.isnan(w))
            assert torch.equal(torch.nan_to_num(g).view(torch.int32), torch.nan_to_num(w).view(torch.int32))
