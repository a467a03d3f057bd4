"""Config checks that need neither PyTorch nor MLflow nor Optuna, with suggestions.

Entry points run these right after reading a config, before importing anything heavy, so a
mistyped key, option, model, engine or dataset name is a one-line error within about a
second, ending in ``did you mean ...?`` (:func:`did_you_mean`, ``difflib``) when a known
name is close. The full checks (parameters of each model, layer names, which need the
network) follow in :class:`spikefi.campaign.CampaignSpec` and the campaign build, still
before any MLflow run or store is created.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from spikefi.errors import ConfigError
from spikefi.spec_defaults import DATASET_NAMES, ENGINE_NAMES, FAULT_MODEL_NAMES, NETWORK_KEY_NAMES

__all__ = ["did_you_mean", "check_model_name", "check_campaign_section", "check_search_section"]


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` to ``word`` (difflib), else ``""``."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"


def _registered_models() -> list[str]:
    from spikefi.plugins import registered

    return sorted(registered("spikefi.fault_models"))


def check_model_name(name: Any, where: str) -> None:
    """A fault model name: built in, registered (entry points), or a dotted path (imported later)."""
    if not isinstance(name, str) or not name.strip():
        return  # the spec's own check names the bad value
    if name in FAULT_MODEL_NAMES or "." in name or ":" in name:
        return
    registered = _registered_models()
    if name in registered:
        return
    known = [n for n in FAULT_MODEL_NAMES if n != "RandomModel"]
    raise ConfigError(f"unknown fault model {name!r} (in {where}); built-in: {known}, registered in "
                      f"'spikefi.fault_models': {registered}, or a dotted path (pkg.module.Name)"
                      f"{did_you_mean(name, [*known, *registered])}")


def _check_fault(spec: Any, where: str) -> None:
    if not isinstance(spec, Mapping):
        return
    check_model_name(spec.get("model"), where)
    if spec.get("model") == "RandomModel" and isinstance(spec.get("models"), list):
        for j, inner in enumerate(spec["models"]):
            _check_fault(inner, f"{where}.models[{j}]")


def _check_keys(value: Any, allowed: Iterable[str], where: str) -> None:
    if not isinstance(value, Mapping):
        return
    allowed = list(allowed)
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in '{where}'; allowed: {sorted(allowed)}"
                          f"{did_you_mean(unknown[0], allowed)}")


def _check_network(network: Any, where: str) -> None:
    _check_keys(network, NETWORK_KEY_NAMES, where)


def _check_data(data: Any, where: str) -> None:
    if isinstance(data, Mapping) and isinstance(data.get("name"), str) and data["name"] not in DATASET_NAMES:
        raise ConfigError(f"unknown dataset {data['name']!r}; allowed: {', '.join(DATASET_NAMES)} (in {where}.name)"
                          f"{did_you_mean(data['name'], DATASET_NAMES)}")


def _check_engine(options: Any, where: str) -> None:
    engine = options.get("engine") if isinstance(options, Mapping) else None
    if isinstance(engine, str) and engine not in ENGINE_NAMES:
        raise ConfigError(f"unknown engine {engine!r}; allowed: {list(ENGINE_NAMES)} (in {where}.engine)"
                          f"{did_you_mean(engine, ENGINE_NAMES)}")


def check_campaign_section(campaign: Any, where: str = "campaign") -> None:
    """Names in a campaign section (network keys, engine, dataset, fault models of ``rounds``
    and ``exhaustive``), checked without importing PyTorch."""
    if not isinstance(campaign, Mapping):
        return
    # a campaign config's own section says 'network', as CampaignSpec does; a sweep says where
    _check_network(campaign.get("network"), "network" if where == "campaign" else f"{where}.network")
    _check_data(campaign.get("data"), f"{where}.data")
    _check_engine(campaign.get("options"), f"{where}.options")
    exhaustive = campaign.get("exhaustive")
    if isinstance(exhaustive, list):
        for i, entry in enumerate(exhaustive):
            _check_fault(entry, f"{where}.exhaustive[{i}]")
    rounds = campaign.get("rounds")
    if isinstance(rounds, list):
        for i, faults in enumerate(rounds):
            for j, fault in enumerate(faults if isinstance(faults, list) else [faults]):
                _check_fault(fault, f"{where}.rounds[{i}][{j}]")
    sweep = campaign.get("rate_sweep")
    if isinstance(sweep, Mapping) and "model" in sweep:
        _check_fault({"model": sweep["model"]}, f"{where}.rate_sweep")


def check_search_section(search: Any, where: str = "search") -> None:
    """Names in a search section (network keys, engine, dataset, the space's fault models)."""
    if not isinstance(search, Mapping):
        return
    _check_network(search.get("network"), f"{where}.network")
    _check_data(search.get("data"), f"{where}.data")
    _check_engine(search.get("options"), f"{where}.options")
    space = search.get("space")
    models = space.get("models") if isinstance(space, Mapping) else None
    if isinstance(models, list):
        for i, entry in enumerate(models):
            _check_fault(entry if isinstance(entry, Mapping) else {"model": entry}, f"{where}.space.models[{i}]")
