"""The parallel engine's fused comparison of rows with golden (one Triton kernel,
:func:`spikefi.snn.cuda.spike_kernel.fused_compare`) against its tensor-operation form
(``engine._compare`` with ``SPIKEFI_FUSED_COMPARE=0``): the same difference maps and
spike-count deltas, bit for bit. On the CPU the kernel runs in Triton's interpreter (a
subprocess: ``TRITON_INTERPRET=1`` must be set before Triton compiles anything); on the GPU
machine compiled. The engine-level check (tables equal the naive engine's with the kernel on)
is in tests/snn/scripts/fused_interpreted.py (``engine_checks``) and, on CUDA, in
tests/campaign/test_integer_synapses.py."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikefi.campaign.engines.parallel import engine as par
from spikefi.campaign.engines.parallel.patches import _Patch
from spikefi.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="Triton is not installed")

# (rows, channels, H, W, T, window h, window w, one channel per row, time-major window, dtype)
CASES = [
    (6, 3, 7, 6, 20, 3, 4, False, False, torch.float32),  # windows across the map's edges
    (6, 3, 7, 6, 20, 3, 4, False, True, torch.float32),  # time-major windows
    (7, 4, 9, 9, 11, 9, 9, True, False, torch.float32),  # channel patches, whole map (SC3 after SC2)
    (5, 40, 1, 1, 50, 1, 1, False, True, torch.float64),  # a dense layer's rows (SF4a), K tiles
    (5, 40, 1, 1, 50, 1, 1, False, False, torch.bool),
    (40, 2, 5, 5, 3, 5, 5, False, False, torch.float32),  # 25 cells: two cell blocks
    (0, 2, 5, 5, 3, 2, 2, False, False, torch.float32),  # no rows
]


def check_cases(device: str) -> list[tuple[int, int]]:
    """Runs :data:`CASES` on ``device``; returns (rows differing, |delta| summed) per case (a
    case that changes nothing would prove nothing). Raises ``AssertionError`` on a mismatch."""
    from spikefi.snn.cuda.spike_kernel import fused_compare

    g = torch.Generator().manual_seed(0)
    seen = []
    for m, c, h, w, steps, ph, pw, channel, time_major, dtype in CASES:
        gold = torch.rand(5, c, h, w, steps, generator=g) < 0.3
        samples = torch.randint(0, 5, (m,), generator=g)
        h0 = torch.randint(-1, h - ph + 2, (m,), generator=g)
        w0 = torch.randint(-1, w - pw + 2, (m,), generator=g)
        ch = torch.randint(0, c, (m,), generator=g) if channel else None
        rows = _Patch(torch.zeros(m, dtype=torch.long), samples, torch.zeros(m, 1 if channel else c, ph, pw, steps),
                      h0, w0, channel=ch)
        win = rows.golden_window(gold).double() * 0.5  # the golden spikes under the windows, as values
        flip = torch.rand(win.shape, generator=g) < 0.02
        flip[::2] = False  # every other row stays golden
        win = torch.where(flip, 0.5 - win, win)
        if m:
            win[0, 0, 0, 0, 0] = float("nan")  # a non-finite value counts as a spike in both forms
        win = win.to(dtype)
        if time_major:
            win = win.permute(0, 4, 1, 2, 3).contiguous().permute(0, 2, 3, 4, 1)
        rows.patch = win
        if m:
            ref_map, ref_delta, ref_differs = par._compare(rows, gold)  # the CPU: tensor operations
        else:  # the engine never compares no rows; the kernel returns empty results
            ref_map, ref_delta = torch.zeros(0, ph, pw, dtype=torch.bool), torch.zeros(0, dtype=torch.long)
            ref_differs = ref_map.flatten(1).any(1)
        on = [t.to(device) if t is not None else None for t in (win, gold, samples, h0, w0, ch)]
        diff_map, delta = fused_compare(*on)  # type: ignore[arg-type]
        tag = f"case {(m, c, h, w, steps, ph, pw, channel, time_major, dtype)}"
        assert diff_map.dtype == torch.bool and delta.dtype == torch.int64, tag
        assert torch.equal(diff_map.cpu(), ref_map), tag
        assert torch.equal(delta.cpu(), ref_delta), tag
        seen.append((int(ref_differs.sum()), int(ref_delta.abs().sum())))
    return seen


@needs_triton
@pytest.mark.skipif(torch.cuda.is_available(), reason="a CPU test: on the GPU machine the kernel runs compiled")
def test_fused_compare_equals_tensor_operations_in_the_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(REPO)}
    code = "from tests.campaign.test_fused_compare import check_cases; print('seen', check_cases('cpu'))"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = eval(proc.stdout.split("seen", 1)[1])  # noqa: S307 (our own output: a list of int pairs)
    assert all(d > 0 and n > 0 for d, n in seen[:-1]) and seen[-1] == (0, 0), seen


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fused_compare_equals_tensor_operations_on_cuda():
    seen = check_cases("cuda")
    assert all(d > 0 and n > 0 for d, n in seen[:-1]), seen


def test_fused_compare_switch(monkeypatch):
    """``SPIKEFI_FUSED_COMPARE``: 0 keeps the tensor operations (also on the fused path), a bad
    value is refused naming the variable and the value; the CPU's reference path never takes
    the kernel."""
    rows = _Patch(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long), torch.zeros(1, 1, 1, 1, 4),
                  torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    gold = torch.zeros(1, 1, 1, 1, 4, dtype=torch.bool)
    monkeypatch.setenv(par.FUSED_COMPARE_ENV, "yes")
    with pytest.raises(ConfigError, match="SPIKEFI_FUSED_COMPARE.*'yes'"):
        par._compare(rows, gold)
    monkeypatch.setenv(par.FUSED_COMPARE_ENV, "0")
    assert not par._fused_compare(rows, gold)
    monkeypatch.delenv(par.FUSED_COMPARE_ENV)
    import spikefi.snn as snn

    with snn.compute_path("reference"):
        assert not par._fused_compare(rows, gold)
    with snn.compute_path("fused"):  # forced: the kernel where Triton can run it (here its interpreter)
        assert par._fused_compare(rows, gold) == snn.paths.triton_usable(torch.device("cpu"))
        assert not par._fused_compare(rows, gold.float())  # golden spikes must be bool


@needs_triton
def test_fused_compare_refuses_what_it_cannot_address():
    """Shapes and index tensors are checked before any launch: a ValueError names what is wrong."""
    from spikefi.snn.cuda.spike_kernel import fused_compare

    gold = torch.zeros(2, 3, 4, 4, 5, dtype=torch.bool)
    patch = torch.zeros(2, 3, 2, 2, 5)
    idx = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="bool"):
        fused_compare(patch, gold.float(), idx, idx, idx)
    with pytest.raises(ValueError, match="does not fit"):
        fused_compare(torch.zeros(2, 2, 2, 2, 5), gold, idx, idx, idx)  # 2 channels against 3
    with pytest.raises(ValueError, match="does not fit"):
        fused_compare(patch, gold, idx, idx, idx, channel=idx)  # a channel per row needs C = 1
    with pytest.raises(ValueError, match="h0 must be an integer tensor of shape \\(2,\\)"):
        fused_compare(patch, gold, idx, idx.float(), idx)
    with pytest.raises(ValueError, match="samples must be an integer tensor of shape \\(2,\\)"):
        fused_compare(patch, gold, torch.zeros(3, dtype=torch.long), idx, idx)
