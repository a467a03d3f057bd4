"""YAML experiment configs with dotted ``key=value`` overrides."""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from spikefi.errors import ConfigError

#: the MLflow experiment of every entry point unless a config or ``mlflow run --experiment-name`` says otherwise
DEFAULT_EXPERIMENT = "spikefi"

__all__ = ["DEFAULT_EXPERIMENT", "load_config", "apply_overrides", "config_hash", "bundled_config", "merge_checked"]


def bundled_config(name: str) -> Path:
    """Path of a config shipped in ``experiments/configs``."""
    path = Path(str(resources.files("experiments").joinpath("configs", name)))
    if not path.is_file():
        raise ConfigError(f"no bundled experiment config {name!r}")
    return path


def _suggest(key: Any, known: Any, where: str = "") -> str:
    """``"; did you mean 'where.x'?"`` for the known key closest to ``key`` (difflib), else ``""``."""
    if not isinstance(key, str):
        return ""
    close = difflib.get_close_matches(key, [str(k) for k in known], n=1, cutoff=0.6)
    return f"; did you mean {where + close[0]!r}?" if close else ""


def _merge(base: dict[str, Any], update: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    for key, value in update.items():
        if key not in base:
            raise ConfigError(f"unknown config key {where + key!r}; allowed: {sorted(base)}"
                              f"{_suggest(key, base, where)}")
        if isinstance(base[key], dict) and isinstance(value, Mapping):
            _merge(base[key], value, f"{where}{key}.")
        else:
            base[key] = copy.deepcopy(value)
    return base


def merge_checked(base: Mapping[str, Any], update: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """A deep copy of ``base`` updated by ``update``; keys unknown to ``base`` are errors."""
    if not isinstance(update, Mapping):
        raise ConfigError(f"{where.rstrip('.') or 'config'} must be a mapping, got {update!r}")
    return _merge(copy.deepcopy(dict(base)), update, where)


def apply_overrides(config: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Applies ``a.b=value`` overrides (values parsed as yaml) to a copy of ``config``."""
    config = copy.deepcopy(config)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        dotted, raw = item.split("=", 1)
        keys = dotted.strip().split(".")
        node = config
        for i, key in enumerate(keys[:-1]):
            if not isinstance(node.get(key), dict):
                sections = [k for k, v in node.items() if isinstance(v, dict)]
                raise ConfigError(f"unknown config section {'.'.join(keys[: i + 1])!r} in override {item!r}"
                                  f"{_suggest(key, sections, '.'.join(keys[:i]) + '.' if i else '')}")
            node = node[key]
        if keys[-1] not in node:
            raise ConfigError(f"unknown config key {dotted!r}; allowed here: {sorted(node)}"
                              f"{_suggest(keys[-1], node, '.'.join(keys[:-1]) + '.' if len(keys) > 1 else '')}")
        node[keys[-1]] = yaml.safe_load(raw)
    return config


def load_config(path: str | Path, defaults: Mapping[str, Any], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Reads a yaml config over ``defaults`` (unknown keys are errors), then overrides."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {str(path)!r}")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{str(path)!r} is not valid yaml: {exc}") from None
    if not isinstance(loaded, Mapping):
        raise ConfigError(f"{str(path)!r} must hold a mapping at top level")
    config = _merge(copy.deepcopy(dict(defaults)), loaded)
    return apply_overrides(config, overrides)


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of a config (for run lookup and tags)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
