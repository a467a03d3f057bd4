"""Input generation for faults no test sample detects: gradient descent through surrogate gradients.

For a target fault, a batch of relaxed inputs (``restarts`` of them) is optimised so
that the faulty network's predicted class differs from the golden network's:

* **parametrisation** — logits ``theta`` per input bin; ``p = sigmoid(theta)``;
* **binarisation (straight-through)** — the forward pass sees the binary input
  ``hard = top-k(p) & (p > 0.5)`` (at most ``k = floor(max_density * C*H*W*T)`` spikes,
  the density bound), the backward pass the gradient of ``p``: the networks only ever
  run on real binary spike trains;
* **objective** — with ``c`` the golden class of the current input, minimise
  ``softplus(m_f + margin) + softplus(margin - m_g)`` where ``m_f`` / ``m_g`` are the
  faulty / golden output-count margins of ``c`` over the best other class (spike counts
  are differentiable through SLAYER's surrogate gradient of the spike function, as in
  training under faults: the faulty network is the campaign engine's ``faulty_layer``
  chain with the round's prepared faults);
* **initialisation** — from real inputs (``init_inputs``, e.g. the test samples): those
  where the faulty network's margin is smallest relative to the golden one, ties broken
  by a seeded permutation, plus seeded logit noise;
* **stopping** — as soon as a binary input's faulty and golden predictions differ.

**Density bound** — a generated input has at most ``max_density`` spikes per bin
(spikes / (C·H·W·T)); the default is the largest density among ``init_inputs`` (on the
bundled digits test split: 0.0544), so generated inputs are no denser than real sensor data.

**Verification** — a candidate is claimed only after a campaign (the real engine, not the
relaxed model) over the candidate inputs with the target faults as rounds shows that its
faulty prediction differs from the golden one: :attr:`GeneratedInput.verified`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from ..campaign.inject import faulty_layer, prepare_round
from ..errors import ConfigError
from .detection import fault_campaign, golden_responses
from .faultlist import FaultList

__all__ = ["GeneratedInput", "GenerationReport", "density_bound", "generate_inputs"]


@dataclass
class GeneratedInput:
    """The outcome of generating an input for one fault.

    Attributes:
        fault_index: index of the fault in the fault list given to :func:`generate_inputs`.
        fault_id: its id.
        input: the binary input ``(C, H, W, T)`` uint8, or ``None`` when none was found.
        verified: a campaign run confirms that it detects the fault.
        golden_class, faulty_class: predictions on the input (campaign run; -1 without input).
        density: its spike density.
        steps: optimisation steps used; ``init``: index of the real input it started from.
        seconds: time spent on this fault.
    """

    fault_index: int
    fault_id: str
    input: np.ndarray | None
    verified: bool
    golden_class: int = -1
    faulty_class: int = -1
    density: float = 0.0
    steps: int = 0
    init: int = -1
    seconds: float = 0.0


@dataclass
class GenerationReport:
    """All generated inputs plus the settings used."""

    inputs: list[GeneratedInput]
    max_density: float
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def verified(self) -> list[GeneratedInput]:
        return [g for g in self.inputs if g.verified]

    def stacked(self) -> np.ndarray:
        """The verified inputs, ``(n, C, H, W, T)`` uint8."""
        ok = self.verified
        if not ok:
            return np.zeros((0,), dtype=np.uint8)
        return np.stack([g.input for g in ok])  # type: ignore[misc]


def density_bound(inputs: Any) -> float:
    """Largest spike density (non-zero entries / C·H·W·T) among ``inputs`` ``(N, C, H, W, T)``."""
    x = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
    if x.ndim != 5 or x.shape[0] == 0:
        raise ConfigError(f"inputs must be (N, C, H, W, T) with N >= 1, got shape {tuple(x.shape)}")
    return float((x != 0).flatten(1).float().mean(1).max())


def _margin(counts: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """``counts[c] - max_{j != c} counts[j]`` per row."""
    own = counts.gather(1, cls[:, None])[:, 0]
    other = counts.scatter(1, cls[:, None], float("-inf")).max(dim=1).values
    return own - other


def _predict(counts: torch.Tensor) -> torch.Tensor:
    c = counts.shape[1]
    idx = torch.arange(c, device=counts.device)
    return torch.argmax(counts.round().long() * c + (c - 1 - idx), dim=1)


def generate_inputs(net: Any, fault_list: FaultList, init_inputs: Any, *, max_density: float | None = None,
                    steps: int = 60, restarts: int = 4, lr: float = 0.1, margin: float = 1.0, seed: int = 0,
                    exclude_detecting: np.ndarray | None = None, batch_size: int = 64,
                    time_limit_s: float | None = None) -> GenerationReport:
    """Generates one binary input per fault of ``fault_list`` that detects it (where found).

    Args:
        net: the golden network (a SLAYER chain).
        fault_list: the target faults.
        init_inputs: real inputs ``(N, C, H, W, T)`` to start from (and the default density bound).
        max_density: spike-density bound of generated inputs (default: the largest density of
            ``init_inputs``); must be in (0, 1].
        steps: optimisation steps per fault; restarts: inputs optimised together per fault.
        lr: Adam learning rate on the logits; margin: the count margin aimed for.
        seed: seeds the choice among equally good initial inputs and the logit noise.
        exclude_detecting: optional bool ``(N, faults)``: initial inputs that already detect a
            fault are not used for it (so the result is a new input).
        time_limit_s: stop generating (remaining faults get no input) after this many seconds.

    Returns:
        a :class:`GenerationReport`; every input is verified by a campaign run.
    """
    for name, value, low in (("steps", steps, 1), ("restarts", restarts, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be an int >= {low}, got {value!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ConfigError(f"lr must be > 0, got {lr!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an int >= 0, got {seed!r}")
    x0 = init_inputs if isinstance(init_inputs, torch.Tensor) else torch.as_tensor(np.asarray(init_inputs))
    bound = density_bound(x0)
    if max_density is None:
        max_density = bound
    if not (isinstance(max_density, (int, float)) and 0 < max_density <= 1):
        raise ConfigError(f"max_density must be in (0, 1], got {max_density!r}")
    t_all = time.perf_counter()
    golden_pred, _ = golden_responses(net, x0, batch_size=batch_size)
    cmpn = fault_campaign(net, x0, golden_pred, fault_list, seed=seed, batch_size=batch_size)
    if not cmpn.netmap.chain:
        raise ConfigError("input generation needs a network whose forward is a chain of its layers (SLAYER's "
                          "pattern, or a NIR network)")
    cmpn.golden()
    order = cmpn.netmap.order
    ts = float(cmpn.netmap.simulation()["Ts"])
    spike = 1.0 / ts
    x_all = cmpn.x
    n, numel = x_all.shape[0], int(np.prod(x_all.shape[1:]))
    k_max = max(1, int(np.floor(max_density * numel + 1e-9)))
    if exclude_detecting is not None and np.asarray(exclude_detecting).shape != (n, len(fault_list)):
        raise ConfigError(f"exclude_detecting must have shape ({n}, {len(fault_list)}), "
                          f"got {np.asarray(exclude_detecting).shape}")

    def forward(x: torch.Tensor, prep: Any, samples: list[int], round_id: int) -> torch.Tensor:
        s = x
        for name in order:
            s = faulty_layer(cmpn, name, s, None if prep is None else prep.layers.get(name), samples, round_id)
        return s

    readout = getattr(cmpn.netmap, "readout", None)

    def counts_of(out: torch.Tensor) -> torch.Tensor:
        if readout is not None:  # a NIR readout's membrane scores (differentiable)
            return cmpn.netmap.scores(out)
        return out.flatten(2).sum(-1) * ts

    outputs: list[GeneratedInput] = []
    candidates: list[np.ndarray] = []
    for f, rnd in enumerate(cmpn.rounds):
        t0 = time.perf_counter()
        if time_limit_s is not None and t0 - t_all > time_limit_s:
            outputs.append(GeneratedInput(f, fault_list.ids[f], None, False))
            continue
        prep = prepare_round(cmpn, rnd)
        rng = np.random.default_rng([seed, f, 31])
        # initial inputs: smallest faulty margin relative to the golden one
        with torch.no_grad():
            scores = []
            for start in range(0, n, batch_size):
                idx = list(range(start, min(n, start + batch_size)))
                xb = x_all[idx]
                g = counts_of(forward(xb, None, idx, rnd.round_id))
                fc = counts_of(forward(xb, prep, idx, rnd.round_id))
                c = _predict(g)
                scores.append((_margin(fc, c) - _margin(g, c)).cpu())
            score = torch.cat(scores).numpy().astype(float)
        if exclude_detecting is not None:
            score[np.asarray(exclude_detecting)[:, f]] = np.inf
        perm = rng.permutation(n)
        ranked = perm[np.lexsort((np.arange(n), score[perm]))]
        ranked = [int(i) for i in ranked if np.isfinite(score[i])][:restarts]
        if not ranked:
            outputs.append(GeneratedInput(f, fault_list.ids[f], None, False, seconds=time.perf_counter() - t0))
            continue
        samples = [int(i) for i in ranked]
        base = (x_all[samples] != 0).to(cmpn.dtype)
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        theta = (3.0 * (2.0 * base - 1.0) + 0.5 * torch.randn(base.shape, generator=gen, dtype=base.dtype))
        theta.requires_grad_(True)
        opt = torch.optim.Adam([theta], lr=lr)
        found: tuple[np.ndarray, int, int] | None = None
        used = 0
        for step in range(steps + 1):
            used = step
            p = torch.sigmoid(theta)
            flat = p.flatten(1)
            top = torch.topk(flat, k_max, dim=1).indices
            hard = torch.zeros_like(flat).scatter_(1, top, 1.0) * (flat > 0.5).to(flat.dtype)
            hard = hard.view_as(p)
            x = (hard + p - p.detach()) * spike
            with torch.enable_grad():
                g = counts_of(forward(x, None, samples, rnd.round_id))
                fc = counts_of(forward(x, prep, samples, rnd.round_id))
                with torch.no_grad():
                    c = _predict(g.detach())
                    hit = _predict(fc.detach()) != c
                if bool(hit.any()):
                    r = int(torch.nonzero(hit)[0, 0])
                    found = (hard[r].detach().cpu().numpy().astype(np.uint8), r, step)
                    break
                if step == steps:
                    break
                loss = (functional.softplus(_margin(fc, c) + margin) + functional.softplus(margin - _margin(g, c))).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        seconds = time.perf_counter() - t0
        if found is None:
            outputs.append(GeneratedInput(f, fault_list.ids[f], None, False, steps=used, seconds=seconds))
            continue
        arr, r, step = found
        candidates.append(arr)
        outputs.append(GeneratedInput(f, fault_list.ids[f], arr, False, density=float(arr.mean()), steps=step,
                                      init=samples[r], seconds=seconds))
    # verification: the real engine on the candidates, every target fault a round
    with_input = [g for g in outputs if g.input is not None]
    if with_input:
        xs = torch.from_numpy(np.stack([g.input for g in with_input]).astype(np.float32)).to(cmpn.dtype) * spike
        gp, _ = golden_responses(net, xs, batch_size=batch_size)
        sub = fault_list.subset([g.fault_index for g in with_input])
        vc = fault_campaign(net, xs, gp, sub, seed=seed, batch_size=batch_size)
        res = vc.run(engine="parallel", progress=False, keep_predictions=True)
        preds = np.asarray(res.predictions)
        for i, g in enumerate(with_input):
            g.golden_class = int(gp[i])
            g.faulty_class = int(preds[i, i])
            g.verified = bool(preds[i, i] != gp[i]) and g.density <= max_density + 1e-12
    settings = {"steps": steps, "restarts": restarts, "lr": lr, "margin": margin, "seed": seed,
                "max_density": float(max_density), "density_of_init_inputs_max": bound, "max_spikes": k_max}
    return GenerationReport(outputs, float(max_density), settings, time.perf_counter() - t_all)

