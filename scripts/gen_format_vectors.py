#!/usr/bin/env python3
"""Writes the number-format test vectors of SwitchyardFormats into Tests/SwitchyardFormatsTests/Vectors/.

The reference is numpy + ml_dtypes (float8_e4m3fn, float8_e5m2, float8_e8m0fnu, bfloat16), an implementation
independent of Switchyard's. Switchyard's documented conventions, where they differ from ml_dtypes' plain cast,
are applied here on the *input* side, never by editing an output code:
  - FP8 conversion saturates (NVIDIA __NV_SATFINITE): finite overflow and +-Inf become +-max. Generated as
    ml_dtypes(np.clip(x, -max, max)); NaN passes through np.clip untouched.
  - E5M2 NaN is encoded S.11111.11 (0x7F | sign) like E4M3FN's S.1111.111 and CUDA's conversion;
    ml_dtypes writes S.11111.10. NaN encodes are therefore stored as "NaN with this sign" (see below).
  - E8M0 conversion saturates finite values above 2^127 to 2^127: ml_dtypes(np.minimum(x, 2^127)).
    Float32 subnormal inputs are left out of the E8M0 vectors: ml_dtypes 0.6.0 rounds some of them wrongly
    (1.49 * 2^-127 gives 2^-126); the Swift tests check that range against hand-computed values.

Outputs (JSON, float32 values and codes as integers or hex strings):
  decode.json   all 256 codes of e4m3fn, e5m2, e8m0 -> float32 bit patterns
  encode.json   float32 bit patterns -> codes, for bf16, e4m3fn, e5m2, e8m0; an expected code of -1 means
                "a NaN with the input's sign" (NaN payloads and the NaN pattern are not compared)
  tensors.json  MXFP8 (OCP and round-up rules, E4M3 and E5M2) and 1x128 / 128x128 float32-scaled examples

Run: python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy ml_dtypes && /tmp/venv/bin/python scripts/gen_format_vectors.py
CI does not run this script; its outputs are committed.
"""
import json
import os

import ml_dtypes
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "SwitchyardFormatsTests", "Vectors")
RNG = np.random.default_rng(20240607)

FP8 = {
    "e4m3fn": (ml_dtypes.float8_e4m3fn, 448.0, 8),
    "e5m2": (ml_dtypes.float8_e5m2, 57344.0, 15),
}


def f32(bits):
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def bits32(values):
    return np.asarray(values, dtype=np.float32).view(np.uint32)


def hex32(values):
    return "".join(f"{b:08x}" for b in bits32(values).ravel())


def hex8(codes):
    return bytes(np.asarray(codes, dtype=np.uint8).ravel()).hex()


def decode_table(dtype):
    return [int(b) for b in bits32(np.arange(256, dtype=np.uint8).view(dtype).astype(np.float32))]


def with_neighbours(values):
    """Each value, and the float32 values one ulp below and above it."""
    v = np.asarray(values, dtype=np.float32)
    v = v[np.isfinite(v)]
    return np.concatenate([v, np.nextafter(v, np.float32(-np.inf)), np.nextafter(v, np.float32(np.inf))])


def fp8_edge_inputs(dtype, fmax):
    finite = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float64)
    finite = np.unique(finite[np.isfinite(finite)])
    midpoints = (finite[:-1] + finite[1:]) / 2  # every rounding tie, exact in float32
    # Beyond max: the tie between max and the next value the format would have, then some overflow.
    step = finite[-1] - finite[-2]
    beyond = np.array([fmax + step / 2, fmax + step, 2 * fmax, 1e6, 3.0e38])
    return with_neighbours(np.concatenate([finite, midpoints, beyond, -beyond]))


def specials():
    return np.array(
        [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 2.0**-127, 1.17e-38, 3.4028235e38, -3.4028235e38],
        dtype=np.float32,
    )


def random_magnitudes(count, low, high):
    sign = RNG.choice([-1.0, 1.0], size=count)
    return (sign * 2.0 ** RNG.uniform(low, high, size=count)).astype(np.float32)


def encode_case(inputs, expected_codes, nan_mask):
    codes = np.where(nan_mask, -1, expected_codes.astype(np.int64))
    return {"inputs": [int(b) for b in bits32(inputs)], "codes": [int(c) for c in codes]}


def fp8_encodes(dtype, fmax, low, high):
    x = np.concatenate([fp8_edge_inputs(dtype, fmax), specials(), random_magnitudes(2000, low, high)])
    with np.errstate(invalid="ignore", over="ignore"):
        codes = np.clip(x, -fmax, fmax).astype(dtype).view(np.uint8)
    return encode_case(x, codes, np.isnan(x))


def bf16_encodes():
    pattern = RNG.integers(0, 2**32, size=2000, dtype=np.uint64).astype(np.uint32)
    # Ties: low half exactly 0x8000 over even and odd kept bits, and one ulp either side.
    ties = (RNG.integers(0, 2**16, size=300, dtype=np.uint64).astype(np.uint32) << 16) | 0x8000
    edge = np.concatenate([ties, ties - 1, ties + 1, [0x7F7F8000, 0x7F7F7FFF, 0xFF7F8000, 0x00008000, 0x00018000]])
    x = np.concatenate([f32(pattern), f32(edge.astype(np.uint32)), specials(), random_magnitudes(1000, -140, 128)])
    with np.errstate(invalid="ignore", over="ignore"):
        codes = x.astype(ml_dtypes.bfloat16).view(np.uint16)
    return encode_case(x, codes, np.isnan(x))


def e8m0_encodes():
    powers = 2.0 ** np.arange(-126, 128)
    ties = np.concatenate([1.5 * powers[:-1], 0.75 * powers])
    x = np.concatenate([with_neighbours(np.concatenate([powers, ties])), random_magnitudes(1000, -126, 128)])
    x = np.concatenate([x, np.abs(x[:500]), specials()]).astype(np.float32)
    x = x[~((np.abs(x) > 0) & (np.abs(x) < np.finfo(np.float32).tiny))]
    saturated = np.where(np.isfinite(x) & (x > 0), np.minimum(x, np.float32(2.0**127)), x)
    with np.errstate(invalid="ignore", over="ignore"):
        codes = saturated.astype(ml_dtypes.float8_e8m0fnu).view(np.uint8)
    return encode_case(x, codes, np.zeros(x.shape, dtype=bool))


def blocked(shape, block_rows, block_cols):
    """Random values whose magnitude changes from block to block, with edge blocks planted in batch 0."""
    *lead, rows, cols = shape
    x = RNG.standard_normal(shape).astype(np.float32)
    batch = int(np.prod(lead)) if lead else 1
    x = x.reshape(batch, rows, cols)
    for b in range(batch):
        for r0 in range(0, rows, block_rows):
            for c0 in range(0, cols, block_cols):
                x[b, r0 : r0 + block_rows, c0 : c0 + block_cols] *= np.float32(2.0 ** RNG.integers(-30, 30))
    tile = (slice(0, block_rows), slice(None))

    def plant(column_block, values):
        c0 = column_block * block_cols
        if c0 < cols:
            x[0][tile][:, c0 : c0 + block_cols] = values

    plant(0, 0.0)  # all-zero block
    plant(1, -0.0)
    plant(2, np.float32(448.0 * 2.0**-3))  # amax = max x 2^k exactly
    plant(3, np.nextafter(np.float32(448.0 * 2.0**-3), np.float32(np.inf)))  # one ulp above
    plant(4, np.float32(2.0**5))  # amax a power of two exactly
    plant(5, np.nextafter(np.float32(2.0**5), np.float32(0)))  # just below
    plant(6, np.float32(57344.0 * 2.0**2))
    plant(7, x[0][tile][:, 7 * block_cols : 8 * block_cols] * np.float32(2.0**-125))  # float32-subnormal block
    if cols > 8 * block_cols:
        x[0, 0, 8 * block_cols] = np.float32(3.0e38)  # a huge outlier in an ordinary block
    return x.reshape(shape)


def block_amax(x, block_rows, block_cols):
    *lead, rows, cols = x.shape
    m = x.reshape(-1, rows, cols)
    rb, cb = -(-rows // block_rows), -(-cols // block_cols)
    amax = np.zeros((m.shape[0], rb, cb))
    for i in range(rb):
        for j in range(cb):
            amax[:, i, j] = np.abs(m[:, i * block_rows : (i + 1) * block_rows, j * block_cols : (j + 1) * block_cols]).max(
                axis=(1, 2)
            )
    return amax


def expand(scales, x, block_rows, block_cols):
    *lead, rows, cols = x.shape
    s = np.repeat(np.repeat(scales, block_rows, axis=1), block_cols, axis=2)[:, :rows, :cols]
    return s.reshape(x.shape)


def scale_shape(shape, block_rows, block_cols):
    if len(shape) == 1:
        return [-(-shape[0] // block_cols)]
    return list(shape[:-2]) + [-(-shape[-2] // block_rows), -(-shape[-1] // block_cols)]


def quantize(x, element, layout):
    dtype, fmax, emax = FP8[element]
    if layout.startswith("mx"):
        block_rows, block_cols = 1, 32
        amax = block_amax(x, 1, 32)
        with np.errstate(divide="ignore"):
            if layout == "mx-ocp":
                k = np.floor(np.log2(amax)) - emax
            else:
                k = np.ceil(np.log2(amax / fmax))
        k = np.clip(np.where(amax == 0, -127, k), -127, 127)
        scales = (2.0**k).astype(np.float32)
    else:
        block_rows, block_cols = (1, 128) if layout == "1x128" else (128, 128)
        amax = block_amax(x, block_rows, block_cols).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            scales = np.where(amax == 0, np.float32(1), amax / np.float32(fmax))
        scales = np.maximum(scales, np.finfo(np.float32).tiny).astype(np.float32)
    scaled = x / expand(scales, x, block_rows, block_cols)
    assert scaled.dtype == np.float32
    codes = np.clip(scaled, -fmax, fmax).astype(dtype).view(np.uint8)
    assert list(scales.reshape(-1).shape) == [int(np.prod(scale_shape(x.shape, block_rows, block_cols)))]
    return codes, scales


def tensor_cases():
    inputs = {
        "mx": blocked((3, 4, 300), 1, 32),  # rows of 300: nine full blocks and one of 12
        "rows": blocked((5, 1100), 1, 128),  # rows of 1100: eight blocks of 128 and one of 76
        "tiles": blocked((130, 260), 128, 128),  # tiles of 128 and 2 rows by 128 and 4 columns
    }
    plan = [("mx", e, layout) for e in FP8 for layout in ("mx-ocp", "mx-roundup")]
    plan += [("rows", e, "1x128") for e in FP8] + [("tiles", e, "128x128") for e in FP8]
    cases = []
    for name, element, layout in plan:
        codes, scales = quantize(inputs[name], element, layout)
        cases.append({"input": name, "element": element, "layout": layout, "codes": hex8(codes), "scales": hex32(scales)})
    return {
        "inputs": {name: {"shape": list(x.shape), "values": hex32(x)} for name, x in inputs.items()},
        "cases": cases,
    }


def write(name, payload):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(payload, f, separators=(",", ":"))
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    write("decode.json", {
        "generator": f"ml_dtypes {ml_dtypes.__version__}, numpy {np.__version__}",
        "e4m3fn": decode_table(ml_dtypes.float8_e4m3fn),
        "e5m2": decode_table(ml_dtypes.float8_e5m2),
        "e8m0": decode_table(ml_dtypes.float8_e8m0fnu),
    })
    write("encode.json", {
        "bf16": bf16_encodes(),
        "e4m3fn": fp8_encodes(ml_dtypes.float8_e4m3fn, 448.0, -14, 12),
        "e5m2": fp8_encodes(ml_dtypes.float8_e5m2, 57344.0, -22, 20),
        "e8m0": e8m0_encodes(),
    })
    write("tensors.json", tensor_cases())


if __name__ == "__main__":
    main()
