"""slayerPytorch's names outside ``io``: predict, learningStats / utils.stats,
utils.optim.Nadam, quantize, the psp layers, replicateInTime and the refused loihi."""

from __future__ import annotations

import io as pyio
import math

import numpy as np
import pytest
import torch

import spikefi.snn as snn
from spikefi.errors import ConfigError, DatasetNotFoundError, DTypeError, NotSupportedError, ShapeError

NEURON = {"type": "SRMALPHA", "theta": 10, "tauSr": 4.0, "tauRef": 1.0, "scaleRef": 2, "tauRho": 1, "scaleRho": 1}
SIM = {"Ts": 1.0, "tSample": 40}


# --------------------------------------------------------------------------- predict


def test_predict_is_callable_and_has_get_class():
    torch.manual_seed(0)
    out = (torch.rand(6, 5, 1, 1, 30) < 0.3).float()
    counts = (out != 0).sum(dim=(2, 3, 4))
    want = torch.tensor([int(np.argmax(c.numpy())) for c in counts])  # numpy: first maximum
    assert torch.equal(snn.predict.getClass(out), want)
    assert torch.equal(snn.predict(out), want)
    assert torch.equal(snn.spikeClassifier.getClass(out), want)
    with pytest.raises(DTypeError):
        snn.predict.getClass(out.long())


# --------------------------------------------------------------------------- learning statistics


def _epoch(stat: snn.learningStat, losses, correct, n):
    stat.lossSum += sum(losses)
    stat.correctSamples += correct
    stat.numSamples += n


def test_learning_stat_fields_logs_and_bests():
    stats = snn.utils.stats()
    assert isinstance(stats, snn.learningStats)
    tr = stats.training
    assert (tr.lossSum, tr.correctSamples, tr.numSamples, tr.minloss, tr.maxAccuracy) == (0, 0, 0, None, None)
    assert tr.loss() is None and tr.accuracy() is None
    rng = np.random.default_rng(4)
    history = []
    for _ in range(5):
        n = int(rng.integers(20, 50))
        correct = int(rng.integers(0, n + 1))
        losses = rng.random(n).tolist()
        _epoch(stats.training, losses, correct, n)
        _epoch(stats.testing, losses[:10], min(correct, 10), 10)
        assert stats.training.loss() == pytest.approx(sum(losses) / n, rel=1e-12)
        assert stats.training.accuracy() == pytest.approx(correct / n, rel=1e-12)
        history.append((sum(losses) / n, correct / n))
        stats.update()
        assert stats.training.numSamples == 0 and stats.training.lossSum == 0
        best_loss = min(h[0] for h in history)
        assert stats.training.minloss == pytest.approx(best_loss)
        assert stats.training.bestLoss == (history[-1][0] == best_loss)
        assert stats.training.bestAccuracy == (
            len(history) == 1 or history[-1][1] > max(h[1] for h in history[:-1])
        )
    assert stats.training.lossLog == pytest.approx([h[0] for h in history])
    assert stats.training.accuracyLog == pytest.approx([h[1] for h in history])
    assert stats.training.maxAccuracy == pytest.approx(max(h[1] for h in history))
    # none correct: accuracy 0.0, not None
    _epoch(stats.testing, [1.0], 0, 4)
    assert stats.testing.accuracy() == 0.0


def test_learning_stats_print(monkeypatch):
    stats = snn.learningStats()
    _epoch(stats.training, [2.0, 4.0], 1, 2)
    out = pyio.StringIO()
    stats.print(3, iter=7, timeElapsed=0.25, header="== run ==", footer=["-- end --"], file=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "== run =="
    assert lines[1].startswith("Epoch :          3(i =       7)") and "250.0000 ms elapsed" in lines[1]
    assert lines[2].startswith("loss = 3") and "accuracy = 0.5" in lines[2]
    assert lines[-1] == "-- end --" and len(lines) == 4  # no testing line: testing saw nothing
    assert stats.linesPrinted == 4
    # not a terminal: the next call appends (no cursor movement)
    stats.print(3, file=out)
    assert "\033[" not in out.getvalue()

    class Tty(pyio.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    stats.print(4, file=tty)
    stats.print(4, file=tty)
    assert "\033[2F\033[J" in tty.getvalue()  # moved up over the 2 lines of the previous block


def test_learning_stats_save_load_round_trip(tmp_path):
    stats = snn.learningStats()
    rng = np.random.default_rng(8)
    for epoch in range(6):
        _epoch(stats.training, rng.random(10).tolist(), int(rng.integers(1, 11)), 10)
        if epoch != 2:  # one epoch without testing: logged as None, saved as nan
            _epoch(stats.testing, rng.random(5).tolist(), int(rng.integers(1, 6)), 5)
        stats.update()
    prefix = str(tmp_path / "run-")
    stats.save(prefix)
    text = (tmp_path / "run-loss.txt").read_text()
    assert text.splitlines()[0].split() == ["#", "Train", "Test"] and "nan" in text
    other = snn.learningStats()
    assert other.load(prefix) == 7  # slayerPytorch's resume epoch: rows // modulo * modulo + 1
    for phase in ("training", "testing"):
        a, b = getattr(stats, phase), getattr(other, phase)
        for log in ("lossLog", "accuracyLog"):
            got, want = getattr(b, log), getattr(a, log)
            assert [g is None for g in got] == [w is None for w in want]
            assert [g for g in got if g is not None] == pytest.approx([w for w in want if w is not None], rel=1e-5)
        assert b.minloss == pytest.approx(a.minloss, rel=1e-5)
        assert b.maxAccuracy == pytest.approx(a.maxAccuracy, rel=1e-5)
    part = snn.learningStats()
    assert part.load(prefix, numEpoch=3) == 3 and len(part.training.lossLog) == 3
    assert part.load(prefix, modulo=4) == 5
    with pytest.raises(DatasetNotFoundError, match="nope-loss.txt"):
        part.load(str(tmp_path / "nope-"))
    with pytest.raises(ConfigError, match="modulo"):
        part.load(prefix, modulo=0)


def test_learning_stats_plot_off_screen(tmp_path):
    stats = snn.learningStats()
    for k in range(4):
        _epoch(stats.training, [1.0 / (k + 1)] * 4, k + 1, 4)
        _epoch(stats.testing, [1.5 / (k + 1)] * 4, k, 4)
        stats.update()
    loss_fig, acc_fig = stats.plot(saveFig=True, path=str(tmp_path) + "/")
    assert (tmp_path / "loss.png").stat().st_size > 0 and (tmp_path / "accuracy.png").stat().st_size > 0
    ax = loss_fig.axes[0]
    assert ax.get_yscale() == "log" and [ln.get_label() for ln in ax.lines] == ["Training", "Testing"]
    # the first testing accuracy is 0: drawn (linear axis), the loss curve matches the log
    assert list(acc_fig.axes[0].lines[1].get_ydata()) == pytest.approx([0.0, 0.25, 0.5, 0.75])
    assert list(ax.lines[0].get_ydata()) == pytest.approx(stats.training.lossLog)


# --------------------------------------------------------------------------- Nadam


def _nadam_reference(p0, grads, lr, b1, b2, eps, wd, amsgrad):
    p = p0.astype(np.float64).copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        denom = np.sqrt(vmax if amsgrad else v) + eps
        p = p - lr * math.sqrt(1 - b2**t) / (1 - b1**t) * (b1 * m + (1 - b1) * g) / denom
    return p


@pytest.mark.parametrize("amsgrad", [False, True])
def test_nadam_matches_its_update_rule(amsgrad):
    rng = np.random.default_rng(30)
    p0 = rng.normal(size=(7, 3))
    grads = [rng.normal(size=(7, 3)) * (1 + k) for k in range(6)]
    param = torch.nn.Parameter(torch.tensor(p0))
    opt = snn.utils.optim.Nadam([param], lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01, amsgrad=amsgrad)
    for g in grads:
        # gradients given directly (weight decay uses the current parameter)
        param.grad = torch.tensor(g)
        opt.step()
    want = _nadam_reference(p0, grads, 0.05, 0.8, 0.99, 1e-6, 0.01, amsgrad)
    np.testing.assert_allclose(param.detach().numpy(), want, rtol=1e-10, atol=1e-12)


def test_nadam_minimises_a_quadratic_and_checks_arguments():
    torch.manual_seed(1)
    target = torch.randn(20)
    x = torch.nn.Parameter(torch.zeros(20))
    opt = snn.utils.optim.Nadam([x], lr=0.1)
    start = float(((x.detach() - target) ** 2).sum())
    for _ in range(200):
        opt.zero_grad()
        loss = ((x - target) ** 2).sum()
        loss.backward()
        opt.step()
    assert float(((x.detach() - target) ** 2).sum()) < 1e-3 * start
    with pytest.raises(ConfigError, match="betas"):
        snn.utils.optim.Nadam([x], betas=(0.9, 1.0))
    with pytest.raises(ConfigError, match="lr=-1"):
        snn.utils.optim.Nadam([x], lr=-1)


# --------------------------------------------------------------------------- quantize


def test_quantize_rounds_to_step_with_straight_through_gradient():
    torch.manual_seed(2)
    w = (torch.randn(50) * 10).requires_grad_()
    for q in (snn.quantize, snn.utils.quantize):
        out = q(w, step=2)
        assert torch.equal(out, torch.round(w.detach() / 2) * 2)
        assert torch.all(torch.remainder(out.detach(), 2) == 0)
        assert torch.all((out.detach() - w.detach()).abs() <= 1.0)
        (out * torch.arange(50.0)).sum().backward()
        assert torch.equal(w.grad, torch.arange(50.0))
        w.grad = None
    assert torch.equal(snn.quantize.apply(w, 0.5), torch.round(w / 0.5) * 0.5)
    with pytest.raises(ConfigError, match="step"):
        snn.quantize(w, step=0)
    with pytest.raises(DTypeError):
        snn.quantize(torch.arange(4), step=1)
    # as a pre-hook: a dense layer computes with quantized weights
    slayer = snn.layer(NEURON, SIM)
    fc = slayer.dense(6, 3, preHookFx=lambda x: snn.utils.quantize(x, step=2))
    x = (torch.rand(2, 6, 1, 1, 40) < 0.3).float()
    ref = torch.nn.functional.conv3d(x, torch.round(fc.weight / 2) * 2)
    torch.testing.assert_close(fc(x), ref, rtol=1e-6, atol=1e-5)


# --------------------------------------------------------------------------- psp layers, replicateInTime


def test_psp_layer_equals_psp_and_learns():
    slayer = snn.layer(NEURON, SIM)
    torch.manual_seed(3)
    x = (torch.rand(3, 4, 2, 5, 40) < 0.2).float()
    psp_layer = slayer.pspLayer()
    assert tuple(psp_layer.weight.shape) == (1, 1, 1, 1, slayer.srmKernel.numel())
    torch.testing.assert_close(psp_layer(x), slayer.psp(x), rtol=1e-5, atol=1e-5)
    loss = psp_layer(x).square().sum()
    loss.backward()
    assert psp_layer.weight.grad is not None and psp_layer.weight.grad.abs().sum() > 0


def test_psp_filter_layout_against_loops():
    slayer = snn.layer(NEURON, SIM)
    torch.manual_seed(4)
    filt = slayer.pspFilter(nFilter=3, filterLength=5, filterScale=2.0)
    assert tuple(filt.weight.shape) == (3, 1, 1, 1, 5)
    x = torch.rand(2, 2, 3, 1, 12, dtype=torch.float32)
    y = filt(x)
    assert y.shape == (2, 6, 3, 1, 12)
    taps = filt.weight.detach().reshape(3, 5).double()
    xd = x.double()
    want = torch.zeros(2, 6, 3, 1, 12, dtype=torch.float64)
    for f in range(3):
        for c in range(2):
            for t in range(12):
                for k in range(5):
                    src = t - 4 + k
                    if src >= 0:
                        want[:, f * 2 + c, :, :, t] += taps[f, k] * xd[:, c, :, :, src]
    torch.testing.assert_close(y.double(), want * slayer.Ts, rtol=1e-5, atol=1e-6)
    with pytest.raises(ShapeError):
        filt(torch.rand(2, 3, 12))


def test_replicate_in_time():
    slayer = snn.layer(NEURON, SIM)
    img = torch.rand(2, 3, 4, 5)
    rep = slayer.replicateInTime(img)
    assert rep.shape == (2, 3, 4, 5, 40)
    assert all(torch.equal(rep[..., t], img) for t in (0, 17, 39))
    with pytest.raises(ConfigError, match="nearest"):
        slayer.replicateInTime(img, mode="linear")
    with pytest.raises(ShapeError, match="4-D"):
        slayer.replicateInTime(torch.rand(2, 3, 4))


# --------------------------------------------------------------------------- loihi


def test_loihi_is_refused_clearly():
    with pytest.raises(NotSupportedError, match="loihi.*not supported"):
        snn.loihi  # noqa: B018
    with pytest.raises(NotSupportedError):
        from spikefi.snn import loihi  # noqa: F401
    assert not hasattr(snn, "no_such_name")
