"""Fault library: sites, models, timing, quantization helpers and deployment formats."""

from .analog import (
    AnalogDevices,
    AnalogLayer,
    DeviceMapCell,
    LayerPositions,
    read_device_map,
    write_device_map,
)
from .deployment import DeploymentFormat, FixedPoint, WeightFormat
from .memory import (
    AdjacentBitUpset,
    FaultMap,
    FaultMapCell,
    Float32AdjacentBitUpset,
    Float32SoftErrors,
    MemoryFaultModel,
    SoftErrors,
    StuckBitSynapse,
    WeightMemory,
    read_fault_map,
    write_fault_map,
)
from .models import (
    BiasShift,
    BitFlipSynapse,
    DeadNeuron,
    DeadSynapse,
    FaultModel,
    FloatBitFlipSynapse,
    LeakFault,
    MembraneBitFlip,
    NeuronDrift,
    NeuronFaultModel,
    NeuronStageFaultModel,
    NoReset,
    ParametricFaultModel,
    ParametricNeuron,
    PerturbedSynapse,
    RandomModel,
    SaturatedNeuron,
    SaturatedSynapse,
    StuckNeuron,
    StuckSynapse,
    SynapseContext,
    SynapseFaultModel,
    model_from_spec,
    model_registry,
)
from .neuron_state import MembraneUpset, NeuronStateUpset, RefractoryUpset, StateSoftErrors
from .sites import Fault, LayerInfo, ResolvedFault, Site, resolve_fault
from .timing import Intermittent, Permanent, PerSample, Timing, Window, timing_from_spec

__all__ = [
    "FaultModel", "NeuronFaultModel", "SynapseFaultModel", "ParametricFaultModel", "SynapseContext",
    "DeadNeuron", "SaturatedNeuron", "StuckNeuron", "ParametricNeuron", "NeuronStageFaultModel", "NeuronDrift",
    "NoReset", "LeakFault", "BiasShift", "MembraneBitFlip",
    "DeadSynapse", "StuckSynapse", "SaturatedSynapse", "PerturbedSynapse", "BitFlipSynapse", "FloatBitFlipSynapse",
    "StuckBitSynapse", "MemoryFaultModel", "FaultMap", "FaultMapCell", "AdjacentBitUpset", "SoftErrors", "Float32SoftErrors",
    "Float32AdjacentBitUpset",
    "WeightMemory",
    "read_fault_map", "write_fault_map",
    "NeuronStateUpset", "MembraneUpset", "RefractoryUpset", "StateSoftErrors",
    "RandomModel", "model_from_spec", "model_registry",
    "Fault", "Site", "LayerInfo", "ResolvedFault", "resolve_fault",
    "Timing", "Permanent", "Window", "Intermittent", "PerSample", "timing_from_spec",
    "AnalogDevices", "AnalogLayer", "DeviceMapCell", "LayerPositions", "read_device_map", "write_device_map",
    "DeploymentFormat", "WeightFormat", "FixedPoint",
]
