"""Issue 32, item 4: fault maps in Parquet (same columns, schema version in the file
metadata); one-line errors; a Parquet map injects exactly what the same CSV map does."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spikefi.errors import FaultMapError, FaultSpecError
from spikefi.faults import Fault, FaultMap, read_fault_map, write_fault_map
from spikefi.faults.memory import FAULT_MAP_COLUMNS, PARQUET_SCHEMA_KEY
from spikefi.faults.models import model_from_spec

from .test_issue32_fault_maps import brute_force_predictions, campaign, digits, map_edits, random_cells  # noqa: F401

CELLS = [("SC1", (0, 1, 2, 2), 3, 1), ("SF4", (9, 63, 0, 0), 7, 0)]


def _table(columns: dict, version: str | None = "1") -> pa.Table:
    table = pa.table(columns)
    return table.replace_schema_metadata({PARQUET_SCHEMA_KEY: version} if version is not None else None)


def _good_columns(**change) -> dict:
    cols = {"layer": ["SC1", "SF4"], "out": [0, 9], "in": [1, 63], "kh": [2, 0], "kw": [2, 0], "bit": [3, 7],
            "stuck": [1, 0]}
    cols.update(change)
    return cols


def test_round_trip_and_schema(tmp_path):
    path = write_fault_map(tmp_path / "map.parquet", CELLS)
    pf = pq.ParquetFile(path)
    assert tuple(pf.schema_arrow.names) == FAULT_MAP_COLUMNS
    assert pf.schema_arrow.metadata[PARQUET_SCHEMA_KEY.encode()] == b"1"
    assert [(c.layer, c.index, c.bit, c.stuck) for c in read_fault_map(path)] == CELLS
    fm = FaultMap(str(path))
    assert model_from_spec(fm.spec()) == fm and fm.scalar_parameter() == ("faulty_cells", 2.0)
    # a table written by other tools (int64 columns, a .pq name) reads the same
    other = tmp_path / "other.pq"
    pq.write_table(_table(_good_columns()), other)
    assert [(c.layer, c.index, c.bit, c.stuck) for c in read_fault_map(other)] == CELLS


@pytest.mark.parametrize("columns, version, match", [
    (_good_columns(), "2", "schema version '2' is not supported; this spikefi reads version 1"),
    (_good_columns(), None, "lacks the key 'spikefi-fault-map'"),
    ({"layer": ["SC1"], "index": [0], "bit": [1], "stuck": [1]}, "1", "the columns must be layer,out,in,kh,kw,bit,stuck"),
    (_good_columns(bit=[3.0, 7.0]), "1", "column bit must hold integers, got double"),
    (_good_columns(layer=[1, 2]), "1", "column layer must hold strings"),
    (_good_columns(stuck=[1, 2]), "1", "row 1: stuck must be 0 or 1, got 2"),
    (_good_columns(**{"in": [-1, 63]}), "1", "row 0: in must be an int >= 0, got -1"),
    (_good_columns(bit=[3, 40]), "1", "row 1: bit 40 is out of range"),
    (_good_columns(kw=[2, None]), "1", "column kw has 1 empty value"),
    (_good_columns(layer=["SC1", "SC1"], out=[0, 0], **{"in": [1, 1]}, kh=[2, 2], kw=[2, 2], bit=[3, 3]), "1",
     "row 1: cell SC1\\(0, 1, 2, 2\\) bit 3 is listed twice"),
])
def test_bad_parquet_one_line_errors(tmp_path, columns, version, match):
    path = tmp_path / "bad.parquet"
    pq.write_table(_table(columns, version), path)
    with pytest.raises(FaultMapError, match=match) as info:
        FaultMap(str(path))
    assert "\n" not in str(info.value) and isinstance(info.value, FaultSpecError)


def test_not_parquet_and_bad_cells_to_write(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_text("layer,out\n")
    with pytest.raises(FaultMapError, match="not a readable Parquet file") as info:
        FaultMap(str(path))
    assert "\n" not in str(info.value)
    with pytest.raises(FaultMapError, match="cell 1: stuck must be 0 or 1, got 3"):
        write_fault_map(tmp_path / "w.parquet", [CELLS[0], ("SF4", (0, 0, 0, 0), 1, 3)])


def test_parquet_map_equals_csv_map_and_brute_force(digits, tmp_path):  # noqa: F811
    cells = random_cells(11, 120)
    csv = write_fault_map(tmp_path / "m.csv", cells)
    parquet = write_fault_map(tmp_path / "m.parquet", cells)
    cmpn = campaign(digits)
    cmpn.then_inject(Fault(FaultMap(str(csv))))
    cmpn.then_inject(Fault(FaultMap(str(parquet))))
    assert [(f.layer, f.positions, f.model) for f in cmpn.rounds[0].faults] == \
        [(f.layer, f.positions, f.model) for f in cmpn.rounds[1].faults]
    result = cmpn.run(engine="parallel", progress=False, keep_predictions=True)
    want = brute_force_predictions(cmpn, map_edits(cells))
    assert (result.predictions[1] == want).all() and (result.predictions[0] == want).all()


def test_parquet_map_that_does_not_fit(digits, tmp_path):  # noqa: F811
    cmpn = campaign(digits)
    for cell, match in ((("SX9", (0, 0, 0, 0), 1, 1), "layer 'SX9' is not a synaptic layer"),
                        (("SC1", (8, 0, 0, 0), 1, 1), "index \\[8, 0, 0, 0\\] is out of range in layer 'SC1'")):
        path = write_fault_map(tmp_path / "m.parquet", [cell])
        with pytest.raises(FaultMapError, match=match) as info:
            cmpn.then_inject(Fault(FaultMap(str(path))))
        assert "\n" not in str(info.value)
