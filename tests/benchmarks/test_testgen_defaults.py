"""The testgen-defaults benchmark on the bundled digits network (one network, two split
seeds): it runs the real campaign, checks the library's selection against its own at every
setting, and ranks the settings."""

from __future__ import annotations

import numpy as np

from benchmarks import testgen_defaults as bench


def test_testgen_defaults_benchmark_runs(tmp_path, capsys):
    assert bench.main(["--networks", "pretrained", "--split-seeds", "2", "--program", "",
                       "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "## network pretrained: 38 critical faults" in out and "## settings ranked" in out
    ranked = out.split("## settings ranked", 1)[1].splitlines()[2:]
    assert len([row for row in ranked if "|" in row]) == len(bench.settings())
    assert (tmp_path / "pretrained.npz").is_file()
    data = bench.detection_data(dict(np.load(tmp_path / "pretrained.npz")))
    d = data["detected"]
    # a changed prediction is a detection, and only then is the golden class's margin not positive
    assert d.shape == (359, 38) and (data["margin"][d] <= 0).all()
