"""``snn.utils``: slayerPytorch's utilities.

* ``stats``: the learning statistics class (:class:`spikefi.snn.stats.learningStats`);
* ``optim``: optimizers (``optim.Nadam``);
* ``quantize``: weights rounded to a step with a straight-through gradient.
"""

from __future__ import annotations

from ..stats import learningStats as stats  # noqa: N813 - slayerPytorch's name
from . import optim
from .quantizer import QuantizeWeights, quantize

__all__ = ["stats", "optim", "quantize", "QuantizeWeights"]
