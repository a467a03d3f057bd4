"""An offline spiking digits dataset, recorded by a simulated event camera.

The images are scikit-learn's shipped 8x8 handwritten digits
(:func:`sklearn.datasets.load_digits`: 1797 images, 10 classes), so nothing is
downloaded. Each image is turned into an event stream the way N-MNIST was
recorded with an ATIS camera:

1. the image is upsampled (bilinear) to about three quarters of the canvas and
   placed on a dark ``height x width`` canvas;
2. it moves along three straight saccades forming a triangle (like the ATIS
   sensor's saccades in N-MNIST), with sub-pixel motion rendered by bilinear
   interpolation at several sub-steps per time bin;
3. every canvas pixel behaves like a DVS pixel: it tracks its log intensity
   ``log(I + eps)`` and emits an ON event when it rose by more than its contrast
   threshold since the pixel's last event, an OFF event when it fell by more than
   it; an event resets the pixel's reference level;
4. sensor noise: each pixel of each recording gets its own ON/OFF thresholds
   (Gaussian mismatch around the nominal contrast) and rare background events
   are added.

Events are binned into SLAYER spike tensors ``(2, H, W, T)`` (channel 0 = OFF,
1 = ON) whose non-zero entries are ``1 / Ts``. Everything is generated in
vectorized numpy from a seeded :func:`numpy.random.default_rng`, and the result
is cached per process, so the train and test splits share one generation.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import Dataset

from spikefi.errors import ConfigError, DTypeError

__all__ = [
    "SpikingDigits",
    "load_spiking_digits",
    "generate_spiking_digits",
    "stratified_split",
]

_SPLITS = ("train", "test")
_NUM_CLASSES = 10

# Simulation constants (documented defaults of generate_spiking_digits).
_SUBSTEPS = 4  # rendered frames per time bin
_LOG_EPS = 0.1  # eps of log(I + eps); I is in [0, 1]
_CONTRAST = 0.5  # nominal contrast threshold, in log-intensity units
_MISMATCH = 0.05  # std of the per-pixel threshold mismatch (log units)
_NOISE_RATE = 0.001  # background events per pixel, polarity and time bin
# Independent random streams derived from one user seed.
_STREAM_SENSOR = 0
_STREAM_SPLIT = 1


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_positive_float(name: str, value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(out) or out <= 0.0:
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return out


def _check_float_in(name: str, value: object, low: float, high: float, allowed: str) -> float:
    """Return ``float(value)`` if ``low <= value < high`` (and finite), else raise ConfigError."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {allowed}, got {value!r}") from None
    if not (math.isfinite(out) and low <= out < high):
        raise ConfigError(f"{name} must be {allowed}, got {value!r}")
    return out


def _resize_matrix(out_size: int, in_size: int) -> np.ndarray:
    """Bilinear resampling matrix ``(out_size, in_size)`` (pixel-centre aligned)."""
    src = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    src = np.clip(src, 0.0, in_size - 1.0)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    mat = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(mat, (rows, lo), 1.0 - frac)
    np.add.at(mat, (rows, hi), frac)
    return mat


def _shift_matrix(canvas: int, size: int, offset: float) -> np.ndarray:
    """Matrix ``(canvas, size)`` placing a ``size``-pixel signal at sub-pixel ``offset``.

    Canvas pixel ``r`` samples the signal at ``u = r - offset`` with linear
    interpolation; samples outside ``[0, size - 1]`` blend towards 0 (dark).
    """
    u = np.arange(canvas) - offset
    lo = np.floor(u).astype(np.int64)
    frac = u - lo
    mat = np.zeros((canvas, size))
    for idx, weight in ((lo, 1.0 - frac), (lo + 1, frac)):
        ok = (idx >= 0) & (idx < size)
        np.add.at(mat, (np.flatnonzero(ok), idx[ok]), weight[ok])
    return mat


def _saccade_path(times: np.ndarray, duration: float, amplitude: float) -> tuple[np.ndarray, np.ndarray]:
    """Displacement ``(dx, dy)`` at ``times`` along a triangle of three saccades."""
    vertices = np.array([[0.0, 0.0], [0.5 * amplitude, amplitude], [amplitude, 0.0], [0.0, 0.0]])
    phase = np.clip(times / duration, 0.0, 1.0) * 3.0
    leg = np.minimum(np.floor(phase).astype(np.int64), 2)
    frac = (phase - leg)[:, None]
    pos = vertices[leg] * (1.0 - frac) + vertices[leg + 1] * frac
    return pos[:, 0], pos[:, 1]


def _load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.asarray(digits.images, dtype=np.float64) / 16.0
    return images, np.asarray(digits.target, dtype=np.int64)


@lru_cache(maxsize=4)
def _generate_cached(
    seed: int,
    height: int,
    width: int,
    time_steps: int,
    substeps: int,
    contrast: float,
    mismatch: float,
    noise_rate: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = _load_digit_images()
    n, src_h, src_w = images.shape
    rng = np.random.default_rng((seed, _STREAM_SENSOR))

    digit = max(2, int(round(0.75 * min(height, width))))
    amplitude = max(1.0, min(height, width) - digit - 1.0)
    off_y = (height - digit - amplitude) / 2.0
    off_x = (width - digit - amplitude) / 2.0
    up_y = _resize_matrix(digit, src_h)
    up_x = _resize_matrix(digit, src_w)

    n_frames = time_steps * substeps
    # Frame 0 (t = 0) sets the reference; frame j >= 1 ends sub-step j - 1.
    frame_t = np.arange(n_frames + 1) / substeps
    dx, dy = _saccade_path(frame_t, float(time_steps), amplitude)

    # Per-recording, per-pixel threshold mismatch (float32 keeps the loop light).
    shape = (n, height, width)
    thr_on = np.maximum(contrast + mismatch * rng.standard_normal(shape), 0.25 * contrast).astype(np.float32)
    thr_off = np.maximum(contrast + mismatch * rng.standard_normal(shape), 0.25 * contrast).astype(np.float32)
    imgs = images.astype(np.float32)

    def frame(j: int) -> np.ndarray:
        rows = (_shift_matrix(height, digit, off_y + dy[j]) @ up_y).astype(np.float32)
        cols = (_shift_matrix(width, digit, off_x + dx[j]) @ up_x).astype(np.float32)
        intensity = np.clip(rows @ imgs @ cols.T, 0.0, 1.0)
        return np.log(intensity + np.float32(_LOG_EPS))

    spikes = np.zeros((n, 2, height, width, time_steps), dtype=bool)
    ref = frame(0)
    for j in range(1, n_frames + 1):
        level = frame(j)
        diff = level - ref
        on = diff > thr_on
        off = diff < -thr_off
        fired = on | off
        ref = np.where(fired, level, ref)
        b = (j - 1) // substeps
        spikes[:, 1, :, :, b] |= on
        spikes[:, 0, :, :, b] |= off

    if noise_rate > 0.0:
        # Background activity: each (sample, polarity, pixel, bin) is hit with
        # probability ~noise_rate; drawn sparsely to avoid a dense random array.
        n_noise = int(rng.binomial(spikes.size, noise_rate))
        spikes.reshape(-1)[rng.integers(0, spikes.size, n_noise)] = True
    return torch.from_numpy(spikes), torch.from_numpy(labels)


def generate_spiking_digits(
    seed: int = 0,
    height: int = 16,
    width: int = 16,
    time_steps: int = 30,
    *,
    substeps: int = _SUBSTEPS,
    contrast: float = _CONTRAST,
    mismatch: float = _MISMATCH,
    noise_rate: float = _NOISE_RATE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Record every scikit-learn digit with the simulated event camera.

    The result is cached per process for each distinct argument set; treat the
    returned tensors as read-only (index them to get copies).

    Args:
        seed: Seed of the sensor noise (threshold mismatch, background events).
        height: Canvas height in pixels (>= 4).
        width: Canvas width in pixels (>= 4).
        time_steps: Number of time bins ``T``; the three saccades span them.
        substeps: Rendered frames per time bin (temporal resolution of the sensor).
        contrast: Nominal contrast threshold in log-intensity units.
        mismatch: Standard deviation of the per-pixel threshold mismatch.
        noise_rate: Probability of a background event per pixel, polarity and bin.

    Returns:
        ``(spikes, labels)``: a bool tensor ``(1797, 2, height, width, time_steps)``
        (True where the bin holds an event; channel 0 = OFF, 1 = ON) and an int64
        tensor of the 1797 labels.

    Raises:
        ConfigError: If a value is out of range.
    """
    seed = _check_seed(seed)
    height = _check_positive_int("height", height, 4)
    width = _check_positive_int("width", width, 4)
    time_steps = _check_positive_int("time_steps", time_steps, 3)
    substeps = _check_positive_int("substeps", substeps)
    contrast = _check_positive_float("contrast", contrast)
    mismatch = _check_float_in("mismatch", mismatch, 0.0, math.inf, "a finite number >= 0")
    noise_rate = _check_float_in("noise_rate", noise_rate, 0.0, 1.0, "in [0, 1)")
    return _generate_cached(seed, height, width, time_steps, substeps, contrast, mismatch, noise_rate)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into train/test, keeping class proportions.

    Each class contributes ``round(test_fraction * n_class)`` samples (at least
    one, and at least one left for training when the class has two or more) to
    the test split.

    Args:
        labels: 1-D integer labels.
        test_fraction: Fraction of each class going to the test split, in (0, 1).
        seed: Seed of the shuffling.

    Returns:
        ``(train_idx, test_idx)``, each sorted ascending, disjoint, covering all samples.

    Raises:
        ConfigError: If ``test_fraction`` is not in (0, 1) or ``seed`` is negative.
    """
    seed = _check_seed(seed)
    fraction = _check_fraction(test_fraction)
    labels = np.asarray(labels)
    rng = np.random.default_rng((seed, _STREAM_SPLIT))
    test: list[np.ndarray] = []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        k = int(round(fraction * members.size))
        k = min(max(k, 1), max(members.size - 1, 1))
        test.append(members[:k])
    test_idx = np.sort(np.concatenate(test)) if test else np.zeros(0, dtype=np.int64)
    train_mask = np.ones(labels.shape[0], dtype=bool)
    train_mask[test_idx] = False
    return np.flatnonzero(train_mask), test_idx


def _check_fraction(test_fraction: object) -> float:
    try:
        fraction = float(test_fraction)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}") from None
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    return fraction


class SpikingDigits(Dataset):
    """Scikit-learn's 8x8 digits recorded by a simulated DVS (see module docstring).

    Attributes:
        split: ``"train"`` or ``"test"``.
        tensors: All spike tensors of the split, ``(N, 2, H, W, T)``, values ``0`` or ``1 / Ts``.
        labels: Labels of the split, ``(N,)`` int64.
        indices: Indices of the split's samples in ``sklearn.datasets.load_digits``.
        classes: Number of classes (10).
        input_shape: ``(2, H, W)``.
        time_steps: ``T``.
        sampling_time: ``Ts`` in ms.
    """

    classes: int = _NUM_CLASSES

    def __init__(
        self,
        split: str = "train",
        seed: int = 0,
        test_fraction: float = 0.2,
        height: int = 16,
        width: int = 16,
        time_steps: int = 30,
        sampling_time: float = 1.0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """Build (or fetch from the per-process cache) the split.

        Args:
            split: ``"train"`` or ``"test"``.
            seed: Seed of both the sensor noise and the train/test split.
            test_fraction: Fraction of each class held out for testing, in (0, 1).
            height: Canvas height ``H`` in pixels.
            width: Canvas width ``W`` in pixels.
            time_steps: Number of time bins ``T``.
            sampling_time: Bin width ``Ts`` in ms (spikes have value ``1 / Ts``).
            dtype: Floating point dtype of the tensors.

        Raises:
            ConfigError: If ``split``, ``test_fraction``, ``seed`` or a size is invalid.
            DTypeError: If ``dtype`` is not a floating point dtype.
        """
        if split not in _SPLITS:
            raise ConfigError(f"split must be one of {list(_SPLITS)}, got {split!r}")
        fraction = _check_fraction(test_fraction)
        ts = _check_positive_float("sampling_time", sampling_time)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise DTypeError(f"dtype must be a floating point torch dtype, got {dtype!r}")
        spikes, labels = generate_spiking_digits(seed, height, width, time_steps)
        train_idx, test_idx = stratified_split(labels.numpy(), fraction, seed)
        idx = torch.from_numpy(train_idx if split == "train" else test_idx)

        self.split = split
        self.seed = int(seed)
        self.test_fraction = fraction
        self.indices = idx
        self.tensors = spikes[idx].to(dtype) * torch.tensor(1.0 / ts, dtype=dtype)
        self.labels = labels[idx].clone()
        self.input_shape: tuple[int, int, int] = (2, int(height), int(width))
        self.time_steps = int(time_steps)
        self.sampling_time = ts

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """Return ``(spikes (2, H, W, T), label)`` of sample ``index``."""
        return self.tensors[index], int(self.labels[index])

    def __repr__(self) -> str:
        return (
            f"SpikingDigits(split={self.split!r}, n={len(self)}, input_shape={self.input_shape}, "
            f"time_steps={self.time_steps}, sampling_time={self.sampling_time})"
        )


def load_spiking_digits(
    seed: int = 0,
    test_fraction: float = 0.2,
    height: int = 16,
    width: int = 16,
    time_steps: int = 30,
    sampling_time: float = 1.0,
    dtype: torch.dtype = torch.float32,
) -> tuple[SpikingDigits, SpikingDigits]:
    """Build the train and test splits of :class:`SpikingDigits` (one generation).

    Args:
        seed: Seed of the sensor noise and of the split.
        test_fraction: Fraction of each class held out for testing, in (0, 1).
        height: Canvas height ``H``.
        width: Canvas width ``W``.
        time_steps: Number of time bins ``T``.
        sampling_time: Bin width ``Ts`` in ms.
        dtype: Floating point dtype of the tensors.

    Returns:
        ``(train, test)``.
    """
    kwargs = dict(
        seed=seed,
        test_fraction=test_fraction,
        height=height,
        width=width,
        time_steps=time_steps,
        sampling_time=sampling_time,
        dtype=dtype,
    )
    return SpikingDigits("train", **kwargs), SpikingDigits("test", **kwargs)  # type: ignore[arg-type]
