"""The MLproject's campaign entry point takes the sink parameters: ``-P sink=local -P
sink_dir=PATH`` become ``--sink local --sink-dir PATH`` on the command MLflow builds (its own
substitution, shell quoting included), and that command records the campaign in the folder."""

from __future__ import annotations

import shlex

import yaml
from mlflow.projects import _project_spec

from experiments import campaign as entry
from experiments.local_sink import LocalSink

from .conftest import REPO, runs_of


def test_the_campaign_entry_point_declares_the_sink_parameters():
    params = yaml.safe_load((REPO / "MLproject").read_text())["entry_points"]["campaign"]["parameters"]
    assert params["sink"] == {"type": "string", "default": ""}
    assert params["sink_dir"] == {"type": "string", "default": ""}
    assert {"--sink", "--sink-dir"} <= set(entry.OPTIONS)


def test_the_command_mlflow_builds_passes_the_sink_to_the_cli(store, small_config, tmp_path, capsys):
    point = _project_spec.load_project(str(REPO)).get_entry_point("campaign")
    folder = tmp_path / "a sink"  # a space: the command must quote it
    command = point.compute_command({"config": str(small_config), "sink": "local", "sink_dir": str(folder)},
                                    str(tmp_path))
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "experiments.campaign"]
    assert argv[argv.index("--sink") + 1] == "local" and argv[argv.index("--sink-dir") + 1] == str(folder)
    defaults = shlex.split(point.compute_command({}, str(tmp_path)))
    assert defaults[defaults.index("--sink") + 1] == "" and defaults[defaults.index("--sink-dir") + 1] == ""

    assert entry.main(argv[3:]) == 0
    (run,) = [p.name for p in folder.iterdir() if p.is_dir()]
    assert LocalSink(str(folder)).status(run)[0] == "FINISHED"
    assert f"local files: {folder / run}" in capsys.readouterr().out
    assert runs_of(store) == []  # nothing in the tracking store
