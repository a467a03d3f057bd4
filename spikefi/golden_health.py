"""Telling a degenerate golden network from a working one, from its golden summary.

A campaign on a network that does not work (untrained, wrong weights file, wrong data)
finishes "clean": when the golden network already gets (almost) nothing right, no fault can
make a correctly classified sample wrong, so 0% of the faults are critical. Such a golden
network is flagged when any of these holds (the thresholds are module constants):

* **ties**: more than :data:`TIED_FRACTION` (half) of the samples have a tie at the top of
  the output (two or more classes with the most spikes; the prediction is then the lowest
  tied class index). A sample without any output spike is a tie of every class at 0, so
  this also catches outputs that are silent on more than half of the samples;
* **silent output**: the output layer fired no spike at all on the whole test set;
* **chance accuracy**: the accuracy is at most chance level ``1/classes`` plus
  :data:`CHANCE_SIGMAS` (2) binomial standard errors ``sqrt(p (1 - p) / samples)`` of it,
  i.e. not distinguishable from guessing on that many samples.

:func:`golden_problems` lists the reasons (empty for a healthy network); entry points print
them as a warning, tag the run ``spikefi.golden_health`` and the report repeats them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["TIED_FRACTION", "CHANCE_SIGMAS", "HEALTH_TAG", "golden_problems", "health_tag", "warning_line"]

#: more than this fraction of tied samples flags the golden network
TIED_FRACTION = 0.5
#: accuracy within this many binomial standard errors above chance flags it
CHANCE_SIGMAS = 2.0
#: MLflow run tag holding ``ok`` or ``degenerate: <reasons>``
HEALTH_TAG = "spikefi.golden_health"


def golden_problems(golden: Mapping[str, Any], classes: int | None = None) -> list[str]:
    """Why the golden network looks degenerate (empty list: it does not).

    Args:
        golden: a golden summary (``Campaign.golden()``, a result's ``meta["golden"]``):
            ``accuracy``, ``samples``, ``tied`` and ``spike_counts`` (per layer, in order).
        classes: number of output classes; None skips the chance-accuracy check.
    """
    problems: list[str] = []
    n = int(golden.get("samples") or 0)
    if n <= 0:
        return problems
    tied = golden.get("tied")
    if tied is not None and int(tied) > TIED_FRACTION * n:
        problems.append(f"{int(tied)} of {n} samples tie at the top of the output (no or equal output spikes)")
    counts = golden.get("spike_counts") or {}
    if counts and float(list(counts.values())[-1]) == 0:
        problems.append(f"the output layer {list(counts)[-1]!r} fired no spike on any sample")
    accuracy = golden.get("accuracy")
    if classes is not None and classes >= 2 and accuracy is not None and math.isfinite(float(accuracy)):
        chance = 1.0 / classes
        limit = chance + CHANCE_SIGMAS * math.sqrt(chance * (1 - chance) / n)
        if float(accuracy) <= limit:
            problems.append(f"accuracy {float(accuracy):.1%} is at chance level (1/{classes} = {chance:.1%}; "
                            f"<= {limit:.1%} on {n} samples)")
    return problems


def health_tag(problems: list[str]) -> str:
    """The value of the run tag :data:`HEALTH_TAG`."""
    return "ok" if not problems else "degenerate: " + "; ".join(problems)


def warning_line(problems: list[str]) -> str:
    """The console warning for a degenerate golden network (one line)."""
    return ("WARNING: the golden network looks degenerate (" + "; ".join(problems) + "): faults cannot make it "
            "much worse, so a low critical-fault rate means nothing; check the weights and the data")
