"""Issue 32, item 1 (float32 weights): soft errors over the 32 bits of every float32 weight,
one seeded draw per round; engines agree and equal a brute force (the drawn bits flipped by
hand through numpy's float32 view, the network run in float64)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import spikefi.snn as snn
from spikefi.campaign import Campaign
from spikefi.errors import FaultSpecError
from spikefi.faults import Fault, Float32SoftErrors, Site
from spikefi.faults.models import model_from_spec
from spikefi.testgen.faultlist import FaultList

from .test_issue32_adjacent_upsets import LAYERS, SHAPES
from .test_issue32_fault_maps import assert_engines_agree, digits  # noqa: F401

WEIGHTS = sum(int(np.prod(s)) for s in SHAPES.values())


def reference_draw(seed: int, round_id: int, p: float, cells: int = WEIGHTS * 32) -> set[tuple[int, int]]:
    rng = np.random.default_rng([seed, round_id, 0, 7])
    k = int(rng.binomial(cells, p))
    return {divmod(int(c), 32) for c in rng.choice(cells, size=k, replace=False)} if k else set()


def drawn_cells(rnd) -> set[tuple[int, int]]:
    offsets = dict(zip(LAYERS, np.cumsum([0] + [int(np.prod(SHAPES[n])) for n in LAYERS])[:-1], strict=True))
    out = set()
    for f in rnd.faults:
        assert f.model.name == "FloatBitFlipSynapse" and isinstance(f.source, Float32SoftErrors)
        for p in f.positions:
            w = int(offsets[f.layer]) + int(np.ravel_multi_index(p, SHAPES[f.layer]))
            out.update((w, b) for b in f.model.bits)
    return out


def brute_force_predictions(cmpn: Campaign, cells: set[tuple[int, int]]) -> np.ndarray:
    net = copy.deepcopy(cmpn.net)
    modules = dict(net.named_modules())
    per_layer: dict[str, dict[int, int]] = {}
    for w, bit in cells:
        for name in LAYERS:
            size = int(np.prod(SHAPES[name]))
            if w < size:
                per_layer.setdefault(name, {})
                per_layer[name][w] = per_layer[name].get(w, 0) | (1 << bit)
                break
            w -= size
    for name, masks in per_layer.items():
        weight = modules[name].weight
        flat = weight.detach().reshape(-1).numpy().astype(np.float32)
        bits = flat.view(np.uint32)
        for index, mask in masks.items():
            bits[index] ^= np.uint32(mask)
        weight.data = torch.tensor(bits.view(np.float32).astype(np.float64)).reshape(weight.shape)
    with torch.no_grad():
        out = net(cmpn.x.to(cmpn.dtype))
    return cmpn.predict_counts(snn.spike_counts(out)).numpy()


def test_parameters_and_refusals():
    m = Float32SoftErrors(1e-6, exposure=3)
    assert m.stochastic and model_from_spec(m.spec()) == m and not m.needs_quantization
    assert m.scalar_parameter() == ("bit_upset_probability", m.probability)
    with pytest.raises(FaultSpecError, match="Float32SoftErrors draws its cells anew in every round") as info:
        FaultList.from_rounds([Fault(m)])
    assert "\n" not in str(info.value)
    with pytest.raises(FaultSpecError, match="rate must be a finite number >= 0"):
        Float32SoftErrors(-1.0)


def test_float32_draws_engines_and_brute_force(digits):  # noqa: F811
    net, data = digits
    cmpn = Campaign(net, data, batch_size=5, seed=3)  # not quantized: the float weights themselves
    model = Float32SoftErrors(rate=1e-5)  # ~5.9 upsets of 586,240 cells
    for _ in range(4):
        cmpn.then_inject(Fault(model))
    cmpn.then_inject(Fault(Float32SoftErrors(2e-3), Site("SF4")))
    ref = assert_engines_agree(cmpn)
    for rnd in cmpn.rounds[:4]:
        cells = reference_draw(3, rnd.round_id, model.probability)
        assert drawn_cells(rnd) == cells
        assert (ref.predictions[rnd.round_id] == brute_force_predictions(cmpn, cells)).all()
    last = cmpn.rounds[4]
    assert {f.layer for f in last.faults} == {"SF4"}
    offset = WEIGHTS - int(np.prod(SHAPES["SF4"]))
    heavy = Float32SoftErrors(2e-3).probability
    sf4 = {(w + offset, b) for w, b in reference_draw(3, last.round_id, heavy, int(np.prod(SHAPES["SF4"])) * 32)}
    assert drawn_cells(last) == sf4 and len(sf4) > 20
    assert (ref.predictions[4] == brute_force_predictions(cmpn, sf4)).all()
    table = ref.table
    assert (table["param_name"] == "bit_upset_probability").all()
    assert math.isclose(table["param"].iloc[0], model.probability)
    assert (table["n_faults"].iloc[:4] > 0).all() and table["spike_count_deviation"].iloc[4] > 0
