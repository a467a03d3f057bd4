"""Rows of the fault-parallel engine as spatial patches, and the window geometry of
recomputing only what a difference can reach."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch

__all__: list[str] = []


@dataclass
class _Patch:
    """Rows (round, sample) of one layer: a window ``patch`` (M, C, h, w, T) of their spikes
    at origins ``(h0, w0)``; outside the window the rows equal the golden spikes."""

    rounds: torch.Tensor  # (M,) index into the chunk's rounds
    samples: torch.Tensor  # (M,) index into the batch
    patch: torch.Tensor
    h0: torch.Tensor
    w0: torch.Tensor
    box: torch.Tensor | None = None  # (M, 4) h0, h1, w0, w1 where the rows differ from golden
    #: (M,) when the rows differ from golden in one channel only: ``patch`` then holds that
    #: channel alone, shape (M, 1, h, w, T) (a synapse fault of a conv layer changes one
    #: output channel; a pooling layer keeps it to that channel)
    channel: torch.Tensor | None = None
    #: ``_compare``'s result when known without comparing (rows built to differ from golden)
    known: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def whole(cls, rounds: torch.Tensor, samples: torch.Tensor, out: torch.Tensor) -> _Patch:
        zero = torch.zeros(rounds.shape[0], dtype=torch.long, device=out.device)
        return cls(rounds, samples, out, zero, zero.clone())

    def select(self, mask: torch.Tensor | slice) -> _Patch:
        return _Patch(self.rounds[mask], self.samples[mask], self.patch[mask], self.h0[mask], self.w0[mask],
                      None if self.box is None else self.box[mask],
                      None if self.channel is None else self.channel[mask])

    def full(self, golden: torch.Tensor, dtype: torch.dtype, value: float) -> torch.Tensor:
        """Whole rows: the golden spikes (bool, or a float input) with the patches pasted in."""
        if self.channel is None and self.patch.shape[2:4] == golden.shape[2:4]:
            return self.patch
        return _paste(golden, self.samples, self.patch, self.h0, self.w0, dtype, value, self.channel)

    def golden_window(self, golden: torch.Tensor) -> torch.Tensor:
        """The golden values under the patches (same shape as ``patch``)."""
        return _window(golden, self.samples, (self.h0, self.w0, self.patch.shape[2], self.patch.shape[3]),
                       self.channel)


@dataclass
class _Sparse:
    """Rows (round, sample) of one layer that differ from golden at a few neurons only:
    ``trains`` (E, T) holds the new spike trains of exactly those neurons (entry ``e``
    belongs to row ``row[e]`` and is neuron ``(c[e], h[e], w[e])``); every other neuron of
    the rows is golden. A conv layer fed by a one-channel change alters a few of its
    neurons' spikes (about 1 % of SC3's after an SC2 synapse fault), which a pooling or a
    dense layer can take as such (``engine._sparse_rows``)."""

    rounds: torch.Tensor  # (M,)
    samples: torch.Tensor  # (M,)
    row: torch.Tensor  # (E,) index into the M rows
    c: torch.Tensor  # (E,)
    h: torch.Tensor  # (E,)
    w: torch.Tensor  # (E,)
    trains: torch.Tensor  # (E, T) spike values
    #: ``(None, spike-count delta (M,), differs (M,))``: known when built (see ``_sparse_changes``)
    known: tuple[Any, torch.Tensor, torch.Tensor] | None = None

    def select(self, mask: torch.Tensor | slice) -> _Sparse:
        m = self.rounds.numel()
        keep = torch.zeros(m, dtype=torch.bool, device=self.rounds.device)
        keep[mask] = True
        new_index = torch.cumsum(keep.long(), 0) - 1
        entries = keep[self.row]
        return _Sparse(self.rounds[keep], self.samples[keep], new_index[self.row[entries]], self.c[entries],
                       self.h[entries], self.w[entries], self.trains[entries])

    def full(self, golden: torch.Tensor, dtype: torch.dtype, value: float) -> torch.Tensor:
        """Whole rows: the golden spikes (bool) with the changed neurons' trains written in."""
        out = golden[self.samples]
        out = out.to(dtype) * value if out.dtype == torch.bool else out.clone()
        out[self.row, self.c, self.h, self.w] = self.trains.to(out.dtype)
        return out


def _boxes(diff_map: torch.Tensor) -> torch.Tensor:
    """Bounding boxes ``(h0, h1, w0, w1)`` of the True cells of ``(M, H, W)`` maps."""
    m, h, w = diff_map.shape
    rows = diff_map.any(2)
    cols = diff_map.any(1)
    ih = torch.arange(h, device=diff_map.device)
    iw = torch.arange(w, device=diff_map.device)
    h0 = torch.where(rows, ih, h).min(1).values
    h1 = torch.where(rows, ih + 1, 0).max(1).values
    w0 = torch.where(cols, iw, w).min(1).values
    w1 = torch.where(cols, iw + 1, 0).max(1).values
    return torch.stack([h0, h1, w0, w1], 1)


def _reach(lo: torch.Tensor, hi: torch.Tensor, k: int, s: int, p: int, d: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Output index range ``[lo', hi')`` that inputs ``[lo, hi)`` reach (kernel k, stride s,
    padding p, dilation d), clipped to ``[0, size)``."""
    first = torch.div(lo + p - (k - 1) * d + s - 1, s, rounding_mode="floor")
    last = torch.div(hi - 1 + p, s, rounding_mode="floor")
    return first.clamp(0, size), (last + 1).clamp(0, size)


def _crop_geometry(module: Any, kind: str, box: torch.Tensor, h_out: int, w_out: int) -> tuple | None:
    """Output window origins, input window origins and input window size that cover every
    row's box, or ``None`` where the window would exceed half the map (not worth it)."""
    kh, kw = module.weight.shape[2], module.weight.shape[3]
    sh, sw = module.stride[0], module.stride[1]
    ph, pw = (0, 0) if kind == "pool" else (module.padding[0], module.padding[1])
    dh, dw = module.dilation[0], module.dilation[1]
    oh0, oh1 = _reach(box[:, 0], box[:, 1], kh, sh, ph, dh, h_out)
    ow0, ow1 = _reach(box[:, 2], box[:, 3], kw, sw, pw, dw, w_out)
    size_h, size_w = (int(v) for v in torch.stack([(oh1 - oh0).max(), (ow1 - ow0).max()]).tolist())
    if size_h * size_w * 2 > h_out * w_out:
        return None
    # one window size for all rows, shifted to stay inside the map
    oh0 = oh0.clamp(max=h_out - size_h)
    ow0 = ow0.clamp(max=w_out - size_w)
    in_h = (size_h - 1) * sh + (kh - 1) * dh + 1
    in_w = (size_w - 1) * sw + (kw - 1) * dw + 1
    return oh0, ow0, oh0 * sh - ph, ow0 * sw - pw, in_h, in_w


def _merge(groups: list[Any]) -> list[Any]:
    """Concatenates groups whose patches have the same shape, and all sparse groups (fewer,
    larger operations)."""
    by_shape: dict[tuple[Any, ...], list[_Patch]] = {}
    sparse = [g for g in groups if isinstance(g, _Sparse)]
    for g in groups:
        if not isinstance(g, _Sparse):
            by_shape.setdefault((g.channel is None, *g.patch.shape[1:]), []).append(g)
    merged: list[Any] = []
    if len(sparse) == 1:
        merged.append(sparse[0])
    elif sparse:
        offsets = torch.cumsum(torch.tensor([0] + [g.rounds.numel() for g in sparse[:-1]]), 0).tolist()
        merged.append(_Sparse(
            torch.cat([g.rounds for g in sparse]), torch.cat([g.samples for g in sparse]),
            torch.cat([g.row + o for g, o in zip(sparse, offsets, strict=True)]),
            torch.cat([g.c for g in sparse]), torch.cat([g.h for g in sparse]), torch.cat([g.w for g in sparse]),
            torch.cat([g.trains for g in sparse])))
    for same in by_shape.values():
        if len(same) == 1:
            merged.append(same[0])
            continue
        merged.append(_Patch(
            torch.cat([g.rounds for g in same]), torch.cat([g.samples for g in same]),
            torch.cat([g.patch for g in same]), torch.cat([g.h0 for g in same]), torch.cat([g.w0 for g in same]),
            torch.cat([cast(torch.Tensor, g.box) for g in same]) if all(g.box is not None for g in same) else None,
            None if same[0].channel is None else torch.cat([cast(torch.Tensor, g.channel) for g in same]),
        ))
    return merged


def _overlay(window: torch.Tensor, ih0: torch.Tensor, iw0: torch.Tensor, rows: _Patch) -> torch.Tensor:
    """Writes each row's patch into its input window where they overlap (into the row's
    channel only, for channel patches; ``window`` is then modified in place)."""
    m, _, size_h, size_w, _ = window.shape
    ph, pw = rows.patch.shape[2], rows.patch.shape[3]
    device = window.device
    pi = (ih0 - rows.h0)[:, None] + torch.arange(size_h, device=device)[None]  # patch row of each window row
    pj = (iw0 - rows.w0)[:, None] + torch.arange(size_w, device=device)[None]
    valid = ((pi >= 0) & (pi < ph))[:, :, None] & ((pj >= 0) & (pj < pw))[:, None, :]  # (M, h, w)
    ridx = torch.arange(m, device=device)
    cidx = torch.arange(rows.patch.shape[1], device=device)
    # gathered straight into (M, C, h, w, T) order (no permuted copy)
    vals = rows.patch[ridx[:, None, None, None], cidx[None, :, None, None], pi.clamp(0, ph - 1)[:, None, :, None],
                      pj.clamp(0, pw - 1)[:, None, None, :], :]
    if rows.channel is not None and window.shape[1] != 1:
        current = window[ridx, rows.channel]  # (M, h, w, T)
        window[ridx, rows.channel] = torch.where(valid[:, :, :, None], vals[:, 0], current)
        return window
    return torch.where(valid[:, None, :, :, None], vals, window)


def _window(t: torch.Tensor, rows: torch.Tensor | None, win: tuple, channels: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row spatial windows ``(M, C, h, w, T)`` of ``t`` (rows ``rows``, or all), zero
    outside; with ``channels`` (M,) only that channel of each row, ``(M, 1, h, w, T)``."""
    h0, w0, size_h, size_w = win
    device = t.device
    hh = h0[:, None] + torch.arange(size_h, device=device)[None]
    ww = w0[:, None] + torch.arange(size_w, device=device)[None]
    valid = ((hh >= 0) & (hh < t.shape[2]))[:, :, None] & ((ww >= 0) & (ww < t.shape[3]))[:, None, :]
    ridx = rows if rows is not None else torch.arange(h0.shape[0], device=device)
    hi = hh.clamp(0, t.shape[2] - 1)[:, :, None]
    wi = ww.clamp(0, t.shape[3] - 1)[:, None, :]
    # gathered straight into (M, C, h, w, T) order (no permuted copy)
    cidx = channels[:, None, None, None] if channels is not None else torch.arange(t.shape[1], device=device)[None, :, None, None]
    g = t[ridx[:, None, None, None], cidx, hi[:, None], wi[:, None], :]
    if not bool(valid.all()):
        mask = valid[:, None, :, :, None]
        g = g * mask.to(g.dtype) if g.dtype != torch.bool else g & mask
    return g


def _paste(golden_spikes: torch.Tensor, rows: torch.Tensor, win_out: torch.Tensor, h0: torch.Tensor,
           w0: torch.Tensor, dtype: torch.dtype, value: float, channels: torch.Tensor | None = None) -> torch.Tensor:
    """Full output rows: the golden spikes with each row's window (or channel window) replaced."""
    out = golden_spikes[rows]
    out = out.to(dtype) * value if out.dtype == torch.bool else out.clone()
    m, _, size_h, size_w, _ = win_out.shape
    hh = h0[:, None] + torch.arange(size_h, device=out.device)[None]
    ww = w0[:, None] + torch.arange(size_w, device=out.device)[None]
    ridx = torch.arange(m, device=out.device)
    if channels is not None:
        out[ridx[:, None, None], channels[:, None, None], hh[:, :, None], ww[:, None, :], :] = win_out[:, 0]
    else:
        out[ridx[:, None, None], :, hh[:, :, None], ww[:, None, :], :] = win_out.permute(0, 2, 3, 1, 4)
    return out
