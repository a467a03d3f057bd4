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

from ..errors import ConfigError, FaultSpecError
from ..faults.deployment import DeploymentFormat, is_deployment_spec
from ..faults.models import FaultModel, model_from_spec
from ..faults.sites import Fault
from ..faults.timing import timing_from_spec
from ..names import check_plain_name
from ..spec_defaults import DEFAULT_DATA, DEFAULT_OPTIONS

__all__ = ["CampaignSpec", "DEFAULT_OPTIONS", "NETWORK_KEYS", "ENGINES", "check_network_section", "check_options",
           "check_data_lists", "load_data", "load_splits", "load_spec_network", "load_nir_network"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: campaign engines by name
ENGINES = ("naive", "parallel", "sequential")
#: the keys a ``network:`` section may hold (campaign, search, testgen and every other entry
#: point check it here, in one place): what each means. Exactly one of the sources
#: (``pretrained``, ``path``) is given. A new way to name a network adds its keys here and
#: to :data:`NETWORK_SOURCES`.
NETWORK_KEYS: dict[str, str] = {
    "pretrained": "name of a shipped pretrained model (spikefi.zoo)",
    "path": "a network file (plain-data checkpoint)",
    "factory": "your own network: a callable 'pkg.module:build' returning it (spikefi.campaign.factory)",
    "weights": "with factory: a state_dict file loaded into the built network",
    "nir": "a NIR graph file (.nir: snnTorch, Norse, Sinabs, Rockpool, ... exports; needs spikefi[nir])",
    "dt": "with nir: the time step (default: the exporter's, 1e-4 snnTorch, 1e-3 Norse)",
    "convention": "with nir: auto (default), snntorch, norse or euler",
    "reset": "with nir: value (default: NIR's reset to v_reset), subtract (snnTorch's default) or none",
    "readout": "with nir: how a non-spiking readout (LI, CubaLI, I) scores classes: max (default), mean or last",
    "reset_delay": "with nir: false for snnTorch Leaky/Synaptic(reset_delay=False) (default true; docs/nir.md)",
}
#: the keys of :data:`NETWORK_KEYS` that name where the network comes from (exactly one is given)
NETWORK_SOURCES: tuple[str, ...] = ("pretrained", "path", "factory", "nir")
#: keys that only go with ``nir``
_NIR_OPTIONS = ("dt", "convention", "reset", "readout", "reset_delay")


def _check_keys(section: str, value: Mapping[str, Any], allowed: Mapping[str, Any] | set[str]) -> None:
    unknown = set(value) - set(allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in '{section}'; allowed: {sorted(allowed)}")


def _mapping(value: Any, section: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"'{section}' must be a mapping, got {value!r}")
    return dict(value)


def _name(value: Any) -> Any:
    """A YAML name that parsed as a number (``name: 2024``) is that text."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def check_network_section(network: Any, where: str = "network") -> dict[str, Any]:
    """A ``network:`` section checked: a mapping of known keys (:data:`NETWORK_KEYS`) with
    exactly one source, a plain name for ``pretrained`` and a string for ``path``.

    Raises:
        ConfigError: naming the bad key or value and what is allowed.
    """
    if not isinstance(network, Mapping):
        raise ConfigError(f"{where} must be a mapping such as {{pretrained: NAME}} or {{path: FILE}}, got {network!r}")
    _check_keys(where, network, NETWORK_KEYS)
    sources = [k for k in NETWORK_SOURCES if k in network]
    if len(sources) != 1:
        raise ConfigError(f"{where} must name exactly one of {list(NETWORK_SOURCES)} "
                          f"(e.g. {{pretrained: digits_cnn}} or {{path: FILE}}), got {dict(network)!r}")
    if "pretrained" in network:
        check_plain_name(network["pretrained"], f"{where}.pretrained")
    if "path" in network and (not isinstance(network["path"], str) or not network["path"].strip()):
        raise ConfigError(f"{where}.path must be a file path, got {network['path']!r}")
    if "factory" in network and (not isinstance(network["factory"], str) or not network["factory"].strip()):
        raise ConfigError(f"{where}.factory must name a callable ('pkg.module:build'), got {network['factory']!r}")
    if "weights" in network:
        if "factory" not in network:
            raise ConfigError(f"{where}.weights goes with {where}.factory (a state_dict for the network it builds)")
        if network["weights"] is not None and (not isinstance(network["weights"], str) or not network["weights"].strip()):
            raise ConfigError(f"{where}.weights must be a file path, got {network['weights']!r}")
    if "nir" in network and (not isinstance(network["nir"], str) or not network["nir"].strip()):
        raise ConfigError(f"{where}.nir must be a NIR file path, got {network['nir']!r}")
    for key in _NIR_OPTIONS:
        if key in network and "nir" not in network:
            raise ConfigError(f"{where}.{key} goes with {where}.nir (a NIR graph file)")
    if network.get("dt") is not None:
        dt = network["dt"]
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not 0 < dt < float("inf"):
            raise ConfigError(f"{where}.dt must be a positive number (seconds per time step), got {dt!r}")
    if network.get("convention") is not None and network["convention"] not in ("auto", "snntorch", "norse", "euler"):
        raise ConfigError(f"{where}.convention must be auto, snntorch, norse or euler, got {network['convention']!r}")
    if network.get("reset") is not None and network["reset"] not in ("value", "subtract", "none"):
        raise ConfigError(f"{where}.reset must be value, subtract or none, got {network['reset']!r}")
    if network.get("readout") is not None and network["readout"] not in ("max", "mean", "last"):
        raise ConfigError(f"{where}.readout must be max, mean or last, got {network['readout']!r}")
    if network.get("reset_delay") is not None and not isinstance(network["reset_delay"], bool):
        raise ConfigError(f"{where}.reset_delay must be true or false, got {network['reset_delay']!r}")
    return dict(network)


def _int_option(options: Mapping[str, Any], key: str, low: int, where: str) -> None:
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{where}.{key} must be an int >= {low}, got {value!r}")


def check_options(options: Mapping[str, Any], where: str = "options") -> None:
    """Checks the values of a complete ``options`` section (defaults filled in).

    Raises:
        ConfigError: the first bad value, with what is allowed.
    """
    _int_option(options, "seed", 0, where)
    _int_option(options, "batch_size", 1, where)
    _int_option(options, "chunk_size", 1, where)
    if options["engine"] not in ENGINES:
        raise ConfigError(f"unknown engine {options['engine']!r}; allowed: {list(ENGINES)}")
    tol = options["early_stop_tolerance"]
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < float("inf"):
        raise ConfigError(f"{where}.early_stop_tolerance must be a number >= 0, got {tol!r}")
    if options["dtype"] not in _DTYPES:
        raise ConfigError(f"{where}.dtype must be one of {sorted(_DTYPES)}, got {options['dtype']!r}")
    if not isinstance(options["device"], str) or not options["device"].strip():
        raise ConfigError(f"{where}.device must be a device name such as 'cpu' or 'cuda:0', got {options['device']!r}")
    if options["quantization"] is not None and not isinstance(options["quantization"], Mapping):
        raise ConfigError(f"{where}.quantization must be null or a mapping such as {{dtype: int8}}, "
                          f"got {options['quantization']!r}")
    if is_deployment_spec(options["quantization"]):
        DeploymentFormat.from_spec(options["quantization"])  # a bad format is refused now, in one line
    if not isinstance(options["check_model_card"], bool):
        raise ConfigError(f"{where}.check_model_card must be true or false, got {options['check_model_card']!r}")


@dataclass
class CampaignSpec:
    """A campaign description (network, data, options, rounds) as plain data."""

    network: dict[str, Any]
    data: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_DATA))
    options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIONS))
    rounds: list[list[dict[str, Any]]] = field(default_factory=list)
    exhaustive: list[dict[str, Any]] = field(default_factory=list)
    name: str = "campaign"
    #: a soft-error rate sweep (:mod:`spikefi.campaign.rate_sweep`): rounds added after the others
    rate_sweep: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.network = check_network_section(self.network, "network")
        check_plain_name(self.name, "campaign name")
        self.data = _mapping(self.data, "data")
        _check_keys("data", self.data, DEFAULT_DATA)
        self.data = {**DEFAULT_DATA, **self.data}
        self.options = _mapping(self.options, "options")
        _check_keys("options", self.options, DEFAULT_OPTIONS)
        self.options = {**DEFAULT_OPTIONS, **self.options}
        check_options(self.options)
        for key in ("rounds", "exhaustive"):
            if not isinstance(getattr(self, key), list):
                raise ConfigError(f"'{key}' must be a list, got {getattr(self, key)!r}")
        max_samples = self.data["max_samples"]
        if max_samples is not None and (isinstance(max_samples, bool) or not isinstance(max_samples, int)
                                        or max_samples < 1):
            raise ConfigError(f"data.max_samples must be null or an int >= 1, got {max_samples!r}")
        seed = self.data["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"data.seed must be an int >= 0, got {seed!r}")
        if self.data["split"] not in ("train", "test"):
            raise ConfigError(f"data.split must be 'train' or 'test', got {self.data['split']!r}")
        check_data_lists(self.data)
        # validate every fault now, not in the middle of a run
        for i, rnd in enumerate(self.rounds):
            if not isinstance(rnd, list):
                raise ConfigError(f"rounds[{i}] must be a list of faults, got {rnd!r}")
            for f in rnd:
                Fault.from_spec(f)
        for i, ex in enumerate(self.exhaustive):
            self._exhaustive_args(ex, i)
        if self.rate_sweep is not None:
            from .rate_sweep import check_sweep_section

            self.rate_sweep = check_sweep_section(self.rate_sweep)

    @staticmethod
    def _exhaustive_args(entry: Mapping[str, Any], i: int = 0) -> dict[str, Any]:
        if not isinstance(entry, Mapping):
            raise ConfigError(f"exhaustive[{i}] must be a mapping, got {entry!r}")
        entry = dict(entry)
        layers = entry.pop("layers", None)
        if layers is not None and (not isinstance(layers, list) or not all(isinstance(n, str) for n in layers)):
            raise FaultSpecError(f"exhaustive[{i}].layers must be a list of layer names (e.g. [SF4]), got {layers!r}")
        sample = entry.pop("sample", None)
        per_bit = entry.pop("per_bit", False)
        timing = timing_from_spec(entry.pop("timing", None))
        model = model_from_spec(entry)
        if not isinstance(model, FaultModel):
            raise ConfigError(f"exhaustive[{i}] needs a single fault model, got {entry!r}")
        if not isinstance(per_bit, bool):
            raise FaultSpecError(f"exhaustive[{i}].per_bit must be true or false, got {per_bit!r}")
        if per_bit and not hasattr(model, "split_bits"):
            raise FaultSpecError(f"exhaustive[{i}]: per_bit needs a bit-flip model (BitFlipSynapse, "
                                 f"FloatBitFlipSynapse), got {entry.get('model')!r}")
        return {"model": model, "layers": layers, "sample": sample, "timing": timing, "per_bit": per_bit}

    def check_runnable(self) -> None:
        """Raises :class:`ConfigError` when the spec holds no faults (a campaign to run needs
        ``rounds`` or ``exhaustive``; the Python API may add rounds after building)."""
        if not self.rounds and not self.exhaustive and not self.rate_sweep:
            raise ConfigError(f"campaign {self.name!r} has no faults: give 'rounds' (lists of faults), "
                              "'exhaustive' (e.g. [{model: DeadNeuron, layers: [SF4]}]) or 'rate_sweep'")

    # -- YAML ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "network": self.network, "data": self.data, "options": self.options,
               "rounds": self.rounds, "exhaustive": self.exhaustive}
        if self.rate_sweep is not None:
            out["rate_sweep"] = self.rate_sweep
        return copy.deepcopy(out)

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CampaignSpec:
        if not isinstance(data, Mapping):
            raise ConfigError(f"a campaign spec must be a mapping, got {type(data).__name__}")
        _check_keys("campaign spec", data, {"name", "network", "data", "options", "rounds", "exhaustive", "rate_sweep"})
        if "network" not in data:
            raise ConfigError("a campaign spec needs a 'network' section")
        return cls(network=check_network_section(data["network"]), data=_mapping(data.get("data"), "data"),
                   options=_mapping(data.get("options"), "options"), rounds=data.get("rounds") or [],
                   exhaustive=data.get("exhaustive") or [], name=_name(data.get("name", "campaign")),
                   rate_sweep=data.get("rate_sweep"))

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
        if self.rate_sweep is not None:
            from .rate_sweep import sweep_from_spec

            sweep_from_spec(cmpn, self.rate_sweep)
        return cmpn


def check_data_lists(data: Mapping[str, Any]) -> None:
    """Checks the N-MNIST keys of a ``data`` section: ``root`` (a folder, or null for
    ``$SPIKEFI_NMNIST_DIR``) and the sample lists ``train_list``/``test_list`` of the
    sample-list layout, given together (or neither, for the ``Train/``/``Test/`` layout).

    Raises:
        ConfigError: naming the bad key and value.
    """
    root = data.get("root")
    if root is not None and not isinstance(root, str):
        raise ConfigError(f"data.root must be a folder path or null, got {root!r}")
    lists = {key: data.get(key) for key in ("train_list", "test_list")}
    for key, value in lists.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"data.{key} must be a sample list file name (e.g. 'test100.txt') or null, got {value!r}")
    given = [key for key, value in lists.items() if value is not None]
    if given and data.get("name") != "nmnist":
        raise ConfigError(f"data.{given[0]} is for the N-MNIST sample-list layout (name: nmnist), "
                          f"got name {data.get('name')!r}")
    if len(given) == 1:
        raise ConfigError(f"data.train_list and data.test_list go together (the sample-list layout), got only "
                          f"{given[0]}={lists[given[0]]!r}")


def load_splits(data: Mapping[str, Any]) -> tuple[Any, Any, str]:
    """``(train, test, description)`` of a ``data``/``dataset`` config section.

    ``nmnist`` reads ``root`` (null: ``$SPIKEFI_NMNIST_DIR``) in the ``Train/``/``Test/``
    layout, or in the sample-list layout when ``train_list`` and ``test_list`` are given.
    """
    from ..data import NMNIST, load_spiking_digits, nmnist_root

    name = data.get("name")
    if name == "spiking_digits":
        seed = int(data.get("seed", 0))
        train, test = load_spiking_digits(seed=seed, test_fraction=float(data.get("test_fraction", 0.2)))
        return train, test, f"spiking_digits(seed={seed})"
    if name == "nmnist":
        check_data_lists(data)
        root = nmnist_root(data.get("root"))
        train_list, test_list = data.get("train_list"), data.get("test_list")
        train_set = NMNIST(root, "train", sample_list=train_list)
        test_set = NMNIST(root, "test", sample_list=test_list)
        lists = f", {train_list}, {test_list}" if test_list else ""
        return train_set, test_set, f"nmnist({root}{lists})"
    raise ConfigError(f"unknown dataset {name!r}; allowed: spiking_digits, nmnist")


def load_data(data: Mapping[str, Any]) -> Any:
    """The dataset split a spec's ``data`` section names (``split``: train or test)."""
    train, test, _ = load_splits(data)
    return test if data.get("split", "test") == "test" else train


def load_nir_network(network: Mapping[str, Any]) -> Any:
    """The network of a ``{nir: FILE, dt, convention, reset}`` section (:func:`spikefi.nir.load`)."""
    from pathlib import Path

    path = Path(str(network["nir"])).expanduser()
    if not path.is_file():
        raise ConfigError(f"network.nir: file not found: {str(path)!r}")
    try:
        from ..nir import load
    except ImportError as exc:  # pragma: no cover - spikefi.nir imports nothing optional at module level
        raise ConfigError(f"network.nir needs spikefi[nir]: {exc}") from None
    return load(path, dt=network.get("dt"), convention=network.get("convention") or "auto",
                reset=network.get("reset"), readout=network.get("readout") or "max",
                reset_delay=network.get("reset_delay", True) is not False)


def load_spec_network(network: Mapping[str, Any], data: Mapping[str, Any] | None,
                      allow_import: bool = True) -> tuple[Any, float | None]:
    """``(network, expected golden accuracy or None)`` for a spec's ``network`` section.

    The expected accuracy comes from the model card of a shipped pretrained model when
    the data is the model card's test split (all of it). A ``factory`` network is built by
    :func:`spikefi.campaign.factory.build_factory_network`; ``allow_import=False`` (specs read
    back from stored results) refuses a factory named by dotted path.
    """
    from ..zoo import load_network, load_pretrained, model_card

    if "factory" in network:
        from .factory import build_factory_network

        return build_factory_network(network, allow_import), None
    if "nir" in network:
        return load_nir_network(network), None
    if "pretrained" in network:
        net, _, _ = load_pretrained(network["pretrained"])
        expected = None
        if data is not None and data.get("split") == "test" and not data.get("max_samples"):
            card = model_card(network["pretrained"])
            # a card naming its test set as a data section (N-MNIST) is matched on it;
            # the digits card was measured on spiking_digits(seed=0)
            card_data = card.get("data") or {"name": "spiking_digits", "seed": 0}
            if all(data.get(k, 0 if k == "seed" else None) == v for k, v in card_data.items() if k != "train_list"):
                expected = float(card["test_accuracy"])
        return net, expected
    net, _, _ = load_network(network["path"])
    return net, None
