"""Issue 32, item 2 over float32 weights: bursts of adjacent cells of the float32 weight memory
(32 cells per weight, words of a multiple of 32 bits, interleaving); the engines agree and equal
a brute force (the cells of a written-out memory row flipped by hand through numpy's float32
view, NaN and huge weights included, the network run in float64); one-line refusals."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import spikefi.snn as snn
from spikefi.campaign import Campaign, CampaignSpec
from spikefi.errors import FaultSpecError
from spikefi.faults import AdjacentBitUpset, Fault, Float32AdjacentBitUpset, Site, WeightMemory
from spikefi.faults.models import model_from_spec
from spikefi.testgen.faultlist import FaultList

from .test_issue32_adjacent_upsets import LAYERS, SHAPES, physical_cells
from .test_issue32_fault_maps import assert_engines_agree, digits  # noqa: F401

WEIGHTS = sum(int(np.prod(s)) for s in SHAPES.values())
OFFSETS = dict(zip(LAYERS, np.cumsum([0] + [int(np.prod(SHAPES[n])) for n in LAYERS])[:-1].tolist(), strict=True))


def burst_cells(kw: dict, weights: int = WEIGHTS) -> set[tuple[int, int]]:
    """The ``(weight, bit)`` cells of a fixed burst, read off the written-out row."""
    row = physical_cells(weights, 32, kw.get("word_bits") or 32, kw.get("interleave", 1))
    return {c for c in row[kw["start"]: kw["start"] + kw["width"]] if c is not None}


def flipped_cells(rnd) -> set[tuple[int, int]]:
    out = set()
    for f in rnd.faults:
        assert f.model.name == "FloatBitFlipSynapse" and isinstance(f.source, Float32AdjacentBitUpset)
        for p in f.positions:
            w = OFFSETS[f.layer] + int(np.ravel_multi_index(p, SHAPES[f.layer]))
            out.update((w, b) for b in f.model.bits)
    return out


def flipped_network(cmpn: Campaign, cells: set[tuple[int, int]]) -> torch.nn.Module:
    """A copy of the campaign's network (its dequantized weights in a quantized campaign) with
    the cells' bits of the float32 encoding flipped by hand, in float64."""
    net = copy.deepcopy(cmpn.net)
    modules = dict(net.named_modules())
    for name in LAYERS:
        weight = modules[name].weight
        if cmpn.qparams:
            qp = cmpn.qparams[name]
            golden = np.array([(int(c) - qp.zero_point) * qp.scale for c in cmpn.qcodes[name].flatten().tolist()])
        else:
            golden = weight.detach().reshape(-1).numpy()
        bits = golden.astype(np.float32).view(np.uint32).copy()
        for w, bit in cells:
            if OFFSETS[name] <= w < OFFSETS[name] + bits.size:
                bits[w - OFFSETS[name]] ^= np.uint32(1 << bit)
        with np.errstate(invalid="ignore"):  # a NaN float32 cast to float64 stays NaN
            flipped = bits.view(np.float32).astype(np.float64)
        weight.data = torch.tensor(flipped).reshape(weight.shape).to(weight.dtype)
    return net


def brute_force(cmpn: Campaign, cells: set[tuple[int, int]]) -> tuple[np.ndarray, int]:
    """Predictions of the hand-flipped network and its number of NaN/Inf weights."""
    net = flipped_network(cmpn, cells)
    modules = dict(net.named_modules())
    bad = sum(int((~torch.isfinite(modules[n].weight)).sum()) for n in LAYERS)
    with torch.no_grad():
        out = net(cmpn.x.to(cmpn.dtype))
    return cmpn.predict_counts(snn.spike_counts(out)).numpy(), bad


# -- the layout and the refusals -------------------------------------------------------------


@pytest.mark.parametrize("word_bits, interleave", [(None, 1), (32, 4), (64, 1), (64, 3), (128, 2)])
def test_layout_equals_written_out_row(word_bits, interleave):
    memory = WeightMemory(("A", "B"), ((3, 1, 1, 1), (4, 2, 1, 1)), 32)  # 11 float32 weights
    model = Float32AdjacentBitUpset(3, word_bits=word_bits, interleave=interleave)
    row = physical_cells(memory.words, 32, word_bits or 32, interleave)
    assert model.layout(memory) == (word_bits or 32, len(row))
    assert [model.cell(p, memory) for p in range(len(row))] == row
    # without interleaving a burst runs up a weight's bits: mantissa, exponent, sign, next weight
    assert [Float32AdjacentBitUpset(4).cell(p, memory) for p in (29, 30, 31, 32)] == [(0, 29), (0, 30), (0, 31), (1, 0)]


def test_parameters_and_one_line_refusals(digits):  # noqa: F811
    model = Float32AdjacentBitUpset(4, word_bits=64, interleave=2, bursts=3)
    assert model_from_spec(model.spec()) == model and model.stochastic and not model.needs_quantization
    assert model.scalar_parameter() == ("burst_width", 4.0)
    errors = []
    for bad in ({"word_bits": 16}, {"word_bits": 48}, {"width": 0}, {"start": 2, "bursts": 2}):
        with pytest.raises(FaultSpecError) as info:
            Float32AdjacentBitUpset(**{"width": 2, **bad})
        errors.append(str(info.value))
    assert errors[0] == ("Float32AdjacentBitUpset word_bits must be a multiple of 32 (a float32 weight is 32 cells "
                         "of one word), got 16")
    assert "got 48" in errors[1] and "width must be an int >= 1" in errors[2] and "start= fixes one burst" in errors[3]
    net, data = digits
    plain = Campaign(net, data, batch_size=6, seed=0)  # a float golden: no integer codes
    with pytest.raises(FaultSpecError) as info:
        plain.then_inject(Fault(AdjacentBitUpset(2)))
    errors.append(str(info.value))
    assert errors[-1].startswith("AdjacentBitUpset needs a quantized campaign (it acts on the quantized weight codes)")
    assert errors[-1].endswith("; over the float32 weights use Float32AdjacentBitUpset")
    cells = WEIGHTS * 32
    with pytest.raises(FaultSpecError, match=f"start {cells} out of range; allowed 0..{cells - 2}") as info:
        plain.then_inject(Fault(Float32AdjacentBitUpset(2, start=cells)))
    errors.append(str(info.value))
    with pytest.raises(FaultSpecError, match="sites name layers only") as info:
        plain.then_inject(Fault(model, Site("SF4", (0, 0, 0, 0))))
    errors.append(str(info.value))
    with pytest.raises(FaultSpecError, match="Float32AdjacentBitUpset draws its cells anew in every round") as info:
        FaultList.from_rounds([Fault(model)])
    errors.append(str(info.value))
    assert all("\n" not in e for e in errors)


# -- engines and the brute-force reference -------------------------------------------------


def test_fixed_bursts_engines_equal_brute_force(digits):  # noqa: F811
    net, data = digits
    cmpn = Campaign(net, data, batch_size=5, seed=3)  # float64 network: its weights rounded to float32, flipped
    sc2 = OFFSETS["SC2"]
    cases = [
        dict(width=2, start=10 * 32 + 30),                        # bits 30-31 of SC1 weight 10 (|w| in [1, 2)): NaN
        dict(width=8, word_bits=32, interleave=8, start=(sc2 // 8) * 256 + 30 * 8),  # bit 30 of 8 SC2 weights
        dict(width=5, start=OFFSETS["SC2"] * 32 - 2),            # across the end of SC1 into SC2
        dict(width=6, word_bits=64, interleave=2, start=(OFFSETS["SF3"] + 1000) * 32 + 40),  # SF3, 2 weights a word
        dict(width=7, start=(OFFSETS["SF4"] + 3) * 32 + 20),     # mantissa into exponent of an SF4 weight
        dict(width=3, word_bits=128, start=WEIGHTS * 32 - 3),    # the very last cells
    ]
    for kw in cases:
        cmpn.then_inject(Fault(Float32AdjacentBitUpset(**kw)))
    ref = assert_engines_agree(cmpn)
    nonfinite = []
    for r, kw in enumerate(cases):
        cells = burst_cells(kw)
        assert len(cells) == kw["width"] and flipped_cells(cmpn.rounds[r]) == cells, r
        predictions, bad = brute_force(cmpn, cells)
        assert (ref.predictions[r] == predictions).all(), r
        nonfinite.append(bad)
    assert nonfinite[0] == 1 and nonfinite[1] >= 1  # exponent all ones: NaN weights, as Float32SoftErrors gives
    assert (ref.table["spike_count_deviation"] > 0).any()
    assert (ref.table["model"] == "FloatBitFlipSynapse").all()


def test_random_bursts_seeded_engines_agree(digits):  # noqa: F811
    net, data = digits
    model = Float32AdjacentBitUpset(3, word_bits=64, interleave=4, bursts=2)
    cmpn = Campaign(net, data, batch_size=5, seed=3)
    for _ in range(3):
        cmpn.then_inject(Fault(model))
    cmpn.then_inject(Fault(model, Site("SF4")))
    ref = assert_engines_agree(cmpn)
    where = {c: p for p, c in enumerate(physical_cells(WEIGHTS, 32, 64, 4)) if c is not None}
    for rnd in cmpn.rounds[:3]:
        left = sorted(where[c] for c in flipped_cells(rnd))
        runs = 0
        while left:  # 2 runs of 3 adjacent cells (runs may touch)
            for p in range(left[0], left[0] + 3):
                left.remove(p)
            runs += 1
        assert runs <= 2
    assert {f.layer for f in cmpn.rounds[3].faults} == {"SF4"}
    again = Campaign(net, data, batch_size=5, seed=3)
    for _ in range(3):
        again.then_inject(Fault(model))
    assert [flipped_cells(r) for r in again.rounds] == [flipped_cells(r) for r in cmpn.rounds[:3]]
    assert len({frozenset(flipped_cells(r)) for r in cmpn.rounds[:3]}) == 3
    for rnd in cmpn.rounds:
        assert (ref.predictions[rnd.round_id] == brute_force(cmpn, flipped_cells(rnd))[0]).all()


def test_yaml_on_a_quantized_campaign_flips_the_dequantized_float32(tmp_path):
    spec = CampaignSpec.from_yaml("""
name: float-mbu
network: {pretrained: digits_cnn}
data: {name: spiking_digits, seed: 0, max_samples: 6}
options: {seed: 1, batch_size: 6, dtype: float64, quantization: {dtype: int8}}
rounds:
  - - {model: Float32AdjacentBitUpset, width: 4, word_bits: 64, interleave: 2, start: 300}
  - - {model: Float32AdjacentBitUpset, width: 3, bursts: 2}
""")
    cmpn = spec.build()
    result = cmpn.run(engine="parallel", progress=False, keep_predictions=True)
    cells = burst_cells({"width": 4, "word_bits": 64, "interleave": 2, "start": 300})
    assert flipped_cells(cmpn.rounds[0]) == cells
    assert (result.predictions[0] == brute_force(cmpn, cells)[0]).all()
    assert (result.predictions[1] == brute_force(cmpn, flipped_cells(cmpn.rounds[1]))[0]).all()
    pytest.importorskip("mlflow")
    from experiments.chunk_flush import fault_params

    params = fault_params(cmpn.rounds[:1])
    assert params["fault.model"] == "Float32AdjacentBitUpset"
    assert params["fault.parameter"] == ("4 adjacent cells, 64-bit words (2 float32 weights each), interleaving "
                                         "distance 2, start cell 300")
