"""Bit-level synapse models skip the code range check (a read-back: a GPU synchronisation per
round) only for codes the campaign quantized itself; other codes are still checked, and the
faulty weights are the same either way."""

from __future__ import annotations

import pytest
import torch

import spikefi.faults.quantization as quantization
from spikefi.campaign import Campaign
from spikefi.campaign.inject import prepare_rounds
from spikefi.data import load_spiking_digits
from spikefi.errors import FaultSpecError
from spikefi.faults import BitFlipSynapse, Fault, Site
from spikefi.faults.memory import StuckBitSynapse
from spikefi.faults.models import SynapseContext
from spikefi.faults.quantization import QuantParams, dequantize, flip_bits_int, quantize

QP = QuantParams("int8", 0.03, 0)


@pytest.fixture()
def weights() -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.randn(64, generator=torch.Generator().manual_seed(7)) * 1.5
    return w, quantize(w, QP)


@pytest.mark.parametrize("model", [BitFlipSynapse(7), BitFlipSynapse([0, 3]), StuckBitSynapse(stuck_at_1=[6]),
                                   StuckBitSynapse(stuck_at_0=[7, 1])])
def test_trusted_and_checked_codes_give_the_same_weights(weights, model):
    w, codes = weights
    assert int(codes.min()) < 0 < int(codes.max())
    checked = model.faulty_weights(w, SynapseContext(w, QP, codes))
    trusted = model.faulty_weights(w, SynapseContext(w, QP, codes, codes_in_range=True))
    assert torch.equal(checked, trusted) and not torch.equal(checked, dequantize(codes, QP))
    if isinstance(model, BitFlipSynapse):
        assert torch.equal(trusted, dequantize(flip_bits_int(codes, model.bits, QP), QP))


@pytest.mark.parametrize("model", [BitFlipSynapse(2), StuckBitSynapse(stuck_at_1=[2])])
def test_codes_from_elsewhere_are_still_range_checked(weights, model):
    w, codes = weights
    bad = codes.clone()
    bad[5] = 300
    with pytest.raises(FaultSpecError, match="300, outside the int8 range"):
        model.faulty_weights(w, SynapseContext(w, QP, bad))


def test_bit_flip_beyond_the_code_width_is_refused(weights):
    w, codes = weights
    with pytest.raises(FaultSpecError, match="bit 9"):
        BitFlipSynapse(9).faulty_weights(w, SynapseContext(w, QP, codes, codes_in_range=True))


def test_a_quantized_campaign_prepares_bit_flip_rounds_without_reading_codes_back(monkeypatch):
    from spikefi.zoo import load_pretrained

    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    cmpn = Campaign(net, test, batch_size=8, max_samples=8, quantization={"dtype": "int8"})
    shape = cmpn.netmap.layers["SC2"].synapse_shape
    cmpn.then_inject([Fault(BitFlipSynapse(7), Site("SC2", (1, 2, 0, 1))), Fault(BitFlipSynapse(6), Site("SC2", (3, 0, 1, 1)))])
    cmpn.then_inject(Fault(StuckBitSynapse(stuck_at_1=[5]), Site("SC2", (shape[0] - 1, 0, 0, 0))))
    calls = []
    original = quantization._check_codes
    monkeypatch.setattr(quantization, "_check_codes", lambda *a, **k: calls.append(1) or original(*a, **k))
    import spikefi.faults.models as models  # SynapseContext.codes: the one place both models check codes

    monkeypatch.setattr(models, "_check_codes", quantization._check_codes)
    prepared = prepare_rounds(cmpn, cmpn.rounds)
    assert calls == []
    codes = cmpn.qcodes["SC2"]
    syn = prepared[0].layers["SC2"].synapse[0]
    expected = dequantize(flip_bits_int(codes[syn.idx], 7, cmpn.qparams["SC2"]), cmpn.qparams["SC2"])
    assert torch.equal(syn.values, expected)
