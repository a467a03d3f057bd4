"""Issue 27, item 3 (entry points): a network file with NaN weights is a one-line error (exit 2,
naming the tensor, no run); an untrained golden network is warned on the console, tagged
``spikefi.golden_health`` on its run and named in the report; a trained one is tagged ``ok``."""

from __future__ import annotations

import torch

from experiments import campaign as entry
from experiments import report as report_entry
from spikefi.zoo import build, load_pretrained, save_network

from .conftest import EXPERIMENT, runs_of, write_campaign_config


def test_a_network_file_with_nan_weights_is_a_one_line_error_and_no_run(store, tmp_path, capsys):
    net, p, _ = load_pretrained("digits_cnn")
    state = net.state_dict()
    state["SF4.weight"].view(-1)[:5] = float("nan")
    torch.nn.Module.load_state_dict(net, state)
    path = save_network(net, tmp_path / "nan_net.pt", p)
    config = write_campaign_config(tmp_path / "c.yaml", tmp_path / "out", network={"path": str(path)})
    assert entry.main(["--config", str(config), "--no-progress"]) == 2  # ran to FINISHED on e35710b
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "nan_net.pt" in err and "'SF4.weight'" in err and "5 NaN" in err
    assert runs_of(store) == [] and not (tmp_path / "out").exists()


def test_an_untrained_golden_network_is_warned_tagged_and_reported(store, tmp_path, capsys):
    _, p, _ = load_pretrained("digits_cnn")
    untrained, _ = build("digits_cnn", p, seed=1)
    path = save_network(untrained, tmp_path / "untrained.pt", p)
    bad = write_campaign_config(tmp_path / "bad.yaml", tmp_path / "out", name="untrained",
                                network={"path": str(path)})
    assert entry.main(["--config", str(bad), "--no-progress"]) == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "WARNING" in x]
    assert "golden network looks degenerate" in line and "samples tie at the top" in line
    good = write_campaign_config(tmp_path / "good.yaml", tmp_path / "out", name="trained")
    assert entry.main(["--config", str(good), "--no-progress"]) == 0
    assert "WARNING" not in capsys.readouterr().out
    tags = {r.info.run_name: r.data.tags["spikefi.golden_health"] for r in runs_of(store)}
    assert tags["trained"] == "ok"
    assert tags["untrained"].startswith("degenerate: ") and "at chance level" in tags["untrained"]
    report = tmp_path / "report"
    assert report_entry.main(["--experiment", EXPERIMENT, "--output-dir", str(report), "--no-log"]) == 0
    text = (report / "report.md").read_text()
    assert "WARNING: untrained: the golden network looks degenerate" in text
    assert "WARNING: trained" not in text
