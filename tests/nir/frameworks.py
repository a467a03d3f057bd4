"""Small networks built, simulated and exported to NIR by snnTorch 1.0 and Norse 1.1 (test helpers)."""

from __future__ import annotations

import torch

__all__ = ["snntorch_dense", "run_snntorch", "norse_dense", "norse_if_readout", "run_norse", "spike_input"]


def spike_input(steps: int, batch: int, features: int, rate: float = 0.25, seed: int = 0) -> torch.Tensor:
    """Bernoulli input spikes ``(T, N, F)`` (the frameworks' time-first layout)."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, features, generator=gen) < rate).float()


def snntorch_dense(sizes: tuple[int, ...], neuron: str = "Leaky", reset: str = "zero", seed: int = 0,
                   reset_delay: bool = True) -> torch.nn.Sequential:
    """``Linear -> Leaky|Synaptic`` blocks with per-neuron beta/alpha/threshold (``init_hidden=True``)."""
    import snntorch as snn

    gen = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        lin = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(n_out, n_in, generator=gen) * 1.5 / n_in**0.5)
            lin.bias.copy_(torch.randn(n_out, generator=gen) * 0.05)
        beta = 0.5 + 0.45 * torch.rand(n_out, generator=gen)
        thr = 0.6 + 0.8 * torch.rand(n_out, generator=gen)
        if neuron == "Leaky":
            lif = snn.Leaky(beta=beta, threshold=thr, init_hidden=True, reset_mechanism=reset, reset_delay=reset_delay)
        else:
            alpha = 0.4 + 0.5 * torch.rand(n_out, generator=gen)
            lif = snn.Synaptic(alpha=alpha, beta=beta, threshold=thr, init_hidden=True, reset_mechanism=reset,
                               reset_delay=reset_delay)
        layers += [lin, lif]
    return torch.nn.Sequential(*layers)


def run_snntorch(net: torch.nn.Sequential, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """snnTorch's own simulation; every layer's output ``(T, N, F)`` by module index."""
    for m in net:
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    outs: dict[str, list[torch.Tensor]] = {str(i): [] for i in range(len(net))}
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = x[t]
            for i, m in enumerate(net):
                h = m(h)
                h = h[0] if isinstance(h, tuple) else h
                outs[str(i)].append(h)
    return {k: torch.stack(v) for k, v in outs.items()}


def norse_dense(sizes: tuple[int, ...], neuron: str = "LIFCell", seed: int = 0) -> torch.nn.Module:
    """``Linear -> LIFCell|LIFBoxCell`` blocks with per-neuron time constants and thresholds.

    ``v_leak`` is given per neuron too: Norse's exporter shapes ``r`` like ``v_leak`` and NIR
    requires every parameter of a node to have one shape."""
    import norse.torch as norse

    gen = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        lin = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(n_out, n_in, generator=gen) * 6.0 / n_in**0.5)
            lin.bias.copy_(torch.randn(n_out, generator=gen) * 0.5)
        tau_mem_inv = 50.0 + 150.0 * torch.rand(n_out, generator=gen)
        thr = 0.1 + 0.3 * torch.rand(n_out, generator=gen)
        if neuron == "LIFCell":
            tau_syn_inv = 100.0 + 200.0 * torch.rand(n_out, generator=gen)
            cell = norse.LIFCell(norse.LIFParameters(tau_syn_inv=tau_syn_inv, tau_mem_inv=tau_mem_inv, v_th=thr,
                                                          v_leak=torch.zeros(n_out)))
        else:
            cell = norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=tau_mem_inv, v_th=thr, v_leak=torch.zeros(n_out)))
        layers += [lin, cell]
    return norse.SequentialState(*layers)


def run_norse(net: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Norse's own simulation; every layer's output ``(T, N, F)`` by module index."""
    modules = list(net.children())
    states: list = [None] * len(modules)
    outs: dict[str, list[torch.Tensor]] = {str(i): [] for i in range(len(modules))}
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = x[t]
            for i, m in enumerate(modules):
                if isinstance(m, torch.nn.Linear):
                    h = m(h)
                else:
                    h, states[i] = m(h, states[i])
                outs[str(i)].append(h)
    return {k: torch.stack(v) for k, v in outs.items()}


def norse_if_readout(sizes: tuple[int, int, int], seed: int = 0) -> torch.nn.Module:
    """``Linear -> IAFCell -> Linear -> LIBoxCell`` (a leaky-integrator readout)."""
    import norse.torch as norse

    gen = torch.Generator().manual_seed(seed)
    n_in, n_hidden, n_out = sizes
    lin1, lin2 = torch.nn.Linear(n_in, n_hidden), torch.nn.Linear(n_hidden, n_out)
    with torch.no_grad():
        for lin in (lin1, lin2):
            lin.weight.copy_(torch.randn(*lin.weight.shape, generator=gen) * 2.5 / lin.weight.shape[1] ** 0.5)
            lin.bias.copy_(torch.randn(*lin.bias.shape, generator=gen) * 0.05)
    cell = norse.IAFCell(norse.IAFParameters(v_th=0.5 + torch.rand(n_hidden, generator=gen)))
    readout = norse.LIBoxCell(norse.LIBoxParameters(tau_mem_inv=50 + 100 * torch.rand(n_out, generator=gen),
                                                    v_leak=torch.zeros(n_out)))
    return norse.SequentialState(lin1, cell, lin2, readout)
