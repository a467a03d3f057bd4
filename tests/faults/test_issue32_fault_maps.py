"""Issue 32, item 4: fault maps of the quantized weight memory (file format, errors, engines,
brute-force reference: stuck bits applied to the codes by hand, dequantized, network run)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

import spikefi.snn as snn
from spikefi.campaign import Campaign, CampaignSpec
from spikefi.data import load_spiking_digits
from spikefi.errors import FaultMapError, FaultSpecError
from spikefi.faults import (
    DeadNeuron,
    Fault,
    FaultMap,
    Site,
    StuckBitSynapse,
    read_fault_map,
    write_fault_map,
)
from spikefi.faults.models import model_from_spec
from spikefi.faults.quantization import QuantParams
from spikefi.faults.sites import LayerInfo, resolve_fault
from spikefi.testgen.faultlist import FaultList, faults_from_json
from spikefi.zoo import load_pretrained

ENGINES = ("naive", "sequential", "parallel")


@pytest.fixture(scope="module")
def digits():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    return net.double(), (test.tensors[:12].double(), test.labels[:12])


def campaign(digits, dtype: str = "int8") -> Campaign:
    net, data = digits
    return Campaign(net, data, batch_size=5, seed=3, quantization={"dtype": dtype})


# -- brute force --------------------------------------------------------------------------


def _set_bit(code: int, bit: int, value: int, qp: QuantParams) -> int:
    n = qp.bits
    stored = code & ((1 << n) - 1)
    stored = stored | (1 << bit) if value else stored & ~(1 << bit)
    if qp.signed and stored >= 1 << (n - 1):
        stored -= 1 << n
    return stored


def brute_force_predictions(cmpn: Campaign, edits: dict[str, dict[int, list[tuple[int, int]]]]) -> np.ndarray:
    """Per-sample predictions with ``edits`` {layer: {flat index: [(bit, value), ...]}} applied
    to the quantized codes by hand (Python ints), dequantized in float64, the network run."""
    net = copy.deepcopy(cmpn.net)
    modules = dict(net.named_modules())
    for layer, codes in cmpn.qcodes.items():
        qp = cmpn.qparams[layer]
        flat = [int(v) for v in codes.flatten().tolist()]
        for index, cells in edits.get(layer, {}).items():
            for bit, value in cells:
                flat[index] = _set_bit(flat[index], bit, value, qp)
        values = [(c - qp.zero_point) * qp.scale for c in flat]
        w = modules[layer].weight
        w.data = torch.tensor(values, dtype=torch.float64).reshape(w.shape).to(w.dtype)
    with torch.no_grad():
        out = net(cmpn.x.to(cmpn.dtype))
    return cmpn.predict_counts(snn.spike_counts(out)).numpy()


def map_edits(cells) -> dict[str, dict[int, list[tuple[int, int]]]]:
    shapes = {"SC1": (8, 2, 3, 3), "SC2": (16, 8, 3, 3), "SF3": (64, 16, 4, 4), "SF4": (10, 64, 1, 1)}
    out: dict[str, dict[int, list[tuple[int, int]]]] = {}
    for layer, index, bit, stuck in cells:
        out.setdefault(layer, {}).setdefault(int(np.ravel_multi_index(index, shapes[layer])), []).append((bit, stuck))
    return out


def random_cells(seed: int, n: int) -> list[tuple[str, tuple[int, ...], int, int]]:
    rng = np.random.default_rng(seed)
    shapes = {"SC1": (8, 2, 3, 3), "SC2": (16, 8, 3, 3), "SF3": (64, 16, 4, 4), "SF4": (10, 64, 1, 1)}
    cells, seen = [], set()
    while len(cells) < n:
        layer = str(rng.choice(list(shapes)))
        index = tuple(int(rng.integers(s)) for s in shapes[layer])
        bit = int(rng.integers(4, 8))
        if (layer, index, bit) in seen:
            continue
        seen.add((layer, index, bit))
        cells.append((layer, index, bit, int(rng.integers(2))))
    return cells


def assert_engines_agree(cmpn: Campaign):
    results = {e: cmpn.run(engine=e, chunk_size=2, progress=False, keep_predictions=True) for e in ENGINES}
    ref = results["naive"]
    cols = [c for c in ref.table.columns if c not in ("seconds",)]
    for e, r in results.items():
        assert (r.predictions == ref.predictions).all(), e
        # counts and text exactly; float metrics (loss: summation order) within 1e-9 relative
        pd.testing.assert_frame_equal(r.table[cols], ref.table[cols], check_exact=False, rtol=1e-9)
    return ref


# -- the file format ----------------------------------------------------------------------


def test_write_read_round_trip(tmp_path):
    cells = [("SC1", (0, 1, 2, 2), 3, 1), ("SF4", (9, 63, 0, 0), 7, 0)]
    path = write_fault_map(tmp_path / "map.csv", cells)
    text = path.read_text().splitlines()
    assert text[0] == "# spikefi-fault-map 1"
    assert text[1] == "layer,out,in,kh,kw,bit,stuck"
    back = read_fault_map(path)
    assert [(c.layer, c.index, c.bit, c.stuck) for c in back] == cells


@pytest.mark.parametrize("body, match", [
    ("# spikefi-fault-map 2\nlayer,out,in,kh,kw,bit,stuck\n", "schema version '2' is not supported"),
    ("layer,out,in,kh,kw,bit,stuck\nSC1,0,0,0,0,1,1\n", "line 1 must be '# spikefi-fault-map 1'"),
    ("# spikefi-fault-map 1\nlayer,index,bit,stuck\n", "line 2 must be the header"),
    ("# spikefi-fault-map 1\nlayer,out,in,kh,kw,bit,stuck\nSC1,0,0,0,0,1,2\n", "line 3: stuck must be 0 or 1, got 2"),
    ("# spikefi-fault-map 1\nlayer,out,in,kh,kw,bit,stuck\nSC1,0,0,0,0,40,1\n", "bit 40 is out of range"),
    ("# spikefi-fault-map 1\nlayer,out,in,kh,kw,bit,stuck\nSC1,0,-1,0,0,1,1\n", "in must be an int >= 0, got -1"),
    ("# spikefi-fault-map 1\nlayer,out,in,kh,kw,bit,stuck\nSC1,0,x,0,0,1,1\n", "in must be an int >= 0, got 'x'"),
    ("# spikefi-fault-map 1\nlayer,out,in,kh,kw,bit,stuck\nSC1,0,0,0,1,1\n", "6 values, expected 7"),
    ("# spikefi-fault-map 1\nlayer,out,in,kh,kw,bit,stuck\nSC1,0,0,0,0,1,1\nSC1,0,0,0,0,1,0\n",
     "line 4: cell SC1\\(0, 0, 0, 0\\) bit 1 is listed twice"),
])
def test_bad_files_one_line_errors(tmp_path, body, match):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(FaultMapError, match=match) as info:
        FaultMap(str(path))
    assert "\n" not in str(info.value)
    assert isinstance(info.value, FaultSpecError)


def test_missing_file_and_digest(tmp_path):
    with pytest.raises(FaultMapError, match="fault map file not found"):
        FaultMap(str(tmp_path / "nope.csv"))
    path = write_fault_map(tmp_path / "m.csv", [("SC1", (0, 0, 0, 0), 1, 1)])
    fm = FaultMap(str(path))
    assert fm.params() == {"file": str(path), "sha256": fm.sha256}
    assert model_from_spec(fm.spec()) == fm
    write_fault_map(path, [("SC1", (0, 0, 0, 0), 2, 1)])
    with pytest.raises(FaultMapError, match="has SHA-256 .* the spec expects"):
        model_from_spec(fm.spec())


@pytest.mark.parametrize("cell, match", [
    (("SX9", (0, 0, 0, 0), 1, 1), "layer 'SX9' is not a synaptic layer of the network; allowed: \\['SC1'"),
    (("SP1", (0, 0, 0, 0), 1, 1), "layer 'SP1' is not a synaptic layer"),
    (("SC1", (8, 0, 0, 0), 1, 1), "index \\[8, 0, 0, 0\\] is out of range in layer 'SC1' of shape .* = \\(8, 2, 3, 3\\)"),
    (("SF4", (0, 0, 1, 0), 1, 1), "index \\[0, 0, 1, 0\\] is out of range in layer 'SF4'"),
    (("SC2", (0, 0, 0, 0), 8, 1), "bit 8 of SC2\\[0, 0, 0, 0\\] is out of range for 8-bit codes; allowed 0..7"),
])
def test_map_that_does_not_fit_the_network(digits, tmp_path, cell, match):
    cmpn = campaign(digits)
    path = write_fault_map(tmp_path / "m.csv", [cell])
    with pytest.raises(FaultMapError, match=match) as info:
        cmpn.then_inject(Fault(FaultMap(str(path))))
    assert "\n" not in str(info.value)
    assert cmpn.rounds == []


def test_needs_quantization_and_no_sites(digits, tmp_path):
    net, data = digits
    path = write_fault_map(tmp_path / "m.csv", [("SC1", (0, 0, 0, 0), 1, 1)])
    with pytest.raises(FaultSpecError, match="FaultMap needs a quantized campaign"):
        Campaign(net, data, batch_size=5).then_inject(Fault(FaultMap(str(path))))
    cmpn = campaign(digits)
    with pytest.raises(FaultSpecError, match="FaultMap names its own layers; give it no sites"):
        cmpn.then_inject(Fault(FaultMap(str(path)), Site("SC1")))
    with pytest.raises(FaultSpecError, match="count and density do not apply"):
        cmpn.then_inject(Fault(FaultMap(str(path)), count=2))
    with pytest.raises(FaultSpecError, match="put it in a round"):
        cmpn.exhaustive(FaultMap(str(path)))
    with pytest.raises(FaultSpecError, match="FaultMap chooses its own cells; a test program needs fixed") as info:
        FaultList.from_rounds([Fault(FaultMap(str(path)))])
    assert "\n" not in str(info.value)
    with pytest.raises(FaultSpecError, match="a Campaign resolves it"):
        resolve_fault(Fault(FaultMap(str(path))), {"SC1": LayerInfo("SC1", 0, "conv", (1, 1, 1), (8, 2, 3, 3))},
                      np.random.default_rng(0))


# -- the stuck-bit model -------------------------------------------------------------------


def test_stuck_bit_synapse_codes():
    from spikefi.faults import SynapseContext
    from spikefi.faults.quantization import dequantize

    for qp in (QuantParams("int8", 0.5, 3), QuantParams("uint8", 0.25, 128), QuantParams("int32", 1.0, 0)):
        codes = torch.tensor([qp.qmin, -1 if qp.signed else 7, 0 if qp.signed else 128, qp.qmax])
        model = StuckBitSynapse(stuck_at_0=[0, qp.bits - 1], stuck_at_1=[2])
        got = model.faulty_weights(dequantize(codes, qp, torch.float64), SynapseContext(torch.zeros(1), qp, codes))
        want = [(_set_bit(_set_bit(_set_bit(int(c), 0, 0, qp), qp.bits - 1, 0, qp), 2, 1, qp) - qp.zero_point) * qp.scale
                for c in codes.tolist()]
        assert got.tolist() == want
    with pytest.raises(FaultSpecError, match="cannot be stuck at 0 and at 1"):
        StuckBitSynapse([1], [1])
    with pytest.raises(FaultSpecError, match="needs at least one bit"):
        StuckBitSynapse()


# -- engines and the brute-force reference -------------------------------------------------------


def test_fault_map_engines_equal_brute_force(digits, tmp_path):
    cmpn = campaign(digits)
    maps = []
    for seed, n in ((1, 60), (2, 300)):
        cells = random_cells(seed, n)
        # two cells of one word, one stuck at 0 and one at 1, and the sign bit
        cells += [("SF4", (3, 7, 0, 0), 7, 1), ("SF4", (3, 7, 0, 0), 1, 0), ("SC1", (0, 0, 1, 1), 7, 0)]
        cells = list({(c[0], c[1], c[2]): c for c in cells}.values())  # one entry per cell
        path = write_fault_map(tmp_path / f"map{seed}.csv", cells)
        maps.append(cells)
        cmpn.then_inject(Fault(FaultMap(str(path))))
    cmpn.then_inject(Fault(DeadNeuron(), Site("SF4", (2, 0, 0))))  # a map beside other rounds
    ref = assert_engines_agree(cmpn)
    for r, cells in enumerate(maps):
        want = brute_force_predictions(cmpn, map_edits(cells))
        assert (ref.predictions[r] == want).all(), r
        row = ref.table.iloc[r]
        assert row["n_faults"] == len({(c[0], c[1]) for c in cells})  # one per faulty weight
        assert set(row["model"].split(";")) == {"StuckBitSynapse"}
    golden = cmpn.predict_counts(snn.spike_counts(cmpn.golden_batch(0)["output"])).numpy()
    assert (ref.predictions[1][:5] != golden).any() or ref.table.iloc[1]["spike_count_deviation"] > 0


def test_fault_map_timing_transient_engines_agree(digits, tmp_path):
    from spikefi.faults import Window

    cmpn = campaign(digits, "uint8")
    path = write_fault_map(tmp_path / "m.csv", random_cells(5, 80))
    cmpn.then_inject(Fault(FaultMap(str(path)), timing=Window(5, 30)))
    assert_engines_agree(cmpn)


def test_fault_map_from_yaml_and_fault_list(digits, tmp_path):
    cells = random_cells(7, 40)
    path = write_fault_map(tmp_path / "chip.csv", cells)
    spec = CampaignSpec.from_yaml(f"""
name: chip-map
network: {{pretrained: digits_cnn}}
data: {{name: spiking_digits, seed: 0, max_samples: 12}}
options: {{seed: 0, batch_size: 6, quantization: {{dtype: int8}}, dtype: float64}}
rounds:
  - - {{model: FaultMap, file: {path}}}
""")
    cmpn = spec.build()
    result = cmpn.run(engine="sequential", progress=False, keep_predictions=True)
    assert (result.predictions[0] == brute_force_predictions(cmpn, map_edits(cells))).all()
    # the result names fixed per-weight faults: a fault list rebuilt from it gives the same round
    faults = faults_from_json(result.table.iloc[0]["faults"])
    again = spec.build()
    again.eject()
    again.then_inject(faults)
    assert (again.run(progress=False, keep_predictions=True).predictions == result.predictions).all()
    FaultList.from_rounds([faults])  # fixed faults: a test generator takes them


def test_fault_map_params_in_plain_words(digits, tmp_path):
    pytest.importorskip("mlflow")
    from experiments.chunk_flush import fault_params

    path = write_fault_map(tmp_path / "chip.csv", random_cells(3, 10))
    cmpn = campaign(digits)
    cmpn.then_inject(Fault(FaultMap(str(path))))
    params = fault_params(cmpn.rounds)
    assert params["fault.model"] == "FaultMap"
    assert params["fault.parameter"].startswith(f"fault map {path} (sha256 ")
    assert params["fault.timing"] == "permanent"
