"""The campaign package's seams: plain types, run options, output observers, the engine
registry, run_rounds and the legacy module paths."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

from spikefi.campaign import Campaign, RunOptions
from spikefi.campaign.engines import (
    ENGINES,
    Engine,
    NaiveEngine,
    ParallelEngine,
    SequentialEngine,
    get_engine,
    register_engine,
    run_rounds,
)
from spikefi.campaign.types import GoldenBatch
from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError
from spikefi.faults import DeadNeuron, DeadSynapse, Fault, Site
from spikefi.snn.loss import spike_counts
from spikefi.zoo import load_pretrained


@pytest.fixture(scope="module")
def cmpn() -> Campaign:
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    c = Campaign(net, test, batch_size=8, seed=3, max_samples=16)
    c.exhaustive(DeadNeuron(), layers=["SF4"])
    c.then_inject(Fault(DeadSynapse(), Site("SC2", (1, 0, 1, 1))))
    c.then_inject()  # a golden round
    return c


def _observed(cmpn: Campaign, engine: Engine, force_hooks: bool = False) -> dict[int, torch.Tensor]:
    seen: dict[int, list[torch.Tensor]] = {}
    engine.add_output_observer(lambda rid, out: seen.setdefault(rid, []).append(spike_counts(out).cpu()))
    cmpn.force_hooks = force_hooks
    try:
        list(cmpn.iter_chunks(engine, chunk_size=5, progress=False))
    finally:
        cmpn.force_hooks = False
    return {rid: torch.cat(parts) for rid, parts in seen.items()}


def test_output_observers_see_every_round_and_sample(cmpn):
    ref = _observed(cmpn, NaiveEngine())
    assert sorted(ref) == [r.round_id for r in cmpn.rounds]
    assert all(v.shape == (cmpn.num_samples, 10) for v in ref.values())
    for engine, hooks in ((SequentialEngine(), False), (NaiveEngine(), True), (SequentialEngine(), True)):
        got = _observed(cmpn, engine, hooks)
        assert sorted(got) == sorted(ref)
        assert all(torch.equal(got[k], ref[k]) for k in ref), (engine.name, hooks)
    # the dead output neurons never fire: the observers see it
    assert int(ref[0][:, 0].sum()) == 0


def test_the_parallel_engine_refuses_observers(cmpn):
    engine = ParallelEngine()
    engine.add_output_observer(lambda rid, out: None)
    with pytest.raises(ConfigError, match="observers need the naive or sequential engine"):
        list(cmpn.iter_chunks(engine, progress=False))


def test_golden_batches_are_frozen_and_read_by_name(cmpn):
    cmpn.golden()
    g = cmpn.golden_batch(0)
    assert isinstance(g, GoldenBatch)
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.pred = g.pred  # type: ignore[misc]
    assert g["pred"] is g.pred and g["spike_counts"] is g.spike_counts
    with pytest.raises(KeyError):
        g["nothing"]
    assert sum(g.spike_counts.values()) == int(sum(int(m.sum()) for m in g.spikes.values()))


def test_run_options_carry_the_campaign_flags(cmpn):
    assert cmpn.options == RunOptions()
    cmpn.force_hooks = True
    cmpn.keep_predictions = True
    try:
        assert cmpn.options.force_hooks and cmpn.options.keep_predictions
        assert cmpn.force_hooks and cmpn.keep_predictions
    finally:
        cmpn.options = RunOptions()
    assert not cmpn.force_hooks
    with pytest.raises(ConfigError, match="options must be a RunOptions"):
        cmpn.options = {"force_hooks": True}  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="chunk_size must be an int >= 1"):
        RunOptions(chunk_size=0)


def test_run_rounds_gives_the_campaigns_rows(cmpn):
    rows = [row for c in cmpn.iter_chunks("sequential", chunk_size=4, progress=False) for row in c.rows]
    chunks = list(run_rounds(cmpn, cmpn.rounds, RunOptions("sequential", chunk_size=4)))
    assert [c.chunk_index for c in chunks] == [0, 1, 2]
    assert pd.DataFrame([row for c in chunks for row in c.rows]).equals(pd.DataFrame(rows))  # NaN equals NaN


def test_the_engine_registry_is_explicit():
    assert set(ENGINES) >= {"naive", "sequential", "parallel"}
    assert isinstance(get_engine("parallel"), ParallelEngine)
    with pytest.raises(ConfigError, match="unknown engine 'fast'"):
        get_engine("fast")
    with pytest.raises(ConfigError, match="must be an Engine subclass"):
        register_engine("fast", dict)  # type: ignore[arg-type]

    class Loud(NaiveEngine):
        name = "loud"

    register_engine("loud", Loud)
    try:
        assert isinstance(get_engine("loud"), Loud)
    finally:
        del ENGINES["loud"]


def test_the_legacy_module_paths_still_resolve():
    import spikefi.campaign.engines.parallel.engine as parallel_impl
    from spikefi.campaign import engine, inject, parallel, ray_executor
    from spikefi.campaign.executors import ray

    assert parallel is parallel_impl  # the legacy name is the implementation module itself
    assert engine.prepare_round is inject.prepare_round and engine.SequentialEngine is SequentialEngine
    assert ray_executor.RayExecutor is ray.RayExecutor and ray_executor.DIE_HOOK_ENV == ray.DIE_HOOK_ENV
