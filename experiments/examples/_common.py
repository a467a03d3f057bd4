"""Shared plumbing of the examples: arguments, output folder, saved files, wall time.

Every example prints what it does, each file it saves as a line ``saved: PATH (what)``,
and ends with the list of files and its wall time. The list is also written to
``files.json`` in the output folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import torch

from spikefi.errors import SpikeFIError

matplotlib.use("Agg")  # never open a window; the figures are only saved

__all__ = ["ExampleRun", "parser", "fmt_pct"]


def parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every example has."""
    ap = argparse.ArgumentParser(
        prog=f"python -m experiments.examples.{name}",
        description=(doc or "").strip().split("\n\n")[0],
    )
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes: finishes in a few seconds (smoke test, numbers are not meaningful)")
    ap.add_argument("--output-dir", default=f"outputs/examples/{name}",
                    help=f"where the files go (default outputs/examples/{name})")
    ap.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1; 0 = torch's default, one per core). These workloads "
                         "are many small tensor operations; with 2 threads on a busy 2-core machine they ran "
                         "4-6 times slower than with 1")
    return ap


def fmt_pct(x: float) -> str:
    return f"{100 * x:.2f}%"


class ExampleRun:
    """Output folder, banner, saved-file log and wall time of one example run."""

    def __init__(self, name: str, title: str, args: argparse.Namespace, steps: Sequence[str]) -> None:
        self.name = name
        self.t0 = time.perf_counter()
        self._threads = None
        if args.threads < 0:
            raise SystemExit(f"--threads must be >= 0, got {args.threads}")
        if args.threads > 0:
            self._threads = torch.get_num_threads()
            torch.set_num_threads(args.threads)
        self.out = Path(args.output_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.files: list[tuple[Path, str]] = []
        #: set when the body run under :meth:`guard` failed with a SpikeFIError
        self.failed = False
        mode = "quick (tiny sizes, smoke test)" if args.quick else "normal"
        print(f"=== spikefi example '{name}': {title}")
        print(f"mode: {mode}; seed: {args.seed}; torch threads: {torch.get_num_threads()}; "
              f"output folder: {self.out.resolve()}")
        print("what it does:")
        for i, step in enumerate(steps, 1):
            print(f"  {i}. {step}")
        print(flush=True)

    def stage(self, message: str) -> None:
        print(f"\n--- {message} [{time.perf_counter() - self.t0:.1f} s]", flush=True)

    def saved(self, path: Path | str, what: str) -> Path:
        path = Path(path)
        self.files.append((path, what))
        print(f"saved: {path}  ({what})", flush=True)
        return path

    def save_figure(self, fig: Any, filename: str, what: str) -> Path:
        path = self.out / filename
        fig.savefig(path, dpi=130)
        return self.saved(path, what)

    def save_text(self, text: str, filename: str, what: str) -> Path:
        path = self.out / filename
        path.write_text(text)
        return self.saved(path, what)

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """The example's body: a :class:`SpikeFIError` is reported as ``error: ...`` and
        sets :attr:`failed` (the example then returns exit code 2); torch's thread count
        is restored whatever happens."""
        try:
            yield
        except SpikeFIError as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.failed = True
        finally:
            self.close()

    def close(self) -> None:
        """Restores torch's thread count (examples also run in-process, e.g. from tests)."""
        if self._threads is not None:
            torch.set_num_threads(self._threads)
            self._threads = None

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def finish(self, facts: dict[str, str] | None = None) -> int:
        seconds = self.seconds
        manifest = self.out / "files.json"
        manifest.write_text(json.dumps(
            {"example": self.name, "wall_seconds": round(seconds, 2),
             "files": [{"path": str(p), "what": w} for p, w in self.files]}, indent=2))
        print(f"\n=== done: example '{self.name}' — what was produced and where")
        width = max([len(k) for k in (facts or {})] + [12])
        for key, value in (facts or {}).items():
            print(f"{key:<{width}} : {value}")
        print(f"{'files':<{width}} : (in {self.out.resolve()})")
        for path, what in self.files:
            print(f"  {path}  — {what}")
        print(f"  {manifest}  — this list as JSON")
        print(f"{'wall time':<{width}} : {seconds:.1f} s", flush=True)
        return 0
