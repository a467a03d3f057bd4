"""SpikeFI 1.3 names on their own: fault definition with Python's random, errors at
injection, the bit-flip model against torch's quantized tensors, quantization arguments,
saving/loading (no pickles), output folders, visual files and lazy top-level names."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import spikefi as sfi
from spikefi.errors import ConfigError, DataError, FaultSpecError, NotSupportedError
from spikefi.faults import SynapseContext
from spikefi.zoo import load_pretrained


@pytest.fixture(scope="module")
def net():
    return load_pretrained("digits_cnn")[0]


@pytest.fixture(scope="module")
def loader():
    from spikefi.data import load_spiking_digits

    test = load_spiking_digits()[1]
    x, y = test.tensors[:24], test.labels[:24]
    return DataLoader(TensorDataset(torch.arange(24), x, torch.eye(10)[y].reshape(-1, 10, 1, 1, 1), y), batch_size=8)


@pytest.fixture
def cmpn(net):
    return sfi.Campaign(net, (2, 16, 16), net.slayer, name="api")


def _sites(c) -> list:
    return [sorted((s.layer, s.position) for f in rnd.values() for s in f.sites) for rnd in c.rounds]


def test_random_sites_follow_python_random(net):
    def build(seed):
        random.seed(seed)
        c = sfi.Campaign(net, (2, 16, 16), net.slayer)
        c.inject(sfi.ff.Fault(sfi.fm.DeadNeuron(), [sfi.ff.FaultSite("SF3"), sfi.ff.FaultSite("SF3"),
                                                     sfi.ff.FaultSite("SC2", (None, 1, None))]))
        c.then_inject([sfi.ff.Fault(sfi.fm.StuckSynapse(2.0))])
        c.inject_complete(sfi.fm.DeadSynapse(), ["SF4"], fault_sampling_k=5)
        return _sites(c)

    a, b, other = build(1), build(1), build(2)
    assert a == b and a != other
    first = a[0]
    assert len(first) == 3 and first[0][0] == "SC2" and first[0][1][1] == 1  # the fixed part is kept
    assert first[1][1] != first[2][1]  # two distinct SF3 neurons
    assert len(a) == 2 + 5 and all(len(r) == 1 for r in a[2:])


def test_inject_complete_covers_every_site_and_samples(cmpn):
    faults = cmpn.inject_complete(sfi.fm.DeadNeuron(), "SF4")
    assert len(faults) == 10 and len(cmpn.rounds) == 10  # the empty first round was replaced
    assert sorted(next(iter(f.sites)).position for f in faults) == [(c, 0, 0) for c in range(10)]
    cmpn.eject()
    assert len(cmpn.rounds) == 1 and not cmpn.rounds[0]
    every = cmpn.inject_complete(sfi.fm.DeadSynapse())  # all conv/dense synapses
    assert len(every) == sum(cmpn.layers_info.get_sizes_inj(True))


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (lambda: sfi.ff.Fault(sfi.fm.DeadNeuron(), sfi.ff.FaultSite("nope", (0, 0, 0))), FaultSpecError,
         r"unknown layer 'nope'; layers: \['SC1', 'SP1', 'SC2', 'SP2', 'SF3', 'SF4'\]"),
        (lambda: sfi.ff.Fault(sfi.fm.DeadNeuron(), sfi.ff.FaultSite("SF4", (10, 0, 0))), FaultSpecError,
         r"position \(10, 0, 0\) is out of range in layer 'SF4'"),
        (lambda: sfi.ff.Fault(sfi.fm.DeadSynapse(), sfi.ff.FaultSite("SP1", (0, 0, 0, 0))), FaultSpecError,
         "layer 'SP1' \\(pool\\) has no injectable synapses"),
        (lambda: sfi.ff.Fault(sfi.fm.DeadNeuron(), sfi.ff.FaultSite("SF4", (0, 0, 0, 0))), FaultSpecError,
         "must be a neuron \\(c, h, w\\) position of length 3"),
        (lambda: sfi.ff.Fault(sfi.fm.DeadNeuron(), sfi.ff.FaultSite("SF4", (None, 0, 0, 0))), FaultSpecError,
         "must be a neuron \\(c, h, w\\) position of length 3"),
        (lambda: sfi.ff.Fault(sfi.fm.ParametricNeuron("tauRho", 2.0), sfi.ff.FaultSite("SF4", (0, 0, 0))),
         FaultSpecError, "parameter 'tauRho' is not a neuron parameter"),
        (lambda: sfi.ff.Fault(sfi.fm.IntegrationFaultNeuron(-1.0), sfi.ff.FaultSite("SF4", (0, 0, 0))),
         FaultSpecError, "tauSr factor must be > 0"),
        (lambda: sfi.ff.Fault(sfi.ff.FaultModel(sfi.ff.FaultTarget.OUTPUT, None, 0.5), sfi.ff.FaultSite("SF4", (0, 0, 0))),
         NotSupportedError, "CustomFault has no spikefi equivalent"),
    ],
)
def test_bad_faults_fail_at_injection_with_native_messages(cmpn, fault, error, message):
    with pytest.raises(error, match=message):
        cmpn.inject(fault())
    assert not cmpn.rounds[0]  # the round is unchanged
    with pytest.raises(error, match=message):
        cmpn.then_inject([fault()])
    assert len(cmpn.rounds) == 1


def test_other_bad_input(cmpn, loader, net):
    with pytest.raises(FaultSpecError, match="round index 3 out of range: 1 rounds"):
        cmpn.inject(sfi.ff.Fault(sfi.fm.DeadNeuron()), round_idx=3)
    with pytest.raises(FaultSpecError, match="length 3 or 4|3 entries"):
        sfi.ff.FaultSite("SF4", (0, 0))
    with pytest.raises(FaultSpecError, match="StuckNeuron x must be in \\[0, 1\\]"):
        sfi.fm.StuckNeuron(1.5)
    with pytest.raises(FaultSpecError, match="fault_sampling_k"):
        cmpn.inject_complete(sfi.fm.DeadNeuron(), ["SF4"], fault_sampling_k=0)
    with pytest.raises(ConfigError, match="shape_in"):
        sfi.Campaign(net, (2, 16), net.slayer)
    with pytest.raises(DataError, match="test_loader must yield"):
        cmpn.run([torch.zeros(2, 2, 16, 16, 30)])
    with pytest.raises(ConfigError, match="optimizer_factory"):
        cmpn.run_train(1, loader, loader, sfi.snn.loss(net.config))


def test_run_maps_levels_and_accepts_spikefi_loader_forms(cmpn, loader):
    cmpn.inject(sfi.ff.Fault(sfi.fm.DeadNeuron(), sfi.ff.FaultSite("SF4", (3, 0, 0))))
    cmpn.then_inject([sfi.ff.Fault(sfi.fm.SaturatedNeuron(), sfi.ff.FaultSite("SF3", (5, 0, 0)))])
    got = {}
    for level in sfi.CampaignOptimization:
        crit = cmpn.run(loader, opt=level)
        got[level.name] = ([p.testing.accuracyLog[-1] for p in cmpn.performance], crit.tolist())
    assert len({repr(v) for v in got.values()}) == 1
    with pytest.warns(UserWarning, match="es_tol=2"):
        cmpn.run(loader, es_tol=2)
    assert cmpn.result.meta["engine"] == "parallel" and cmpn.duration > 0


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_affine_bit_flip_matches_torch_quantized_tensors():
    """SpikeFI flips bits of ``torch.quantize_per_tensor(...).int_repr()``: the same codes."""
    rng = np.random.default_rng(5)
    w = torch.tensor(rng.normal(0, 0.7, 400), dtype=torch.float32)
    for qdtype in (torch.quint8, torch.qint8):
        scale, zp = sfi.utils.quantization.qargs_from_tensor(w, qdtype)
        for bits in (0, 3, 7, [1, 6]):
            model = sfi.fm.BitflippedSynapse(bits, scale, zp, qdtype).native()
            got = model.faulty_weights(w, SynapseContext(w))
            codes = torch.quantize_per_tensor(w, scale, zp, qdtype).int_repr().to(torch.int64)
            mask = sum(1 << b for b in ([bits] if isinstance(bits, int) else bits))
            width = 8
            flipped = (codes & ((1 << width) - 1)) ^ mask
            if qdtype == torch.qint8:
                flipped = torch.where(flipped >= 128, flipped - 256, flipped)
            want = ((flipped - zp).to(torch.float64) * scale).to(torch.float32)
            assert torch.equal(got, want), (qdtype, bits)


def test_quantization_args():
    assert sfi.utils.quantization.qiinfo(torch.quint8).max == 255
    assert sfi.utils.quantization.qiinfo(torch.qint8).min == -128
    scale, zp = sfi.utils.quantization.qargs_from_range(-1.0, 3.0, torch.quint8)
    assert scale == pytest.approx(4 / 255) and zp == int(0 + 1.0 / scale)
    assert sfi.utils.quantization.qargs_precision(0.0, 1.0, 4) == (1 / 15, 0)
    with pytest.raises(FaultSpecError, match="xmin must be smaller than xmax"):
        sfi.utils.quantization.qargs_exact(1.0, 1.0, 0, 255)
    with pytest.raises(FaultSpecError, match="quantized dtype"):
        sfi.fm.BitflippedSynapse(0, 0.1, 0, torch.float32)
    with pytest.raises(FaultSpecError, match="must be distinct and in \\[0, 8\\)"):
        sfi.fm.BitflippedSynapse(8, 0.1, 0, torch.quint8)


def test_models_map_to_native_and_random_models_are_seeded():
    q1, q3 = -0.4, 0.6
    sat = sfi.fm.SaturatedSynapse(q1, q3, tail="upper", intensity="extreme")
    assert sat.native().value == np.ceil(q3 + 3 * (q3 - q1)) + 1
    assert sfi.fm.SaturatedSynapse(q1, q3).native().value == np.floor(q1 - 1.5 * (q3 - q1)) - 1
    assert sfi.fm.ThresholdFaultNeuron(3.0).native().params() == {"parameter": "theta", "factor": 3.0}
    assert sfi.fm.PerturbedSynapse(2.0).native().factor == 2.0
    random.seed(4)
    a = [type(sfi.fm.RandomNeuron()).__name__ for _ in range(30)]
    random.seed(4)
    b = [type(sfi.fm.RandomNeuron()).__name__ for _ in range(30)]
    assert a == b and set(a) <= {"DeadNeuron", "SaturatedNeuron", "StuckNeuron"} and "DeadNeuron" in a
    p = sfi.fm.RandomParametricNeuron()
    assert p.param_name in ("theta", "tauSr", "tauRef") and 0.1 <= p.param_args[0] <= 3.0
    assert sfi.fm.DeadNeuron().get_name_snake_case(delimiter="-") == "neuron-dead"
    assert sfi.fm.DeadSynapse().is_synaptic() and sfi.fm.ThresholdFaultNeuron(2.0).is_parametric()


def test_save_load_json_and_pickles_refused(cmpn, loader, tmp_path, net, monkeypatch):
    monkeypatch.setenv("SPIKEFI_OUT_DIR", str(tmp_path / "out"))
    cmpn.inject(sfi.ff.Fault(sfi.fm.BitflippedSynapse(7, 0.01, 128, torch.quint8), sfi.ff.FaultSite("SF4", (1, 2, 0, 0))))
    cmpn.run(loader, spike_loss=sfi.snn.loss(net.config))
    with pytest.warns(UserWarning, match="not pickled"):
        path = cmpn.save(tmp_path / "c.pkl")
    assert path.endswith("c.json") and not (tmp_path / "c.pkl").exists()
    data = sfi.Campaign.load(path)
    assert data.performance[0].testing.accuracyLog == cmpn.performance[0].testing.accuracyLog
    rebuilt = data.build(net)
    assert rebuilt.rounds[0].native()[0].model == cmpn.rounds[0].native()[0].model
    assert sfi.Campaign.load_many(str(tmp_path / "*.json"))[0].name == "api"
    bad = tmp_path / "spikefi13.pkl"
    bad.write_bytes(pickle.dumps({"campaign": 1}))
    for target in (bad, tmp_path / "disguised.json"):
        if target.suffix == ".json":
            target.write_bytes(pickle.dumps([1, 2]))
        with pytest.raises(DataError, match="spikefi never unpickles files.*cmpn.save\\(\\)"):
            sfi.Campaign.load(target)
    state_path = cmpn.save_net(net, "golden")
    assert Path(state_path) == tmp_path / "out" / "net" / "golden.pt"
    torch.load(state_path, weights_only=True)


def test_out_dir_and_visual_files(cmpn, loader, tmp_path, monkeypatch):
    monkeypatch.delenv("SPIKEFI_OUT_DIR", raising=False)
    sfi.utils.io.set_out_dir(tmp_path / "results")
    try:
        assert sfi.utils.io.FIG_DIR == str(tmp_path / "results" / "fig")
        cmpn.inject_complete(sfi.fm.DeadNeuron(), ["SF4"])
        cmpn.run(loader)
        data = cmpn.export()
        sfi.visual.bar(data, format="png")
        sfi.visual.heat([data], format="png")
        sfi.visual.colormap(format="png")
        sfi.visual.learning_curve(data, format="png", to_save=False)
        names = sorted(p.name for p in (tmp_path / "results" / "fig").iterdir())
        assert names == ["api_SF4_DeadNeuron_heat.png", "api_bar.png", "colormap.png"]
        again = sfi.utils.io.make_fig_filepath("colormap.png", rename=True)
        assert again.endswith("colormap (1).png")
    finally:
        sfi.utils.io.set_out_dir(None)


def test_top_level_names_are_the_faces():
    """``spikefi.Campaign`` etc. are the compat faces (their lazy loading without plotting or
    tracking imports is checked in tests/test_packaging.py)."""
    import spikefi.compat.layer
    import spikefi.core
    import spikefi.fault
    import spikefi.models
    import spikefi.visual

    assert sfi.Campaign is spikefi.core.Campaign and sfi.CampaignData is spikefi.core.CampaignData
    assert sfi.ff is spikefi.fault and sfi.fm is spikefi.models and sfi.visual is spikefi.visual
    assert sfi.utils.layer.LayersInfo is spikefi.compat.layer.LayersInfo
    assert not {"Campaign", "ff", "fm", "visual", "utils"} & set(dir(sfi))  # importable, out of dir() (issue 36)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sfi.nope  # noqa: B018
