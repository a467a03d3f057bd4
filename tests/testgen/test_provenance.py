"""Issue 26: test programs built on the fault source's own network and judged on it.

The canonical digest (spikefi.digest) in every run kind, fault list and program; testgen
from a campaign run builds on the run's stored golden model (weights, quantization, data);
a source without one is refused unless --network; --apply refuses another network unless
--allow-other-network; the program lists its inputs and what each detects."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from experiments import campaign as campaign_entry
from experiments import testgen as entry
from spikefi.campaign import Campaign
from spikefi.digest import effective_digest, network_digest
from spikefi.errors import FaultListMismatchError, NetworkDigestMismatchError
from spikefi.faults import DeadNeuron, Fault, Site
from spikefi.testgen import FaultList, TestProgram, apply_test_program, build_test_program, weights_sha256
from spikefi.zoo import load_network, load_pretrained, pretrained_path, save_network

TESTGEN = {
    "name": "prov",
    "network": {"pretrained": "digits_cnn"},
    "data": {"name": "spiking_digits", "seed": 0, "max_samples": 40},
    "faults": {"critical_only": True},
    "selection": {"max_tests": 8},
    "generation": {"enabled": False},
    "options": {"batch_size": 40},
}


def write_testgen(tmp_path: Path, **updates) -> Path:
    path = tmp_path / "testgen.yaml"
    path.write_text(yaml.safe_dump({"testgen": {**TESTGEN, **updates}, "output_dir": str(tmp_path / "tg"),
                                    "tracking": {"experiment": "tg"}}, sort_keys=False))
    return path


def other_weights_file(tmp_path: Path) -> Path:
    """The digits CNN with SF4's weights scaled by 1.05: same architecture, other weights
    (its own yaml and model card beside it)."""
    net, params, _ = load_pretrained("digits_cnn")
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "SF4" in name or name.endswith("fc2.weight"):
                p.mul_(1.05)
        first = next(iter(net.parameters()))
        first.mul_(1.02)
    return save_network(net, tmp_path / "other" / "digits_other.pt", params)


def run_campaign(tmp_path: Path, network: dict, quantization: dict | None = None, name: str = "dead-SF4") -> str:
    cfg = tmp_path / f"{name}.yaml"
    options = {"seed": 0, "batch_size": 40}
    if quantization:
        options["quantization"] = quantization
    cfg.write_text(yaml.safe_dump({"campaign": {"name": name, "network": network,
                                                "data": {"name": "spiking_digits", "seed": 0, "max_samples": 40},
                                                "options": options,
                                                "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]},
                                   "output_dir": str(tmp_path / "camp"), "tracking": {"experiment": "camp"}}))
    assert campaign_entry.main(["--config", str(cfg), "--no-progress"]) == 0
    client = MlflowClient()
    exp = client.get_experiment_by_name("camp")
    runs = client.search_runs([exp.experiment_id], f"attributes.run_name = '{name}'")
    return runs[0].info.run_id


def latest_testgen(client: MlflowClient):
    exp = client.get_experiment_by_name("tg")
    return max(client.search_runs([exp.experiment_id]), key=lambda r: r.info.start_time)


# -- 1. one canonical digest ---------------------------------------------------------------
def test_digest_is_of_values_in_canonical_order_and_equals_the_old_program_hash():
    net, _, _ = load_pretrained("digits_cnn")
    d = network_digest(net)
    assert len(d) == 64 and d == weights_sha256(net)  # older programs' weights_sha256 is this digest
    state = net.state_dict()
    assert network_digest(dict(reversed(list(state.items())))) == d  # order of the mapping does not matter
    assert network_digest({k: v.double() for k, v in state.items()}) == d  # storage dtype does not matter
    reloaded = load_network(pretrained_path("digits_cnn"))[0]
    assert network_digest(reloaded) == d
    with torch.no_grad():
        next(iter(reloaded.parameters())).view(-1)[0] += 1e-3
    assert network_digest(reloaded) != d
    assert effective_digest({"network.digest": "a", "network.digest_quantized": "b"}) == "b"
    assert effective_digest({"network.digest": "a"}) == "a" and effective_digest({}) is None


def test_fault_lists_carry_the_digest_and_refuse_another():
    rounds = [Fault(DeadNeuron(), Site("SF4", (c, 0, 0))) for c in range(3)]
    a = FaultList.from_rounds(rounds, source="a").with_digest("1" * 64)
    assert a.subset([0, 2]).network_digest == "1" * 64
    a.check_digest("1" * 64)
    with pytest.raises(FaultListMismatchError, match="digest 111111111111"):
        a.check_digest("2" * 64)
    b = FaultList.from_rounds(rounds[:1], source="b").with_digest("2" * 64)
    with pytest.raises(FaultListMismatchError, match="different weights"):
        FaultList.concat([a, b])
    unknown = FaultList.from_rounds(rounds[:1], source="old")  # an older list: digest unknown, joins
    assert FaultList.concat([a, unknown]).network_digest == "1" * 64


def test_program_files_store_the_digest_and_older_files_still_load(digits, tmp_path):
    net, x, _ = digits
    program = build_test_program(net, x[:3])
    folder = program.save(tmp_path / "p")
    meta = json.loads((folder / "program.json").read_text())
    assert meta["network_digest"] == network_digest(net) == meta["weights_sha256"]
    assert "<f8" in meta["network_digest_algorithm"]
    del meta["network_digest"], meta["network_digest_algorithm"]  # a program written before issue 26
    (folder / "program.json").write_text(json.dumps(meta))
    assert TestProgram.load(folder).weights == network_digest(net)


def test_campaign_runs_log_both_digests_and_store_the_golden_model_record(store, tmp_path):
    plain = run_campaign(tmp_path, {"pretrained": "digits_cnn"})
    quant = run_campaign(tmp_path, {"pretrained": "digits_cnn"}, {"dtype": "int8"}, name="dead-SF4-int8")
    client = MlflowClient()
    net, _, _ = load_pretrained("digits_cnn")
    golden = network_digest(net)
    p = client.get_run(plain).data.params
    assert p["network.digest"] == golden and "network.digest_quantized" not in p
    assert p["snn_path"] == "reference"  # the computation path that ran (the CPU's default)
    q = client.get_run(quant).data.params
    assert q["network.digest"] == golden
    x = torch.zeros(1, 2, 16, 16, 30)
    quantized = Campaign(net, (x, torch.zeros(1, dtype=torch.long)), quantization={"dtype": "int8"}).net
    assert q["network.digest_quantized"] == network_digest(quantized) != golden
    record = json.loads(Path(client.download_artifacts(quant, "golden/model/network.json", str(tmp_path / "r")))
                        .read_text())
    assert record["network.digest_quantized"] == q["network.digest_quantized"]
    assert record["quantization"] == {"dtype": "int8"} and record["data"]["max_samples"] == 40
    assert record["file"] == "digits_cnn.pt"


def test_search_runs_log_the_digest_and_store_the_golden_model(store, tmp_path):
    from experiments import search as search_entry

    cfg = tmp_path / "search.yaml"
    cfg.write_text(yaml.safe_dump({"search": {
        "name": "tiny", "network": {"pretrained": "digits_cnn"},
        "data": {"name": "spiking_digits", "seed": 0, "max_samples": 16},
        "options": {"seed": 0, "batch_size": 16, "chunk_size": 8},
        "space": {"k": 1, "layers": ["SF4"], "models": ["DeadNeuron"]}, "objective": "accuracy",
        "sampler": {"name": "random", "seed": 0}, "pruner": {"name": "none"}, "trials": 2, "batch": 2},
        "output_dir": str(tmp_path / "s"), "tracking": {"experiment": "search"}}))
    assert search_entry.main(["--config", str(cfg), "--no-progress"]) == 0
    client = MlflowClient()
    exp = client.get_experiment_by_name("search")
    (run,) = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("spikefi.kind") == "search"]
    digest = network_digest(load_pretrained("digits_cnn")[0])
    assert run.data.params["network.digest"] == digest
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "golden/model")}
    assert {"golden/model/network.json", "golden/model/digits_cnn.pt"} <= arts


# -- 2. testgen on the source's own network; --apply refuses another ----------------------
def test_testgen_from_a_campaign_run_builds_on_the_runs_network_and_apply_checks_it(store, tmp_path, capsys):
    other = other_weights_file(tmp_path)
    other_digest = network_digest(load_network(other)[0])
    run_id = run_campaign(tmp_path, {"path": str(other)})
    cfg = write_testgen(tmp_path)  # the config names pretrained:digits_cnn: not what the campaign ran on
    assert entry.main(["--config", str(cfg), "--campaign-run", run_id, "--no-progress"]) == 0
    out = capsys.readouterr().out
    client = MlflowClient()
    tg = latest_testgen(client)
    p = tg.data.params
    assert p["network.source"] == f"golden model of run:{run_id}"
    assert p["network"] == f"path:{other}"  # named as the campaign named it
    assert p["network.digest"] == other_digest and p["network.matches_source"] == "True"
    assert p["candidates"] == "40"  # the campaign's data (40 samples), whatever the config says
    assert "golden model of run:" in out
    program_dir = tmp_path / "tg" / tg.info.run_id / "program"
    program = TestProgram.load(program_dir)
    assert program.weights == other_digest and program.info["network"]["network.digest"] == other_digest
    # (4) the program lists its inputs: sample id, label, what each detects
    tests = program.info["tests"]
    assert len(tests) == len(program) and all(t["origin"] == "sample" for t in tests)
    assert [f"sample:{t['sample']}" for t in tests] == program.names
    assert all(isinstance(t["label"], int) and t["detects"] == len(t["faults"]) for t in tests)
    assert sum(t["new_detections"] for t in tests) == int(round(tg.data.metrics["faults"] - tg.data.metrics["undetected"]))
    rows = list(csv.DictReader((tmp_path / "tg" / tg.info.run_id / "testgen" / "program_inputs.csv").open()))
    assert [int(r["sample"]) for r in rows] == [t["sample"] for t in tests]
    assert "DeadNeuron@SF4(" in rows[0]["faults"]
    first = tests[0]
    assert f"sample {first['sample']}, label {first['label']}, expects class {first['expected_class']}" in out
    arts = {a.path for a in client.list_artifacts(tg.info.run_id, "testgen")}
    assert "testgen/program_inputs.csv" in arts
    # --apply on the config's network (other weights): refused in one line, exit 2
    assert entry.main(["--config", str(cfg), "--apply", str(program_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "digest" in err[0] and "--allow-other-network" in err[0]
    # ... unless allowed: the verdict states it
    rc = entry.main(["--config", str(cfg), "--apply", str(program_dir), "--allow-other-network"])
    verdict = json.loads(capsys.readouterr().out.strip())
    assert rc in (0, 1) and verdict["same_weights"] is False and "ANOTHER network" in verdict["note"]
    assert verdict["network_digest"] != verdict["program_digest"] == other_digest
    # on its own network: accepted
    assert entry.main(["--config", str(cfg), "--apply", str(program_dir), "--network", f"path:{other}"]) == 0
    verdict = json.loads(capsys.readouterr().out.strip())
    assert verdict["verdict"] == "pass" and verdict["same_weights"] is True and "note" not in verdict


def test_testgen_refuses_a_run_without_a_golden_model_unless_network_is_named(store, tmp_path, capsys):
    run_id = run_campaign(tmp_path, {"pretrained": "digits_cnn"})
    client = MlflowClient()
    artifacts = Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://"))
    shutil.rmtree(artifacts / "golden" / "model")  # as a run made before the record was stored
    cfg = write_testgen(tmp_path)
    assert entry.main(["--config", str(cfg), "--campaign-run", run_id, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"run:{run_id} stores no golden model record" in err[0] and "--network" in err[0]
    exp = client.get_experiment_by_name("tg")
    assert exp is None or not client.search_runs([exp.experiment_id])  # nothing was started
    assert entry.main(["--config", str(cfg), "--campaign-run", run_id, "--network", "pretrained:digits_cnn",
                       "--no-progress"]) == 0
    p = latest_testgen(client).data.params
    assert p["network.source"] == "explicit (--network)" and p["network"] == "pretrained:digits_cnn"


def test_testgen_from_a_quantized_run_uses_its_quantized_weights(store, tmp_path):
    run_id = run_campaign(tmp_path, {"pretrained": "digits_cnn"}, {"dtype": "int8"}, name="dead-SF4-int8")
    client = MlflowClient()
    logged = client.get_run(run_id).data.params
    assert entry.main(["--config", str(write_testgen(tmp_path)), "--campaign-run", run_id, "--all-faults",
                       "--no-progress"]) == 0
    tg = latest_testgen(client)
    p = tg.data.params
    assert p["network.digest"] == logged["network.digest"]
    assert p["network.digest_quantized"] == logged["network.digest_quantized"]
    assert json.loads(p["quantization"]) == {"dtype": "int8"}
    assert tg.data.metrics["consistency_mismatches"] == 0
    program = TestProgram.load(tmp_path / "tg" / tg.info.run_id / "program")
    assert program.weights == logged["network.digest_quantized"]
    # --apply quantizes the named network as the program's was, then compares digests: accepted
    assert entry.main(["--config", str(write_testgen(tmp_path)), "--apply",
                       str(tmp_path / "tg" / tg.info.run_id / "program")]) == 0


def test_apply_test_program_refuses_other_weights(digits):
    net, x, _ = digits
    program = build_test_program(net, x[:4])
    other = load_network(pretrained_path("digits_cnn"))[0]
    with torch.no_grad():
        next(iter(other.parameters())).mul_(1.01)
    with pytest.raises(NetworkDigestMismatchError, match="allow another network"):
        apply_test_program(other, program)
    verdict = apply_test_program(other, program, allow_other_network=True)
    assert not verdict.same_weights and "ANOTHER network" in verdict.summary()
    same = apply_test_program(net, program)
    assert same.same_weights and same.summary() == "PASS"
