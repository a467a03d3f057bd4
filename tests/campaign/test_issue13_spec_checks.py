"""Issue 13, items 8-12 at the library level: a campaign spec, a result folder or a data set
that cannot work is refused when it is read, with a one-line error naming the bad value."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from spikefi.campaign import CampaignResult, CampaignSpec
from spikefi.campaign.spec import NETWORK_KEYS, check_network_section
from spikefi.errors import ConfigError, DataError, SpikeFIError
from spikefi.names import check_plain_name
from spikefi.training import dataset_tensors

GOOD = {"name": "c", "network": {"pretrained": "digits_cnn"},
        "exhaustive": [{"model": "DeadNeuron", "layers": ["SF4"]}]}


def spec(**updates):
    return CampaignSpec.from_dict({**GOOD, **updates})


# -- item 8: unknown keys in network ------------------------------------------------------------
def test_unknown_network_keys_are_refused_with_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['pretraned'\] in 'network'.*allowed: .*'path'.*'pretrained'"):
        spec(network={"pretrained": "digits_cnn", "pretraned": "other"})
    with pytest.raises(ConfigError, match="unknown key"):
        check_network_section({"path": "x.pt", "weigths": "y"}, "search.network")
    assert {"pretrained", "path"} <= set(NETWORK_KEYS)


# -- item 9: sections of the wrong type, bad option values --------------------------------------
@pytest.mark.parametrize("updates, match", [
    ({"options": [1, 2]}, r"'options' must be a mapping, got \[1, 2\]"),
    ({"network": ["x"]}, r"network must be a mapping"),
    ({"data": "digits"}, r"'data' must be a mapping"),
    ({"options": {"seed": "abc"}}, r"options.seed must be an int >= 0, got 'abc'"),
    ({"options": {"batch_size": 0}}, r"options.batch_size must be an int >= 1"),
    ({"options": {"early_stop_tolerance": -1}}, r"early_stop_tolerance"),
    ({"options": {"check_model_card": "yes"}}, r"check_model_card must be true or false"),
    ({"rounds": {"a": 1}}, r"'rounds' must be a list"),
    ({"name": ["x"]}, r"name must be a plain name"),
])
def test_bad_sections_and_options_are_one_line_errors(updates, match):
    with pytest.raises(ConfigError, match=match):
        spec(**updates)


def test_a_campaign_without_faults_is_refused_when_it_must_run():
    empty = CampaignSpec.from_dict({"network": {"pretrained": "digits_cnn"}})  # the Python API may add rounds later
    with pytest.raises(ConfigError, match="no faults"):
        empty.check_runnable()
    spec().check_runnable()


# -- item 10: chunk size and engine ------------------------------------------------------------
@pytest.mark.parametrize("options, match", [
    ({"chunk_size": 0}, r"options.chunk_size must be an int >= 1, got 0"),
    ({"chunk_size": -3}, r"options.chunk_size must be an int >= 1, got -3"),
    ({"engine": "fast"}, r"unknown engine 'fast'; allowed: \['naive', 'parallel', 'sequential'\]"),
])
def test_chunk_size_and_engine_are_checked_when_the_spec_is_read(options, match):
    with pytest.raises(ConfigError, match=match):
        spec(options=options)


# -- item 9: corrupt result folders -------------------------------------------------------------
@pytest.fixture()
def saved_result(tmp_path):
    table = pd.DataFrame({"round_id": [0, 1], "accuracy": [0.5, 0.75], "critical": [1, 0]})
    return CampaignResult(table, {"schema_version": 1, "golden": {"accuracy": 0.8}}).save(tmp_path / "res")


def test_corrupt_result_folders_are_one_line_errors(saved_result):
    assert len(CampaignResult.load(saved_result).table) == 2
    meta = saved_result / "meta.json"
    good_meta = meta.read_text()
    meta.write_text(good_meta[: len(good_meta) // 2])  # truncated JSON
    with pytest.raises(ConfigError, match=r"meta.json.*is not valid JSON"):
        CampaignResult.load(saved_result)
    meta.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"meta.json.*must hold a JSON object"):
        CampaignResult.load(saved_result)
    meta.write_text(good_meta)
    parquet = saved_result / "rounds.parquet"
    parquet.write_bytes(parquet.read_bytes()[4:])  # without its magic bytes
    with pytest.raises(ConfigError, match=r"rounds.parquet.*is not a readable Parquet table"):
        CampaignResult.load(saved_result)
    meta.write_text(json.dumps({"schema_version": 1}))


# -- item 11: labels and inputs --------------------------------------------------------------------
def test_float_labels_and_nan_inputs_are_refused():
    x = torch.zeros(3, 2, 4, 4, 5)
    with pytest.raises(DataError, match=r"labels must be integers.*2.5"):
        dataset_tensors((x, torch.tensor([0.0, 2.5, 1.0])))
    _, y = dataset_tensors((x, torch.tensor([0.0, 2.0, 1.0])))  # whole numbers stored as floats are fine
    assert y.dtype == torch.long and y.tolist() == [0, 2, 1]
    bad = x.clone()
    bad[1, 0, 0, 0, 0] = float("nan")
    with pytest.raises(DataError, match=r"inputs hold 1 non-finite value"):
        dataset_tensors((bad, torch.tensor([0, 1, 2])))
    bad[1, 0, 0, 0, 0] = float("inf")
    with pytest.raises(DataError, match="non-finite"):
        dataset_tensors((bad, torch.tensor([0, 1, 2])))


# -- item 12: names are plain names ---------------------------------------------------------------
@pytest.mark.parametrize("value", ["../../../x", "a/b", "a\\b", "..", ".", "", "x/..", "evil\x00", 3, None])
def test_names_with_path_parts_are_refused(value):
    with pytest.raises(ConfigError, match="must be a plain name"):
        check_plain_name(value, "search.name")


def test_plain_names_pass():
    for value in ("worst-2-neuron-faults", "dead neurons SF4", "a.b_c", "x..y"[:1]):
        assert check_plain_name(value, "name") == value


def test_pretrained_and_campaign_names_are_plain_names():
    with pytest.raises(ConfigError, match=r"network.pretrained must be a plain name"):
        spec(network={"pretrained": "../../../../elsewhere/model"})
    with pytest.raises(ConfigError, match="must be a plain name"):
        spec(name="../up")
    from spikefi.zoo import pretrained_path

    with pytest.raises(ConfigError, match="must be a plain name"):
        pretrained_path("../pretrained/digits_cnn")
    # real paths stay free
    assert spec(network={"path": "../models/net.pt"}).network == {"path": "../models/net.pt"}
    assert isinstance(ConfigError("x"), SpikeFIError)
