"""On CUDA (GPU only): the engines agree with each other and with the hook path.

The naive engine and the golden pass take each healthy layer's spike count, firing mask
and golden comparison from the fused spiking kernel; the hook path (``force_hooks``)
computes them from the spikes. Every table column must be the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from spikefi.campaign import Campaign
from spikefi.data import load_spiking_digits
from spikefi.faults import DeadNeuron, DeadSynapse, Fault, PerturbedSynapse, SaturatedNeuron, Site
from spikefi.zoo import load_pretrained

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _campaign(force_hooks: bool = False) -> Campaign:
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    cmpn = Campaign(net, test, batch_size=40, seed=3, max_samples=100, device="cuda")
    cmpn.force_hooks = force_hooks
    rng = np.random.default_rng(1)
    for name in ("SC1", "SC2", "SF3"):
        shape = cmpn.netmap.layers[name].synapse_shape
        for k in range(4):
            pos = tuple(int(rng.integers(0, d)) for d in shape)
            cmpn.then_inject(Fault((DeadSynapse(), PerturbedSynapse(3.0))[k % 2], Site(name, pos)))
    cmpn.exhaustive(DeadNeuron(), layers=["SP2"], sample=8)
    cmpn.exhaustive(SaturatedNeuron(), layers=["SF3"], sample=8)
    return cmpn


def test_engines_on_cuda_equal_the_hook_path():
    reference = _campaign(force_hooks=True)
    ref = reference.run(engine="naive", progress=False, keep_predictions=True)
    cols = [c for c in ref.table if c != "param"]
    for engine in ("naive", "sequential", "parallel"):
        cmpn = _campaign()
        assert cmpn.golden()["spike_counts"] == reference.golden()["spike_counts"]
        res = cmpn.run(engine=engine, progress=False, keep_predictions=True)
        pd.testing.assert_frame_equal(res.table[cols], ref.table[cols])
        assert np.array_equal(res.predictions, ref.predictions)
    assert ref.table["critical"].sum() > 0 and (ref.table["first_divergent_layer"] != "").all()
