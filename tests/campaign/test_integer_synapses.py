"""Integer-exact synaptic outputs of int-quantized campaigns (spikefi.campaign.integer_synapses)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

import spikefi.snn as snn
from spikefi.campaign import Campaign
from spikefi.campaign import integer_synapses as isyn
from spikefi.campaign.engines.parallel import engine as par
from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError
from spikefi.faults import (
    AnalogDevices,
    BitFlipSynapse,
    DeadNeuron,
    DeadSynapse,
    Fault,
    PerturbedSynapse,
    SaturatedSynapse,
    Site,
    Window,
)
from spikefi.snn import functional as fn
from spikefi.zoo import load_pretrained


@pytest.fixture(scope="module")
def digits():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    return net.float(), (test.tensors[:16].float(), test.labels[:16])


def _campaign(digits, **kw) -> Campaign:
    net, data = digits
    return Campaign(net, data, batch_size=8, seed=3, **kw)


def _mixed_rounds(cmpn: Campaign) -> None:
    cmpn.exhaustive(BitFlipSynapse(7), layers=["SC2"], sample=40)  # int8 sign bit
    cmpn.exhaustive(DeadSynapse(), layers=["SC1"], sample=8)
    cmpn.exhaustive(BitFlipSynapse(6), layers=["SF3"], sample=30)
    cmpn.then_inject(Fault(PerturbedSynapse(2.0), Site("SC2"), count=3))  # integer codes: exact path
    cmpn.then_inject(Fault(SaturatedSynapse("upper", "extreme"), Site("SF3"), count=2))
    # non-integer weights: those channels (and rounds) keep the float path
    cmpn.then_inject(Fault(PerturbedSynapse(1.3), Site("SC2"), count=2))
    cmpn.then_inject(Fault(PerturbedSynapse(1.3), Site("SC1")))  # one synapse: SC1's entry group keeps the float path
    cmpn.then_inject([Fault(BitFlipSynapse(7), Site("SF3"), count=2), Fault(PerturbedSynapse(1.3), Site("SF3"))])
    cmpn.then_inject(Fault(AnalogDevices(program_sigma=0.1), Site("SC2")))
    cmpn.then_inject(Fault(AnalogDevices(read_sigma=0.1), Site("SF3")))
    # transient and multi-layer rounds
    cmpn.then_inject(Fault(BitFlipSynapse(7), Site("SC1"), Window(5, 20), count=2))
    cmpn.then_inject([Fault(BitFlipSynapse(7), Site("SC1")), Fault(DeadNeuron(), Site("SF3"), count=2)])


def test_engines_identical_on_int8_campaign(digits, monkeypatch):
    cmpn = _campaign(digits, quantization={"dtype": "int8"})
    assert set(cmpn.netmap.integer) == {"SC1", "SC2", "SF3", "SF4"}
    _mixed_rounds(cmpn)
    monkeypatch.setenv(par.SPARSE_ENTRY_ENV, "1")  # sparse entry rows first
    isyn.exact_calls.clear()
    results = {e: cmpn.run(engine=e, progress=False, keep_predictions=True, chunk_size=16)
               for e in ("naive", "sequential", "parallel")}
    counts = dict(isyn.exact_calls)
    # SC2's single-synapse rounds as channel patches (sparse entry rows off): SP2 pools them as
    # windows; with sparse entry rows (above), SP2 pools only the pooled neurons they feed
    monkeypatch.setenv(par.SPARSE_ENTRY_ENV, "0")
    isyn.exact_calls.clear()
    results["parallel, channel patches"] = cmpn.run(engine="parallel", progress=False, keep_predictions=True,
                                                    chunk_size=16)
    assert isyn.exact_calls.get("dense channel delta", 0) > 0  # SF3 rows from SC2 faults: golden sums + one channel
    assert counts.get("pool: changed neurons only", 0) > isyn.exact_calls.get("pool: changed neurons only", 0)
    assert counts.get("dense: changed neurons only", 0) > 0
    assert counts.get("integer", 0) > 50  # the integer path is taken ...
    assert counts.get("entry synapse delta", 0) > 0  # single-synapse rounds: golden sums + one shifted map
    assert counts.get("conv channel delta", 0) > 0  # SC2 rows from SC1 faults: golden sums + one channel's kernel
    assert counts.get("mixed", 0) + counts.get("float:weights", 0) > 0  # ... and the float path where it must be
    ref = results["naive"]
    for e in ("sequential", "parallel", "parallel, channel patches"):
        pd.testing.assert_frame_equal(results[e].table, ref.table, check_exact=True, obj=e)
        assert (results[e].predictions == ref.predictions).all(), e
    assert (ref.table["spike_count_deviation"] > 0).sum() > 40  # the faults do something


def test_golden_uses_integer_path_and_float_campaigns_do_not(digits, monkeypatch):
    calls: list[str] = []
    real = isyn.exact_conv3d

    def spy(*args, **kw):
        calls.append("x")
        return real(*args, **kw)

    import spikefi.campaign.network as network_mod

    monkeypatch.setattr(network_mod, "exact_conv3d", spy)
    plain = _campaign(digits)
    assert plain.netmap.integer == {}
    plain.golden()
    assert calls == []
    q = _campaign(digits, quantization={"dtype": "int8"})
    q.golden()
    assert len(calls) == 4 * 2  # four synaptic layers, two batches
    # the integer path equals the float path wherever no spike sits on the threshold: same accuracy here
    assert q.golden()["accuracy"] == pytest.approx(plain.golden()["accuracy"], abs=0.13)


def test_integer_weights_rule():
    scale = 0.037
    k = torch.randint(-128, 128, (4, 3, 2, 2, 1), generator=torch.Generator().manual_seed(1)).double()
    w = (k * scale).float()
    k2, ok = isyn.integer_weights(w, scale)
    assert ok.all() and torch.equal(k2, k.float())
    w2 = w.clone()
    w2[1, 0, 0, 0, 0] *= 1.3  # a non-integer code in channel 1
    w2[2, 1, 1, 1, 0] *= 2  # twice a code: still an integer
    _, ok2 = isyn.integer_weights(w2, scale)
    assert ok2.tolist() == [True, False, True, True] or bool(k[1, 0, 0, 0, 0] == 0)
    big = torch.full((1, 2 ** 14, 4, 4, 1), 127 * scale).float()  # sum |k| = 2**18 * 127 > 2**24
    assert not isyn.integer_weights(big, scale)[1].any()


def test_golden_plus_one_channel_delta_equals_full_recompute():
    g = torch.Generator().manual_seed(0)
    scale, value = 0.0123, 1 / 6
    layer = isyn.IntegerLayer(scale, value)
    k = torch.randint(-128, 128, (32, 24, 5, 5, 1), generator=g).double()
    w = (k * scale).float()
    x = (torch.rand(6, 24, 5, 5, 20, generator=g) < 0.3).float() * value
    golden = isyn.exact_conv3d(x, w, layer, 1, 0, 1, 1)
    x2 = x.clone()
    c = 7
    x2[:, c] = (torch.rand(6, 5, 5, 20, generator=g) < 0.5).float() * value
    full = isyn.exact_conv3d(x2, w, layer, 1, 0, 1, 1)
    # golden integer sum + the changed channel's contribution, then scaled: the same bits
    k_f = k.float()
    s_gold = torch.round(fn.conv3d((x != 0).float(), k_f))
    diff = (x2[:, c:c + 1] != 0).float() - (x[:, c:c + 1] != 0).float()
    s_new = s_gold + fn.conv3d(diff, k_f[:, c:c + 1])
    delta = s_new * torch.tensor(scale * value, dtype=torch.float32)
    assert torch.equal(delta, full)
    assert not torch.equal(full, golden)
    # and both equal a float64 reference rounded once
    ref = (fn.conv3d((x2 != 0).double(), k) * (scale * value)).float()
    assert torch.allclose(full, ref, rtol=1e-6, atol=0)


def test_non_spike_rows_take_the_float_path():
    scale, value = 0.05, 1.0
    layer = isyn.IntegerLayer(scale, value)
    w = (torch.randint(-20, 20, (3, 2, 3, 3, 1), generator=torch.Generator().manual_seed(3)).double() * scale).float()
    x = (torch.rand(4, 2, 6, 6, 5, generator=torch.Generator().manual_seed(2)) < 0.4).float()
    x[1, 0, 0, 0, 0] = 0.5  # not a spike: row 1 stays float
    isyn.exact_calls.clear()
    out = isyn.exact_conv3d(x, w, layer, 1, 1, 1, 1)
    assert isyn.exact_calls == {"mixed": 1}
    assert torch.equal(out[1], fn.conv3d(x, w, 1, 1, 1, 1)[1])


@pytest.mark.parametrize("sparse_entry", ["1", "0"])
def test_sparse_and_patch_paths_match_naive_on_the_test_device(digits, device, monkeypatch, sparse_entry):
    """The int8 campaign's integer and sparse shortcuts on the test device (``SPIKEFI_TEST_DEVICE``:
    CUDA on the GPU machine, where rows built from golden integer sums are time-major), with
    sparse entry rows forced on and off and fused sums by default: the parallel engine's table and
    predictions equal the naive engine's."""
    monkeypatch.setenv(par.SPARSE_ENTRY_ENV, sparse_entry)
    monkeypatch.delenv(par.FUSED_SUMS_ENV, raising=False)  # CUDA: integer rows fired from their golden sums
    monkeypatch.delenv(par.SUMS_PREFIX_ENV, raising=False)
    monkeypatch.delenv(par.FUSED_COMPARE_ENV, raising=False)
    cmpn = _campaign(digits, quantization={"dtype": "int8"}, device=device)
    cmpn.exhaustive(BitFlipSynapse(7), layers=["SC2"], sample=40)  # sparse entry rows (SP2, SF3), channel patches
    cmpn.exhaustive(DeadSynapse(), layers=["SC1"], sample=12)  # channel patches into SC2: sparse rows, several channels
    cmpn.exhaustive(BitFlipSynapse(7), layers=["SF3"], sample=20)
    isyn.exact_calls.clear()
    par_res = cmpn.run(engine="parallel", progress=False, keep_predictions=True, chunk_size=32)
    assert isyn.exact_calls.get("dense channel delta", 0) > 0 and isyn.exact_calls.get("pool: changed neurons only", 0) > 0
    # on the fused path (CUDA) the integer rows fire straight from their golden sums (fused_fire_sums)
    # (with each row's golden spikes copied before its first change: SPIKEFI_SUMS_PREFIX unset)
    fused = sum(v for k, v in isyn.exact_calls.items() if k.startswith("fused sums: ") and "golden" not in k)
    prefix = sum(v for k, v in isyn.exact_calls.items() if k.startswith("fused sums: ") and k.endswith("golden prefix"))
    assert (fused > 0) == (prefix > 0) == (device.type == "cuda" and snn.path_name(device) == "fused")
    # and rows are compared with golden in one kernel there (fused_compare)
    assert (isyn.exact_calls.get("fused compare", 0) > 0) == (device.type == "cuda" and snn.path_name(device) == "fused")
    naive = cmpn.run(engine="naive", progress=False, keep_predictions=True, chunk_size=32)
    drop = ["seconds"]
    pd.testing.assert_frame_equal(par_res.table.drop(columns=drop, errors="ignore"),
                                  naive.table.drop(columns=drop, errors="ignore"), check_exact=True)
    assert torch.equal(torch.as_tensor(par_res.predictions), torch.as_tensor(naive.predictions))
    assert (naive.table["spike_count_deviation"] > 0).sum() > 0


def test_golden_sums_kept_across_chunks(digits, monkeypatch):
    """The parallel engine keeps each batch's golden integer sums (and golden synaptic outputs)
    from one chunk to the next within a run (``_GoldenCache``): with 6 chunks over 2 batches the
    sums of each (batch, layer) are computed once, not once per chunk; with the cache off
    (``SPIKEFI_GOLDEN_CACHE=0``) or no memory for it they are computed per chunk as before. The
    tables and predictions are the same in the three runs and equal the naive engine's."""
    cmpn = _campaign(digits, quantization={"dtype": "int8"})
    cmpn.exhaustive(BitFlipSynapse(7), layers=["SC2"], sample=24)
    cmpn.exhaustive(DeadSynapse(), layers=["SC1"], sample=12)
    cmpn.exhaustive(BitFlipSynapse(7), layers=["SF3"], sample=12)  # 48 rounds: 6 chunks of 8
    runs, computed = {}, {}
    for label, env, fraction in (("kept", None, par.GOLDEN_CACHE_FRACTION), ("off", "0", par.GOLDEN_CACHE_FRACTION),
                                 ("no memory", "1", 0.0)):
        if env is None:
            monkeypatch.delenv(par.GOLDEN_CACHE_ENV, raising=False)
        else:
            monkeypatch.setenv(par.GOLDEN_CACHE_ENV, env)
        monkeypatch.setattr(par, "GOLDEN_CACHE_FRACTION", fraction)
        isyn.exact_calls.clear()
        runs[label] = cmpn.run(engine="parallel", progress=False, keep_predictions=True, chunk_size=8)
        computed[label] = isyn.exact_calls.get("golden integer sums", 0)
    layers = computed["kept"] // 2  # 16 samples in batches of 8: 2 batches
    assert layers >= 2 and computed["kept"] == 2 * layers, computed
    assert computed["off"] == computed["no memory"] > 2 * computed["kept"], computed  # per chunk: 6x for layers used by all
    naive = cmpn.run(engine="naive", progress=False, keep_predictions=True, chunk_size=8)
    cols = [c for c in naive.table if c != "seconds"]
    for label, res in runs.items():
        pd.testing.assert_frame_equal(res.table[cols], naive.table[cols], check_exact=True, obj=label)
        assert torch.equal(torch.as_tensor(res.predictions), torch.as_tensor(naive.predictions)), label
    monkeypatch.setenv(par.GOLDEN_CACHE_ENV, "on")
    with pytest.raises(ConfigError, match="SPIKEFI_GOLDEN_CACHE.*'on'"):
        cmpn.run(engine="parallel", progress=False, chunk_size=8)


def test_golden_sums_of_interleaved_runs_stay_apart(digits):
    """One parallel engine running two campaigns (other recordings) chunk by chunk in turn: each
    keeps its own golden sums (the caches are per campaign), so each run's rows equal its
    campaign's run alone; the runs' no-grad mode holds inside their chunks only (interleaved
    runs once left gradients off for the rest of the process)."""
    net, (x, y) = digits
    campaigns = [Campaign(net, (x[s], y[s]), batch_size=8, seed=3, quantization={"dtype": "int8"})
                 for s in (slice(0, 8), slice(8, 16))]
    for cmpn in campaigns:
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SC2"], sample=16)
        cmpn.exhaustive(DeadSynapse(), layers=["SC1"], sample=8)
    engine = par.ParallelEngine()
    rows: list[list[dict]] = [[], []]
    assert torch.is_grad_enabled()
    for chunks in zip(*(c.iter_chunks(engine=engine, chunk_size=8, progress=False) for c in campaigns), strict=True):
        assert torch.is_grad_enabled()  # the runs' no-grad mode holds while a chunk is computed, not between
        for k, chunk in enumerate(chunks):
            rows[k].extend(chunk.rows)
    assert not engine.__dict__.get("_golden_caches")  # dropped when the runs end
    assert torch.is_grad_enabled()  # runs that end in another order than they began leave it as it was
    for k, cmpn in enumerate(campaigns):
        alone = cmpn.run(engine="parallel", progress=False, chunk_size=8).table
        together = pd.DataFrame(rows[k]).sort_values("round_id").reset_index(drop=True)
        cols = [c for c in together if c in alone and c != "seconds"]
        assert len(cols) > 10 and (alone["spike_count_deviation"] > 0).any()
        pd.testing.assert_frame_equal(together[cols], alone[cols].reset_index(drop=True), check_exact=True)
