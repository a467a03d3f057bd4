"""Import structure: no import cycle anywhere in the repository (spikefi/, analysis/,
experiments/, benchmarks/ and tests/), analysis never imports experiments, and the campaign package
imports downwards only (campaign -> executors -> engines -> inject -> context -> types).

Imports are read with ``ast`` from the source files, so every import counts: at module
level, inside functions, and under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("spikefi", "analysis", "experiments", "benchmarks", "tests")
#: the campaign package's layers, bottom first; a module may import its own layer and those below
CAMPAIGN_LAYERS = ("types", "context", "integer_synapses", "inject", "engines", "executors")
CAMPAIGN = "spikefi.campaign"


def _modules(root: Path, packages: Iterable[str]) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``)."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def imports_of(module: str, is_pkg: bool, source: str, known: Iterable[str]) -> set[str]:
    """The known modules that ``source`` (module ``module``) imports, anywhere in the file."""
    known = set(known)
    found: set[str] = set()

    def add(target: str, names: list[str] | None) -> None:
        if names:
            for name in names:
                if f"{target}.{name}" in known:
                    found.add(f"{target}.{name}")
                elif target in known:
                    found.add(target)
            return
        while target and target not in known:  # `import a.b.c`: the deepest known module
            target = target.rpartition(".")[0]
        if target:
            found.add(target)

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            add(target, [a.name for a in node.names])
    found.discard(module)
    return found


def import_graph(root: Path = REPO, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    mods = _modules(root, packages)
    return {m: imports_of(m, is_pkg, path.read_text(), mods) for m, (path, is_pkg) in mods.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def campaign_layer(module: str) -> int | None:
    """The layer of a ``spikefi.campaign`` module: the index in :data:`CAMPAIGN_LAYERS`, or
    ``len(CAMPAIGN_LAYERS)`` for the modules on top (campaign.py, fault_training, spec, the
    package itself, the legacy faces ...); ``None`` outside the package."""
    if module != CAMPAIGN and not module.startswith(CAMPAIGN + "."):
        return None
    rest = module[len(CAMPAIGN) + 1:].split(".")[0] if module != CAMPAIGN else ""
    return CAMPAIGN_LAYERS.index(rest) if rest in CAMPAIGN_LAYERS else len(CAMPAIGN_LAYERS)


def layer_breaches(graph: Mapping[str, set[str]]) -> list[str]:
    """``importer -> imported`` pairs where a campaign module imports a higher layer."""
    out = []
    for module, targets in graph.items():
        mine = campaign_layer(module)
        if mine is None or mine == len(CAMPAIGN_LAYERS):
            continue
        for target in sorted(targets):
            theirs = campaign_layer(target)
            if theirs is not None and theirs > mine:
                out.append(f"{module} ({CAMPAIGN_LAYERS[mine]}) -> {target}")
    return out


# -- the checks ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_package_is_read(graph):
    assert {m.split(".")[0] for m in graph} == set(PACKAGES)
    assert {"experiments.search", "experiments.search_ray", "experiments.search_job", "benchmarks.common",
            "benchmarks.scaling"} <= set(graph)


def test_no_import_cycles_in_the_repository(graph):
    assert cycles(graph) == []


def test_the_search_command_imports_downwards(graph):
    """CLI -> Ray -> job: the job each Ray task runs lives in its own module."""
    assert "experiments.search_ray" in graph["experiments.search"]
    assert "experiments.search_job" in graph["experiments.search_ray"]
    assert graph["experiments.search_job"].isdisjoint({"experiments.search", "experiments.search_ray"})
    assert "experiments.search" not in graph["experiments.search_ray"]


def test_analysis_never_imports_experiments(graph):
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if m.split(".")[0] == "analysis"
                 for t in ts if t.split(".")[0] == "experiments")
    assert bad == []


def test_campaign_imports_downwards_only(graph):
    assert {m for m in graph if campaign_layer(m) is not None and campaign_layer(m) < len(CAMPAIGN_LAYERS)}, \
        "the campaign layers were not found"
    assert layer_breaches(graph) == []


def test_the_import_reader_sees_every_kind_of_import():
    known = ["spikefi.campaign.campaign", "spikefi.campaign.types", "spikefi.campaign.engines",
             "spikefi.campaign.engines.base", "spikefi.snn", "spikefi.snn.loss", "experiments.chunk_flush"]
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..campaign import Campaign\n"
        "def f():\n    from ...snn.loss import spike_counts\n    import experiments.chunk_flush\n"
        "from . import base\n"
    )
    found = imports_of("spikefi.campaign.engines.naive", False, source, known)
    assert found == {"spikefi.campaign.campaign", "spikefi.snn.loss", "experiments.chunk_flush",
                     "spikefi.campaign.engines.base"}


def test_the_checks_catch_a_cycle_and_an_upward_import():
    g = {"spikefi.campaign.engines.naive": {"spikefi.campaign.executors.base"},
         "spikefi.campaign.executors.base": {"spikefi.campaign.engines.naive"},
         "spikefi.campaign.types": {"spikefi.campaign.context"},
         "spikefi.campaign.context": set()}
    assert cycles(g) == [["spikefi.campaign.engines.naive", "spikefi.campaign.executors.base"]]
    assert layer_breaches(g) == [
        "spikefi.campaign.engines.naive (engines) -> spikefi.campaign.executors.base",
        "spikefi.campaign.types (types) -> spikefi.campaign.context",
    ]
