"""spikefi.nir.load on Scale, Threshold, Delay, Conv1d, CubaLI, I (integrator) and nested graphs.

Every stage is checked against an independent float64 numpy reference of NIR's equations
(written from the node definitions, not from the stages); bad parameters give one-line
errors naming the node; a campaign through Scale, Delay and Threshold agrees across engines.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from spikefi.errors import SpikeFIError

nir = pytest.importorskip("nir", reason="spikefi[nir] extra (nir==1.0.8) not installed")
snir = pytest.importorskip("spikefi.nir")

DT, N, T = 1e-3, 3, 40


def _chain(shape: tuple[int, ...], nodes: dict[str, Any], out: int | tuple[int, ...] = 1) -> Any:
    """``input -> nodes... -> output``."""
    allnodes = {"input": nir.Input(input_type=np.array(shape)), **nodes,
                "output": nir.Output(output_type=np.array(np.atleast_1d(out)))}
    order = list(allnodes)
    return nir.NIRGraph(nodes=allnodes, edges=list(zip(order[:-1], order[1:], strict=True)), type_check=False)


def _run(graph: Any, x: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, Any]:
    kwargs = {"dt": DT, "convention": "euler", "dtype": torch.float64, **kwargs}
    net = snir.load(graph, **kwargs)
    return net(torch.tensor(x)).numpy(), net


def _dense(x: np.ndarray) -> np.ndarray:
    """``(N, F, T)`` -> ``(N, F, 1, 1, T)``."""
    return x[:, :, None, None, :]


def _one_line(cls: type, needle: str, graph: Any, **kwargs: Any) -> None:
    kwargs = {"dt": DT, "convention": "euler", **kwargs}
    with pytest.raises(cls) as info:
        snir.load(graph, **kwargs)
    message = str(info.value)
    assert "\n" not in message and needle in message, message
    assert isinstance(info.value, SpikeFIError)


# -- Scale ------------------------------------------------------------------------------------
def test_scale_per_feature_and_per_neuron_is_exact():
    rng = np.random.default_rng(0)
    s = rng.normal(size=5)
    x = rng.normal(size=(N, 5, T))
    got, net = _run(_chain((5,), {"s": nir.Scale(scale=s)}, 5), _dense(x))
    assert isinstance(net.stages["s"], snir.ScaleStage)
    np.testing.assert_array_equal(got[:, :, 0, 0], x * s[None, :, None])  # one product each: exact
    s3 = rng.normal(size=(2, 3, 4))
    x3 = rng.normal(size=(N, 2, 3, 4, T))
    got3, _ = _run(_chain((2, 3, 4), {"s": nir.Scale(scale=s3)}, (2, 3, 4)), x3)
    np.testing.assert_array_equal(got3, x3 * s3[None, ..., None])
    uniform, net = _run(_chain((5,), {"s": nir.Scale(scale=np.full(5, -1.5))}, 5), _dense(x))
    assert net.stages["s"].scale.dim() == 0  # shared by all features
    np.testing.assert_array_equal(uniform[:, :, 0, 0], x * -1.5)


def test_scale_errors():
    _one_line(snir.NIRShapeError, "'s' (Scale): 'scale' has 4 values, the layer has 5 neurons",
              _chain((5,), {"s": nir.Scale(scale=np.ones(4))}))
    _one_line(snir.NIRParameterError, "'s' (Scale): 'scale' holds non-finite values",
              _chain((5,), {"s": nir.Scale(scale=np.array([1.0, np.nan, 1, 1, 1]))}))


# -- Threshold --------------------------------------------------------------------------------
def test_threshold_is_stateless_and_strict():
    rng = np.random.default_rng(1)
    thr = rng.normal(size=6)
    x = rng.normal(size=(N, 6, T))
    x[0, :, 0] = thr  # exactly at the threshold: no spike (strict)
    graph = _chain((6,), {"th": nir.Threshold(threshold=thr)}, 6)
    got, net = _run(graph, _dense(x))
    stage = net.stages["th"]
    assert isinstance(stage, snir.ThresholdStage) and isinstance(stage, snir.NeuronStage) and stage.spiking
    expected = x > thr[None, :, None]
    assert 0 < expected.sum() < expected.size and not expected[0, :, 0].any()
    np.testing.assert_array_equal(got[:, :, 0, 0], expected)
    # the step API agrees with the vectorised forward
    state = stage.init_state(torch.tensor(x[..., 0])[:, :, None, None])
    assert torch.equal(stage.step(torch.tensor(_dense(x)[..., 3]), state), torch.tensor(expected[..., 3])[:, :, None, None])


def test_threshold_fault_hooks_act_on_its_input():
    rng = np.random.default_rng(2)
    thr = rng.uniform(-0.5, 0.5, 4)
    x = rng.normal(size=(N, 4, T))
    _, net = _run(_chain((4,), {"th": nir.Threshold(threshold=thr)}, 4), _dense(x))
    stage = net.stages["th"]
    offset = rng.normal(size=4)
    stage.input_offset = torch.tensor(offset)[:, None, None]
    stage.membrane_flip = ((31,), frozenset({2, 7}))  # sign bit of the float32 input
    got = stage(torch.tensor(_dense(x)))[:, :, 0, 0].numpy()
    v = x + offset[None, :, None]
    for t in (2, 7):
        v[..., t] = -(v[..., t].astype(np.float32).astype(np.float64))
    expected = v > thr[None, :, None]
    assert (expected != (x > thr[None, :, None])).any()
    np.testing.assert_array_equal(got, expected)
    stage.leak_mode = "none"  # no leak to fault: the output does not change
    np.testing.assert_array_equal(stage(torch.tensor(_dense(x)))[:, :, 0, 0].numpy(), expected)


def test_threshold_errors():
    _one_line(snir.NIRShapeError, "'th' (Threshold): 'threshold' has 3 values, the layer has 5 neurons",
              _chain((5,), {"th": nir.Threshold(threshold=np.ones(3))}))


# -- Delay ------------------------------------------------------------------------------------
def _delayed(x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    for f, d in enumerate(steps):
        if d < x.shape[-1]:
            out[:, f, d:] = x[:, f, : x.shape[-1] - d]
    return out


def test_delay_per_feature_shifts_exactly():
    rng = np.random.default_rng(3)
    steps = np.array([0, 1, 4, 7, 0, T + 5])  # the last is longer than the input: all zeros
    x = rng.normal(size=(N, 6, T))
    got, net = _run(_chain((6,), {"d": nir.Delay(delay=steps * DT)}, 6), _dense(x))
    assert isinstance(net.stages["d"], snir.DelayStage)
    expected = _delayed(x, steps)
    np.testing.assert_array_equal(got[:, :, 0, 0], expected)
    assert not got[:, -1].any() and got[:, 2, 0, 0, 4:].any()
    got_u, net = _run(_chain((6,), {"d": nir.Delay(delay=np.full(6, 3 * DT))}, 6), _dense(x))
    assert net.stages["d"].steps.dim() == 0
    np.testing.assert_array_equal(got_u[:, :, 0, 0], _delayed(x, np.full(6, 3)))
    # a (C, H, W) input, dt of another size (2.5 ms; delays 0 .. 12.5 ms)
    d3 = rng.integers(0, 6, size=(2, 2, 3))
    x3 = rng.normal(size=(N, 2, 2, 3, T))
    got3, _ = _run(_chain((2, 2, 3), {"d": nir.Delay(delay=d3 * 2.5e-3)}, (2, 2, 3)), x3, dt=2.5e-3)
    expected3 = _delayed(x3.reshape(N, 12, T), d3.reshape(-1)).reshape(x3.shape)
    np.testing.assert_array_equal(got3, expected3)


def test_delay_errors():
    _one_line(snir.NIRParameterError, "'d' (Delay): delay 0.0015 s is not a whole number of time steps of dt=0.001",
              _chain((3,), {"d": nir.Delay(delay=np.array([0.001, 0.0015, 0.002]))}))
    _one_line(snir.NIRParameterError, "'d' (Delay): 'delay' must be >= 0",
              _chain((3,), {"d": nir.Delay(delay=np.array([0.001, -0.001, 0.002]))}))
    _one_line(snir.NIRShapeError, "'d' (Delay): 'delay' has 2 values, the layer has 3 neurons",
              _chain((3,), {"d": nir.Delay(delay=np.array([0.001, 0.002]))}))


# -- Conv1d -----------------------------------------------------------------------------------
def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int, pad: int, dil: int,
            groups: int) -> np.ndarray:
    """``x`` ``(N, C, L, T)`` -> ``(N, O, L', T)`` by the definition (float64 loops)."""
    n, c, length, t = x.shape
    o, cg, k = w.shape
    xp = np.zeros((n, c, length + 2 * pad, t))
    xp[:, :, pad:pad + length] = x
    out_len = (length + 2 * pad - dil * (k - 1) - 1) // stride + 1
    y = np.zeros((n, o, out_len, t))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for p in range(out_len):
            acc = np.zeros((n, t)) if b is None else np.full((n, t), b[oc])
            for ic in range(cg):
                for j in range(k):
                    acc = acc + w[oc, ic, j] * xp[:, g * cg + ic, p * stride + j * dil]
            y[:, oc, p] = acc
    return y


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups", "bias"),
                         [(1, 0, 1, 1, True), (2, 1, 2, 2, True), (1, "same", 1, 1, False), (1, "valid", 2, 2, True)])
def test_conv1d_matches_a_float64_reference(stride, padding, dilation, groups, bias):
    rng = np.random.default_rng(4)
    c_in, c_out, length, k = 4, 6, 11, 3
    w = rng.integers(-8, 9, size=(c_out, c_in // groups, k)) / 8.0  # dyadic: every sum is exact
    b = rng.integers(-4, 5, size=c_out) / 8.0 if bias else None
    x = (rng.random((N, c_in, length, T)) < 0.4).astype(np.float64)
    node = nir.Conv1d(input_shape=length, weight=w, stride=stride, padding=padding, dilation=dilation,
                      groups=groups, bias=b)
    got, net = _run(_chain((c_in, length), {"conv": node}), x[:, :, :, None, :])
    pad = {"same": dilation * (k - 1) // 2, "valid": 0}.get(padding, padding)  # type: ignore[arg-type]
    expected = _conv1d(x, w, b, stride, pad, dilation, groups)
    assert got.shape == (N, c_out, expected.shape[2], 1, T) and np.abs(expected).sum() > 0
    np.testing.assert_array_equal(got[:, :, :, 0], expected)
    assert isinstance(net.stages["conv"], snir.Conv2dStage)
    assert tuple(net.stages["conv"].weight.shape) == (c_out, c_in // groups, k, 1)


def test_conv1d_is_a_weighted_conv_layer_for_campaigns():
    from spikefi.nir.netmap import NIRNetworkMap

    rng = np.random.default_rng(5)
    w = rng.normal(size=(3, 2, 5))
    shape = (3, 8)
    graph = _chain((2, 12), {
        "conv": nir.Conv1d(input_shape=12, weight=w, stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(3)),
        "lif": nir.LIF(tau=np.full(shape, 0.01), r=np.ones(shape), v_leak=np.zeros(shape), v_threshold=np.ones(shape))})
    net = snir.load(graph, dt=DT, convention="euler")
    netmap = NIRNetworkMap(net, (2, 12, 1), T)
    assert netmap.layers["lif"].kind == "conv" and tuple(netmap.layers["lif"].synapse_shape) == (3, 2, 5, 1)
    assert tuple(netmap.layers["lif"].neuron_shape) == (3, 8, 1)


def test_conv1d_errors():
    def conv(weight, **kw):
        args = {"input_shape": 10, "weight": weight, "stride": 1, "padding": 0, "dilation": 1, "groups": 1,
                "bias": np.zeros(weight.shape[0]), **kw}
        return nir.Conv1d(**args)

    _one_line(snir.NIRShapeError, "'conv' (Conv1d) has weight (2, 3, 3) (groups 1); it is fed 2 channels",
              _chain((2, 10), {"conv": conv(np.ones((2, 3, 3)))}))
    _one_line(snir.NIRShapeError, "'conv' (Conv1d) is fed shape (2, 4, 4); expected a 1-D signal (C, L)",
              _chain((2, 4, 4), {"conv": conv(np.ones((2, 2, 3)))}))
    _one_line(snir.NIRShapeError, "'conv' (Conv1d) cannot take input shape (2, 2, 1)",
              _chain((2, 2), {"conv": conv(np.ones((2, 2, 3)))}))
    _one_line(snir.NIRParameterError, "'conv' (Conv1d): 'stride' is",
              _chain((2, 10), {"conv": conv(np.ones((2, 2, 3)), stride=(1, 2))}))


# -- CubaLI and I (non-spiking readouts) -----------------------------------------------------
def _cubali_ref(x: np.ndarray, convention: str, tau_syn, tau_mem, r, v_leak, w_in, dt) -> np.ndarray:
    """NIR's CubaLI (``tau_syn di/dt = -i + w_in x``, ``tau_mem dv/dt = v_leak - v + r i``)
    discretised per convention (see the loader's module docstring)."""
    i, v, out = np.zeros(x.shape[:2]), np.broadcast_to(v_leak, x.shape[:2]).copy(), []
    for t in range(x.shape[-1]):
        if convention == "snntorch":  # alpha, beta decays; gains w_in*dt/tau_syn, r*dt/tau_mem
            alpha, beta = 1 - dt / tau_syn, 1 - dt / tau_mem
            i = alpha * i + (w_in * dt / tau_syn) * x[..., t]
            v = beta * v + (r * dt / tau_mem) * i + (1 - beta) * v_leak
        elif convention == "norse":  # Norse stores tau = dt/tau_inv: step factors dt*tau_inv = dt*dt/tau
            i = i + w_in * x[..., t]
            v = v + dt * (dt / tau_mem) * ((v_leak - v) + r * i)
            i = i - dt * (dt / tau_syn) * i
        else:
            i = i + dt / tau_syn * (w_in * x[..., t] - i)
            v = v + dt / tau_mem * ((v_leak - v) + r * i)
        out.append(v)
    return np.stack(out, -1)


@pytest.mark.parametrize("convention", ["euler", "snntorch", "norse"])
def test_cubali_matches_a_float64_reference(convention):
    rng = np.random.default_rng(6)
    f = 5
    p = {"tau_syn": rng.uniform(2e-3, 1e-2, f), "tau_mem": rng.uniform(5e-3, 3e-2, f), "r": rng.uniform(0.5, 2, f),
         "v_leak": rng.uniform(-0.2, 0.2, f), "w_in": rng.uniform(0.5, 2, f)}
    x = rng.normal(size=(N, f, T))
    dt = {"snntorch": 1e-4, "norse": 1e-3, "euler": 5e-4}[convention]
    if convention == "norse":  # Norse's export: tau = dt*dt/tau_real (tau_inv = dt/tau)
        p["tau_syn"], p["tau_mem"] = dt * dt / p["tau_syn"], dt * dt / p["tau_mem"]
    got, net = _run(_chain((f,), {"li": nir.CubaLI(**p)}, f), _dense(x), convention=convention, dt=dt)
    stage = net.stages["li"]
    assert isinstance(stage, snir.CubaLIStage) and not stage.spiking
    expected = _cubali_ref(x, convention, dt=dt, **p)
    assert np.abs(expected).max() > 0.01
    # the same operations, partly regrouped (e.g. (1-beta)*v_leak precomputed): float64 round-off only
    np.testing.assert_allclose(got[:, :, 0, 0], expected, rtol=1e-10, atol=1e-12)


def test_cubali_with_snntorch_style_numbers_is_detected():
    f = 3
    tau_syn, tau_mem = np.full(f, 5e-3), np.full(f, 1e-2)
    node = nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / 1e-4, v_leak=np.zeros(f), w_in=tau_syn / 1e-4)
    net = snir.load(_chain((f,), {"li": node}, f))
    assert net.convention == "snntorch" and net.stages["li"].gain is None and net.stages["li"].syn_gain is None


@pytest.mark.parametrize("convention", ["euler", "snntorch", "norse"])
def test_integrator_matches_a_float64_reference(convention):
    rng = np.random.default_rng(7)
    r = rng.uniform(0.5, 3, 4)
    x = rng.normal(size=(N, 4, T))
    got, net = _run(_chain((4,), {"i": nir.I(r=r)}, 4), _dense(x), convention=convention, dt=2e-3)
    assert isinstance(net.stages["i"], snir.IntegratorStage) and not net.stages["i"].spiking
    gain = r * 2e-3 if convention == "euler" else r  # dv/dt = r x: r*dt per step (euler), r as for IF otherwise
    expected = np.cumsum(gain[None, :, None] * x, axis=-1)  # sequential sum, as the stage adds
    np.testing.assert_array_equal(got[:, :, 0, 0], expected)


def test_readout_errors_and_campaign_refusal():
    _one_line(snir.NIRParameterError, "'li' (CubaLI): 'tau_syn' must be > 0",
              _chain((2,), {"li": nir.CubaLI(tau_syn=np.array([1e-3, 0.0]), tau_mem=np.ones(2), r=np.ones(2),
                                             v_leak=np.zeros(2))}))
    _one_line(snir.NIRShapeError, "'i' (I): 'r' has 3 values, the layer has 2 neurons", _chain((2,), {"i": nir.I(r=np.ones(3))}))
    from spikefi.nir.netmap import NIRNetworkMap

    for node, kind in ((nir.I(r=np.ones(2)), "Integrator"),
                       (nir.CubaLI(tau_syn=np.ones(2), tau_mem=np.ones(2), r=np.ones(2), v_leak=np.zeros(2)), "CubaLI")):
        net = snir.load(_chain((2,), {"fc": nir.Linear(weight=np.ones((2, 2))), "ro": node}, 2), dt=DT, convention="euler")
        with pytest.raises(SpikeFIError, match=rf"'ro' \({kind}\) does not spike") as info:
            NIRNetworkMap(net, (2, 1, 1), T)
        assert "\n" not in str(info.value)


# -- nested graphs ----------------------------------------------------------------------------
def _lif(f: int, rng: np.random.Generator) -> Any:
    return nir.LIF(tau=rng.uniform(5e-3, 2e-2, f), r=np.ones(f), v_leak=np.zeros(f),
                   v_threshold=rng.uniform(0.2, 0.5, f), v_reset=np.zeros(f))


def test_nested_chain_is_flattened():
    rng = np.random.default_rng(8)
    w1, w2, scale = rng.normal(0.8, 0.5, size=(5, 4)), rng.normal(0.8, 0.5, size=(3, 5)), rng.normal(size=3)
    lif1, lif2 = _lif(5, rng), _lif(3, rng)
    inner = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([5])), "fc": nir.Linear(weight=w2), "lif": lif2,
                                "out": nir.Output(output_type=np.array([3]))},
                         edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")], type_check=False)
    middle = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([4])), "fc": nir.Linear(weight=w1), "lif": lif1,
                                 "deep": inner, "out": nir.Output(output_type=np.array([3]))},
                          edges=[("in", "fc"), ("fc", "lif"), ("lif", "deep.in"), ("deep.out", "out")], type_check=False)
    empty = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([3])), "out": nir.Output(output_type=np.array([3]))},
                         edges=[("in", "out")], type_check=False)
    nested = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([4])), "sub": middle, "pass": empty,
                                 "s": nir.Scale(scale=scale), "output": nir.Output(output_type=np.array([3]))},
                          edges=[("input", "sub.in"), ("sub.out", "pass"), ("pass", "s"), ("s", "output")],
                          type_check=False)
    flat = _chain((4,), {"fc1": nir.Linear(weight=w1), "lif1": lif1, "fc2": nir.Linear(weight=w2), "lif2": lif2,
                         "s": nir.Scale(scale=scale)}, 3)
    x = _dense((rng.random((N, 4, T)) < 0.5).astype(np.float64))
    got, net = _run(nested, x)
    assert list(net.stages) == ["sub_fc", "sub_lif", "sub_deep_fc", "sub_deep_lif", "s"]
    expected, _ = _run(flat, x)
    assert 0 < np.count_nonzero(expected) < expected.size
    np.testing.assert_array_equal(got, expected)


def test_nested_graphs_that_are_not_chains_are_refused():
    rng = np.random.default_rng(9)

    def outer(sub: Any) -> Any:
        return nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])), "sub": sub,
                                   "output": nir.Output(output_type=np.array([2]))},
                            edges=[("input", "sub"), ("sub", "output")], type_check=False)

    io = {"in": nir.Input(input_type=np.array([2])), "out": nir.Output(output_type=np.array([2]))}
    branch = nir.NIRGraph(nodes={**io, "a": nir.Linear(weight=np.eye(2)), "b": nir.Linear(weight=np.eye(2))},
                          edges=[("in", "a"), ("in", "b"), ("a", "out"), ("b", "out")], type_check=False)
    _one_line(snir.NIRTopologyError, "NIR node 'sub' is a nested graph that is not a feed-forward chain", outer(branch))
    recurrent = nir.NIRGraph(nodes={**io, "lif": _lif(2, rng), "rec": nir.Linear(weight=np.eye(2))},
                             edges=[("in", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")], type_check=False)
    _one_line(snir.NIRTopologyError, "'sub' is a nested graph that is not a feed-forward chain (input -> ... -> "
              "output): NIR graph has a recurrent edge rec -> lif", outer(recurrent))
    clash = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])), "sub": nir.NIRGraph(
        nodes={**io, "fc": nir.Linear(weight=np.eye(2))}, edges=[("in", "fc"), ("fc", "out")], type_check=False),
        "sub_fc": nir.Linear(weight=np.eye(2)), "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "sub"), ("sub", "sub_fc"), ("sub_fc", "output")], type_check=False)
    _one_line(snir.NIRTopologyError, "would be named 'sub_fc', which the outer graph already uses", clash)


# -- a campaign through Scale, Delay and Threshold --------------------------------------------
def test_campaign_through_scale_delay_and_threshold_agrees_across_engines():
    from spikefi.campaign import Campaign
    from spikefi.faults import BiasShift, DeadNeuron, DeadSynapse, Fault, MembraneBitFlip, Site

    rng = np.random.default_rng(10)
    f_in, hidden, f_out, steps, batch = 6, 8, 4, 30, 12
    nodes = {
        "fc1": nir.Affine(weight=rng.normal(0.4, 0.5, (hidden, f_in)), bias=rng.normal(0, 0.05, hidden)),
        "s1": nir.Scale(scale=np.full(hidden, 1.25)),  # uniform: the engines may restrict channels after fc1
        "d1": nir.Delay(delay=np.full(hidden, 2 * DT)),
        "lif": nir.LIF(tau=rng.uniform(4e-3, 2e-2, hidden), r=np.ones(hidden), v_leak=np.zeros(hidden),
                       v_threshold=rng.uniform(0.3, 0.6, hidden), v_reset=np.zeros(hidden)),
        "d2": nir.Delay(delay=rng.integers(0, 4, hidden) * DT),  # per feature: before fc2, on whole inputs
        "s2": nir.Scale(scale=rng.uniform(0.5, 1.5, hidden)),
        "fc2": nir.Affine(weight=rng.normal(0.3, 0.6, (f_out, hidden)), bias=rng.normal(0, 0.05, f_out)),
        "th": nir.Threshold(threshold=rng.uniform(0.2, 0.6, f_out)),
    }
    net = snir.load(_chain((f_in,), nodes, f_out), dt=DT, convention="euler")
    x = (torch.rand(batch, f_in, 1, 1, steps, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    labels = torch.arange(batch) % f_out
    _, rec = net(x, record=True)
    assert 0 < rec["lif"].sum() < rec["lif"].numel() and 0 < rec["th"].sum() < rec["th"].numel()
    tables = {}
    for engine in ("naive", "sequential", "parallel"):
        cmpn = Campaign(net, (x, labels), seed=0)
        cmpn.exhaustive(DeadNeuron())
        for site in (Site("lif", (0, 0, 0, 0)), Site("lif", (3, 2, 0, 0)), Site("th", (1, 5, 0, 0)),
                     Site("th", (2, 0, 0, 0))):
            cmpn.then_inject(Fault(DeadSynapse(), site))
        cmpn.then_inject(Fault(MembraneBitFlip(31, [3, 8, 12]), Site("th", (1, 0, 0))))  # flips the input's sign
        cmpn.then_inject(Fault(BiasShift(-0.4), Site("th", (0, 0, 0))))
        tables[engine] = cmpn.run(engine=engine, progress=False).table
    pd.testing.assert_frame_equal(tables["naive"], tables["sequential"])
    pd.testing.assert_frame_equal(tables["naive"], tables["parallel"])
    assert len(tables["naive"]) == hidden + f_out + 6
    assert (tables["naive"]["changed"] > 0).any()


def test_per_feature_scale_and_delay_after_the_weights_agree_across_engines():
    """The parallel engine recomputes only the output channels a synapse fault feeds: a
    per-feature Scale or Delay between the weights and the neurons is restricted to them."""
    from spikefi.campaign import Campaign
    from spikefi.faults import DeadNeuron, DeadSynapse, PerturbedSynapse

    rng = np.random.default_rng(11)
    f_in, hidden, f_out, steps, batch = 6, 8, 4, 30, 12
    nodes = {
        "fc1": nir.Affine(weight=rng.normal(0.4, 0.5, (hidden, f_in)), bias=rng.normal(0, 0.05, hidden)),
        "s1": nir.Scale(scale=rng.uniform(0.6, 1.6, hidden)),
        "d1": nir.Delay(delay=rng.integers(0, 4, hidden) * DT),
        "lif": nir.LIF(tau=rng.uniform(4e-3, 2e-2, hidden), r=np.ones(hidden), v_leak=np.zeros(hidden),
                       v_threshold=rng.uniform(0.3, 0.6, hidden), v_reset=np.zeros(hidden)),
        "fc2": nir.Affine(weight=rng.normal(0.3, 0.6, (f_out, hidden)), bias=rng.normal(0, 0.05, f_out)),
        "s2": nir.Scale(scale=rng.uniform(0.5, 1.5, f_out)),
        "lif2": nir.LIF(tau=rng.uniform(4e-3, 2e-2, f_out), r=np.ones(f_out), v_leak=np.zeros(f_out),
                        v_threshold=rng.uniform(0.2, 0.5, f_out), v_reset=np.zeros(f_out)),
    }
    net = snir.load(_chain((f_in,), nodes, f_out), dt=DT, convention="euler")
    x = (torch.rand(batch, f_in, 1, 1, steps, generator=torch.Generator().manual_seed(2)) < 0.4).float()
    labels = torch.arange(batch) % f_out
    tables = {}
    for engine in ("naive", "sequential", "parallel"):
        cmpn = Campaign(net, (x, labels), seed=0)
        cmpn.exhaustive(DeadSynapse(), layers=["lif", "lif2"])
        cmpn.exhaustive(PerturbedSynapse(-2.0), layers=["lif"], sample=10)
        cmpn.exhaustive(DeadNeuron(), layers=["lif"])
        tables[engine] = cmpn.run(engine=engine, progress=False).table
    pd.testing.assert_frame_equal(tables["naive"], tables["sequential"])
    pd.testing.assert_frame_equal(tables["naive"], tables["parallel"])
    golden = cmpn.golden()["spike_counts"]
    assert (tables["naive"]["spikes.lif"] != golden["lif"]).sum() > 10
