"""A million tracked rounds on CPU: store size, MLflow UI render times, report build (issue 30).

    nice -n 10 .venv/bin/python benchmarks/million_rounds.py --work /tmp/spikefi-million \\
        --out benchmarks/results/million_rounds_2026-12-07.txt            # 1,002,240 rounds
    .venv/bin/python benchmarks/million_rounds.py --rounds 16000 --work /tmp/m-slice   # a slice: rounds/s
    .venv/bin/python benchmarks/million_rounds.py --work /tmp/spikefi-million --skip-campaign
                                                   # measure the store of an earlier run again

The case (the third target of issue 30: "1,000,000 tracked rounds (CPU, a small network, few
samples): mlflow.db < 100 MB; the run page and the metric chart render within 10 s in headless
Chromium; the report builds"):

* a tiny SLAYER MLP, 512 inputs (16 x 16 x 2) -> ``--hidden`` SRM neurons (240) -> 10, trained
  here for 3 epochs on the bundled spiking digits (seeded; seconds) and saved as a
  ``state_dict`` file, run through
  ``network: {factory: "million_net:build", weights: FILE}`` (the module is written into the
  work folder, which is the command's current folder);
* int8 weight codes, ``--samples`` test samples of the bundled spiking digits (2);
* every synapse x every bit of both dense layers flipped, one at a time: eight exhaustive
  entries ``{model: BitFlipSynapse, bits: [b], layers: [fc1, fc2]}``, 8 x (512 x 240 + 240 x 10)
  = 1,002,240 rounds (``--rounds N``: ``sample: N / 8`` random weights per bit, for a slice);
* the fault-parallel engine, chunks of ``--chunk-size`` (2048) rounds;
* the normal entry point ``python -m experiments.campaign --config C --no-progress`` into a
  fresh sqlite store ``<work>/mlflow.db``, tracking defaults (``round_metrics`` 1000 points
  per key).

Measured: the command's wall and CPU seconds (rounds/s), peak memory, the store's size (and
its metric rows), the size of the artifacts and of the local run folder; then, with
``mlflow ui`` on the store (as docs/screenshots.py starts it) and headless Chromium (a fresh
browser context per page, so nothing is cached): the seconds until the run page shows the
description's result line, and until the run's *Model metrics* tab, its chart search given
``round_acc`` (then ``curve_drop``), has drawn that chart's line; each page in a fresh browser
context (cold) and after a reload (warm), and saved as a PNG in the work folder; last, ``python -m experiments.report`` on the experiment
(seconds, whether report.md lists the campaign). Chromium: ``--chromium PATH``, else the
``CHROMIUM`` environment variable, else ``chromium`` on PATH; Playwright drives it
(``pip install 'spikefi[screenshots]'``; no browser download). Without them the UI part is
reported as skipped. The output (with the commit and load average) goes to stdout and, with
``--out``, to a file as it is measured.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = "million"
CAMPAIGN = "million-bitflips"
BITS = 8
#: epochs of training of the MLP (Adam, lr 0.01, the bundled digits config's loss; seconds)
TRAIN_EPOCHS = 3

NET_MODULE = '''"""The tiny MLP of benchmarks/million_rounds.py (written there; its factory is build)."""
import torch
from torch import nn

import spikefi.snn as snn

NEURON = dict(type="SRMALPHA", theta=5, tauSr=2.0, tauRef=1.0, scaleRef=2, tauRho=1, scaleRho=1)
SIM = dict(Ts=1, tSample=30)


class MillionMLP(nn.Module):
    def __init__(self, hidden={hidden}):
        super().__init__()
        self.slayer = snn.layer(NEURON, SIM)
        self.fc1 = self.slayer.dense((16, 16, 2), hidden, weightScale=40)
        self.fc2 = self.slayer.dense(hidden, 10, weightScale=40)

    def forward(self, x):
        s = self.slayer.spike(self.slayer.psp(self.fc1(x)))
        return self.slayer.spike(self.slayer.psp(self.fc2(s)))


def build(seed=0):
    torch.manual_seed(seed)
    return MillionMLP()
'''


class Log:
    """Prints lines and appends them to ``path`` (when given) as they come."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def __call__(self, line: str) -> None:
        print(line, flush=True)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(line + "\n")


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()
    return out.stdout.strip() + (" (uncommitted changes)" if dirty else "")


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def fault_count(hidden: int) -> int:
    return BITS * (16 * 16 * 2 * hidden + hidden * 10)


def write_inputs(work: Path, hidden: int, samples: int, rounds: int | None, chunk: int, engine: str,
                 log: Log, epochs: int = 3) -> Path:
    """The network module, its weights and the campaign config in ``work``; returns the config."""
    import torch

    work.mkdir(parents=True, exist_ok=True)
    (work / "million_net.py").write_text(NET_MODULE.replace("{hidden}", str(hidden)))
    spec = importlib.util.spec_from_file_location("million_net", work / "million_net.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from spikefi.data import load_spiking_digits
    from spikefi.training import train
    from spikefi.zoo.architectures import load_config

    net = module.build(seed=0)
    train_set, test_set = load_spiking_digits(seed=0)
    result = train(net, load_config("digits"), train_set, test_set, epochs=epochs, lr=0.01, batch_size=32, seed=0)
    last = result.history[-1]
    log(f"trained the MLP {epochs} epochs in {result.seconds:.1f} s: test accuracy {last.test_accuracy:.4f} "
        f"on {len(test_set)} samples")
    weights = work / "million_net.pt"
    torch.save(net.state_dict(), weights)
    per_bit = {"sample": max(1, rounds // BITS)} if rounds else {}
    config = {
        "campaign": {
            "name": CAMPAIGN, "network": {"factory": "million_net:build", "weights": str(weights)},
            "data": {"name": "spiking_digits", "seed": 0, "max_samples": samples},
            "options": {"seed": 0, "batch_size": samples, "engine": engine, "chunk_size": chunk,
                        "quantization": {"dtype": "int8"}},
            "exhaustive": [{"model": "BitFlipSynapse", "bits": [b], "layers": ["fc1", "fc2"], **per_bit}
                           for b in range(BITS)]},
        "output_dir": str(work / "out"),
        "tracking": {"experiment": EXPERIMENT},
    }
    path = work / "million.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def env_for(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}", PYTHONPATH=str(REPO))
    return env


def run_campaign(work: Path, config: Path, log: Log) -> None:
    cmd = [sys.executable, "-m", "experiments.campaign", "--config", str(config), "--no-progress"]
    log(f"$ cd {work} && {' '.join(cmd[1:])}   (python: {sys.executable})")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=work, env=env_for(work), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    (work / "campaign.log").write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        log(f"campaign command exited {out.returncode}:\n{(out.stdout + out.stderr)[-3000:]}")
        raise SystemExit(1)
    finished = [line for line in out.stdout.splitlines() if "finished:" in line]
    log(f"campaign command: {wall:,.1f} s wall, {cpu:,.1f} CPU-s, peak memory {after.ru_maxrss / 2**20:,.2f} GiB; "
        f"load average after {load()}")
    for line in finished:
        log(f"  {line.strip()}")
    log("  (whole command: imports, store creation, golden run and finishing work included)")


def the_run(work: Path) -> tuple[str, str, dict[str, Any]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        raise SystemExit(f"no experiment {EXPERIMENT!r} in {work / 'mlflow.db'} (run without --skip-campaign)")
    runs = client.search_runs([exp.experiment_id], f"tags.`spikefi.kind` = 'campaign' and "
                              f"attributes.run_name = '{CAMPAIGN}' and attributes.status = 'FINISHED'")
    if not runs:
        raise SystemExit(f"no finished run {CAMPAIGN!r} in {work / 'mlflow.db'}")
    run = runs[0]
    return exp.experiment_id, run.info.run_id, {"metrics": run.data.metrics, "params": run.data.params,
                                                "duration_s": (run.info.end_time - run.info.start_time) / 1000}


def measure_store(work: Path, run: dict[str, Any], log: Log) -> None:
    db = work / "mlflow.db"
    rounds = int(float(run["params"].get("rounds", run["metrics"].get("rounds", 0))))
    log(f"rounds: {rounds:,}; the run's duration (MLflow start to end) {run['duration_s']:,.1f} s = "
        f"{rounds / run['duration_s']:,.0f} rounds/s; critical-fault rate {run['metrics'].get('crit_rate', float('nan')):.4f}, "
        f"golden accuracy {run['metrics'].get('golden.accuracy', float('nan')):.4f}")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        metric_rows = con.execute("select count(*) from metrics").fetchone()[0]
        keys = con.execute("select key, count(*) from metrics group by key order by count(*) desc limit 6").fetchall()
        params = con.execute("select count(*) from params").fetchone()[0]
    log(f"mlflow.db: {mib(db.stat().st_size)} ({db.stat().st_size:,} bytes); {metric_rows:,} metric rows "
        f"(largest keys: {', '.join(f'{k} {n:,}' for k, n in keys)}), {params:,} params")
    for name in ("mlruns", "mlartifacts", "out"):
        if (work / name).exists():
            what = "local run folder (output_dir)" if name == "out" else "artifacts"
            files = sum(1 for f in (work / name).rglob("*") if f.is_file())
            log(f"{name}/ ({what}): {mib(folder_bytes(work / name))} in {files:,} files")
    biggest = sorted((f for f in (work / "mlruns").rglob("*") if f.is_file()), key=lambda f: -f.stat().st_size)[:5] \
        if (work / "mlruns").exists() else []
    for f in biggest:
        log(f"  {f.relative_to(work)}: {mib(f.stat().st_size)}")


def screenshots_module() -> Any:
    spec = importlib.util.spec_from_file_location("spikefi_docs_screenshots", REPO / "docs" / "screenshots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: a plotly line chart with drawn points (the run page's metric charts are plotly charts)
DRAWN_LINE = ".scatterlayer .trace path.js-line"


def measure_ui(work: Path, exp_id: str, run_id: str, chromium: str | None, log: Log, limit: float = 10.0) -> None:
    """Seconds until each page shows what it should, in a fresh browser context (cold: the UI's
    scripts loaded too) and again after a reload (warm)."""
    shots = screenshots_module()
    exe = shots.find_chromium(chromium)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        exe = None
    if exe is None:
        log("UI: skipped (no Chromium or no Playwright; --chromium PATH, pip install playwright)")
        return
    store = f"sqlite:///{work / 'mlflow.db'}"
    port = shots.free_port()
    t0 = time.perf_counter()
    ui = shots.start_ui(store, port)
    log(f"mlflow ui on the store answered after {time.perf_counter() - t0:.1f} s; Chromium {exe}; "
        f"load average {load()}")
    run_url = f"http://127.0.0.1:{port}/#/experiments/{exp_id}/runs/{run_id}"
    pages = [("run page (the description's result line shown)", f"{run_url}?{shots.CLASSIC_VIEW}",
              lambda p: p.get_by_text("faults critical", exact=False).first.wait_for(timeout=120000), "run-page")]
    for metric in ("round_acc", "curve_drop"):
        pages.append((f"run page's Model metrics tab, chart of {metric} (searched, its line drawn)",
                      f"{run_url}/model-metrics?{shots.CLASSIC_VIEW}",
                      lambda p, m=metric: chart_drawn(p, m), f"chart-{metric}"))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, headless=True, args=shots.CHROMIUM_FLAGS)
            for label, url, ready, name in pages:
                context = browser.new_context(viewport={"width": 1280, "height": 720})
                page = context.new_page()
                times = []
                for visit in ("cold", "warm"):
                    t0 = time.perf_counter()
                    try:
                        if visit == "cold":
                            page.goto(url)
                        else:
                            page.reload()
                        ready(page)
                        times.append(time.perf_counter() - t0)
                    except Exception as exc:  # noqa: BLE001 - playwright's TimeoutError
                        log(f"UI: {label}, {visit}: not shown within 120 s ({type(exc).__name__})")
                        break
                if times:
                    verdict = "within" if max(times) <= limit else "OVER"
                    log(f"UI: {label}: {' s, '.join(f'{t:.2f}' for t in times)} s (fresh context, then reload; "
                        f"{verdict} {limit:g} s)")
                time.sleep(1)
                shots.dismiss(page)
                page.screenshot(path=str(work / f"ui-{name}.png"))
                context.close()
            browser.close()
    finally:
        shots.stop_ui(ui)
    log(f"  (PNGs of the pages: {work}/ui-*.png; load average {load()})")


def chart_drawn(page: Any, metric: str) -> None:
    """Types ``metric`` into the Model metrics tab's chart search and waits until its line is drawn."""
    search = page.get_by_placeholder("Search metric charts", exact=False).first
    search.wait_for(timeout=120000)
    search.fill(metric)
    page.get_by_text(metric, exact=True).first.wait_for(timeout=120000)
    # a flat line has an empty bounding box (not "visible" to Playwright): wait for its path data
    page.wait_for_function(f"() => Array.from(document.querySelectorAll('{DRAWN_LINE}'))"
                           ".some(e => (e.getAttribute('d') || '').length > 8)", timeout=120000)


def measure_report(work: Path, log: Log) -> None:
    out_dir = work / "report"
    cmd = [sys.executable, "-m", "experiments.report", "--experiment", EXPERIMENT, "--output-dir", str(out_dir)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=work, env=env_for(work), capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    (work / "report.log").write_text(out.stdout + out.stderr)
    md = out_dir / "report.md"
    listed = md.is_file() and CAMPAIGN in md.read_text()
    log(f"report: `python -m experiments.report --experiment {EXPERIMENT}` exited {out.returncode} after "
        f"{seconds:.1f} s; report.md {'lists the campaign' if listed else 'MISSING or without the campaign'}"
        f"{f' ({mib(md.stat().st_size)})' if md.is_file() else ''}; load average {load()}")
    if out.returncode != 0:
        log((out.stdout + out.stderr)[-2000:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/spikefi-million", help="work folder (store, run folder, PNGs)")
    ap.add_argument("--out", default=None, help="also write the output to this file")
    ap.add_argument("--hidden", type=int, default=240, help="hidden neurons of the MLP (default 240: 1,002,240 faults)")
    ap.add_argument("--samples", type=int, default=2, help="test samples (default 2)")
    ap.add_argument("--rounds", type=int, default=0, help="a slice: about this many rounds (default: all faults)")
    ap.add_argument("--train-epochs", type=int, default=TRAIN_EPOCHS,
                    help=f"epochs of training of the MLP (default {TRAIN_EPOCHS})")
    ap.add_argument("--chunk-size", type=int, default=2048, help="rounds per chunk (default 2048)")
    ap.add_argument("--engine", default="parallel", help="campaign engine (default parallel)")
    ap.add_argument("--chromium", default=None, help="Chromium executable (default: CHROMIUM, else chromium on PATH)")
    ap.add_argument("--skip-campaign", action="store_true", help="measure the store already in --work")
    ap.add_argument("--skip-report", action="store_true", help="do not build the report")
    ap.add_argument("--skip-ui", action="store_true", help="do not open the MLflow UI")
    ap.add_argument("--campaign-only", action="store_true", help="run the campaign and measure the store only")
    args = ap.parse_args(argv)
    work = Path(args.work).resolve()
    log = Log(Path(args.out) if args.out else None)
    threads = os.environ.get("OMP_NUM_THREADS", "torch's default")
    log(f"# million_rounds: commit {commit()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{os.cpu_count()} CPU cores, load average {load()}; OMP_NUM_THREADS {threads}; nice {os.nice(0)}")
    total = fault_count(args.hidden)
    log(f"# case: MLP 512-{args.hidden}-10 (trained here, seeded), int8 codes, {args.samples} spiking-digits "
        f"samples, every synapse x bit of fc1+fc2 ({total:,} faults){f', slice of ~{args.rounds:,}' if args.rounds else ''}; "
        f"engine {args.engine}, chunk {args.chunk_size}; tracking defaults (round_metrics 1000)")
    if not args.skip_campaign:
        if (work / "mlflow.db").exists():
            raise SystemExit(f"{work / 'mlflow.db'} exists: use a fresh --work or --skip-campaign")
        config = write_inputs(work, args.hidden, args.samples, args.rounds or None, args.chunk_size, args.engine,
                              log, args.train_epochs)
        run_campaign(work, config, log)
    exp_id, run_id, run = the_run(work)
    log(f"run {run_id} (experiment {exp_id}) in sqlite:///{work / 'mlflow.db'}")
    measure_store(work, run, log)
    if args.campaign_only:
        return 0
    if args.skip_ui:
        log("UI: skipped (--skip-ui)")
    else:
        measure_ui(work, exp_id, run_id, args.chromium, log)
    if not args.skip_report:
        measure_report(work, log)
    log(f"# done; load average {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
