"""Chunks sharded over worker processes (2 CPU workers in CI) give the one-device answer."""

from __future__ import annotations

import pandas as pd

from spikefi.campaign import CampaignSpec, run_on_devices

SPEC = """
network: {pretrained: digits_cnn}
data: {name: spiking_digits, max_samples: 40}
options: {seed: 3, batch_size: 20}
rounds:
  - - {model: StuckNeuron, probability: 0.3, sites: [{layer: null}], count: 4}
exhaustive:
  - {model: DeadNeuron, layers: [SF4]}
  - {model: PerturbedSynapse, factor: -3.0, layers: [SC2], sample: 6}
"""


def test_two_cpu_workers_equal_one_process():
    spec = CampaignSpec.from_yaml(SPEC)
    single = spec.build().run(engine="parallel", chunk_size=3, progress=False)
    sharded = run_on_devices(spec, ["cpu", "cpu"], engine="parallel", chunk_size=3, threads_per_worker=1,
                             timeout_s=300)
    assert sharded.meta["devices"] == ["cpu", "cpu"]
    cols = [c for c in single.table if c != "param"]
    pd.testing.assert_frame_equal(sharded.table[cols], single.table[cols])
