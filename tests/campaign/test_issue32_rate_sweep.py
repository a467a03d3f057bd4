"""Issue 32, item 1: a sweep of soft-error rates, draws per point from a stated precision,
mean accuracy with a t interval and the critical-draw share with a Wilson interval."""

from __future__ import annotations

import math

import pytest
from scipy.stats import t as student_t

from spikefi.campaign import Campaign
from spikefi.campaign.rate_sweep import draws_for_margin, soft_error_sweep
from spikefi.campaign.stats import wilson_interval
from spikefi.data import load_spiking_digits
from spikefi.errors import ConfigError
from spikefi.zoo import load_pretrained


def test_draws_for_margin():
    assert draws_for_margin(0.05) == 385
    assert draws_for_margin(0.1, 0.9) == 68


def test_sweep_summary():
    net, _, _ = load_pretrained("digits_cnn")
    _, test = load_spiking_digits(seed=0)
    cmpn = Campaign(net, (test.tensors[:8], test.labels[:8]), batch_size=8, seed=1, quantization={"dtype": "int8"})
    sweep = soft_error_sweep(cmpn, [1e-5, 3e-3], draws=5)
    assert [len(r) for r in sweep.rounds] == [5, 5]
    result = cmpn.run(engine="parallel", progress=False)
    summary = sweep.summary(result)
    assert list(summary["draws"]) == [5, 5]
    assert summary["mean_upsets"].iloc[0] < summary["mean_upsets"].iloc[1]
    table = result.table.set_index("round_id")
    for i, ids in enumerate(sweep.rounds):
        acc = table.loc[list(ids), "accuracy"]
        row = summary.iloc[i]
        assert math.isclose(row["accuracy_mean"], acc.mean())
        half = student_t.ppf(0.975, 4) * acc.std(ddof=1) / math.sqrt(5)
        assert math.isclose(row["accuracy_high"] - row["accuracy_mean"], half, abs_tol=1e-12)
        k = int((table.loc[list(ids), "critical"] > 0).sum())
        assert row["critical_draws"] == k
        assert (row["critical_draw_low"], row["critical_draw_high"]) == wilson_interval(k, 5)
    # exposures at one rate; a precision instead of a number of draws
    by_exposure = soft_error_sweep(cmpn, 1e-4, exposure=[1.0, 10.0], margin=0.3)
    assert by_exposure.points == ((1e-4, 1.0), (1e-4, 10.0))
    assert [len(r) for r in by_exposure.rounds] == [draws_for_margin(0.3)] * 2
    with pytest.raises(ConfigError, match="give draws .* or margin"):
        soft_error_sweep(cmpn, [1e-4])
    with pytest.raises(ConfigError, match="must pair up"):
        soft_error_sweep(cmpn, [1e-4, 1e-3, 1e-2], exposure=[1.0, 2.0], draws=2)
    with pytest.raises(ConfigError, match="lacks rounds"):
        by_exposure.summary(result)
