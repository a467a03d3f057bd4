"""The parallel engine's own batch (``SPIKEFI_ENGINE_BATCH``): consecutive batches of the
campaign evaluated as one give the same table and predictions as batch by batch."""

from __future__ import annotations

import pytest

from spikefi.campaign import Campaign
from spikefi.campaign.engines.parallel import engine as par
from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError
from spikefi.faults import BitFlipSynapse, DeadNeuron, DeadSynapse, PerturbedSynapse
from spikefi.zoo import load_pretrained


def _campaign(net, x, y, quantized: bool) -> Campaign:
    cmpn = Campaign(net, (x, y), batch_size=3, seed=5, quantization={"dtype": "int8"} if quantized else None)
    if quantized:
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SC2"], sample=16)
    else:
        cmpn.exhaustive(PerturbedSynapse(3.0), layers=["SC2"], sample=16)
    cmpn.exhaustive(DeadSynapse(), layers=["SF3"], sample=8)
    cmpn.exhaustive(DeadNeuron(), layers=["SC1"], sample=8)
    return cmpn


@pytest.mark.parametrize("quantized", [True, False])
def test_joined_batches_give_the_same_table(monkeypatch, quantized):
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    x, y = test.tensors[:10].float(), test.labels[:10]  # batches of 3, 3, 3, 1
    joined: list[int] = []
    real = par.ParallelEngine.evaluate_chunk

    def spy(self, campaign, prepared, samples, *a, **k):
        joined.append(len(samples))
        return real(self, campaign, prepared, samples, *a, **k)

    monkeypatch.setattr(par.ParallelEngine, "evaluate_chunk", spy)
    results = {}
    for flag in ("", "0", "7"):
        monkeypatch.setenv(par.ENGINE_BATCH_ENV, flag)
        joined.clear()
        results[flag] = _campaign(net.float(), x, y, quantized).run(engine="parallel", progress=False, chunk_size=16, keep_predictions=True)
        sizes = list(joined)
        # unset or 0: the campaign's batches
        assert sizes == ([6, 4] * 2 if flag == "7" else [3, 3, 3, 1] * 2)
    naive = _campaign(net.float(), x, y, quantized).run(engine="naive", progress=False, chunk_size=16, keep_predictions=True)
    drop = ["seconds"]
    for flag in ("", "0", "7"):
        assert results[flag].table.drop(columns=drop, errors="ignore").equals(
            naive.table.drop(columns=drop, errors="ignore")), flag
        assert naive.predictions is not None and (results[flag].predictions == naive.predictions).all()
    assert (naive.table["spike_count_deviation"] > 0).sum() > 0


@pytest.mark.parametrize("raw", ["-4", "many", "2.5", "\u00b2"])
def test_engine_batch_must_be_a_positive_whole_number(monkeypatch, raw):
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    cmpn = _campaign(net.float(), test.tensors[:4].float(), test.labels[:4], False)
    monkeypatch.setenv(par.ENGINE_BATCH_ENV, raw)
    with pytest.raises(ConfigError, match="SPIKEFI_ENGINE_BATCH"):
        cmpn.run(engine="parallel", progress=False)


def test_engine_batch_is_opt_in(monkeypatch):
    """Unset or 0: the campaign's batches on any device; never fewer samples than a batch."""
    from types import SimpleNamespace

    import torch

    cuda = SimpleNamespace(device=torch.device("cuda"), batch_size=256)
    cpu = SimpleNamespace(device=torch.device("cpu"), batch_size=256)
    for raw in (None, "0"):
        if raw is None:
            monkeypatch.delenv(par.ENGINE_BATCH_ENV, raising=False)
        else:
            monkeypatch.setenv(par.ENGINE_BATCH_ENV, raw)
        assert par.engine_batch(cuda) == par.engine_batch(cpu) == 256
    monkeypatch.setenv(par.ENGINE_BATCH_ENV, "512")
    assert par.engine_batch(cpu) == par.engine_batch(cuda) == 512
    monkeypatch.setenv(par.ENGINE_BATCH_ENV, "100")
    assert par.engine_batch(cuda) == 256


def test_a_stack_never_outgrows_the_memory_budget(monkeypatch):
    """Joined batches stop at the rows budget's worst-case rows (one round of the stack
    fits), and never below one batch of the campaign."""
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    cmpn = _campaign(net.float(), test.tensors[:10].float(), test.labels[:10], False)  # batches 3, 3, 3, 1
    monkeypatch.setenv(par.ENGINE_BATCH_ENV, "10")
    for budget, sizes in ((10, [10]), (7, [6, 4]), (1, [3, 3, 3, 1])):
        monkeypatch.setattr(par, "rows_budget", lambda campaign, fraction, b=budget: b)
        assert [len(s) for s, *_ in par.ParallelEngine().golden_batches(cmpn)] == sizes
