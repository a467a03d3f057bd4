"""Scaling suite: one campaign in-process on one GPU, then on Ray actors (1 GPU, 2 GPUs ...).

``python benchmarks/campaign_throughput.py --suite scaling [--quick] [--gpus 1,2] [--workloads digits,nmnist]
[--digits-repeats N] [--nmnist-samples N] [--ray-cpus auto|N]``

Workloads (parallel engine):
  digits  — the digits net, every single fault (every dead neuron, every synapse dead,
            every synapse x2) on all 359 test samples, repeated ``--digits-repeats`` times
            (distinct round ids, same faults) so that one GPU needs about a minute;
  nmnist  — SpikeFI's N-MNIST CNN, every synapse of SC2 and SC3 dead and x2, 256
            synthetic inputs (``--nmnist-samples``; the GPU suite's inputs; labels = our fp32
            golden predictions).

Ray actors get ``--ray-cpus`` cores each (default ``auto``: a GPU's share of the host's
cores, the executor's default; the in-process run uses every core).

For every run it prints the fixed costs apart from the evaluation phase:
  in-process: set-up (campaign build, fault resolution), golden pass, evaluation;
  Ray: shipping the campaign to the object store, the first actor up (actor start, its
  campaign moved to its GPU, its own golden pass), then evaluation (first actor up to last
  chunk back). Ray itself is started before the timing (``ray.init``: once per process).
Then the evaluation and whole-run ratios to in-process on one GPU, and "identical: yes"
when the table equals the in-process one (every column, every round).

``--quick`` runs CPU actors on a local Ray (2 workers x 1 CPU) with small subsets: what CI
runs; it exits 1 when a table differs.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch

from benchmarks.common import nmnist_inputs, sync
from spikefi.campaign import Campaign, RayExecutor
from spikefi.data import load_spiking_digits
from spikefi.faults import DeadNeuron, DeadSynapse, PerturbedSynapse
from spikefi.zoo import load_pretrained

__all__ = ["scaling_suite", "in_process", "on_ray", "same_table", "fmt_fixed", "release_gpu"]


def _digits(device: torch.device, quick: bool, repeats: int) -> Campaign:
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits()
    cmpn = Campaign(net, test, batch_size=128 if not quick else 32, seed=0, device=device,
                    max_samples=32 if quick else None)
    for _ in range(1 if quick else repeats):
        if quick:
            cmpn.exhaustive(DeadNeuron(), layers=["SF4"])
            cmpn.exhaustive(DeadSynapse(), layers=["SC2"], sample=40)
            cmpn.exhaustive(PerturbedSynapse(2.0), layers=["SF3"], sample=40)
        else:
            cmpn.exhaustive(DeadNeuron())
            cmpn.exhaustive(DeadSynapse())
            cmpn.exhaustive(PerturbedSynapse(2.0))
    return cmpn


def _nmnist(device: torch.device, quick: bool, samples: int = 256) -> Campaign:
    net, x, labels = nmnist_inputs(device, 8 if quick else samples)
    cmpn = Campaign(net, (x, labels), batch_size=64, seed=0, device=device)
    if quick:
        cmpn.exhaustive(DeadSynapse(), layers=["SC3"], sample=12)
        cmpn.exhaustive(PerturbedSynapse(2.0), layers=["SC3"], sample=12)
    else:
        cmpn.exhaustive(DeadSynapse(), layers=["SC2", "SC3"])
        cmpn.exhaustive(PerturbedSynapse(2.0), layers=["SC2", "SC3"])
    return cmpn


def release_gpu(device: torch.device) -> None:
    """Gives the in-process run's cached GPU memory back: an actor later placed on the same
    GPU sizes its fault rows by the free memory (with tens of GB still held by this driver,
    N-MNIST chunks ran in many small pieces: 0.18x on one actor, 2026-11-30)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        print(f"driver after the in-process run: {torch.cuda.memory_reserved(device) / 2**30:.2f} GiB reserved, "
              f"{torch.cuda.mem_get_info(device)[0] / 2**30:.1f} GiB free on {device}", flush=True)


def in_process(make: Callable[[], Campaign], device: torch.device, chunk: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    cmpn = make()
    sync(device)
    t1 = time.perf_counter()
    cmpn.golden()
    sync(device)
    t2 = time.perf_counter()
    result = cmpn.run(engine="parallel", chunk_size=chunk, progress=False)
    sync(device)
    t3 = time.perf_counter()
    rounds, samples = len(cmpn.rounds), cmpn.num_samples
    del cmpn
    release_gpu(device)
    return {"table": result.table, "rounds": rounds, "samples": samples,
            "fixed": {"setup_s": t1 - t0, "golden_s": t2 - t1}, "fixed_s": t2 - t0, "eval_s": t3 - t2, "total_s": t3 - t0}


def on_ray(make_cpu: Callable[[], Campaign], executor: RayExecutor, chunk: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    cmpn = make_cpu()  # the driver builds on the CPU; actors move it to their devices
    t1 = time.perf_counter()
    result = cmpn.run(engine="parallel", chunk_size=chunk, progress=False, executor=executor)
    t2 = time.perf_counter()
    lr = executor.last_run
    fixed = {"setup_s": t1 - t0, "ship_s": lr["ship_s"], "first_actor_up_s": lr["first_worker_ready_s"] - lr["ship_s"],
             "actor_build_s": lr["build_s_max"], "actor_golden_s": lr["golden_s_max"]}
    return {"table": result.table, "fixed": fixed, "fixed_s": (t1 - t0) + lr["first_worker_ready_s"],
            "eval_s": lr["evaluation_s"], "total_s": t2 - t0, "devices": lr["devices"], "retries": lr["retries"],
            "gpu_free_gib_min": lr.get("gpu_free_gib_min"), "engine_s": list(lr.get("engine_s_by_worker", {}).values())}


def same_table(a: pd.DataFrame, b: pd.DataFrame) -> str:
    try:
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
        return "yes"
    except AssertionError as err:
        return f"no ({str(err).splitlines()[0]})"


def fmt_fixed(fixed: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in fixed.items())


def scaling_suite(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    quick = bool(args.quick)
    gpu = torch.cuda.is_available() and not quick
    device = torch.device("cuda" if gpu else "cpu")
    n_gpus = torch.cuda.device_count() if gpu else 0
    chunk = 512 if not quick else 16
    if not ray.is_initialized():
        t = time.perf_counter()
        temp = tempfile.mkdtemp(prefix="sfr", dir="/tmp")
        ray.init(num_cpus=max(2, os.cpu_count() or 2) if not quick else 2, include_dashboard=False,
                 log_to_driver=False, _temp_dir=temp)
        print(f"ray.init: {time.perf_counter() - t:.1f} s (before any timing); cluster {ray.cluster_resources()}")
    counts = [int(c) for c in str(args.gpus).split(",") if c.strip()] if gpu else [2]
    workloads: dict[str, Callable[[torch.device], Campaign]] = {
        "digits": lambda d: _digits(d, quick, args.digits_repeats),
        "nmnist": lambda d: _nmnist(d, quick, args.nmnist_samples),
    }
    if args.workloads:
        workloads = {k: v for k, v in workloads.items() if k in args.workloads.split(",")}
    out: dict[str, Any] = {}
    failed = False
    for name, make in workloads.items():
        print(f"[{time.strftime('%H:%M:%S')}] {name}: in-process run ...", flush=True)
        try:
            ref = in_process(lambda make=make: make(device), device, chunk)
        except FileNotFoundError as exc:
            print(f"\n## {name}: skipped ({exc})")
            continue
        fs = ref["rounds"] * ref["samples"]
        print(f"\n## {name}: {ref['rounds']:,} rounds x {ref['samples']} samples = {fs:,} f·s, parallel engine, "
              f"chunk {chunk}, {'GPU' if gpu else 'CPU'}")
        print(f"in-process 1 {'GPU' if gpu else 'CPU'}: total {ref['total_s']:7.2f} s = fixed {ref['fixed_s']:.2f} "
              f"({fmt_fixed(ref['fixed'])}) + evaluation {ref['eval_s']:.2f} s -> {fs / ref['eval_s']:,.0f} f·s/s evaluating")
        rows: dict[str, Any] = {"in-process": {k: v for k, v in ref.items() if k != "table"}}
        for count in counts:
            if gpu and count > n_gpus:
                print(f"Ray {count} GPUs: skipped (this host has {n_gpus})")
                continue
            label = f"Ray {count} {'GPU' if gpu else 'CPU worker'}{'s' if count > 1 else ''}"
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {label} ...", flush=True)
            cpus = None if str(args.ray_cpus) == "auto" else int(args.ray_cpus)
            executor = RayExecutor(workers=count, gpus_per_worker=1.0 if gpu else 0.0,
                                   cpus_per_worker=cpus if gpu else 1)
            res = on_ray(lambda make=make: make(torch.device("cpu")), executor, chunk)
            same = same_table(res["table"], ref["table"])
            failed |= same != "yes"
            print(f"{label}: total {res['total_s']:7.2f} s = fixed {res['fixed_s']:.2f} ({fmt_fixed(res['fixed'])}) + "
                  f"evaluation {res['eval_s']:.2f} s -> {fs / res['eval_s']:,.0f} f·s/s; evaluation ratio "
                  f"{ref['eval_s'] / res['eval_s']:.2f}x, whole-run ratio {ref['total_s'] / res['total_s']:.2f}x; "
                  f"devices {res['devices']}; {executor.cpus_each} CPU(s)/actor; "
                  + (f"least free GPU memory at actor start {res['gpu_free_gib_min']:.0f} GiB; "
                     if res["gpu_free_gib_min"] is not None else "")
                  + f"engine time per actor {', '.join(f'{v:.2f}' for v in res['engine_s'])} s; "
                  + f"retries {res['retries']}; "
                  f"identical: {same}")
            rows[label] = {k: v for k, v in res.items() if k != "table"} | {
                "identical": same, "eval_ratio": ref["eval_s"] / res["eval_s"],
                "whole_ratio": ref["total_s"] / res["total_s"]}
        out[name] = rows
    if failed:
        print("a table differs from the in-process one", file=sys.stderr)
        sys.exit(1)
    return out
