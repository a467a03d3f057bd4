"""Campaigns on imported NIR networks: every engine equals a brute-force reference.

The reference never uses the campaign engine: it deep-copies the imported network, writes the
faulty weights into it, and runs the network's *own* forward with forward hooks on the neuron
stages that replace the faulty neurons' outputs (a parametric fault: the output of a copy of
the whole stage changed by the model, at the faulty neurons only — neurons of a stage are
independent, so this is exact). Its per-round accuracy, critical and changed counts and
per-layer spike counts must equal the naive, sequential and parallel engines' tables.

Networks: snnTorch ``Leaky`` and ``Synaptic`` (CubaLIF) and Norse ``LIFCell`` (CubaLIF)
exports (skipped without the frameworks), and a hand-made convolutional graph (conv ->
LIF -> sum pool -> flatten -> affine -> LIF, Euler convention) that needs only ``nir``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from spikefi.campaign import Campaign
from spikefi.errors import FaultSpecError, SpikeFIError
from spikefi.faults import (
    BiasShift,
    DeadNeuron,
    DeadSynapse,
    Fault,
    LeakFault,
    MembraneBitFlip,
    NeuronDrift,
    NoReset,
    ParametricNeuron,
    PerturbedSynapse,
    SaturatedNeuron,
    Site,
    StuckNeuron,
    StuckSynapse,
)
from spikefi.faults.models import NeuronFaultModel, NeuronStageFaultModel, SynapseContext, SynapseFaultModel
from spikefi.faults.timing import Window
from spikefi.snn.loss import predict_counts, spike_counts

from .frameworks import norse_dense, snntorch_dense, spike_input

nir = pytest.importorskip("nir", reason="spikefi[nir] extra (nir==1.0.8) not installed")
snir = pytest.importorskip("spikefi.nir")

STEPS, BATCH, SIZES = 60, 24, (20, 32, 10)
ENGINES = ("naive", "sequential", "parallel")
COMPARED = ["accuracy", "critical", "changed"]


def _dense_data(seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    x = spike_input(STEPS, BATCH, SIZES[0], rate=0.3, seed=seed)  # (T, N, F)
    x = x.permute(1, 2, 0).reshape(BATCH, SIZES[0], 1, 1, STEPS)
    labels = torch.arange(BATCH) % SIZES[-1]
    return x, labels


def _conv_graph(seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    c1, k = 4, 3

    def lif(n: int, shape: tuple[int, ...]) -> Any:
        return nir.LIF(tau=rng.uniform(4e-3, 2e-2, shape), r=np.full(shape, 1.0), v_leak=np.zeros(shape),
                       v_threshold=rng.uniform(0.3, 0.7, shape), v_reset=np.zeros(shape))

    nodes = {
        "input": nir.Input(input_type=np.array([2, 8, 8])),
        "conv": nir.Conv2d(input_shape=None, weight=rng.normal(0.35, 0.5, (c1, 2, k, k)).astype(np.float32),
                           stride=1, padding=1, dilation=1, groups=1, bias=rng.normal(0, 0.05, c1).astype(np.float32)),
        "lif1": lif(c1, (c1, 8, 8)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([c1, 4, 4])}, start_dim=0),
        "fc": nir.Affine(weight=rng.normal(0.1, 0.35, (5, c1 * 16)).astype(np.float32),
                         bias=rng.normal(0, 0.05, 5).astype(np.float32)),
        "lif2": lif(5, (5,)),
        "output": nir.Output(output_type=np.array([5])),
    }
    edges = [("input", "conv"), ("conv", "lif1"), ("lif1", "pool"), ("pool", "flat"), ("flat", "fc"),
             ("fc", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _net(kind: str) -> tuple[Any, torch.Tensor, torch.Tensor]:
    if kind == "conv":
        g = torch.Generator().manual_seed(5)
        x = (torch.rand(BATCH, 2, 8, 8, STEPS, generator=g) < 0.3).float()
        return snir.load(_conv_graph(), dt=1e-3, convention="euler"), x, torch.arange(BATCH) % 5
    x, y = _dense_data()
    if kind.startswith("snntorch"):
        pytest.importorskip("snntorch", reason="snnTorch 1.0.0 (test-only) not installed")
        from snntorch.export_nir import export_to_nir

        net = snntorch_dense(SIZES, "Leaky" if kind == "snntorch-leaky" else "Synaptic", reset="zero")
        return snir.load(export_to_nir(net, torch.zeros(SIZES[0]))), x, y
    pytest.importorskip("norse", reason="Norse 1.1.0 (test-only) not installed")
    import norse.torch as norse

    return snir.load(norse.to_nir(norse_dense(SIZES, "LIFCell"), torch.zeros(SIZES[0]))), x, y


def _faults(kind: str, names: list[str], cuba: bool) -> list[list[Fault]]:
    """Rounds: every model on both layers, at drawn and fixed sites, and two multi-fault rounds."""
    first, last = names
    drifts = [NeuronDrift("v_threshold", factor=0.6), NeuronDrift("v_threshold", offset=0.4),
              NeuronDrift("tau_mem", factor=3.0), NeuronDrift("gain", factor=1.8),
              NeuronDrift("v_leak", offset=0.3), NeuronDrift("v_reset", offset=-0.5), NoReset(),
              LeakFault("none"), LeakFault("full"), BiasShift(0.4), BiasShift(-0.3),
              MembraneBitFlip(30, [5, 20]), MembraneBitFlip([31, 29], [2, 3, 4])]
    if cuba:
        drifts += [NeuronDrift("tau_syn", factor=0.3)]
    models = [DeadNeuron(), SaturatedNeuron(), StuckNeuron(pattern=[1, 0, 0]), *drifts,
              DeadSynapse(), PerturbedSynapse(2.5), StuckSynapse(1.2)]
    rounds: list[list[Fault]] = []
    for m in models:
        for layer in (first, last):
            rounds.append([Fault(m, Site(layer))])
    rounds.append([Fault(NeuronDrift("v_threshold", factor=0.5), Site(first)), Fault(DeadSynapse(), Site(last)),
                   Fault(SaturatedNeuron(), Site(last))])
    rounds.append([Fault(PerturbedSynapse(3.0), Site(first), ), Fault(NoReset(), Site(first)),
                   Fault(DeadNeuron(), Site(first))])
    return rounds


def _campaign(net: Any, x: torch.Tensor, y: torch.Tensor, rounds: list[list[Fault]], **kwargs: Any) -> Campaign:
    cmpn = Campaign(net, (x, y), batch_size=10, seed=11, **kwargs)
    for faults in rounds:
        cmpn.then_inject(faults)
    return cmpn


def _brute_force(cmpn: Campaign, net: Any, x: torch.Tensor, y: torch.Tensor, scores: Any = spike_counts) -> pd.DataFrame:
    """The reference: the network's own forward per round, faults written into a copy;
    ``scores`` maps the network's output to class scores (spike counts, or a readout's rule)."""
    netmap = cmpn.netmap
    net = copy.deepcopy(net).to(device=cmpn.device, dtype=cmpn.dtype)
    x, y = x.to(device=cmpn.device, dtype=cmpn.dtype), y.to(cmpn.device)
    golden_net = copy.deepcopy(net).eval()
    with torch.no_grad():
        g_out = scores(golden_net(x))
        g_pred = g_out.argmax(1) if g_out.is_floating_point() else predict_counts(g_out)
    rows = []
    for rnd in cmpn.rounds:
        faulty = copy.deepcopy(net).eval()
        hooks: dict[str, list[Any]] = {}
        for f in rnd.faults:
            model = f.model
            if isinstance(model, SynapseFaultModel):
                stage = faulty.stages[netmap.groups[f.layer].weighted_name]
                w = stage.weight.data
                w5 = w[:, :, None, None] if w.dim() == 2 else w
                for p in f.positions:
                    value = model.faulty_weights(w5[p].reshape(1).clone(), SynapseContext(w5[..., None]))
                    w5[p] = value[0]
            else:
                hooks.setdefault(f.layer, []).append(f)

        def hook(module: Any, inputs: tuple, output: torch.Tensor, faults: list = ()) -> torch.Tensor:  # type: ignore[assignment]
            out = output.clone()
            for f in faults:
                for p in f.positions:
                    if isinstance(f.model, NeuronStageFaultModel):
                        changed = f.model.change_stage(snir.netmap.restrict_stage(module, (slice(None),)))
                        out[(slice(None), *p)] = changed(inputs[0])[(slice(None), *p)]
                    else:
                        assert isinstance(f.model, NeuronFaultModel)
                        out[(slice(None), *p)] = f.model.apply(out[(slice(None), *p)], 1.0)
            return out

        handles = [faulty.stages[name].register_forward_hook(lambda m, i, o, fs=fs: hook(m, i, o, fs))
                   for name, fs in hooks.items()]
        record: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            out, rec = faulty(x, record=True)
        for h in handles:
            h.remove()
        out = scores(out)
        pred = out.argmax(1) if out.is_floating_point() else predict_counts(out)
        row = {"round_id": rnd.round_id, "accuracy": float((pred == y).float().mean()),
               "critical": int(((g_pred == y) & (pred != y)).sum()), "changed": int((pred != g_pred).sum())}
        for name in netmap.order:
            row[f"spikes.{name}"] = int((rec[name] != 0).sum())
        record.clear()
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("kind", ["conv", "snntorch-leaky", "snntorch-synaptic", "norse-lif"])
def test_every_engine_equals_brute_force(kind):
    net, x, y = _net(kind)
    names = list(net.neuron_stages())
    cuba = any(type(s).__name__ == "CubaLIFStage" for s in net.neuron_stages().values())
    rounds = _faults(kind, names, cuba)
    tables = {}
    for engine in ENGINES:
        cmpn = _campaign(net, x, y, rounds)
        tables[engine] = cmpn.run(engine=engine, chunk_size=7, progress=False).table
    cmpn = _campaign(net, x, y, rounds)
    golden = cmpn.golden()
    assert 0 < golden["spike_counts"][names[0]] < BATCH * STEPS * cmpn.netmap.layers[names[0]].neurons
    reference = _brute_force(cmpn, net, x, y)
    spikes = [f"spikes.{n}" for n in names]
    for engine, table in tables.items():
        t = table.sort_values("round_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(t[["round_id", *COMPARED, *spikes]], reference[["round_id", *COMPARED, *spikes]],
                                      check_dtype=False, obj=f"{kind}: {engine} vs brute force")
    pd.testing.assert_frame_equal(tables["naive"], tables["parallel"], obj=f"{kind}: naive vs parallel")
    pd.testing.assert_frame_equal(tables["naive"], tables["sequential"], obj=f"{kind}: naive vs sequential")
    # the faults did something: most rounds change spikes somewhere, some change predictions
    changed_spikes = (reference[spikes].to_numpy() != np.array([golden["spike_counts"][n] for n in names])).any(1)
    print(f"\n{kind}: {len(reference)} rounds, {int(changed_spikes.sum())} change spikes, "
          f"{int((reference['changed'] > 0).sum())} change predictions, golden accuracy {golden['accuracy']:.3f}")
    assert changed_spikes.mean() > 0.7 and (reference["changed"] > 0).any()


@pytest.mark.parametrize("device, dtype", [
    ("cpu", torch.float64),
    pytest.param("cuda", torch.float32, marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")),
    pytest.param("cuda", torch.float64, marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")),
])
def test_engines_equal_brute_force_on_other_devices_and_dtypes(device, dtype):
    net, x, y = _net("conv")
    rounds = _faults("conv", list(net.neuron_stages()), cuba=False)
    reference = None
    tables = []
    for engine in ENGINES:
        cmpn = _campaign(net, x, y, rounds, device=device, dtype=dtype)
        tables.append(cmpn.run(engine=engine, chunk_size=9, progress=False, keep_predictions=True).table)
        if reference is None:
            reference = _brute_force(cmpn, net, x, y)
    cols = ["round_id", *COMPARED, "spikes.lif1", "spikes.lif2"]
    for table in tables:
        pd.testing.assert_frame_equal(table[cols], reference[cols], check_dtype=False)
        pd.testing.assert_frame_equal(table, tables[0])


def test_transient_and_stochastic_faults_agree_across_engines():
    net, x, y = _net("conv")
    names = list(net.neuron_stages())
    rounds = [[Fault(StuckNeuron(probability=0.3), Site(names[0]), timing=Window(10, 30))],
              [Fault(DeadSynapse(), Site(names[1]), timing=Window(5, 40))],
              [Fault(NeuronDrift("v_threshold", factor=0.4), Site(names[1], (2, 0, 0)))],
              [Fault(SaturatedNeuron(), Site(names[0], (1, 3, 4)), timing=Window(0, 20)),
               Fault(PerturbedSynapse(-1.0), Site(names[1]))]]
    tables = [_campaign(net, x, y, rounds).run(engine=e, chunk_size=3, progress=False).table for e in ENGINES]
    for other in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], other)
    assert (tables[0][[f"spikes.{n}" for n in names]].to_numpy() > 0).all()


def test_quantized_bit_flips_on_a_nir_network():
    from spikefi.faults import BitFlipSynapse

    net, x, y = _net("conv")
    names = list(net.neuron_stages())
    tables = []
    for engine in ENGINES:
        cmpn = Campaign(net, (x, y), batch_size=12, seed=2, quantization={"dtype": "int8"})
        cmpn.exhaustive(BitFlipSynapse(bits=[7]), layers=[names[1]], sample=15)
        tables.append(cmpn.run(engine=engine, chunk_size=4, progress=False).table)
    for other in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], other)
    golden = cmpn.golden()["spike_counts"][names[1]]
    assert (tables[0][f"spikes.{names[1]}"] != golden).mean() > 0.5  # sign flips change the output layer


def test_layers_sites_and_bad_faults():
    net, x, y = _net("conv")
    cmpn = Campaign(net, (x, y), seed=0)
    info = cmpn.netmap.layers
    assert list(info) == ["lif1", "lif2"]
    assert info["lif1"].kind == "conv" and info["lif1"].neuron_shape == (4, 8, 8)
    assert info["lif1"].synapse_shape == (4, 2, 3, 3)
    assert info["lif2"].kind == "dense" and info["lif2"].neuron_shape == (5, 1, 1)
    assert info["lif2"].synapse_shape == (5, 64, 1, 1)
    with pytest.raises(FaultSpecError, match="NeuronDrift"):
        cmpn.then_inject(Fault(ParametricNeuron("theta", 1.5), Site("lif1")))
    with pytest.raises(FaultSpecError, match="tau_syn"):
        cmpn.then_inject(Fault(NeuronDrift("tau_syn", factor=2.0), Site("lif1")))
    with pytest.raises(FaultSpecError, match="changes nothing"):
        NeuronDrift("v_threshold")
    with pytest.raises(FaultSpecError, match="offset"):
        NeuronDrift("tau_mem", offset=1.0)
    with pytest.raises(FaultSpecError, match="allowed"):
        NeuronDrift("theta", factor=2.0)
    with pytest.raises(FaultSpecError, match="'none' or 'full'"):
        LeakFault("half")
    with pytest.raises(FaultSpecError, match="changes nothing"):
        BiasShift(0.0)
    with pytest.raises(FaultSpecError, match="steps must be time steps"):
        MembraneBitFlip(30, [-1])
    with pytest.raises(FaultSpecError, match="out of range"):
        MembraneBitFlip(32, [1])
    from spikefi.faults import model_from_spec

    for model in (NeuronDrift("tau_mem", factor=2.0), LeakFault("full"), BiasShift(0.5), MembraneBitFlip([30], [1, 2]),
                  NoReset()):
        assert model_from_spec(model.spec()) == model  # YAML round trip


def test_training_under_faults_is_refused_for_a_nir_network():
    net, x, y = _net("conv")
    cmpn = Campaign(net, (x, y), seed=0)
    cmpn.then_inject(Fault(DeadNeuron(), Site("lif1")))
    with pytest.raises(SpikeFIError, match="needs a SLAYER network"):
        cmpn.train((x, y))


def _readout_net(readout: str) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """The conv graph with a dense layer and an LI readout appended after its last LIF."""
    rng = np.random.default_rng(6)
    graph = _conv_graph()
    nodes = dict(graph.nodes)
    nodes.pop("output")
    nodes["ro_fc"] = nir.Affine(weight=rng.normal(0.2, 0.8, (3, 5)).astype(np.float32), bias=np.zeros(3, np.float32))
    nodes["li"] = nir.LI(tau=rng.uniform(5e-3, 2e-2, 3), r=np.ones(3), v_leak=np.zeros(3))
    nodes["output"] = nir.Output(output_type=np.array([3]))
    edges = [e for e in graph.edges if e[1] != "output"] + [("lif2", "ro_fc"), ("ro_fc", "li"), ("li", "output")]
    net = snir.load(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=1e-3, convention="euler",
                    readout=readout)
    _, x, _ = _net("conv")
    return net, x, torch.arange(BATCH) % 3


@pytest.mark.parametrize("readout", ["max", "mean", "last"])
def test_a_non_spiking_readout_scores_classes_and_engines_equal_brute_force(readout):
    net, x, y = _readout_net(readout)
    names = list(net.neuron_stages())[:-1]
    rounds = _faults("conv", names, cuba=False)
    tables = []
    for engine in ENGINES:
        cmpn = _campaign(net, x, y, rounds)
        tables.append(cmpn.run(engine=engine, chunk_size=9, progress=False).table)
    assert list(cmpn.netmap.layers) == ["lif1", "lif2"] and cmpn.classes == 3
    with torch.no_grad():
        v = net(x).flatten(1, 3)
    score = {"max": v.amax(-1), "mean": v.mean(-1), "last": v[..., -1]}[readout]
    assert cmpn.golden()["accuracy"] == pytest.approx(float((score.argmax(1) == y).float().mean()))
    reference = _brute_force(cmpn, net, x, y, scores=lambda out: {"max": out.flatten(1, 3).amax(-1),
                                                                   "mean": out.flatten(1, 3).mean(-1),
                                                                   "last": out.flatten(1, 3)[..., -1]}[readout])
    cols = ["round_id", *COMPARED, "spikes.lif1", "spikes.lif2"]
    for table in tables:
        pd.testing.assert_frame_equal(table[cols], reference[cols], check_dtype=False)
        pd.testing.assert_frame_equal(table, tables[0], check_exact=False, rtol=1e-12)
    assert (reference["changed"] > 0).sum() >= 3 and (tables[0]["spike_count_deviation"] > 0).all()


def test_a_readout_in_the_middle_and_a_wrong_input_shape_are_refused():
    rng = np.random.default_rng(0)
    nodes = {"input": nir.Input(input_type=np.array([4])), "fc": nir.Linear(weight=rng.normal(size=(3, 4))),
             "li": nir.LI(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3)),
             "fc2": nir.Linear(weight=rng.normal(size=(2, 3))),
             "lif": nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2),
                            v_reset=np.zeros(2)),
             "output": nir.Output(output_type=np.array([2]))}
    order = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:], strict=True)), type_check=False)
    net = snir.load(graph, dt=1e-3, convention="euler")
    with pytest.raises(SpikeFIError, match="'li' \\(LI\\) does not spike") as info:
        Campaign(net, (torch.ones(2, 4, 1, 1, 5), torch.zeros(2, dtype=torch.long)))
    assert "\n" not in str(info.value)
    conv, _, _ = _net("conv")
    with pytest.raises(SpikeFIError, match=r"takes \(2, 8, 8\)"):
        Campaign(conv, (torch.ones(2, 2, 6, 6, 5), torch.zeros(2, dtype=torch.long)))
    with pytest.raises(SpikeFIError, match="readout must be one of max, mean, last"):
        snir.load(graph, dt=1e-3, convention="euler", readout="sum")


def test_a_dense_input_takes_samples_shaped_c_h_w():
    net, x, y = _net("norse-lif")
    shaped = x.reshape(BATCH, 2, 2, 5, STEPS)  # 20 features as (C, H, W), flattened in that order
    flat = Campaign(net, (x, y), seed=1)
    flat.exhaustive(DeadNeuron(), layers=[flat.netmap.order[0]], sample=5)
    grid = Campaign(net, (shaped, y), seed=1)
    grid.exhaustive(DeadNeuron(), layers=[grid.netmap.order[0]], sample=5)
    a, b = (c.run(engine="parallel", progress=False).table for c in (flat, grid))
    pd.testing.assert_frame_equal(a, b)
    torch.testing.assert_close(net(shaped), net(x), rtol=0, atol=0)
    with pytest.raises(SpikeFIError, match="takes"):
        Campaign(net, (x.reshape(BATCH, 4, 1, 1, STEPS * 5), y))


def _flatten_after_conv_net() -> tuple[Any, torch.Tensor, torch.Tensor]:
    """conv -> flatten -> LIF: the weights' output channels are not the neurons' channels."""
    rng = np.random.default_rng(0)
    c1 = 3

    def lif(shape: tuple[int, ...]) -> Any:
        return nir.LIF(tau=rng.uniform(4e-3, 2e-2, shape), r=np.full(shape, 1.0), v_leak=np.zeros(shape),
                       v_threshold=rng.uniform(0.3, 0.7, shape), v_reset=np.zeros(shape))

    nodes = {"input": nir.Input(input_type=np.array([2, 4, 4])),
             "conv": nir.Conv2d(input_shape=None, weight=rng.normal(0.35, 0.5, (c1, 2, 3, 3)).astype(np.float32),
                                stride=1, padding=1, dilation=1, groups=1,
                                bias=rng.normal(0, 0.05, c1).astype(np.float32)),
             "flat": nir.Flatten(input_type={"input": np.array([c1, 4, 4])}, start_dim=0),
             "lif1": lif((c1 * 16,)),
             "fc": nir.Affine(weight=rng.normal(0.1, 0.35, (5, c1 * 16)).astype(np.float32),
                              bias=rng.normal(0, 0.05, 5).astype(np.float32)),
             "lif2": lif((5,)), "output": nir.Output(output_type=np.array([5]))}
    edges = [("input", "conv"), ("conv", "flat"), ("flat", "lif1"), ("lif1", "fc"), ("fc", "lif2"), ("lif2", "output")]
    net = snir.load(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=1e-3, convention="euler")
    x = (torch.rand(12, 2, 4, 4, 30, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    return net, x, torch.arange(12) % 5


def test_a_flatten_between_conv_weights_and_neurons_equals_brute_force():
    net, x, y = _flatten_after_conv_net()
    rounds = [[Fault(m, Site("lif1", (c, 0, 1, 1)))] for m in (DeadSynapse(), PerturbedSynapse(3.0)) for c in range(3)]
    rounds += [[Fault(DeadNeuron(), Site("lif1", (17, 0, 0)))], [Fault(StuckSynapse(-1.0), Site("lif2", (2, 20, 0, 0)))]]
    tables = []
    for engine in ENGINES:
        cmpn = Campaign(net, (x, y), batch_size=6, seed=1)
        for faults in rounds:
            cmpn.then_inject(faults)
        tables.append(cmpn.run(engine=engine, chunk_size=3, progress=False).table)
    assert not cmpn.netmap.channels_aligned("lif1") and cmpn.netmap.channels_aligned("lif2")
    reference = _brute_force(cmpn, net, x, y)
    cols = ["round_id", *COMPARED, "spikes.lif1", "spikes.lif2"]
    for table in tables:
        pd.testing.assert_frame_equal(table[cols], reference[cols], check_dtype=False)
    assert (reference["spikes.lif1"] != cmpn.golden()["spike_counts"]["lif1"]).sum() >= 4


def test_drifts_that_would_change_nothing_are_refused():
    rng = np.random.default_rng(2)

    def chain(neuron: Any) -> Any:
        nodes = {"input": nir.Input(input_type=np.array([4])), "fc": nir.Linear(weight=rng.normal(size=(3, 4))),
                 "n": neuron, "output": nir.Output(output_type=np.array([3]))}
        graph = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "n"), ("n", "output")], type_check=False)
        return Campaign(snir.load(graph, dt=1e-3, convention="euler"), (torch.ones(2, 4, 1, 1, 5), torch.zeros(2, dtype=torch.long)))

    threshold = chain(nir.Threshold(threshold=np.full(3, 0.5)))
    with pytest.raises(FaultSpecError, match="'gain'\\) needs a LIF, CubaLIF or IF"):
        threshold.then_inject(Fault(NeuronDrift("gain", factor=2.0), Site("n")))
    with pytest.raises(FaultSpecError, match="NoReset needs a spiking neuron that resets"):
        threshold.then_inject(Fault(NoReset(), Site("n")))
    integrate = chain(nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.zeros(3)))
    with pytest.raises(FaultSpecError, match="'v_leak'\\) needs a LIF or CubaLIF"):
        integrate.then_inject(Fault(NeuronDrift("v_leak", offset=0.2), Site("n")))
    integrate.then_inject(Fault(NeuronDrift("gain", factor=2.0), Site("n")))  # IF has an input gain
    net, x, y = _net("conv")
    subtract = Campaign(snir.load(_conv_graph(), dt=1e-3, convention="euler", reset="subtract"), (x, y))
    with pytest.raises(FaultSpecError, match="resets by 'subtract'"):
        subtract.then_inject(Fault(NeuronDrift("v_reset", offset=0.2), Site("lif1")))
