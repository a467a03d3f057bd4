"""SpikeFI 1.3's ``spikefi.core``: ``Campaign``, ``CampaignData``, ``CampaignOptimization``,
built on spikefi's own :class:`spikefi.campaign.Campaign` (there is no second engine).

A SpikeFI script runs unchanged::

    import spikefi as sfi
    cmpn = sfi.Campaign(net, (2, 34, 34), net.slayer)
    cmpn.inject([sfi.ff.Fault(sfi.fm.DeadNeuron(), sfi.ff.FaultSite("SF4b"))])
    cmpn.inject_complete(sfi.fm.ThresholdFaultNeuron(2.0), ["SF4a"], fault_sampling_k=50)
    cmpn.run(test_loader)                       # batches of (input, target, label)
    acc = cmpn.performance[0].testing.accuracyLog[-1]

How it maps: faults are defined (random parts drawn with Python's :mod:`random`) and
checked against the network when injected, with the native API's error messages; ``run``
gathers the loader's samples, replays every round on a native campaign and evaluates it
with the native engines (``O0``/``O1`` -> ``naive``, ``O2``/``O3`` -> ``sequential``: late
start and early stop, ``O4``/``FO`` -> ``parallel``, the fastest; all exact and
identical); ``performance[r]`` is a :class:`spikefi.snn.learningStats` per round.
Results are saved as JSON (never pickled); SpikeFI's pickles are refused when loaded.
"""

from __future__ import annotations

import copy
import glob
import json
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from itertools import product
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..campaign import Campaign as NativeCampaign
from ..campaign.mixups import refuse_native_call
from ..errors import ConfigError, DataError, DatasetNotFoundError, FaultSpecError
from ..faults import model_from_spec
from ..jsonutil import json_default
from ..snn.loss import predict
from ..snn.stats import learningStats
from ..training import one_hot_target
from . import io as sfi_io
from .faults import Fault, FaultModel, FaultRound, FaultSite, FaultTarget
from .layer import LayersInfo
from .progress import CampaignProgress

__all__ = ["Campaign", "CampaignData", "CampaignOptimization", "VERSION"]

#: version written into saved campaign data
VERSION = "spikefi-compat-1"
_FORMAT = "spikefi.compat.CampaignData"


class CampaignOptimization(Enum):
    """SpikeFI's optimization levels; every level gives the same (exact) results here."""

    FB = O0 = 0  # per fault, per batch
    BF = O1 = 1  # per batch, per fault
    LS = O2 = 2  # late start
    ES = O3 = 3  # early stop
    FO = O4 = 4  # all optimizations


_ENGINES = {0: "naive", 1: "naive", 2: "sequential", 3: "sequential", 4: "parallel"}


def _optimization(opt: Any) -> CampaignOptimization:
    """``opt`` of :meth:`Campaign.run` as a level: a :class:`CampaignOptimization` or its int 0-4."""
    if isinstance(opt, CampaignOptimization):
        return opt
    if isinstance(opt, int) and not isinstance(opt, bool) and 0 <= opt <= 4:
        return CampaignOptimization(opt)
    raise ConfigError(f"opt must be a CampaignOptimization (O0..O4, FB/BF/LS/ES/FO) or an int 0-4, got {opt!r}")


def _batch_parts(batch: Any, what: str) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """``(input, target or None, label)`` of a loader batch: ``(input, target, label)``,
    ``(index, input, target, label)`` or ``(input, label)``."""
    if isinstance(batch, (list, tuple)) and len(batch) in (2, 3, 4):
        parts = tuple(batch)
        if len(parts) == 4:
            x, target, label = parts[1], parts[2], parts[3]
        elif len(parts) == 3:
            x, target, label = parts
        else:
            (x, label), target = parts, None
        x = torch.as_tensor(x)
        label = torch.as_tensor(label).reshape(-1)
        if x.dim() != 5 or x.shape[0] != label.shape[0]:
            raise DataError(f"{what} batches must hold inputs (N, C, H, W, T) and N labels, got input shape "
                            f"{tuple(x.shape)} and {label.shape[0]} labels")
        return x, None if target is None else torch.as_tensor(target), label.long()
    raise DataError(f"{what} must yield (input, target, label) batches, got {type(batch).__name__}"
                    + (f" of length {len(batch)}" if isinstance(batch, (list, tuple)) else ""))


def _loader_tensors(loader: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if loader is None:
        raise ConfigError(f"{what} is required")
    xs, ys = [], []
    for batch in loader:
        x, _, y = _batch_parts(batch, what)
        xs.append(x)
        ys.append(y)
    if not xs:
        raise DataError(f"{what} yielded no batch")
    return torch.cat(xs), torch.cat(ys)


def _loss_params(spike_loss: Any) -> dict[str, Any]:
    """Native ``net_params`` that make the campaign compute ``spike_loss``'s NumSpikes loss."""
    if spike_loss is None:
        return {}
    error = getattr(spike_loss, "errorDescriptor", None)
    if not isinstance(error, dict):
        raise ConfigError(f"spike_loss must be a spikefi.snn.loss (NumSpikes) object, got {type(spike_loss).__name__}")
    return {"training": {"error": dict(error)}}


class Campaign:
    """A SpikeFI 1.3 fault-injection campaign (see the module docstring).

    Args:
        net: A SLAYER-style network whose children are its layers (names = attributes).
        shape_in: ``(C, H, W)`` of one input.
        slayer: The network's spiking layer (``net.slayer``); required (a default of None only
            so that a native-style ``spikefi.Campaign(net, test_set)`` gets the error naming
            :class:`spikefi.campaign.Campaign`).
        name: Campaign name (used for saved files).
        device: Where to evaluate; default CUDA when available, else the CPU.

    Attributes:
        rounds: Fault rounds (a list of :class:`~spikefi.fault.FaultRound`); starts with
            one empty round, as in SpikeFI.
        performance: After :meth:`run` / :meth:`run_train`, a learningStats per round.
        duration: Seconds of the last run.
        layers_info: The network's layers (:class:`~spikefi.utils.layer.LayersInfo`).
        result: The native :class:`~spikefi.campaign.CampaignResult` of the last :meth:`run`.
    """

    def __init__(self, net: nn.Module, shape_in: Sequence[int], slayer: Any = None, name: str = "sfi-campaign",
                 device: str | torch.device | None = None) -> None:
        if not isinstance(net, nn.Module):
            raise ConfigError(f"net must be a torch.nn.Module, got {type(net).__name__}")
        refuse_native_call(shape_in)  # a test set here: name spikefi.campaign.Campaign(net, dataset, ...)
        shape = tuple(shape_in) if isinstance(shape_in, (tuple, list, torch.Size)) else ()
        if len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
            raise ConfigError(f"shape_in must be (C, H, W) of positive ints, got {shape_in!r}")
        sim = getattr(slayer, "simulation", None)
        if not isinstance(sim, dict) or "Ts" not in sim or "tSample" not in sim:
            raise ConfigError("slayer must be the network's spiking layer (e.g. net.slayer) with a simulation section")
        self.name = str(name)
        self.golden = net
        self.slayer = slayer
        self.shape_in: tuple[int, int, int] = shape  # type: ignore[assignment]
        self.steps = int(round(float(sim["tSample"]) / float(sim["Ts"])))
        self.device = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        self._placeholder = (torch.zeros(1, *shape, self.steps), torch.zeros(1, dtype=torch.long))
        #: a native campaign without data: it checks faults exactly as the native API does
        self._validator = NativeCampaign(net, self._placeholder, batch_size=1, device="cpu", net_params={})
        self.layers_info = LayersInfo(shape, self._validator.netmap)
        self.rounds: list[FaultRound] = [FaultRound()]
        self.performance: list[learningStats] = []
        self.duration = 0.0
        self.r_idx = 0
        self.faulty: nn.Module | None = None
        self.result: Any = None

    def __repr__(self) -> str:
        lines = [f"FI Campaign '{self.name}': network '{type(self.golden).__name__}', {len(self.rounds)} round(s)"]
        for r, rnd in enumerate(self.rounds[:10]):
            faults = ", ".join(f"{f.model.get_name()} @ {layer} x{len(f)}" for (layer, _), f in rnd.items())
            lines.append(f"  #{r}: {faults or '(no fault)'}")
        if len(self.rounds) > 10:
            lines.append(f"  ... {len(self.rounds) - 10} more")
        return "\n".join(lines)

    # -- faults ---------------------------------------------------------------------------
    def _define_random(self, fault: Fault) -> None:
        """Draw the missing parts of the fault's pending sites (Python's ``random``)."""
        if not fault.sites_pending:
            return
        is_syn = fault.model.is_synaptic()
        for site in fault.sites_pending:
            if not site.layer:
                site.layer = self.layers_info.get_random_inj(is_syn)
        by_layer: dict[str, list[FaultSite]] = {}
        for site in fault.sites_pending:
            by_layer.setdefault(str(site.layer), []).append(site)
        for layer, sites in by_layer.items():
            shape = self.layers_info.get_shape(is_syn, layer)
            taken = {s.position for s in fault.sites if s.layer == layer}
            open_sites = [s for s in sites if not s.position]
            partial = [s for s in sites if s.position]
            if open_sites:
                total = math.prod(shape)
                if taken:
                    flat_taken = {_flat(p, shape) for p in taken}
                    population: Sequence[int] = [i for i in range(total) if i not in flat_taken]
                else:
                    population = range(total)
                picks = random.sample(population, min(len(open_sites), len(population)))
                for site, flat in zip(open_sites, picks, strict=False):
                    site.position = _unflat(flat, shape)
                    taken.add(site.position)
                for site in open_sites[len(picks):]:  # more sites than positions: duplicates dropped
                    site.position = open_sites[0].position
            for site in partial:
                if len(site.position) != len(shape):
                    what = "synapse (out, in, kh, kw)" if is_syn else "neuron (c, h, w)"
                    raise FaultSpecError(f"position {site.position!r} in layer {layer!r} must be a {what} position "
                                         f"of length {len(shape)}")
                free = [range(n) if p is None else (p,) for p, n in zip(site.position, shape, strict=True)]
                options = [p for p in product(*free) if p not in taken]
                if not options:
                    raise FaultSpecError(f"no free {'synapse' if is_syn else 'neuron'} matches {site!r}")
                site.position = random.choice(options)
                taken.add(site.position)
        pending, fault.sites_pending = fault.sites_pending, []
        for site in pending:
            fault.add_site(site)

    def _validate(self, faults: Iterable[Fault]) -> None:
        """Check faults of one round against the network, with the native API's messages."""
        native = [nf for f in faults for nf in f.native()]
        self._validator.eject()
        try:
            self._validator.then_inject(native)
        finally:
            self._validator.eject()

    @staticmethod
    def _as_faults(faults: Fault | Iterable[Fault]) -> list[Fault]:
        if isinstance(faults, Fault):
            return [faults]
        try:
            items = list(faults)
        except TypeError:
            raise FaultSpecError(f"faults must be a Fault or a list of Faults, got {type(faults).__name__}") from None
        for f in items:
            if not isinstance(f, Fault):
                raise FaultSpecError(f"expected a Fault (spikefi.fault.Fault), got {f!r}")
        return items

    def inject(self, faults: Fault | Iterable[Fault], round_idx: int = -1) -> list[Fault]:
        """Add faults to a round (default: the last); undefined sites are drawn now.

        Returns:
            The injected faults (their sites defined).

        Raises:
            FaultSpecError: Bad round index, unknown layer, position out of range, a synapse
                fault in a pooling layer, an invalid parameter, ... (the native messages).
        """
        items = self._as_faults(faults)
        if not self.rounds:
            self.rounds.append(FaultRound())
        if isinstance(round_idx, bool) or not isinstance(round_idx, int) or not -len(self.rounds) <= round_idx < len(self.rounds):
            raise FaultSpecError(f"round index {round_idx} out of range: {len(self.rounds)} rounds")
        for f in items:
            self._define_random(f)
        rnd = self.rounds[round_idx]
        self._validate([*rnd.faults(), *items])
        rnd.insert_many(items)
        return items

    def then_inject(self, faults: Fault | Iterable[Fault]) -> list[Fault]:
        """Open a new round and inject ``faults`` there."""
        self.rounds.append(FaultRound())
        try:
            return self.inject(faults, -1)
        except Exception:
            self.rounds.pop()
            raise

    def inject_complete(self, fault_model: FaultModel, layer_names: Iterable[str] | str | None = None,
                        fault_sampling_k: int | None = None) -> list[Fault]:
        """One round per site (neuron or synapse, as the model targets) of every listed layer.

        Args:
            fault_model: The model of every fault.
            layer_names: Layers (a name, a list, or ``None``/``""``/``[]`` for every conv and
                dense layer).
            fault_sampling_k: Keep a random sample of this many sites (``random.sample``;
                ``random.seed`` fixes it); all sites when ``None`` or larger than their number.

        Returns:
            The injected faults, one per new round.
        """
        if not isinstance(fault_model, FaultModel):
            raise FaultSpecError(f"fault_model must be a SpikeFI fault model (spikefi.models), got {fault_model!r}")
        if isinstance(layer_names, str):
            names = [layer_names] if layer_names else []
        else:
            names = list(layer_names or [])
        if not names:
            names = self.layers_info.get_injectables()
        if fault_sampling_k is not None and (isinstance(fault_sampling_k, bool) or not isinstance(fault_sampling_k, int)
                                             or fault_sampling_k < 1):
            raise FaultSpecError(f"fault_sampling_k must be None or an int >= 1, got {fault_sampling_k!r}")
        is_syn = fault_model.is_synaptic()
        shapes = [(name, self.layers_info.get_shape(is_syn, name)) for name in names]
        sizes = [math.prod(s) for _, s in shapes]
        total = sum(sizes)
        picks: Sequence[int] = range(total)
        if fault_sampling_k is not None and fault_sampling_k <= total:
            picks = random.sample(range(total), fault_sampling_k)
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        faults = []
        for flat in picks:
            i = max(j for j, s in enumerate(starts) if s <= flat)
            name, shape = shapes[i]
            faults.append(Fault(fault_model, FaultSite(name, _unflat(flat - starts[i], shape))))
        if faults:
            self._validate([faults[0]])  # the model and the layers; positions are in range by construction
        if self.rounds and not self.rounds[-1]:
            self.rounds.pop()
        for f in faults:
            rnd = FaultRound()
            rnd.insert(f)
            self.rounds.append(rnd)
        return faults

    def eject(self, faults: Fault | Iterable[Fault] | None = None, round_idx: int | None = None) -> None:
        """Remove faults (or whole rounds): from one round, or from every round; with no
        arguments every round is removed (one empty round remains)."""
        items = None if faults is None else self._as_faults(faults)
        if round_idx is not None:
            if not -len(self.rounds) <= round_idx < len(self.rounds):
                raise FaultSpecError(f"round index {round_idx} out of range: {len(self.rounds)} rounds")
            if items:
                self.rounds[round_idx].extract_many(items)
            if not items or not self.rounds[round_idx]:
                self.rounds.pop(round_idx)
        elif items:
            for rnd in self.rounds:
                rnd.extract_many(items)
            self.rounds = [r for r in self.rounds if r]
        else:
            self.rounds.clear()
        if not self.rounds:
            self.rounds.append(FaultRound())

    def reset(self) -> None:
        """Forget the results of the last run (the rounds are kept)."""
        if not self.rounds:
            self.rounds = [FaultRound()]
        self.performance.clear()
        self.r_idx = 0
        self.duration = 0.0
        self.result = None

    # -- running --------------------------------------------------------------------------
    def _native(self, data: tuple[torch.Tensor, torch.Tensor], batch_size: int, net_params: dict[str, Any],
                net: nn.Module | None = None) -> NativeCampaign:
        native = NativeCampaign(net if net is not None else self.golden, data, batch_size=max(1, int(batch_size)),
                                device=self.device, net_params=net_params)
        for rnd in self.rounds:
            native.then_inject(rnd.native())
        return native

    def run(self, test_loader: Any, spike_loss: Any = None, es_tol: int = 0,
            opt: CampaignOptimization | int = CampaignOptimization.FO, progress_mode: str | None = None) -> torch.Tensor:
        """Evaluate every round on the loader's ``(input, target, label)`` batches.

        Args:
            test_loader: The test batches (also ``(index, input, target, label)`` or ``(input, label)``).
            spike_loss: A ``spikefi.snn.loss``: the NumSpikes loss goes into the loss logs.
            es_tol: SpikeFI's early-stop tolerance. Results here are always exact; a
                non-zero value is accepted with a warning and has no effect.
            opt: Optimization level (``O0``..``O4``); only the speed differs.
            progress_mode: ``None``/``"silent"``: no progress bar; otherwise a bar.

        Returns:
            The number of critical samples (golden correct, faulty wrong) per round.
        """
        level = _optimization(opt)
        if isinstance(es_tol, bool) or not isinstance(es_tol, int) or es_tol < 0:
            raise ConfigError(f"es_tol must be an int >= 0, got {es_tol!r}")
        if es_tol:
            warnings.warn(f"es_tol={es_tol}: spikefi's early stop is exact (tolerance 0); the value has no effect",
                          stacklevel=2)
        x, y = _loader_tensors(test_loader, "test_loader")
        native = self._native((x, y), getattr(test_loader, "batch_size", None) or 64, _loss_params(spike_loss))
        self.reset()
        t0 = time.perf_counter()
        result = native.run(engine=_ENGINES[level.value], progress=progress_mode not in (None, "silent"))
        self.duration = time.perf_counter() - t0
        self.result = result
        table = result.table
        for _, row in table.iterrows():
            stats = learningStats()
            samples = int(row["samples"])
            stats.testing.numSamples = samples
            stats.testing.correctSamples = int(round(float(row["accuracy"]) * samples))
            if spike_loss is not None:
                stats.testing.lossSum = float(row["loss"]) * samples
            stats.update()
            self.performance.append(stats)
        return torch.tensor(table["critical"].to_numpy(), dtype=torch.int64)

    def run_train(self, epochs: int, train_loader: Any, test_loader: Any = None, spike_loss: Any = None,
                  optimizer_factory: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer] | None = None,
                  scheduler_factory: Callable[[torch.optim.Optimizer], Any] | None = None,
                  progress_mode: str | None = None, optimizer: torch.optim.Optimizer | None = None) -> list[nn.Module]:
        """Train a copy of the network per round with the round's faults present from the
        start (pre-training injection); per-epoch statistics go to ``performance[r]``.

        Args:
            epochs: Training epochs per round.
            train_loader: Training batches ``(input, target, label)``.
            test_loader: Test batches, evaluated under the faults after every epoch (optional).
            spike_loss: The ``spikefi.snn.loss`` whose ``numSpikes`` is minimised.
            optimizer_factory: ``params -> optimizer`` (called once per round).
            scheduler_factory: ``optimizer -> scheduler`` (stepped once per epoch).
            progress_mode: ``None``/``"silent"``: quiet; ``""``/``"verbose"``: print per epoch.
            optimizer: SpikeFI's older form: an optimizer whose class and settings are
                reused for every round (``run_train(epochs, loader, optimizer, loss)`` works too).

        Returns:
            The trained networks, one per round (evaluation mode). Faulty synapses of a
            round keep their fault when the network is evaluated under the same faults.
        """
        if isinstance(test_loader, torch.optim.Optimizer):  # SpikeFI's run_train(epochs, loader, optimizer, loss)
            optimizer, test_loader = test_loader, None
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ConfigError(f"epochs must be an int >= 1, got {epochs!r}")
        if spike_loss is None or not callable(getattr(spike_loss, "numSpikes", None)):
            raise ConfigError("run_train needs spike_loss, a spikefi.snn.loss with a NumSpikes error section")
        if optimizer_factory is None and optimizer is None:
            raise ConfigError("run_train needs optimizer_factory (params -> torch optimizer) or optimizer")
        from ..campaign.fault_training import FaultyNetwork

        native = self._native(self._placeholder, 1, {})
        classes = self._validator.classes
        self.reset()
        nets: list[nn.Module] = []
        batches = len(train_loader) if hasattr(train_loader, "__len__") else 0
        progress = CampaignProgress(batches, len(self.rounds), epochs)
        progress.timer()
        for r in range(len(self.rounds)):
            self.r_idx = r
            progress.step_round()
            net = copy.deepcopy(self.golden).to(self.device)
            model = FaultyNetwork(native, r, net)
            params = [p for p in net.parameters() if p.requires_grad]
            if optimizer_factory is not None:
                opt = optimizer_factory(params)
            else:
                settings = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}  # type: ignore[union-attr]
                opt = type(optimizer)(params, **settings)
            scheduler = scheduler_factory(opt) if scheduler_factory is not None else None
            stats = learningStats()
            for _ in range(epochs):
                progress.step_epoch()
                model.train()
                seen = 0
                for batch in train_loader:
                    progress.step_batch()
                    x, target, label = _batch_parts(batch, "train_loader")
                    x = x.to(self.device, dtype=next(iter(net.parameters())).dtype)
                    target = one_hot_target(label, classes, x.dtype) if target is None else target.to(x.dtype)
                    out = model(x, list(range(seen, seen + len(label))))
                    seen += len(label)
                    loss = spike_loss.numSpikes(out, target.to(self.device))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    stats.training.correctSamples += int((predict(out.detach()).cpu() == label).sum())
                    stats.training.numSamples += len(label)
                    stats.training.lossSum += float(loss.detach())
                    progress.set_train(stats.training.loss(), stats.training.accuracy())
                    progress.step()
                if scheduler is not None:
                    scheduler.step()
                if test_loader is not None:
                    self._evaluate(model, test_loader, spike_loss, stats, classes)
                if progress_mode not in (None, "silent"):
                    test = stats.testing.accuracy()
                    print(progress.status() + ("" if test is None else f" | testing accuracy {test:.2%}"), flush=True)
                stats.update()
            net.eval()
            nets.append(net)
            self.performance.append(stats)
        progress.timer()
        self.duration = progress.get_duration_sec()
        self.faulty = nets[-1] if nets else None
        return nets

    def _evaluate(self, model: nn.Module, loader: Any, spike_loss: Any, stats: learningStats, classes: int) -> None:
        model.eval()
        seen = 0
        dtype = next(iter(model.parameters())).dtype
        with torch.no_grad():
            for batch in loader:
                x, target, label = _batch_parts(batch, "test_loader")
                x = x.to(self.device, dtype=dtype)
                target = one_hot_target(label, classes, dtype) if target is None else target.to(dtype)
                out = model(x, list(range(seen, seen + len(label))))
                seen += len(label)
                stats.testing.correctSamples += int((predict(out).cpu() == label).sum())
                stats.testing.numSamples += len(label)
                stats.testing.lossSum += float(spike_loss.numSpikes(out, target.to(self.device)))

    # -- results --------------------------------------------------------------------------
    def export(self) -> CampaignData:
        """The campaign's rounds, results and layer information (no network)."""
        return CampaignData(VERSION, self)

    def save(self, fname: str | os.PathLike[str] | None = None) -> str:
        """Save :meth:`export` as JSON (default ``<out>/res/<name>.json``); returns the path."""
        return self.export().save(fname)

    def save_net(self, net: nn.Module | None = None, fname: str | None = None) -> str | None:
        """Save a network's ``state_dict`` (default: the last trained one) to
        ``<out>/net/<fname or name>.pt``; load it with ``torch.load(path, weights_only=True)``.

        Returns:
            The path, or ``None`` when there is no network to save.
        """
        to_save = net if net is not None else self.faulty
        if to_save is None:
            return None
        path = sfi_io.make_net_filepath((fname or self.name) + ".pt", rename=True)
        torch.save(to_save.state_dict(), path)
        return path

    @staticmethod
    def load(fpath: str | os.PathLike[str]) -> CampaignData:
        """Read campaign data saved by :meth:`save` (see :meth:`CampaignData.load`); build a
        campaign again with ``.build(net, slayer)``."""
        return CampaignData.load(fpath)

    @staticmethod
    def load_many(pathname: str) -> list[CampaignData]:
        """Read every campaign data file matching a glob pattern (sorted by name)."""
        return CampaignData.load_many(pathname)


def _flat(position: tuple[int | None, ...], shape: tuple[int, ...]) -> int:
    flat = 0
    for p, n in zip(position, shape, strict=True):
        flat = flat * n + int(p or 0)
    return flat


def _unflat(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for n in reversed(shape):
        flat, rem = divmod(flat, n)
        out.append(rem)
    return tuple(reversed(out))


# --------------------------------------------------------------------------- campaign data


class _LoadedModel(FaultModel):
    """A fault model read back from saved campaign data (its native form and SpikeFI name)."""

    def __init__(self, name: str, target: FaultTarget, args: tuple[Any, ...], native_spec: dict[str, Any]) -> None:
        super().__init__(target, "loaded", *args)
        self._name = name
        self._spec = native_spec
        if target is FaultTarget.PARAMETER:
            self.param_name = native_spec.get("parameter")
            self.param_args = (native_spec.get("factor"),)

    def get_name(self) -> str:
        return self._name

    def native(self) -> Any:
        return model_from_spec(self._spec)

    def _key(self) -> tuple[Any, ...]:
        return self._name, self.target, repr(self._spec)


def _model_json(model: FaultModel) -> dict[str, Any]:
    args = list(getattr(model, "param_args", ())) if model.is_parametric() else list(model.args)
    return {"name": model.get_name(), "target": model.target.name, "args": json.loads(json.dumps(args, default=str)),
            "native": model.native().spec()}


def _stat_json(stat: Any) -> dict[str, Any]:
    keys = ("lossSum", "correctSamples", "numSamples", "minloss", "maxAccuracy", "lossLog", "accuracyLog",
            "bestLoss", "bestAccuracy")
    return {k: getattr(stat, k) for k in keys}


class CampaignData:
    """Everything of a campaign but its network: name, layers, rounds, per-round
    performance, duration and (after a run) the native result table.

    Saved as one JSON file; SpikeFI's pickles are refused on load.
    """

    def __init__(self, version: str, campaign: Campaign | None = None) -> None:
        self.version = version
        self.name = ""
        self.shape_in: tuple[int, ...] = ()
        self.layers_info = LayersInfo((1, 1, 1))
        self.rounds: list[FaultRound] = []
        self.performance: list[learningStats] = []
        self.duration = 0.0
        self.table: Any = None
        self.meta: dict[str, Any] = {}
        if campaign is not None:
            self.name = campaign.name
            self.shape_in = campaign.shape_in
            self.layers_info = copy.deepcopy(campaign.layers_info)
            self.rounds = [copy.copy(r) for r in campaign.rounds]
            self.performance = copy.deepcopy(campaign.performance)
            self.duration = campaign.duration
            if campaign.result is not None:
                self.table = campaign.result.table.copy()
                self.meta = dict(campaign.result.meta)

    def __repr__(self) -> str:
        return f"CampaignData('{self.name}', {len(self.rounds)} rounds, {len(self.performance)} results)"

    def to_json(self) -> dict[str, Any]:
        """The data as a JSON-compatible dict."""
        rounds = []
        for rnd in self.rounds:
            rounds.append([{"layer": layer, "model": _model_json(f.model),
                            "sites": [list(s.position) for s in f.get_sites()]} for (layer, _), f in rnd.items()])
        li = self.layers_info
        return {
            "format": _FORMAT,
            "version": self.version,
            "name": self.name,
            "shape_in": list(self.shape_in),
            "duration": self.duration,
            "layers": [{"name": n, "kind": li.types[n], "neurons": list(li.shapes_neu[n]),
                        "synapses": None if li.shapes_syn[n] is None else list(li.shapes_syn[n])} for n in li.order],
            "rounds": rounds,
            "performance": [{"training": _stat_json(p.training), "testing": _stat_json(p.testing)}
                            for p in self.performance],
            "table": None if self.table is None else json.loads(self.table.to_json(orient="records")),
            "meta": self.meta,
        }

    def save(self, fname: str | os.PathLike[str] | None = None) -> str:
        """Write the data as JSON and return the path.

        ``fname`` defaults to ``<out>/res/<name>.json`` (a new ``"name (n).json"`` rather than
        overwriting); a ``.pkl`` name is written as ``.json`` instead (no pickles).
        """
        if fname is None:
            path = sfi_io.make_res_filepath(f"{self.name}.json", rename=True)
        else:
            path = os.fspath(fname)
            if path.endswith((".pkl", ".pickle")):
                warnings.warn(f"{path!r}: campaign data are saved as JSON, not pickled; writing "
                              f"{os.path.splitext(path)[0] + '.json'!r}", stacklevel=2)
                path = os.path.splitext(path)[0] + ".json"
            elif not path.endswith(".json"):
                path += ".json"
            parent = os.path.dirname(path)
            if parent:
                os.makedirs(parent, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_json(), indent=1, default=json_default))
        return path

    @staticmethod
    def load(fpath: str | os.PathLike[str]) -> CampaignData:
        """Read data written by :meth:`save`.

        Raises:
            DatasetNotFoundError: If the file does not exist.
            DataError: If it is a pickle (SpikeFI's ``.pkl``: refused, unpickling runs
                arbitrary code) or not campaign data.
        """
        path = Path(fpath)
        if not path.is_file():
            raise DatasetNotFoundError(f"campaign data file not found: {str(path)!r}")
        head = path.read_bytes()[:2]
        if path.suffix in (".pkl", ".pickle") or head[:1] == b"\x80":
            raise DataError(
                f"{str(path)!r} is a pickle (SpikeFI's .pkl format); spikefi never unpickles files because loading "
                "a pickle can run arbitrary code. Run the campaign with spikefi and save it with cmpn.save() "
                "(JSON), then read it with Campaign.load('<name>.json') / CampaignData.load(...)"
            )
        try:
            data = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{str(path)!r} is not campaign data (JSON expected): {exc}") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise DataError(f"{str(path)!r} is not spikefi campaign data (format {_FORMAT!r} expected)")
        return CampaignData.from_json(data)

    @staticmethod
    def from_json(data: dict[str, Any]) -> CampaignData:
        """Inverse of :meth:`to_json`."""
        import pandas as pd

        out = CampaignData(str(data.get("version", "")))
        out.name = data["name"]
        out.shape_in = tuple(data["shape_in"])
        out.duration = float(data["duration"])
        li = LayersInfo(tuple(data["shape_in"]) if len(data["shape_in"]) == 3 else (1, 1, 1))
        for layer in data["layers"]:
            n = layer["name"]
            li.order.append(n)
            li.types[n] = layer["kind"]
            li.injectables[n] = li.weightables[n] = layer["synapses"] is not None
            li.shapes_neu[n] = tuple(layer["neurons"])
            li.shapes_syn[n] = None if layer["synapses"] is None else tuple(layer["synapses"])
        out.layers_info = li
        for rnd_json in data["rounds"]:
            rnd = FaultRound()
            for entry in rnd_json:
                m = entry["model"]
                model = _LoadedModel(m["name"], FaultTarget[m["target"]], tuple(m["args"]), m["native"])
                rnd.insert(Fault(model, [FaultSite(entry["layer"], tuple(p)) for p in entry["sites"]]))
            out.rounds.append(rnd)
        for perf in data["performance"]:
            stats = learningStats()
            for phase in ("training", "testing"):
                for k, v in perf[phase].items():
                    setattr(getattr(stats, phase), k, v)
            out.performance.append(stats)
        out.table = None if data.get("table") is None else pd.DataFrame(data["table"])
        out.meta = data.get("meta") or {}
        return out

    @staticmethod
    def load_many(pathname: str) -> list[CampaignData]:
        """:meth:`load` of every file matching the glob ``pathname``, sorted by name."""
        return [CampaignData.load(p) for p in sorted(glob.glob(pathname))]

    def build(self, net: nn.Module, slayer: Any = None, device: str | torch.device | None = None) -> Campaign:
        """A campaign on ``net`` with these rounds and results (the network is not saved)."""
        cmpn = Campaign(net, self.shape_in, slayer if slayer is not None else getattr(net, "slayer", None),
                        self.name, device)
        cmpn.rounds = [copy.copy(r) for r in self.rounds] or [FaultRound()]
        cmpn.performance = copy.deepcopy(self.performance)
        cmpn.duration = self.duration
        return cmpn
