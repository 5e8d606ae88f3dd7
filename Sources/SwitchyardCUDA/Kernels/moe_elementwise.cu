// moe_elementwise.cu — the combine, weight packing and format conversion kernels.
//
// sy_combine: O[t, :] = Σ_k s[t,k] · Y[position(t,k), :] (+ extra[t, :]) in fp32, in ascending k (deterministic,
//   no atomics); dropped assignments (position −1) add nothing; scores null means s = 1 (the dX sum of the backward
//   pass, whose rows are already score-scaled), extra null means no extra term (else fp32 [T, cols], the router's dX).
//   Y and extra rows hold `cols` values; O's rows are `ld_out` apart, so that a column chunk of a wider output (the
//   layer's column chunks: `out` at the chunk's first column) is written in place.
//   grid = T, block 128; cols % 8 == 0, ld_out % 8 == 0; 16-byte aligned rows.
// sy_combine_bf16_extra: the same with a bf16 extra term (the single-device backward's router dX, which its GEMM
//   writes in bf16 like the expert rows it is summed with: half the bytes written and read of an fp32 term).
// sy_pad_columns: out [rows, padded] = in [rows, columns] followed by zero columns (bf16). Grid-stride.
// sy_pack_rows: out[g, p, :] = in[g, :, source_column(p)] — a batched transpose into K-major layout.
//   interleave = 0: source_column(p) = p (Wrᵀ, W2ᵀ).
//   interleave = h > 0: p in blocks of 2h: h gate columns then the matching h up columns (W1 for the SwiGLU epilogue
//   of a 2h-wide tile), i.e. block b, w < h → column hb + w; w ≥ h → n + hb + (w − h), with n = columns / 2.
//   in: [groups, rows, columns], out: [groups, columns, rows]. grid (ceil(columns/32), ceil(rows/32), groups),
//   block (32, 8).
// sy_bf16_to_f32: conversion, grid-stride.
// sy_pack_fp8_rows: FP8 dispatch. Row r is X[index[r]] (bf16) quantized to E4M3 in 1×128 blocks, as
//   QuantizedTensor.quantize(.e4m3, .tokenwise1x128) does on the host: scale = max(amax / 448, FLT_MIN) (1 for an
//   all-zero block), code = x / scale rounded to nearest even, saturated to ±448. codes [rows, d] bytes, scales
//   [rows, ceil(d/128)] fp32. grid = rows, block 128 (warp w takes blocks w, w + 4, …; 4 values a lane); d % 4 == 0.
// sy_unpack_fp8_rows: out[r] (bf16) = code · scale, the receiving side. Same grid.
#include "moe_common.cuh"

// acc[0..7] = extra[i ..< i + 8] as floats: fp32 (scalar loads: callers' buffers need only 4-byte alignment) or bf16
// (one 16-byte load; the backward's own buffer).
SY_DEVICE void load_extra8(const float *__restrict__ e, long long i, float (&acc)[8]) {
#pragma unroll
  for (int j = 0; j < 8; ++j) acc[j] = e[i + j];
}
SY_DEVICE void load_extra8(const bf16_t *__restrict__ e, long long i, float (&acc)[8]) {
  const uint4 v = *(const uint4 *)(e + i);
  const u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    acc[2 * j] = bf16_to_float((bf16_t)(w[j] & 0xffffu));
    acc[2 * j + 1] = bf16_to_float((bf16_t)(w[j] >> 16));
  }
}

template <typename Extra>
SY_DEVICE void combine(const bf16_t *__restrict__ y, const int *__restrict__ position_of_assignment,
                       const float *__restrict__ scores, int K, int d, const Extra *__restrict__ extra,
                       bf16_t *__restrict__ out, int ld_out) {
  const int t = blockIdx.x;
  for (int c = threadIdx.x * 8; c < d; c += 128 * 8) {
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    if (extra) load_extra8(extra, (long long)t * d + c, acc);
    for (int k = 0; k < K; ++k) {
      const int p = position_of_assignment[(long long)t * K + k];
      if (p < 0) continue;
      const float s = scores ? scores[(long long)t * K + k] : 1.0f;
      const uint4 v = *(const uint4 *)(y + (long long)p * d + c);
      const u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        acc[2 * i] += s * bf16_to_float((bf16_t)(w[i] & 0xffffu));
        acc[2 * i + 1] += s * bf16_to_float((bf16_t)(w[i] >> 16));
      }
    }
    uint4 o;
    o.x = pack_bf16x2(acc[0], acc[1]);
    o.y = pack_bf16x2(acc[2], acc[3]);
    o.z = pack_bf16x2(acc[4], acc[5]);
    o.w = pack_bf16x2(acc[6], acc[7]);
    *(uint4 *)(out + (long long)t * ld_out + c) = o;
  }
}

extern "C" __global__ void __launch_bounds__(128)
    sy_combine(const bf16_t *__restrict__ y, const int *__restrict__ position_of_assignment,
               const float *__restrict__ scores, int K, int d, const float *__restrict__ extra,
               bf16_t *__restrict__ out, int ld_out) {
  combine(y, position_of_assignment, scores, K, d, extra, out, ld_out);
}

extern "C" __global__ void __launch_bounds__(128)
    sy_combine_bf16_extra(const bf16_t *__restrict__ y, const int *__restrict__ position_of_assignment,
                          const float *__restrict__ scores, int K, int d, const bf16_t *__restrict__ extra,
                          bf16_t *__restrict__ out, int ld_out) {
  combine(y, position_of_assignment, scores, K, d, extra, out, ld_out);
}

extern "C" __global__ void __launch_bounds__(256)
    sy_pack_rows(const bf16_t *__restrict__ in, int rows, int columns, int interleave, bf16_t *__restrict__ out) {
  __shared__ bf16_t tile[32][33];
  const long long g = blockIdx.z;
  const int p0 = blockIdx.x * 32;  // output rows (= packed columns of `in`)
  const int r0 = blockIdx.y * 32;  // output columns (= rows of `in`)
  const int half = columns / 2;
  for (int i = threadIdx.y; i < 32; i += 8) {
    const int r = r0 + i;
    const int p = p0 + threadIdx.x;
    if (r < rows && p < columns) {
      int src = p;
      if (interleave > 0) {
        const int block = p / (2 * interleave), w = p % (2 * interleave);
        src = w < interleave ? interleave * block + w : half + interleave * block + (w - interleave);
      }
      tile[i][threadIdx.x] = in[(g * rows + r) * columns + src];
    }
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += 8) {
    const int p = p0 + i;
    const int r = r0 + threadIdx.x;
    if (p < columns && r < rows) out[(g * columns + p) * rows + r] = tile[threadIdx.x][i];
  }
}

extern "C" __global__ void sy_bf16_to_f32(const bf16_t *__restrict__ in, long long count, float *__restrict__ out) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x)
    out[i] = bf16_to_float(in[i]);
}

SY_DEVICE float e4m3_to_float(u32 code) {
  const u32 sign = code & 0x80u, exponent = (code >> 3) & 0xFu, mantissa = code & 7u;
  float magnitude;
  if (exponent == 0) {
    magnitude = (float)mantissa * 0.001953125f;  // subnormal: m/8 · 2^-6
  } else if (exponent == 15 && mantissa == 7) {
    magnitude = __int_as_float(0x7fc00000);  // NaN (never produced by the packer)
  } else {
    magnitude = __int_as_float((int)((exponent + 120u) << 23 | mantissa << 20));  // (1 + m/8) · 2^(e − 7)
  }
  return sign ? -magnitude : magnitude;
}

extern "C" __global__ void __launch_bounds__(128)
    sy_pack_fp8_rows(const bf16_t *__restrict__ x, const int *__restrict__ index, int d, unsigned char *__restrict__ codes,
                     float *__restrict__ scales) {
  const int r = blockIdx.x, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const bf16_t *row = x + (long long)index[r] * d;
  const int blocks = (d + 127) / 128;
  for (int b = warp; b < blocks; b += 4) {
    const int c = b * 128 + lane * 4;
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (c < d) {
      const uint2 packed = *(const uint2 *)(row + c);
      v[0] = bf16_to_float((bf16_t)(packed.x & 0xffffu));
      v[1] = bf16_to_float((bf16_t)(packed.x >> 16));
      v[2] = bf16_to_float((bf16_t)(packed.y & 0xffffu));
      v[3] = bf16_to_float((bf16_t)(packed.y >> 16));
    }
    float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
    for (int offset = 16; offset > 0; offset >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
    const float scale = amax > 0.0f ? fmaxf(__fdiv_rn(amax, 448.0f), 1.17549435e-38f) : 1.0f;
    if (lane == 0) scales[(long long)r * blocks + b] = scale;
    if (c < d) {
      unsigned short lo, hi;
      asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(lo) : "f"(__fdiv_rn(v[1], scale)), "f"(__fdiv_rn(v[0], scale)));
      asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(hi) : "f"(__fdiv_rn(v[3], scale)), "f"(__fdiv_rn(v[2], scale)));
      *(u32 *)(codes + (long long)r * d + c) = (u32)lo | ((u32)hi << 16);
    }
  }
}

extern "C" __global__ void __launch_bounds__(128)
    sy_unpack_fp8_rows(const unsigned char *__restrict__ codes, const float *__restrict__ scales, int d,
                       bf16_t *__restrict__ out) {
  const int r = blockIdx.x, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int blocks = (d + 127) / 128;
  for (int b = warp; b < blocks; b += 4) {
    const int c = b * 128 + lane * 4;
    if (c >= d) continue;
    const float scale = scales[(long long)r * blocks + b];
    const u32 four = *(const u32 *)(codes + (long long)r * d + c);
    uint2 packed;
    packed.x = pack_bf16x2(e4m3_to_float(four & 0xffu) * scale, e4m3_to_float((four >> 8) & 0xffu) * scale);
    packed.y = pack_bf16x2(e4m3_to_float((four >> 16) & 0xffu) * scale, e4m3_to_float(four >> 24) * scale);
    *(uint2 *)(out + (long long)r * d + c) = packed;
  }
}

// Fills `count` bf16 values with approximately normal(0, scale²) numbers from a counter-based hash of (seed, i):
// the same seed gives the same tensor, with no host traffic (benchmarks build large layers on the device).
extern "C" __global__ void sy_fill_random_bf16(bf16_t *__restrict__ out, long long count, unsigned long long seed,
                                               float scale) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x) {
    u64 z = seed + 0x9E3779B97F4A7C15ull * (u64)(i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    // Sum of four uniforms, centred and scaled to unit variance (Irwin–Hall): close enough to normal here.
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) s += (float)((z >> (16 * j)) & 0xffffull) * (1.0f / 65536.0f);
    out[i] = float_to_bf16((s - 2.0f) * 1.7320508f * scale);
  }
}

extern "C" __global__ void sy_pad_columns(const bf16_t *__restrict__ in, int rows, int columns, int padded,
                                          bf16_t *__restrict__ out) {
  const long long count = (long long)rows * padded;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x) {
    const long long r = i / padded;
    const int c = (int)(i - r * padded);
    out[i] = c < columns ? in[r * columns + c] : (bf16_t)0;
  }
}
