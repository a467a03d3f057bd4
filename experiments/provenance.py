"""Which network a run used: the canonical digests it logs and the golden model it stores.

Every run kind logs ``network.digest`` (the network as loaded) and, when it quantizes
the weights, ``network.digest_quantized`` (the weights it ran with); see
:mod:`spikefi.digest`. Campaign and search runs also store the network itself under
``golden/model/``: the network file with its siblings (SLAYER yaml, model card) and
``golden/model/network.json``, the record testgen reads back::

    {"record_version": 1, "network": <the run's network section>, "file": "<name>.pt",
     "network.digest": ..., "network.digest_quantized": ... or null,
     "quantization": ... or null, "data": <the run's data section>, "digest_algorithm": ...}

``python -m experiments.testgen --campaign-run / --search-run / --from-results`` builds
on this record (network, weights, quantization, data); a run without it is older than the
record and is refused unless ``--network`` names a network explicitly.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spikefi.digest import DIGEST_ALGORITHM, network_digest
from spikefi.errors import ConfigError

__all__ = ["MODEL_DIR", "RECORD_FILE", "RECORD_VERSION", "network_digests", "spec_network_digests",
           "copy_network_files", "write_network_record", "read_network_record", "record_network_section"]

MODEL_DIR = "golden/model"
RECORD_FILE = "network.json"
RECORD_VERSION = 1


def network_digests(loaded: Any, running: Any = None, quantization: Any = None) -> dict[str, str]:
    """``{"network.digest": ...}`` of the ``loaded`` network (or a digest string), plus
    ``network.digest_quantized`` of ``running`` when the run quantizes its weights."""
    out = {"network.digest": loaded if isinstance(loaded, str) else network_digest(loaded)}
    if quantization:
        if running is None:
            raise ConfigError("a quantized run needs the network it runs to compute network.digest_quantized")
        out["network.digest_quantized"] = network_digest(running)
    return out


def spec_network_digests(network: Mapping[str, Any], running: Any, quantization: Any = None) -> dict[str, str]:
    """The digests of a spec's network: ``running`` is the network the run computes with
    (already quantized when ``quantization`` is set); the network as loaded is loaded again
    when ``running`` may differ from it (quantized, or cast below float32)."""
    import torch

    exact = all(not t.is_floating_point() or t.dtype in (torch.float32, torch.float64)
                for t in running.state_dict().values())
    if not quantization and exact:
        return network_digests(running)
    from spikefi.campaign.spec import load_spec_network

    loaded, _ = load_spec_network(network, None)
    return network_digests(loaded, running, quantization)


def _network_source(network: Mapping[str, Any]) -> Path | None:
    if "factory" in network:
        return Path(network["weights"]) if network.get("weights") else None
    from .run_lookup import network_file

    return network_file(network)


def copy_network_files(network: Mapping[str, Any], model_dir: Path) -> str | None:
    """Copies the network file a section names (with its ``.yaml``, ``.md`` and ``.json``
    siblings, except for NIR) into ``model_dir``; returns the copied file's name (``None``
    for a factory network without a weights file)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    src = _network_source(network)
    if src is None:
        return None
    siblings = () if ("nir" in network or "factory" in network) else (".yaml", ".md", ".json")
    for path in (src, *(src.with_suffix(suffix) for suffix in siblings)):
        if path.is_file() and path.resolve() != (model_dir / path.name).resolve():
            shutil.copyfile(path, model_dir / path.name)
    return src.name


def write_network_record(model_dir: Path, network: Mapping[str, Any], digests: Mapping[str, str],
                         quantization: Any = None, data: Mapping[str, Any] | None = None,
                         file: str | None = None) -> Path:
    """Writes ``model_dir/network.json`` (see the module docstring); returns its path."""
    model_dir.mkdir(parents=True, exist_ok=True)
    record = {"record_version": RECORD_VERSION, "network": dict(network), "file": file,
              "network.digest": digests["network.digest"],
              "network.digest_quantized": digests.get("network.digest_quantized"),
              "quantization": quantization or None, "data": dict(data) if data is not None else None,
              "digest_algorithm": DIGEST_ALGORITHM}
    path = model_dir / RECORD_FILE
    path.write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    return path


def read_network_record(model_dir: Path) -> dict[str, Any] | None:
    """The record in ``model_dir`` (``None`` when there is none: a run older than records)."""
    path = Path(model_dir) / RECORD_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("record_version") != RECORD_VERSION or not record.get("network.digest"):
        raise ConfigError(f"{str(path)!r} is not a network record of version {RECORD_VERSION}")
    return record


def record_network_section(record: Mapping[str, Any], model_dir: Path) -> dict[str, Any]:
    """The network section that loads the stored golden model from ``model_dir``.

    Raises:
        ConfigError: the run's network was a factory (its code is not stored) or its file is missing.
    """
    network = dict(record["network"])
    file = record.get("file")
    if "factory" in network:
        raise ConfigError("the run's network is built by a factory, whose code the run does not store")
    if not file or not (Path(model_dir) / file).is_file():
        raise ConfigError(f"the run's golden model file {file!r} is missing from {str(model_dir)!r}")
    local = str(Path(model_dir) / file)
    if "nir" in network:
        network["nir"] = local
        return network
    return {"path": local}
