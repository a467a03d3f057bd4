"""Where the realistic synapse campaign spends its time (issue 29): per layer and phase.

The workload of ``nmnist_real_throughput.py --workload synapses`` (zoo ``nmnist_cnn``, int8 golden,
SC3 synapses as sign-bit flips and SC2 synapses dead, real recordings), or a seeded ``--rounds``
subset of it (half SC3, half SC2), or with ``--workload a|b|b'|c`` a workload of the GPU suite
(``campaign_throughput.py --suite gpu``: SpikeFI's N-MNIST CNN, 256 synthetic inputs, the fault
sites of ../shared/spikefi_baseline). Three measurements on the same campaign:

1. **plain**: the parallel engine's evaluation, wall seconds and faults x samples per second;
2. **phases**: the same run with the engine's steps wrapped (the device synchronised around
   each, so GPU time lands in the step that queued it): seconds per (step, layer), and counters:
   rows entering each layer, rows dropped as equal to golden after it, patch shapes (window
   sizes), sub-chunks the memory budget made, rows per sub-chunk against the budget;
3. **kernels** (CUDA, ``--kernels``): a torch.profiler table of one chunk's device kernels, and
   the share of the wall time the device was busy (kernel time vs Python/launch time).

Run::

    PYTHONPATH=. python benchmarks/synapse_profile.py --rounds 4096 --json out.json       # a GPU
    PYTHONPATH=. python benchmarks/synapse_profile.py --device cpu --rounds 32 --samples 8  # smoke test
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import SHARED, gpu_workloads, nmnist_inputs, sync  # noqa: E402
from benchmarks.nmnist_real_throughput import realistic_inputs, synapse_campaign  # noqa: E402
from spikefi.campaign import Campaign  # noqa: E402
from spikefi.campaign.engines.parallel import engine as par  # noqa: E402
from spikefi.zoo import load_pretrained  # noqa: E402


class Phases:
    """Wraps the parallel engine's steps; seconds and counters per (step, layer)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.rows_in: dict[str, int] = defaultdict(int)
        self.rows_kept: dict[str, int] = defaultdict(int)
        self.shapes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.subchunks: list[tuple[int, float, float]] = []
        self._depth = 0
        self._saved: list[tuple[Any, str, Any]] = []

    def _wrap(self, owner: Any, attr: str, key: Callable[..., str], after: Callable[..., None] | None = None) -> None:
        original = getattr(owner, attr)
        phases = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if phases._depth:
                return original(*args, **kwargs)
            label = key(*args, **kwargs)
            phases._depth += 1
            try:
                out = phases._step(label, lambda: original(*args, **kwargs))
            finally:
                phases._depth -= 1
            if after is not None and phases.counting:
                after(label, out, *args, **kwargs)
            return out

        self._saved.append((owner, attr, inspect.getattr_static(owner, attr)))  # staticmethods stay static
        setattr(owner, attr, staticmethod(wrapper) if isinstance(owner, type) else wrapper)

    #: whether the wrapped steps' counters (rows, shapes, comparisons) are kept
    counting = True

    def _step(self, label: str, call: Callable[[], Any]) -> Any:
        """Runs one wrapped step: timed, the device synchronised around it."""
        sync(self.device)
        t0 = time.perf_counter()
        out = call()
        sync(self.device)
        self.seconds[label] += time.perf_counter() - t0
        self.calls[label] += 1
        return out

    def __enter__(self) -> Phases:
        def plain_after(label: str, out: list[Any], campaign: Any, name: str, rows: Any, *a: Any, **k: Any) -> None:
            self.rows_in[name] += int(rows.rounds.numel())
            for p in out:
                if isinstance(p, par._Sparse):  # rows that differ at a few neurons
                    self.shapes[name]["sparse"] += int(p.rounds.numel())
                    self.shapes[name]["sparse: neurons differing"] += int(p.row.numel())
                    continue
                shape = "x".join(str(v) for v in p.patch.shape[1:4]) + ("/ch" if p.channel is not None else "")
                self.shapes[name][shape] += int(p.rounds.numel())

        def entry_after(label: str, out: Any, campaign: Any, prepared: Any, rounds: list[int], layer: int,
                        *a: Any, **k: Any) -> None:
            name = campaign.netmap.order[layer]
            self.rows_in[f"{name} (entry: rounds x samples)"] += len(rounds) * int(a[0].spikes[name].shape[0])
            self.rows_kept[f"{name} (entry)"] += int(out.rounds.numel())

        def compare_after(label: str, out: Any, group: Any, g_spikes: Any) -> None:
            self.rows_kept["compared: rows differing"] += int(out[2].sum())
            self.rows_in["compared: rows"] += int(out[2].numel())

        self._wrap(par, "_plain_rows", lambda c, name, *a, **k: f"plain rows {name}", plain_after)
        self._wrap(par, "_entry_synapse_group",
                   lambda c, prepared, rounds, layer, *a, **k: f"entry synapse group {c.netmap.order[layer]}",
                   entry_after)
        self._wrap(par, "_entry_group", lambda c, prepared, rounds, name, *a, **k: f"entry neuron group {name}")
        self._wrap(par, "_compare", lambda group, g: "compare with golden", compare_after)
        self._wrap(par, "_merge", lambda groups: "merge groups")
        self._wrap(par, "_boxes", lambda m: "boxes")
        self._wrap(par.ParallelEngine, "_finish_many", lambda *a, **k: "finish (scores, predictions, stats)")
        self._wrap(par.ParallelEngine, "_faulty_rows", lambda c, prep, name, *a, **k: f"faulty rows {name}")
        self._wrap(par.ParallelEngine, "_entry_rows",
                   lambda c, prep, layer, *a, **k: f"entry rows (per round) {c.netmap.order[layer]}")
        original_many = par.ParallelEngine.evaluate_many
        phases = self

        def many(engine: Any, campaign: Any, prepared: Any, samples: list[int], *a: Any, **k: Any) -> Any:
            sync(phases.device)
            t0 = time.perf_counter()
            out = original_many(engine, campaign, prepared, samples, *a, **k)
            sync(phases.device)
            phases.seconds["evaluate_many (all of it)"] += time.perf_counter() - t0
            phases.calls["evaluate_many (all of it)"] += 1
            phases.subchunks.append((len(prepared), len(prepared) * len(samples), time.perf_counter() - t0))
            return out

        self._saved.append((par.ParallelEngine, "evaluate_many", original_many))
        par.ParallelEngine.evaluate_many = many  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, attr, original in reversed(self._saved):
            setattr(owner, attr, original)

    def report(self, wall: float) -> dict[str, Any]:
        total = self.seconds.get("evaluate_many (all of it)", 0.0)
        print(f"\n## phases (device synchronised around each step; instrumented wall {wall:.2f} s, "
              f"evaluate_many {total:.2f} s)")
        rows = sorted(((k, v) for k, v in self.seconds.items() if k != "evaluate_many (all of it)"),
                      key=lambda kv: -kv[1])
        for k, v in rows:
            print(f"  {k:<44} {v:8.3f} s  {100 * v / max(wall, 1e-9):5.1f} %  calls {self.calls[k]:,}")
        inside = sum(v for _, v in rows)
        print(f"  {'(rest of evaluate_many: glue, stats, host)':<44} {total - inside:8.3f} s  "
              f"{100 * (total - inside) / max(wall, 1e-9):5.1f} %")
        print(f"  {'(outside evaluate_many: chunking, rounds)':<44} {wall - total:8.3f} s  "
              f"{100 * (wall - total) / max(wall, 1e-9):5.1f} %")
        print("\n## rows")
        for k in sorted(set(self.rows_in) | set(self.rows_kept)):
            print(f"  {k:<44} in {self.rows_in.get(k, 0):>12,}  kept/differing {self.rows_kept.get(k, 0):>12,}")
        print("\n## patch shapes (C x h x w, '/ch': one channel) produced per layer, rows")
        for name, shapes in self.shapes.items():
            print(f"  {name}: " + ", ".join(f"{s} {n:,}" for s, n in sorted(shapes.items(), key=lambda kv: -kv[1])))
        n = len(self.subchunks)
        if n:
            rows_per = [s[1] for s in self.subchunks]
            print(f"\n## sub-chunks: {n}; rounds per sub-chunk {min(s[0] for s in self.subchunks)}-"
                  f"{max(s[0] for s in self.subchunks)}; (round, sample) rows per sub-chunk {min(rows_per):,}-"
                  f"{max(rows_per):,}")
        return {"seconds": dict(self.seconds), "calls": dict(self.calls), "rows_in": dict(self.rows_in),
                "rows_kept": dict(self.rows_kept), "shapes": {k: dict(v) for k, v in self.shapes.items()},
                "subchunks": self.subchunks, "instrumented_wall_s": wall}


class Labels(Phases):
    """The steps :class:`Phases` wraps, as ``torch.profiler.record_function`` ranges (no sync):
    a profiler table then gives each step's host time and the device time of its kernels."""

    def __init__(self) -> None:
        super().__init__(torch.device("cpu"))
        self.names: set[str] = set()

    counting = False  # no counters: some of them would synchronise the device

    def _step(self, label: str, call: Callable[[], Any]) -> Any:
        self.names.add(label)
        with torch.profiler.record_function(label):
            return call()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.environ.get("SPIKEFI_NMNIST_DIR", str(SHARED / "nmnist_small")))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rounds", type=int, default=4096, help="seeded subset (0: the whole workload, 51,840 rounds)")
    ap.add_argument("--samples", type=int, default=384, help="recordings (test100 first, then train1K)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--kernels", action="store_true", help="CUDA: torch.profiler table of one chunk")
    ap.add_argument("--share-sc3", type=float, default=0.5,
                    help="realistic --rounds subset: share of SC3 rounds (the whole workload has 0.8)")
    ap.add_argument("--no-phases", action="store_true", help="skip the instrumented (phases) run")
    ap.add_argument("--cprofile", type=int, default=0, metavar="N",
                    help="cProfile one plain run: the N functions with the most own time (host side, sync waits)")
    ap.add_argument("--golden-ref", type=float, default=8400.0, help="fixed golden rate for the efficiency figure")
    ap.add_argument("--workload", default="realistic", choices=["realistic", "a", "b", "b'", "c"],
                    help="realistic: the synapse workload on real recordings; a/b/b'/c: the GPU suite's workloads")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    rounds = args.rounds or None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    if args.workload == "realistic":
        n_test = min(100, args.samples)
        x, y = realistic_inputs(args.root, n_test, args.samples - n_test)
        net, _, _ = load_pretrained("nmnist_cnn")
        net = net.to(device).eval()
        print(f"# synapse campaign profile: {name}, torch {torch.__version__}; {x.shape[0]} recordings; "
              f"rounds {rounds or 'all (51,840)'}; batch {args.batch_size}; chunk {args.chunk_size}")
    else:
        baseline = json.loads((SHARED / "spikefi_baseline" / "spikefi_1.3.0_h100_2026-12-06.json").read_text())
        inject = gpu_workloads(baseline)[args.workload]
        net, x, y = nmnist_inputs(device, min(args.samples, 256))
        print(f"# campaign profile, GPU suite workload {args.workload}: {name}, torch {torch.__version__}; "
              f"{x.shape[0]} synthetic inputs; batch {args.batch_size}; chunk {args.chunk_size}")

    def make() -> Any:
        if args.workload == "realistic":
            c = synapse_campaign(net, x, y, device, args.batch_size, rounds=rounds, share_sc3=args.share_sc3)
        else:
            c = Campaign(net, (x, y), batch_size=args.batch_size, seed=0, device=device)
            inject(c)
        c.golden()
        return c

    out: dict[str, Any] = {"device": name, "samples": int(x.shape[0]), "batch_size": args.batch_size,
                           "chunk_size": args.chunk_size}
    make().run(engine="parallel", chunk_size=args.chunk_size, progress=False)  # warm-up (kernels, caches)
    cmpn = make()
    n = len(cmpn.rounds)
    sync(device)
    t0 = time.perf_counter()
    res = cmpn.run(engine="parallel", chunk_size=args.chunk_size, progress=False)
    sync(device)
    wall = time.perf_counter() - t0
    rate = n * x.shape[0] / wall
    print(f"\n## plain: {n:,} rounds x {x.shape[0]} samples in {wall:.2f} s -> {rate:,.0f} f·s/s "
          f"(efficiency {rate / args.golden_ref:.1f}x the fixed golden rate {args.golden_ref:,.0f} samples/s); "
          f"{int((res.table['critical'] > 0).sum()):,} critical rounds")
    out["plain"] = {"rounds": n, "wall_s": wall, "fxs_per_s": rate, "efficiency": rate / args.golden_ref}
    budget = par.rows_budget(cmpn, 0.6 if device.type == "cuda" else 0.25)
    print(f"rows budget (memory fraction {0.6 if device.type == 'cuda' else 0.25}): {budget:,} worst-case rows")
    out["rows_budget"] = budget

    if not args.no_phases:
        cmpn = make()
        with Phases(device) as ph:
            sync(device)
            t0 = time.perf_counter()
            cmpn.run(engine="parallel", chunk_size=args.chunk_size, progress=False)
            sync(device)
            out["phases"] = ph.report(time.perf_counter() - t0)

    if args.cprofile:
        import cProfile
        import io
        import pstats

        cmpn = make()
        sync(device)
        prof_c = cProfile.Profile()
        t0 = time.perf_counter()
        prof_c.enable()
        cmpn.run(engine="parallel", chunk_size=args.chunk_size, progress=False)
        sync(device)
        prof_c.disable()
        wall_c = time.perf_counter() - t0
        text = io.StringIO()
        pstats.Stats(prof_c, stream=text).sort_stats("tottime").print_stats(args.cprofile)
        print(f"\n## host profile of one plain run (cProfile, {wall_c:.2f} s with its overhead; own time per "
              f"function: a sync's wait lands in the call that waits)")
        print("\n".join(line for line in text.getvalue().splitlines()[4:] if line.strip()))

    if args.kernels and device.type == "cuda":
        from torch.profiler import ProfilerActivity, profile

        cmpn = make()
        for i in reversed(range(min(args.chunk_size, n), n)):
            cmpn.eject(i)
        sync(device)
        with Labels() as labels, profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            t0 = time.perf_counter()
            cmpn.run(engine="parallel", chunk_size=args.chunk_size, progress=False)
            sync(device)
            chunk_wall = time.perf_counter() - t0
        events = prof.key_averages()
        # kernels only (an operator's self device time repeats its kernels')
        busy = sum(e.self_device_time_total for e in events
                   if e.device_type == torch.autograd.DeviceType.CUDA) / 1e6
        print(f"\n## kernels of one chunk ({min(args.chunk_size, n)} rounds): wall {chunk_wall:.3f} s (profiled), "
              f"device busy {busy:.3f} s = {100 * busy / chunk_wall:.0f} % (kernel time / wall)")
        print(events.table(sort_by="self_device_time_total", row_limit=25, max_name_column_width=60))
        print("## device time per phase of that chunk (record_function labels: CPU total = host time inside, "
              "device total = its kernels)")
        for e in sorted((e for e in events if e.key in labels.names), key=lambda e: -e.device_time_total):
            print(f"  {e.key:<44} host {e.cpu_time_total / 1e3:8.1f} ms  device {e.device_time_total / 1e3:8.1f} ms"
                  f"  calls {e.count}")
        out["kernels"] = {"chunk_wall_s": chunk_wall, "device_busy_s": busy}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
