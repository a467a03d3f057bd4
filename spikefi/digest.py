"""The canonical network digest: one hash of a network's tensor values.

Every run kind (campaign, sweep child, search, testgen, training), every fault list and
every test program names the network it used by this digest, so two records can be
compared without trusting a file name:

* entries: every entry of ``net.state_dict()`` (parameters *and* buffers, e.g. SLAYER's
  ``srmKernel``), in ascending order of their keys (Python ``str`` order);
* per entry: the key as UTF-8, then its shape as compact JSON (``[10, 64, 1, 1, 1]``),
  then its values converted to little-endian float64 (``<f8``), C order;
* the sha256 of all of that, as 64 lowercase hex digits.

Device and storage dtype do not matter (a float32 tensor on a GPU and its CPU copy give
the same digest); a file hash would differ between two saves of the same weights, this
does not. Quantization changes the values, so runs state which one they log:
``network.digest`` is the network as loaded (before quantization) and
``network.digest_quantized`` the network a quantized campaign actually runs (weights
replaced by ``dequantize(quantize(w))``). :func:`effective_digest` picks the one a
record's weights ran with.

This is the algorithm ``spikefi.testgen.weights_sha256`` always used, so the
``weights_sha256`` of older test programs is this digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import nn

__all__ = ["DIGEST_ALGORITHM", "network_digest", "effective_digest", "short_digest"]

#: how the digest is computed, in words (stored beside digests in files)
DIGEST_ALGORITHM = "sha256 over state_dict entries sorted by key: key utf-8, shape json, values as <f8 (C order)"


def network_digest(net: nn.Module | Mapping[str, Any]) -> str:
    """The canonical digest (64 hex) of a network's state_dict (or of a state_dict itself)."""
    state = net.state_dict() if isinstance(net, nn.Module) else net
    h = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key]
        values = tensor.detach().cpu().numpy() if hasattr(tensor, "detach") else np.asarray(tensor)
        h.update(str(key).encode("utf-8"))
        h.update(json.dumps([int(v) for v in values.shape]).encode())
        h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
    return h.hexdigest()


def effective_digest(record: Mapping[str, Any]) -> str | None:
    """The digest of the weights a record's run computed with: ``network.digest_quantized``
    when present (a quantized run), else ``network.digest``; ``None`` when it has neither
    (a record made before digests were logged)."""
    for key in ("network.digest_quantized", "network.digest"):
        value = record.get(key)
        if value:
            return str(value)
    return None


def short_digest(digest: str | None) -> str:
    """The first 12 hex digits, for messages (``unknown`` for ``None``)."""
    return digest[:12] if digest else "unknown"
