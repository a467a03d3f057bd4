"""Golden training and evaluation of SLAYER networks with the NumSpikes loss.

Pure PyTorch (no tracking): ``experiments.train`` wraps these functions with MLflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset

from .errors import ConfigError, DataError
from .network_view import NetworkView
from .snn.loss import loss as spike_loss

__all__ = ["EvalResult", "EpochRecord", "TrainResult", "evaluate", "train", "one_hot_target", "dataset_tensors"]


@dataclass
class EvalResult:
    """Golden evaluation of a network on a dataset."""

    accuracy: float
    loss: float
    samples: int
    predictions: torch.Tensor
    labels: torch.Tensor
    firing_rates: dict[str, float]
    seconds: float

    def summary(self) -> dict[str, float]:
        out = {"accuracy": self.accuracy, "loss": self.loss, "samples": float(self.samples)}
        out.update({f"firing_rate_{k}": v for k, v in self.firing_rates.items()})
        return out


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float | None
    test_accuracy: float | None
    seconds: float


@dataclass
class TrainResult:
    history: list[EpochRecord] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final(self) -> EpochRecord:
        return self.history[-1]


def dataset_tensors(dataset: Any, *, check_finite: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs (N, C, H, W, T), labels (N,))`` of a dataset.

    Datasets exposing ``tensors``/``labels`` (e.g. :class:`~spikefi.data.SpikingDigits`)
    are used directly; other map-style datasets are stacked sample by sample.

    Float inputs holding NaN or Inf are refused (:class:`DataError`). The scan is done once
    per input tensor and remembered until the tensor is changed in place, so a sweep of
    campaigns over one dataset pays it once; ``check_finite=False`` skips it for callers
    that check on the device themselves (a campaign's golden pass does).
    """
    if isinstance(dataset, tuple) and len(dataset) == 2:
        x, y = dataset
    elif hasattr(dataset, "tensors") and hasattr(dataset, "labels"):
        x, y = dataset.tensors, dataset.labels
    elif isinstance(dataset, Dataset):
        items = [dataset[i] for i in range(len(dataset))]  # type: ignore[arg-type]
        if not items:
            raise DataError("dataset is empty")
        x = torch.stack([torch.as_tensor(s) for s, _ in items])
        y = torch.as_tensor([label.item() if hasattr(label, "item") else label for _, label in items])
    else:
        raise DataError(
            f"expected a Dataset or an (inputs, labels) tuple, got {type(dataset).__name__}"
        )
    y = _integer_labels(torch.as_tensor(y))
    if x.dim() != 5 or y.dim() != 1 or x.shape[0] != y.shape[0]:
        raise DataError(
            f"inputs must be (N, C, H, W, T) and labels (N,), got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[0] == 0:
        raise DataError("dataset is empty")
    if check_finite:
        _check_finite(x)
    return x, y


def _integer_labels(y: torch.Tensor) -> torch.Tensor:
    """Labels as int64; float labels must be whole numbers (never silently truncated)."""
    if y.dtype == torch.bool or y.is_complex():
        raise DataError(f"labels must be integers, got dtype {y.dtype}")
    if y.is_floating_point():
        bad = ~torch.isfinite(y) | (y != torch.round(y))
        if bool(bad.any()):
            examples = [float(v) for v in y[bad].flatten()[:3]]
            raise DataError(f"labels must be integers (class indices), got {int(bad.sum())} non-integer "
                            f"value(s) such as {examples}")
    return y.long()


#: attribute set on an input tensor once it was found finite: the tensor's version counter then
#: (views share it, so any in-place change of the tensor or a view of it invalidates the mark)
_FINITE_MARK = "_spikefi_finite_version"


def _check_finite(x: torch.Tensor, block: int = 256) -> None:
    """Raises :class:`DataError` when float inputs hold NaN or infinite values.

    O(data) the first time a tensor is seen; O(1) afterwards while it is unchanged.
    """
    if not x.is_floating_point():
        return
    if getattr(x, _FINITE_MARK, None) == x._version:
        return
    bad = sum(int((~torch.isfinite(x[i:i + block])).sum()) for i in range(0, x.shape[0], block))
    raise_if_nonfinite(bad)
    try:
        setattr(x, _FINITE_MARK, x._version)
    except (AttributeError, RuntimeError):  # a tensor subclass without a __dict__: check each time
        pass


def raise_if_nonfinite(count: int) -> None:
    """The one error for ``count`` > 0 non-finite input values."""
    if count:
        raise DataError(f"inputs hold {count} non-finite value(s) (NaN or Inf); spike inputs must be finite")


def one_hot_target(labels: torch.Tensor, classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """NumSpikes target ``(N, classes, 1, 1, 1)`` for integer labels."""
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise DataError(f"labels must be in [0, {classes}), got range [{int(labels.min())}, {int(labels.max())}]")
    target = torch.zeros(labels.shape[0], classes, 1, 1, 1, dtype=dtype, device=labels.device)
    target[torch.arange(labels.shape[0], device=labels.device), labels] = 1
    return target


def _batches(n: int, batch_size: int, order: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    idx = order if order is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        yield idx[i : i + batch_size]


def _device_of(net: torch.nn.Module) -> torch.device:
    return next(net.parameters()).device


@torch.no_grad()
def evaluate(
    net: torch.nn.Module,
    dataset: Any,
    batch_size: int = 256,
    loss_fn: spike_loss | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Accuracy, NumSpikes loss (mean per sample) and per-layer firing rates.

    ``net`` is any network a campaign accepts (a zoo network, a slayerPytorch-style module,
    a ``spikefi.nir.load`` import: :class:`spikefi.network_view.NetworkView`). Firing rate =
    spikes / (neurons x time bins), averaged over the dataset.
    """
    if batch_size <= 0:
        raise ConfigError(f"batch_size must be > 0, got {batch_size}")
    x, y = dataset_tensors(dataset)
    was_training = net.training
    net.eval()
    view = NetworkView(net, x[:2])
    device, dtype = view.device, view.dtype
    t0 = time.perf_counter()
    preds, loss_sum = [], 0.0
    spikes_per_layer: dict[str, float] = {}
    neurons: dict[str, int] = {}
    for batch in _batches(x.shape[0], batch_size):
        xb = x[batch].to(device=device, dtype=dtype)
        out, layers = view.forward_layers(xb)
        preds.append(view.predict(out).cpu())
        for name, s in layers.items():
            spikes_per_layer[name] = spikes_per_layer.get(name, 0.0) + float((s != 0).sum())
            neurons[name] = s[0].numel()
        if loss_fn is not None:
            target = one_hot_target(y[batch].to(device), out.shape[1], out.dtype)
            loss_sum += float(loss_fn.numSpikes(out, target))
        if progress is not None:
            progress(int(batch[-1]) + 1, x.shape[0])
    net.train(was_training)
    predictions = torch.cat(preds)
    n = x.shape[0]
    rates = {name: spikes_per_layer[name] / (n * neurons[name]) for name in spikes_per_layer}
    return EvalResult(
        accuracy=float((predictions == y).float().mean()),
        loss=loss_sum / n if loss_fn is not None else float("nan"),
        samples=n,
        predictions=predictions,
        labels=y,
        firing_rates=rates,
        seconds=time.perf_counter() - t0,
    )


def train(
    net: torch.nn.Module,
    net_params: Any,
    train_set: Any,
    test_set: Any | None = None,
    epochs: int = 10,
    lr: float = 0.01,
    batch_size: int = 32,
    seed: int = 0,
    max_samples: int | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    on_batch: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Trains ``net`` in place with Adam and the NumSpikes loss.

    Shuffling uses a generator seeded with ``seed`` (and dropout draws from torch's
    global generator, seeded with ``seed`` at the start), so the same seed gives the same
    weights on the same device.

    Args:
        net: the network (on its target device): any network a campaign accepts -- a zoo
            network, a slayerPytorch-style module (a spiking layer with ``psp``/``spike``/
            ``srmKernel`` and ``Conv3d`` synaptic layers), or a ``spikefi.nir.load`` import
            whose output is spikes (:class:`spikefi.network_view.NetworkView`).
        net_params: SLAYER parameters with a ``training: error:`` section.
        train_set, test_set: datasets or ``(inputs, labels)`` tuples.
        epochs, lr, batch_size: optimisation settings.
        seed: seeds shuffling and dropout.
        max_samples: train on the first ``max_samples`` shuffled samples of each epoch.
        on_epoch: called with each finished :class:`EpochRecord`.
        on_batch: called with ``(samples done, samples per epoch, batch loss)``.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")
    if not lr > 0:
        raise ConfigError(f"lr must be > 0, got {lr!r}")
    x, y = dataset_tensors(train_set)
    view = NetworkView(net, x[:2])
    view.check_trainable()
    device, dtype = view.device, view.dtype
    loss_fn = spike_loss(net_params).to(device=device, dtype=dtype)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, amsgrad=True)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    result = TrainResult()
    t_start = time.perf_counter()
    classes = None
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        net.train()
        order = torch.randperm(x.shape[0], generator=generator)
        if max_samples is not None:
            order = order[:max_samples]
        loss_sum, correct, seen = 0.0, 0, 0
        for batch in _batches(order.numel(), batch_size, order):
            xb = x[batch].to(device=device, dtype=dtype)
            yb = y[batch].to(device)
            out = net(xb)
            classes = out.shape[1]
            value = loss_fn.numSpikes(out, one_hot_target(yb, classes, dtype))
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            loss_sum += value.item()
            correct += int((view.predict(out.detach()) == yb).sum())
            seen += batch.numel()
            if on_batch is not None:
                on_batch(seen, order.numel(), value.item() / batch.numel())
        test_loss = test_acc = None
        if test_set is not None:
            ev = evaluate(net, test_set, batch_size=max(batch_size, 128), loss_fn=loss_fn)
            test_loss, test_acc = ev.loss, ev.accuracy
        record = EpochRecord(epoch, loss_sum / seen, correct / seen, test_loss, test_acc, time.perf_counter() - t0)
        result.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    net.eval()
    result.seconds = time.perf_counter() - t_start
    return result
