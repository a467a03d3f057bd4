"""Project packaging: pins agree, MLproject is well formed, the core imports no tracking libs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_conda_env_matches_pyproject():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    conda = yaml.safe_load((REPO / "conda.yaml").read_text())
    pip_deps = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert sorted(d for d in pip_deps if not d.startswith("-e")) == sorted(deps + extras["ray"])


def test_ray_pins_agree_with_the_kubernetes_image():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (ray_pin,) = extras["ray"]
    assert ray_pin.startswith("ray[default]==2.60.")
    assert "/opt/spikefi[ray]" in (REPO / "experiments" / "kubernetes" / "Dockerfile").read_text()
    assert '".[dev,ray]"' in (REPO / "Makefile").read_text()


def test_mlproject_entry_points_are_modules():
    project = yaml.safe_load((REPO / "MLproject").read_text())
    assert project["conda_env"] == "conda.yaml"
    assert {"main", "train", "golden"} <= set(project["entry_points"])
    for name, entry in project["entry_points"].items():
        module = entry["command"].split()[2]
        assert (REPO / (module.replace(".", "/") + ".py")).is_file(), name


def test_core_imports_no_mlflow_or_optuna():
    code = ("import sys, spikefi, spikefi.training, spikefi.campaign, spikefi.campaign.ray_executor; "
            "print(sorted(m for m in ('mlflow', 'optuna', 'ray') if m in sys.modules) or False)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_core_imports_no_nir():
    """``spikefi.nir`` (the optional ``spikefi[nir]`` extra) is loaded only when asked for."""
    code = ("import sys, spikefi, spikefi.campaign, spikefi.faults, spikefi.snn; "
            "print(sorted(m for m in ('nir', 'spikefi.nir', 'snntorch', 'norse', 'h5py') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_dropin_names_import_no_plotting_or_tracking_libs():
    """``import spikefi`` loads no plotting/tracking library; neither do the slayerPytorch
    drop-in names nor SpikeFI 1.3's lazy top-level names (spikefi.Campaign, ff, fm, utils)."""
    heavy = "sorted(m for m in ('matplotlib', 'mlflow', 'optuna', 'ray') if m in sys.modules)"
    code = (
        f"import sys, spikefi; print({heavy}, 'spikefi.core' in sys.modules); "
        "import spikefi.snn as snn; "
        "snn.io.event; snn.io.read2Dspikes; snn.utils.stats; snn.utils.optim.Nadam; snn.quantize; "
        "snn.predict.getClass; snn.learningStats; "
        "spikefi.Campaign; spikefi.CampaignData; spikefi.CampaignOptimization; spikefi.ff.Fault; "
        "spikefi.fm.DeadNeuron; spikefi.utils.io.make_res_filepath; spikefi.utils.quantization.qargs_from_tensor; "
        f"print({heavy})"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.splitlines() == ["[] False", "[]"]
