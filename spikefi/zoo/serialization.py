"""Saving and loading networks without pickling objects.

A saved network is a ``torch.save`` of plain data only — strings, numbers, lists,
dicts and tensors — so it loads with ``torch.load(..., weights_only=True)``::

    {"format": "spikefi.network", "schema_version": 1, "architecture": "digits_cnn",
     "input_shape": [2, 16, 16], "config": {<SLAYER yaml as a dict>},
     "metadata": {...}, "state_dict": {...}}

The SLAYER yaml is also written beside the checkpoint (``<name>.yaml``) for people and
for slayerPytorch users.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import yaml

from ..errors import ConfigError, StateDictError
from ..finite_weights import check_finite_weights
from ..snn.params import params
from .architectures import SpikingNetwork, build

__all__ = ["SCHEMA_VERSION", "save_network", "load_network", "load_pretrained", "pretrained_path", "model_card"]

SCHEMA_VERSION = 1
FORMAT = "spikefi.network"


def _plain(value: Any) -> Any:
    """Converts yaml/dict content to plain JSON-like data (bool keys kept)."""
    return yaml.safe_load(yaml.safe_dump(value))


def save_network(
    net: SpikingNetwork, path: str | Path, net_params: Any, metadata: dict[str, Any] | None = None
) -> Path:
    """Writes ``net`` to ``path`` (``.pt``) and its SLAYER yaml beside it; returns the path."""
    path = Path(path)
    if path.suffix != ".pt":
        raise ConfigError(f"network files end in .pt, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    config = _plain(net_params.to_dict() if isinstance(net_params, params) else dict(net_params))
    payload = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "architecture": net.architecture,
        "input_shape": list(net.input_shape),
        "config": config,
        "metadata": _plain(metadata or {}),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }
    tmp = path.with_suffix(".pt.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    path.with_suffix(".yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def load_network(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[SpikingNetwork, params, dict[str, Any]]:
    """Loads a network saved by :func:`save_network`: ``(network, params, metadata)``.

    Raises:
        ConfigError: the file is missing or not a spikefi network file of a known schema.
        StateDictError: the weights do not fit the recorded architecture or hold NaN/Inf.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"network file not found: {str(path)!r}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report any unreadable file the same way
        raise ConfigError(f"{str(path)!r} is not a loadable network file: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ConfigError(
            f"{str(path)!r} is not a spikefi network file (expected format {FORMAT!r}); "
            "for a bare state_dict build the architecture and call load_state_dict"
        )
    version = payload.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"{str(path)!r} has schema_version {version!r}; this spikefi reads {SCHEMA_VERSION}"
        )
    net_params = params(data=payload["config"])
    net, _ = build(payload["architecture"], net_params)
    if list(net.input_shape) != list(payload["input_shape"]):
        raise StateDictError(
            f"{str(path)!r} records input shape {payload['input_shape']}, architecture "
            f"{payload['architecture']!r} expects {list(net.input_shape)}"
        )
    check_finite_weights(payload["state_dict"], f"network file {str(path)!r}")
    net.load_state_dict(payload["state_dict"])
    return net.eval(), net_params, dict(payload.get("metadata") or {})


def pretrained_path(name: str) -> Path:
    """Path of a shipped pretrained model (``digits_cnn``, ``nmnist_cnn``, ``nmnist_mlp``); ``name`` is a plain
    name, never a path."""
    from ..names import check_plain_name

    check_plain_name(name, "pretrained model name")
    path = Path(str(resources.files("spikefi.zoo").joinpath("pretrained", f"{name}.pt")))
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.pt"))
        raise ConfigError(f"no pretrained model {name!r}; available: {available}")
    return path


def model_card(name: str) -> dict[str, Any]:
    """The measured facts of a shipped pretrained model (``<name>.json``)."""
    path = pretrained_path(name).with_suffix(".json")
    return json.loads(path.read_text())


def load_pretrained(name: str = "digits_cnn", map_location: str | torch.device = "cpu") -> tuple[SpikingNetwork, params, dict[str, Any]]:
    """Loads a shipped pretrained model: ``(network, params, metadata)``.

    ``digits_cnn`` (bundled spiking digits), ``nmnist_cnn`` and ``nmnist_mlp`` (SpikeFI's
    N-MNIST architectures, our own weights trained on 1,000 real N-MNIST recordings); each
    has a model card ``<name>.md`` and its measured facts ``<name>.json`` (:func:`model_card`).
    """
    return load_network(pretrained_path(name), map_location=map_location)
