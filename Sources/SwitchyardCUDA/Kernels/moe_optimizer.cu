// moe_optimizer.cu — the training-step kernels: mean-squared-error loss and gradient, AdamW, the router bias update.
//
// sy_mse_loss_grad: diff = out − target over `count` bf16 values; grad = grad_scale·diff (bf16);
//   partials[block] = Σ diff² over the block's grid-stride elements (fp32, fixed order). Launch with a fixed grid
//   (SY_LOSS_BLOCKS blocks of 256) so that the sum is the same bits on every run; `partials` holds one float per block.
// sy_loss_sum: out[0] = scale · Σ partials[0..count) in a fixed order. One block of 256.
// sy_adamw: AdamW on `count` fp32 parameters (PyTorch's formula, see AdamW.swift):
//   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²  (1 − β passed in, computed in double on the host);  p ← p − lr·(λ·p + m·c1 / (√(v·c2) + ε)),  c1 = 1/(1−β1ᵗ), c2 = 1/(1−β2ᵗ);
//   also writes p rounded to bf16 into `out` (the layer's bf16 copy). 16-byte vectors when every pointer is 16-byte
//   aligned (the caller's buffers are), a scalar tail for count % 4. Grid-stride, block 256.
// sy_router_bias_update: the aux-loss-free balancing step of DeepSeek-V3, b_e += rate·sign(mean load − load_e),
//   with the comparison done exactly in integers (load_e·E against the total). One block of 256; any E.
// sy_perturb_bf16: student[i] = teacher[i] + sigma·student[i] over `count` bf16 values (fp32 math), the start of a
//   teacher–student run (sigma 0 copies the teacher). Grid-stride, block 256.
#include "moe_common.cuh"

#define SY_LOSS_THREADS 256

extern "C" __global__ void __launch_bounds__(SY_LOSS_THREADS)
    sy_mse_loss_grad(const bf16_t *__restrict__ out, const bf16_t *__restrict__ target, long long count,
                     float grad_scale, bf16_t *__restrict__ grad, float *__restrict__ partials) {
  __shared__ float sums[SY_LOSS_THREADS];
  float sum = 0.0f;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x) {
    const float diff = bf16_to_float(out[i]) - bf16_to_float(target[i]);
    sum += diff * diff;
    grad[i] = float_to_bf16(grad_scale * diff);
  }
  sums[threadIdx.x] = sum;
  __syncthreads();
  for (int half = SY_LOSS_THREADS / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) sums[threadIdx.x] += sums[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partials[blockIdx.x] = sums[0];
}

extern "C" __global__ void __launch_bounds__(SY_LOSS_THREADS)
    sy_loss_sum(const float *__restrict__ partials, int count, float scale, float *__restrict__ out) {
  __shared__ float sums[SY_LOSS_THREADS];
  float sum = 0.0f;
  for (int i = threadIdx.x; i < count; i += SY_LOSS_THREADS) sum += partials[i];
  sums[threadIdx.x] = sum;
  __syncthreads();
  for (int half = SY_LOSS_THREADS / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) sums[threadIdx.x] += sums[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = sums[0] * scale;
}

struct AdamWStep {
  float lr, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, decay, c1, c2;
};

// One parameter's update; returns the new value and writes back the moments.
SY_DEVICE float adamw_one(float p, float g, float &m, float &v, const AdamWStep &s) {
  m = s.beta1 * m + s.one_minus_beta1 * g;
  v = s.beta2 * v + s.one_minus_beta2 * g * g;
  return p - s.lr * (s.decay * p + (m * s.c1) / (sqrtf(v * s.c2) + s.eps));
}

extern "C" __global__ void __launch_bounds__(256)
    sy_adamw(float *__restrict__ param, const float *__restrict__ grad, float *__restrict__ m1, float *__restrict__ m2,
             long long count, float lr, float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
             float eps, float decay, float c1, float c2, bf16_t *__restrict__ out) {
  const AdamWStep s = {lr, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, decay, c1, c2};
  const long long stride = (long long)gridDim.x * blockDim.x;
  const long long first = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  const long long vectors = count / 4;
  for (long long i = first; i < vectors; i += stride) {
    float4 p = ((float4 *)param)[i];
    const float4 g = ((const float4 *)grad)[i];
    float4 m = ((float4 *)m1)[i], v = ((float4 *)m2)[i];
    p.x = adamw_one(p.x, g.x, m.x, v.x, s);
    p.y = adamw_one(p.y, g.y, m.y, v.y, s);
    p.z = adamw_one(p.z, g.z, m.z, v.z, s);
    p.w = adamw_one(p.w, g.w, m.w, v.w, s);
    ((float4 *)param)[i] = p;
    ((float4 *)m1)[i] = m;
    ((float4 *)m2)[i] = v;
    ((uint2 *)out)[i] = make_uint2(pack_bf16x2(p.x, p.y), pack_bf16x2(p.z, p.w));
  }
  for (long long i = vectors * 4 + first; i < count; i += stride) {
    float m = m1[i], v = m2[i];
    const float p = adamw_one(param[i], grad[i], m, v, s);
    param[i] = p;
    m1[i] = m;
    m2[i] = v;
    out[i] = float_to_bf16(p);
  }
}

extern "C" __global__ void __launch_bounds__(256)
    sy_router_bias_update(const int *__restrict__ counts, int experts, float rate, float *__restrict__ bias) {
  __shared__ long long sums[256];
  long long sum = 0;
  for (int e = threadIdx.x; e < experts; e += 256) sum += counts[e];
  sums[threadIdx.x] = sum;
  __syncthreads();
  for (int half = 128; half > 0; half /= 2) {
    if (threadIdx.x < half) sums[threadIdx.x] += sums[threadIdx.x + half];
    __syncthreads();
  }
  const long long total = sums[0];
  for (int e = threadIdx.x; e < experts; e += 256) {
    const long long scaled = (long long)counts[e] * experts;  // load_e·E against Σ loads: exact
    bias[e] += scaled < total ? rate : (scaled > total ? -rate : 0.0f);
  }
}

extern "C" __global__ void __launch_bounds__(256)
    sy_perturb_bf16(bf16_t *__restrict__ student, const bf16_t *__restrict__ teacher, long long count, float sigma) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x)
    student[i] = float_to_bf16(bf16_to_float(teacher[i]) + sigma * bf16_to_float(student[i]));
}
