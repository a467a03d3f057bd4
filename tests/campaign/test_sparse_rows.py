"""Sparse rows of the parallel engine (rows that differ from golden at a few neurons):
each shortcut is taken and equals the full recomputation of the layer, bit for bit."""

from __future__ import annotations

import pytest
import torch

from spikefi.campaign import Campaign
from spikefi.campaign import integer_synapses as isyn
from spikefi.campaign.engines.parallel import engine as par
from spikefi.campaign.engines.parallel.patches import _Patch, _Sparse
from spikefi.data import load_spiking_digits
from spikefi.faults import BitFlipSynapse, DeadSynapse
from spikefi.zoo import load_pretrained


@pytest.fixture(scope="module")
def setup():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    x, y = test.tensors[:6].float(), test.labels[:6]
    cmpn = Campaign(net.float(), (x, y), batch_size=6, seed=3, quantization={"dtype": "int8"})
    netmap = cmpn.netmap
    golden, prev = {}, x.to(cmpn.dtype)
    with torch.no_grad():
        for name in netmap.order:  # golden spikes per layer, stored as bool like the engine's
            s = netmap.fire(name, netmap.layer_forward(name, prev))
            golden[name] = s != 0
            prev = s
    return cmpn, golden


def _full_layer(cmpn: Campaign, name: str, xin: torch.Tensor) -> torch.Tensor:
    return cmpn.netmap.fire(name, cmpn.netmap.layer_forward(name, xin))


def _check_sparse(out: _Sparse, full: torch.Tensor, golden: torch.Tensor, value: float) -> None:
    """``out`` holds exactly the neurons of ``full`` that differ from golden, and its known
    comparison (spike-count delta, differs) is that of ``full``."""
    assert torch.equal(out.full(golden, full.dtype, value), full)
    moved = ((full != 0) != golden[out.samples]).any(-1)  # (M, C, H, W)
    assert out.row.numel() == int(moved.sum())
    _, delta, differs = out.known
    assert torch.equal(differs, moved.flatten(1).any(1))
    assert torch.equal(delta, (full != 0).flatten(1).sum(1) - golden[out.samples].flatten(1).sum(1))


def _random_sparse(golden: torch.Tensor, rows: int, per_row: int, gen: torch.Generator, value: float) -> _Sparse:
    """Sparse rows at a layer's output: ``per_row`` random neurons per row with new random trains."""
    n, c, h, w, steps = golden.shape
    row = torch.arange(rows).repeat_interleave(per_row)
    flat = torch.stack([torch.randperm(c * h * w, generator=gen)[:per_row] for _ in range(rows)]).flatten()
    trains = (torch.rand(row.numel(), steps, generator=gen) < 0.3).float() * value
    return _Sparse(torch.arange(rows), torch.randint(0, n, (rows,), generator=gen), row,
                   flat // (h * w), (flat // w) % h, flat % w, trains)


@pytest.fixture(params=["one slice", "many slices"])
def slices(request, monkeypatch):
    """The default slice budget, and one so small that rows, positions and sparse rows are
    processed in many parts (each part's result must be the same)."""
    if request.param == "many slices":
        monkeypatch.setattr(par, "_SLICE_ELEMS", 4000)
    return request.param


@pytest.fixture(params=["time last", "time-major"])
def layout(request, monkeypatch):
    """Rows built from the golden integer sums with time last (the CPU's layout), or time-major
    (the fused kernel's, on CUDA: forced here) in memory; the spikes must be the same."""
    calls: list[int] = []
    if request.param == "time-major":
        monkeypatch.setattr(par, "_time_major_rows", lambda netmap, gold: True)
        original = par._time_major_sums
        monkeypatch.setattr(par, "_time_major_sums", lambda *a: calls.append(1) or original(*a))
    return request.param, calls


def test_conv_channel_rows_fire_only_changed_neurons(setup, slices, layout):
    cmpn, golden = setup
    value = cmpn.netmap.spike_value
    gen = torch.Generator().manual_seed(5)
    g_in = golden["SP1"]  # SC2's input
    m = 8
    samples = torch.randint(0, g_in.shape[0], (m,), generator=gen)
    channel = torch.randint(0, g_in.shape[1], (m,), generator=gen)
    patch = (torch.rand(m, 1, *g_in.shape[2:], generator=gen) < 0.25).float() * value
    zero = torch.zeros(m, dtype=torch.long)
    rows = _Patch(torch.arange(m), samples, patch, zero, zero.clone(), channel=channel)
    isyn.exact_calls.clear()
    out = par._plain_rows(cmpn, "SC2", rows, g_in, value, True, {}, golden["SC2"])
    assert isyn.exact_calls.get("conv channel delta: changed neurons only", 0) == len(out)
    assert bool(layout[1]) == (layout[0] == "time-major")
    assert (len(out) == 1) == (slices == "one slice") and all(isinstance(o, _Sparse) for o in out)
    merged = par._merge(out)[0]
    merged.known = (None, torch.cat([o.known[1] for o in out]), torch.cat([o.known[2] for o in out]))
    full = _full_layer(cmpn, "SC2", rows.full(g_in, cmpn.dtype, value))
    _check_sparse(merged, full, golden["SC2"], value)
    assert 0 < merged.row.numel() < full[0].numel() // full.shape[-1] * m  # non-trivial and sparse


def test_pool_recomputes_only_the_pooled_neurons_fed(setup, slices):
    cmpn, golden = setup
    value = cmpn.netmap.spike_value
    gen = torch.Generator().manual_seed(6)
    rows = _random_sparse(golden["SC2"], 7, 5, gen, value)
    isyn.exact_calls.clear()
    out = par._plain_rows(cmpn, "SP2", rows, golden["SC2"], value, True, {}, golden["SP2"])
    assert isyn.exact_calls.get("pool: changed neurons only", 0) == len(out)
    assert (len(out) == 1) == (slices == "one slice") and all(isinstance(o, _Sparse) for o in out)
    merged = par._merge(out)[0]
    merged.known = (None, torch.cat([o.known[1] for o in out]), torch.cat([o.known[2] for o in out]))
    full = _full_layer(cmpn, "SP2", rows.full(golden["SC2"], cmpn.dtype, value))
    _check_sparse(merged, full, golden["SP2"], value)
    assert merged.row.numel() > 0


def test_dense_adds_changed_neurons_to_golden_integer_sums(setup, slices, layout):
    cmpn, golden = setup
    value = cmpn.netmap.spike_value
    gen = torch.Generator().manual_seed(7)
    rows = _random_sparse(golden["SP2"], 9, 4, gen, value)
    isyn.exact_calls.clear()
    out = par._plain_rows(cmpn, "SF3", rows, golden["SP2"], value, True, {}, golden["SF3"])
    assert isyn.exact_calls.get("dense: changed neurons only", 0) == len(out)
    assert bool(layout[1]) == (layout[0] == "time-major")
    assert (len(out) == 1) == (slices == "one slice") and all(isinstance(o, _Patch) for o in out)
    full = _full_layer(cmpn, "SF3", rows.full(golden["SP2"], cmpn.dtype, value))
    assert torch.equal(torch.cat([o.patch for o in out]), full)
    assert torch.equal(torch.cat([o.samples for o in out]), rows.samples)
    assert not torch.equal(full != 0, golden["SF3"][rows.samples])  # the change reaches SF3


def test_dense_takes_one_channel_rows_as_channel_patches(setup, slices, layout):
    """Sparse rows whose changed neurons lie in one channel (a conv single-synapse round's, after
    pooling) go through the channel delta, the others through the sparse product; every row
    equals the full layer."""
    cmpn, golden = setup
    value = cmpn.netmap.spike_value
    gen = torch.Generator().manual_seed(8)
    mixed = _random_sparse(golden["SP2"], 6, 5, gen, value)  # 5 random neurons of any channel per row
    one = _random_sparse(golden["SP2"], 7, 5, gen, value)
    n_ch = golden["SP2"].shape[1]
    one.c = torch.randint(0, n_ch, (7,), generator=gen).repeat_interleave(5)  # one channel per row
    h, w = golden["SP2"].shape[2:4]
    flat = torch.stack([torch.randperm(h * w, generator=gen)[:5] for _ in range(7)]).flatten()  # distinct per row
    one.h, one.w = flat // w, flat % w
    assert bool((mixed.c.view(6, 5) != mixed.c.view(6, 5)[:, :1]).any(1).all())  # several channels per row
    rows = par._merge([one, _Sparse(mixed.rounds + 7, mixed.samples, mixed.row, mixed.c, mixed.h, mixed.w,
                                    mixed.trains)])[0]
    isyn.exact_calls.clear()
    out = par._plain_rows(cmpn, "SF3", rows, golden["SP2"], value, True, {}, golden["SF3"])
    assert isyn.exact_calls.get("dense channel delta", 0) > 0 and isyn.exact_calls.get("dense: changed neurons only", 0) > 0
    assert sum(o.rounds.numel() for o in out) == 13  # every row once
    got = {int(r): (int(s), p) for o in out for r, s, p in zip(o.rounds, o.samples, o.patch, strict=True)}
    assert sorted(got) == list(range(13))
    full = _full_layer(cmpn, "SF3", rows.full(golden["SP2"], cmpn.dtype, value))
    for i, r in enumerate(rows.rounds.tolist()):
        assert got[r][0] == int(rows.samples[i]) and torch.equal(got[r][1], full[i])
    assert not torch.equal(full != 0, golden["SF3"][rows.samples])  # the change reaches SF3


def test_sparse_rows_select_merge_and_fallback(setup):
    cmpn, golden = setup
    value = cmpn.netmap.spike_value
    gen = torch.Generator().manual_seed(8)
    a = _random_sparse(golden["SC2"], 4, 3, gen, value)
    b = _random_sparse(golden["SC2"], 3, 2, gen, value)
    merged = par._merge([a, b])
    assert len(merged) == 1
    both = torch.cat([a.full(golden["SC2"], cmpn.dtype, value), b.full(golden["SC2"], cmpn.dtype, value)])
    assert torch.equal(merged[0].full(golden["SC2"], cmpn.dtype, value), both)
    mask = torch.tensor([True, False, True, False, False, True, True])
    assert torch.equal(merged[0].select(mask).full(golden["SC2"], cmpn.dtype, value), both[mask])
    # without the layer's golden spikes the pool takes sparse rows as whole rows, and so does a
    # conv layer (no sparse shortcut): still the full layer's result
    out = par._plain_rows(cmpn, "SP2", a, golden["SC2"], value, True, {}, None)
    full = _full_layer(cmpn, "SP2", a.full(golden["SC2"], cmpn.dtype, value))
    assert torch.equal(out[0].full(golden["SP2"], cmpn.dtype, value), full)
    c = _random_sparse(golden["SP1"], 3, 4, gen, value)
    out = par._plain_rows(cmpn, "SC2", c, golden["SP1"], value, True, {}, golden["SC2"])
    full = _full_layer(cmpn, "SC2", c.full(golden["SP1"], cmpn.dtype, value))
    assert torch.equal(torch.cat([o.full(golden["SC2"], cmpn.dtype, value) for o in out]), full)


def test_entry_of_single_synapse_rounds_fires_only_fed_neurons(setup, monkeypatch):
    """Channel patches out of the entry (sparse entry rows are checked by the next test)."""
    cmpn0, _ = setup
    monkeypatch.setenv(par.SPARSE_ENTRY_ENV, "0")
    captured: dict[bool, list[_Patch]] = {True: [], False: []}
    real = par._entry_synapse_group

    def spy(campaign, prepared, rounds, layer, golden, *a, **k):
        out = real(campaign, prepared, rounds, layer, golden, *a, **k)
        if out.known is not None:  # the comparison the engine skips equals the one it would make
            diff_map, delta, differs = par._compare(out, golden.spikes[campaign.netmap.order[layer]])
            assert torch.equal(out.known[0], diff_map) and torch.equal(out.known[1], delta)
            assert bool(differs.all())
        captured[sparse].append(out)
        return out

    monkeypatch.setattr(par, "_entry_synapse_group", spy)
    for sparse in (True, False):
        if not sparse:
            monkeypatch.setattr(par, "_neuronwise", lambda netmap: False)
        cmpn = Campaign(cmpn0.net, (cmpn0.x, cmpn0.y), batch_size=6, seed=3, quantization={"dtype": "int8"})
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SC1"], sample=20)
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SC2"], sample=20)
        isyn.exact_calls.clear()
        cmpn.run(engine="parallel", progress=False, chunk_size=80)
        assert (isyn.exact_calls.get("entry synapse delta: changed neurons only", 0) > 0) == sparse
    assert len(captured[True]) == len(captured[False]) == 2  # SC1 and SC2 entries
    for s, d in zip(captured[True], captured[False], strict=True):
        assert s.known is not None and d.known is None
        assert s.rounds.numel() > 0
        for f in ("rounds", "samples", "channel", "patch", "h0", "w0"):
            assert torch.equal(getattr(s, f), getattr(d, f)), f


def test_entry_rows_go_sparse_where_the_next_layers_take_them(setup, monkeypatch):
    """Single-synapse rounds of SC2 (then a sum pool and an integer dense layer) and of SF3
    (then an integer dense layer) leave it as sparse rows holding exactly the neurons the
    channel patches change, with the same known comparison; SC1's (a conv layer two layers
    on) stay channel patches. The tables are those of the channel patches and of the naive
    engine."""
    cmpn0, golden = setup
    value = cmpn0.netmap.spike_value
    netmap = cmpn0.netmap
    assert [par._sparse_consumer(netmap, i) for i in range(len(netmap.order) + 1)] == [
        False, False, False, True, True, True, False]  # SP2 (then SF3), SF3, SF4; not SP1 (then SC2)
    captured: dict[str, list] = {"1": [], "0": []}
    real = par._entry_synapse_group
    flag = "1"

    def spy(campaign, prepared, rounds, layer, *a, **k):
        out = real(campaign, prepared, rounds, layer, *a, **k)
        captured[flag].append((campaign.netmap.order[layer], out))
        return out

    monkeypatch.setattr(par, "_entry_synapse_group", spy)
    shortcuts: list[bool] = []  # whether each sparse pool / sparse-into-dense call took its shortcut

    def recording(real):
        def taken(*a, **k):
            out = real(*a, **k)
            shortcuts.append(out is not None)
            return out
        return taken

    for fn_name in ("_sparse_pool", "_sparse_into_dense"):
        monkeypatch.setattr(par, fn_name, recording(getattr(par, fn_name)))
    tables = {}
    for flag in ("1", "0"):
        monkeypatch.setenv(par.SPARSE_ENTRY_ENV, flag)
        cmpn = Campaign(cmpn0.net, (cmpn0.x, cmpn0.y), batch_size=6, seed=3, quantization={"dtype": "int8"})
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SC1"], sample=20)
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SC2"], sample=30)
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SF3"], sample=30)
        shortcuts.clear()
        tables[flag] = cmpn.run(engine="parallel", progress=False, chunk_size=50).table
        if flag == "1":  # the sparse entry rows go on as such: never made whole
            assert len(shortcuts) >= 2 and all(shortcuts)
    naive = Campaign(cmpn0.net, (cmpn0.x, cmpn0.y), batch_size=6, seed=3, quantization={"dtype": "int8"})
    naive.exhaustive(BitFlipSynapse(7), layers=["SC1"], sample=20)
    naive.exhaustive(BitFlipSynapse(7), layers=["SC2"], sample=30)
    naive.exhaustive(BitFlipSynapse(7), layers=["SF3"], sample=30)
    tables["naive"] = naive.run(engine="naive", progress=False, chunk_size=50).table
    kinds = {name: type(out).__name__ for name, out in captured["1"]}
    assert kinds == {"SC1": "_Patch", "SC2": "_Sparse", "SF3": "_Sparse"}
    for (name, on), (_, off) in zip(captured["1"], captured["0"], strict=True):
        assert isinstance(off, _Patch)
        if name == "SC1":
            continue
        assert on.rounds.numel() > 0 and torch.equal(on.rounds, off.rounds) and torch.equal(on.samples, off.samples)
        assert bool((on.row[1:] >= on.row[:-1]).all())  # entries ordered by row
        full_off = off.full(golden[name], cmpn0.dtype, value)
        _check_sparse(on, full_off, golden[name], value)
        assert torch.equal(on.known[1], off.known[1])
    drop = ["seconds"]
    assert tables["1"].drop(columns=drop, errors="ignore").equals(tables["0"].drop(columns=drop, errors="ignore"))
    assert tables["1"].drop(columns=drop, errors="ignore").equals(tables["naive"].drop(columns=drop, errors="ignore"))
    assert (tables["1"]["spike_count_deviation"] > 0).sum() > 0


def test_parts_never_split_a_row_and_order_entries(setup, monkeypatch):
    cmpn, golden = setup
    value = cmpn.netmap.spike_value
    gen = torch.Generator().manual_seed(9)
    rows = _random_sparse(golden["SC2"], 6, 7, gen, value)
    perm = torch.randperm(rows.row.numel(), generator=gen)  # entries out of row order
    shuffled = _Sparse(rows.rounds, rows.samples, rows.row[perm], rows.c[perm], rows.h[perm], rows.w[perm],
                       rows.trains[perm])
    monkeypatch.setattr(par, "_SLICE_ELEMS", 500)
    parts = par._sparse_parts(shuffled, 30, 0)  # 16 entries per part at most: rows of 7 entries
    assert len(parts) == 3 and [p.rounds.numel() for p in parts] == [2, 2, 2]
    whole = torch.cat([p.full(golden["SC2"], cmpn.dtype, value) for p in parts])
    assert torch.equal(whole, rows.full(golden["SC2"], cmpn.dtype, value))


def test_sub_chunks_share_the_golden_integer_sums(setup, monkeypatch):
    cmpn0, _ = setup
    seen: list[tuple[object, object]] = []
    real_many = par.ParallelEngine.evaluate_many

    def many(self, campaign, prepared, samples, x, y, golden, stats, integer_sums=None):
        seen.append((golden, integer_sums))
        return real_many(self, campaign, prepared, samples, x, y, golden, stats, integer_sums=integer_sums)

    tables = []
    for budget in (None, 1):
        if budget is not None:
            monkeypatch.setattr(par, "rows_budget", lambda campaign, fraction=0.25: 1)
            monkeypatch.setattr(par.ParallelEngine, "evaluate_many", many)
        cmpn = Campaign(cmpn0.net, (cmpn0.x, cmpn0.y), batch_size=3, seed=3, quantization={"dtype": "int8"})
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SC1"], sample=6)
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SC2"], sample=6)
        tables.append(cmpn.run(engine="parallel", progress=False, chunk_size=12, keep_predictions=True))
    assert len(seen) > 2 * 2  # several sub-chunks per batch (two batches)
    per_batch: dict[int, list[object]] = {}
    for golden, sums in seen:
        per_batch.setdefault(id(golden), []).append(sums)
    assert len(per_batch) == 2
    first, second = (v for v in per_batch.values())
    assert isinstance(first[0], dict) and first[0] is not second[0]  # one dict per batch ...
    assert all(d is first[0] for d in first) and all(d is second[0] for d in second)  # ... for all its sub-chunks
    assert tables[0].table.equals(tables[1].table)
    assert (tables[0].predictions == tables[1].predictions).all()


def test_rows_without_changed_neurons(setup):
    cmpn, golden = setup
    value = cmpn.netmap.spike_value
    g_in = golden["SP1"]
    zero = torch.zeros(2, dtype=torch.long)
    same = _Patch(torch.arange(2), torch.tensor([0, 1]), g_in[[0, 1]][:, 2:3].float() * value, zero, zero.clone(),
                  channel=torch.tensor([2, 2]))  # channel patches equal to golden
    out = par._plain_rows(cmpn, "SC2", same, g_in, value, True, {}, golden["SC2"])
    assert out[0].row.numel() == 0 and not out[0].known[2].any() and not out[0].known[1].any()
    empty = par._plain_rows(cmpn, "SP2", out[0], golden["SC2"], value, True, {}, golden["SP2"])
    assert empty[0].row.numel() == 0


def test_sparse_rows_switch_off_gives_the_same_table(setup, monkeypatch):
    """``SPIKEFI_SPARSE_ROWS=0`` (for on/off measurements) keeps rows whole; the table is the same."""
    cmpn0, _ = setup
    tables, calls = {}, {}
    for flag in ("1", "0"):
        monkeypatch.setenv(par.SPARSE_ROWS_ENV, flag)
        cmpn = Campaign(cmpn0.net, (cmpn0.x, cmpn0.y), batch_size=6, seed=3, quantization={"dtype": "int8"})
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SC2"], sample=24)
        isyn.exact_calls.clear()
        result = cmpn.run(engine="parallel", progress=False, chunk_size=12)
        tables[flag] = result.table.drop(columns=["seconds"], errors="ignore")
        calls[flag] = sum(v for k, v in isyn.exact_calls.items() if "changed neurons only" in k)
    assert calls["1"] > 0 and calls["0"] == 0
    assert tables["1"].equals(tables["0"])


def test_time_major_rows_give_the_same_table(setup, monkeypatch):
    """Rows built time-major from the golden integer sums (the layout the fused kernel reads
    coalesced; forced here on the CPU) give the same table as rows with time last in a campaign
    (its rows take the dense channel delta; the conv channel and sparse dense deltas are checked
    against the full layer by the unit tests above, in both layouts)."""
    cmpn0, _ = setup
    tables, calls = {}, {}
    count: list[int] = []
    original = par._time_major_sums
    for forced in (False, True):
        if forced:
            monkeypatch.setattr(par, "_time_major_rows", lambda netmap, gold: True)
            monkeypatch.setattr(par, "_time_major_sums", lambda *a: count.append(1) or original(*a))
        cmpn = Campaign(cmpn0.net, (cmpn0.x, cmpn0.y), batch_size=6, seed=3, quantization={"dtype": "int8"})
        cmpn.exhaustive(BitFlipSynapse(7), layers=["SC1", "SC2"], sample=24)
        cmpn.exhaustive(DeadSynapse(), layers=["SF3"], sample=12)
        result = cmpn.run(engine="parallel", progress=False, chunk_size=12)
        tables[forced] = result.table.drop(columns=["seconds"], errors="ignore")
        calls[forced] = len(count)
        count.clear()
    assert calls[True] > 0
    assert tables[True].equals(tables[False])
    assert (tables[False]["spike_count_deviation"] > 0).sum() > 0


def test_time_major_copy_of_the_sums_is_kept_per_layer(setup):
    """The channels-last copy of a layer's golden integer sums is made once per batch and per
    layer (two layers in one batch's dict do not share it), with the same values."""
    conv = torch.randn(3, 4, 5, 6, 7)
    dense = torch.randn(3, 8, 7)
    sums: dict = {"SC2": conv, "SF3": dense}
    a = par._time_major_sums(sums, "SC2", conv)
    b = par._time_major_sums(sums, "SF3", dense)
    assert a.is_contiguous() and tuple(a.shape) == (3, 5, 6, 7, 4) and torch.equal(a, conv.permute(0, 2, 3, 4, 1))
    assert tuple(b.shape) == (3, 7, 8) and torch.equal(b, dense.transpose(1, 2))
    assert par._time_major_sums(sums, "SC2", conv) is a and len(sums) == 4


def test_time_major_rows_only_where_the_layer_fires_through_the_fused_kernel(setup, monkeypatch):
    """Time-major rows only where the layer's spikes come from the fused kernel: the reference
    path's psp is a matrix product whose summation may follow the memory layout."""
    cmpn, _ = setup
    gold = torch.zeros(2, 3, 30)
    assert not par._time_major_rows(cmpn.netmap, gold)  # the CPU: the reference path
    slayer = type(cmpn.netmap.slayer)
    monkeypatch.setattr(slayer, "_fuses", lambda self, a, replaced_ok=False: True)
    assert par._time_major_rows(cmpn.netmap, gold)
    monkeypatch.setenv(par.TIME_MAJOR_ROWS_ENV, "0")
    assert not par._time_major_rows(cmpn.netmap, gold)


def test_sparse_entry_default_is_by_device_and_bad_values_are_refused(monkeypatch):
    """Unset: sparse entry rows on the CPU, channel patches on CUDA (measured, see
    ``_sparse_entry_on``); 0 and 1 force either on any device; anything else is refused."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.delenv(par.SPARSE_ENTRY_ENV, raising=False)
    assert par._sparse_entry_on(cpu) and not par._sparse_entry_on(cuda)
    for flag, on in (("1", True), (" 0 ", False)):
        monkeypatch.setenv(par.SPARSE_ENTRY_ENV, flag)
        assert par._sparse_entry_on(cpu) is on and par._sparse_entry_on(cuda) is on
    for bad in ("yes", "off", "2"):
        monkeypatch.setenv(par.SPARSE_ENTRY_ENV, bad)
        with pytest.raises(ValueError, match=f"SPIKEFI_SPARSE_ENTRY must be .*got '{bad}'"):
            par._sparse_entry_on(cpu)


def test_fused_sums_unless_switched_off_and_where_the_layer_fires_fused(setup, monkeypatch):
    """Integer rows fire from their golden sums (``_sums_fuse``) unless ``SPIKEFI_FUSED_SUMS=0``,
    where the layer fires through the fused kernel, with one threshold and the change and
    scale of the sums' dtype and device; bad values of the switch are refused."""
    cmpn, _ = setup
    gold = torch.zeros(2, 3, 30)
    change, scale = torch.zeros(2, 30, 3), torch.tensor(0.5)
    monkeypatch.delenv(par.FUSED_SUMS_ENV, raising=False)
    assert par._fused_sums_on()  # on by default (on the fused path)
    monkeypatch.setenv(par.FUSED_SUMS_ENV, "1")
    assert not par._sums_fuse(cmpn.netmap, gold, change, scale)  # the CPU: the reference path fires
    monkeypatch.setattr(type(cmpn.netmap.slayer), "_fuses", lambda self, a, replaced_ok=False: True)
    assert par._sums_fuse(cmpn.netmap, gold, change, scale)
    assert not par._sums_fuse(cmpn.netmap, gold, change.double(), scale)
    monkeypatch.setenv(par.FUSED_SUMS_ENV, "0")
    assert not par._sums_fuse(cmpn.netmap, gold, change, scale)
    monkeypatch.setenv(par.FUSED_SUMS_ENV, "1")
    monkeypatch.setattr(type(cmpn.netmap), "neuron", lambda self: {"theta": torch.full((3,), 5.0)})
    assert not par._sums_fuse(cmpn.netmap, gold, change, scale)  # per-neuron thresholds
    monkeypatch.undo()
    for bad in ("yes", "2"):
        monkeypatch.setenv(par.FUSED_SUMS_ENV, bad)
        with pytest.raises(ValueError, match=f"SPIKEFI_FUSED_SUMS must be .*got '{bad}'"):
            par._fused_sums_on()


def test_golden_prefix_addresses_each_rows_golden_spikes(monkeypatch):
    """``_golden_at`` gives fused sums each row's golden spikes: ``spikes[base + f*ks_f +
    t*ks_t]`` is the layer's golden spike of the row's sample and position (its features the
    channels, or one given channel); none without golden spikes or with
    ``SPIKEFI_SUMS_PREFIX=0``; bad values of the switch are refused."""
    g = torch.Generator().manual_seed(4)
    spikes = torch.rand(3, 4, 5, 6, 7, generator=g) < 0.5  # (B, C, H, W, T)
    smp, hh, ww = torch.tensor([2, 0, 1]), torch.tensor([4, 1, 0]), torch.tensor([5, 2, 3])
    monkeypatch.delenv(par.SUMS_PREFIX_ENV, raising=False)
    flat = spikes.flatten()
    k, base, (ks_f, ks_t) = par._golden_at(spikes, (smp, hh, ww))
    assert k is spikes
    f, t = torch.arange(4), torch.arange(7)
    got = flat[base[:, None, None] + f[None, :, None] * ks_f + t[None, None, :] * ks_t]
    assert torch.equal(got, spikes[smp, :, hh, ww])
    ch = torch.tensor([3, 0, 2])
    _, base, (ks_f, ks_t) = par._golden_at(spikes, (smp, hh, ww), ch)
    assert ks_f == 0 and torch.equal(flat[base[:, None] + t[None] * ks_t], spikes[smp, ch, hh, ww])
    dense = spikes[:, :, :1, :1]  # a dense layer's (B, C, 1, 1, T), a view into the same memory
    _, base, (ks_f, ks_t) = par._golden_at(dense, (smp,))
    got = flat[base[:, None, None] + f[None, :, None] * ks_f + t[None, None, :] * ks_t]
    assert torch.equal(got, dense[smp, :, 0, 0])
    assert par._golden_at(None, (smp,)) is None
    monkeypatch.setenv(par.SUMS_PREFIX_ENV, "0")
    assert par._golden_at(spikes, (smp, hh, ww)) is None
    monkeypatch.setenv(par.SUMS_PREFIX_ENV, "1")
    assert par._golden_at(spikes, (smp, hh, ww)) is not None
    monkeypatch.setenv(par.SUMS_PREFIX_ENV, "on")
    with pytest.raises(ValueError, match="SPIKEFI_SUMS_PREFIX must be .*got 'on'"):
        par._golden_at(spikes, (smp,))
