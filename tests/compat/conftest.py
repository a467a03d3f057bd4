"""Fixtures of the SpikeFI 1.3 compatibility tests: run the SpikeFI-style scripts of
``tests/compat/scripts`` and evaluate the same faults with the native API."""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from spikefi import faults as native
from spikefi.campaign import Campaign as NativeCampaign
from spikefi.compat.models import AffineBitFlipSynapse
from spikefi.compat.quantization import dtype_name

SCRIPTS = Path(__file__).with_name("scripts")
REPO = Path(__file__).resolve().parents[2]


def _shared(env: str, default: str, marker: str) -> Path | None:
    path = Path(os.environ.get(env) or REPO.parent / "shared" / default)
    return path if (path / marker).is_file() else None


@pytest.fixture
def run_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str, str], dict[str, Any]]:
    """``run(name, case)``: runs ``scripts/<name>.py`` for case study ``digits`` or ``nmnist``
    (skipped with a message where the real recordings or SpikeFI's weights are absent);
    files go under ``tmp_path / "out"``. Returns the script's globals."""

    def run(name: str, case: str) -> dict[str, Any]:
        if case == "nmnist":
            data = _shared("SPIKEFI_NMNIST_DIR", "nmnist_small", "test100.txt")
            ref = _shared("SPIKEFI_REFERENCE_DIR", "slayer_reference", "nmnist_cnn_net.pt")
            if data is None or ref is None:
                pytest.skip("real N-MNIST recordings (SPIKEFI_NMNIST_DIR) or SpikeFI's N-MNIST CNN weights "
                            "(SPIKEFI_REFERENCE_DIR) are absent")
            monkeypatch.setenv("SPIKEFI_NMNIST_DIR", str(data))
            monkeypatch.setenv("SPIKEFI_REFERENCE_DIR", str(ref))
            # a CPU pass of the N-MNIST CNN costs about 0.2 s per recording: 8 keep the suite fast
            monkeypatch.setenv("SFI_SAMPLES", "8")
        monkeypatch.setenv("SFI_CASESTUDY", case)
        monkeypatch.setenv("SPIKEFI_OUT_DIR", str(tmp_path / "out"))
        monkeypatch.syspath_prepend(str(SCRIPTS))
        sys.modules.pop("demo", None)
        return runpy.run_path(str(SCRIPTS / f"{name}.py"), run_name="__main__")

    return run


def native_model(model: Any) -> native.FaultModel:
    """The native model a SpikeFI model stands for, built here from its arguments."""
    name = model.get_name()
    if name == "DeadNeuron":
        return native.DeadNeuron()
    if name == "SaturatedNeuron":
        return native.SaturatedNeuron()
    if name == "StuckNeuron":
        return native.StuckNeuron(probability=model.args[0])
    if name in ("ParametricNeuron", "ThresholdFaultNeuron", "IntegrationFaultNeuron", "RefractoryFaultNeuron"):
        return native.ParametricNeuron(model.param_name, model.param_args[0])
    if name == "DeadSynapse":
        return native.DeadSynapse()
    if name in ("StuckSynapse", "SaturatedSynapse"):
        return native.StuckSynapse(model.args[0])
    if name == "PerturbedSynapse":
        return native.PerturbedSynapse(model.args[0])
    if name == "BitflippedSynapse":
        bit, scale, zero_point, dtype = model.args
        return AffineBitFlipSynapse(bit, scale, zero_point, dtype_name(dtype))
    raise AssertionError(f"no native equivalent known for {name}")


def loader_tensors(loader: Any) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for x, _, y in loader:
        xs.append(x)
        ys.append(torch.as_tensor(y))
    return torch.cat(xs), torch.cat(ys)


def native_accuracies(net: torch.nn.Module, loader: Any, rounds: list[Any], engine: str = "sequential") -> list[float]:
    """Accuracy of every round evaluated by the native API (another engine and batch size
    than the compat run) on the loader's samples, faults at the same sites."""
    x, y = loader_tensors(loader)
    cmpn = NativeCampaign(net, (x, y), batch_size=7, seed=0, net_params={})
    for rnd in rounds:
        cmpn.then_inject([
            native.Fault(native_model(f.model), [native.Site(layer, tuple(s.position)) for s in f.get_sites()])
            for (layer, _), f in rnd.items()
        ])
    return cmpn.run(engine=engine, progress=False).table["accuracy"].tolist()
