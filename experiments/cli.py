"""The ``spikefi`` console command: ``spikefi <entry point> [args]``.

Entry points are the same as ``python -m experiments.<name>`` and the MLproject's;
``spikefi --help`` lists them (without importing any of them: it answers at once).

As ``python -m`` does, the command puts the current folder first on ``sys.path``, so a
network factory or fault model named by a dotted path (``factory: "mynets:build"``) is found
in a ``mynets.py`` beside the config the user runs from (unless Python runs with ``-P`` /
``PYTHONSAFEPATH``, which turns that off for ``python -m`` too).
"""

from __future__ import annotations

import importlib
import os
import sys

__all__ = ["ENTRY_POINTS", "SUMMARIES", "main", "usage", "current_folder_importable"]

ENTRY_POINTS = {
    "main": "experiments.main",
    "train": "experiments.train",
    "golden": "experiments.golden",
    "campaign": "experiments.campaign",
    "sweep": "experiments.sweep",
    "search": "experiments.search",
    "testgen": "experiments.testgen",
    "report": "experiments.report",
}
#: one line per entry point for ``spikefi --help``
SUMMARIES = {
    "main": "the demo: train the digits CNN, golden run, campaigns, search, test program, report",
    "train": "train a zoo network (digits_cnn, ...) and write its model card",
    "golden": "evaluate a saved network without faults (accuracy, firing rates, predictions)",
    "campaign": "one fault-injection campaign as one resumable MLflow run (or one shard of it)",
    "sweep": "several campaigns over a shared base: one MLflow run each, under a sweep run",
    "search": "worst-case fault search with Optuna (which k faults hurt most)",
    "testgen": "a compact test program (inputs + expected outputs) that detects given faults",
    "report": "reliability report (HTML + Markdown) from tracked campaign runs or result folders",
}


def usage() -> str:
    """The text ``spikefi --help`` prints."""
    width = max(map(len, ENTRY_POINTS))
    lines = [f"usage: spikefi {{{','.join(ENTRY_POINTS)}}} [options]", "",
             "Reliability analysis of spiking neural networks. Entry points (also `python -m experiments.<name>` "
             "and `mlflow run . -e <name>`):", ""]
    lines += [f"  {name:<{width}}  {SUMMARIES[name]}" for name in ENTRY_POINTS]
    lines += ["", "Run `spikefi <entry point> --help` for its options; docs/mlflow.md describes them."]
    return "\n".join(lines)


def current_folder_importable() -> None:
    """Puts the current folder first on ``sys.path``, as ``python -m`` does (not under ``-P``).

    A console script's ``sys.path[0]`` is the folder of the script (the environment's
    ``bin``), so without this a user's module in the current folder is not importable from
    ``spikefi ...`` although it is from ``python -m experiments....``."""
    if getattr(sys.flags, "safe_path", False):
        return
    cwd = os.getcwd()
    if not any(entry in ("", cwd) for entry in sys.path[:1]):
        sys.path.insert(0, cwd)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in ENTRY_POINTS:
        known = ", ".join(ENTRY_POINTS)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"spikefi: unknown entry point {argv[0]!r}; choose one of: {known}", file=sys.stderr)
            return 2
        print(usage())
        return 0
    current_folder_importable()
    module = importlib.import_module(ENTRY_POINTS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
