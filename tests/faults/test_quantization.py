"""Tests of spikefi.faults.quantization: affine quantization and bit flips."""

from __future__ import annotations

import doctest
import math
import struct

import pytest
import torch

from spikefi.errors import FaultSpecError
from spikefi.faults import quantization
from spikefi.faults.quantization import (
    QuantParams,
    affine_params,
    bit_flip_delta,
    dequantize,
    fake_quantize,
    flip_bits_float32,
    flip_bits_int,
    quantize,
)

DTYPES = ["int8", "uint8", "int32"]
BITS = {"int8": 8, "uint8": 8, "int32": 32}


def _weights(seed: int, shape: tuple[int, ...] = (64, 33), dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Random non-trivial weights: normal values, skewed so min and max differ in magnitude."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g, dtype=torch.float64) * 0.3 + 0.05
    return w.to(dtype)


def _stored(codes: torch.Tensor, nbits: int) -> torch.Tensor:
    """Stored bit pattern (two's complement for negative codes) as non-negative int64."""
    return torch.bitwise_and(codes, (1 << nbits) - 1)


def _f32(x: float) -> float:
    """Rounds a Python float to float32 and back (exact value of the float32)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _f32_bits(pattern: int) -> float:
    return struct.unpack("<f", struct.pack("<I", pattern))[0]


# ---------------------------------------------------------------------------------
# QuantParams


def test_quantparams_properties():
    assert [(QuantParams(d, 1.0).qmin, QuantParams(d, 1.0).qmax) for d in DTYPES] == [
        (-128, 127),
        (0, 255),
        (-(2**31), 2**31 - 1),
    ]
    assert [QuantParams(d, 1.0).bits for d in DTYPES] == [8, 8, 32]
    assert [QuantParams(d, 1.0).signed for d in DTYPES] == [True, False, True]
    qp = QuantParams("uint8", 1, 255)
    assert isinstance(qp.scale, float) and qp.zero_point == 255
    with pytest.raises(AttributeError):
        qp.scale = 2.0  # frozen


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "int16", "scale": 1.0}, r"dtype 'int16' is not supported; allowed: \['int8', 'uint8', 'int32'\]"),
        ({"dtype": torch.int8, "scale": 1.0}, r"not supported; allowed"),
        ({"dtype": "int8", "scale": 0.0}, r"scale must be a finite number > 0, got 0.0"),
        ({"dtype": "int8", "scale": -0.5}, r"scale must be a finite number > 0, got -0.5"),
        ({"dtype": "int8", "scale": float("nan")}, r"scale must be a finite number > 0, got nan"),
        ({"dtype": "int8", "scale": float("inf")}, r"scale must be a finite number > 0, got inf"),
        ({"dtype": "int8", "scale": "1.0"}, r"scale must be a finite number > 0, got '1.0'"),
        ({"dtype": "int8", "scale": True}, r"scale must be a finite number > 0, got True"),
        ({"dtype": "int8", "scale": 1.0, "zero_point": 128}, r"zero_point 128 is outside the int8 range \[-128, 127\]"),
        ({"dtype": "int8", "scale": 1.0, "zero_point": -129}, r"zero_point -129 is outside the int8 range"),
        ({"dtype": "uint8", "scale": 1.0, "zero_point": -1}, r"zero_point -1 is outside the uint8 range \[0, 255\]"),
        ({"dtype": "uint8", "scale": 1.0, "zero_point": 256}, r"zero_point 256 is outside the uint8 range"),
        ({"dtype": "int32", "scale": 1.0, "zero_point": 2**31}, r"zero_point 2147483648 is outside the int32 range"),
        ({"dtype": "int8", "scale": 1.0, "zero_point": 1.5}, r"zero_point must be an int .* got 1.5"),
        ({"dtype": "int8", "scale": 1.0, "zero_point": False}, r"zero_point must be an int, got False"),
    ],
)
def test_quantparams_rejects_bad_values(kwargs, match):
    with pytest.raises(FaultSpecError, match=match):
        QuantParams(**kwargs)


def test_fault_spec_error_is_value_error():
    with pytest.raises(ValueError):
        QuantParams("int8", -1.0)


# ---------------------------------------------------------------------------------
# affine_params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("symmetric", [False, True])
def test_affine_params_cover_the_range(dtype, symmetric):
    w = _weights(1)
    qp = affine_params(w, dtype, symmetric=symmetric)
    assert qp.dtype == dtype
    # scale is a float32 value
    assert _f32(qp.scale) == qp.scale
    # the representable range covers [min, max] of w up to half a step
    lo = (qp.qmin - qp.zero_point) * qp.scale
    hi = (qp.qmax - qp.zero_point) * qp.scale
    assert lo <= float(w.min()) + qp.scale / 2 and hi >= float(w.max()) - qp.scale / 2
    # 0 is exactly representable and never clamped
    assert float(dequantize(quantize(torch.zeros(1), qp), qp)[0]) == 0.0
    if symmetric:
        assert qp.zero_point == (128 if dtype == "uint8" else 0)
        amax = float(w.abs().max())
        expected = amax / (qp.qmax - qp.zero_point)
        assert expected <= qp.scale <= expected * (1 + 2**-23)
    else:
        span = float(w.max()) - float(w.min())
        expected = span / (qp.qmax - qp.qmin)
        assert expected <= qp.scale <= expected * (1 + 2**-23)


def test_affine_params_hand_computed():
    qp = affine_params(torch.tensor([-1.0, 0.5, 3.0]), "uint8")
    assert 4.0 / 255 <= qp.scale <= 4.0 / 255 * (1 + 2**-23) and qp.scale == _f32(qp.scale)
    assert qp.zero_point == 64  # qmin - round(-1 / scale) = round(63.75)
    qp = affine_params(torch.tensor([-1.0, -0.5]), "int8")  # range extended to include 0
    assert qp.zero_point == 127
    assert quantize(torch.tensor([0.0, -1.0]), qp).tolist() == [127, -128]
    qp = affine_params(torch.tensor([2.0, 3.0]), "int8")
    assert qp.zero_point == -128
    qp = affine_params(torch.tensor([-2.54, 1.0]), "int8", symmetric=True)
    assert qp.scale >= 2.54 / 127 and qp.scale == _f32(qp.scale)
    assert quantize(torch.tensor([-2.54, 2.54]), qp).tolist() == [-127, 127]


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_affine_params_all_zero(dtype, symmetric):
    qp = affine_params(torch.zeros(5), dtype, symmetric=symmetric)
    assert qp.scale == 1.0
    codes = quantize(torch.zeros(5), qp)
    assert dequantize(codes, qp).abs().max().item() == 0.0


@pytest.mark.parametrize(
    ("w", "kwargs", "match"),
    [
        (torch.tensor([1.0, float("nan")]), {}, "w contains NaN"),
        (torch.tensor([1.0, float("inf")]), {}, r"w contains ±Inf"),
        (torch.tensor([-float("inf"), 0.0]), {"symmetric": True}, r"w contains ±Inf"),
        (torch.tensor([]), {}, "w is empty"),
        (torch.tensor([1.0]), {"dtype": "float16"}, r"dtype 'float16' is not supported; allowed"),
        (torch.tensor([True]), {}, "w must hold real numbers, got dtype torch.bool"),
    ],
)
def test_affine_params_rejects(w, kwargs, match):
    with pytest.raises(FaultSpecError, match=match):
        affine_params(w, **kwargs)


# ---------------------------------------------------------------------------------
# quantize / dequantize / fake_quantize


def test_quantize_rounds_half_to_even_and_saturates():
    qp = QuantParams("int8", 1.0, 0)
    w = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 1e9, -1e9, float("inf"), -float("inf")])
    assert quantize(w, qp).tolist() == [0, 2, 2, 0, -2, -2, 126, 127, -128, 127, -128]
    assert quantize(w, qp).dtype == torch.int64
    qp = QuantParams("uint8", 0.5, 10)
    assert quantize(torch.tensor([0.0, 0.25, 0.75, -5.0, -6.0, 200.0]), qp).tolist() == [10, 10, 12, 0, 0, 255]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("symmetric", [False, True])
def test_round_trip_error_at_most_half_a_step(dtype, symmetric):
    w = _weights(2)
    qp = affine_params(w, dtype, symmetric=symmetric)
    codes = quantize(w, qp)
    assert int(codes.min()) >= qp.qmin and int(codes.max()) <= qp.qmax
    back = dequantize(codes, qp, dtype=torch.float64)
    err = (back - w.double()).abs().max().item()
    assert err <= qp.scale / 2 * (1 + 1e-9)
    # the grid is actually used: not everything collapsed onto a few codes
    assert codes.unique().numel() > 50


def test_round_trip_error_hand_params():
    # values inside the representable range of explicit params
    qp = QuantParams("int8", 0.03, -7)
    g = torch.Generator().manual_seed(3)
    lo, hi = (qp.qmin - qp.zero_point) * qp.scale, (qp.qmax - qp.zero_point) * qp.scale
    w = torch.rand(2000, generator=g, dtype=torch.float64) * (hi - lo) + lo
    err = (dequantize(quantize(w, qp), qp, dtype=torch.float64) - w).abs().max().item()
    assert err <= qp.scale / 2 * (1 + 1e-9)
    assert err > qp.scale / 4  # a real quantization error, not a vacuous test


def test_dequantize_values_and_dtype():
    qp = QuantParams("uint8", 0.25, 128)
    codes = torch.tensor([128, 132, 0, 255], dtype=torch.int32)
    out = dequantize(codes, qp)
    assert out.dtype == torch.float32 and out.tolist() == [0.0, 1.0, -32.0, 31.75]
    out64 = dequantize(codes, qp, dtype=torch.float64)
    assert out64.dtype == torch.float64 and out64.tolist() == [0.0, 1.0, -32.0, 31.75]
    # float64 arithmetic: int32 codes with a non-float32 scale
    qp = QuantParams("int32", 0.1, 5)
    codes = torch.tensor([2**31 - 1, -(2**31)])
    assert dequantize(codes, qp, dtype=torch.float64).tolist() == [(2**31 - 1 - 5) * 0.1, (-(2**31) - 5) * 0.1]
    # float32 output is the float64 value rounded once, not float32 arithmetic
    g = torch.Generator().manual_seed(13)
    codes = torch.randint(qp.qmin, qp.qmax + 1, (1000,), generator=g)
    assert torch.equal(dequantize(codes, qp), dequantize(codes, qp, dtype=torch.float64).float())


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("wdtype", [torch.float32, torch.float64, torch.float16])
def test_fake_quantize_idempotent_8bit(dtype, wdtype):
    w = _weights(4, dtype=wdtype)
    qp = affine_params(w, dtype)
    once = fake_quantize(w, qp)
    assert once.dtype == wdtype
    assert torch.equal(fake_quantize(once, qp), once)
    assert not torch.equal(once, w)  # it did change w
    assert torch.equal(quantize(once, qp), quantize(w, qp))


def test_fake_quantize_idempotent_int32_float64():
    w = _weights(5, dtype=torch.float64)
    qp = affine_params(w, "int32", symmetric=True)
    once = fake_quantize(w, qp)
    assert torch.equal(fake_quantize(once, qp), once)
    assert torch.equal(quantize(once, qp), quantize(w, qp))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda qp: quantize(torch.tensor([float("nan")]), qp), "w contains NaN"),
        (lambda qp: quantize([1.0], qp), "w must be a torch.Tensor, got list"),
        (lambda qp: quantize(torch.tensor([1.0]), "int8"), "qp must be a QuantParams, got str"),
        (lambda qp: dequantize(torch.tensor([1.0]), qp), r"codes must be an integer tensor .* got dtype torch.float32"),
        (lambda qp: dequantize(torch.tensor([128]), qp), r"codes holds 128, outside the int8 range \[-128, 127\]"),
        (lambda qp: dequantize(torch.tensor([-129]), qp), r"codes holds -129, outside the int8 range"),
        (lambda qp: dequantize(torch.tensor([1]), qp, dtype=torch.int32), "dtype must be a floating torch dtype"),
        (lambda qp: fake_quantize(torch.tensor([1]), qp), "needs a floating tensor, got dtype torch.int64"),
    ],
)
def test_quantize_family_rejects(call, match):
    with pytest.raises(FaultSpecError, match=match):
        call(QuantParams("int8", 0.1, 0))


# ---------------------------------------------------------------------------------
# integer bit flips


def _golden(dtype: str, seed: int) -> tuple[torch.Tensor, QuantParams, torch.Tensor]:
    """Codes, params and the float64 golden (already quantized) weights."""
    if dtype == "int32":
        # a power-of-two scale keeps float64 dequantization of 32-bit codes exact
        qp = QuantParams("int32", 2.0**-20, 12345)
        g = torch.Generator().manual_seed(seed)
        codes = torch.randint(qp.qmin, qp.qmax + 1, (4000,), generator=g, dtype=torch.int64)
        codes[:4] = torch.tensor([qp.qmin, qp.qmax, 0, -1])
        w = dequantize(codes, qp, dtype=torch.float64)
    else:
        w = _weights(seed, dtype=torch.float64)
        qp = affine_params(w, dtype)
        w = fake_quantize(w, qp)  # golden weight: w == dequantize(quantize(w))
    codes = quantize(w, qp)
    assert torch.equal(dequantize(codes, qp, dtype=torch.float64), w)
    return codes, qp, w


@pytest.mark.parametrize("dtype", DTYPES)
def test_single_bit_flip_changes_weight_by_exact_power_of_two(dtype):
    codes, qp, golden = _golden(dtype, seed=6)
    nbits = qp.bits
    stored = _stored(codes, nbits)
    for b in range(nbits):
        flipped = flip_bits_int(codes, b, qp)
        assert flipped.dtype == torch.int64
        assert int(flipped.min()) >= qp.qmin and int(flipped.max()) <= qp.qmax
        delta = dequantize(flipped, qp, dtype=torch.float64) - golden
        was_set = torch.bitwise_and(stored, 1 << b) != 0
        # both states of the bit occur in the sample, so both signs are checked
        assert bool(was_set.any()) and bool((~was_set).any()), b
        step = math.ldexp(qp.scale, b)  # 2**b * scale, exact
        if qp.signed and b == nbits - 1:
            # two's complement sign bit: 0 -> 1 subtracts 2**(n-1), 1 -> 0 adds it
            expected = torch.where(was_set, step, -step).to(torch.float64)
        else:
            expected = torch.where(was_set, -step, step).to(torch.float64)
        assert torch.equal(delta, expected), (dtype, b)
        # code difference is exactly the power of two as well
        code_step = 1 << b
        sign = -1 if (qp.signed and b == nbits - 1) else 1
        assert torch.equal(flipped - codes, torch.where(was_set, -sign * code_step, sign * code_step))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_flip_delta_matches_dequantized_difference(dtype):
    codes, qp, golden = _golden(dtype, seed=7)
    codes, golden = codes.flatten(), golden.flatten()
    for i in range(0, codes.numel(), 97):
        code = int(codes[i])
        for b in range(qp.bits):
            new = int(flip_bits_int(codes[i : i + 1], b, qp)[0])
            assert bit_flip_delta(code, b, qp) == float(dequantize(torch.tensor([new]), qp, torch.float64)[0]) - float(golden[i])


def test_int_flip_hand_examples():
    i8, u8, i32 = QuantParams("int8", 0.5, 0), QuantParams("uint8", 1.0, 0), QuantParams("int32", 1.0, 0)
    assert flip_bits_int(torch.tensor([-128, 127, 0, -1]), 7, i8).tolist() == [0, -1, -128, 127]
    assert flip_bits_int(torch.tensor([1, 5]), [0, 7], i8).tolist() == [-128, -124]
    assert flip_bits_int(torch.tensor([0, 200]), range(8), u8).tolist() == [255, 55]
    assert flip_bits_int(torch.tensor([200]), 7, u8).tolist() == [72]
    assert flip_bits_int(torch.tensor([-1, 0]), 31, i32).tolist() == [2**31 - 1, -(2**31)]
    assert flip_bits_int(torch.tensor([0]), 30, i32).tolist() == [2**30]
    assert bit_flip_delta(5, 0, i8) == -0.5
    assert bit_flip_delta(5, 1, i8) == 1.0
    assert bit_flip_delta(-1, 7, i8) == 64.0  # -1 -> 127
    assert bit_flip_delta(0, 7, i8) == -64.0  # 0 -> -128
    assert bit_flip_delta(200, 7, u8) == -128.0
    assert bit_flip_delta(0, 31, i32) == -(2.0**31)


@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_bit_flip_equals_sequential_and_is_involution(dtype):
    codes, qp, _ = _golden(dtype, seed=8)
    g = torch.Generator().manual_seed(9)
    for _ in range(20):
        k = int(torch.randint(1, qp.bits + 1, (1,), generator=g))
        bits = torch.randperm(qp.bits, generator=g)[:k].tolist()
        together = flip_bits_int(codes, bits, qp)
        sequential = codes
        for b in bits:
            sequential = flip_bits_int(sequential, b, qp)
        assert torch.equal(together, sequential)
        assert torch.equal(flip_bits_int(together, bits, qp), codes)
        assert int(together.min()) >= qp.qmin and int(together.max()) <= qp.qmax
        assert not torch.equal(together, codes)


def test_flip_accepts_narrow_code_dtypes():
    qp = QuantParams("int8", 1.0, 0)
    codes = torch.tensor([-128, -3, 0, 127], dtype=torch.int8)
    assert flip_bits_int(codes, [1, 6], qp).tolist() == flip_bits_int(codes.long(), [1, 6], qp).tolist()
    assert flip_bits_int(codes, 0, qp).dtype == torch.int64


@pytest.mark.parametrize(
    ("dtype", "bits", "match"),
    [
        ("int8", 8, r"bit 8 is outside the allowed range \[0, 8\) for int8 codes"),
        ("uint8", 8, r"bit 8 is outside the allowed range \[0, 8\) for uint8 codes"),
        ("int8", -1, r"bit -1 is outside the allowed range \[0, 8\)"),
        ("int32", 32, r"bit 32 is outside the allowed range \[0, 32\) for int32 codes"),
        ("int8", [0, 3, 3], r"bit 3 is listed more than once in \[0, 3, 3\]; .*\[0, 8\)"),
        ("int8", [], r"at least one bit in \[0, 8\)"),
        ("int8", 1.0, r"bit 1.0 must be an int in \[0, 8\)"),
        ("int8", True, r"bit True must be an int in \[0, 8\) .* bool"),
        ("int8", "7", r"bits must be an int or a sequence of ints, got '7'"),
    ],
)
def test_flip_bits_int_rejects(dtype, bits, match):
    qp = QuantParams(dtype, 1.0, 0)
    with pytest.raises(FaultSpecError, match=match):
        flip_bits_int(torch.tensor([0, 1]), bits, qp)


def test_flip_bits_int_rejects_codes_and_bit_flip_delta_rejects():
    qp = QuantParams("uint8", 1.0, 0)
    with pytest.raises(FaultSpecError, match=r"codes holds -1, outside the uint8 range \[0, 255\]"):
        flip_bits_int(torch.tensor([-1]), 0, qp)
    with pytest.raises(FaultSpecError, match=r"code 256 is outside the uint8 range"):
        bit_flip_delta(256, 0, qp)
    with pytest.raises(FaultSpecError, match=r"bit 8 is outside the allowed range \[0, 8\)"):
        bit_flip_delta(0, 8, qp)


# ---------------------------------------------------------------------------------
# float32 bit flips


def test_float32_sign_bit_negates_exactly():
    w = _weights(10)
    flipped = flip_bits_float32(w, 31)
    assert flipped.dtype == torch.float32
    assert torch.equal(flipped, -w)
    z = flip_bits_float32(torch.tensor([0.0]), 31)
    assert z.item() == 0.0 and torch.signbit(z).item()


def test_float32_exponent_and_mantissa_flips_hand_computed():
    # 1.0f = 0x3F800000: sign 0, exponent 127 = 0b0111_1111, mantissa 0
    one = torch.tensor([1.0])
    assert flip_bits_float32(one, 23).item() == 0.5  # exponent 126
    assert flip_bits_float32(one, 24).item() == 0.25  # exponent 125
    assert flip_bits_float32(one, 29).item() == 2.0**-64  # exponent 127 ^ 64 = 63
    assert flip_bits_float32(one, 22).item() == 1.5  # top mantissa bit
    assert flip_bits_float32(one, 0).item() == 1.0 + 2.0**-23  # lowest mantissa bit
    # 2.0f = 0x40000000: exponent 128 = 0b1000_0000
    two = torch.tensor([2.0])
    assert flip_bits_float32(two, 23).item() == 4.0  # exponent 129
    assert flip_bits_float32(two, 30).item() == 0.0  # exponent 0, mantissa 0: +0
    # exact agreement with the struct encoding for a generic value
    x = _f32(0.3)
    pattern = struct.unpack("<I", struct.pack("<f", x))[0]
    for b in (3, 17, 26, 31):
        assert flip_bits_float32(torch.tensor([x]), b).item() == _f32_bits(pattern ^ (1 << b))


def test_float32_flips_to_inf_and_nan():
    # exponent all ones with zero mantissa -> ±Inf
    assert flip_bits_float32(torch.tensor([1.0]), 30).item() == math.inf  # 0x3F800000 ^ 0x40000000
    assert flip_bits_float32(torch.tensor([-1.0]), 30).item() == -math.inf
    assert flip_bits_float32(torch.tensor([2.0]), list(range(23, 30))).item() == math.inf  # 128 -> 255
    # exponent all ones with non-zero mantissa -> NaN
    assert math.isnan(flip_bits_float32(torch.tensor([1.5]), 30).item())  # 0x3FC00000
    assert math.isnan(flip_bits_float32(torch.tensor([3.0]), list(range(23, 30))).item())
    assert math.isnan(flip_bits_float32(torch.tensor([math.inf]), 0).item())
    # and back: flipping the same bit of Inf restores the finite value
    assert flip_bits_float32(torch.tensor([math.inf]), 30).item() == 1.0


def test_float32_flip_is_involution_on_the_bit_pattern():
    w = _weights(11).flatten()
    for b in range(32):
        once = flip_bits_float32(w, b)
        assert not torch.equal(once.view(torch.int32), w.view(torch.int32))
        twice = flip_bits_float32(once, b)
        assert torch.equal(twice.view(torch.int32), w.view(torch.int32)), b
    bits = [0, 5, 23, 30, 31]
    assert torch.equal(flip_bits_float32(flip_bits_float32(w, bits), bits).view(torch.int32), w.view(torch.int32))
    # several bits at once equal sequential flips
    seq = w
    for b in bits:
        seq = flip_bits_float32(seq, b)
    assert torch.equal(seq.view(torch.int32), flip_bits_float32(w, bits).view(torch.int32))


def test_float32_flip_keeps_shape_and_handles_noncontiguous():
    w = _weights(12, shape=(6, 5))
    t = w.t()
    assert not t.is_contiguous()
    out = flip_bits_float32(t, 31)
    assert out.shape == t.shape and torch.equal(out, -t)
    assert torch.equal(w, _weights(12, shape=(6, 5)))  # input untouched


def test_float32_flip_on_float64_acts_on_float32_encoding():
    w = torch.tensor([1.0, 2.0, 0.1], dtype=torch.float64)
    out = flip_bits_float32(w, 23)
    assert out.dtype == torch.float64
    assert out[:2].tolist() == [0.5, 4.0]
    # 0.1 is not float32-representable: the flip acts on float32(0.1)
    pattern = struct.unpack("<I", struct.pack("<f", 0.1))[0]
    assert out[2].item() == _f32_bits(pattern ^ (1 << 23))
    assert flip_bits_float32(w, 31)[2].item() == -_f32(0.1)


@pytest.mark.parametrize(
    ("w", "bits", "match"),
    [
        (torch.tensor([1, 2], dtype=torch.int32), 0, r"needs a float32 .* got dtype torch.int32"),
        (torch.tensor([1, 2]), 0, r"got dtype torch.int64"),
        (torch.tensor([1.0], dtype=torch.float16), 0, r"got dtype torch.float16"),
        (torch.tensor([1.0], dtype=torch.bfloat16), 0, r"got dtype torch.bfloat16"),
        (torch.tensor([1.0]), 32, r"bit 32 is outside the allowed range \[0, 32\) for float32 weights"),
        (torch.tensor([1.0]), -1, r"bit -1 is outside the allowed range \[0, 32\)"),
        (torch.tensor([1.0]), [23, 23], r"bit 23 is listed more than once"),
        ([1.0], 0, r"w must be a torch.Tensor, got list"),
    ],
)
def test_flip_bits_float32_rejects(w, bits, match):
    with pytest.raises(FaultSpecError, match=match):
        flip_bits_float32(w, bits)


def test_docstring_examples_run():
    result = doctest.testmod(quantization, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10 and result.failed == 0
