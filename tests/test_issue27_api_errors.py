"""Issue 27, item 4 (Python API): SpikeFI-compatible ``cmpn.run(..., opt=7)`` and
``snn.params()`` on a binary file are one-line ``SpikeFIError``s, not raw tracebacks."""

from __future__ import annotations

import pytest
import torch

import spikefi as sfi
import spikefi.snn as snn
from spikefi.errors import ConfigError
from spikefi.zoo import load_pretrained, pretrained_path


@pytest.mark.parametrize("opt", [7, -1, True, "O4", 2.0])
def test_compat_run_with_an_unknown_optimization_level(opt):
    net = load_pretrained("digits_cnn")[0]
    cmpn = sfi.Campaign(net, (2, 16, 16), net.slayer, name="opt")
    loader = [(torch.zeros(2, 2, 16, 16, 30), torch.zeros(2, 10, 1, 1, 1), torch.tensor([0, 1]))]
    with pytest.raises(ConfigError) as info:  # ValueError: 7 is not a valid CampaignOptimization (e35710b)
        cmpn.run(loader, opt=opt)
    message = str(info.value)
    assert "\n" not in message and f"got {opt!r}" in message and "O0..O4" in message


def test_params_of_a_binary_file(tmp_path):
    with pytest.raises(ConfigError) as info:  # UnicodeDecodeError on e35710b
        snn.params(str(pretrained_path("digits_cnn")))
    message = str(info.value)
    assert "\n" not in message and "digits_cnn.pt" in message and "not a SLAYER yaml text file" in message
    bad = tmp_path / "bad.yaml"
    bad.write_text("neuron: [1,\n  simulation: {")
    with pytest.raises(ConfigError, match="is not valid yaml") as info:
        snn.params(str(bad))
    assert "\n" not in str(info.value)
