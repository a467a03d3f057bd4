"""Compatibility with SpikeFI 1.3 scripts, over spikefi's own engine.

The implementation lives here; the modules a SpikeFI user imports are thin faces:
:mod:`spikefi.core` (``Campaign``, ``CampaignData``, ``CampaignOptimization``),
:mod:`spikefi.fault` (``FaultSite``, ``FaultTarget``, ``FaultModel``, ``Fault``,
``FaultRound``), :mod:`spikefi.models` (the fault library), :mod:`spikefi.visual`,
:mod:`spikefi.utils.io`, :mod:`spikefi.utils.quantization`, :mod:`spikefi.utils.layer` and
:mod:`spikefi.utils.progress`; at top level ``spikefi.Campaign``, ``CampaignData``,
``CampaignOptimization``, ``ff`` (= ``spikefi.fault``), ``fm`` (= ``spikefi.models``),
``visual`` and ``utils`` (loaded lazily). See README "Coming from SpikeFI 1.3".
"""

from __future__ import annotations

__all__ = ["core", "faults", "models", "visual", "io", "quantization", "layer", "progress"]
