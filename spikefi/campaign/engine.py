"""Legacy path of the engines and the faulty-layer maths (kept for one release).

The code moved: the engines to :mod:`spikefi.campaign.engines`, the faulty-layer maths to
:mod:`spikefi.campaign.inject`, the plain data (``ChunkResult``, ``RoundStats``,
``PreparedRound`` ...) to :mod:`spikefi.campaign.types`. Import from there; the names
below keep working until the next release.
"""

from .engines import ENGINES, Engine, NaiveEngine, SequentialEngine, get_engine, tied_top
from .engines.base import _apply_finish, _finish_tensors
from .engines.naive import _naive_round, _resolve_naive
from .inject import (
    _device_indices,
    _index,
    _masks,
    faulty_layer,
    layer_spikes_with_stats,
    neuron_output,
    parametric_fire,
    prepare_round,
    prepare_rounds,
    scoped_injection,
    spikes_with_stats,
    synaptic_output,
)
from .types import (
    ChunkResult,
    LayerFaults,
    PreparedRound,
    RoundStats,
    _LazyIndex,
    _Neuron,
    _Parametric,
    _Synapse,
    faults_json,
)

__all__ = ["ChunkResult", "Engine", "NaiveEngine", "SequentialEngine", "ENGINES", "get_engine", "RoundStats",
           "prepare_round", "prepare_rounds"]

# the legacy module's other names, importable as before
_LEGACY = (_apply_finish, _finish_tensors, _naive_round, _resolve_naive, _device_indices, _index, _masks, faulty_layer,
           layer_spikes_with_stats, neuron_output, parametric_fire, scoped_injection, spikes_with_stats,
           synaptic_output, tied_top, LayerFaults, PreparedRound, _LazyIndex, _Neuron, _Parametric, _Synapse,
           faults_json)
