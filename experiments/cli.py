"""The ``spikefi`` console command: ``spikefi <entry point> [args]``.

Entry points are the same as ``python -m experiments.<name>`` and the MLproject's.
"""

from __future__ import annotations

import importlib
import sys

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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in ENTRY_POINTS:
        known = ", ".join(ENTRY_POINTS)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"spikefi: unknown entry point {argv[0]!r}; choose one of: {known}", file=sys.stderr)
            return 2
        print(f"usage: spikefi {{{known}}} [options]\n\nRun `spikefi <entry point> --help` for its options.")
        return 0
    module = importlib.import_module(ENTRY_POINTS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
