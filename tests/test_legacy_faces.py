"""SpikeFI 1.3's faces kept working but out of the native API's way: importable and in
``spikefi.__all__`` (``from spikefi import *``), absent from ``dir(spikefi)`` before and after
first use, and each ``Campaign`` naming the other when called with the other's arguments."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import spikefi
from spikefi.campaign import Campaign
from spikefi.campaign.mixups import LEGACY_CALL, NATIVE_CALL, looks_like_data, looks_like_shape
from spikefi.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
LEGACY_NAMES = {"Campaign", "CampaignData", "CampaignOptimization", "ff", "fm", "visual", "utils"}
LEGACY_MODULES = {"core", "fault", "models", "visual", "utils", "compat"}


@pytest.fixture(scope="module")
def net():
    from spikefi.zoo import load_pretrained

    return load_pretrained("digits_cnn")[0]


@pytest.fixture(scope="module")
def test_set():
    from spikefi.data import load_spiking_digits

    return load_spiking_digits()[1]


def test_dir_lists_the_native_api_only_also_after_first_use():
    """In a fresh interpreter: dir() before anything is loaded, after the legacy names are used
    and the legacy modules imported, and after a native subpackage is imported."""
    code = (
        "import spikefi; before = set(dir(spikefi)); "
        "import spikefi.core, spikefi.fault, spikefi.models, spikefi.visual, spikefi.utils.io; "
        "spikefi.Campaign; spikefi.CampaignData; spikefi.CampaignOptimization; spikefi.ff; spikefi.fm; "
        "spikefi.visual; spikefi.utils; import spikefi.campaign; after = set(dir(spikefi)); "
        "print(sorted(before)); print(sorted(after)); print(sorted(spikefi.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    before, after, all_ = (set(eval(line)) for line in out.stdout.splitlines())  # noqa: S307 - our own output
    legacy = LEGACY_NAMES | LEGACY_MODULES
    assert before & legacy == set() and after & legacy == set()
    assert {"SpikeFIError", "errors", "data", "snn", "zoo", "__version__"} <= before
    assert "campaign" in after  # a native subpackage, once imported
    assert not {"importlib", "Any", "annotations"} & after
    assert LEGACY_NAMES <= all_  # `from spikefi import *` still binds them


def test_star_import_binds_the_legacy_names():
    import spikefi.core
    import spikefi.fault
    import spikefi.models

    namespace: dict = {}
    exec("from spikefi import *", namespace)  # noqa: S102 - what a SpikeFI 1.3 script does
    assert namespace["Campaign"] is spikefi.core.Campaign
    assert namespace["ff"] is spikefi.fault and namespace["fm"] is spikefi.models
    assert {"CampaignData", "CampaignOptimization", "visual", "utils", "snn", "SpikeFIError"} <= set(namespace)
    assert spikefi.Campaign is spikefi.core.Campaign  # still importable as attributes


def _one_line(excinfo: pytest.ExceptionInfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("extra", [(), ("slayer",)], ids=["shape_in", "shape_in+slayer"])
def test_native_campaign_called_the_spikefi13_way_names_spikefi_campaign(net, extra):
    args = [net.slayer if a == "slayer" else a for a in extra]
    with pytest.raises(ConfigError, match=re.escape(LEGACY_CALL)) as info:
        Campaign(net, (2, 16, 16), *args)
    assert "got the shape (2, 16, 16) instead of a test set" in _one_line(info)
    with pytest.raises(ConfigError, match=re.escape(LEGACY_CALL)):
        Campaign(net, torch.Size([2, 16, 16]), *args)


def test_native_campaign_refuses_positional_options(net, test_set):
    with pytest.raises(ConfigError, match=r"takes 2 positional arguments \(net, dataset\), got 3") as info:
        Campaign(net, test_set, 64)
    assert "batch_size=..." in _one_line(info)


def test_spikefi13_campaign_called_the_native_way_names_the_native_campaign(net, test_set):
    x, y = test_set.tensors[:4], test_set.labels[:4]
    cases = [((test_set,), "a SpikingDigits"), (((x, y),), "a tuple of 2"), (((x, y), net.slayer), "a tuple of 2"),
             ((DataLoader(test_set, batch_size=4),), "a DataLoader")]
    for args, what in cases:
        with pytest.raises(ConfigError, match=re.escape(NATIVE_CALL)) as info:
            spikefi.Campaign(net, *args)
        assert f"got {what} instead of shape_in (C, H, W)" in _one_line(info)


def test_each_campaign_still_takes_its_own_arguments(net, test_set):
    legacy = spikefi.Campaign(net, (2, 16, 16), net.slayer, name="own")
    assert legacy.shape_in == (2, 16, 16)
    native = Campaign(net, test_set, max_samples=4, batch_size=4)
    assert native.x.shape[0] == 4
    with pytest.raises(ConfigError, match=r"shape_in must be \(C, H, W\)"):
        spikefi.Campaign(net, (2, 16), net.slayer)  # a bad shape is still a shape error
    with pytest.raises(ConfigError, match="slayer must be the network's spiking layer"):
        spikefi.Campaign(net, (2, 16, 16))  # slayer is still required


def test_what_counts_as_a_shape_and_as_data():
    class MapStyle(Dataset):
        def __len__(self) -> int:
            return 1

        def __getitem__(self, i: int):
            return torch.zeros(2, 16, 16, 30), 0

    assert looks_like_shape((2, 34, 34)) and looks_like_shape([2, 34, 34]) and looks_like_shape(torch.Size([2, 3]))
    assert not looks_like_shape(()) and not looks_like_shape((True, 2, 3)) and not looks_like_shape("abc")
    assert looks_like_data(MapStyle()) and looks_like_data((torch.zeros(1), torch.zeros(1)))
    assert not looks_like_data((2, 34, 34)) and not looks_like_data("path") and not looks_like_data(None)
    assert not looks_like_data((torch.zeros(1),))
