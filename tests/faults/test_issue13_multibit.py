"""Issue 13, item 2: a list of bits is one multi-bit upset and says so in the table; the
per-bit sweep gives one round per (site, bit) with param = the bit; a wrong parameter name
lists the allowed ones."""

from __future__ import annotations

import math

import pytest

from spikefi.campaign import Campaign, CampaignSpec
from spikefi.data import load_spiking_digits
from spikefi.errors import FaultSpecError
from spikefi.faults import BitFlipSynapse, DeadNeuron, FloatBitFlipSynapse, model_from_spec
from spikefi.zoo import load_pretrained


@pytest.fixture(scope="module")
def qcmpn():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    return Campaign(net, test, max_samples=8, batch_size=8, seed=0, quantization={"dtype": "int8"})


def test_a_list_of_bits_is_a_named_multi_bit_upset(qcmpn):
    qcmpn.eject()
    qcmpn.exhaustive(BitFlipSynapse([0, 3, 5, 6, 7]), layers=["SF4"], sample=2)
    qcmpn.exhaustive(BitFlipSynapse(7), layers=["SF4"], sample=1)
    table = qcmpn.run(engine="sequential", chunk_size=4, progress=False).table
    multi, single = table.iloc[:2], table.iloc[2]
    assert list(multi["param_name"]) == ["multi_bit_upset"] * 2
    assert all(math.isnan(v) for v in multi["param"])
    assert list(multi["bits"]) == ["0+3+5+6+7"] * 2
    assert single["param_name"] == "bit" and single["param"] == 7.0 and single["bits"] == "7"
    assert BitFlipSynapse([0, 3]).multi_bit and not BitFlipSynapse(3).multi_bit
    assert FloatBitFlipSynapse([30, 31]).scalar_parameter()[0] == "multi_bit_upset"


def test_per_bit_sweep_gives_one_round_per_site_and_bit(qcmpn):
    qcmpn.eject()
    ids = qcmpn.exhaustive(BitFlipSynapse(list(range(8))), layers=["SF4"], sample=2, per_bit=True)
    assert len(ids) == 16
    rounds = qcmpn.rounds
    assert [r.faults[0].model.bits for r in rounds] == [[b] for b in range(8)] * 2  # site-major, bits in order
    assert len({r.faults[0].positions for r in rounds[:8]}) == 1 and rounds[0].faults[0].positions != rounds[8].faults[0].positions
    table = qcmpn.run(engine="sequential", chunk_size=8, progress=False).table
    assert list(table["param"]) == [float(b) for b in range(8)] * 2
    assert set(table["param_name"]) == {"bit"}
    with pytest.raises(FaultSpecError, match="per_bit needs a bit-flip model"):
        qcmpn.exhaustive(DeadNeuron(), layers=["SF4"], per_bit=True)


def test_per_bit_in_a_spec_and_wrong_parameter_names():
    spec = CampaignSpec.from_dict({
        "network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 4},
        "options": {"quantization": {"dtype": "int8"}},
        "exhaustive": [{"model": "BitFlipSynapse", "bits": [0, 1, 2, 3, 4, 5, 6, 7], "per_bit": True,
                        "layers": ["SF4"], "sample": 3}]})
    assert len(spec.build().rounds) == 24
    with pytest.raises(FaultSpecError, match=r"per_bit must be true or false"):
        CampaignSpec.from_dict({"network": {"pretrained": "digits_cnn"},
                                "exhaustive": [{"model": "BitFlipSynapse", "bits": [1], "per_bit": "yes"}]})
    with pytest.raises(FaultSpecError, match=r"unknown parameter\(s\) \['bit'\] for fault model 'BitFlipSynapse'; "
                                             r"allowed: \['bits'\]"):
        model_from_spec({"model": "BitFlipSynapse", "bit": 3})
    with pytest.raises(FaultSpecError, match=r"missing parameter\(s\) \['factor'\] for fault model 'PerturbedSynapse'"):
        model_from_spec({"model": "PerturbedSynapse"})
    with pytest.raises(FaultSpecError, match=r"allowed: \['parameter', 'factor'\]"):
        model_from_spec({"model": "ParametricNeuron", "parameter": "theta", "factr": 2})


def test_exhaustive_layers_must_be_a_list(qcmpn):
    with pytest.raises(FaultSpecError, match=r"layers must be a list of layer names \(e.g. \['SF4'\]\) or None, got 'SF4'"):
        qcmpn.exhaustive(DeadNeuron(), layers="SF4")
    with pytest.raises(FaultSpecError, match=r"exhaustive\[0\].layers must be a list of layer names"):
        CampaignSpec.from_dict({"network": {"pretrained": "digits_cnn"},
                                "exhaustive": [{"model": "DeadNeuron", "layers": "SF4"}]})
