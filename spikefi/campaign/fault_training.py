"""Training under faults: how well does (re)training recover from a fault?

Two scenarios, as in SpikeFI:

* ``pre`` — the fault is present from initialisation and the network is trained with it
  (fault-aware training of a chip whose defects are known before training);
* ``during`` — training starts golden; the fault appears at ``fault_epoch`` and training
  continues with it.

Faulty synapses keep their faulty value (a dead synapse stays 0) while the healthy
weights train; where a model maps the stored weight (``PerturbedSynapse``: ``w * factor``)
the gradient flows through that mapping. Faulty neurons behave as in a campaign; a
parametric neuron trains with its own surrogate gradient. The epoch with the best test
accuracy *under the fault* is kept.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..faults.quantization import QuantParams
from ..snn.loss import loss as spike_loss
from ..snn.loss import predict
from ..training import dataset_tensors, one_hot_target
from .inject import faulty_layer, prepare_round
from .types import PreparedRound

__all__ = ["FaultyNetwork", "FaultTrainingRecord", "FaultTrainingResult", "train_under_faults"]


class FaultyNetwork(nn.Module):
    """A trainable view of a campaign's network with one round's faults applied.

    It is an :class:`~spikefi.campaign.context.InjectionContext`: it has what the
    faulty-layer maths reads (``netmap``, ``seed``, ``device``, ``qparams``, ``qcodes``,
    ``faulty_slayer``), with the network map of the trainable copy ``net``.
    """

    def __init__(self, campaign: Any, round_index: int, net: nn.Module) -> None:
        super().__init__()
        from .network import NetworkMap

        self.net = net
        c, h, w = (int(v) for v in campaign.x.shape[1:4])
        self.netmap = NetworkMap(net, (c, h, w), int(campaign.steps))
        self.seed = int(campaign.seed)
        self.device: torch.device = campaign.device
        self.qparams: dict[str, QuantParams] = campaign.qparams
        self.qcodes: dict[str, torch.Tensor] = {}
        self._campaign = campaign
        self.round = campaign.rounds[round_index]
        self.prepared: PreparedRound = prepare_round(self, self.round, trainable=True)
        self.faults_active = True

    def faulty_slayer(self, neuron: dict[str, Any]) -> Any:
        return self._campaign.faulty_slayer(neuron)

    def forward(self, x: torch.Tensor, samples: Sequence[int]) -> torch.Tensor:
        s = x
        for name in self.netmap.order:
            lf = self.prepared.layers.get(name) if self.faults_active else None
            s = faulty_layer(self, name, s, lf, samples, self.round.round_id)
        return s


@dataclass
class FaultTrainingRecord:
    epoch: int
    faulty: bool
    train_loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float


@dataclass
class FaultTrainingResult:
    round_id: int
    history: list[FaultTrainingRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_accuracy: float = float("nan")
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)

    def history_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([vars(r) for r in self.history]).assign(label=f"round {self.round_id}")


@torch.no_grad()
def _accuracy(model: FaultyNetwork, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(y), batch_size):
        idx = list(range(start, min(start + batch_size, len(y))))
        out = model(x[idx].to(model.device), idx)
        correct += int((predict(out) == y[idx].to(model.device)).sum())
    return correct / len(y)


def train_under_faults(
    campaign: Any,
    train_set: Any,
    *,
    round_index: int = 0,
    mode: str = "pre",
    fault_epoch: int = 1,
    epochs: int = 5,
    lr: float = 0.01,
    batch_size: int = 32,
    seed: int = 0,
    reinitialize: bool | None = None,
    max_samples: int | None = None,
    on_epoch: Callable[[FaultTrainingRecord], None] | None = None,
) -> FaultTrainingResult:
    """Trains the campaign's network under the faults of round ``round_index``.

    Args:
        campaign: a :class:`~spikefi.campaign.Campaign` (its test set scores each epoch).
        train_set: training data.
        mode: ``pre`` (faults from the first epoch) or ``during`` (from ``fault_epoch``).
        fault_epoch: first faulty epoch in ``during`` mode (1-based).
        reinitialize: start from fresh weights (default: ``True`` for ``pre``, ``False``
            for ``during``, which continues from the campaign's trained network).
        max_samples: train on this many shuffled samples per epoch.

    Returns:
        the per-epoch history and the best epoch's weights (accuracy under the fault).
    """
    if mode not in ("pre", "during"):
        raise ConfigError(f"mode must be 'pre' or 'during', got {mode!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be an int >= 1, got {epochs!r}")
    if mode == "during" and not 1 <= fault_epoch <= epochs:
        raise ConfigError(f"fault_epoch must be in [1, {epochs}], got {fault_epoch!r}")
    if campaign.quantization:
        raise ConfigError("training under faults is not supported for quantized campaigns")
    if not -len(campaign.rounds) <= round_index < len(campaign.rounds):
        raise ConfigError(f"round_index {round_index} out of range: {len(campaign.rounds)} rounds")
    net = copy.deepcopy(campaign.net)
    reinitialize = (mode == "pre") if reinitialize is None else reinitialize
    modules = dict(net.named_modules())
    for p in net.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(seed)
    for name, info in campaign.netmap.layers.items():
        if info.synapse_shape is None:  # pooling weights are fixed
            continue
        weight = modules[name].weight
        if reinitialize:  # fresh Gaussian weights with the trained layer's spread
            fresh = torch.randn(weight.shape, generator=g, dtype=weight.dtype) * weight.detach().std().cpu()
            weight.data = fresh.to(weight.device)
        weight.requires_grad_(True)
    model = FaultyNetwork(campaign, round_index, net)
    x, y = dataset_tensors(train_set)
    x = x.to(campaign.dtype)
    loss_fn = campaign.loss_fn or spike_loss(getattr(campaign.net, "config", None) or {})
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr, amsgrad=True)
    generator = torch.Generator().manual_seed(seed)
    result = FaultTrainingResult(model.round.round_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            model.faults_active = mode == "pre" or epoch >= fault_epoch
            net.train()
            order = torch.randperm(len(y), generator=generator)
            if max_samples is not None:
                order = order[:max_samples]
            loss_sum, correct = 0.0, 0
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size].tolist()
                xb, yb = x[idx].to(campaign.device), y[idx].to(campaign.device)
                out = model(xb, idx)
                value = loss_fn.numSpikes(out, one_hot_target(yb, out.shape[1], out.dtype))
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                optimizer.step()
                loss_sum += value.item()
                correct += int((predict(out.detach()) == yb).sum())
            model.faults_active = True  # score under the fault, even before it appears
            test_acc = _accuracy(model, campaign.x, campaign.y, campaign.batch_size)
            record = FaultTrainingRecord(epoch, mode == "pre" or epoch >= fault_epoch, loss_sum / len(order),
                                         correct / len(order), test_acc, time.perf_counter() - t0)
            result.history.append(record)
            if on_epoch is not None:
                on_epoch(record)
            if not result.best_state or test_acc > result.best_accuracy:
                result.best_epoch, result.best_accuracy = epoch, test_acc
                result.best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return result
