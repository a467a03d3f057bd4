"""Issue 27, item 3 (Python API): NaN/Inf weights are refused before anything runs, naming the
tensor -- in ``load_network``, ``SpikingNetwork.load_state_dict``, factory networks and
``Campaign(...)`` -- and a degenerate golden network is recognised from its golden summary."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.errors import SpikeFIError, StateDictError
from spikefi.finite_weights import check_finite_weights
from spikefi.golden_health import golden_problems, health_tag
from spikefi.zoo import build, load_network, load_pretrained, save_network


@pytest.fixture(scope="module")
def digits():
    net, p, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    return net, p, test


def _poisoned(net: torch.nn.Module, key: str, value: float) -> dict[str, torch.Tensor]:
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state[key].view(-1)[3] = value
    return state


def test_load_network_refuses_a_file_with_nan_weights_naming_file_and_tensor(tmp_path, digits):
    net, p, _ = digits
    bad, _ = build("digits_cnn", p)
    torch.nn.Module.load_state_dict(bad, _poisoned(net, "SF4.weight", float("nan")))  # around the check
    path = save_network(bad, tmp_path / "nan.pt", p)
    with pytest.raises(StateDictError) as info:
        load_network(path)
    message = str(info.value)
    assert "nan.pt" in message and "'SF4.weight'" in message and "1 NaN" in message and "\n" not in message


def test_load_state_dict_refuses_inf(digits):
    net, p, _ = digits
    fresh, _ = build("digits_cnn", p)
    with pytest.raises(StateDictError, match=r"'SC2.weight' .* 1 non-finite value\(s\) \(0 NaN, 1 Inf\)"):
        fresh.load_state_dict(_poisoned(net, "SC2.weight", float("inf")))


def test_a_campaign_refuses_a_network_with_nan_weights_before_its_golden_run(digits):
    net, p, test = digits
    bad, _ = build("digits_cnn", p)
    torch.nn.Module.load_state_dict(bad, _poisoned(net, "SC1.weight", float("nan")))
    with pytest.raises(StateDictError, match=r"the network: tensor 'SC1.weight'"):
        Campaign(bad, test, max_samples=8, batch_size=8).golden()  # on e35710b: golden 0.875, no error


def test_a_slayer_style_network_with_nan_weights_is_refused_too():
    import spikefi.snn as snn

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.slayer = snn.layer(dict(type="SRMALPHA", theta=5, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1,
                                         scaleRho=1), dict(Ts=1, tSample=30))
            self.fc = self.slayer.dense((16, 16, 2), 10, weightScale=40)

        def forward(self, x):
            return self.slayer.spike(self.slayer.psp(self.fc(x)))

    net = Net()
    with torch.no_grad():
        net.fc.weight[0, 0, 0, 0, 0] = float("-inf")
    _, test = load_spiking_digits()
    with pytest.raises(SpikeFIError, match=r"tensor 'fc.weight' .*1 Inf"):
        Campaign(net, test, max_samples=4)


def test_factory_weights_with_nan_are_refused_naming_the_weights_file(tmp_path, monkeypatch, digits):
    net, _, _ = digits
    (tmp_path / "issue27_nets.py").write_text(textwrap.dedent("""
        from spikefi.zoo import build
        def digits():
            return build("digits_cnn", seed=0)[0]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "issue27_nets", raising=False)
    torch.save(_poisoned(net, "SF3.weight", float("nan")), tmp_path / "w.pt")
    from spikefi.campaign.factory import build_factory_network

    with pytest.raises(StateDictError, match=r"factory 'issue27_nets:digits' with weights '.*w.pt'.*'SF3.weight'"):
        build_factory_network({"factory": "issue27_nets:digits", "weights": str(tmp_path / "w.pt")})


def test_check_finite_weights_skips_integer_tensors_and_passes_finite_ones(digits):
    net, _, _ = digits
    check_finite_weights(net)
    check_finite_weights({"codes": torch.tensor([1, 2, 3]), "note": "not a tensor", "w": torch.ones(3)})
    with pytest.raises(StateDictError, match="'w'"):
        check_finite_weights({"w": torch.tensor([1.0, float("nan")])}, "x")


def test_golden_problems_thresholds():
    ok = {"accuracy": 0.98, "samples": 64, "tied": 0, "spike_counts": {"SC1": 10, "SF4": 300}}
    assert golden_problems(ok, 10) == [] and health_tag([]) == "ok"
    untrained = {"accuracy": 0.078, "samples": 359, "tied": 359, "spike_counts": {"SC1": 10, "SF4": 0}}
    problems = golden_problems(untrained, 10)
    assert len(problems) == 3
    assert "359 of 359 samples tie" in problems[0] and "'SF4' fired no spike" in problems[1]
    assert "at chance level" in problems[2]
    assert health_tag(problems).startswith("degenerate: 359 of 359")
    # half of the samples tied is not more than half; chance + 2 standard errors on 100 samples = 16%
    assert golden_problems({"accuracy": 0.17, "samples": 100, "tied": 50, "spike_counts": {"o": 5}}, 10) == []
    assert len(golden_problems({"accuracy": 0.16, "samples": 100, "tied": 51, "spike_counts": {"o": 5}}, 10)) == 2
    assert golden_problems({"accuracy": 0.16, "samples": 100, "tied": 0}, None) == []  # chance unknown: skipped


def test_an_untrained_network_is_flagged_a_trained_one_is_not(digits):
    net, p, test = digits
    untrained, _ = build("digits_cnn", p, seed=1)
    golden = Campaign(untrained, test, max_samples=64, batch_size=64).golden()
    assert len(golden_problems(golden, 10)) == 2  # ties and chance accuracy
    assert golden_problems(Campaign(net, test, max_samples=64, batch_size=64).golden(), 10) == []
