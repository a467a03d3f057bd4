"""spikefi.nir.load on hand-made graphs: the Euler convention, layouts, dtypes, devices, bad graphs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from spikefi.errors import ShapeError, SpikeFIError

nir = pytest.importorskip("nir", reason="spikefi[nir] extra (nir==1.0.8) not installed")
snir = pytest.importorskip("spikefi.nir")

F_IN, F_OUT = 4, 3


def _graph(neuron=None, weight=None, edges=None, extra=None) -> Any:
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(F_OUT, F_IN)).astype(np.float32) if weight is None else weight
    neuron = neuron or nir.LIF(tau=np.full(F_OUT, 0.02), r=np.ones(F_OUT), v_leak=np.zeros(F_OUT),
                               v_threshold=np.full(F_OUT, 0.5), v_reset=np.zeros(F_OUT))
    nodes = {"input": nir.Input(input_type=np.array([F_IN])), "fc": nir.Affine(weight=weight, bias=np.zeros(F_OUT)),
             "lif": neuron, "output": nir.Output(output_type=np.array([F_OUT])), **(extra or {})}
    edges = edges or [("input", "fc"), ("fc", "lif"), ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _euler_lif(x: np.ndarray, weight: np.ndarray, tau, r, v_leak, thr, v_reset, dt) -> np.ndarray:
    """Forward Euler in float64: ``v += dt/tau*((v_leak - v) + r*W x)``, fire ``v > thr``, reset."""
    v = np.array(v_leak, dtype=np.float64).copy()
    out = []
    for t in range(x.shape[-1]):
        v = v + dt / tau * ((v_leak - v) + r * (x[:, :, t] @ weight.T))
        spk = v > thr
        v = np.where(spk, v_reset, v)
        out.append(spk)
    return np.stack(out, -1)


def test_euler_convention_matches_a_float64_reference():
    rng = np.random.default_rng(1)
    tau, r = rng.uniform(0.005, 0.05, F_OUT), rng.uniform(0.5, 2.0, F_OUT)
    v_leak, thr, v_reset = rng.uniform(-0.1, 0.1, F_OUT), rng.uniform(0.2, 0.6, F_OUT), rng.uniform(-0.2, 0.0, F_OUT)
    weight = rng.integers(1, 16, size=(F_OUT, F_IN)) / 8.0  # sums of spikes x weights are exact
    graph = _graph(nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=thr, v_reset=v_reset), weight=weight)
    x = (rng.random((5, F_IN, 300)) < 0.3).astype(np.float64)
    net = snir.load(graph, dt=1e-3, convention="euler", dtype=torch.float64)
    got = net(torch.tensor(x).reshape(5, F_IN, 1, 1, 300))
    assert got.shape == (5, F_OUT, 1, 1, 300) and got.dtype == torch.float64
    expected = _euler_lif(x, weight, tau, r, v_leak, thr, v_reset, 1e-3)
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(got.reshape(5, F_OUT, 300).numpy(), expected)


def test_cubalif_if_and_li_readout_run_in_float32():
    cuba = nir.CubaLIF(tau_syn=np.full(F_OUT, 0.005), tau_mem=np.full(F_OUT, 0.02), r=np.ones(F_OUT),
                       v_leak=np.zeros(F_OUT), v_threshold=np.ones(F_OUT), w_in=np.full(F_OUT, 2.0))
    nodes = {"input": nir.Input(input_type=np.array([F_IN])), "fc": nir.Linear(weight=np.ones((F_OUT, F_IN))),
             "cuba": cuba, "fc2": nir.Linear(weight=np.eye(F_OUT)),
             "if": nir.IF(r=np.full(F_OUT, 1e3), v_threshold=np.full(F_OUT, 0.5)),  # euler: gain r*dt = 1
             "fc3": nir.Linear(weight=np.ones((2, F_OUT))),
             "li": nir.LI(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2)),
             "output": nir.Output(output_type=np.array([2]))}
    order = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:], strict=True)), type_check=False)
    net = snir.load(graph, dt=1e-3, convention="euler")
    x = torch.ones(2, F_IN, 1, 1, 50)
    y, rec = net(x, record=True)
    assert y.shape == (2, 2, 1, 1, 50) and y.dtype == torch.float32
    assert rec["cuba"].sum() > 0 and rec["if"].sum() > 0 and bool((y[..., -1] > 0).all())  # LI: membrane
    assert set(net.neuron_stages()) == {"cuba", "if", "li"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_equals_cpu():
    graph = _graph()
    x = (torch.rand(3, F_IN, 1, 1, 100, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    cpu = snir.load(graph, dt=1e-3, convention="euler")(x)
    gpu = snir.load(graph, dt=1e-3, convention="euler", device="cuda")(x.cuda())
    assert torch.equal(cpu, gpu.cpu())


def _one_line_error(graph, cls, needle, **kwargs):
    with pytest.raises(cls) as info:
        snir.load(graph, **kwargs)
    message = str(info.value)
    assert "\n" not in message and needle in message, message
    assert isinstance(info.value, SpikeFIError) and isinstance(info.value, ValueError)


def test_bad_graphs_give_one_line_errors():
    class Mystery(nir.NIRNode):  # a node type spikefi.nir does not know
        def __init__(self) -> None:
            self.input_type, self.output_type, self.metadata = {}, {}, {}

    on_path = [("input", "fc"), ("fc", "d"), ("d", "lif"), ("lif", "output")]
    _one_line_error(_graph(extra={"d": Mystery()}, edges=on_path), snir.UnsupportedNIRNodeError, "'d' is a Mystery",
                    convention="euler", dt=1e-3)
    _one_line_error(_graph(extra={"d": nir.Delay(delay=np.ones(F_OUT))}), snir.NIRTopologyError,
                    "'d' is not on the path", convention="euler", dt=1e-3)
    lif = nir.LIF(tau=np.full(F_OUT, 0.02), r=np.ones(F_OUT), v_leak=np.zeros(F_OUT), v_threshold=np.ones(F_OUT))
    lif.tau = None
    _one_line_error(_graph(lif), snir.NIRParameterError, "'lif' (LIF) has no 'tau'", convention="euler", dt=1e-3)
    lif = nir.LIF(tau=np.full(F_OUT, -1.0), r=np.ones(F_OUT), v_leak=np.zeros(F_OUT), v_threshold=np.ones(F_OUT))
    _one_line_error(_graph(lif), snir.NIRParameterError, "'tau' must be > 0", convention="euler", dt=1e-3)
    _one_line_error(_graph(weight=np.ones((F_OUT, F_IN + 1))), snir.NIRShapeError, "'fc' (Affine) has weight (3, 5)",
                    convention="euler", dt=1e-3)
    lif = nir.LIF(tau=np.full(5, 0.02), r=np.ones(5), v_leak=np.zeros(5), v_threshold=np.ones(5))
    _one_line_error(_graph(lif), ShapeError, "'tau' has 5 values, the layer has 3 neurons", convention="euler", dt=1e-3)
    cyclic = _graph(extra={"rec": nir.Linear(weight=np.eye(F_OUT))},
                    edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")])
    _one_line_error(cyclic, snir.NIRTopologyError, "recurrent edge rec -> lif", convention="euler", dt=1e-3)
    loop = _graph(extra={"rec": nir.Linear(weight=np.eye(F_OUT))},
                  edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "fc")])
    _one_line_error(loop, snir.NIRTopologyError, "recurrent edge rec -> fc (a cycle)", convention="euler", dt=1e-3)
    nested = _graph(extra={"sub": nir.NIRGraph(nodes={}, edges=[], type_check=False)})
    _one_line_error(nested, snir.UnsupportedNIRNodeError, "'sub' is a nested graph", convention="euler", dt=1e-3)


def test_convention_errors():
    _one_line_error(_graph(), snir.NIRConventionError, "needs dt=", convention="euler")
    _one_line_error(_graph(), snir.NIRConventionError, "unknown NIR convention 'slayer'", convention="slayer")
    # r = 1 with tau = 1e-4 fits snnTorch (beta = 0) and Norse alike
    ambiguous = nir.LIF(tau=np.full(F_OUT, 1e-4), r=np.ones(F_OUT), v_leak=np.zeros(F_OUT), v_threshold=np.ones(F_OUT))
    _one_line_error(_graph(ambiguous), snir.NIRConventionError, "ambiguous (the numbers fit snntorch and norse)")
    odd = nir.LIF(tau=np.full(F_OUT, 0.02), r=np.full(F_OUT, 3.0), v_leak=np.zeros(F_OUT), v_threshold=np.ones(F_OUT))
    _one_line_error(_graph(odd), snir.NIRConventionError, "neither snntorch nor norse")
    assert snir.load(_graph(odd), convention="snntorch").dt == 1e-4


def test_input_shape_is_checked():
    net = snir.load(_graph(), dt=1e-3, convention="euler")
    with pytest.raises(ShapeError, match=r"expected input \(N, 4, 1, 1, T\)"):
        net(torch.zeros(2, F_IN + 1, 1, 1, 10))


def _euler_lif_torch(current: torch.Tensor, a: float, thr: float) -> torch.Tensor:
    """LIF (``v_leak = v_reset = 0``, ``r = 1``) over the last dim of ``current``."""
    v, out = torch.zeros_like(current[..., 0]), []
    for t in range(current.shape[-1]):
        v = v + a * (-v + current[..., t])
        spk = v > thr
        v = torch.where(spk, torch.zeros_like(v), v)
        out.append(spk)
    return torch.stack(out, -1).to(current.dtype)


@pytest.mark.parametrize("pool", ["SumPool2d", "AvgPool2d"])
def test_conv_pool_flatten_chain_matches_a_per_step_torch_reference(pool):
    gen = torch.Generator().manual_seed(3)
    c_in, c_out, hw, steps = 2, 4, 8, 60
    w_conv = torch.randint(-4, 12, (c_out, c_in, 3, 3), generator=gen).double() / 8  # exact sums
    b_conv = torch.randint(-2, 2, (c_out,), generator=gen).double() / 8
    w_fc = torch.randint(-2, 8, (3, c_out * 9), generator=gen).double() / 8
    lif = {"tau": 0.01, "r": 1.0, "v_leak": 0.0, "v_threshold": 0.75, "v_reset": 0.0}
    conv_shape, fc_shape = (c_out, 6, 6), (3,)
    pool_node = getattr(nir, pool)(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    nodes = {
        "input": nir.Input(input_type=np.array([c_in, hw, hw])),
        "conv": nir.Conv2d(input_shape=None, weight=w_conv.numpy(), bias=b_conv.numpy(), stride=1, padding=0,
                           dilation=1, groups=1),
        "lif1": nir.LIF(**{k: np.full(conv_shape, v) for k, v in lif.items()}),
        "pool": pool_node,
        "flat": nir.Flatten(input_type={"input": np.array([c_out, 3, 3])}, start_dim=0),
        "fc": nir.Linear(weight=w_fc.numpy()),
        "lif2": nir.LIF(**{k: np.full(fc_shape, v) for k, v in lif.items()}),
        "output": nir.Output(output_type=np.array([3])),
    }
    order = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:], strict=True)), type_check=False)
    net = snir.load(graph, dt=1e-3, convention="euler", dtype=torch.float64)
    x = (torch.rand(3, c_in, hw, hw, steps, generator=gen) < 0.4).double()
    y, rec = net(x, record=True)

    a = 1e-3 / 0.01
    cur = torch.stack([torch.nn.functional.conv2d(x[..., t], w_conv, b_conv) for t in range(steps)], -1)
    s1 = _euler_lif_torch(cur, a, 0.75)
    pooled = torch.stack([torch.nn.functional.avg_pool2d(s1[..., t], 2) for t in range(steps)], -1)
    if pool == "SumPool2d":
        pooled = pooled * 4
    s2 = _euler_lif_torch(torch.einsum("of,nft->not", w_fc, pooled.reshape(3, -1, steps)), a, 0.75)
    assert rec["lif1"].shape == (3, *conv_shape, steps) and rec["flat"].shape == (3, c_out * 9, 1, 1, steps)
    assert 0 < s1.sum() < s1.numel() and 0 < s2.sum() < s2.numel()
    assert torch.equal(rec["lif1"], s1) and torch.equal(rec["pool"], pooled)
    assert torch.equal(y.reshape(3, 3, steps), s2)


def test_dense_layer_after_a_conv_needs_a_flatten():
    nodes = {"input": nir.Input(input_type=np.array([2, 4, 4])),
             "fc": nir.Linear(weight=np.ones((3, 2))), "output": nir.Output(output_type=np.array([3]))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "output")], type_check=False)
    _one_line_error(graph, snir.NIRShapeError, "'fc' (Linear) is fed shape (2, 4, 4); a Flatten must come first",
                    convention="euler", dt=1e-3)


def test_flatten_dims():
    def graph(flatten):
        nodes = {"input": nir.Input(input_type=np.array([2, 3, 3])), "flat": flatten,
                 "fc": nir.Linear(weight=np.ones((1, 18))), "output": nir.Output(output_type=np.array([1]))}
        return nir.NIRGraph(nodes=nodes, edges=[("input", "flat"), ("flat", "fc"), ("fc", "output")], type_check=False)

    for ok in (nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0),
               nir.Flatten(input_type={"input": np.array([1, 2, 3, 3])}, start_dim=1),  # batch counted
               nir.Flatten(input_type=None, start_dim=1)):  # unknown type: torch's nn.Flatten
        assert snir.load(graph(ok), dt=1e-3, convention="euler")(torch.ones(1, 2, 3, 3, 2)).shape == (1, 1, 1, 1, 2)
    _one_line_error(graph(nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=1)),
                    snir.UnsupportedNIRNodeError, "'flat' (Flatten) flattens neuron dims 1..-1 of (2, 3, 3)",
                    convention="euler", dt=1e-3)


def test_a_kernel_larger_than_its_input_is_a_one_line_shape_error():
    nodes = {"input": nir.Input(input_type=np.array([1, 2, 2])),
             "conv": nir.Conv2d(input_shape=None, weight=np.ones((1, 1, 3, 3)), bias=np.zeros(1), stride=1,
                                padding=0, dilation=1, groups=1),
             "output": nir.Output(output_type=np.array([1]))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "output")], type_check=False)
    _one_line_error(graph, snir.NIRShapeError, "'conv' (Conv2d) cannot take input shape (1, 2, 2)",
                    convention="euler", dt=1e-3)
