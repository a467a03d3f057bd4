"""Throughput of the hardware-calibrated fault models (issues 32 and 33) beside a dead-synapse
campaign of the same size, per engine, on one device (a GPU where there is one).

The zoo's ``nmnist_cnn`` on ``--samples`` real N-MNIST recordings (``test100.txt`` then
``train1K.txt`` of ``$SPIKEFI_NMNIST_DIR``, true labels). Every kind is ``--rounds`` rounds:

* int8 golden (per-tensor affine): ``SoftErrors`` at two rates, ``AdjacentBitUpset`` bursts, and
  the reference ``DeadSynapse`` (SC3, seeded sample of the same number of synapses);
* float32 golden: ``Float32SoftErrors``, ``MembraneUpset`` and ``RefractoryUpset`` (20 random
  neurons of SC2 per round), ``StateSoftErrors`` (SC2), the ``AnalogDevices`` kinds of
  ``benchmarks/analog_devices.py``, and the reference ``DeadSynapse`` in float32.

For each kind and engine (naive once, then sequential and parallel, best of ``--repeats``): wall
seconds of the evaluation (golden pass excluded: it is shared), faults x samples per second,
whether the table (the float32 ``loss`` within 1e-5 relative) and predictions equal the naive engine's, and the rate relative to the
reference dead-synapse campaign of the same golden (``vs dead``): the issues' throughput floor is
each model's campaign at least as fast as the sequential engine on the same rounds.

Run::

    PYTHONPATH=. python benchmarks/fault_models_gpu.py --device cuda --json out.json
    PYTHONPATH=. python benchmarks/fault_models_gpu.py --device cpu --samples 4 --rounds 4 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import sync  # noqa: E402
from benchmarks.nmnist_real_throughput import realistic_inputs  # noqa: E402
from spikefi.campaign import Campaign  # noqa: E402
from spikefi.faults import (  # noqa: E402
    AdjacentBitUpset,
    AnalogDevices,
    DeadSynapse,
    Fault,
    Float32SoftErrors,
    MembraneUpset,
    RefractoryUpset,
    Site,
    SoftErrors,
    StateSoftErrors,
)
from spikefi.zoo import load_pretrained  # noqa: E402

Inject = Callable[[Campaign, int], None]


def _repeat(model: Any, site: Site | None = None, count: int = 1) -> Inject:
    def inject(c: Campaign, rounds: int) -> None:
        for _ in range(rounds):
            c.then_inject(Fault(model) if site is None else Fault(model, site) if count == 1 else Fault(model, site, count=count))
    return inject


def _dead(c: Campaign, rounds: int) -> None:
    c.exhaustive(DeadSynapse(), layers=["SC3"], sample=rounds)


INT8: dict[str, Inject] = {
    "dead synapse (int8 reference)": _dead,
    "SoftErrors 1e-5": _repeat(SoftErrors(1e-5)),
    "SoftErrors 1e-4": _repeat(SoftErrors(1e-4)),
    "AdjacentBitUpset 3 bits x 4": _repeat(AdjacentBitUpset(3, bursts=4)),
}
FLOAT: dict[str, Inject] = {
    "dead synapse (float reference)": _dead,
    "Float32SoftErrors 1e-6": _repeat(Float32SoftErrors(1e-6)),
    "MembraneUpset bit 30 @10 (20 SC2 neurons)": _repeat(MembraneUpset(30, 10), Site("SC2"), count=20),
    "RefractoryUpset bit 30 @10 (20 SC2 neurons)": _repeat(RefractoryUpset(30, 10), Site("SC2"), count=20),
    "StateSoftErrors 1e-6 (SC2)": _repeat(StateSoftErrors(1e-6), Site("SC2")),
    "Analog program+stuck": _repeat(AnalogDevices(levels=16, program_sigma=0.05, stuck_at_0=0.005,
                                                  stuck_at_gmax=0.005)),
    "Analog read noise": _repeat(AnalogDevices(read_sigma=0.05)),
    "Analog drift (age 1e6 s)": _repeat(AnalogDevices(program_sigma=0.02, age=1e6, drift_nu_mean=0.05,
                                                      drift_nu_std=0.02)),
    "Analog threshold mismatch": _repeat(AnalogDevices(mapping="none", threshold_sigma=0.1)),
}


def _same(a: Any, b: Any) -> bool:
    """Tables equal column for column and predictions equal, except the float32 ``loss``
    column, which is summed in a different order by the engines (within 1e-5 relative)."""
    ta = a.table.drop(columns=["seconds", "loss"], errors="ignore").reset_index(drop=True)
    tb = b.table.drop(columns=["seconds", "loss"], errors="ignore").reset_index(drop=True)
    loss_ok = ("loss" in a.table) == ("loss" in b.table) and (
        "loss" not in a.table or np.allclose(a.table["loss"].to_numpy(float), b.table["loss"].to_numpy(float),
                                             rtol=1e-5, atol=0.0, equal_nan=True))
    return bool(ta.equals(tb) and loss_ok and np.array_equal(a.predictions, b.predictions))


def measure(kinds: dict[str, Inject], quant: dict[str, Any] | None, args: argparse.Namespace,
            net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {}
    engines = args.engines.split(",")
    ref_rate: dict[str, float] = {}
    words = [w.strip().lower() for w in args.kinds.split(",") if w.strip()]
    for name, inject in kinds.items():
        if words and "reference" not in name and not any(w in name.lower() for w in words):
            continue
        row: dict[str, Any] = {}
        results: dict[str, Any] = {}
        for engine in engines:
            best = float("inf")
            for _ in range(1 if engine == "naive" else args.repeats):
                cmpn = Campaign(net, (x, y), batch_size=args.batch_size, seed=1, device=device, quantization=quant)
                inject(cmpn, args.rounds)
                cmpn.golden()
                sync(device)
                t0 = time.perf_counter()
                res = cmpn.run(engine=engine, chunk_size=args.chunk_size, progress=False, keep_predictions=True)
                sync(device)
                best = min(best, time.perf_counter() - t0)
                results[engine] = res
            n = len(results[engine].table) * x.shape[0]
            row[engine] = {"seconds": round(best, 4), "fxs_per_s": round(n / best, 1)}
        ref = results.get("naive")
        for engine in engines:
            if ref is not None and engine != "naive":
                row[engine]["identical_to_naive"] = _same(ref, results[engine])
        first = results[engines[-1]]
        row["mean_accuracy"] = float(first.table["accuracy"].mean())
        row["critical_rounds"] = int((first.table["critical"] > 0).sum())
        if "reference" in name:
            ref_rate = {e: row[e]["fxs_per_s"] for e in engines}
        row["vs_dead"] = {e: round(row[e]["fxs_per_s"] / ref_rate[e], 3) for e in engines if e in ref_rate}
        if "sequential" in row and "parallel" in row:
            row["parallel_over_sequential"] = round(row["sequential"]["seconds"] / row["parallel"]["seconds"], 2)
        out[name] = row
        cells = "  ".join(
            f"{e} {row[e]['seconds']:.2f} s {row[e]['fxs_per_s']:>11,.0f} f.s/s"
            + (f" ({'=' if row[e].get('identical_to_naive') else 'DIFFERS'})" if e != "naive" and ref is not None else "")
            for e in engines)
        print(f"{name:<44} {cells}  par/seq {row.get('parallel_over_sequential', '-')}x  "
              f"vs dead {row['vs_dead'].get('parallel', '-')}x  acc {row['mean_accuracy']:.3f} "
              f"crit {row['critical_rounds']}/{len(first.table)}", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--root", default=os.environ.get("SPIKEFI_NMNIST_DIR")
                        or str(Path(__file__).resolve().parents[2] / "shared" / "nmnist_small"))
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--engines", default="naive,sequential,parallel")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="float kinds only, one repeat")
    parser.add_argument("--kinds", default="", help="only kinds whose name contains one of these comma-separated "
                        "words (the dead-synapse references always run)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    device = torch.device(args.device)
    torch.manual_seed(0)
    x, y = realistic_inputs(args.root, min(args.samples, 100), max(0, args.samples - 100))
    net, _, _ = load_pretrained("nmnist_cnn")
    net = net.to(device).eval()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# device {name}; zoo nmnist_cnn; {x.shape[0]} real recordings; {args.rounds} rounds per kind; "
          f"batch {args.batch_size}; chunk {args.chunk_size}; best of {args.repeats}; torch {torch.__version__}")
    out: dict[str, Any] = {"device": name, "samples": int(x.shape[0]), "rounds": args.rounds,
                           "batch_size": args.batch_size, "chunk_size": args.chunk_size}
    t0 = time.perf_counter()
    if not args.quick:
        print("## int8 golden")
        out["int8"] = measure(INT8, {"dtype": "int8"}, args, net, x, y, device)
    print("## float32 golden")
    out["float32"] = measure(FLOAT, None, args, net, x, y, device)
    print(f"# whole benchmark {time.perf_counter() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
