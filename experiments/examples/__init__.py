"""Runnable examples, one per SpikeFI scenario (``python -m experiments.examples.<name>``).

Each example has ``--quick`` (tiny sizes, a few seconds: a smoke test), ``--output-dir``
(default ``outputs/examples/<name>``), ``--seed`` and ``--threads`` (default 1); it prints what it does, every file it
saves and its wall time (normal mode: under two minutes on 2 CPU cores).

* :mod:`~experiments.examples.basic` — dead neurons, one round per neuron in layers of the
  shipped digits CNN; summary, result table, critical faults per layer, site heat map.
* :mod:`~experiments.examples.bitflips` — int8-quantized campaign with bit flips at every
  bit position 0..7 of sampled conv/dense weights; float32 exponent bit flips to compare.
* :mod:`~experiments.examples.optimizations` — one workload with the naive and the
  sequential engine (late start + early stop): wall times, throughput, speed-up, and a
  check that both result tables are identical.
* :mod:`~experiments.examples.parametric` — threshold and tauSr factor sweeps on sampled
  neurons; accuracy against the factor.
* :mod:`~experiments.examples.train_golden` — train a digits network from scratch, evaluate
  it, save it with ``spikefi.zoo.save_network``, plot the training curves.
* :mod:`~experiments.examples.train_faulty` — training under faults with ``Campaign.train``:
  fault present from initialisation (``pre``) or appearing at an epoch (``during``).
* :mod:`~experiments.examples.deployment` — the network deployed in several formats (weight
  bits per channel or layer, a fixed-point neuron): float vs deployed golden accuracy and
  accuracy under the same faults, per format.
"""

EXAMPLES = ("basic", "bitflips", "optimizations", "parametric", "train_golden", "train_faulty", "deployment")
