"""Exactness: every engine equals a brute-force reference written here, in float64.

The reference copies the network, modifies weights directly (synapse faults), masks the
outputs of faulty neurons, re-simulates parametric neurons with a SLAYER layer built from
the faulty parameters, and runs the whole network layer by layer. It uses the library's
random streams (timing masks, ``sample_rng``) so both see the same draws, but none of
the engine's code paths. "Identical" = same predictions-derived counts and spike counts
per round; float metrics within 1e-6 relative.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

import spikefi.snn as snn
from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.faults import (
    BitFlipSynapse,
    DeadNeuron,
    DeadSynapse,
    Fault,
    FloatBitFlipSynapse,
    Intermittent,
    ParametricNeuron,
    Permanent,
    PerSample,
    PerturbedSynapse,
    SaturatedNeuron,
    SaturatedSynapse,
    Site,
    StuckNeuron,
    StuckSynapse,
    Window,
)
from spikefi.faults.timing import sample_rng
from spikefi.zoo import LayerSpec, SpikingNetwork, load_pretrained

METRICS_EXACT = ["samples", "critical", "changed", "tied", "first_divergent_layer"]


# ---------------------------------------------------------------------------------
# brute-force reference


def brute_force_round(cmpn: Campaign, faults, x: torch.Tensor, samples: list[int], round_id: int):
    """Output spikes and per-layer spike counts of one round, computed directly."""
    net = copy.deepcopy(cmpn.net)
    slayer = cmpn.netmap.slayer
    ts = float(slayer.simulation["Ts"])
    names = list(cmpn.netmap.order)
    modules = {n: dict(net.named_modules())[n] for n in names}
    steps = x.shape[-1]
    spikes_per_layer = {}
    # permanent synapse faults: modify the copy's weights directly
    for f in faults:
        if f.target == "synapse" and isinstance(f.timing, Permanent):
            w = modules[f.layer].weight
            ctx_codes = cmpn.qcodes.get(f.layer)
            for p in f.positions:
                golden = w.data[(*p, 0)].clone().reshape(1)
                ctx = _ctx(cmpn, f.layer, p, golden, ctx_codes)
                w.data[(*p, 0)] = f.model.faulty_weights(golden, ctx)[0]
    s = x
    for name in names:
        module = modules[name]
        a = module(s)
        transient = [(i, f) for i, f in enumerate(faults) if f.layer == name and f.target == "synapse"
                     and not isinstance(f.timing, Permanent)]
        if transient:
            masks = []
            for i, f in transient:
                m = f.timing.mask(samples, steps, cmpn.seed, round_id, i)
                masks.append(torch.ones(len(samples), steps, dtype=torch.bool) if m is None else m)
            a = a.clone()
            for b in range(len(samples)):
                for t in range(steps):
                    active = [f for (i, f), m in zip(transient, masks, strict=True) if bool(m[b, t])]
                    if not active:
                        continue
                    w = module.weight.detach().clone()
                    for f in active:
                        for p in f.positions:
                            golden = w[(*p, 0)].clone().reshape(1)
                            w[(*p, 0)] = f.model.faulty_weights(golden, _ctx(cmpn, name, p, golden, cmpn.qcodes.get(name)))[0]
                    a[b, ..., t] = snn.functional.conv3d(
                        s[b : b + 1, ..., t : t + 1], w, module.stride, module.padding, module.dilation, module.groups
                    )[0, ..., 0]
        out = slayer.spike(slayer.psp(a)).clone()
        for i, f in enumerate(faults):
            if f.layer != name or f.target != "parametric":
                continue
            faulty = snn.layer(f.model.faulty_neuron(slayer.neuron), slayer.simulation).to(x.dtype)
            full = faulty.spike(faulty.psp(a))
            hit = [True] * len(samples)
            if isinstance(f.timing, PerSample):
                hit = [sample_rng(cmpn.seed, round_id, i, smp, stream=1).random() < f.timing.probability for smp in samples]
            for b in range(len(samples)):
                if hit[b]:
                    for p in f.positions:
                        out[(b, *p)] = full[(b, *p)]
        for i, f in enumerate(faults):
            if f.layer != name or f.target != "neuron":
                continue
            m = f.timing.mask(samples, steps, cmpn.seed, round_id, i)
            for b, smp in enumerate(samples):
                noise = None
                if f.model.stochastic:
                    noise = torch.as_tensor(sample_rng(cmpn.seed, round_id, i, smp, stream=2).random((len(f.positions), steps)),
                                            dtype=x.dtype)
                for k, p in enumerate(f.positions):
                    train = out[(b, *p)].clone()
                    faulty = f.model.apply(train.reshape(1, 1, steps), 1.0 / ts,
                                           None if noise is None else noise[k].reshape(1, 1, steps)).reshape(steps)
                    for t in range(steps):
                        if m is None or bool(m[b, t]):
                            out[(b, *p, t)] = faulty[t]
        s = out
        spikes_per_layer[name] = int((s != 0).sum())
    return s, spikes_per_layer


def _ctx(cmpn, layer, position, golden, codes):
    from spikefi.faults import SynapseContext

    weight = cmpn.netmap.effective_weight(layer).detach()
    site_codes = None if codes is None else codes[(*position, 0)].reshape(1)
    return SynapseContext(weight, cmpn.qparams.get(layer), site_codes)


def brute_force_table(cmpn: Campaign) -> list[dict]:
    rows = []
    golden = cmpn.golden()
    g_out, _ = brute_force_round(cmpn, [], cmpn.x.to(cmpn.dtype), list(range(cmpn.num_samples)), -1)
    g_counts = snn.spike_counts(g_out)
    g_pred = cmpn.predict_counts(g_counts)
    y = cmpn.y
    assert golden["accuracy"] == int((g_pred == y).sum()) / len(y)
    for rnd in cmpn.rounds:
        out, per_layer = brute_force_round(cmpn, rnd.faults, cmpn.x.to(cmpn.dtype), list(range(cmpn.num_samples)), rnd.round_id)
        counts = snn.spike_counts(out)
        pred = cmpn.predict_counts(counts)
        top = counts.max(1, keepdim=True).values
        row = {
            "round_id": rnd.round_id,
            "samples": cmpn.num_samples,
            "accuracy": int((pred == y).sum()) / len(y),
            "critical": int(((g_pred == y) & (pred != y)).sum()),
            "changed": int((pred != g_pred).sum()),
            "tied": int(((counts == top).sum(1) > 1).sum()),
            "spike_count_deviation": float((counts - g_counts).abs().sum()) / cmpn.num_samples,
            **{f"spikes.{k}": v for k, v in per_layer.items()},
        }
        if cmpn.loss_fn is not None:
            target = torch.zeros(len(y), counts.shape[1], 1, 1, 1, dtype=out.dtype)
            target[torch.arange(len(y)), y] = 1
            row["loss"] = float(cmpn.loss_fn.numSpikes(out, target)) / len(y)
        rows.append(row)
    return rows


def assert_identical(result, reference: list[dict]) -> None:
    table = result.table.set_index("round_id")
    assert sorted(table.index) == [r["round_id"] for r in reference]
    for ref in reference:
        got = table.loc[ref["round_id"]]
        for key, value in ref.items():
            if key == "round_id":
                continue
            if isinstance(value, float):
                assert math.isclose(float(got[key]), value, rel_tol=1e-6, abs_tol=1e-12), (ref["round_id"], key, got[key], value)
            else:
                assert got[key] == value, (ref["round_id"], key, got[key], value)


# ---------------------------------------------------------------------------------
# networks


@pytest.fixture(scope="module")
def digits64():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    return net.double(), (test.tensors[:20].double(), test.labels[:20])


def small_random_network():
    neuron = dict(type="SRMALPHA", theta=5, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
    cfg = {"neuron": neuron, "simulation": {"Ts": 1, "tSample": 16},
           "training": {"error": {"type": "NumSpikes", "tgtSpikeRegion": {"start": 0, "stop": 16},
                                  "tgtSpikeCount": {True: 6, False: 1}}}}
    layers = [
        LayerSpec("C1", "conv", dict(inFeatures=2, outFeatures=3, kernelSize=3, padding=1, weightScale=8)),
        LayerSpec("P1", "pool", dict(kernelSize=2)),
        LayerSpec("D1", "dense", dict(inFeatures=(3, 3, 3), outFeatures=6, weightScale=12)),
        LayerSpec("D2", "dense", dict(inFeatures=6, outFeatures=4, weightScale=12)),
    ]
    with torch.random.fork_rng():
        torch.manual_seed(7)
        net = SpikingNetwork(cfg, layers, (2, 6, 6), "tiny").double()
        g = torch.Generator().manual_seed(8)
        x = (torch.rand(11, 2, 6, 6, 16, generator=g) < 0.3).double()
        with torch.no_grad():
            y = snn.predict(net.eval()(x))  # labels = golden predictions, two of them wrong
        y[:2] = (y[:2] + 1) % 4
    return net, (x, y)


NEURON_MODELS = [DeadNeuron(), SaturatedNeuron(), StuckNeuron(probability=0.3), StuckNeuron(pattern=[1, 0, 0])]
SYNAPSE_MODELS = [DeadSynapse(), StuckSynapse(3.0), SaturatedSynapse("upper", "extreme"), SaturatedSynapse("lower", "mild"),
                  PerturbedSynapse(-2.5), FloatBitFlipSynapse(30), FloatBitFlipSynapse([20, 31])]
PARAMETRIC_MODELS = [ParametricNeuron("theta", 0.5), ParametricNeuron("theta", 1.7), ParametricNeuron("tauSr", 2.0),
                     ParametricNeuron("tauRef", 3.0), ParametricNeuron("scaleRef", 0.0)]
TIMINGS = [Permanent(), Window(3, 11), Intermittent(period=4, duty=0.5, phase=1), PerSample(0.5),
           PerSample(0.6, within=Window(2, 9))]


def run_all_engines(cmpn: Campaign, reference, chunk_sizes=(1, 5)):
    for engine in ("naive", "sequential", "parallel"):
        for chunk in chunk_sizes:
            assert_identical(cmpn.run(engine=engine, chunk_size=chunk, progress=False), reference)


def test_neuron_models_and_timings_small_net():
    net, data = small_random_network()
    cmpn = Campaign(net, data, batch_size=4, seed=3)
    for model in NEURON_MODELS:
        for timing in TIMINGS:
            for layer in ("C1", "P1", "D2"):  # D2 is the output layer
                cmpn.then_inject(Fault(model, Site(layer), timing, count=2))
    run_all_engines(cmpn, brute_force_table(cmpn))


def test_synapse_models_and_timings_small_net():
    net, data = small_random_network()
    cmpn = Campaign(net, data, batch_size=5, seed=4)
    for model in SYNAPSE_MODELS:
        for timing in TIMINGS:
            cmpn.then_inject(Fault(model, Site("C1"), timing))
            cmpn.then_inject(Fault(model, Site("D1"), timing, count=3))
    # overlapping transient faults of one layer: every combination of active faults
    cmpn.then_inject([Fault(StuckSynapse(-4.0), Site("D1"), Window(2, 9), count=2),
                      Fault(PerturbedSynapse(5.0), Site("D1"), Intermittent(3, 0.34), count=2),
                      Fault(DeadSynapse(), Site("D1"), PerSample(0.5), count=3)])
    reference = brute_force_table(cmpn)
    run_all_engines(cmpn, reference)
    changed = sum(r["changed"] > 0 or r["spike_count_deviation"] > 0 for r in reference)
    assert changed > len(reference) // 3  # the faults do something


def test_parametric_models_small_net():
    net, data = small_random_network()
    cmpn = Campaign(net, data, batch_size=3, seed=5)
    for model in PARAMETRIC_MODELS:
        for timing in (Permanent(), PerSample(0.5)):
            for layer in ("C1", "D1", "D2"):
                cmpn.then_inject(Fault(model, Site(layer), timing, count=2))
    reference = brute_force_table(cmpn)
    run_all_engines(cmpn, reference)
    assert any(r["spike_count_deviation"] > 0 for r in reference)


def test_quantized_bit_flips_small_net():
    net, data = small_random_network()
    cmpn = Campaign(net, data, batch_size=4, seed=6, quantization={"dtype": "int8"})
    for bits in (0, 3, 6, 7, [5, 7]):
        cmpn.then_inject(Fault(BitFlipSynapse(bits), Site("C1"), count=2))
        cmpn.then_inject(Fault(BitFlipSynapse(bits), Site("D1"), Window(4, 12)))
    run_all_engines(cmpn, brute_force_table(cmpn))


def test_multiple_faults_several_layers_and_empty_rounds_digits(digits64):
    net, data = digits64
    for batch_size in (7, 20):
        cmpn = Campaign(net, data, batch_size=batch_size, seed=9)
        cmpn.then_inject([])  # empty round: golden
        cmpn.then_inject([Fault(DeadNeuron(), Site("SC1"), count=5), Fault(StuckSynapse(4.0), Site("SF3"), Window(5, 20)),
                          Fault(ParametricNeuron("theta", 0.6), Site("SF4", (3, 0, 0)))])
        cmpn.then_inject([Fault(SaturatedNeuron(), Site("SF4", (1, 0, 0)), PerSample(0.5))])
        cmpn.then_inject([Fault(PerturbedSynapse(3.0), Site("SC2"), count=4), Fault(StuckNeuron(probability=0.2), Site("SP2"), count=3)])
        cmpn.inject(Fault(DeadNeuron(), Site(None), count=6))  # network-wise, added to the last round
        cmpn.then_inject([Fault(FloatBitFlipSynapse(30), Site("SF4"), Intermittent(5, 0.4)),
                          Fault(ParametricNeuron("tauSr", 0.5), Site("SF3"), count=4)])
        reference = brute_force_table(cmpn)
        assert reference[0]["changed"] == 0 and reference[0]["spike_count_deviation"] == 0
        run_all_engines(cmpn, reference, chunk_sizes=(2,))


def test_exhaustive_last_layer_digits(digits64):
    net, data = digits64
    cmpn = Campaign(net, data, batch_size=8, seed=2)
    cmpn.exhaustive(DeadNeuron(), layers=["SF4"])
    cmpn.exhaustive(SaturatedNeuron(), layers=["SF4"])
    reference = brute_force_table(cmpn)
    run_all_engines(cmpn, reference, chunk_sizes=(7,))
    assert sum(r["critical"] for r in reference) > 0


def test_float32_differences_only_near_threshold():
    """float32 engines versus a float64 brute force: every differing round is explained
    by spikes that flip near threshold (counted and printed)."""
    net, (x, y) = small_random_network()
    cmpn32 = Campaign(net.float(), (x.float(), y), batch_size=4, seed=3)
    cmpn64 = Campaign(net, (x, y), batch_size=4, seed=3)
    for c in (cmpn32, cmpn64):
        for model in (DeadNeuron(), PerturbedSynapse(1.5), ParametricNeuron("theta", 0.8)):
            c.then_inject(Fault(model, Site("C1"), count=2))
    r32 = cmpn32.run(progress=False).table
    r64 = cmpn64.run(progress=False).table
    spike_cols = [c for c in r32 if c.startswith("spikes.")]
    differing = int((r32[spike_cols].to_numpy() != r64[spike_cols].to_numpy()).any(axis=1).sum())
    print(f"float32 vs float64: {differing} of {len(r32)} rounds differ in a spike count")
    assert differing <= 1


def test_results_do_not_depend_on_batch_or_chunk(digits64):
    net, data = digits64
    tables = []
    for batch_size, chunk in ((3, 1), (20, 4)):
        cmpn = Campaign(net, data, batch_size=batch_size, seed=21)
        for timing in (PerSample(0.4), Intermittent(3, 0.34)):
            cmpn.then_inject(Fault(StuckNeuron(probability=0.5), Site("SC2"), timing, count=3))
            cmpn.then_inject(Fault(DeadSynapse(), Site("SC1"), timing, count=2))
        tables.append(cmpn.run(chunk_size=chunk, progress=False).table.drop(columns=[]))
    cols = [c for c in tables[0] if c not in ("loss",)]
    assert tables[0][cols].equals(tables[1][cols])





def test_predictions_kept_equal_across_engines(digits64):
    net, data = digits64
    cmpn = Campaign(net, data, batch_size=6, seed=4)
    cmpn.exhaustive(DeadNeuron(), layers=["SF4"])
    cmpn.then_inject([Fault(DeadNeuron(), Site("SC2"), count=3), Fault(StuckSynapse(5.0), Site("SF3"), count=2)])
    preds = {e: cmpn.run(engine=e, progress=False, keep_predictions=True) for e in ("naive", "sequential", "parallel")}
    ref = preds["naive"]
    assert ref.predictions.shape == (len(cmpn.rounds), 20)
    for e, r in preds.items():
        assert (r.predictions == ref.predictions).all(), e
    g = cmpn.predict_counts(snn.spike_counts(cmpn.golden_batch(0)["output"]))
    changed = (ref.predictions[:, :6] != g.numpy()[None]).sum(1)
    assert (changed <= ref.table["changed"].to_numpy()).all()


def test_parallel_memory_budget_splits_chunks(digits64, monkeypatch):
    """A tiny memory budget forces many sub-chunks in flight: same results."""
    from spikefi.campaign import parallel

    net, data = digits64
    cmpn = Campaign(net, data, batch_size=10, seed=8)
    cmpn.exhaustive(DeadNeuron(), layers=["SP2"], sample=12)
    full = cmpn.run(engine="parallel", chunk_size=12, progress=False).table
    seen = []
    real = parallel.rows_budget
    monkeypatch.setattr(parallel, "rows_budget", lambda c, f=0.25: seen.append(real(c, f)) or 25)
    small = cmpn.run(engine="parallel", chunk_size=12, progress=False).table
    assert seen and seen[0] > 25  # the real budget is larger than the forced one
    cols = [c for c in full if c != "param"]
    assert full[cols].equals(small[cols])
