"""Test generation: from a fault list to a test program with measured fault coverage.

Pieces (each usable alone):

* :mod:`.faultlist` — :class:`FaultList` (faults to detect, checked against the network);
* :mod:`.detection` — the detection matrix (test input x fault);
* :mod:`.selection` — greedy / lazy-greedy set cover, exact refinement, coverage curves;
* :mod:`.generation` — gradient-based generation of binary inputs for undetected faults;
* :mod:`.program` — :class:`TestProgram` (plain files), :func:`apply_test_program`,
  :func:`measure_coverage`;
* :mod:`.pipeline` — :func:`generate_test_program`: all of it, with a held-out half.

Example:
    >>> from spikefi.testgen import FaultList, TestGenConfig, generate_test_program
    >>> from spikefi.faults import DeadNeuron, Fault, Site
    >>> faults = FaultList.from_rounds([Fault(DeadNeuron(), Site("SF4", (c, 0, 0))) for c in range(10)])
    >>> result = generate_test_program(net, test_inputs, faults, config=TestGenConfig(max_tests=10))  # doctest: +SKIP
    >>> result.program.save("outputs/program")                                                          # doctest: +SKIP
"""

from .detection import (
    CountingEngine,
    DetectionMatrix,
    compute_detection,
    detection_from_predictions,
    detection_from_result,
    fault_campaign,
    golden_responses,
)
from .faultlist import (
    FaultList,
    FaultListMismatchError,
    fault_list_from_result,
    fault_list_from_trials,
    faults_from_json,
    layer_signature,
)
from .generation import GeneratedInput, GenerationReport, density_bound, generate_inputs
from .pipeline import TestGenConfig, TestGenResult, fault_label, generate_test_program, split_faults
from .plots import coverage_curve_figure
from .program import (
    PROGRAM_SCHEMA_VERSION,
    ArchitectureMismatchError,
    NetworkDigestMismatchError,
    TestProgram,
    Verdict,
    apply_test_program,
    architecture_fingerprint,
    build_test_program,
    check_program_network,
    measure_coverage,
    weights_sha256,
)
from .selection import (
    Selection,
    coverage_curve,
    exact_cover,
    fragility,
    golden_margins,
    greedy_cover,
    lazy_greedy_cover,
    n_detect_cover,
    order_by_gain,
    refine_selection,
    select_tests,
)

__all__ = [
    "FaultList", "FaultListMismatchError", "fault_list_from_result", "fault_list_from_trials", "faults_from_json", "layer_signature",
    "DetectionMatrix", "CountingEngine", "compute_detection", "detection_from_predictions", "detection_from_result",
    "fault_campaign", "golden_responses",
    "Selection", "greedy_cover", "lazy_greedy_cover", "exact_cover", "refine_selection", "coverage_curve",
    "n_detect_cover", "golden_margins", "fragility", "order_by_gain", "select_tests", "fault_label",
    "GeneratedInput", "GenerationReport", "density_bound", "generate_inputs",
    "PROGRAM_SCHEMA_VERSION", "ArchitectureMismatchError", "TestProgram", "Verdict", "architecture_fingerprint",
    "NetworkDigestMismatchError", "check_program_network",
    "weights_sha256", "build_test_program", "apply_test_program", "measure_coverage",
    "TestGenConfig", "TestGenResult", "generate_test_program", "split_faults", "coverage_curve_figure",
]
