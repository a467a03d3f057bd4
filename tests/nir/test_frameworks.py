"""spikefi.nir against the exporting frameworks: snnTorch 1.0 and Norse 1.1 (test-only deps).

Each network is built with per-neuron parameters, simulated by its framework for 250 steps,
exported to NIR (also through an HDF5 round trip), imported by :func:`spikefi.nir.load`, and
every layer's spikes are compared. The numbers are printed (``pytest -s``).
"""

from __future__ import annotations

import pytest
import torch

from .frameworks import norse_dense, norse_if_readout, run_norse, run_snntorch, snntorch_dense, spike_input

nir = pytest.importorskip("nir", reason="spikefi[nir] extra (nir==1.0.8) not installed")
snir = pytest.importorskip("spikefi.nir")

STEPS, BATCH, SIZES = 250, 16, (20, 32, 10)
NEURON_LAYERS = ("1", "3")


def _agreement(graph, reference: dict[str, torch.Tensor], x: torch.Tensor, label: str, **kwargs) -> None:
    report = snir.validate(graph, {k: reference[k] for k in NEURON_LAYERS}, x, time_first=True, **kwargs)
    spikes = {k: int(reference[k].sum()) for k in NEURON_LAYERS}
    print(f"\n{label}: {STEPS} steps, {BATCH} samples, spikes per layer {spikes}\n{report}")
    assert [a.name for a in report.layers] == list(NEURON_LAYERS)
    assert all(a.compared == STEPS * BATCH * n for a, n in zip(report.layers, SIZES[1:], strict=True))
    assert all(0 < spikes[k] < reference[k].numel() for k in NEURON_LAYERS), "a silent or saturated layer tests nothing"
    assert report.identical, str(report)


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    return spike_input(STEPS, BATCH, SIZES[0])


@pytest.mark.parametrize("neuron", ["Leaky", "Synaptic"])
def test_snntorch_dense_spikes_identical(neuron, inputs, tmp_path):
    pytest.importorskip("snntorch", reason="snnTorch 1.0.0 (test-only) not installed")
    from snntorch.export_nir import export_to_nir

    net = snntorch_dense(SIZES, neuron, reset="zero")
    graph = export_to_nir(net, torch.zeros(SIZES[0]))
    reference = run_snntorch(net, inputs)
    assert snir.detect_convention(graph) == "snntorch"
    _agreement(graph, reference, inputs, f"snnTorch {neuron} (reset zero)")
    nir.write(tmp_path / "net.nir", graph)
    _agreement(tmp_path / "net.nir", reference, inputs, f"snnTorch {neuron} via HDF5")
    assert snir.load(tmp_path / "net.nir").convention == "snntorch"


@pytest.mark.parametrize("neuron", ["Leaky", "Synaptic"])
def test_snntorch_subtract_reset_needs_reset_subtract(neuron, inputs):
    """NIR cannot say 'subtract'; with ``reset="subtract"`` the import matches snnTorch's default."""
    pytest.importorskip("snntorch", reason="snnTorch 1.0.0 (test-only) not installed")
    from snntorch.export_nir import export_to_nir

    net = snntorch_dense(SIZES, neuron, reset="subtract")
    graph = export_to_nir(net, torch.zeros(SIZES[0]))
    reference = run_snntorch(net, inputs)
    _agreement(graph, reference, inputs, f"snnTorch {neuron} (reset subtract)", reset="subtract")
    as_stored = snir.validate(graph, {"3": reference["3"]}, inputs, time_first=True)
    assert not as_stored.identical  # NIR's reset-to-value is another neuron


@pytest.mark.parametrize("neuron", ["LIFCell", "LIFBoxCell"])
def test_norse_dense_spikes_identical(neuron, inputs, tmp_path):
    pytest.importorskip("norse", reason="Norse 1.1.0 (test-only) not installed")
    import norse.torch as norse

    net = norse_dense(SIZES, neuron)
    graph = norse.to_nir(net, torch.zeros(SIZES[0]))
    reference = run_norse(net, inputs)
    assert snir.detect_convention(graph) == "norse"
    _agreement(graph, reference, inputs, f"Norse {neuron}")
    nir.write(tmp_path / "net.nir", graph)
    _agreement(tmp_path / "net.nir", reference, inputs, f"Norse {neuron} via HDF5")
    assert snir.load(tmp_path / "net.nir").convention == "norse"


def test_norse_export_loads_in_float64_and_matches(inputs):
    """Coefficients are computed in float64 and cast once: float64 runs the same network."""
    pytest.importorskip("norse", reason="Norse 1.1.0 (test-only) not installed")
    import norse.torch as norse

    net = norse_dense(SIZES, "LIFBoxCell").double()
    graph = norse.to_nir(net, torch.zeros(SIZES[0], dtype=torch.float64))
    reference = run_norse(net, inputs.double())
    report = snir.validate(graph, {k: reference[k] for k in NEURON_LAYERS}, inputs, time_first=True,
                           dtype=torch.float64)
    print(f"\nNorse LIFBoxCell float64\n{report}")
    assert report.identical, str(report)


def test_norse_if_spikes_identical_and_li_readout_within_tolerance(inputs):
    """IF spikes are exact; the LI readout's membrane is within float32 round-off: Norse
    exports ``tau = dt/tau_inv``, which loses ``tau_inv``'s last bit for some neurons."""
    pytest.importorskip("norse", reason="Norse 1.1.0 (test-only) not installed")
    import norse.torch as norse

    net = norse_if_readout(SIZES)
    graph = norse.to_nir(net, torch.zeros(SIZES[0]))
    assert [type(graph.nodes[k]).__name__ for k in NEURON_LAYERS] == ["IF", "LI"]
    reference = run_norse(net, inputs)
    assert snir.detect_convention(graph) == "norse"  # from the readout's r = 1
    report = snir.validate(graph, {k: reference[k] for k in NEURON_LAYERS}, inputs, time_first=True)
    spikes, readout = report.layers
    scale = float(reference["3"].abs().max())
    print(f"\nNorse IAFCell + LIBoxCell readout ({int(reference['1'].sum())} spikes)\n{report}"
          f"\nreadout: {readout.differing} of {readout.compared} membrane values differ, "
          f"max |err| {readout.max_abs_error:.3g} (membrane max {scale:.3g})")
    assert 0 < reference["1"].sum() < reference["1"].numel()
    assert spikes.identical, str(report)
    assert readout.max_abs_error <= 1e-5 * max(1.0, scale)


def test_norse_conv_export_with_its_flatten_restored_is_identical():
    """Norse 1.1 writes ``torch.nn.Flatten`` as an empty (None) node: refused with a message
    naming it; with a ``nir.Flatten`` put back, every spike of both layers equals Norse's."""
    pytest.importorskip("norse", reason="Norse 1.1.0 (test-only) not installed")
    import norse.torch as norse
    import numpy as np

    torch.manual_seed(0)
    net = norse.SequentialState(torch.nn.Conv2d(2, 4, 3), norse.LIFBoxCell(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 6, 5), norse.LIFBoxCell())
    with torch.no_grad():
        net[0].weight.mul_(6)
        net[3].weight.abs_().mul_(30)
    graph = norse.to_nir(net, torch.zeros(1, 2, 8, 8))
    with pytest.raises(snir.UnsupportedNIRNodeError, match="'2' is empty"):
        snir.load(graph)
    graph.nodes["2"] = nir.Flatten(input_type={"input": np.array([4, 6, 6])}, start_dim=0)
    imported = snir.load(graph)
    assert imported.convention == "norse"
    steps, batch = 120, 6
    x = (torch.rand(steps, batch, 2, 8, 8, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    hidden, out, state = [], [], None
    with torch.no_grad():
        for t in range(steps):
            s1, st1 = net[1](net[0](x[t]), None if state is None else state[0])
            s2, st2 = net[4](net[3](net[2](s1)), None if state is None else state[1])
            state = (st1, st2)
            hidden.append(s1)
            out.append(s2)
    _, rec = imported(x.permute(1, 2, 3, 4, 0), record=True)
    ref1, ref2 = torch.stack(hidden).permute(1, 2, 3, 4, 0), torch.stack(out).permute(1, 2, 0)
    got2 = rec["4"].reshape(batch, 5, steps)
    print(f"\nNorse conv (Flatten restored): {int(ref1.sum())} + {int(ref2.sum())} spikes, "
          f"{int((rec['1'] != ref1).sum())} + {int((got2 != ref2).sum())} differ")
    assert 0 < ref1.sum() < ref1.numel() and 0 < ref2.sum() < ref2.numel()
    assert torch.equal(rec["1"], ref1) and torch.equal(got2, ref2)
