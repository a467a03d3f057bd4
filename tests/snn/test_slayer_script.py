"""A slayerPytorch-style training script (tests/snn/scripts/nmnist_mlp.py) runs unchanged
on spikefi.snn with real N-MNIST recordings, and learns."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("scripts") / "nmnist_mlp.py"


@pytest.mark.slow
def test_slayer_style_mlp_script_trains_on_real_recordings(nmnist_dir, monkeypatch, capsys):
    monkeypatch.setenv("NMNIST_PATH", str(nmnist_dir))
    monkeypatch.setenv("NUM_SAMPLES", "32")
    monkeypatch.setenv("EPOCHS", "3")
    env = runpy.run_path(str(SCRIPT), run_name="__main__")
    stats = env["stats"]
    train_loss = stats.training.lossLog
    assert len(train_loss) == 3 and all(v is not None for v in train_loss)
    # 4 batches of 8 real recordings per epoch: the training loss falls clearly
    assert train_loss[-1] < 0.9 * train_loss[0], train_loss
    assert stats.training.minloss == min(train_loss)
    assert all(a is not None and 0.0 <= a <= 1.0 for a in stats.testing.accuracyLog)
    assert stats.training.accuracyLog[-1] > 0.1  # better than chance on the samples it trains on
    out = capsys.readouterr().out
    assert "Epoch :          2(i =       3)" in out and "accuracy = " in out
