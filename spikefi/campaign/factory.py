"""Your own network in a campaign config: ``network: {factory: "pkg.mod:build", weights: FILE}``.

``factory`` names a callable that returns the network (any SLAYER / slayerPytorch-style
``torch.nn.Module``, or a tuple whose first item is one); ``weights`` (optional) is a
``state_dict`` saved with ``torch.save`` (or a spikefi checkpoint holding one) that is loaded
into the built network with ``load_state_dict(strict=True)``.

The factory is found with the same rule as dotted-path fault models
(:func:`spikefi.plugins.load_object`): a dotted path is honoured only in the user's own
config or call (``allow_import=True``) and the object is checked right after the import; a
factory registered by an installed package under the entry-point group
:data:`NETWORK_FACTORIES_GROUP` works everywhere; specs read back from stored results never
import anything (``allow_import=False``).

Example::

    # my_nets.py (on PYTHONPATH or in the working directory)
    import spikefi.snn as snn

    class Net(torch.nn.Module): ...          # written like a slayerPytorch example

    def build():
        return Net(snn.params("net.yaml"))

    # campaign config
    campaign:
      network: {factory: "my_nets:build", weights: outputs/my_net_state.pt}
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..finite_weights import check_finite_weights

__all__ = ["NETWORK_FACTORIES_GROUP", "build_factory_network", "factory_digest"]

#: entry-point group of network factories provided by installed packages
NETWORK_FACTORIES_GROUP = "spikefi.network_factories"


def _factory(ref: Any, allow_import: bool) -> Any:
    from ..plugins import load_object

    return load_object(ref, group=NETWORK_FACTORIES_GROUP, what="network factory", check=callable,
                       expected="a callable returning a network", allow_import=allow_import)


def build_factory_network(network: Mapping[str, Any], allow_import: bool = True) -> torch.nn.Module:
    """The network a ``{factory: REF, weights: FILE}`` section describes, in eval mode.

    Raises:
        ConfigError: the factory is refused, does not import, fails or returns no module;
            the weights file is missing, unreadable or does not fit the network.
    """
    ref = network["factory"]
    build = _factory(ref, allow_import)
    try:
        net = build()
    except Exception as exc:  # noqa: BLE001 - the user's code: report it in one line
        raise ConfigError(f"network factory {ref!r} failed: {type(exc).__name__}: {exc}") from None
    if isinstance(net, tuple) and net:
        net = net[0]
    if not isinstance(net, torch.nn.Module):
        raise ConfigError(f"network factory {ref!r} returned {type(net).__name__}, not a torch.nn.Module")
    weights = network.get("weights")
    if weights:
        path = Path(weights)
        if not path.is_file():
            raise ConfigError(f"network.weights file not found: {str(path)!r}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - pickles with code, truncated files ...
            raise ConfigError(f"network.weights {str(path)!r} is not a state_dict saved with torch.save "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
        if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
            state = state["state_dict"]
        if not isinstance(state, Mapping):
            raise ConfigError(f"network.weights {str(path)!r} holds a {type(state).__name__}, not a state_dict")
        check_finite_weights(state, f"network factory {ref!r} with weights {str(path)!r}")
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise ConfigError(f"network.weights {str(path)!r} do not fit the network built by {ref!r}: "
                              f"{str(exc).splitlines()[0]} ...") from None
    check_finite_weights(net, f"network factory {ref!r}")
    return net.eval()


def factory_digest(network: Mapping[str, Any]) -> str:
    """sha256 (16 hex) of what a factory network is: the reference, the source file of its
    module (found without importing it) and the weights file, so that a changed network is
    another campaign for resume and config hashing."""
    h = hashlib.sha256(str(network["factory"]).encode())
    ref = str(network["factory"])
    module = ref.partition(":")[0] if ":" in ref else ref.rpartition(".")[0]
    try:
        found = importlib.util.find_spec(module) if module else None
    except (ImportError, ValueError):
        found = None
    if found is not None and found.origin and Path(found.origin).is_file():
        h.update(Path(found.origin).read_bytes())
    weights = network.get("weights")
    if weights:
        path = Path(weights)
        if not path.is_file():
            raise ConfigError(f"network.weights file not found: {str(path)!r}")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
