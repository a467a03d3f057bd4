"""CampaignSpec <-> YAML, seeded reproducibility, CampaignResult <-> Parquet/JSON."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from spikefi.campaign import CampaignResult, CampaignSpec
from spikefi.errors import ConfigError, FaultSpecError

SPEC = """
name: mixed
network: {pretrained: digits_cnn}
data: {name: spiking_digits, max_samples: 24}
options: {seed: 5, batch_size: 10, chunk_size: 3}
rounds:
  - - {model: DeadNeuron, sites: [{layer: SC1, position: [0, 3, 4]}]}
    - {model: PerturbedSynapse, factor: -2.0, sites: [{layer: SF3}], count: 4, timing: {timing: Window, t_start: 5, t_end: 20}}
  - - {model: StuckNeuron, probability: 0.3, sites: [{layer: null}], count: 3, timing: {timing: PerSample, probability: 0.5}}
  - []
exhaustive:
  - {model: ParametricNeuron, parameter: theta, factor: 0.5, layers: [SF4]}
  - {model: DeadSynapse, layers: [SC2], sample: 5}
"""


def test_spec_yaml_roundtrip_and_reproducible_campaign(tmp_path):
    spec = CampaignSpec.from_yaml(SPEC)
    path = tmp_path / "spec.yaml"
    spec.to_yaml(path)
    again = CampaignSpec.from_yaml(path)
    assert again.to_dict() == spec.to_dict()
    a, b = spec.build(), again.build()
    assert len(a.rounds) == 3 + 10 + 5
    assert [[(f.layer, f.positions) for f in r.faults] for r in a.rounds] == \
           [[(f.layer, f.positions) for f in r.faults] for r in b.rounds]
    ra = a.run(progress=False)
    rb = b.run(engine="naive", progress=False)
    cols = [c for c in ra.table if c != "loss"]
    pd.testing.assert_frame_equal(ra.table[cols], rb.table[cols])
    # a different seed draws different sites
    spec.options["seed"] = 6
    c = spec.build()
    assert [f.positions for f in c.rounds[1].faults] != [f.positions for f in a.rounds[1].faults]


def test_result_save_load(tmp_path):
    cmpn = CampaignSpec.from_yaml(SPEC).build()
    result = cmpn.run(progress=False)
    result.save(tmp_path / "res")
    loaded = CampaignResult.load(tmp_path / "res")
    pd.testing.assert_frame_equal(loaded.table, result.table)
    assert loaded.meta["golden"]["accuracy"] == pytest.approx(result.golden_accuracy)
    assert loaded.meta["schema_version"] == 1
    csv = pd.read_csv(tmp_path / "res" / "rounds.csv")
    assert list(csv["round_id"]) == list(result.table["round_id"])
    faults = json.loads(result.table.loc[0, "faults"])
    assert faults[0]["model"] == "DeadNeuron" and faults[0]["positions"] == [[0, 3, 4]]
    s = result.summary()
    assert s["rounds"] == len(result.table)
    assert s["critical_fault_rate_low"] <= s["critical_fault_rate"] <= s["critical_fault_rate_high"]
    meta = json.loads((tmp_path / "res" / "meta.json").read_text())
    meta["schema_version"] = 99
    (tmp_path / "res" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="schema_version 99"):
        CampaignResult.load(tmp_path / "res")
    with pytest.raises(ConfigError, match="holds no campaign result"):
        CampaignResult.load(tmp_path / "nothing")


def test_result_csv_only_up_to_csv_max_rows(tmp_path):
    result = CampaignSpec.from_yaml(SPEC).build().run(progress=False)
    n = len(result.table)
    assert n > 1
    result.save(tmp_path / "res", csv_max_rows=n)
    assert (tmp_path / "res" / "rounds.csv").is_file()
    result.save(tmp_path / "res", csv_max_rows=n - 1)  # a bigger table than allowed: the stale CSV goes
    assert not (tmp_path / "res" / "rounds.csv").exists()
    pd.testing.assert_frame_equal(CampaignResult.load(tmp_path / "res").table, result.table)
    result.save(tmp_path / "res", csv_max_rows=None)
    assert len(pd.read_csv(tmp_path / "res" / "rounds.csv")) == n
    for bad in (-1, 2.5, True, "10"):
        with pytest.raises(ConfigError, match="csv_max_rows must be an integer >= 0 or None"):
            result.save(tmp_path / "bad", csv_max_rows=bad)


def test_spec_errors_are_early():
    with pytest.raises(ConfigError, match="unknown key"):
        CampaignSpec.from_yaml("network: {pretrained: digits_cnn}\noptions: {sead: 3}")
    with pytest.raises(FaultSpecError, match="unknown fault model"):
        CampaignSpec.from_yaml("network: {pretrained: digits_cnn}\nrounds: [[{model: Nope}]]")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['zoo'\] in 'network'"):
        CampaignSpec.from_yaml("network: {zoo: digits_cnn}")
    with pytest.raises(ConfigError, match="network must name exactly one of"):
        CampaignSpec.from_yaml("network: {}")


def test_model_card_check_runs_on_full_test_split():
    spec = CampaignSpec.from_yaml("network: {pretrained: digits_cnn}\nexhaustive: [{model: DeadNeuron, layers: [SF4]}]")
    cmpn = spec.build()
    assert cmpn.expected_accuracy is not None
    golden = cmpn.golden()  # raises if the card and the measured accuracy disagree
    assert abs(golden["accuracy"] - cmpn.expected_accuracy) <= 0.005
