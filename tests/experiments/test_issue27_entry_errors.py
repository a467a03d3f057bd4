"""Issue 27, item 4 at the entry points: a campaign on a file that is not a NIR graph, a sweep
whose name is not a plain name, and ``report --from-results FILE`` are one-line errors (exit 2)
naming the file and what was expected; no MLflow run is created."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from experiments import campaign as entry
from experiments import report as report_entry
from experiments import sweep as sweep_entry

from .conftest import EXPERIMENT, runs_of


def _one_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_a_campaign_on_an_hdf5_file_that_is_not_nir(store, small_config, tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    pytest.importorskip("nir")
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    assert entry.main(["--config", str(small_config), "--set", f"campaign.network={{nir: {path}}}",
                       "--no-progress"]) == 2  # a KeyError traceback (exit 1) on e35710b
    _one_line(capsys, str(path), "not a NIR graph", "nir.write")
    truncated = tmp_path / "cut.nir"
    truncated.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 40)
    assert entry.main(["--config", str(small_config), "--set", f"campaign.network={{nir: {truncated}}}",
                       "--no-progress"]) == 2
    _one_line(capsys, str(truncated), "NIR file", "not a readable HDF5 file")
    assert runs_of(store) == []


@pytest.mark.parametrize("name", ["../escape", "a/b", ""])
def test_a_sweep_name_must_be_a_plain_name(store, tmp_path, capsys, name):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump({
        "sweep": {"name": name, "base": {"network": {"pretrained": "digits_cnn"}, "data": {"max_samples": 8}},
                  "campaigns": [{"name": "dead-SF4", "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]}]},
        "output_dir": str(tmp_path / "out"), "tracking": {"experiment": EXPERIMENT}}))
    assert sweep_entry.main(["--config", str(cfg), "--no-progress"]) == 2
    _one_line(capsys, "sweep.name must be a plain name", repr(name))
    assert runs_of(store) == [] and not (tmp_path / "out").exists()


def test_report_from_results_on_a_file_says_it_is_a_file(tmp_path, capsys):
    folder = tmp_path / "res"
    folder.mkdir()
    meta = folder / "meta.json"
    meta.write_text("{}")
    assert report_entry.main(["--from-results", str(meta), "--output-dir", str(tmp_path / "r")]) == 2
    err = _one_line(capsys, f"{str(meta)!r} is a file, not a result folder", f"give its folder: {str(folder)!r}")
    assert "does not exist" not in err
    other = tmp_path / "notes.txt"
    other.write_text("x")
    assert report_entry.main(["--from-results", str(other), "--output-dir", str(tmp_path / "r")]) == 2
    _one_line(capsys, "is a file, not a result folder", "meta.json and rounds.parquet")
