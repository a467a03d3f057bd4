"""Run-schema names come from analysis/schema.py: the test-generation and search writers use
its constants, not plain strings, and the test-generation metric names it holds are the ones
``spikefi.testgen`` computes (read with ``ast``, no run needed)."""

from __future__ import annotations

import ast
from pathlib import Path

import analysis.schema as sc

REPO = Path(__file__).resolve().parents[2]
#: writers that take every run-schema name from analysis.schema
WRITERS = ("experiments/testgen.py", "experiments/search_job.py", "experiments/search.py",
           "experiments/search_ray.py", "analysis/report.py")
#: the test-generation metrics computed by spikefi.testgen (the others are set by experiments/testgen.py)
TESTGEN_LIBRARY_METRICS = (
    sc.METRIC_FAULTS, sc.METRIC_TEST_LENGTH, sc.METRIC_N_DETECT, sc.METRIC_COVERAGE_SELECTION,
    sc.METRIC_COVERAGE_HELDOUT, sc.METRIC_COVERAGE_ALL, sc.METRIC_UNDETECTED, sc.METRIC_UNDETECTABLE,
    sc.METRIC_GENERATED_TARGETS, sc.METRIC_GENERATED_VERIFIED, sc.METRIC_GENERATED_IN_PROGRAM,
    sc.METRIC_GENERATED_GAIN_SELECTION, sc.METRIC_GENERATED_GAIN_HELDOUT, sc.METRIC_GENERATED_GAIN_ALL,
    sc.METRIC_HINDSIGHT_TEST_LENGTH, sc.METRIC_HINDSIGHT_COVERAGE_HELDOUT,
)


def schema_names() -> dict[str, str]:
    """Value -> constant name of the schema's distinctive names (tags, dotted metrics and params)."""
    values = {getattr(sc, n): n for n in sc.__all__ if isinstance(getattr(sc, n), str)}
    return {v: n for v, n in values.items() if "." in v}


def plain_schema_strings(source: str, names: dict[str, str]) -> list[str]:
    """``line: value (CONSTANT)`` for every string literal of ``source`` that is a schema name,
    and every ``common_tags("kind")`` call with a literal run kind."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
            found.append((node.lineno, f"{node.lineno}: {node.value!r} ({names[node.value]})"))
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "common_tags" and node.args
              and isinstance(node.args[0], ast.Constant)):
            found.append((node.lineno, f"{node.lineno}: common_tags({node.args[0].value!r}) (a KIND_* constant)"))
    return [text for _, text in sorted(found)]


def test_writers_use_the_schema_constants():
    names = schema_names()
    assert {"spikefi.status_reason", "hindsight.coverage.heldout", "coverage.heldout"} <= set(names)
    bad = {path: plain_schema_strings((REPO / path).read_text(), names) for path in WRITERS}
    assert {path: found for path, found in bad.items() if found} == {}


def test_the_check_finds_plain_strings():
    source = ('client.set_tag(run, "spikefi.status_reason", "finished")\n'
              'tags = common_tags("testgen")\nm["hindsight.coverage.heldout"]\nconfig["testgen"]\n')
    assert plain_schema_strings(source, schema_names()) == [
        "1: 'spikefi.status_reason' (TAG_STATUS_REASON)", "2: common_tags('testgen') (a KIND_* constant)",
        "3: 'hindsight.coverage.heldout' (METRIC_HINDSIGHT_COVERAGE_HELDOUT)"]


def test_testgen_metric_names_are_the_ones_spikefi_testgen_computes():
    tree = ast.parse((REPO / "spikefi" / "testgen" / "pipeline.py").read_text())
    keys = {k.value for node in ast.walk(tree) if isinstance(node, ast.Dict)
            for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    assert set(TESTGEN_LIBRARY_METRICS) - keys == set()
    assert set(sc.TESTGEN_METRICS) <= set(TESTGEN_LIBRARY_METRICS)
    assert set(sc.COVERAGE_CURVE_METRICS) - {"detected"} <= set(TESTGEN_LIBRARY_METRICS)
    assert sc.KIND_TESTGEN == sc.PARAM_TESTGEN == "testgen"


def test_no_schema_name_is_defined_twice():
    """Two branches once both added ``CURVE_METRICS`` to the schema; the later silently won."""
    from collections import Counter

    tree = ast.parse((Path(sc.__file__)).read_text())
    names = Counter(t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                    if isinstance(t, ast.Name))
    assert [n for n, k in names.items() if k > 1] == []
    assert len(sc.__all__) == len(set(sc.__all__))
