"""Import a NIR graph as a torch network in spikefi's time-last layout.

NIR stores continuous-time neurons (``tau * dv/dt = (v_leak - v) + r*I``) and no time
step; exporters disagree on how their discrete neurons map to it. A *convention* says
how to turn the stored numbers back into a discrete update:

``snntorch``
    dt = 1e-4 (what snnTorch 1.0 hard-codes; it writes ``tau = dt/(1-beta)``,
    ``r = tau/dt``, ``w_in = tau_syn/dt``). ``beta = 1 - dt/tau`` is computed in float64,
    then cast (and clamped to [0, 1], like snnTorch); input gains ``r*dt/tau`` and
    ``w_in*dt/tau_syn`` within 1e-5 of 1 are taken as exactly 1.
``norse``
    dt = 1e-3 (Norse 1.1 writes ``tau = dt / tau_mem_inv`` and ``r = 1``, so a 10 ms
    neuron is stored as ``tau = 1e-5``): ``tau_inv = dt/tau`` (float64, then cast) and the
    step factor ``dt*tau_inv`` is formed in the network's dtype, as Norse does.
``euler``
    plain forward Euler with the ``dt`` you give: ``v += dt/tau*((v_leak - v) + r*I)``; a ``dt``
    longer than any time constant (``tau``, ``tau_mem``, ``tau_syn``) is refused (Euler then
    overshoots every step and the network runs at chance).

``convention="auto"`` picks ``snntorch`` when every neuron has ``r = tau/1e-4`` (and
``w_in = tau_syn/1e-4``), ``norse`` when every ``r`` and ``w_in`` is 1; anything else (or
both) must be named.

Supported nodes: ``Input``, ``Output``, ``Affine``, ``Linear``, ``Conv1d``, ``Conv2d``,
``SumPool2d``, ``AvgPool2d``, ``Flatten`` (of all neuron dimensions; with an unknown input
type, or one that includes a batch dimension, ``start_dim`` counts the batch as torch's
``nn.Flatten`` does), ``Scale``, ``Delay``, ``LIF``, ``CubaLIF``, ``IF``, ``Threshold``, and
the non-spiking ``LI``, ``CubaLI`` and ``I`` (integrator) in a feed-forward chain; inputs
``(features,)``, ``(C, L)`` or ``(C, H, W)``. A nested ``NIRGraph`` node whose own nodes form a
chain ``input -> ... -> output`` is flattened into the chain (its nodes are named
``<subgraph>_<node>``). Everything else raises a one-line
:class:`~spikefi.nir.errors.UnsupportedNIRNodeError`.

Layouts: a 1-D signal ``(C, L)`` runs as ``(N, C, L, 1, T)`` and a ``Conv1d`` as a
:class:`~spikefi.nir.stages.Conv2dStage` with kernel ``(k, 1)`` (so campaigns see it as a
convolution with synapse sites ``(out, in, k, 1)``). A ``Delay`` of ``d`` seconds is
``d/dt`` whole time steps (within 1e-6, else an error). ``I`` integrates ``v += g*x`` with
``g = r*dt`` (``euler``) or ``g = r`` (``snntorch``/``norse``: the gain those frameworks'
discrete integrators apply per step, the same reading as ``IF``); ``CubaLI`` is ``CubaLIF``
without firing, in every convention.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import MissingDependencyError
from .errors import (
    NIRConventionError,
    NIRFileError,
    NIRImportError,
    NIRParameterError,
    NIRShapeError,
    NIRTopologyError,
    UnsupportedNIRNodeError,
)
from .stages import (
    RESETS,
    AffineStage,
    Conv2dStage,
    CubaLIFStage,
    CubaLIStage,
    DelayStage,
    FlattenStage,
    IFStage,
    IntegratorStage,
    LIFStage,
    LIStage,
    NeuronStage,
    Pool2dStage,
    ScaleStage,
    ThresholdStage,
)

__all__ = ["NIRNetwork", "load", "read_graph", "detect_convention", "flatten_nested", "NIRNestedGraphError",
           "CONVENTIONS", "DEFAULT_DT", "SUPPORTED_NODES"]

#: conventions ``load`` accepts besides ``auto``
CONVENTIONS = ("snntorch", "norse", "euler")
#: the time step each exporter assumes
DEFAULT_DT = {"snntorch": 1e-4, "norse": 1e-3}
#: how a campaign scores classes from a non-spiking readout (LI, CubaLI, I): its membrane's
#: maximum, mean or last value over time
READOUTS = ("max", "mean", "last")
#: NIR node types this importer simulates
SUPPORTED_NODES = ("Input", "Output", "Affine", "Linear", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten",
                   "Scale", "Delay", "LIF", "CubaLIF", "IF", "Threshold", "LI", "CubaLI", "I", "NIRGraph")
#: a Delay's ``delay/dt`` must be this close to a whole number of steps
DELAY_TOLERANCE = 1e-6
#: input gains this close to 1 are taken as exactly 1 (export round-off)
GAIN_TOLERANCE = 1e-5


def _require_nir() -> Any:
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("spikefi.nir needs the 'nir' package: pip install 'spikefi[nir]'") from exc
    return nir


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().strip("'\"")
    return text.splitlines()[0] if text else type(exc).__name__


def _read_file(path: Path) -> Any:
    """``nir.read`` with its failures as one-line :class:`NIRFileError` naming the file."""
    nir = _require_nir()
    expected = "expected a NIR graph file written by nir.write (HDF5 with a 'node' group)"
    try:
        return nir.read(str(path))
    except KeyError as exc:
        raise NIRFileError(f"NIR file {str(path)!r}: an HDF5 file, but not a NIR graph ({_first_line(exc)}); "
                           f"{expected}") from None
    except UnicodeDecodeError as exc:
        raise NIRFileError(f"NIR file {str(path)!r}: a stored text (a node's 'type' or a name) is not UTF-8 "
                           f"({exc.reason} at byte {exc.start}); {expected}") from None
    except OSError as exc:  # h5py: not HDF5 at all, truncated, unreadable
        raise NIRFileError(f"NIR file {str(path)!r} is not a readable HDF5 file ({_first_line(exc)}); "
                           f"{expected}") from None
    except ValueError as exc:
        if "type" not in str(exc).lower():
            raise NIRFileError(f"NIR file {str(path)!r}: {_first_line(exc)}; {expected}") from None
        # NIR's own type check failed: say what is wrong in spikefi's terms when the graph
        # reads without it (a recurrent edge, a branch ...), else give NIR's reason
        try:
            graph = nir.read(str(path), type_check=False)
            chain(flatten_nested(graph))
        except NIRImportError as topo:
            raise NIRFileError(f"NIR file {str(path)!r}: {topo} (NIR's type check fails too: "
                               f"{_first_line(exc)})") from None
        except Exception:  # noqa: BLE001, S110 - NIR's own reason below is the message then
            pass
        raise NIRFileError(f"NIR file {str(path)!r}: NIR's type check fails: {_first_line(exc)} (the shapes "
                           "of connected nodes do not agree)") from None
    except Exception as exc:  # noqa: BLE001 - any other malformed content
        raise NIRFileError(f"NIR file {str(path)!r} does not read as a NIR graph ({type(exc).__name__}: "
                           f"{_first_line(exc)}); {expected}") from None


def read_graph(graph_or_path: Any) -> Any:
    """A NIR graph from a graph object or an HDF5 file path (``nir.read``).

    Raises:
        NIRFileError: (one line naming the file) the file is missing, not HDF5, truncated,
            HDF5 without NIR's layout, holds text that is not UTF-8, or fails NIR's type check.
    """
    if isinstance(graph_or_path, (str, Path)):
        path = Path(graph_or_path)
        if not path.is_file():
            raise NIRFileError(f"NIR file not found: {path}")
        return _read_file(path)
    if not hasattr(graph_or_path, "nodes") or not hasattr(graph_or_path, "edges"):
        raise NIRTopologyError(f"expected a NIR graph or a path to a .nir file, got {type(graph_or_path).__name__}")
    return graph_or_path


def _kind(node: Any) -> str:
    return type(node).__name__


def _array(node_name: str, node: Any, attr: str) -> np.ndarray:
    value = getattr(node, attr, None)
    if value is None:
        raise NIRParameterError(f"NIR node '{node_name}' ({_kind(node)}) has no '{attr}'")
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise NIRParameterError(f"NIR node '{node_name}' ({_kind(node)}): '{attr}' holds non-finite values")
    return arr


def _per_neuron(node_name: str, node: Any, attr: str, features: int, default: float | None = None) -> np.ndarray:
    """A parameter as a ``(features,)`` float64 vector (size-1 values broadcast)."""
    if default is not None and getattr(node, attr, None) is None:
        return np.full(features, default, dtype=np.float64)
    arr = _array(node_name, node, attr).reshape(-1)
    if arr.size == 1:
        return np.full(features, float(arr[0]))
    if arr.size != features:
        raise NIRShapeError(
            f"NIR node '{node_name}' ({_kind(node)}): '{attr}' has {arr.size} values, the layer has {features} neurons"
        )
    return arr


def _positive(node_name: str, node: Any, attr: str, arr: np.ndarray) -> np.ndarray:
    if np.any(arr <= 0):
        raise NIRParameterError(f"NIR node '{node_name}' ({_kind(node)}): '{attr}' must be > 0, got {float(arr.min())}")
    return arr


def _io_shape(node_name: str, types: Any) -> tuple[int, ...]:
    if isinstance(types, Mapping):
        if len(types) != 1:
            raise NIRShapeError(f"NIR node '{node_name}' has {len(types)} ports; one is supported")
        types = next(iter(types.values()))
    if types is None:
        raise NIRShapeError(f"NIR node '{node_name}' has no shape")
    return tuple(int(v) for v in np.asarray(types).reshape(-1))


def _find_back_edge(names: list[str], succ: dict[str, list[str]]) -> tuple[str, str] | None:
    """An edge closing a cycle (depth-first search), or ``None`` for an acyclic graph."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in names:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                return node, child
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(succ[child])))
    return None


def chain(graph: Any) -> tuple[str, list[str], str]:
    """The graph's nodes as a feed-forward chain: ``(input, [middle nodes...], output)``.

    Raises:
        UnsupportedNIRNodeError: a node type outside :data:`SUPPORTED_NODES`.
        NIRTopologyError: a cycle (recurrent edge), a branch, a dangling node, or not
            exactly one ``Input`` and one ``Output``.
    """
    graph = flatten_nested(graph)
    nodes = dict(graph.nodes)
    for name, node in nodes.items():
        if node is None:
            raise UnsupportedNIRNodeError(
                f"NIR node '{name}' is empty (None): its exporter wrote no node for that module (Norse 1.1 writes "
                "torch.nn.Flatten so); rebuild the graph with a nir.Flatten there or export without it")
        if _kind(node) not in SUPPORTED_NODES:
            what = f"a {_kind(node)}"
            raise UnsupportedNIRNodeError(
                f"NIR node '{name}' is {what}, which spikefi.nir does not support yet "
                f"(supported: {', '.join(SUPPORTED_NODES)})"
            )
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in graph.edges:
        src, dst = (str(e).split(".")[0] for e in edge)
        for end in (src, dst):
            if end not in nodes:
                raise NIRTopologyError(f"NIR edge {src} -> {dst} names an unknown node '{end}'")
        succ[src].append(dst)
        pred[dst].append(src)
    back_edge = _find_back_edge(list(nodes), succ)
    if back_edge is not None:
        raise NIRTopologyError(
            f"NIR graph has a recurrent edge {back_edge[0]} -> {back_edge[1]} (a cycle); not supported yet"
        )
    inputs = [n for n, node in nodes.items() if _kind(node) == "Input"]
    outputs = [n for n, node in nodes.items() if _kind(node) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRTopologyError(f"a NIR graph needs one Input and one Output node, found {len(inputs)} and {len(outputs)}")
    order, seen, current = [], {inputs[0]}, inputs[0]
    while current != outputs[0]:
        nxt = succ[current]
        if len(nxt) != 1:
            raise NIRTopologyError(
                f"NIR node '{current}' has {len(nxt)} successors; only feed-forward chains are supported"
            )
        current = nxt[0]
        if len(pred[current]) != 1:
            raise NIRTopologyError(
                f"NIR node '{current}' has {len(pred[current])} inputs; only feed-forward chains are supported"
            )
        seen.add(current)
        order.append(current)
    order.pop()  # the Output node
    stray = sorted(set(nodes) - seen)
    if stray:
        raise NIRTopologyError(f"NIR node '{stray[0]}' is not on the path from Input to Output")
    return inputs[0], order, outputs[0]


class NIRNestedGraphError(NIRTopologyError, UnsupportedNIRNodeError):
    """A nested ``NIRGraph`` node that is not a feed-forward chain (so not flattened)."""


class _Graph:
    """A flattened graph: ``nodes`` and ``edges`` as ``nir.NIRGraph`` holds them."""

    def __init__(self, nodes: dict[str, Any], edges: list[tuple[str, str]]) -> None:
        self.nodes, self.edges = nodes, edges


def flatten_nested(graph: Any) -> Any:
    """``graph`` with every nested ``NIRGraph`` node replaced by its chain of nodes (named
    ``<subgraph>_<node>``, recursively); ``graph`` itself when it has none.

    Raises:
        NIRNestedGraphError: a subgraph that is not a chain ``input -> ... -> output`` (a
            branch, a recurrent edge, ...), or a flattened name that is already taken.
    """
    nodes = dict(graph.nodes)
    if not any(_kind(n) == "NIRGraph" for n in nodes.values()):
        return graph
    flat: dict[str, Any] = {}
    entry: dict[str, str | None] = {}
    exit_: dict[str, str | None] = {}
    inner_edges: list[tuple[str, str]] = []
    for name, node in nodes.items():
        if _kind(node) != "NIRGraph":
            flat[name] = node
            entry[name] = exit_[name] = name
            continue
        try:
            sub = flatten_nested(node)
            _, order, _ = chain(sub)
        except NIRTopologyError as exc:
            raise NIRNestedGraphError(
                f"NIR node '{name}' is a nested graph that is not a feed-forward chain (input -> ... -> output): {exc}"
            ) from None
        sub_nodes = dict(sub.nodes)
        names = [f"{name}_{inner}" for inner in order]
        for new, inner in zip(names, order, strict=True):
            if new in nodes or new in flat:
                raise NIRNestedGraphError(f"NIR node '{name}' is a nested graph whose node '{inner}' would be named "
                                          f"'{new}', which the outer graph already uses")
            flat[new] = sub_nodes[inner]
        inner_edges += list(zip(names[:-1], names[1:], strict=True))
        entry[name] = names[0] if names else None
        exit_[name] = names[-1] if names else None
    # outer edges, rewired to the subgraphs' first and last nodes; empty subgraphs are bypassed
    outer = [tuple(str(e).split(".")[0] for e in edge) for edge in graph.edges]
    bypass = {n for n, e in entry.items() if e is None}
    edges = list(inner_edges)
    for src, dst in outer:
        if src in bypass:
            continue
        targets = [dst]
        for _ in range(len(bypass) + 1):
            if not any(t in bypass for t in targets):
                break
            targets = [d for t in targets for d in ([b for a, b in outer if a == t] if t in bypass else [t])]
        for dst_ in targets:
            edges.append((exit_.get(src) or src, entry.get(dst_) or dst_))
    return _Graph(flat, edges)


def detect_convention(graph: Any) -> str:
    """``snntorch`` or ``norse`` from the neuron parameters (see the module docstring).

    Raises:
        NIRConventionError: no neuron with a time constant, or the numbers fit both or neither.
    """
    fits = {"snntorch": True, "norse": True}
    timed = False
    for name, node in dict(graph.nodes).items():
        kind = _kind(node)
        if kind not in ("LIF", "CubaLIF", "LI", "CubaLI"):
            continue
        timed = True
        tau = _array(name, node, "tau_mem" if kind.startswith("Cuba") else "tau")
        r = _array(name, node, "r")
        pairs = [(r, tau)]
        if kind.startswith("Cuba"):
            w_in = _array(name, node, "w_in") if getattr(node, "w_in", None) is not None else np.ones(1)
            pairs.append((w_in, _array(name, node, "tau_syn")))
        for gain, tau_ in pairs:
            tau_, gain = np.broadcast_arrays(tau_, gain)
            fits["snntorch"] &= bool(np.allclose(gain, tau_ / DEFAULT_DT["snntorch"], rtol=1e-4, atol=0))
            fits["norse"] &= bool(np.all(gain == 1))
    matches = [k for k, ok in fits.items() if ok]
    if not timed:
        raise NIRConventionError("the graph has no neuron with a time constant; name convention= and dt=")
    if len(matches) != 1:
        found = " and ".join(matches) if matches else "neither snntorch nor norse"
        raise NIRConventionError(f"NIR convention is ambiguous (the numbers fit {found}); name convention= and dt=")
    return matches[0]


class NIRNetwork(nn.Module):
    """A NIR graph as a chain of torch stages; input and output ``(N, C, H, W, T)``.

    Attributes:
        stages: the stages by NIR node name, in forward order.
        convention: the convention used (``snntorch``, ``norse`` or ``euler``).
        dt: the time step used.
        input_shape: ``(C, H, W)`` of one sample.
    """

    def __init__(self, stages: dict[str, nn.Module], convention: str, dt: float,
                 input_shape: tuple[int, int, int], readout: str = "max") -> None:
        super().__init__()
        if readout not in READOUTS:
            raise NIRParameterError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        self.stages = nn.ModuleDict(stages)
        self.convention = convention
        self.dt = dt
        self.input_shape = input_shape
        #: how a campaign scores classes from a non-spiking readout's membrane: max, mean or last over time
        self.readout = readout

    def forward(self, x: torch.Tensor, record: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run the network on ``x`` ``(N, C, H, W, T)``.

        Args:
            x: input spikes (or currents) in the time-last layout.
            record: also return every stage's output by node name.
        """
        if x.dim() != 5 or not self.accepts(tuple(x.shape[1:4])):
            raise NIRShapeError(f"expected input (N, {', '.join(map(str, self.input_shape))}, T), got {tuple(x.shape)}")
        if tuple(x.shape[1:4]) != self.input_shape:  # a dense input given as (C, H, W): flattened
            x = x.reshape(x.shape[0], *self.input_shape, x.shape[-1])
        outputs = {}
        for name, stage in self.stages.items():
            x = stage(x)
            if record:
                outputs[name] = x
        return (x, outputs) if record else x

    def accepts(self, shape: tuple[int, ...]) -> bool:
        """Whether samples of ``shape`` ``(C, H, W)`` fit: the input shape, or any shape with
        as many values for a dense input ``(F, 1, 1)`` (flattened in C, H, W order)."""
        shape = tuple(int(v) for v in shape)
        if shape == tuple(self.input_shape):
            return True
        dense = tuple(self.input_shape[1:]) == (1, 1)
        return dense and len(shape) == 3 and shape[0] * shape[1] * shape[2] == self.input_shape[0]

    def neuron_stages(self) -> dict[str, NeuronStage]:
        """The neuron stages by node name."""
        return {n: s for n, s in self.stages.items() if isinstance(s, NeuronStage)}


_SYNAPTIC = ("Affine", "Linear", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Scale", "Delay")


def _input_shape(name: str, node: Any) -> tuple[int, int, int]:
    """``(C, H, W)`` of the Input node: ``(F,)`` -> ``(F, 1, 1)``, ``(C, L)`` -> ``(C, L, 1)``; a leading batch of 1
    (written by exporters traced with a batched sample) is dropped."""
    shape = _io_shape(name, getattr(node, "input_type", None))
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) == 1:
        return (shape[0], 1, 1)
    if len(shape) == 2:
        return (shape[0], shape[1], 1)
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    raise NIRShapeError(f"NIR node '{name}' (Input) has shape {shape}; expected (features,), (C, L) or (C, H, W)")


def _pair(name: str, node: Any, attr: str, default: int | None = None) -> tuple[int, int]:
    value = getattr(node, attr, None)
    if value is None:
        if default is None:
            raise NIRParameterError(f"NIR node '{name}' ({_kind(node)}) has no '{attr}'")
        value = default
    arr = np.asarray(value).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2:
        raise NIRShapeError(f"NIR node '{name}' ({_kind(node)}): '{attr}' is {value!r}; expected 1 or 2 integers")
    return int(arr[0]), int(arr[1])


def _int1(name: str, node: Any, attr: str, default: int) -> int:
    """A Conv1d parameter given as one integer (or a 1-element array)."""
    value = getattr(node, attr, None)
    arr = np.asarray(default if value is None else value).reshape(-1)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number) or arr[0] != int(arr[0]):
        raise NIRParameterError(f"NIR node '{name}' ({_kind(node)}): '{attr}' is {value!r}; expected one integer")
    return int(arr[0])


def _per_feature(name: str, node: Any, attr: str, shape: tuple[int, ...]) -> np.ndarray:
    """A Scale/Delay parameter for the features ``shape``: ``(C, H, W)``, or 0-d when all are equal."""
    arr = _per_neuron(name, node, attr, int(np.prod(shape)))
    return np.asarray(arr[0]) if np.all(arr == arr[0]) else arr.reshape(shape)


def _conv_weight_bias(name: str, node: Any, kind: str, ndim: int, groups: int,
                      channels: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A convolution node's weight ``(out, in/groups, k...)`` and bias, checked against the
    ``channels`` fed to it."""
    weight = _array(name, node, "weight")
    if weight.ndim != ndim or groups < 1 or weight.shape[1] * groups != channels:
        raise NIRShapeError(
            f"NIR node '{name}' ({kind}) has weight {tuple(weight.shape)} (groups {groups}); it is fed {channels} channels"
        )
    bias = getattr(node, "bias", None)
    bias = None if bias is None else _array(name, node, "bias").reshape(-1)
    if bias is not None and bias.size != weight.shape[0]:
        raise NIRShapeError(f"NIR node '{name}' ({kind}) has {bias.size} biases for {weight.shape[0]} channels")
    return weight, bias


def _synaptic_stage(name: str, node: Any, shape: tuple[int, ...], dtype: torch.dtype,
                    device: str | torch.device, dt: float = 1.0) -> nn.Module:
    """The stage of an Affine, Linear, Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten, Scale or
    Delay node fed ``shape``."""
    kind = _kind(node)

    def as_tensor(arr: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(arr).to(dtype=dtype, device=device)

    if kind == "Scale":
        return ScaleStage(as_tensor(_per_feature(name, node, "scale", shape)))
    if kind == "Delay":
        delay = _per_feature(name, node, "delay", shape)
        if np.any(delay < 0):
            raise NIRParameterError(f"NIR node '{name}' (Delay): 'delay' must be >= 0, got {float(delay.min())}")
        steps = delay / dt
        whole = np.round(steps)
        if np.any(np.abs(steps - whole) > DELAY_TOLERANCE):
            bad = float(np.asarray(delay).reshape(-1)[np.argmax(np.abs(steps - whole).reshape(-1))])
            raise NIRParameterError(f"NIR node '{name}' (Delay): delay {bad!r} s is not a whole number of "
                                    f"time steps of dt={dt!r} (within {DELAY_TOLERANCE})")
        return DelayStage(torch.as_tensor(whole.astype(np.int64), device=device))
    if kind == "Conv1d":
        groups = _int1(name, node, "groups", 1)
        if shape[2] != 1:
            raise NIRShapeError(f"NIR node '{name}' (Conv1d) is fed shape {shape}; expected a 1-D signal (C, L)")
        weight, bias = _conv_weight_bias(name, node, "Conv1d", 3, groups, shape[0])
        padding = getattr(node, "padding", 0)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise NIRParameterError(f"NIR node '{name}' (Conv1d): padding {padding!r}; expected an integer, "
                                        "'same' or 'valid'")
        else:
            padding = (_int1(name, node, "padding", 0), 0)
        return Conv2dStage(as_tensor(weight[..., None]), None if bias is None else as_tensor(bias),
                           (_int1(name, node, "stride", 1), 1), padding, (_int1(name, node, "dilation", 1), 1), groups)

    if kind in ("Affine", "Linear"):
        weight = _array(name, node, "weight")
        if shape[1:] != (1, 1):
            raise NIRShapeError(f"NIR node '{name}' ({kind}) is fed shape {shape}; a Flatten must come first")
        if weight.ndim != 2 or weight.shape[1] != shape[0]:
            raise NIRShapeError(f"NIR node '{name}' ({kind}) has weight {tuple(weight.shape)}; expected (out, {shape[0]})")
        bias = None
        if kind == "Affine":
            bias = _array(name, node, "bias").reshape(-1)
            if bias.size != weight.shape[0]:
                raise NIRShapeError(f"NIR node '{name}' (Affine) has {bias.size} biases for {weight.shape[0]} outputs")
            bias = as_tensor(bias)
        return AffineStage(as_tensor(weight), bias)
    if kind == "Flatten":
        start, end = int(getattr(node, "start_dim", 0)), int(getattr(node, "end_dim", -1))
        declared = getattr(node, "input_type", None)
        declared = declared.get("input") if isinstance(declared, Mapping) else declared
        ndim = None if declared is None else np.asarray(declared).size
        if ndim is None or ndim == len(shape) + 1:  # dims count a batch dimension (torch's nn.Flatten)
            start, end = start - 1, end if end < 0 else end - 1
        if start != 0 or end not in (-1, len(shape) - 1):
            raise UnsupportedNIRNodeError(
                f"NIR node '{name}' (Flatten) flattens neuron dims {start}..{end} of {shape}; only flattening all of them is supported"
            )
        return FlattenStage()
    if kind == "Conv2d":
        groups = int(getattr(node, "groups", 1) or 1)
        weight, bias = _conv_weight_bias(name, node, "Conv2d", 4, groups, shape[0])
        padding = getattr(node, "padding", 0)
        padding = padding if isinstance(padding, str) else _pair(name, node, "padding", 0)
        return Conv2dStage(as_tensor(weight), None if bias is None else as_tensor(bias), _pair(name, node, "stride", 1),
                           padding, _pair(name, node, "dilation", 1), groups)
    kernel = _pair(name, node, "kernel_size")
    stride = kernel if getattr(node, "stride", None) is None else _pair(name, node, "stride")
    return Pool2dStage("sum" if kind == "SumPool2d" else "avg", kernel, stride, _pair(name, node, "padding", 0))


def _coefficients(convention: str, dt: float, tau: np.ndarray, dtype: torch.dtype = torch.float64) -> np.ndarray:
    """Discrete factor: ``beta = clamp(1 - dt/tau, 0, 1)`` (snntorch), ``tau_inv = dt/tau`` (norse),
    ``a = dt/tau`` (euler); all in float64.

    For ``norse`` the numerator is ``dt`` rounded to ``dtype``: Norse wrote
    ``tau = dt/tau_inv`` with that rounded ``dt``, and dividing by it recovers the float32
    ``tau_inv`` exactly for about 3 in 4 neurons (the export loses the rest: several
    ``tau_inv`` give one ``tau``), against about 1 in 2 with the exact ``dt``.
    """
    if convention == "snntorch":
        return np.clip(1.0 - dt / tau, 0.0, 1.0)
    if convention == "norse":
        return float(torch.tensor(dt, dtype=dtype)) / tau
    return dt / tau


def _euler_step_fits(convention: str, dt: float, name: str, kind: str, attr: str, tau: np.ndarray) -> None:
    """Refuses an ``euler`` time step longer than a time constant: forward Euler then overshoots
    the membrane's target every step (it oscillates, and diverges beyond ``2*tau``), which a
    network runs silently at chance level."""
    if convention != "euler" or not tau.size or dt <= float(tau.min()):
        return
    raise NIRParameterError(f"NIR node '{name}' ({kind}): dt={dt:g} is longer than its smallest '{attr}' "
                            f"{float(tau.min()):g}; forward Euler (convention 'euler') needs dt <= every time "
                            "constant (typically dt <= tau/10): give a smaller dt")


def _snap(gain: np.ndarray) -> np.ndarray:
    return np.where(np.abs(gain - 1.0) <= GAIN_TOLERANCE, 1.0, gain)


def load(graph_or_path: Any, dt: float | None = None, convention: str = "auto", reset: str | None = None,
         dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu", readout: str = "max",
         reset_delay: bool = True) -> NIRNetwork:
    """Import a NIR graph (object or HDF5 file) as a :class:`NIRNetwork`.

    Args:
        graph_or_path: a ``nir.NIRGraph`` or the path of a file written by ``nir.write``.
        dt: time step; defaults to the exporter's (1e-4 snntorch, 1e-3 norse); required for ``euler``.
        convention: ``auto``, ``snntorch``, ``norse`` or ``euler``.
        reset: ``value`` (default: NIR's reset to ``v_reset``), ``subtract`` (e.g. snnTorch's
            default ``reset_mechanism="subtract"``, which NIR cannot express) or ``none``.
        dtype: ``torch.float32`` or ``torch.float64``; coefficients are computed in float64
            and cast once.
        device: where the network's tensors live.
        readout: for a graph ending in a non-spiking readout (LI, CubaLI, I): how a campaign
            scores classes from its membrane — ``max`` (default), ``mean`` or ``last`` over time.
        reset_delay: convention ``snntorch`` only: ``True`` (default) as snnTorch's default
            ``reset_delay=True``; ``False`` for networks built with snnTorch's
            ``Leaky/Synaptic(reset_delay=False)`` (the reset right after the spike). NIR stores
            the same graph for both settings, so the import cannot tell them apart.

    Raises:
        NIRImportError: (one-line, naming the node) unsupported nodes, recurrent edges,
            missing or invalid parameters, shape mismatches, an undetectable convention.
    """
    graph = read_graph(graph_or_path)
    if convention not in ("auto", *CONVENTIONS):
        raise NIRConventionError(f"unknown NIR convention {convention!r}; use auto, {', '.join(CONVENTIONS)}")
    reset = reset or "value"
    if reset not in RESETS:
        raise NIRParameterError(f"unknown reset {reset!r}; use {', '.join(RESETS)}")
    if dtype not in (torch.float32, torch.float64):
        raise NIRParameterError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if not isinstance(reset_delay, bool):
        raise NIRParameterError(f"reset_delay must be True or False, got {reset_delay!r}")
    graph = flatten_nested(graph)
    input_name, order, _ = chain(graph)
    nodes = dict(graph.nodes)
    if convention == "auto":
        convention = detect_convention(graph)
    if dt is None:
        if convention == "euler":
            raise NIRConventionError("convention 'euler' needs dt=")
        dt = DEFAULT_DT[convention]
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NIRParameterError(f"dt must be a positive number, got {dt!r}")
    dt = float(dt)
    if not reset_delay and convention != "snntorch":
        raise NIRConventionError(f"reset_delay=False is an snnTorch setting (convention 'snntorch'); convention "
                                 f"{convention!r} resets right after the spike already")

    shape = _input_shape(input_name, nodes[input_name])
    input_shape = shape

    def tensor(arr: np.ndarray) -> torch.Tensor:
        """A per-neuron float64 vector as a ``(C, H, W)`` buffer of the current layer."""
        return torch.as_tensor(arr, dtype=torch.float64).to(dtype=dtype, device=device).reshape(shape)

    def norse_factor(tau_inv: np.ndarray, sign: float = 1.0) -> torch.Tensor:
        # Norse forms dt * tau_inv in the network's dtype from a tau_inv parameter of that dtype.
        return torch.tensor(sign * dt, dtype=dtype, device=device) * tensor(tau_inv)

    stages: dict[str, nn.Module] = {}
    for name in order:
        node, kind = nodes[name], _kind(nodes[name])
        if kind in _SYNAPTIC:
            stage = _synaptic_stage(name, node, shape, dtype, device, dt)
            try:
                with torch.no_grad():  # the output shape, from one all-zero step
                    probe = stage.to("cpu")(torch.zeros(1, *shape, 1, dtype=dtype))
            except RuntimeError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise NIRShapeError(f"NIR node '{name}' ({kind}) cannot take input shape {shape}: {reason}") from None
            stages[name] = stage.to(device)
            shape = tuple(int(v) for v in probe.shape[1:4])
            continue
        features = int(np.prod(shape))

        def p(attr: str, default: float | None = None, _name: str = name, _node: Any = node,
              _features: int = features) -> np.ndarray:
            return _per_neuron(_name, _node, attr, _features, default)

        if kind in ("IF", "I"):
            r = p("r")
            gain = tensor(_snap(r * dt if convention == "euler" else r))
            if kind == "I":
                stages[name] = IntegratorStage(convention, gain, gain)
            else:
                stages[name] = IFStage(convention, gain, tensor(p("v_threshold")), tensor(p("v_reset", 0.0)), reset)
            continue
        if kind == "Threshold":
            stages[name] = ThresholdStage(tensor(p("threshold")))
            continue
        tau_attr = "tau_mem" if kind.startswith("Cuba") else "tau"
        tau = _positive(name, node, tau_attr, p(tau_attr))
        _euler_step_fits(convention, dt, name, kind, tau_attr, tau)
        r, v_leak = p("r"), p("v_leak", 0.0)
        coef = _coefficients(convention, dt, tau, dtype)
        gain = _snap(r * dt / tau) if convention == "snntorch" else r
        decay = norse_factor(coef) if convention == "norse" else tensor(coef)
        leak = tensor((1.0 - coef) * v_leak) if convention == "snntorch" else None
        if kind == "LI":
            stages[name] = LIStage(convention, decay, tensor(gain), tensor(v_leak), leak)
        elif kind == "LIF":
            stages[name] = LIFStage(convention, decay, tensor(gain), tensor(p("v_threshold")),
                                    tensor(p("v_reset", 0.0)), tensor(v_leak), leak, reset, reset_delay)
        else:  # CubaLIF, CubaLI
            tau_syn = _positive(name, node, "tau_syn", p("tau_syn"))
            _euler_step_fits(convention, dt, name, kind, "tau_syn", tau_syn)
            w_in = p("w_in", 1.0)
            syn = _coefficients(convention, dt, tau_syn, dtype)
            if convention == "snntorch":
                syn_decay, syn_gain = tensor(syn), tensor(_snap(w_in * dt / tau_syn))
            elif convention == "norse":
                syn_decay, syn_gain = norse_factor(syn, -1.0), tensor(w_in)
            else:
                syn_decay, syn_gain = tensor(syn), tensor(w_in)
            if kind == "CubaLI":
                stages[name] = CubaLIStage(convention, syn_decay, decay, syn_gain, tensor(gain), tensor(v_leak), leak)
                continue
            stages[name] = CubaLIFStage(convention, syn_decay, decay, syn_gain, tensor(gain),
                                        tensor(p("v_threshold")), tensor(p("v_reset", 0.0)), tensor(v_leak),
                                        leak, reset, reset_delay)
    return NIRNetwork(stages, convention, dt, input_shape, readout)
