"""The Ray executor on a local Ray (CPU actors): the same table as in-process, a worker
process that dies is replaced and its chunk re-run, a node removed mid-campaign costs only
its chunks, bad options are refused before anything runs.

Ray's temp folder is a short path under /tmp (Ray refuses socket paths over ~107 bytes)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from spikefi.campaign import (
    Campaign,
    CampaignSpec,
    ExecutorError,
    ExecutorLostError,
    InProcessExecutor,
    RayExecutor,
)
from spikefi.campaign.ray_executor import DIE_HOOK_ENV
from spikefi.errors import ConfigError

ray = pytest.importorskip("ray", reason="the Ray executor tests need spikefi[ray]")

SPEC = """
name: ray-test
network: {pretrained: digits_cnn}
data: {name: spiking_digits, max_samples: 24}
options: {seed: 5, batch_size: 24}
rounds:
  - - {model: StuckNeuron, probability: 0.3, sites: [{layer: null}], count: 3}
exhaustive:
  - {model: DeadNeuron, layers: [SF4]}
  - {model: PerturbedSynapse, factor: -3.0, layers: [SC2], sample: 5}
"""
COLS_IGNORED = ("param",)  # NaN for multi-fault rounds: compared separately


def _table(result) -> pd.DataFrame:
    return result.table[[c for c in result.table if c not in COLS_IGNORED]]


@pytest.fixture(scope="module")
def short_tmp():
    with tempfile.TemporaryDirectory(prefix="sfr", dir="/tmp") as d:
        yield d


@pytest.fixture(scope="module")
def local_ray(short_tmp):
    """One local Ray (2 CPUs) for this module; shut down at its end."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=os.path.join(short_tmp, "r"))
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def reference():
    spec = CampaignSpec.from_yaml(SPEC)
    return spec, spec.build().run(engine="parallel", chunk_size=3, progress=False)


def test_ray_workers_equal_in_process_and_a_dead_worker_is_replaced(local_ray, reference, short_tmp):
    spec, single = reference
    marker = Path(short_tmp) / "died-once"
    executor = RayExecutor(workers=2, cpus_per_worker=1, runtime_env={"env_vars": {DIE_HOOK_ENV: f"1:{marker}"}})
    cmpn = spec.build()
    result = cmpn.run(engine="parallel", chunk_size=3, progress=False, executor=executor)
    assert marker.is_file(), "the test hook did not kill a worker"
    # the chunks that worker held (running or queued: at most `prefetch`) ran again elsewhere
    assert 1 <= executor.last_run["retries"] <= executor.prefetch and executor.last_run["restarts"] == 1
    pd.testing.assert_frame_equal(_table(result), _table(single))
    assert result.meta["executor"] == "ray" and result.meta["golden"]["accuracy"] == single.meta["golden"]["accuracy"]
    # the driver ran no golden pass of its own: it adopted the workers' summary
    assert cmpn._golden is None
    # each actor's engine seconds: its chunks ran one after another inside the evaluation window
    busy = executor.last_run["engine_s_by_worker"]
    assert busy and all(0 < v <= executor.last_run["evaluation_s"] for v in busy.values())


def test_in_process_executor_is_the_default_loop(reference):
    spec, single = reference
    result = spec.build().run(engine="sequential", chunk_size=4, progress=False, executor=InProcessExecutor())
    pd.testing.assert_frame_equal(_table(result), _table(single))


def test_a_chunk_that_keeps_failing_fails_the_campaign_with_its_error(local_ray, reference, short_tmp):
    spec, _ = reference
    # the hook cannot write its marker (no such folder): chunk 0 raises on every attempt
    executor = RayExecutor(workers=1, max_retries=1,
                           runtime_env={"env_vars": {DIE_HOOK_ENV: f"0:{short_tmp}/no-such-dir/marker"}})
    with pytest.raises(ExecutorError) as info:
        spec.build().run(engine="parallel", chunk_size=50, progress=False, executor=executor)
    assert "chunk 0 (rounds 0-" in str(info.value) and "failed 2 times" in str(info.value)
    assert "FileNotFoundError" in str(info.value)


def test_every_worker_lost_with_no_restart_left_ends_the_campaign_with_executor_lost(local_ray, reference,
                                                                                    short_tmp):
    """Ray's own restarts are off and the pool has none left: the chunks delivered so far
    arrive, then an ExecutorLostError names the loss (a tracked campaign keeps those chunks)."""
    spec, _ = reference
    marker = Path(short_tmp) / "lost-all"
    executor = RayExecutor(workers=1, max_restarts=0, prefetch=1,
                           runtime_env={"env_vars": {DIE_HOOK_ENV: f"1:{marker}"}})
    got = []
    with pytest.raises(ExecutorLostError) as info:
        for chunk in spec.build().iter_chunks("parallel", 3, progress=False, executor=executor):
            got.append(chunk.chunk_index)
    assert marker.is_file() and got == [0]  # chunk 0 delivered, the worker died on chunk 1
    assert "every Ray worker died and no restarts are left (0 used)" in str(info.value)
    assert isinstance(info.value, ExecutorError) and executor._session is None  # noqa: SLF001 - actors released


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 0}, "workers must be an int >= 1"),
    ({"health_interval_s": 0}, "health_interval_s must be a number of seconds in (0, 60]"),
    ({"gpus_per_worker": 2}, "gpus_per_worker must be a number in [0, 1]"),
    ({"cpus_per_worker": 0}, "cpus_per_worker must be an int >= 1"),
])
def test_bad_options_are_refused_at_construction(kwargs, message):
    with pytest.raises(ConfigError) as info:
        RayExecutor(**kwargs)
    assert message in str(info.value)


def test_more_gpus_or_cpus_than_the_cluster_has_are_refused(local_ray):
    with pytest.raises(ConfigError, match="GPU"):
        RayExecutor(workers=1, gpus_per_worker=1).check_resources(local_ray)
    with pytest.raises(ConfigError, match="CPU"):
        RayExecutor(workers=3, cpus_per_worker=1).check_resources(local_ray)


def test_actors_get_their_next_chunks_before_the_consumer_sees_a_result(local_ray, reference):
    """While the driver handles a chunk (a tracked campaign flushes it to MLflow), the actor
    that returned it already holds ``prefetch`` chunks again: it never waits for the driver."""
    spec, single = reference
    cmpn = spec.build()
    executor = RayExecutor(workers=1, cpus_per_worker=1, prefetch=2)
    held = []
    rows = []
    for chunk in cmpn.iter_chunks("parallel", 3, progress=False, executor=executor):
        slot = next(s for s in executor._slots if s.state == "ready")  # noqa: SLF001
        held.append(slot.inflight)
        rows.extend(chunk.rows)
    assert held[0] == 2 and held[: len(held) - 2] == [2] * (len(held) - 2)  # refilled before each yield
    table = pd.DataFrame(rows).sort_values("round_id").reset_index(drop=True)
    assert table["accuracy"].tolist() == single.table["accuracy"].tolist()


def test_an_actor_whose_gpu_is_mostly_taken_is_reported():
    from spikefi.campaign.ray_executor import _warn_if_gpu_shared

    with pytest.warns(RuntimeWarning, match=r"had 30 of 140 GiB free on its GPU"):
        assert _warn_if_gpu_shared({"host": "h", "device": "cuda[0]", "gpu_memory_gib": (30.0, 140.0)})
    assert not _warn_if_gpu_shared({"host": "h", "device": "cuda[1]", "gpu_memory_gib": (120.0, 140.0)})
    assert not _warn_if_gpu_shared({"host": "h", "device": "cpu", "gpu_memory_gib": None})


class _FakeRay:
    """``ray.cluster_resources``/``ray.nodes`` of a made-up cluster: a CPU-only head and GPU nodes."""

    def __init__(self, nodes):
        self._nodes = [{"Alive": alive, "Resources": res} for alive, res in nodes]

    def nodes(self):
        return self._nodes

    def cluster_resources(self):
        out = {}
        for node in self._nodes:
            if node["Alive"]:
                for k, v in node["Resources"].items():
                    out[k] = out.get(k, 0.0) + v
        return out


def test_gpu_actors_default_to_their_gpus_share_of_the_node_cores():
    fake = _FakeRay([(True, {"CPU": 64.0}), (True, {"CPU": 32.0, "GPU": 2.0}), (True, {"CPU": 24.0, "GPU": 2.0}),
                     (False, {"CPU": 2.0, "GPU": 2.0})])
    one = RayExecutor(workers=4, gpus_per_worker=1)
    assert one.check_resources(fake) == 4 and one.cpus_each == 12  # fits on the 24-core node too
    half = RayExecutor(workers=8, gpus_per_worker=0.5)
    assert half.check_resources(fake) == 8 and half.cpus_each == 6
    cpu = RayExecutor(workers=3, gpus_per_worker=0)
    assert cpu.check_resources(fake) == 3 and cpu.cpus_each == 1
    fixed = RayExecutor(workers=2, gpus_per_worker=1, cpus_per_worker=3)
    assert fixed.check_resources(fake) == 2 and fixed.cpus_each == 3
    with pytest.raises(ConfigError, match="--cpus-per-worker"):
        RayExecutor(workers=4, gpus_per_worker=1, cpus_per_worker=40).check_resources(fake)


def test_an_engine_object_needs_the_in_process_executor(reference):
    from spikefi.campaign import SequentialEngine

    spec, _ = reference
    with pytest.raises(ConfigError, match="needs the engine by name"):
        spec.build().run(engine=SequentialEngine(), executor=RayExecutor(workers=1), progress=False)


def test_campaign_built_in_python_reaches_actors_through_the_object_store(local_ray):
    """A network defined here (not importable by name on the workers' side) runs on Ray."""
    from spikefi.data import load_spiking_digits
    from spikefi.faults import DeadNeuron
    from spikefi.zoo import load_pretrained

    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    cmpn = Campaign(net, test, max_samples=16, seed=2)
    cmpn.exhaustive(DeadNeuron(), layers=["SF3"], sample=6)
    here = cmpn.run(engine="parallel", chunk_size=2, progress=False)
    there = cmpn.run(engine="parallel", chunk_size=2, progress=False, executor=RayExecutor(workers=2))
    pd.testing.assert_frame_equal(_table(here), _table(there))


def test_a_network_class_defined_in_the_script_runs_on_ray(local_ray):
    """A slayerPytorch-style non-chain network whose class exists only here (not importable
    by the workers): it reaches the actors by value through the object store."""
    import torch
    from torch import nn

    import spikefi.snn as snn
    from spikefi.faults import DeadSynapse, Fault, SaturatedNeuron, Site

    neuron = dict(type="SRMALPHA", theta=4, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)

    class LocalSkipNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.slayer = snn.layer(neuron, dict(Ts=1, tSample=12))
            self.fc1 = self.slayer.dense((5, 5, 2), 8, weightScale=20)
            self.fc2 = self.slayer.dense(8, 8, weightScale=20)
            self.out = self.slayer.dense(16, 4, weightScale=20)

        def forward(self, x):
            s1 = self.slayer.spike(self.slayer.psp(self.fc1(x)))
            s2 = self.slayer.spike(self.slayer.psp(self.fc2(s1)))
            return self.slayer.spike(self.slayer.psp(self.out(torch.cat([s1, s2], dim=1))))

    torch.manual_seed(3)
    net = LocalSkipNet()
    x = (torch.rand(12, 2, 5, 5, 12) < 0.3).float()
    y = torch.randint(0, 4, (12,))
    cmpn = Campaign(net, (x, y), seed=4, batch_size=5)
    cmpn.exhaustive(SaturatedNeuron(), layers=["fc2"])
    cmpn.then_inject(Fault(DeadSynapse(), Site("out"), count=5))
    here = cmpn.run(engine="sequential", chunk_size=3, progress=False)
    there = cmpn.run(engine="sequential", chunk_size=3, progress=False, executor=RayExecutor(workers=2))
    pd.testing.assert_frame_equal(_table(here), _table(there))
    assert here.table["critical"].sum() > 0  # the faults do something on these inputs


def test_one_executor_reused_for_two_campaigns_reports_each_ones_golden(local_ray):
    from spikefi.data import load_spiking_digits
    from spikefi.faults import DeadNeuron
    from spikefi.zoo import load_pretrained

    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    executor = RayExecutor(workers=1)
    for n in (8, 40):
        cmpn = Campaign(net, test, max_samples=n, seed=1)
        cmpn.exhaustive(DeadNeuron(), layers=["SF4"], sample=2)
        result = cmpn.run(engine="parallel", progress=False, executor=executor)
        assert result.meta["golden"]["samples"] == n
        assert result.meta["golden"]["accuracy"] == Campaign(net, test, max_samples=n).golden()["accuracy"]


def test_a_node_removed_mid_campaign_costs_only_its_chunks(reference, short_tmp, monkeypatch):
    """Two-node local cluster (1 CPU each, one actor per node); the second node is removed
    after the first chunk arrives. The campaign completes with the in-process table."""
    from ray.cluster_utils import Cluster

    # Cluster writes its address to <RAY_TMPDIR or /tmp>/ray/ray_current_cluster and the
    # added node takes that default temp dir: keep both in this test's short folder (on a
    # fresh machine /tmp/ray does not exist, and it must not depend on an earlier test)
    os.makedirs(os.path.join(short_tmp, "ray"), exist_ok=True)
    monkeypatch.setenv("RAY_TMPDIR", short_tmp)

    spec, single = reference
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "temp_dir": os.path.join(short_tmp, "c")})
    try:
        node = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        executor = RayExecutor(address=cluster.address, workers=2, cpus_per_worker=1, prefetch=1, max_restarts=1)
        cmpn = spec.build()
        rows, removed = [], False
        for chunk in cmpn.iter_chunks("parallel", 1, progress=False, executor=executor):
            rows.extend(chunk.rows)
            if not removed:
                cluster.remove_node(node)
                removed = True
        # the actor on the removed node was lost (while starting, idle or holding a chunk, which
        # then ran again on the head's actor) and a replacement was asked for
        assert removed and executor.last_run["restarts"] >= 1
        table = pd.DataFrame(rows).sort_values("round_id").reset_index(drop=True)
        table = table[[c for c in table if c not in COLS_IGNORED]]
        pd.testing.assert_frame_equal(table, _table(single), check_dtype=False)
    finally:
        ray.shutdown()
        cluster.shutdown()
