"""Real test generation on the digits CNN: detection matrix, generated inputs, test programs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spikefi.campaign import Campaign
from spikefi.errors import ConfigError, DataError, FaultSpecError, SpikeFIError
from spikefi.faults import DeadNeuron, Fault, SaturatedNeuron, Site
from spikefi.testgen import (
    ArchitectureMismatchError,
    FaultList,
    FaultListMismatchError,
    TestGenConfig,
    TestProgram,
    apply_test_program,
    build_test_program,
    compute_detection,
    density_bound,
    detection_from_result,
    fault_list_from_result,
    faults_from_json,
    generate_inputs,
    generate_test_program,
    golden_responses,
    measure_coverage,
)
from spikefi.zoo import build


@pytest.fixture(scope="module")
def faults(small_result):
    return fault_list_from_result(small_result, source="test campaign")


@pytest.fixture(scope="module")
def detection(digits, small_result, faults):
    net, x, _ = digits
    golden, _ = golden_responses(net, x)
    return detection_from_result(small_result, faults, golden)


@pytest.fixture(scope="module")
def generated(digits, faults, detection):
    """Inputs generated for two faults no test sample detects."""
    net, x, _ = digits
    targets = detection.undetectable()[:2]
    assert len(targets) == 2, "the small campaign should hold faults no sample detects"
    report = generate_inputs(net, faults.subset(targets), x, steps=40, restarts=4, seed=0)
    return targets, report


def test_fault_list_round_trips_the_campaign_faults(small_result, faults):
    assert len(faults) == len(small_result.table) == 28
    first = faults.rounds[0][0]
    assert isinstance(first.model, DeadNeuron) and first.sites[0] == Site("SF4", (0, 0, 0))
    assert faults_from_json(small_result.table["faults"].iloc[0])[0] == first
    critical = fault_list_from_result(small_result, critical_only=True)
    assert len(critical) == int((small_result.table["critical"] > 0).sum()) < len(faults)
    assert FaultList.from_rounds([first]).ids[0] == faults.ids[0]


def test_detection_from_kept_predictions_equals_recomputed(digits, faults, detection):
    net, x, _ = digits
    again = compute_detection(net, x, faults)
    assert detection.source == "campaign predictions" and again.source == "recomputed"
    assert np.array_equal(again.detected, detection.detected)
    # every SF4 fault changes some prediction; SF3 dead neurons mostly do not
    assert detection.detectable()[:20].all()
    assert 0 < len(detection.undetectable()) <= 8
    # output-count criterion: a superset, computed by re-running the faults
    counts = compute_detection(net, x[:16], faults.subset(range(20, 28)), count_tolerance=0)
    preds = compute_detection(net, x[:16], faults.subset(range(20, 28)))
    assert counts.criterion == "prediction+counts(tol=0)" and "counts" in counts.source
    assert (counts.detected >= preds.detected).all() and counts.detected.sum() > preds.detected.sum()


def test_generated_inputs_are_binary_bounded_and_detect_their_fault(digits, faults, generated):
    net, x, _ = digits
    targets, report = generated
    bound = density_bound(x)
    assert report.max_density == pytest.approx(bound) and bound < 0.06
    assert report.verified, "gradient-based generation found no input for two SF3 dead neurons"
    for g in report.verified:
        assert g.input.dtype == np.uint8 and set(np.unique(g.input)) <= {0, 1}
        assert g.input.shape == tuple(x.shape[1:])
        assert g.input.mean() <= bound + 1e-12 and g.density == pytest.approx(g.input.mean())
        assert g.golden_class != g.faulty_class
        # verified again here, independently: a program of that input fails with the fault
        program = build_test_program(net, torch.from_numpy(g.input[None].astype(np.float32)))
        fault = list(faults.rounds[targets[g.fault_index]])
        assert apply_test_program(net, program).passed
        verdict = apply_test_program(net, program, fault)
        assert not verdict.passed and verdict.failing_tests == [0]
        assert int(verdict.predicted[0]) == g.faulty_class


def test_program_round_trip_and_verdicts(digits, faults, tmp_path):
    net, x, _ = digits
    program = build_test_program(net, x[:5], [f"sample:{i}" for i in range(5)], count_tolerance=2, info={"k": 1})
    assert len(program) == 5 and program.expected_counts.shape == (5, 10)
    program.save(tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "program.json").read_text())
    assert meta["schema_version"] == 1 and meta["fingerprint"]["sha256"] and "fail if" in meta["rule"]
    loaded = TestProgram.load(tmp_path / "p")
    for name in ("inputs", "expected_class", "expected_counts"):
        assert np.array_equal(getattr(loaded, name), getattr(program, name))
    assert loaded.names == program.names and loaded.count_tolerance == 2 and loaded.info == {"k": 1}
    golden = apply_test_program(net, loaded)
    assert golden.passed and golden.same_weights and golden.summary() == "PASS"
    # a saturated output neuron wins every test
    verdict = apply_test_program(net, loaded, Fault(SaturatedNeuron(), Site("SF4", (7, 0, 0))))
    assert not verdict.passed and verdict.failing_tests
    assert "FAIL" in verdict.summary()


def test_coverage_is_measured_by_applying_the_program(digits, faults, detection):
    net, x, _ = digits
    tests = [0, 3, 9]
    program = build_test_program(net, x[tests], [f"sample:{t}" for t in tests])
    measured = measure_coverage(net, program, faults)
    assert measured.source == "test program"
    assert np.array_equal(measured.detected, detection.detected[tests])


def test_pipeline_selects_on_one_half_and_reports_both(digits, faults, detection):
    net, x, _ = digits
    cfg = TestGenConfig(max_tests=6, generation_max_faults=2, generation_steps=30)
    res = generate_test_program(net, x, faults, config=cfg, detection=detection)
    m = res.metrics
    assert m["test_length"] == len(res.program) <= 6
    assert m["faults.selection"] + m["faults.heldout"] == len(faults) == 28
    assert m["consistency_mismatches"] == 0
    assert m["coverage.selection"] == pytest.approx(res.curve[-1]["coverage.selection"])
    assert [row["tests"] for row in res.curve] == list(range(1, len(res.program) + 1))
    assert all(a["detected"] <= b["detected"] for a, b in zip(res.curve, res.curve[1:], strict=False))
    assert m["generated.targets"] >= 1 and m["generated.verified"] <= m["generated.targets"]
    assert m["undetected"] == len(res.undetected)
    assert m["program_max_density"] <= density_bound(x) + 1e-12
    cov = res.program_detection.detected.any(axis=0)
    assert m["coverage_raw.all"] == pytest.approx(cov.mean())


def test_architecture_mismatch_is_a_clear_error(digits, small_result, faults):
    net, x, _ = digits
    program = build_test_program(net, x[:2])
    mlp, _ = build("digits_mlp", seed=0)
    with pytest.raises(ArchitectureMismatchError, match="another architecture") as info:
        apply_test_program(mlp, program)
    assert isinstance(info.value, SpikeFIError) and isinstance(info.value, ValueError)
    with pytest.raises(ArchitectureMismatchError):
        measure_coverage(mlp, program, faults)
    nmnist, _ = build("nmnist_mlp", seed=0)
    with pytest.raises(ArchitectureMismatchError, match="made for inputs"):
        apply_test_program(nmnist, program)
    # a fault list of another network: refused before any campaign runs
    with pytest.raises(FaultListMismatchError, match="another network"):
        compute_detection(mlp, x[:4], faults)
    alien = FaultList.from_rounds([Fault(DeadNeuron(), Site("SF4", (12, 0, 0)))])
    with pytest.raises(FaultListMismatchError, match="outside layer 'SF4'"):
        compute_detection(net, x[:4], alien)


def test_program_files_are_validated_on_load(digits, tmp_path):
    net, x, _ = digits
    build_test_program(net, x[:2]).save(tmp_path / "p")
    meta_path = tmp_path / "p" / "program.json"
    meta = json.loads(meta_path.read_text())
    meta["schema_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="schema_version 99"):
        TestProgram.load(tmp_path / "p")
    meta["schema_version"] = 1
    meta["fingerprint"]["steps"] = 31
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="sha256"):
        TestProgram.load(tmp_path / "p")
    with pytest.raises(DataError, match="holds no test program"):
        TestProgram.load(tmp_path / "missing")
    good = build_test_program(net, x[:2])
    with pytest.raises(DataError, match="binary"):
        TestProgram(good.inputs * 2, good.expected_class, good.expected_counts, 1.0, good.fingerprint, good.weights,
                    good.names)
    with pytest.raises(DataError, match="most expected"):
        TestProgram(good.inputs, (good.expected_class + 1) % 10, good.expected_counts, 1.0, good.fingerprint,
                    good.weights, good.names)
    with pytest.raises(DataError, match="one spike value"):
        build_test_program(net, x[:2] * torch.rand(x[:2].shape))


def test_bad_input_errors(digits, faults):
    net, x, _ = digits
    with pytest.raises(ConfigError, match="max_tests"):
        TestGenConfig(max_tests=0)
    with pytest.raises(ConfigError, match="generation_targets"):
        TestGenConfig(generation_targets="all")
    with pytest.raises(ConfigError, match="max_density"):
        generate_inputs(net, faults.subset([0]), x, max_density=1.5)
    with pytest.raises(ConfigError, match="steps"):
        generate_inputs(net, faults.subset([0]), x, steps=0)
    with pytest.raises(ConfigError, match="count_tolerance"):
        compute_detection(net, x[:2], faults, count_tolerance=-1)
    with pytest.raises(ConfigError, match=r"\(N, C, H, W, T\)"):
        compute_detection(net, x[0], faults)
    with pytest.raises(FaultSpecError, match="every site must be fixed"):
        FaultList.from_rounds([Fault(DeadNeuron(), Site("SF4"))])
    with pytest.raises(FaultSpecError, match="JSON list"):
        faults_from_json("not json")
    with pytest.raises(ConfigError, match="kept no per-sample predictions"):
        cmpn = Campaign(net, (x[:4], torch.zeros(4, dtype=torch.long)))
        cmpn.then_inject(Fault(DeadNeuron(), Site("SF4", (0, 0, 0))))
        res = cmpn.run(progress=False)
        detection_from_result(res, fault_list_from_result(res), np.zeros(4, dtype=np.int64))
    with pytest.raises(ConfigError, match="empty"):
        generate_test_program(net, x, faults.subset([]))
