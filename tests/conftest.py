"""Shared fixtures: the SLAYER reference tensors (see ../shared/slayer_reference)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(
    os.environ.get("SPIKEFI_REFERENCE_DIR", REPO.parent / "shared" / "slayer_reference")
)
REQUIRE_REFERENCE = os.environ.get("SPIKEFI_REQUIRE_REFERENCE", "0") == "1"

# Most tests run many small tensor operations, where a second intra-op thread only adds
# synchronisation, and several tests start worker processes: one thread per process keeps
# the suite fast and predictable on a 2-core CI machine (override: SPIKEFI_TEST_THREADS).
torch.set_num_threads(int(os.environ.get("SPIKEFI_TEST_THREADS", "1")))

#: test modules that start a local Ray cluster. ``make test`` runs the suite on two pytest-xdist
#: workers with ``--dist loadgroup``: these modules share one group, so they run on one worker one
#: after the other, and never two Ray clusters (nor their process and port checks) at once.
RAY_MODULES = frozenset({"test_ray_executor", "test_ray_entry", "test_ray_lifecycle", "test_ray_lost_node",
                         "test_campaign_throughput"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).stem in RAY_MODULES:
            item.add_marker(pytest.mark.xdist_group("ray"))


def _reference_file(name: str) -> Path:
    path = REFERENCE_DIR / name
    if not path.is_file():
        message = (
            f"SLAYER reference file {path} is absent (set SPIKEFI_REFERENCE_DIR to the folder "
            "holding slayer_reference_A.pt and nmnist_cnn_net.pt)"
        )
        if REQUIRE_REFERENCE:
            pytest.fail(message + " and SPIKEFI_REQUIRE_REFERENCE=1 forbids skipping")
        pytest.skip(message)
    return path


def unpack_spikes(packed: dict) -> torch.Tensor:
    """Unpacks a bit-packed reference spike tensor into values {0, 1/Ts} (float32)."""
    bits = np.unpackbits(packed["packed"].numpy(), count=packed["numel"]).reshape(packed["shape"])
    return torch.from_numpy(bits.astype(np.float32)) * packed["value"]


@pytest.fixture(scope="session")
def slayer_reference() -> dict:
    return torch.load(_reference_file("slayer_reference_A.pt"), map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def nmnist_state_dict() -> dict:
    return torch.load(_reference_file("nmnist_cnn_net.pt"), map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def device() -> torch.device:
    """The device engine tests run on (``SPIKEFI_TEST_DEVICE``, default cpu)."""
    return torch.device(os.environ.get("SPIKEFI_TEST_DEVICE", "cpu"))
