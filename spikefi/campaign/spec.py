"""CampaignSpec: a campaign as data, round-tripping through YAML.

Example file::

    name: dead-neurons
    network: {pretrained: digits_cnn}          # or {path: model.pt}
    data: {name: spiking_digits, seed: 0, max_samples: null}
    options: {seed: 0, batch_size: 64, engine: sequential, chunk_size: 64}
    rounds:                                    # explicit rounds: lists of faults
      - - {model: DeadNeuron, sites: [{layer: SC1, position: [0, 3, 4]}]}
    exhaustive:                                # one round per site
      - {model: DeadNeuron, layers: [SF4]}

Rounds are created in file order (``rounds`` first, then ``exhaustive``), so the same
file and seed give the same round ids and the same drawn sites.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from ..errors import ConfigError
from ..faults.models import FaultModel, model_from_spec
from ..faults.sites import Fault
from ..faults.timing import timing_from_spec

__all__ = ["CampaignSpec", "DEFAULT_OPTIONS", "load_data", "load_splits", "load_spec_network"]

DEFAULT_OPTIONS: dict[str, Any] = {
    "seed": 0,
    "batch_size": 64,
    "engine": "sequential",
    "chunk_size": 64,
    "early_stop_tolerance": 0.0,
    "quantization": None,
    "device": "cpu",
    "dtype": "float32",
    "check_model_card": True,
}
DEFAULT_DATA: dict[str, Any] = {"name": "spiking_digits", "seed": 0, "test_fraction": 0.2, "root": None,
                                "split": "test", "max_samples": None}
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _check_keys(section: str, value: Mapping[str, Any], allowed: Mapping[str, Any] | set[str]) -> None:
    unknown = set(value) - set(allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in '{section}'; allowed: {sorted(allowed)}")


@dataclass
class CampaignSpec:
    """A campaign description (network, data, options, rounds) as plain data."""

    network: dict[str, Any]
    data: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_DATA))
    options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIONS))
    rounds: list[list[dict[str, Any]]] = field(default_factory=list)
    exhaustive: list[dict[str, Any]] = field(default_factory=list)
    name: str = "campaign"

    def __post_init__(self) -> None:
        if not isinstance(self.network, Mapping) or len(set(self.network) & {"pretrained", "path"}) != 1:
            raise ConfigError(f"network must be {{pretrained: NAME}} or {{path: FILE}}, got {self.network!r}")
        _check_keys("data", self.data, DEFAULT_DATA)
        self.data = {**DEFAULT_DATA, **self.data}
        _check_keys("options", self.options, DEFAULT_OPTIONS)
        self.options = {**DEFAULT_OPTIONS, **self.options}
        if self.options["dtype"] not in _DTYPES:
            raise ConfigError(f"options.dtype must be one of {sorted(_DTYPES)}, got {self.options['dtype']!r}")
        if self.data["split"] not in ("train", "test"):
            raise ConfigError(f"data.split must be 'train' or 'test', got {self.data['split']!r}")
        # validate every fault now, not in the middle of a run
        for i, rnd in enumerate(self.rounds):
            if not isinstance(rnd, list):
                raise ConfigError(f"rounds[{i}] must be a list of faults, got {rnd!r}")
            for f in rnd:
                Fault.from_spec(f)
        for i, ex in enumerate(self.exhaustive):
            self._exhaustive_args(ex, i)

    @staticmethod
    def _exhaustive_args(entry: Mapping[str, Any], i: int = 0) -> dict[str, Any]:
        if not isinstance(entry, Mapping):
            raise ConfigError(f"exhaustive[{i}] must be a mapping, got {entry!r}")
        entry = dict(entry)
        layers = entry.pop("layers", None)
        sample = entry.pop("sample", None)
        timing = timing_from_spec(entry.pop("timing", None))
        model = model_from_spec(entry)
        if not isinstance(model, FaultModel):
            raise ConfigError(f"exhaustive[{i}] needs a single fault model, got {entry!r}")
        return {"model": model, "layers": layers, "sample": sample, "timing": timing}

    # -- YAML ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy({"name": self.name, "network": self.network, "data": self.data, "options": self.options,
                              "rounds": self.rounds, "exhaustive": self.exhaustive})

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CampaignSpec:
        if not isinstance(data, Mapping):
            raise ConfigError(f"a campaign spec must be a mapping, got {type(data).__name__}")
        _check_keys("campaign spec", data, {"name", "network", "data", "options", "rounds", "exhaustive"})
        if "network" not in data:
            raise ConfigError("a campaign spec needs a 'network' section")
        return cls(network=dict(data["network"]), data=dict(data.get("data") or {}), options=dict(data.get("options") or {}),
                   rounds=list(data.get("rounds") or []), exhaustive=list(data.get("exhaustive") or []),
                   name=str(data.get("name", "campaign")))

    @classmethod
    def from_yaml(cls, path_or_text: str | Path) -> CampaignSpec:
        path = Path(path_or_text) if not str(path_or_text).lstrip().startswith(("{", "name:", "network:")) else None
        if path is not None and not path.is_file():
            raise ConfigError(f"campaign spec file not found: {str(path)!r}")
        text = path.read_text() if path is not None else str(path_or_text)
        try:
            return cls.from_dict(yaml.safe_load(text))
        except yaml.YAMLError as exc:
            raise ConfigError(f"campaign spec is not valid yaml: {exc}") from None

    # -- building --------------------------------------------------------------------------
    def build(self) -> Any:
        """The :class:`~spikefi.campaign.Campaign` this spec describes, with its rounds."""
        from .campaign import Campaign

        net, expected = load_spec_network(self.network, self.data if self.options["check_model_card"] else None)
        dataset = load_data(self.data)
        opts = self.options
        cmpn = Campaign(
            net, dataset, batch_size=int(opts["batch_size"]), seed=int(opts["seed"]), device=opts["device"],
            dtype=_DTYPES[opts["dtype"]], quantization=opts["quantization"], max_samples=self.data["max_samples"],
            expected_accuracy=expected if opts["dtype"] == "float32" and not opts["quantization"] else None,
            accuracy_tolerance=0.005,
        )
        for rnd in self.rounds:
            cmpn.then_inject([Fault.from_spec(f) for f in rnd])
        for i, ex in enumerate(self.exhaustive):
            cmpn.exhaustive(**self._exhaustive_args(ex, i))
        return cmpn


def load_splits(data: Mapping[str, Any]) -> tuple[Any, Any, str]:
    """``(train, test, description)`` of a ``data``/``dataset`` config section."""
    from ..data import NMNIST, load_spiking_digits

    name = data.get("name")
    if name == "spiking_digits":
        seed = int(data.get("seed", 0))
        train, test = load_spiking_digits(seed=seed, test_fraction=float(data.get("test_fraction", 0.2)))
        return train, test, f"spiking_digits(seed={seed})"
    if name == "nmnist":
        root = data.get("root")
        if not root:
            raise ConfigError(f"dataset 'nmnist' needs a root: the N-MNIST folder with Train/ and Test/, got {root!r}")
        return NMNIST(root, "train"), NMNIST(root, "test"), f"nmnist({root})"
    raise ConfigError(f"unknown dataset {name!r}; allowed: spiking_digits, nmnist")


def load_data(data: Mapping[str, Any]) -> Any:
    """The dataset split a spec's ``data`` section names (``split``: train or test)."""
    train, test, _ = load_splits(data)
    return test if data.get("split", "test") == "test" else train


def load_spec_network(network: Mapping[str, Any], data: Mapping[str, Any] | None) -> tuple[Any, float | None]:
    """``(network, expected golden accuracy or None)`` for a spec's ``network`` section.

    The expected accuracy comes from the model card of a shipped pretrained model when
    the data is the model card's test split (all of it).
    """
    from ..zoo import load_network, load_pretrained, model_card

    if "pretrained" in network:
        net, _, _ = load_pretrained(network["pretrained"])
        expected = None
        if data is not None and data.get("name") == "spiking_digits" and data.get("split") == "test" \
                and not data.get("max_samples") and int(data.get("seed", 0)) == 0:
            expected = float(model_card(network["pretrained"])["test_accuracy"])
        return net, expected
    net, _, _ = load_network(network["path"])
    return net, None
