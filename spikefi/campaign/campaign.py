"""Campaign: a network, a test set and rounds of faults, evaluated by an engine.

Example:
    >>> from spikefi.zoo import load_pretrained
    >>> from spikefi.data import load_spiking_digits
    >>> from spikefi.faults import DeadNeuron, Fault, Site
    >>> from spikefi.campaign import Campaign
    >>> net, _, _ = load_pretrained("digits_cnn")
    >>> _, test = load_spiking_digits()
    >>> cmpn = Campaign(net, test, max_samples=64, seed=1)
    >>> ids = cmpn.exhaustive(DeadNeuron(), layers=["SF4"])
    >>> result = cmpn.run(progress=False)
    >>> len(result.table)
    10
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, DataError, DeploymentFormatError, FaultSpecError
from ..faults.analog import AnalogDevices, AnalogLayer, LayerPositions
from ..faults.deployment import DeploymentFormat, is_deployment_spec
from ..faults.memory import MemoryFaultModel, StuckBitSynapse
from ..faults.models import BitFlipSynapse, FaultModel, ParametricFaultModel, SynapseFaultModel
from ..faults.neuron_state import StateSoftErrors
from ..faults.quantization import QuantParams, affine_params, dequantize, quantize
from ..faults.sites import Fault, ResolvedFault, Site, resolve_fault
from ..faults.timing import Permanent, Timing
from ..snn import precision
from ..snn.functional import stats_of_spikes
from ..snn.layer import layer as spiking_layer
from ..snn.loss import loss as spike_loss
from ..snn.loss import predict_counts
from ..training import dataset_tensors, one_hot_target, raise_if_nonfinite
from .engines import Engine, get_engine, run_rounds, tied_top
from .executors import Executor, InProcessExecutor, get_executor
from .inject import layer_spikes_with_stats, parametric_fire, scoped_injection
from .integer_synapses import IntegerLayer
from .mixups import refuse_legacy_call
from .network import network_map
from .progress import WorkProgress
from .types import Batch, ChunkResult, GoldenBatch, PreparedRound, Round, RoundStats, RunOptions, faults_json

__all__ = ["Campaign", "Round"]


class _LazyGenerator:
    """A ``numpy.random.Generator`` seeded at its first use: seeding one costs more than
    resolving a fault with a fixed site, which draws nothing."""

    def __init__(self, seed: list[int]) -> None:
        self._seed = seed
        self._rng: np.random.Generator | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # private and special names (copy, pickle) are not the generator's
            raise AttributeError(name)
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return getattr(self._rng, name)


class Campaign:
    """A fault-injection campaign on a copy of ``net`` (the original is never modified).

    Args:
        net: a SLAYER network (spikefi zoo network, or any module with a spiking layer
            and Conv3d-based synaptic layers whose forward is the SLAYER chain).
        dataset: the test set: a dataset with ``tensors``/``labels``, a map-style dataset
            of ``(spikes, label)`` or an ``(inputs, labels)`` tuple.
        batch_size: samples per batch.
        seed: campaign seed; every random draw derives from it and the round id.
        device, dtype: where and in which precision to compute (default: the network's).
        quantization: ``{"dtype": "int8" | "uint8" | "int32", "symmetric": bool}`` makes the
            golden network the quantized one (weights = dequantize(quantize(w)) per
            conv/dense layer); needed by bit-flip faults. A
            :class:`~spikefi.faults.deployment.DeploymentFormat` (or its mapping: ``weights``,
            ``layers``, ``membrane``, ``threshold``, ``psp_kernel``) makes it the network as a
            chip stores and computes it: weight codes of 2-16 bits per layer or channel and a
            fixed-point SRM neuron (default dtype then float64, in which that arithmetic is
            exact). A quantized campaign also evaluates the float network
            (:meth:`float_golden`, :meth:`deployment_gap`).
        max_samples: use only the first samples of the dataset.
        expected_accuracy: golden accuracy to check against (e.g. from a model card);
            a difference above ``accuracy_tolerance`` raises :class:`ConfigError`.
        allow_tf32: allow TF32 on CUDA (otherwise a campaign refuses to run with it on).
        net_params: SLAYER parameters with a ``training: error:`` section for the loss
            column (default: the network's own ``config``, as zoo networks have).

    Options are keyword-only: positional arguments after ``dataset``, or an input shape as
    ``dataset`` (SpikeFI 1.3's ``spikefi.Campaign(net, shape_in, slayer)``), raise a
    :class:`ConfigError` naming that class.
    """

    def __init__(
        self,
        net: nn.Module,
        dataset: Any,
        *legacy: Any,
        batch_size: int = 64,
        seed: int = 0,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        quantization: dict[str, Any] | None = None,
        max_samples: int | None = None,
        expected_accuracy: float | None = None,
        accuracy_tolerance: float = 1e-9,
        allow_tf32: bool = False,
        net_params: Any = None,
    ) -> None:
        refuse_legacy_call(dataset, legacy)  # SpikeFI 1.3's (net, shape_in, slayer): name spikefi.Campaign
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed must be an int >= 0, got {seed!r}")
        param = next(iter(net.parameters()), None)
        self.deployment: DeploymentFormat | None = (DeploymentFormat.from_spec(quantization)
                                                    if is_deployment_spec(quantization) else None)
        self.device = torch.device(device) if device is not None else (param.device if param is not None else torch.device("cpu"))
        self.dtype = dtype or (torch.float64 if self.deployment is not None else None) or (
            param.dtype if param is not None else torch.float32)
        if self.device.type == "cuda" and precision.get_allow_tf32() and not allow_tf32:
            raise ConfigError("TF32 is enabled (snn.set_allow_tf32(True)); a campaign needs allow_tf32=True to accept it")
        self.allow_tf32 = allow_tf32
        self.batch_size = batch_size
        self.seed = seed
        # non-finite inputs are refused by the golden pass, on the device (no O(data) scan here)
        x, y = dataset_tensors(dataset, check_finite=False)
        if max_samples is not None:
            if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
                raise ConfigError(f"max_samples must be an int >= 1, got {max_samples!r}")
            x, y = x[:max_samples], y[:max_samples]
        self.x = x.to(self.dtype)
        self.y = y
        self.net = copy.deepcopy(net).to(device=self.device, dtype=self.dtype).eval()
        from ..finite_weights import check_finite_weights  # NaN/Inf weights: refused before anything runs

        check_finite_weights(self.net)
        for p in self.net.parameters():
            p.requires_grad_(False)
        #: the float network (before quantization), for :meth:`float_golden`
        self._float_net: nn.Module | None = copy.deepcopy(self.net) if quantization else None
        self._float_summary: dict[str, Any] | None = None
        self._gap: dict[str, Any] | None = None
        self._float_cmpn: Campaign | None = None
        self._net_params = net_params
        if self.deployment is not None and self.deployment.has_neuron_formats:
            if callable(getattr(self.net, "neuron_stages", None)):
                raise DeploymentFormatError("membrane, threshold and psp_kernel formats describe SLAYER's SRM neuron; "
                                            "this is a NIR network (give it weights and layers formats only)")
            from .deployment import deploy_spiking_layer

            deploy_spiking_layer(self.net, self.deployment)
        c, h, w = (int(v) for v in self.x.shape[1:4])
        self.steps = int(self.x.shape[-1])
        self.netmap = network_map(self.net, (c, h, w), self.steps)
        self._options = RunOptions()
        classes = self.netmap.output_shape[0]
        if int(self.y.min()) < 0 or int(self.y.max()) >= classes:
            raise DataError(f"labels must be in [0, {classes}) for this network, got [{int(self.y.min())}, {int(self.y.max())}]")
        self.classes = classes
        self.qparams: dict[str, QuantParams] = {}
        self.qcodes: dict[str, torch.Tensor] = {}
        self.quantization = (self.deployment.to_spec() if self.deployment is not None
                             else dict(quantization) if quantization else None)
        if self.deployment is not None:
            from .deployment import deploy_weights

            self.qparams, self.qcodes = deploy_weights(self.netmap, self.deployment)  # type: ignore[assignment]
        elif self.quantization:
            self._quantize(self.quantization)
        self.loss_fn = self._loss(net_params)
        self._rounds: list[Round] = []
        self._next_id = 0
        self._golden: list[GoldenBatch] | None = None
        self._golden_summary: dict[str, Any] | None = None
        self._device_batches: list[Batch] | None = None
        self._slayers: dict[str, Any] = {}
        self.expected_accuracy = expected_accuracy
        self.accuracy_tolerance = accuracy_tolerance

    # -- options ------------------------------------------------------------------------
    @property
    def options(self) -> RunOptions:
        """The run options the engines read (:class:`~spikefi.campaign.types.RunOptions`):
        ``force_hooks`` and ``keep_predictions`` of the run in progress."""
        return self._options

    @options.setter
    def options(self, value: RunOptions) -> None:
        if not isinstance(value, RunOptions):
            raise ConfigError(f"options must be a RunOptions, got {value!r}")
        self._options = value

    @property
    def force_hooks(self) -> bool:
        """Evaluate through the network's own forward with scoped hooks even for chains."""
        return self._options.force_hooks

    @force_hooks.setter
    def force_hooks(self, value: bool) -> None:
        self._options = replace(self._options, force_hooks=bool(value))

    @property
    def keep_predictions(self) -> bool:
        """Keep every round's per-sample predictions (``CampaignResult.predictions``)."""
        return self._options.keep_predictions

    @keep_predictions.setter
    def keep_predictions(self, value: bool) -> None:
        self._options = replace(self._options, keep_predictions=bool(value))

    # -- moving and shipping ------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """Pickled state without the golden pass and device caches: a campaign shipped to a
        worker (an executor's actor) runs its own golden pass where it lands."""
        state = self.__dict__.copy()
        state.update(_golden=None, _golden_summary=None, _device_batches=None, _slayers={}, _float_cmpn=None, _gap=None)
        return state

    def to(self, device: str | torch.device) -> Campaign:
        """Moves the campaign (network, loss, quantization codes) to ``device``, in place.

        The golden pass and device caches are dropped (they are recomputed on first use);
        the test set stays where it is (batches are copied to the device as they are used).
        Returns ``self``.
        """
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {str(device)!r} asked for, but CUDA is not available here")
        if device.type == "cuda" and precision.get_allow_tf32() and not self.allow_tf32:
            raise ConfigError("TF32 is enabled (snn.set_allow_tf32(True)); a campaign needs allow_tf32=True to accept it")
        self.net.to(device)
        if self.loss_fn is not None:
            self.loss_fn = self.loss_fn.to(device)
        self.qcodes = {k: v.to(device) for k, v in self.qcodes.items()}
        self.device = device
        self._golden = self._golden_summary = self._device_batches = None
        self._slayers = {}
        self._float_cmpn = None
        self._gap = None
        return self

    def portable_copy(self) -> Campaign:
        """A copy on the CPU without caches: what an executor ships to its workers."""
        clone = copy.deepcopy(self)  # through __getstate__: caches dropped, shared modules kept shared
        return clone if clone.device.type == "cpu" else clone.to("cpu")

    def adopt_golden_summary(self, summary: dict[str, Any]) -> None:
        """Takes the golden summary computed by a worker (executors: the driver then needs no
        golden pass of its own for the result's metadata)."""
        if self._golden_summary is None:
            self._golden_summary = dict(summary)

    # -- set-up helpers ---------------------------------------------------------------
    def _quantize(self, spec: dict[str, Any]) -> None:
        unknown = set(spec) - {"dtype", "symmetric"}
        if unknown:
            raise ConfigError(f"unknown quantization keys {sorted(unknown)}; allowed: dtype, symmetric "
                              "(or, without dtype, a deployment format: weights, layers, membrane, threshold, "
                              "psp_kernel, name)")
        dtype = spec.get("dtype", "int8")
        for name, info in self.netmap.layers.items():
            if info.synapse_shape is None:
                continue
            module = self.netmap.modules[name]
            if getattr(module, "preHookFx", None) is not None:
                raise ConfigError(f"layer {name!r} has a preHookFx; quantized campaigns need plain weights")
            weight = self.netmap.effective_weight(name).detach()
            qp = affine_params(weight, dtype, bool(spec.get("symmetric", False)))
            codes = quantize(weight, qp)
            self.netmap.set_weight(name, dequantize(codes, qp, dtype=weight.dtype))
            self.qparams[name] = qp
            self.qcodes[name] = codes
            integer = getattr(self.netmap, "integer", None)
            if integer is not None:  # SLAYER layers: synaptic outputs computed integer-exactly
                integer[name] = IntegerLayer(qp.scale, self.netmap.spike_value)

    def _loss(self, net_params: Any) -> Any:
        """NumSpikes loss when the network's parameters have a ``training: error:`` section."""
        cfg = net_params if net_params is not None else getattr(self.net, "config", None)
        try:
            error = cfg["training"]["error"]  # type: ignore[index]
        except (KeyError, TypeError, ConfigError):
            return None
        slayer = self.netmap.slayer
        if slayer is None:  # a NIR network: no NumSpikes loss
            return None
        params = {"neuron": slayer.neuron, "simulation": slayer.simulation, "training": {"error": error}}
        return spike_loss(params).to(device=self.device, dtype=self.dtype)

    def faulty_slayer(self, neuron: dict[str, Any]) -> Any:
        """A spiking layer with the faulty neuron's parameters (cached)."""
        key = repr(sorted(neuron.items()))
        slayer = self._slayers.get(key)
        if slayer is None:
            try:
                if self.deployment is not None and self.deployment.has_neuron_formats:
                    from .deployment import (
                        DeployedLayer,  # the faulty neuron's parameters are stored in fixed point too
                    )

                    slayer = DeployedLayer(neuron, self.netmap.simulation(), self.deployment)
                else:
                    slayer = spiking_layer(neuron, self.netmap.simulation())
                slayer = slayer.to(device=self.device, dtype=self.dtype)
            except ConfigError as exc:
                raise FaultSpecError(f"faulty neuron parameters are invalid: {exc}") from None
            self._slayers[key] = slayer
        return slayer

    # -- rounds ------------------------------------------------------------------------
    @property
    def rounds(self) -> list[Round]:
        return list(self._rounds)

    def _resolve(self, round_id: int, faults: Iterable[Fault], start: int,
                 existing: Sequence[ResolvedFault] = ()) -> list[ResolvedFault]:
        resolved: list[ResolvedFault] = []
        for j, fault in enumerate(faults):
            if not isinstance(fault, Fault):
                raise FaultSpecError(f"expected a Fault, got {fault!r}")
            rng = _LazyGenerator([self.seed, round_id, start + j, 7])
            kind = "synapse" if fault.model.target == "synapse" else "neuron"
            taken: dict[str, set[tuple[int, ...]]] = {}
            for rf in [*existing, *resolved]:
                if isinstance(rf.positions, LayerPositions):  # a whole layer: the round check names the clash
                    continue
                if ("synapse" if rf.target == "synapse" else "neuron") == kind:
                    taken.setdefault(rf.layer, set()).update(rf.positions)
            if isinstance(fault.model, AnalogDevices):
                found = self._resolve_analog(fault, round_id, start + j)
            elif isinstance(fault.model, MemoryFaultModel):
                found = self._resolve_memory(fault, cast(np.random.Generator, rng))
            elif isinstance(fault.model, StateSoftErrors):
                found = self._resolve_state(fault, cast(np.random.Generator, rng))
            else:
                found = resolve_fault(fault, self.netmap.layers, cast(np.random.Generator, rng), taken)
            for rf in found:
                self._check(rf)
                resolved.append(rf)
        return resolved

    def _resolve_memory(self, fault: Fault, rng: np.random.Generator) -> list[ResolvedFault]:
        """The per-weight faults of a weight-memory model (:mod:`spikefi.faults.memory`)."""
        model = cast(MemoryFaultModel, fault.model)
        if fault.count is not None or fault.density is not None:
            raise FaultSpecError(f"{model.name} chooses its own cells; count and density do not apply")
        if any(s.position is not None for s in fault.sites):
            raise FaultSpecError(f"{model.name} sites name layers only (their weight memory), not positions")
        names = [s.layer for s in fault.sites if s.layer is not None]
        if names and not model.takes_layers:
            raise FaultSpecError(f"{model.name} names its own layers; give it no sites")
        memory = model.weight_memory(self.netmap.layers, self.qparams, names or None)
        return list(model.resolve(memory, rng, fault.timing))

    def _resolve_state(self, fault: Fault, rng: np.random.Generator) -> list[ResolvedFault]:
        """The per-neuron upsets of a neuron-state soft-error model (:mod:`spikefi.faults.neuron_state`)."""
        model = cast(StateSoftErrors, fault.model)
        if self.netmap.slayer is None:
            raise FaultSpecError(f"{model.name} upsets the state of SLAYER neurons; this network is a NIR graph")
        if fault.count is not None or fault.density is not None:
            raise FaultSpecError(f"{model.name} draws its own upsets; count and density do not apply")
        if any(s.position is not None for s in fault.sites):
            raise FaultSpecError(f"{model.name} sites name layers only (their neurons), not positions")
        names = [s.layer for s in fault.sites if s.layer is not None]
        for name in names:
            if name not in self.netmap.layers:
                raise FaultSpecError(f"unknown layer {name!r}; layers: {list(self.netmap.layers)}")
        infos = [self.netmap.layers[n] for n in self.netmap.order if not names or n in names]
        return list(model.resolve(infos, self.steps, rng, fault.timing))

    def _resolve_analog(self, fault: Fault, round_id: int, index: int) -> list[ResolvedFault]:
        """One whole-layer :class:`AnalogLayer` per synaptic layer of an :class:`AnalogDevices` fault."""
        model = cast(AnalogDevices, fault.model)
        if fault.count is not None or fault.density is not None:
            raise FaultSpecError(f"{model.name} maps whole layers; count and density do not apply")
        if any(s.position is not None for s in fault.sites):
            raise FaultSpecError(f"{model.name} sites name layers only (all their synapses), not positions")
        if not isinstance(fault.timing, Permanent):
            raise FaultSpecError(f"{model.name} describes the devices of a deployed chip: its timing is Permanent "
                                 f"(read noise is drawn per sample), got {fault.timing.describe()}")
        if model.threshold_sigma and self.netmap.slayer is None:
            raise FaultSpecError(f"{model.name} threshold_sigma acts on SLAYER neurons (threshold m * theta fires as "
                                 "theta on input / m); this NIR network's neuron stages take NeuronDrift")
        names = [s.layer for s in fault.sites if s.layer is not None]
        for name in names:
            if name not in self.netmap.layers:
                raise FaultSpecError(f"unknown layer {name!r}; layers: {list(self.netmap.layers)}")
            self.netmap.layers[name].shape_for("synapse")
        infos = [i for i in self.netmap.layers.values() if i.synapse_shape is not None
                 and (not names or i.name in names)]
        if not infos:
            raise FaultSpecError(f"{model.name}: the network has no synaptic layer (conv, dense)")
        known = {i.name for i in self.netmap.layers.values() if i.synapse_shape is not None}
        unknown = sorted({c.layer for c in model.cells} - known)
        if unknown:
            raise FaultSpecError(f"device map {model.device_map!r}: layer(s) {unknown} are not synaptic layers of the "
                                 f"network; allowed: {sorted(known)}")
        for c in model.cells:
            shape = self.netmap.layers[c.layer].synapse_shape
            if any(i >= n for i, n in zip(c.index, shape, strict=True)):  # type: ignore[arg-type]
                raise FaultSpecError(f"device map {model.device_map!r}: index {list(c.index)} is out of range in "
                                     f"layer {c.layer!r} of shape (out, in, kh, kw) = {tuple(shape)}")  # type: ignore[arg-type]
        return [ResolvedFault(AnalogLayer(model.params(), i.name, i.synapse_shape,  # type: ignore[arg-type]
                                          (self.seed, round_id, index, i.index)),
                              i.name, LayerPositions(i.synapse_shape), fault.timing, model)  # type: ignore[arg-type]
                for i in sorted(infos, key=lambda i: i.index)]

    def _check(self, rf: ResolvedFault) -> None:
        model = rf.model
        if isinstance(model, SynapseFaultModel) and model.needs_quantization:
            qp = self.qparams.get(rf.layer)
            if qp is None:
                raise FaultSpecError(f"{model.name} needs a quantized campaign: Campaign(..., quantization={{'dtype': 'int8'}})")
            if isinstance(model, (BitFlipSynapse, StuckBitSynapse)):
                model.check_quantization(qp)
        if model.target == "parametric":
            index = tuple(torch.tensor([p[k] for p in rf.positions]) for k in range(3))
            parametric_fire(self, rf.layer, cast(ParametricFaultModel, model), index)  # validates the faulty parameters now

    def _check_round(self, rnd: Round) -> None:
        seen: set[tuple[str, str, tuple[int, ...]]] = set()
        parametric: dict[tuple[str, tuple[int, ...]], list[Timing]] = {}
        whole = {rf.layer for rf in rnd.faults if isinstance(rf.positions, LayerPositions)}
        for rf in rnd.faults:
            if rf.target == "synapse" and rf.layer in whole and not isinstance(rf.positions, LayerPositions):
                raise FaultSpecError(f"layer {rf.layer!r} of round {rnd.round_id} holds analog devices (all its "
                                     f"synapses) and another synapse fault ({rf.model.name}); one per synapse per round")
            if isinstance(rf.positions, LayerPositions):
                key = ("synapse", rf.layer, cast(tuple[int, ...], ()))
                if key in seen:
                    raise FaultSpecError(f"two analog-device faults on layer {rf.layer!r} in round {rnd.round_id}; "
                                         "one per layer per round")
                seen.add(key)
                continue
            for p in rf.positions:
                if rf.target == "parametric":
                    parametric.setdefault((rf.layer, p), []).append(rf.timing)
                key = (rf.target, rf.layer, p)
                if rf.target == "synapse" and key in seen:
                    raise FaultSpecError(f"two synapse faults on the same synapse {rf.layer}{p} in round {rnd.round_id}")
                seen.add(key)
        for (layer, p), timings in parametric.items():
            if len(timings) > 1:
                raise FaultSpecError(
                    f"neuron {layer}{p} has {len(timings)} parametric faults in round {rnd.round_id}; one per neuron per round"
                )

    def inject(self, faults: Fault | Sequence[Fault], round_index: int = -1) -> int:
        """Adds faults to a round (the last one by default; the first round is created).

        Returns the round id.
        """
        faults = [faults] if isinstance(faults, Fault) else list(faults)
        if not self._rounds:
            return self.then_inject(faults)
        try:
            rnd = self._rounds[round_index]
        except IndexError:
            raise FaultSpecError(f"round index {round_index} out of range: {len(self._rounds)} rounds") from None
        added = self._resolve(rnd.round_id, faults, len(rnd.specs), rnd.faults)
        candidate = Round(rnd.round_id, rnd.faults + added, rnd.specs + faults)
        self._check_round(candidate)
        rnd.faults, rnd.specs = candidate.faults, candidate.specs
        return rnd.round_id

    def then_inject(self, faults: Fault | Sequence[Fault] = ()) -> int:
        """Creates a new round with ``faults`` (possibly none: a golden round); returns its id."""
        faults = [faults] if isinstance(faults, Fault) else list(faults)
        round_id = self._next_id
        rnd = Round(round_id, self._resolve(round_id, faults, 0), faults)
        self._check_round(rnd)
        self._next_id += 1
        self._rounds.append(rnd)
        return round_id

    def exhaustive(
        self,
        model: FaultModel,
        layers: Sequence[str] | None = None,
        sample: int | None = None,
        timing: Timing | None = None,
        per_bit: bool = False,
    ) -> list[int]:
        """One round per site of ``model`` in ``layers`` (default: every eligible layer).

        Args:
            sample: draw this many sites at random (without replacement) instead of all.
            per_bit: for a bit-flip model with several bits, one round per (site, bit)
                (site-major, bits in order; ``param`` = the bit) instead of one multi-bit
                upset flipping all of them per site.

        Returns the new round ids.
        """
        if not isinstance(model, FaultModel):
            raise FaultSpecError(f"exhaustive injection needs a FaultModel, got {model!r}")
        if not isinstance(per_bit, bool):
            raise FaultSpecError(f"per_bit must be true or false, got {per_bit!r}")
        if isinstance(model, AnalogDevices):
            raise FaultSpecError(f"{model.name} maps whole layers to devices; put it in a round "
                                 "(then_inject / rounds:), not in an exhaustive campaign")
        if isinstance(model, MemoryFaultModel):
            raise FaultSpecError(f"{model.name} chooses its own cells of the weight memory; put it in a round "
                                 "(then_inject / rounds:), not in an exhaustive campaign")
        split = getattr(model, "split_bits", None)
        if per_bit and split is None:
            raise FaultSpecError(f"per_bit needs a bit-flip model (BitFlipSynapse, FloatBitFlipSynapse), got {model!r}")
        models = split() if per_bit and split is not None else [model]
        timing = timing or Permanent()
        if isinstance(layers, str) or (layers is not None and not all(isinstance(n, str) for n in layers)):
            raise FaultSpecError(f"layers must be a list of layer names (e.g. ['SF4']) or None, got {layers!r}")
        names = list(self.netmap.layers) if layers is None else list(layers)
        sites: list[tuple[str, tuple[int, ...]]] = []
        for name in names:
            if name not in self.netmap.layers:
                raise FaultSpecError(f"unknown layer {name!r}; layers: {list(self.netmap.layers)}")
            info = self.netmap.layers[name]
            if layers is None and model.target == "synapse" and info.synapse_shape is None:
                continue
            shape = info.shape_for(model.target)
            sites.extend((name, tuple(int(v) for v in idx)) for idx in np.ndindex(*shape))
        if sample is not None:
            if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= len(sites):
                raise FaultSpecError(f"sample must be an int in [1, {len(sites)}], got {sample!r}")
            rng = np.random.default_rng([self.seed, len(self._rounds), 11])
            pick = np.sort(rng.choice(len(sites), size=sample, replace=False))
            sites = [sites[i] for i in pick]
        return [self.then_inject(Fault(m, Site(name, pos), timing)) for name, pos in sites for m in models]

    def eject(self, round_index: int | None = None) -> None:
        """Removes one round (by index in :attr:`rounds`) or, with ``None``, every round."""
        if round_index is None:
            self._rounds.clear()
            return
        try:
            del self._rounds[round_index]
        except IndexError:
            raise FaultSpecError(f"round index {round_index} out of range: {len(self._rounds)} rounds") from None

    # -- data and golden -----------------------------------------------------------------
    @property
    def num_samples(self) -> int:
        return int(self.y.numel())

    def batches(self) -> Iterator[Batch]:
        """The test set in batches ``(sample indices, inputs, labels)``, on the campaign's device.

        On CUDA, batches are copied through pinned host memory (about 3x faster than from
        pageable memory) and, when the whole test set takes at most a tenth of the free GPU
        memory, kept there for later passes (every chunk of the naive and sequential
        engines reads the test set again).
        """
        if self._device_batches is not None:
            yield from self._device_batches
            return
        keep: list[Batch] | None = None
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            if self.x.numel() * self.x.element_size() <= free // 10:
                keep = []
        for start in range(0, self.num_samples, self.batch_size):
            stop = min(start + self.batch_size, self.num_samples)
            batch = Batch(list(range(start, stop)), self._to_device(self.x[start:stop]), self.y[start:stop].to(self.device))
            if keep is not None:
                keep.append(batch)
            yield batch
        if keep is not None:
            self._device_batches = keep

    @property
    def inputs_on_device(self) -> bool:
        """Whether :meth:`batches` serves the test set from a copy kept on the device."""
        return self._device_batches is not None

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        if self.device.type != "cuda" or t.device.type != "cpu":
            return t.to(self.device)
        return t.pin_memory().to(self.device, non_blocking=True)

    def predict_counts(self, counts: torch.Tensor) -> torch.Tensor:
        """Class with most output spikes (integer counts), or the largest score (a NIR
        readout's floats); ties go to the lowest index."""
        if counts.is_floating_point():
            return torch.argmax(counts, dim=1)  # the first maximal index
        return predict_counts(counts)

    def sample_losses(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """NumSpikes loss of every sample, ``(N,)`` (float64)."""
        target = one_hot_target(y, out.shape[1], out.dtype)
        return self.loss_fn.numSpikes(out, target, reduction="none").to(torch.float64)

    def sample_loss(self, out: torch.Tensor, y: torch.Tensor) -> float:
        return float(self.sample_losses(out, y).sum())

    def golden_batch(self, b: int) -> GoldenBatch:
        if self._golden is None:  # a summary adopted from a worker carries no cached spikes
            self._golden_summary = None
        self.golden()
        return self._golden[b]  # type: ignore[index]

    def golden_input(self, golden: GoldenBatch, first: int, x: torch.Tensor) -> torch.Tensor:
        """Input spikes of layer ``first`` in the golden run (late start)."""
        if first == 0:
            return x
        prev = self.netmap.order[first - 1]
        return golden.spikes[prev].to(self.dtype) * self.netmap.spike_value

    def golden(self) -> dict[str, Any]:
        """Golden run (cached): accuracy, loss, spike counts and firing rates per layer."""
        if self._golden_summary is not None:
            return self._golden_summary
        t0 = time.perf_counter()
        cache: list[dict[str, Any]] = []  # per batch, the GoldenBatch fields but its spike counts
        # statistics stay on the device until the end (no synchronisation per layer)
        layer_counts, correct_t, tied_t, loss_t, nonfinite_t = [], [], [], [], []
        with precision.allow_tf32(self.allow_tf32 and precision.get_allow_tf32()), torch.no_grad():
            for samples, x, y in self.batches():
                if x.is_floating_point():  # NaN/Inf inputs: counted where the batch is, checked once below
                    nonfinite_t.append((~torch.isfinite(x)).sum())
                spikes: dict[str, torch.Tensor] = {}
                if self.netmap.chain:  # the spiking kernel gives each layer's mask and count
                    s = x
                    per_layer: list[Any] = []
                    for name in self.netmap.order:
                        s, st = layer_spikes_with_stats(self.netmap, name, s, keep_mask=True)
                        spikes[name] = st["fired"]  # type: ignore[assignment]
                        per_layer.append(st["count"])
                else:
                    layer_spikes: dict[str, torch.Tensor] = {}
                    with scoped_injection(self, None, samples, layer_spikes):
                        s = self.net(x)
                    stats: list[dict[str, Any]] = [stats_of_spikes(layer_spikes[name], keep_mask=True)
                                                   for name in self.netmap.order]
                    spikes = {name: st["fired"] for name, st in zip(self.netmap.order, stats, strict=True)}
                    per_layer = [st["count"] for st in stats]
                layer_counts.append(torch.stack(per_layer))
                counts = self.netmap.scores(s)
                pred = self.predict_counts(counts)
                ties = tied_top(counts)
                correct_t.append((pred == y).sum())
                tied_t.append(ties.sum())
                losses = self.sample_losses(s, y) if self.loss_fn is not None else None
                if losses is not None:
                    loss_t.append(losses.sum())
                cache.append({"spikes": spikes, "output": s, "counts": counts, "pred": pred, "tied": ties,
                              "losses": losses})
        # one synchronisation for the scalar counts; NaN/Inf inputs are refused before anything is cached
        nonfinite_sum = torch.stack(nonfinite_t).sum() if nonfinite_t else torch.zeros_like(correct_t[0])
        correct, tied, nonfinite = (int(v) for v in torch.stack(
            [torch.stack(correct_t).sum(), torch.stack(tied_t).sum(), nonfinite_sum]).tolist())
        raise_if_nonfinite(nonfinite)
        per_batch = torch.stack(layer_counts).tolist()
        totals = {name: sum(row[i] for row in per_batch) for i, name in enumerate(self.netmap.order)}
        golden_batches = [GoldenBatch(**entry, spike_counts=dict(zip(self.netmap.order, row, strict=True)))
                          for entry, row in zip(cache, per_batch, strict=True)]
        loss_sum = sum(torch.stack(loss_t).tolist()) if loss_t else 0.0  # summed in batch order, as floats
        n = self.num_samples
        neurons = {name: self.netmap.layers[name].neurons for name in self.netmap.order}
        summary: dict[str, Any] = {
            "accuracy": correct / n,
            "loss": loss_sum / n if self.loss_fn is not None else float("nan"),
            "samples": n,
            "tied": tied,
            "spike_counts": totals,
            "firing_rates": {k: totals[k] / (n * neurons[k] * self.steps) for k in totals},
            "seconds": time.perf_counter() - t0,
        }
        if self.expected_accuracy is not None and abs(summary["accuracy"] - self.expected_accuracy) > self.accuracy_tolerance:
            raise ConfigError(
                f"golden accuracy {summary['accuracy']:.6f} differs from the expected {self.expected_accuracy:.6f} "
                "(model card): wrong model, data or precision?"
            )
        self._golden = golden_batches
        self._golden_summary = summary
        return summary

    def float_golden(self) -> dict[str, Any]:
        """The golden summary (as :meth:`golden`) of the float network this campaign's
        quantized or deployed network was made from (cached); for an unquantized campaign,
        :meth:`golden` itself."""
        if self._float_net is None:
            return self.golden()
        if self._float_summary is None:
            self._float_summary = self._float_campaign().golden()
        return self._float_summary

    def _float_campaign(self) -> Campaign:
        cached: Campaign | None = getattr(self, "_float_cmpn", None)
        if cached is None:
            cached = Campaign(self._float_net, (self.x, self.y), batch_size=self.batch_size, seed=self.seed,  # type: ignore[arg-type]
                              device=self.device, dtype=self.dtype, allow_tf32=self.allow_tf32,
                              net_params=self._net_params)
            self._float_cmpn = cached
        return cached

    def deployment_gap(self) -> dict[str, Any]:
        """Float network vs this campaign's (quantized or deployed) golden network, without
        faults: both accuracies and their change, the share of samples predicted alike, and per
        layer the spike counts, their change and the neuron-steps whose spike differs (see
        :func:`spikefi.campaign.deployment.deployment_gap`)."""
        from .deployment import deployment_gap

        cached = getattr(self, "_gap", None)
        if cached is not None and self._golden_summary is not None:
            return copy.deepcopy(cached)
        deployed = self.golden()
        if self._float_net is None:
            flt = deployed
            mismatched = dict.fromkeys(self.netmap.order, 0)
            agree = 1.0
        else:
            ref = self._float_campaign()
            flt = self.float_golden()
            mismatched = dict.fromkeys(self.netmap.order, 0)
            same = 0
            for b in range(-(-self.num_samples // self.batch_size)):
                mine, theirs = self.golden_batch(b), ref.golden_batch(b)
                same += int((mine.pred == theirs.pred).sum())
                for name in self.netmap.order:
                    mismatched[name] += int((mine.spikes[name] != theirs.spikes[name]).sum())
            agree = same / self.num_samples
        steps = {n: self.num_samples * self.netmap.layers[n].neurons * self.steps for n in self.netmap.order}
        self._gap = deployment_gap(flt, deployed, mismatched, agree, steps)
        self._float_cmpn = None  # its cached golden spikes are no longer needed (the summary stays)
        return copy.deepcopy(self._gap)

    # -- running -------------------------------------------------------------------------
    def result_row(self, rnd: Round, prep: PreparedRound, st: RoundStats) -> dict[str, Any]:
        golden = self.golden()
        faults = rnd.faults
        single = len(faults) == 1 and len(faults[0].positions) == 1
        pos = list(faults[0].positions[0]) if single else []
        pos += [-1] * (4 - len(pos))
        models = sorted({f.model.name for f in faults})
        param_name, param = faults[0].model.scalar_parameter() if len({repr(f.model) for f in faults}) == 1 else ("", float("nan"))
        if rnd.specs and all((getattr(s.model, "chooses_own_cells", False) or isinstance(s.model, AnalogDevices)) for s in rnd.specs) \
                and len({repr(s.model) for s in rnd.specs}) == 1:  # a weight-memory, neuron-state or analog model's parameter
            param_name, param = cast(FaultModel, rnd.specs[0].model).scalar_parameter()
        bit_lists = [getattr(f.model, "bits", None) for f in faults]
        row: dict[str, Any] = {
            "round_id": rnd.round_id,
            "n_faults": sum(len(f.positions) for f in faults),
            "layer": ";".join(dict.fromkeys(f.layer for f in faults)),
            "model": ";".join(models),
            "target": ";".join(sorted({f.target for f in faults})),
            "pos0": pos[0], "pos1": pos[1], "pos2": pos[2], "pos3": pos[3],
            "param_name": param_name,
            "param": float(param),
            "bits": ";".join(dict.fromkeys("+".join(str(b) for b in bits) for bits in bit_lists if isinstance(bits, list))),
            "timing": ";".join(dict.fromkeys(f.timing.describe() for f in faults)),
            "faults": faults_json(faults),
            "samples": st.samples,
            "accuracy": st.correct / st.samples if st.samples else float("nan"),
            "golden_accuracy": golden["accuracy"],
            "critical": st.critical,
            "changed": st.changed,
            "tied": st.tied,
            "loss": st.loss_sum / st.samples if self.loss_fn is not None and st.samples else float("nan"),
            "spike_count_deviation": st.deviation_sum / st.samples if st.samples else float("nan"),
            "first_divergent_layer": "" if st.first_divergence is None else self.netmap.order[st.first_divergence],
        }
        for name in self.netmap.order:
            row[f"spikes.{name}"] = st.spikes.get(name, 0)
        return row

    def iter_chunks(
        self,
        engine: str | Engine = "sequential",
        chunk_size: int = 64,
        rounds: Sequence[Round] | None = None,
        progress: bool = True,
        early_stop_tolerance: float = 0.0,
        executor: Executor | str | None = None,
    ) -> Iterator[ChunkResult]:
        """Evaluates rounds chunk by chunk, yielding each :class:`ChunkResult` when done.

        Args:
            executor: where chunks run (default in-process; ``RayExecutor(...)`` or ``"ray"``
                for Ray actors). Other executors yield chunks in completion order; rows
                are ordered by round id by every consumer.
        """
        exe = get_executor(executor)
        todo = list(self._rounds if rounds is None else rounds)
        if not isinstance(exe, InProcessExecutor):
            if not isinstance(engine, str):
                raise ConfigError(f"executor {exe.name!r} needs the engine by name (naive, sequential, parallel), "
                                  f"got {engine!r}")
            options = RunOptions(engine, chunk_size, early_stop_tolerance, self.keep_predictions, self.force_hooks)
            yield from self._iter_executor(exe, todo, options, progress)
            return
        eng = engine if isinstance(engine, Engine) else get_engine(engine, early_stop_tolerance=early_stop_tolerance)
        options = replace(self._options, engine=eng.name, chunk_size=chunk_size,
                          early_stop_tolerance=eng.early_stop_tolerance)
        self.golden()
        # weighted by each round's work (late start: early layers cost more), so it does not stall near the end
        bar = WorkProgress(self.netmap, todo, self.num_samples, f"campaign ({eng.name})", enabled=progress)
        t0 = time.perf_counter()
        try:
            for chunk in run_rounds(self, todo, options, eng, bar.advance):
                bar.chunk_done(chunk.round_ids)
                yield chunk
        finally:
            bar.close()
        self.last_run_seconds = time.perf_counter() - t0

    def _iter_executor(self, exe: Executor, todo: list[Round], options: RunOptions,
                       progress: bool) -> Iterator[ChunkResult]:
        bar = WorkProgress(self.netmap, todo, self.num_samples, f"campaign ({options.engine}, {exe.name})",
                           enabled=progress)
        t0 = time.perf_counter()
        try:
            for chunk in exe.run(self, todo, options):
                bar.chunk_done(chunk.round_ids)
                yield chunk
        finally:
            bar.close()
        golden = getattr(exe, "golden_summary", None)
        if golden is not None:
            self.adopt_golden_summary(golden)
        self.last_run_seconds = time.perf_counter() - t0

    def run(
        self,
        engine: str | Engine = "sequential",
        chunk_size: int = 64,
        progress: bool = True,
        early_stop_tolerance: float = 0.0,
        keep_predictions: bool = False,
        executor: Executor | str | None = None,
    ) -> Any:
        """Evaluates every round; returns a :class:`~spikefi.campaign.result.CampaignResult`.

        With ``keep_predictions`` the result also holds ``predictions``: the predicted class
        of every (round, sample), shape ``(rounds, samples)``, rows in table order.
        ``executor`` says where chunks run (see :meth:`iter_chunks`); the table is the same.
        """
        from .result import CampaignResult

        t0 = time.perf_counter()
        rows: list[dict[str, Any]] = []
        preds: dict[int, torch.Tensor] = {}
        name = engine if isinstance(engine, str) else engine.name
        exe = get_executor(executor)
        self.keep_predictions = keep_predictions
        try:
            for chunk in self.iter_chunks(engine, chunk_size, progress=progress,
                                          early_stop_tolerance=early_stop_tolerance, executor=exe):
                rows.extend(chunk.rows)
                preds.update(chunk.predictions)
        finally:
            self.keep_predictions = False
        seconds = time.perf_counter() - t0
        meta = self.metadata(name, seconds, early_stop_tolerance)
        meta.update(exe.describe())
        result = CampaignResult.from_rows(rows, meta)
        if keep_predictions:
            ids = result.table["round_id"].tolist() if len(result.table) else []
            result.predictions = np.stack([preds[i].numpy() for i in ids]).astype(np.int16) if ids else None
        return result

    def train(self, train_set: Any, round_index: int = 0, **kwargs: Any) -> Any:
        """Trains a copy of the network under the faults of one round; see
        :func:`~spikefi.campaign.fault_training.train_under_faults` for the options."""
        from .fault_training import train_under_faults

        if self.netmap.slayer is None:
            raise ConfigError("training under faults needs a SLAYER network (its spiking layer has surrogate "
                              "gradients); a NIR network's neuron stages have none: train in the framework it came "
                              "from and import it again")
        return train_under_faults(self, train_set, round_index=round_index, **kwargs)

    @property
    def snn_path(self) -> str:
        """The computation path this campaign's SLAYER layers take on its device now
        (``"fused"`` or ``"reference"``, see :mod:`spikefi.snn.paths`; a NIR network's
        stages are its own: ``"reference"``). Logged with tracked runs as ``snn_path``."""
        if self.netmap.slayer is None:
            return "reference"
        from ..snn.paths import path_name

        return path_name(self.device)

    def metadata(self, engine: str, seconds: float, early_stop_tolerance: float = 0.0) -> dict[str, Any]:
        golden = self.golden()
        return {
            "engine": engine,
            "snn_path": self.snn_path,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "samples": self.num_samples,
            "rounds": len(self._rounds),
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "quantization": self.quantization,
            **({"float_golden": {k: v for k, v in self.float_golden().items() if k != "seconds"},
                "deployment_gap": self.deployment_gap()} if self._float_net is not None else {}),
            "early_stop_tolerance": early_stop_tolerance,
            "layers": {n: {"kind": i.kind, "neuron_shape": list(i.neuron_shape),
                           "synapse_shape": list(i.synapse_shape) if i.synapse_shape else None}
                       for n, i in self.netmap.layers.items()},
            "golden": {k: v for k, v in golden.items() if k != "seconds"},
            "seconds": seconds,
        }
