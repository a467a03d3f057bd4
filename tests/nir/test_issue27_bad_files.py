"""Issue 27, item 4 (NIR): files that are not NIR graphs -- a valid HDF5 file without NIR's
layout, a node ``type`` that is not UTF-8, a recurrent edge failing NIR's own type check, a
truncated file -- are one-line ``NIRFileError``s naming the file and what was expected; an
``euler`` time step longer than a time constant is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from spikefi.errors import SpikeFIError

nir = pytest.importorskip("nir", reason="spikefi[nir] extra (nir==1.0.8) not installed")
h5py = pytest.importorskip("h5py")
snir = pytest.importorskip("spikefi.nir")

F_IN, F_OUT = 4, 3


def _graph(tau: float = 0.02, extra=None, edges=None):
    rng = np.random.default_rng(0)
    nodes = {"input": nir.Input(input_type=np.array([F_IN])),
             "fc": nir.Affine(weight=rng.normal(size=(F_OUT, F_IN)), bias=np.zeros(F_OUT)),
             "lif": nir.LIF(tau=np.full(F_OUT, tau), r=np.ones(F_OUT), v_leak=np.zeros(F_OUT),
                            v_threshold=np.full(F_OUT, 0.5), v_reset=np.zeros(F_OUT)),
             "output": nir.Output(output_type=np.array([F_OUT])), **(extra or {})}
    return nir.NIRGraph(nodes=nodes, edges=edges or [("input", "fc"), ("fc", "lif"), ("lif", "output")],
                        type_check=False)


@pytest.fixture()
def good_file(tmp_path) -> Path:
    path = tmp_path / "good.nir"
    nir.write(str(path), _graph())
    return path


def _one_line(path: Path, *needles: str) -> str:
    with pytest.raises(snir.NIRFileError) as info:
        snir.load(str(path), dt=1e-3, convention="euler")
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    for needle in needles:
        assert needle in message, message
    assert isinstance(info.value, SpikeFIError) and isinstance(info.value, ValueError)
    return message


def test_an_hdf5_file_that_is_not_nir(tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    _one_line(path, "an HDF5 file, but not a NIR graph", "expected a NIR graph file written by nir.write")


def test_a_node_type_that_is_not_utf8(tmp_path, good_file):
    path = tmp_path / "badtype.nir"
    shutil.copyfile(good_file, path)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/lif/type"]
        f["node/nodes/lif/type"] = b"\xff\xfeLIF"
    _one_line(path, "is not UTF-8")


def test_a_recurrent_edge_failing_nirs_type_check(tmp_path):
    path = tmp_path / "recurrent.nir"
    graph = _graph(extra={"rec": nir.Linear(weight=np.ones((2, 5)))},
                   edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")])
    nir.write(str(path), graph)
    _one_line(path, "recurrent edge rec -> lif", "NIR's type check fails too")


def test_truncated_and_not_hdf5_files(tmp_path, good_file):
    data = good_file.read_bytes()
    truncated = tmp_path / "truncated.nir"
    truncated.write_bytes(data[: len(data) // 2])
    _one_line(truncated, "is not a readable HDF5 file", "truncated")
    text = tmp_path / "notes.nir"
    text.write_text("not a graph")
    _one_line(text, "is not a readable HDF5 file")
    with pytest.raises(snir.NIRFileError, match="NIR file not found"):
        snir.read_graph(tmp_path / "missing.nir")


def test_a_good_file_still_loads(good_file):
    assert snir.load(str(good_file), dt=1e-3, convention="euler").dt == 1e-3


def test_an_euler_step_longer_than_a_time_constant_is_refused():
    with pytest.raises(snir.NIRParameterError) as info:
        snir.load(_graph(tau=0.02), dt=1e9, convention="euler")  # ran silently at chance on e35710b
    message = str(info.value)
    assert "\n" not in message and "'lif' (LIF): dt=1e+09 is longer than its smallest 'tau' 0.02" in message
    cuba = nir.CubaLIF(tau_syn=np.full(F_OUT, 0.001), tau_mem=np.full(F_OUT, 0.02), r=np.ones(F_OUT),
                       v_leak=np.zeros(F_OUT), v_threshold=np.ones(F_OUT))
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([F_IN])),
                                "fc": nir.Linear(weight=np.ones((F_OUT, F_IN))), "lif": cuba,
                                "output": nir.Output(output_type=np.array([F_OUT]))},
                         edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(snir.NIRParameterError, match="smallest 'tau_syn' 0.001"):
        snir.load(graph, dt=2e-3, convention="euler")
    assert snir.load(graph, dt=1e-3, convention="euler").dt == 1e-3  # dt equal to tau_syn is fine
    assert snir.load(_graph(tau=1e-5), convention="norse").dt == 1e-3  # other conventions: their own rules
