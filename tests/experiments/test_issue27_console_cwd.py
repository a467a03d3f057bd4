"""Issue 27, item 2: the ``spikefi`` console script makes the current folder importable as
``python -m experiments.<name>`` does, so ``network: {factory: "mynets:build"}`` with
``mynets.py`` in the folder the user runs from works from the console too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from .conftest import entry_env

MYNETS = '''
import torch
from torch import nn

import spikefi.snn as snn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.slayer = snn.layer(dict(type="SRMALPHA", theta=5, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1,
                                     scaleRho=1), dict(Ts=1, tSample=30))
        self.fc1 = self.slayer.dense((16, 16, 2), 12, weightScale=40)
        self.fc2 = self.slayer.dense(12, 10, weightScale=40)

    def forward(self, x):
        return self.slayer.spike(self.slayer.psp(self.fc2(self.slayer.spike(self.slayer.psp(self.fc1(x))))))


def build():
    torch.manual_seed(3)
    return Tiny()
'''

#: what pip writes into the environment's bin folder for ``[project.scripts] spikefi = ...``
CONSOLE_SCRIPT = """#!{python}
import sys
from experiments.cli import main
if __name__ == "__main__":
    sys.exit(main())
"""


def test_a_factory_module_in_the_current_folder_is_found_by_the_console_script(tmp_path, empty_store_file):
    bin_dir, work = tmp_path / "bin", tmp_path / "work"
    bin_dir.mkdir()
    work.mkdir()
    script = bin_dir / "spikefi"
    script.write_text(CONSOLE_SCRIPT.format(python=sys.executable))
    script.chmod(0o755)
    (work / "mynets.py").write_text(textwrap.dedent(MYNETS))
    (work / "my.yaml").write_text(yaml.safe_dump({
        "campaign": {"name": "mine", "network": {"factory": "mynets:build"},
                     "data": {"name": "spiking_digits", "seed": 0, "max_samples": 8},
                     "options": {"seed": 0, "batch_size": 8, "chunk_size": 10},
                     "exhaustive": [{"model": "DeadNeuron", "layers": ["fc2"]}]},
        "output_dir": "out", "tracking": {"experiment": "mine"}}))
    shutil.copyfile(empty_store_file, work / "mlflow.db")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    env = entry_env(uri)  # PYTHONPATH = the checkout (the project, not the user's folder)
    assert str(work) not in env["PYTHONPATH"].split(os.pathsep)
    done = subprocess.run([str(script), "campaign", "--config", "my.yaml", "--no-progress"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]  # before: "No module named 'mynets'" (exit 2)
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("mine").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["network.architecture"] == "Tiny"


def test_the_current_folder_goes_first_on_the_path_unless_python_runs_with_safe_path(tmp_path, monkeypatch):
    from experiments import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", ["/somewhere/bin", *sys.path[1:]])
    cli.current_folder_importable()
    assert sys.path[0] == str(tmp_path)
    cli.current_folder_importable()  # once only
    assert sys.path.count(str(tmp_path)) == 1
    done = subprocess.run([sys.executable, "-P", "-c", "import sys; from experiments import cli; n = len(sys.path); "
                           "cli.current_folder_importable(); print(len(sys.path) - n)"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])},
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "0", done.stderr
