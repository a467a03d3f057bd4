"""SLAYER network parameters: a validated, dict-like view of a SLAYER yaml file.

A SLAYER yaml file has (at least) a ``neuron`` and a ``simulation`` section::

    simulation: {Ts: 1.0, tSample: 300}
    neuron: {type: SRMALPHA, theta: 10, tauSr: 10.0, tauRef: 1.0,
             scaleRef: 2, tauRho: 1, scaleRho: 1}
    training:
      error:
        type: NumSpikes
        tgtSpikeRegion: {start: 0, stop: 300}
        tgtSpikeCount: {true: 60, false: 10}

:class:`params` validates those sections when the file is read, so a missing key or a
negative time constant is reported at once, by name, instead of deep inside a forward
pass.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["params", "validate_neuron", "validate_simulation", "validate_error", "time_steps"]

_NEURON_POSITIVE = ("theta", "tauSr", "tauRef", "tauRho", "scaleRho")
_NEURON_NONNEGATIVE = ("scaleRef",)
_NEURON_TYPES = ("SRMALPHA",)


def _number(section: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(
            f"{section}['{key}'] must be a number, got {value!r} ({type(value).__name__})"
        )
    if not math.isfinite(float(value)):
        raise ConfigError(f"{section}['{key}'] must be finite, got {value!r}")
    return float(value)


def _require(section_name: str, section: Any, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(section, Mapping):
        raise ConfigError(
            f"'{section_name}' must be a mapping with keys {list(keys)}, got {section!r}"
        )
    missing = [k for k in keys if k not in section]
    if missing:
        raise ConfigError(
            f"'{section_name}' is missing required key(s) {missing}; "
            f"required: {list(keys)}, present: {sorted(map(str, section))}"
        )
    return section


def validate_neuron(neuron: Any) -> Mapping[str, Any]:
    """Checks a SLAYER ``neuron`` section and returns it.

    Raises:
        ConfigError: naming the missing or bad key and what is allowed.
    """
    keys = ("type", *_NEURON_POSITIVE, *_NEURON_NONNEGATIVE)
    neuron = _require("neuron", neuron, keys)
    if neuron["type"] not in _NEURON_TYPES:
        raise ConfigError(
            f"neuron['type'] = {neuron['type']!r} is not supported; allowed: {list(_NEURON_TYPES)}"
        )
    for key in _NEURON_POSITIVE:
        if _number("neuron", key, neuron[key]) <= 0:
            raise ConfigError(f"neuron['{key}'] must be > 0, got {neuron[key]!r}")
    for key in _NEURON_NONNEGATIVE:
        if _number("neuron", key, neuron[key]) < 0:
            raise ConfigError(f"neuron['{key}'] must be >= 0, got {neuron[key]!r}")
    return neuron


def time_steps(simulation: Mapping[str, Any]) -> int:
    """Number of time bins ``T = tSample / Ts`` of a validated simulation section."""
    return int(round(float(simulation["tSample"]) / float(simulation["Ts"])))


def validate_simulation(simulation: Any) -> Mapping[str, Any]:
    """Checks a SLAYER ``simulation`` section (``Ts`` > 0, ``tSample`` a multiple of ``Ts``)."""
    simulation = _require("simulation", simulation, ("Ts", "tSample"))
    ts = _number("simulation", "Ts", simulation["Ts"])
    t_sample = _number("simulation", "tSample", simulation["tSample"])
    if ts <= 0:
        raise ConfigError(f"simulation['Ts'] must be > 0, got {simulation['Ts']!r}")
    if t_sample <= 0:
        raise ConfigError(f"simulation['tSample'] must be > 0, got {simulation['tSample']!r}")
    ratio = t_sample / ts
    if abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio):
        raise ConfigError(
            f"simulation['Ts'] = {simulation['Ts']!r} must divide simulation['tSample'] = "
            f"{simulation['tSample']!r} into a whole number of time bins (got {ratio:g})"
        )
    return simulation


def validate_error(error: Any, simulation: Mapping[str, Any]) -> Mapping[str, Any]:
    """Checks a ``training: error:`` section of type ``NumSpikes``."""
    error = _require("training.error", error, ("type",))
    if error["type"] != "NumSpikes":
        raise ConfigError(
            f"training.error['type'] = {error['type']!r} is not supported; allowed: ['NumSpikes']"
        )
    _require("training.error", error, ("type", "tgtSpikeRegion", "tgtSpikeCount"))
    region = _require("training.error.tgtSpikeRegion", error["tgtSpikeRegion"], ("start", "stop"))
    start = _number("training.error.tgtSpikeRegion", "start", region["start"])
    stop = _number("training.error.tgtSpikeRegion", "stop", region["stop"])
    t_sample = float(simulation["tSample"])
    if not 0 <= start < stop <= t_sample:
        raise ConfigError(
            f"training.error.tgtSpikeRegion must satisfy 0 <= start < stop <= tSample={t_sample:g}, "
            f"got start={region['start']!r}, stop={region['stop']!r}"
        )
    count = error["tgtSpikeCount"]
    if not isinstance(count, Mapping) or True not in count or False not in count:
        raise ConfigError(
            "training.error.tgtSpikeCount must map true and false to spike counts "
            f"(e.g. {{true: 60, false: 10}}), got {count!r}"
        )
    for key in (True, False):
        if _number("training.error.tgtSpikeCount", str(key).lower(), count[key]) < 0:
            raise ConfigError(
                f"training.error.tgtSpikeCount[{str(key).lower()}] must be >= 0, got {count[key]!r}"
            )
    return error


class params(MutableMapping[str, Any]):  # noqa: N801 - SLAYER's name
    """Dict-like access to a SLAYER yaml configuration, validated when read.

    Args:
        parameter_file_path: path of a yaml file, or ``None`` to start empty.
        data: a mapping to use instead of a file (deep-copied).

    Example:
        >>> import tempfile, os
        >>> text = ("simulation: {Ts: 1.0, tSample: 100}\\n"
        ...         "neuron: {type: SRMALPHA, theta: 10, tauSr: 10.0, tauRef: 1.0,"
        ...         " scaleRef: 2, tauRho: 1, scaleRho: 1}\\n")
        >>> path = os.path.join(tempfile.mkdtemp(), "net.yaml")
        >>> _ = open(path, "w").write(text)
        >>> p = params(path)
        >>> p['neuron']['theta'], p.T
        (10, 100)
    """

    def __init__(
        self, parameter_file_path: str | Path | None = None, data: Mapping[str, Any] | None = None
    ) -> None:
        if parameter_file_path is not None and data is not None:
            raise ConfigError("give either parameter_file_path or data, not both")
        self.path = Path(parameter_file_path) if parameter_file_path is not None else None
        if self.path is not None:
            if not self.path.is_file():
                raise ConfigError(f"SLAYER parameter file not found: {str(self.path)!r}")
            try:
                text = self.path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{str(self.path)!r} is not a SLAYER yaml text file: byte {exc.start} is not "
                                  "UTF-8 text (a binary file, e.g. a network checkpoint?)") from None
            try:
                loaded = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
                raise ConfigError(f"{str(self.path)!r} is not valid yaml: {reason}") from None
        else:
            loaded = copy.deepcopy(dict(data)) if data is not None else {}
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"a SLAYER parameter file must hold a mapping at top level, got {type(loaded).__name__}"
            )
        self._data: dict[str, Any] = loaded
        if self.path is not None or data is not None:
            self.validate()

    def validate(self) -> None:
        """Validates the ``neuron``, ``simulation`` and (if present) ``training.error`` sections."""
        validate_neuron(self._data.get("neuron"))
        validate_simulation(self._data.get("simulation"))
        training = self._data.get("training")
        if isinstance(training, Mapping) and "error" in training:
            validate_error(training["error"], self._data["simulation"])

    @property
    def T(self) -> int:  # noqa: N802 - SLAYER naming
        """Number of time bins ``tSample / Ts``."""
        return time_steps(validate_simulation(self._data.get("simulation")))

    def __getitem__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise ConfigError(
                f"parameter section {key!r} not found; present: {sorted(self._data)}"
            ) from None

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the parameters as plain dicts."""
        return copy.deepcopy(self._data)

    def save(self, filename: str | Path) -> None:
        """Writes the parameters as yaml."""
        Path(filename).write_text(yaml.safe_dump(self._data, sort_keys=False))

    def __repr__(self) -> str:
        return f"params({self._data!r})"
