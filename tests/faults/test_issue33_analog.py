"""Issue 33: analog devices (conductance mapping, stuck devices, programming and read noise,
drift with age, threshold mismatch). The engines agree with each other and with a brute-force
reference written here: weights rebuilt device by device with Python loops from the documented
draws, the network run sample by sample with its own weights, and neurons with per-neuron
thresholds simulated step by step."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

import spikefi.snn as snn
from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.errors import FaultMapError, FaultSpecError
from spikefi.faults import AnalogDevices, DeadNeuron, Fault, Site, write_device_map
from spikefi.faults.models import model_from_spec
from spikefi.testgen.faultlist import FaultList, faults_from_json
from spikefi.zoo import load_pretrained

ENGINES = ("naive", "sequential", "parallel")
SYNAPTIC = ("SC1", "SC2", "SF3", "SF4")


@pytest.fixture(scope="module")
def digits():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    return net.double(), (test.tensors[:10].double(), test.labels[:10])


def campaign(digits, seed: int = 3) -> Campaign:
    net, data = digits
    return Campaign(net, data, batch_size=4, seed=seed)


def assert_engines_agree(cmpn: Campaign):
    results = {e: cmpn.run(engine=e, chunk_size=2, progress=False, keep_predictions=True) for e in ENGINES}
    ref = results["naive"]
    cols = [c for c in ref.table.columns if c != "seconds"]
    for e, r in results.items():
        assert (r.predictions == ref.predictions).all(), e
        pd.testing.assert_frame_equal(r.table[cols], ref.table[cols], check_exact=False, rtol=1e-9)
    return ref


# -- brute force --------------------------------------------------------------------------


def reference_layer(m: AnalogDevices, w: np.ndarray, key: list[int], layer: str, neurons: tuple[int, ...]):
    """Weights (flat), read σ per weight and threshold factors of one layer, device by device."""
    rng = np.random.default_rng([*key, 11])
    n = w.size
    d = 2 if m.mapping == "differential" else 1
    if m.mapping == "none":
        values, read = w.copy(), None
    else:
        u, eps = rng.random((d, n)), rng.standard_normal((d, n))
        nu = rng.normal(m.drift_nu_mean, m.drift_nu_std, (d, n))
        w_max = max(abs(float(v)) for v in w)
        stuck_map = {}
        for c in m.cells:
            if c.layer == layer:
                stuck_map[(int(np.ravel_multi_index(c.index, SHAPES[layer])), {"plus": 0, "single": 0, "minus": 1}[c.device])] = \
                    0.0 if c.stuck == "0" else m.g_max
        values, read = np.zeros(n), np.zeros(n)
        for i in range(n):
            g = abs(float(w[i])) / w_max * m.g_max
            if m.levels:
                g = round(g / (m.g_max / (m.levels - 1))) * (m.g_max / (m.levels - 1))
            targets = ([g if w[i] > 0 else 0.0, g if w[i] < 0 else 0.0]) if d == 2 else [g]
            conds = []
            for k in range(d):
                ref = m.g_max if m.noise_reference == "gmax" else targets[k]
                c = min(max(targets[k] + m.program_sigma * ref * eps[k, i], 0.0), m.g_max)
                if m.age is not None and m.age > m.t0:
                    c *= (m.age / m.t0) ** (-max(nu[k, i], 0.0))
                if u[k, i] < m.stuck_at_0:
                    c = 0.0
                elif u[k, i] < m.stuck_at_0 + m.stuck_at_gmax:
                    c = m.g_max
                c = stuck_map.get((i, k), c)
                conds.append(c)
            scale = w_max / m.g_max
            values[i] = (conds[0] - conds[1]) * scale if d == 2 else (-1.0 if w[i] < 0 else 1.0) * conds[0] * scale
            refs = [m.g_max if m.noise_reference == "gmax" else c for c in conds]
            read[i] = m.read_sigma * scale * math.sqrt(sum(r * r for r in refs))
        if not m.read_sigma:
            read = None
    factors = None
    if m.threshold_sigma:
        factors = np.maximum(1.0 + m.threshold_sigma * rng.standard_normal(neurons), 0.01)
    return values, read, factors


SHAPES = {"SC1": (8, 2, 3, 3), "SC2": (16, 8, 3, 3), "SF3": (64, 16, 4, 4), "SF4": (10, 64, 1, 1)}


def spike_loop(u: torch.Tensor, theta: torch.Tensor, theta0: float, ref: torch.Tensor, ts: float) -> torch.Tensor:
    """Threshold and refractory response per neuron, one time step after the other (the
    refractory kernel scales with the threshold: ``-scaleRef * theta * ...``)."""
    u = u.clone()
    steps = u.shape[-1]
    out = torch.zeros_like(u)
    for t in range(steps):
        fired = u[..., t] >= theta
        out[..., t] = fired.to(u.dtype) / ts
        for k in range(1, min(ref.numel(), steps - t)):
            u[..., t + k] += torch.where(fired, ref[k] * theta / theta0, 0.0)
    return out


def brute_force(cmpn: Campaign, round_id: int, faults: list[tuple[AnalogDevices, list[str] | None]]) -> np.ndarray:
    """Per-sample predictions of round ``round_id`` holding ``faults`` (each model with its layers)."""
    net = copy.deepcopy(cmpn.net)
    modules = dict(net.named_modules())
    slayer = net.slayer
    theta0 = float(cmpn.netmap.neuron()["theta"])
    per_layer = {}
    for j, (m, layers) in enumerate(faults):
        for info in cmpn.netmap.layers.values():
            if info.synapse_shape is None or (layers and info.name not in layers):
                continue
            w = modules[info.name].weight.detach().double().numpy().reshape(-1)
            per_layer[info.name] = (m, reference_layer(m, w, [cmpn.seed, round_id, j, info.index], info.name,
                                                       info.neuron_shape), [cmpn.seed, round_id, j, info.index])
    preds = []
    for s in range(cmpn.num_samples):
        x = cmpn.x[s:s + 1]
        for name in cmpn.netmap.order:
            module = modules[name]
            if name in per_layer:
                m, (values, read, factors), key = per_layer[name]
                w = values.copy()
                if read is not None:
                    w = w + read * np.random.default_rng([*key, s, 12]).standard_normal(w.size)
                module.weight.data = torch.tensor(w).reshape(module.weight.shape)
                u = slayer.psp(module(x))
                theta = torch.full(u.shape[:-1], theta0, dtype=u.dtype)
                if factors is not None:
                    theta = theta * torch.tensor(factors)[None]
                x = spike_loop(u, theta, theta0, slayer.refKernel.double(), float(slayer.Ts))
            else:
                x = slayer.spike(slayer.psp(module(x)))
        preds.append(int(cmpn.predict_counts(snn.spike_counts(x))[0]))
    return np.array(preds)


# -- tests ----------------------------------------------------------------------------------


def test_parameters_and_errors(tmp_path):
    m = AnalogDevices(levels=16, program_sigma=0.05, age=3600.0, drift_nu_mean=0.05, drift_nu_std=0.02)
    assert model_from_spec(m.spec()) == m and m.stochastic
    assert m.scalar_parameter() == ("age", 3600.0)
    assert not AnalogDevices(levels=8).stochastic
    for bad, match in (({"mapping": "pair"}, "mapping must be 'differential', 'single' or 'none'"),
                       ({"g_max": 0}, "g_max must be > 0"),
                       ({"levels": 1}, "levels must be null or an int >= 2"),
                       ({"stuck_at_0": 0.7, "stuck_at_gmax": 0.5}, "stuck_at_0 \\+ stuck_at_gmax must be <= 1"),
                       ({"program_sigma": -0.1}, "program_sigma must be >= 0"),
                       ({"age": 1.0, "t0": 20.0}, "age must be >= 20"),
                       ({"noise_reference": "G"}, "noise_reference must be 'gmax' or 'g'"),
                       ({"mapping": "none"}, "changes nothing"),
                       ({"mapping": "none", "threshold_sigma": 0.1, "read_sigma": 0.1}, "takes only threshold_sigma")):
        with pytest.raises(FaultSpecError, match=match) as info:
            AnalogDevices(**bad)
        assert "\n" not in str(info.value)
    with pytest.raises(FaultMapError, match="device map file not found"):
        AnalogDevices(device_map=str(tmp_path / "none.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("# spikefi-device-map 1\nlayer,out,in,kh,kw,device,stuck\nSC1,0,0,0,0,left,0\n")
    with pytest.raises(FaultMapError, match="line 3: device must be one of"):
        AnalogDevices(device_map=str(bad))
    ok = write_device_map(tmp_path / "ok.csv", [("SC1", (0, 0, 0, 0), "single", "gmax")])
    with pytest.raises(FaultMapError, match="devices \\['single'\\] do not exist with mapping 'differential'"):
        AnalogDevices(device_map=str(ok))


def test_campaign_errors(digits):
    cmpn = campaign(digits)
    with pytest.raises(FaultSpecError, match="sites name layers only"):
        cmpn.then_inject(Fault(AnalogDevices(program_sigma=0.1), Site("SC1", (0, 0, 0, 0))))
    with pytest.raises(FaultSpecError, match="has no injectable synapses"):
        cmpn.then_inject(Fault(AnalogDevices(program_sigma=0.1), Site("SP1")))
    with pytest.raises(FaultSpecError, match="holds analog devices .* and another synapse fault"):
        cmpn.then_inject([Fault(AnalogDevices(program_sigma=0.1), Site("SF4")),
                          Fault(model_from_spec({"model": "DeadSynapse"}), Site("SF4", (0, 0, 0, 0)))])
    with pytest.raises(FaultSpecError, match="put it in a round"):
        cmpn.exhaustive(AnalogDevices(program_sigma=0.1))
    with pytest.raises(FaultSpecError, match="draws its devices anew in every round") as info:
        FaultList.from_rounds([Fault(AnalogDevices(read_sigma=0.1))])
    assert "\n" not in str(info.value)


CASES = [
    (AnalogDevices(program_sigma=0.1, stuck_at_0=0.02, stuck_at_gmax=0.01), None),
    (AnalogDevices(mapping="single", levels=9, program_sigma=0.2, noise_reference="g", age=1e5,
                   drift_nu_mean=0.06, drift_nu_std=0.03), None),
    (AnalogDevices(read_sigma=0.3, g_max=25.0), ["SC2", "SF4"]),
    (AnalogDevices(mapping="none", threshold_sigma=0.3), ["SC1", "SF3"]),
    (AnalogDevices(program_sigma=0.05, read_sigma=0.2, threshold_sigma=0.2), None),
]


def test_engines_and_brute_force(digits):
    cmpn = campaign(digits)
    for m, layers in CASES:
        cmpn.then_inject(Fault(m, [Site(n) for n in layers] if layers else [Site()]))
    cmpn.then_inject([Fault(AnalogDevices(read_sigma=0.2), Site("SC1")), Fault(DeadNeuron(), Site("SF4", (3, 0, 0)))])
    ref = assert_engines_agree(cmpn)
    for r, (m, layers) in enumerate(CASES):
        assert (ref.predictions[r] == brute_force(cmpn, r, [(m, layers)])).all(), r
    table = ref.table
    assert table["n_faults"].iloc[0] == sum(math.prod(s) for s in SHAPES.values())
    assert table["param_name"].tolist()[:4] == ["program_sigma", "age", "read_sigma", "threshold_sigma"]
    assert (table["spike_count_deviation"].iloc[:5] > 0).all()
    # the whole-layer fault is listed without positions; a fault list refuses it in one line
    with pytest.raises(FaultSpecError, match="AnalogLayer draws its devices anew in every round"):
        faults_from_json(table["faults"].iloc[0])


def test_device_map_and_exact_mapping(digits, tmp_path):
    cmpn = campaign(digits)
    path = write_device_map(tmp_path / "chip.csv", [("SF4", (3, 10, 0, 0), "plus", "gmax"),
                                                    ("SF4", (3, 11, 0, 0), "minus", "gmax"),
                                                    ("SC1", (0, 1, 1, 1), "plus", "0")])
    m = AnalogDevices(device_map=str(path), levels=64)
    cmpn.then_inject(Fault(m))
    cmpn.then_inject(Fault(AnalogDevices()))  # the mapping alone: weights unchanged up to rounding
    ref = assert_engines_agree(cmpn)
    assert (ref.predictions[0] == brute_force(cmpn, 0, [(m, None)])).all()
    assert ref.table["critical"].iloc[1] == 0 and (ref.predictions[1] == ref.predictions[1]).all()
    for cells, match in (([("SP1", (0, 0, 0, 0), "plus", "0")], "layer\\(s\\) \\['SP1'\\] are not synaptic layers"),
                         ([("SF4", (10, 0, 0, 0), "plus", "0")], "index \\[10, 0, 0, 0\\] is out of range")):
        bad = AnalogDevices(device_map=str(write_device_map(tmp_path / "bad.csv", cells)))
        with pytest.raises(FaultSpecError, match=match):
            cmpn.then_inject(Fault(bad))
    with pytest.raises(FaultMapError, match="sha256|SHA-256"):
        AnalogDevices(device_map=str(path), sha256="0" * 64)
    assert model_from_spec(m.spec()) == m


def test_same_seed_same_campaign(digits):
    def run(seed: int) -> pd.DataFrame:
        cmpn = campaign(digits, seed)
        for _ in range(3):
            cmpn.then_inject(Fault(AnalogDevices(program_sigma=0.3, read_sigma=0.2)))
        return cmpn.run(engine="parallel", progress=False).table.drop(columns=["seconds"], errors="ignore")

    a, b, c = run(3), run(3), run(4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["spike_count_deviation"].equals(c["spike_count_deviation"])
    assert a["spike_count_deviation"].nunique() > 1  # each round its own draw


def test_age_sweep_with_intervals(digits):
    from spikefi.campaign.analog_sweep import analog_sweep

    cmpn = campaign(digits)
    base = AnalogDevices(levels=16, program_sigma=0.05, read_sigma=0.02, drift_nu_mean=0.1, drift_nu_std=0.05)
    sweep = analog_sweep(cmpn, base, "age", [20.0, 1e4, 1e9], draws=3)
    sigma = analog_sweep(cmpn, base, "program_sigma", [0.0, 0.5], draws=2, layers=["SF3"])
    result = cmpn.run(engine="parallel", progress=False)
    table = result.table.set_index("round_id")
    summary = sweep.summary(result)
    assert summary["age"].tolist() == [20.0, 1e4, 1e9] and (summary["draws"] == 3).all()
    for row, ids in zip(summary.itertuples(), sweep.rounds, strict=True):
        acc = table.loc[list(ids), "accuracy"].to_numpy()
        assert math.isclose(row.accuracy_mean, acc.mean())
        assert row.accuracy_low <= row.accuracy_mean <= row.accuracy_high
        assert 0 <= row.critical_draw_low <= row.critical_draw_rate <= row.critical_draw_high <= 1
    assert (table.loc[list(sweep.rounds[2]), "param"] == 1e9).all()
    # drift lowers every conductance: the spike counts move further from golden with age
    assert summary["spike_count_deviation"].iloc[2] > summary["spike_count_deviation"].iloc[0]
    s2 = sigma.summary(result)
    assert s2["program_sigma"].tolist() == [0.0, 0.5]
    assert {f.layer for r in sigma.rounds for i in r for f in cmpn.rounds[i].faults} == {"SF3"}
    from spikefi.errors import ConfigError

    with pytest.raises(ConfigError, match="varies one of"):
        analog_sweep(cmpn, base, "mapping", ["single"], draws=1)
    with pytest.raises(ConfigError, match="sweep value age=1.0"):
        analog_sweep(cmpn, base, "age", [1.0], draws=1)


def test_yaml_config_params_and_search_space(digits, tmp_path):
    import yaml

    from analysis.describe import model_parameter
    from experiments.chunk_flush import fault_params
    from spikefi.campaign import CampaignSpec
    from spikefi.search.space import FaultSpace

    config = yaml.safe_load(open("experiments/configs/analog_drift_digits.yaml"))["campaign"]
    config["data"]["max_samples"] = 8
    spec = CampaignSpec.from_dict(config)
    cmpn = spec.build()
    assert len(cmpn.rounds) == 8
    table = cmpn.run(engine="parallel", progress=False).table
    assert table["param"].tolist() == [3600.0] * 4 + [31536000.0] * 4
    assert CampaignSpec.from_yaml(spec.to_yaml()).to_dict() == spec.to_dict()
    params = fault_params(cmpn.rounds)
    assert params["fault.model"] == "AnalogDevices"
    assert params["fault.parameter"].startswith("differential pairs, Gmax 25, 16 levels, programming noise 2% of Gmax, "
                                                "read noise per sample 1% of Gmax, age 3600 (t0 20, drift nu 0.05 +- 0.02)")
    assert model_parameter({"model": "AnalogDevices", "mapping": "none", "threshold_sigma": 0.1}) == \
        "threshold mismatch 10%"
    # Optuna search space: continuous parameters searched, sites are whole layers
    optuna = pytest.importorskip("optuna")
    space = FaultSpace(campaign(digits).netmap.layers, {
        "k": 1, "layers": ["SC2", "SF3"],
        "models": [{"model": "AnalogDevices", "program_sigma": {"low": 0.0, "high": 0.3},
                    "age": {"low": 20.0, "high": 1e8, "log": True}, "drift_nu_mean": 0.05}]}, steps=30)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    faults = space.suggest(trial)
    assert len(faults) == 1 and faults[0].sites[0].position is None and faults[0].sites[0].layer in ("SC2", "SF3")
    assert 0.0 <= faults[0].model.program_sigma <= 0.3 and 20.0 <= faults[0].model.age <= 1e8
    assert set(trial.params) == {"f0.AnalogDevices.layer", "f0.AnalogDevices.program_sigma", "f0.AnalogDevices.age"}
    probe = campaign(digits)
    probe.then_inject(faults)
    assert [f.layer for f in probe.rounds[0].faults] == [faults[0].sites[0].layer]


def test_shared_index_path_matches(digits):
    """The one-copy index path of CUDA runs (``_device_indices``) builds the same prepared
    round as the per-fault path, with whole-layer faults among ordinary ones (run on the CPU)."""
    from spikefi.campaign.inject import _device_indices, prepare_round

    cmpn = campaign(digits)
    cmpn.then_inject([Fault(model_from_spec({"model": "DeadSynapse"}), Site("SC1", (0, 0, 0, 0))),
                      Fault(AnalogDevices(program_sigma=0.1, read_sigma=0.1, threshold_sigma=0.1), Site("SF3")),
                      Fault(DeadNeuron(), Site("SF4", (2, 0, 0)))])
    rounds = cmpn.rounds
    shared = _device_indices(cmpn, rounds)
    for rnd, ix in zip(rounds, shared, strict=True):
        a, b = prepare_round(cmpn, rnd), prepare_round(cmpn, rnd, indices=ix)
        for name, lf in a.layers.items():
            other = b.layers[name]
            for s, t in zip(lf.synapse, other.synapse, strict=True):
                assert all(torch.equal(p, q) for p, q in zip(s.idx, t.idx, strict=True))
                assert torch.equal(s.values, t.values)
                assert (s.read_std is None) == (t.read_std is None)
            assert (lf.neuron_scale is None) == (other.neuron_scale is None)
            if lf.neuron_scale is not None:
                assert torch.equal(lf.neuron_scale, other.neuron_scale)
        assert b.layers["SF3"].neuron_scale.shape == (64, 1, 1)


def test_nir_network_weights_and_refused_mismatch():
    """On an imported NIR network the conductance mapping acts on its Conv2d/Affine weights
    (engines agree); threshold mismatch is refused (NIR neuron stages take NeuronDrift)."""
    pytest.importorskip("nir", reason="spikefi[nir] extra not installed")
    from tests.nir.test_campaign import _net

    net, x, y = _net("conv")
    cmpn = Campaign(net, (x, y), batch_size=4, seed=2)
    for _ in range(2):
        cmpn.then_inject(Fault(AnalogDevices(program_sigma=0.2, read_sigma=0.1, stuck_at_0=0.05)))
    ref = assert_engines_agree(cmpn)
    assert (ref.table["spike_count_deviation"] > 0).all()
    with pytest.raises(FaultSpecError, match="threshold_sigma acts on SLAYER neurons"):
        cmpn.then_inject(Fault(AnalogDevices(mapping="none", threshold_sigma=0.1)))
