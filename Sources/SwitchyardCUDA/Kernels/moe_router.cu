// moe_router.cu — top-K routing and the dispatch metadata, with no host synchronization.
//
// sy_router_topk: one warp per token over fp32 logits [T, E] (E ≤ 32·SY_MAX_E_PER_LANE).
//   mode 0: softmax over E, top-K, scores = probabilities;       mode 1: same, renormalized over the K;
//   mode 2: Mixtral, top-K logits, softmax over the K chosen;     mode 3: DeepSeek-V3 sigmoid + bias,
//   group-limited (groups, topk_groups), scores = σ[idx] / Σ σ[idx] × scaling.
//   Ties: the larger value wins, and on equal values the lower expert index. Slot k holds the k-th best.
//   Writes expert_index [T, K] (int32) and scores [T, K] (fp32).
//
// Dispatch metadata over the A = T·K assignments (a = t·K + k), in chunks of 256 assignments:
//   sy_route_count    grid = chunks, block 256: per-chunk expert histogram (chunk_counts[e·chunks + c]) and each
//                     assignment's rank among earlier assignments of its chunk with the same expert.
//   sy_route_scan     grid = E, block 256: exclusive scan of chunk_counts[e, :] in place; counts[e] = total.
//   sy_route_offsets  grid = 1, block 32: offsets[E+1] and tile_offsets[E+1] (M tiles of `tile_m` rows).
//   sy_route_scatter  grid = chunks, block 256: position of each assignment = offsets[e] + chunk base + rank;
//                     writes gather_index (the token a / K), assignment_of_position and score_of_position (each
//                     skipped when null), position_of_assignment.
// The order is stable (by assignment index within each expert), so the result is the same bytes on every run.
// Experts < 0 in expert_index mean "dropped" and are skipped.
#include "moe_common.cuh"

#define SY_MAX_E_PER_LANE 16
#define SY_CHUNK 256

struct Best {
  float value;
  int index;
};

SY_DEVICE bool better(float v, int i, float w, int j) { return v > w || (v == w && i < j); }

SY_DEVICE Best warp_best(Best b) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    float v = __shfl_xor_sync(0xffffffffu, b.value, off);
    int i = __shfl_xor_sync(0xffffffffu, b.index, off);
    if (better(v, i, b.value, b.index)) {
      b.value = v;
      b.index = i;
    }
  }
  return b;
}

SY_DEVICE float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

SY_DEVICE float warp_max(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Block of 256 threads = 8 tokens. Lane l holds experts l, l + 32, l + 64, ...
extern "C" __global__ void __launch_bounds__(256, 1)
    sy_router_topk(const float *__restrict__ logits, const float *__restrict__ bias, int T, int E, int K, int mode,
                   int groups, int topk_groups, float scaling, int *__restrict__ expert_index,
                   float *__restrict__ scores) {
  __shared__ float group_sel[8][SY_MAX_E_PER_LANE * 32];
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int t = blockIdx.x * 8 + warp;
  if (t >= T) return;
  const float NEG = -__int_as_float(0x7f800000);  // -inf

  float z[SY_MAX_E_PER_LANE];    // logits
  float sel[SY_MAX_E_PER_LANE];  // selection values
  float base[SY_MAX_E_PER_LANE]; // score basis: probability (softmax), logit (mixtral), sigmoid (mode 3)
#pragma unroll
  for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) {
    int e = lane + 32 * i;
    z[i] = e < E ? logits[(long long)t * E + e] : NEG;
  }
  if (mode <= 1) {
    float m = NEG;
#pragma unroll
    for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) m = fmaxf(m, z[i]);
    m = warp_max(m);
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) {
      base[i] = (lane + 32 * i < E) ? __expf(z[i] - m) : 0.0f;
      s += base[i];
    }
    s = warp_sum(s);
    const float inv = 1.0f / s;
#pragma unroll
    for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) {
      base[i] *= inv;
      sel[i] = (lane + 32 * i < E) ? base[i] : NEG;
    }
  } else if (mode == 2) {
#pragma unroll
    for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) {
      base[i] = z[i];
      sel[i] = z[i];
    }
  } else {
#pragma unroll
    for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) {
      int e = lane + 32 * i;
      base[i] = e < E ? sigmoidf_(z[i]) : 0.0f;
      sel[i] = e < E ? base[i] + bias[e] : NEG;
    }
    if (groups > 1) {
      // Group score = sum of the group's top-2 selection values; keep the best topk_groups groups.
      const int per_group = E / groups;
#pragma unroll
      for (int i = 0; i < SY_MAX_E_PER_LANE; ++i)
        if (lane + 32 * i < E) group_sel[warp][lane + 32 * i] = sel[i];
      __syncwarp();
      float my_score = NEG;
      if (lane < groups) {
        float b1 = NEG, b2 = NEG;
        for (int j = 0; j < per_group; ++j) {
          float v = group_sel[warp][lane * per_group + j];
          if (v > b1) {
            b2 = b1;
            b1 = v;
          } else if (v > b2) {
            b2 = v;
          }
        }
        my_score = per_group >= 2 ? b1 + b2 : b1;
      }
      bool keep = false;
      for (int r = 0; r < topk_groups; ++r) {
        Best b;
        b.value = my_score;
        b.index = lane < groups ? lane : 0x7fffffff;
        b = warp_best(b);
        if (lane == b.index) {
          keep = true;
          my_score = NEG;
        }
      }
      // Broadcast which groups were kept: bit g of the ballot.
      const unsigned kept = __ballot_sync(0xffffffffu, keep);
#pragma unroll
      for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) {
        int e = lane + 32 * i;
        if (e < E && !((kept >> (e / per_group)) & 1u)) sel[i] = NEG;
      }
      __syncwarp();
    }
  }

  float chosen_base = 0.0f;  // lane k < K keeps the k-th choice's score basis
  int chosen_index = -1;
  for (int k = 0; k < K; ++k) {
    Best mine;
    mine.value = NEG;
    mine.index = 0x7fffffff;
#pragma unroll
    for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) {
      int e = lane + 32 * i;
      if (e < E && better(sel[i], e, mine.value, mine.index)) {
        mine.value = sel[i];
        mine.index = e;
      }
    }
    Best win = warp_best(mine);
    float win_base = 0.0f;
#pragma unroll
    for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) {
      if (lane + 32 * i == win.index) {
        win_base = base[i];
        sel[i] = NEG;
      }
    }
    win_base = __shfl_sync(0xffffffffu, win_base, win.index & 31);
    if (lane == k) {
      chosen_base = win_base;
      chosen_index = win.index;
    }
  }

  // Scores from the chosen bases (lanes ≥ K contribute nothing).
  float score = 0.0f;
  if (mode == 0) {
    score = chosen_base;
  } else if (mode == 1) {
    float s = warp_sum(lane < K ? chosen_base : 0.0f);
    score = chosen_base / s;
  } else if (mode == 2) {
    float m = warp_max(lane < K ? chosen_base : NEG);
    float e = lane < K ? __expf(chosen_base - m) : 0.0f;
    float s = warp_sum(e);
    score = e / s;
  } else {
    float s = warp_sum(lane < K ? chosen_base : 0.0f);
    score = chosen_base / s * scaling;
  }
  if (lane < K) {
    expert_index[(long long)t * K + lane] = chosen_index;
    scores[(long long)t * K + lane] = score;
  }
}

extern "C" __global__ void __launch_bounds__(SY_CHUNK)
    sy_route_count(const int *__restrict__ expert_index, int assignments, int E, int chunks,
                   int *__restrict__ chunk_counts, int *__restrict__ local_rank) {
  __shared__ int experts[SY_CHUNK];
  extern __shared__ int histogram[];  // E ints
  const int a = blockIdx.x * SY_CHUNK + threadIdx.x;
  const int e = a < assignments ? expert_index[a] : -1;
  experts[threadIdx.x] = e;
  for (int i = threadIdx.x; i < E; i += SY_CHUNK) histogram[i] = 0;
  __syncthreads();
  if (e >= 0) {
    int rank = 0;
    for (int j = 0; j < (int)threadIdx.x; ++j) rank += experts[j] == e;
    local_rank[a] = rank;
    atomicAdd(&histogram[e], 1);  // integer counts: the same result in any order
  }
  __syncthreads();
  for (int i = threadIdx.x; i < E; i += SY_CHUNK) chunk_counts[(long long)i * chunks + blockIdx.x] = histogram[i];
}

extern "C" __global__ void __launch_bounds__(256)
    sy_route_scan(int *__restrict__ chunk_counts, int chunks, int *__restrict__ counts) {
  __shared__ int partial[256];
  int *row = chunk_counts + (long long)blockIdx.x * chunks;
  const int per_thread = (chunks + 255) / 256;
  const int begin = threadIdx.x * per_thread;
  const int end = min(begin + per_thread, chunks);
  int sum = 0;
  for (int i = begin; i < end; ++i) sum += row[i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  // Inclusive Hillis–Steele scan of the 256 partial sums.
  for (int off = 1; off < 256; off <<= 1) {
    int v = threadIdx.x >= off ? partial[threadIdx.x - off] : 0;
    __syncthreads();
    partial[threadIdx.x] += v;
    __syncthreads();
  }
  int running = threadIdx.x > 0 ? partial[threadIdx.x - 1] : 0;
  for (int i = begin; i < end; ++i) {
    int c = row[i];
    row[i] = running;
    running += c;
  }
  if (threadIdx.x == 255) counts[blockIdx.x] = partial[255];
}

extern "C" __global__ void sy_route_offsets(const int *__restrict__ counts, int E, int tile_m, int *__restrict__ offsets,
                                            int *__restrict__ tile_offsets) {
  if (threadIdx.x != 0) return;
  int rows = 0, tiles = 0;
  for (int e = 0; e < E; ++e) {
    offsets[e] = rows;
    tile_offsets[e] = tiles;
    rows += counts[e];
    tiles += (counts[e] + tile_m - 1) / tile_m;
  }
  offsets[E] = rows;
  tile_offsets[E] = tiles;
}

extern "C" __global__ void __launch_bounds__(SY_CHUNK)
    sy_route_scatter(const int *__restrict__ expert_index, const float *__restrict__ scores, int assignments, int K,
                     int chunks, const int *__restrict__ chunk_base, const int *__restrict__ local_rank,
                     const int *__restrict__ offsets, int *__restrict__ gather_index,
                     int *__restrict__ assignment_of_position, float *__restrict__ score_of_position,
                     int *__restrict__ position_of_assignment) {
  const int a = blockIdx.x * SY_CHUNK + threadIdx.x;
  if (a >= assignments) return;
  const int e = expert_index[a];
  if (e < 0) {
    position_of_assignment[a] = -1;
    return;
  }
  const int p = offsets[e] + chunk_base[(long long)e * chunks + blockIdx.x] + local_rank[a];
  gather_index[p] = a / K;
  if (assignment_of_position) assignment_of_position[p] = a;
  if (score_of_position) score_of_position[p] = scores[a];
  position_of_assignment[a] = p;
}

// One group of `rows` rows: the offsets a plain (non-grouped) GEMM needs, set on the device so that a new token
// count never needs a host→device copy. grid = 1, block 1.
extern "C" __global__ void sy_single_group(int rows, int tile_m, int *__restrict__ offsets, int *__restrict__ tile_offsets) {
  offsets[0] = 0;
  offsets[1] = rows;
  tile_offsets[0] = 0;
  tile_offsets[1] = (rows + tile_m - 1) / tile_m;
}

// Expert-parallel dispatch plan, built on the source rank (GPUExpertParallelLayer). Expert e is served by one of
// replica_count[e] replicas at replica_offset[e] in replica_rank / replica_slot; token t takes replica
// (t + source_rank) % count (the host reduces an expert with a replica on the source rank to that one). Chunk c
// holds tokens chunk_begin[c] ..< chunk_begin[c + 1]. Send rows are chunk-major, then by destination rank, then by
// token, each token once per destination rank (R ≤ 64): the order of DispatchPlan on the host.
//   sy_ep_rank_mask:  mask[t] = the ranks serving t's choices (bit r). Grid-stride.
//   sy_ep_rank_rows:  block (r, c), 1024 threads, scans chunk c's tokens in order. write = 0: counts[c·R + r] = its
//                     tokens with bit r. write = 1: the j-th such token gets row row_base[c·R + r] + j:
//                     send_index[row] = t, row_of[t·R + r] = row.
//   sy_ep_token_rows: per token (grid-stride): each of its rows gets the K slot entries (the slot where the choice is
//                     served on that row's rank, else −1) and scores (else 0); rows_of_token[t, :] lists its rows in
//                     ascending order (−1 after); score_position[t·K + k] = row·K + k of the row serving choice k.
SY_DEVICE int ep_replica(int e, int t, int source_rank, const int *__restrict__ replica_offset,
                         const int *__restrict__ replica_count) {
  const int count = replica_count[e];
  return replica_offset[e] + (count == 1 ? 0 : (t + source_rank) % count);
}

extern "C" __global__ void sy_ep_rank_mask(const int *__restrict__ expert_index, int T, int K,
                                           const int *__restrict__ replica_offset, const int *__restrict__ replica_count,
                                           const int *__restrict__ replica_rank, int source_rank,
                                           unsigned long long *__restrict__ mask) {
  for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < T; t += gridDim.x * blockDim.x) {
    unsigned long long m = 0;
    for (int k = 0; k < K; ++k) {
      const int e = expert_index[(long long)t * K + k];
      if (e >= 0) m |= 1ull << replica_rank[ep_replica(e, t, source_rank, replica_offset, replica_count)];
    }
    mask[t] = m;
  }
}

extern "C" __global__ void __launch_bounds__(1024)
    sy_ep_rank_rows(const unsigned long long *__restrict__ mask, const int *__restrict__ chunk_begin, int R, int write,
                    const int *__restrict__ row_base, int *__restrict__ counts, int *__restrict__ send_index,
                    int *__restrict__ row_of) {
  __shared__ int warp_total[32];
  __shared__ int running;
  const int r = blockIdx.x, c = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int begin = chunk_begin[c], end = chunk_begin[c + 1];
  const int base = write ? row_base[c * R + r] : 0;
  if (threadIdx.x == 0) running = 0;
  __syncthreads();
  for (int t0 = begin; t0 < end; t0 += 1024) {
    const int t = t0 + threadIdx.x;
    const bool bit = t < end && ((mask[t] >> r) & 1ull);
    const unsigned ballot = __ballot_sync(0xffffffffu, bit);
    if (lane == 0) warp_total[warp] = __popc(ballot);
    __syncthreads();
    int before = running;  // tokens with the bit before this tile, then before this warp
    for (int w = 0; w < warp; ++w) before += warp_total[w];
    if (bit && write) {
      const int row = base + before + __popc(ballot & ((1u << lane) - 1u));
      send_index[row] = t;
      row_of[(long long)t * R + r] = row;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int tile = 0;
      for (int w = 0; w < 32; ++w) tile += warp_total[w];
      running += tile;
    }
    __syncthreads();
  }
  if (!write && threadIdx.x == 0) counts[c * R + r] = running;
}

extern "C" __global__ void sy_ep_token_rows(const int *__restrict__ expert_index, const float *__restrict__ scores,
                                            int T, int K, int R, const unsigned long long *__restrict__ mask,
                                            const int *__restrict__ row_of, const int *__restrict__ replica_offset,
                                            const int *__restrict__ replica_count, const int *__restrict__ replica_rank,
                                            const int *__restrict__ replica_slot, int source_rank,
                                            int *__restrict__ send_slots, float *__restrict__ send_scores,
                                            int *__restrict__ rows_of_token, int *__restrict__ score_position) {
  for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < T; t += gridDim.x * blockDim.x) {
    const unsigned long long m = mask[t];
    int j = 0;
    for (int r = 0; r < R; ++r) {
      if (!((m >> r) & 1ull)) continue;
      const int row = row_of[(long long)t * R + r];
      rows_of_token[(long long)t * K + j++] = row;
      for (int k = 0; k < K; ++k) {
        const int e = expert_index[(long long)t * K + k];
        int slot = -1;
        if (e >= 0) {
          const int at = ep_replica(e, t, source_rank, replica_offset, replica_count);
          if (replica_rank[at] == r) {
            slot = replica_slot[at];
            score_position[(long long)t * K + k] = row * K + k;
          }
        }
        send_slots[(long long)row * K + k] = slot;
        send_scores[(long long)row * K + k] = slot >= 0 ? scores[(long long)t * K + k] : 0.0f;
      }
    }
    for (; j < K; ++j) rows_of_token[(long long)t * K + j] = -1;
    for (int k = 0; k < K; ++k) {
      if (expert_index[(long long)t * K + k] < 0) score_position[(long long)t * K + k] = -1;
    }
  }
}

// sy_merge_plans: one plan over several token chunks' plans, for weight gradients over all chunks' rows at once (the
//   EP layer's backward). Chunk c's plan: offsets_of[c] → int [E + 1], gather_of[c] → int [positions] (the chunk row
//   of each position), and where its positions start in the pass-wide dH / A′ (position_base[c]) and its rows in the
//   pass-wide X / dO (row_base[c]). Merged, for each expert, chunk 0's positions, then chunk 1's, …:
//   merged_offsets [E + 1], position[m] = position_base[c] + p, row[m] = row_base[c] + gather_c[p].
//   One block of 1024 threads (E ≤ 512); a warp per expert copies its ranges.
extern "C" __global__ void __launch_bounds__(1024)
    sy_merge_plans(const unsigned long long *__restrict__ offsets_of, const unsigned long long *__restrict__ gather_of,
                   const int *__restrict__ position_base, const int *__restrict__ row_base, int chunks, int E,
                   int *__restrict__ merged_offsets, int *__restrict__ position, int *__restrict__ row) {
  __shared__ int start[SY_MAX_E_PER_LANE * 32 + 1];
  for (int e = threadIdx.x; e < E; e += blockDim.x) {
    int total = 0;
    for (int c = 0; c < chunks; ++c) {
      const int *o = (const int *)offsets_of[c];
      total += o[e + 1] - o[e];
    }
    start[e] = total;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int running = 0;
    for (int e = 0; e < E; ++e) {
      const int total = start[e];
      start[e] = running;
      merged_offsets[e] = running;
      running += total;
    }
    merged_offsets[E] = running;
  }
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int e = warp; e < E; e += blockDim.x >> 5) {
    int m = start[e];
    for (int c = 0; c < chunks; ++c) {
      const int *o = (const int *)offsets_of[c];
      const int *g = (const int *)gather_of[c];
      const int begin = o[e], count = o[e + 1] - o[e];
      for (int i = lane; i < count; i += 32) {
        position[m + i] = position_base[c] + begin + i;
        row[m + i] = row_base[c] + g[begin + i];
      }
      m += count;
    }
  }
}

// The scores' gradient alone, for the expert side of the expert-parallel layer (the router lives on the source
// rank): dS[a] = Σ_tiles ds_partial[position(a)·n_tiles + tile] in tile order, 0 where position(a) = −1 (the choice
// is served by another rank). The same sum as sy_router_backward's. Grid-stride over the assignments.
extern "C" __global__ void sy_score_gradient(const int *__restrict__ position_of_assignment,
                                             const float *__restrict__ ds_partial, int n_tiles, int assignments,
                                             float *__restrict__ d_scores) {
  for (int a = blockIdx.x * blockDim.x + threadIdx.x; a < assignments; a += gridDim.x * blockDim.x) {
    const int pos = position_of_assignment[a];
    float ds = 0.0f;
    if (pos >= 0) {
      for (int i = 0; i < n_tiles; ++i) ds += ds_partial[(long long)pos * n_tiles + i];
    }
    d_scores[a] = ds;
  }
}

// Router backward, one warp per token (block 128 = 4 tokens; E ≤ 512, K ≤ 32).
//   dS[t,k] = Σ_tiles ds_partial[position(t,k), tile] (fixed order; 0 for dropped slots), written to d_scores;
//   then dS → dZ through the score rule of `mode` (see sy_router_topk):
//     0: s = p[idx]            → ∂L/∂p_idx = dS
//     1: s = p[idx] / P        → ∂L/∂p_idx = (dS − Σ dS·s) / P
//     2: s = softmax(z[idx])   → dZ_idx = s (dS − Σ dS·s), other experts 0
//     3: s = c·σ[idx] / Σσ     → dZ_idx = (c·dS − Σ dS·s) / Σσ · σ(1 − σ), other experts 0
//   and for modes 0 and 1 through the softmax: dZ_j = p_j (g_j − Σ_chosen g·p).
//   Differences of dS are formed pairwise (Σ_m s_m (dS_k − dS_m)) and 1 − p_k as the sum of the other experts'
//   probabilities, so a saturated router does not cancel its tiny true gradient away in fp32.
//   Router losses (added to dZ when aux_scale or z_scale is non-zero):
//     aux = α·E·Σ_e f_e·P_e with f_e = counts[e] / (T·K) a constant, P_e = mean_t q_te, q = softmax(Z_t) (σ(Z_t)/Σσ
//     for mode 3): ∂/∂q_te = h_e = aux_scale·counts[e] with aux_scale = α·E / (T·K·T); through the softmax
//     dZ_te += q_te (h_e − Σ h·q), through σ/Σσ dZ_te += (h_e − Σ h·q) / Σσ · σ_te (1 − σ_te).
//     z = β·mean_t logsumexp(Z_t)²: dZ_te += z_scale·lse_t·softmax(Z_t)_e with z_scale = 2β / T.
//   dz is bf16 [T, e_padded] with zeros past E (the padded operand of the router GEMMs).
extern "C" __global__ void __launch_bounds__(128)
    sy_router_backward(const float *__restrict__ logits, const int *__restrict__ expert_index,
                       const float *__restrict__ scores, const int *__restrict__ position_of_assignment,
                       const float *__restrict__ ds_partial, int n_tiles, int T, int E, int K, int mode, float scaling,
                       float *__restrict__ d_scores, bf16_t *__restrict__ dz, int e_padded,
                       const int *__restrict__ counts, float aux_scale, float z_scale) {
  __shared__ float prob[4][SY_MAX_E_PER_LANE * 32];
  __shared__ float grad[4][SY_MAX_E_PER_LANE * 32];
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int t = blockIdx.x * 4 + warp;
  if (t >= T) return;
  const float NEG = -__int_as_float(0x7f800000);

  float z[SY_MAX_E_PER_LANE];
#pragma unroll
  for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) {
    const int e = lane + 32 * i;
    z[i] = e < E ? logits[(long long)t * E + e] : NEG;
  }
  // p: softmax over E (modes 0, 1) or σ (mode 3); unused for mode 2.
  float m = NEG;
#pragma unroll
  for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) m = fmaxf(m, z[i]);
  m = warp_max(m);
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < SY_MAX_E_PER_LANE; ++i) {
    const int e = lane + 32 * i;
    if (e < E) {
      const float p = mode == 3 ? sigmoidf_(z[i]) : __expf(z[i] - m);
      prob[warp][e] = p;
      grad[warp][e] = 0.0f;
      if (mode <= 1) sum += p;
    }
  }
  sum = warp_sum(sum);
  __syncwarp();
  if (mode <= 1) {
    const float inv = 1.0f / sum;
    for (int e = lane; e < E; e += 32) prob[warp][e] *= inv;
    __syncwarp();
  }

  int idx = 0;
  float ds = 0.0f, s = 0.0f, p_chosen = 0.0f;
  if (lane < K) {
    idx = expert_index[(long long)t * K + lane];
    s = scores[(long long)t * K + lane];
    const int pos = position_of_assignment[(long long)t * K + lane];
    if (pos >= 0) {
      for (int i = 0; i < n_tiles; ++i) ds += ds_partial[(long long)pos * n_tiles + i];
    }
    d_scores[(long long)t * K + lane] = ds;
    p_chosen = idx >= 0 ? prob[warp][idx] : 0.0f;
  }
  // Differences are formed pairwise (Σ_m s_m (dS_k − dS_m) rather than dS_k − Σ_m s_m dS_m), so that a saturated
  // router (one score ≈ 1) does not cancel away the tiny true gradient in fp32.
  const bool chosen = lane < K && idx >= 0;
  float pair = 0.0f;  // Σ_m s_m (dS_k − dS_m)
  for (int m = 0; m < K; ++m) {
    const float ds_m = __shfl_sync(0xffffffffu, ds, m);
    const float s_m = __shfl_sync(0xffffffffu, s, m);
    pair += s_m * (ds - ds_m);
  }
  float g = 0.0f;  // ∂L/∂p of this lane's expert (modes 0, 1) or its dZ (modes 2, 3)
  if (mode == 0) {
    g = chosen ? ds : 0.0f;
  } else if (mode == 1) {
    const float P = warp_sum(chosen ? p_chosen : 0.0f);
    g = chosen ? pair / P : 0.0f;
  } else if (mode == 2) {
    g = chosen ? s * pair : 0.0f;
  } else {
    const float S = warp_sum(chosen ? p_chosen : 0.0f);
    const float z_chosen = chosen ? logits[(long long)t * E + idx] : 0.0f;
    g = chosen ? pair / S * p_chosen * sigmoidf_(-z_chosen) : 0.0f;
  }
  // Softmax Jacobian (modes 0, 1): dZ_j = p_j (g_j − G), G = Σ_chosen g·p. For a chosen expert k this is
  // p_k (g_k (1 − p_k) − Σ_{m≠k} g_m p_m), with 1 − p_k summed over the other experts, again without cancellation.
  const float G = warp_sum(chosen ? g * p_chosen : 0.0f);
  if (mode <= 1) {
    float others = 0.0f;  // Σ_{m≠k} g_m p_m
    for (int m = 0; m < K; ++m) {
      const float gp_m = __shfl_sync(0xffffffffu, chosen ? g * p_chosen : 0.0f, m);
      if (m != lane) others += gp_m;
    }
    float rest_mine = 0.0f;  // this lane's share of 1 − p of slot k, for every k in turn
    float one_minus_p = 0.0f;
    for (int k = 0; k < K; ++k) {
      const int idx_k = __shfl_sync(0xffffffffu, idx, k);
      rest_mine = 0.0f;
      for (int e = lane; e < E; e += 32) rest_mine += e == idx_k ? 0.0f : prob[warp][e];
      const float rest = warp_sum(rest_mine);
      if (lane == k) one_minus_p = rest;
    }
    if (chosen) g = p_chosen * (g * one_minus_p - others);
  }
  if (mode <= 1) {
    for (int e = lane; e < E; e += 32) grad[warp][e] = -prob[warp][e] * G;  // unchosen experts
  }
  __syncwarp();
  if (chosen) grad[warp][idx] = g;
  __syncwarp();
  if (aux_scale != 0.0f || z_scale != 0.0f) {
    // Softmax of the whole row (m is its maximum), lse, and the aux loss's q (softmax, or σ / Σσ for mode 3). The
    // logits are read again (cached) rather than kept in registers through the kernel; fast divisions (2 ulp)
    // keep the IEEE division's slow-path call, and its stack spills, out of this kernel.
    const float *row = logits + (long long)t * E;
    float sum_exp = 0.0f, sum_sigma = 0.0f;
    for (int e = lane; e < E; e += 32) {
      sum_exp += __expf(row[e] - m);
      sum_sigma += __fdividef(1.0f, 1.0f + __expf(-row[e]));  // σ
    }
    sum_exp = warp_sum(sum_exp);
    sum_sigma = warp_sum(sum_sigma);
    const float lse = m + __logf(sum_exp);
    const float inv_sigma = __fdividef(1.0f, sum_sigma);
    float hq = 0.0f;  // Σ_e h_e q_e
    for (int e = lane; e < E; e += 32) {
      const float q = mode == 3 ? __fdividef(1.0f, 1.0f + __expf(-row[e])) * inv_sigma : __expf(row[e] - lse);
      hq += aux_scale * (float)counts[e] * q;
    }
    hq = warp_sum(hq);
    for (int e = lane; e < E; e += 32) {
      const float softmax = __expf(row[e] - lse);
      const float h = aux_scale * (float)counts[e];
      float add = z_scale * lse * softmax;
      if (mode == 3) {
        const float sigma = __fdividef(1.0f, 1.0f + __expf(-row[e]));
        add += (h - hq) * inv_sigma * sigma * (1.0f - sigma);
      } else {
        add += softmax * (h - hq);
      }
      grad[warp][e] += add;
    }
    __syncwarp();
  }
  for (int e = lane; e < e_padded; e += 32) {
    float dze = 0.0f;
    if (e < E) dze = grad[warp][e];
    dz[(long long)t * e_padded + e] = float_to_bf16(dze);
  }
}
