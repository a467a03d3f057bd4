"""Issue 32, item 2: adjacent multi-bit upsets of the quantized weight memory (word layout,
interleaving, engines, a brute-force reference with its own enumeration of the cells)."""

from __future__ import annotations

import numpy as np
import pytest

from spikefi.campaign import CampaignSpec
from spikefi.errors import FaultSpecError
from spikefi.faults import AdjacentBitUpset, Fault, Site, WeightMemory
from spikefi.faults.models import model_from_spec
from spikefi.testgen.faultlist import FaultList

from .test_issue32_fault_maps import assert_engines_agree, brute_force_predictions, campaign, digits  # noqa: F401

LAYERS = ("SC1", "SC2", "SF3", "SF4")
SHAPES = {"SC1": (8, 2, 3, 3), "SC2": (16, 8, 3, 3), "SF3": (64, 16, 4, 4), "SF4": (10, 64, 1, 1)}


def physical_cells(codes: int, code_bits: int, word_bits: int, interleave: int) -> list[tuple[int, int] | None]:
    """The memory row, cell by cell, written out with loops: ``(code, bit)`` or None (padding)."""
    per_word = word_bits // code_bits
    words = -(-codes // per_word)
    row: list[tuple[int, int] | None] = []
    for group in range(-(-words // interleave)):
        for bit in range(word_bits):
            for k in range(interleave):
                word = group * interleave + k
                code = word * per_word + bit // code_bits
                row.append((code, bit % code_bits) if code < codes else None)
    return row


def locate(code: int, layers=LAYERS) -> tuple[str, int]:
    for name in layers:
        size = int(np.prod(SHAPES[name]))
        if code < size:
            return name, code
        code -= size
    raise AssertionError(code)


def flip_edits(cmpn, cells) -> dict[str, dict[int, list[tuple[int, int]]]]:
    """A flip written as the cell stuck at the complement of its golden value."""
    edits: dict[str, dict[int, list[tuple[int, int]]]] = {}
    for code, bit in cells:
        layer, flat = locate(code)
        stored = int(cmpn.qcodes[layer].flatten()[flat]) & ((1 << cmpn.qparams[layer].bits) - 1)
        edits.setdefault(layer, {}).setdefault(flat, []).append((bit, 1 - (stored >> bit & 1)))
    return edits


def flipped_cells(rnd) -> set[tuple[int, int]]:
    offsets = dict(zip(LAYERS, np.cumsum([0] + [int(np.prod(SHAPES[n])) for n in LAYERS])[:-1], strict=True))
    out = set()
    for f in rnd.faults:
        assert f.model.name == "BitFlipSynapse" and f.source is not None
        for p in f.positions:
            code = int(offsets[f.layer]) + int(np.ravel_multi_index(p, SHAPES[f.layer]))
            out.update((code, b) for b in f.model.bits)
    return out


# -- the layout -----------------------------------------------------------------------------


@pytest.mark.parametrize("code_bits, word_bits, interleave", [(8, 8, 1), (8, 8, 3), (8, 16, 1), (8, 32, 4),
                                                              (32, 32, 2), (8, 24, 5)])
def test_layout_equals_written_out_row(code_bits, word_bits, interleave):
    memory = WeightMemory(("A", "B"), ((3, 1, 1, 1), (4, 2, 1, 1)), code_bits)  # 11 codes
    model = AdjacentBitUpset(2, word_bits=word_bits, interleave=interleave)
    row = physical_cells(memory.words, code_bits, word_bits, interleave)
    assert model.layout(memory) == (word_bits, len(row))
    assert [model.cell(p, memory) for p in range(len(row))] == row


def test_layout_examples():
    memory = WeightMemory(("A",), ((5, 1, 1, 1),), 8)
    plain, spread = AdjacentBitUpset(3), AdjacentBitUpset(3, interleave=4)
    assert [plain.cell(p, memory) for p in (5, 6, 7, 8)] == [(0, 5), (0, 6), (0, 7), (1, 0)]  # across a word end
    assert [spread.cell(p, memory) for p in (4, 5, 6, 7)] == [(0, 1), (1, 1), (2, 1), (3, 1)]  # same bit, 4 words
    assert spread.cell(33, memory) is None  # the padding of the last group
    with pytest.raises(FaultSpecError, match="word_bits 12 must be a multiple of the code width 8"):
        AdjacentBitUpset(2, word_bits=12).layout(memory)


@pytest.mark.parametrize("kwargs, match", [
    ({"width": 0}, "width must be an int >= 1, got 0"),
    ({"width": 2, "interleave": 0}, "interleave must be an int >= 1"),
    ({"width": 2, "bursts": True}, "bursts must be an int >= 1"),
    ({"width": 2, "word_bits": 0}, "word_bits must be null or an int >= 1"),
    ({"width": 2, "start": -1}, "start must be null or a cell index >= 0"),
    ({"width": 2, "start": 3, "bursts": 2}, "start= fixes one burst"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(FaultSpecError, match=match):
        AdjacentBitUpset(**kwargs)


# -- engines and the brute-force reference -------------------------------------------------


def test_fixed_bursts_engines_equal_brute_force(digits):  # noqa: F811
    cmpn = campaign(digits)
    codes = sum(int(np.prod(s)) for s in SHAPES.values())
    cases = [
        dict(width=3, start=5),                                # bits 5-7 of the first SC1 weight
        dict(width=4, start=144 * 8 - 2),                      # across the end of SC1 into SC2
        dict(width=6, interleave=8, start=8 * 8 * 40 + 8 * 7),  # bit 7 of six neighbouring SC2/SF3 weights
        dict(width=8, word_bits=32, interleave=4, start=32 * 4 * 100 + 4 * 29 + 1),
        dict(width=5, word_bits=16, start=codes * 8 - 5),      # the very last cells
    ]
    expected = []
    for kw in cases:
        model = AdjacentBitUpset(**kw)
        row = physical_cells(codes, 8, kw.get("word_bits", 8), kw.get("interleave", 1))
        cells = {c for c in row[kw["start"]: kw["start"] + kw["width"]] if c is not None}
        expected.append(cells)
        cmpn.then_inject(Fault(model))
    ref = assert_engines_agree(cmpn)
    for r, cells in enumerate(expected):
        assert flipped_cells(cmpn.rounds[r]) == cells, r
        assert (ref.predictions[r] == brute_force_predictions(cmpn, flip_edits(cmpn, cells))).all(), r
    assert (ref.table["spike_count_deviation"] > 0).any()


def test_random_bursts_seeded_engines_agree(digits):  # noqa: F811
    model = AdjacentBitUpset(4, interleave=8, bursts=3)
    cmpn = campaign(digits)
    for _ in range(3):
        cmpn.then_inject(Fault(model))
    cmpn.then_inject(Fault(model, Site("SF4")))
    ref = assert_engines_agree(cmpn)
    codes = sum(int(np.prod(s)) for s in SHAPES.values())
    where = {c: p for p, c in enumerate(physical_cells(codes, 8, 8, 8)) if c is not None}
    for rnd in cmpn.rounds[:3]:
        left = sorted(where[c] for c in flipped_cells(rnd))
        runs = 0
        while left:  # the cells are 3 runs of 4 adjacent cells (runs may touch)
            start = left[0]
            for p in range(start, start + 4):
                left.remove(p)
            runs += 1
        assert runs <= 3
    assert {f.layer for f in cmpn.rounds[3].faults} == {"SF4"}
    # same seed, same draws; another seed, others
    again = campaign(digits)
    for _ in range(3):
        again.then_inject(Fault(model))
    assert [flipped_cells(r) for r in again.rounds] == [flipped_cells(r) for r in cmpn.rounds[:3]]
    assert len({frozenset(flipped_cells(r)) for r in cmpn.rounds[:3]}) == 3
    for rnd in cmpn.rounds:
        brute = brute_force_predictions(cmpn, flip_edits(cmpn, flipped_cells(rnd)))
        assert (ref.predictions[rnd.round_id] == brute).all()


def test_yaml_params_and_testgen(digits, tmp_path):  # noqa: F811
    spec = CampaignSpec.from_yaml("""
name: mbu
network: {pretrained: digits_cnn}
data: {name: spiking_digits, seed: 0, max_samples: 6}
options: {seed: 1, batch_size: 6, quantization: {dtype: uint8}}
rounds:
  - - {model: AdjacentBitUpset, width: 4, word_bits: 32, interleave: 4, bursts: 2}
""")
    cmpn = spec.build()
    table = cmpn.run(progress=False).table
    assert set(table["model"].iloc[0].split(";")) == {"BitFlipSynapse"}
    model = AdjacentBitUpset(4, word_bits=32, interleave=4, bursts=2)
    assert model_from_spec(model.spec()) == model and model.stochastic
    assert not AdjacentBitUpset(2, start=3).stochastic
    with pytest.raises(FaultSpecError, match="AdjacentBitUpset draws its cells anew in every round; a test program"):
        FaultList.from_rounds([Fault(model)])
    pytest.importorskip("mlflow")
    from experiments.chunk_flush import fault_params

    params = fault_params(cmpn.rounds)
    assert params["fault.model"] == "AdjacentBitUpset"
    assert params["fault.parameter"] == "4 adjacent cells, 32-bit words, interleaving distance 4, 2 random bursts"


def test_start_out_of_range(digits):  # noqa: F811
    cmpn = campaign(digits)
    cells = sum(int(np.prod(s)) for s in SHAPES.values()) * 8
    with pytest.raises(FaultSpecError, match=f"start {cells} out of range; allowed 0..{cells - 2}"):
        cmpn.then_inject(Fault(AdjacentBitUpset(2, start=cells)))
