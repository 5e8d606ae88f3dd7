// moe_weight_grad.cu — weight-gradient grouped GEMMs whose reduction runs over each expert's token rows.
//
// out[g][m][n] = Σ_{r in rows of group g} A[src_a(r)][m] · B[src_b(r)][n]   (fp32 accumulation; fp32 result, or bf16
//                                                                           rounded once from it: the _bf16 kernels)
//   rows of group g: offsets[g] ..< offsets[g+1]; src_x(r) = gather_x[r] when gather_x is non-null, else r.
//   dW2[e] = A'ᵀ·dO[gather]:  A = A' [rows, n],  B = dO [T, d] gathered,  M = n, N = d.
//   dW1[e] = X[gather]ᵀ·dH:   A = X [T, d] gathered,  B = dH [rows, 2n],  M = d, N = 2n.
//   dWr   = Xᵀ·dZ:            one group of T rows,  M = d, N = E (dZ padded to a multiple of 64 columns).
// Both operands are read row by row (each row holds 64-wide M or N chunks), so they land in shared memory
// MN-major and wgmma reads them with its transpose flags: no transposed copy of anything exists.
// The gather runs along the reduction, inside the load stage.
//
// Launch contract: persistent, grid = number of SMs (tiles: groups × ceil(M/128) × ceil(N/BN)), block 256;
// dynamic shared memory 4 × (16 KiB + BN × 128 B) + 1 KiB (132096 B for BN 128, 197632 B for BN 256);
// kernels sy_gemm_weight_grad_128 / _256, and sy_gemm_weight_grad_tma_128 / _256 with two more parameters, the tensor
// maps of A ([rows, M]) and B ([rows, N]), 64 × 64 boxes with the 128-byte swizzle, for the operands not gathered
// (plus one 8-byte mbarrier per stage of static shared memory);
// the `_bf16` kernels of each (sy_gemm_weight_grad_bf16_256, sy_gemm_weight_grad_tma_bf16_256, ...) write bf16;
// M % 64 == 0, N % 64 == 0, lda/ldb in elements with 16-byte aligned rows; ld_out = the output row stride.
// Every output element of every group is written, zeros for an empty group. Deterministic: fixed reduction order.
#include "moe_common.cuh"

#define SY_WG_A_BYTES (2 * 64 * 128)  // two 64-wide M chunks × 64 rows × 128 B

struct WeightGradTile {
  int group, m0, n0, row_begin, row_end, num_k;
};

// Tiles of a group in order: N tiles fastest when A is gathered or nothing is (dW1, dWr), M tiles fastest when only B
// is (dW2, M_FASTEST). Concurrent blocks take consecutive tiles, so the blocks that read the same gathered rows (the
// expensive operand: scattered rows, from DRAM) run side by side and share them in L2 (v18). With N fastest, dW2's
// M = n tiles that share a slice of dO were N / BN tiles apart: 40% more DRAM bytes than compulsory at 30B-n1024.
// SY_WG_N_FASTEST (an experiment define) keeps the order before v18.
template <int BN, bool M_FASTEST = false>
SY_DEVICE WeightGradTile locate_weight_grad_tile(int tile, int M, int N, const int *__restrict__ offsets) {
  const int m_tiles = (M + 127) / 128, n_tiles = (N + BN - 1) / BN;
  WeightGradTile t;
  t.group = tile / (m_tiles * n_tiles);
  const int r = tile - t.group * m_tiles * n_tiles;
#ifdef SY_WG_N_FASTEST
  constexpr bool m_fastest = false;
#else
  constexpr bool m_fastest = M_FASTEST;
#endif
  if (m_fastest) {
    t.m0 = r % m_tiles * 128;
    t.n0 = r / m_tiles * BN;
  } else {
    t.m0 = r / n_tiles * 128;
    t.n0 = r % n_tiles * BN;
  }
  t.row_begin = offsets[t.group];
  t.row_end = offsets[t.group + 1];
  t.num_k = (t.row_end - t.row_begin + 63) / 64;
  return t;
}

// The accumulator fragments' own stores, for rows the staged paths cannot take: this lane's rows m_lo and m_lo + 8,
// columns n0 + 8 j + 2 (lane % 4) and the next, as one pair store where the rows keep the pair's alignment (an even
// row stride and a pair-aligned group base), else one by one.
SY_DEVICE void store_pair(float *dst, float lo, float hi) { *(float2 *)dst = make_float2(lo, hi); }
SY_DEVICE void store_pair(bf16_t *dst, float lo, float hi) { *(u32 *)dst = pack_bf16x2(lo, hi); }
SY_DEVICE void store_one(float *dst, float v) { *dst = v; }
SY_DEVICE void store_one(bf16_t *dst, float v) { *dst = float_to_bf16(v); }
template <int BN, typename T>
SY_DEVICE void fragment_stores(const float (&acc)[BN / 2], T *out_g, int m_lo, int n0, int M, int N, int ld_out,
                               int lane) {
  const bool pairs = (ld_out & 1) == 0 && ((unsigned long long)out_g % (2 * sizeof(T))) == 0;
#pragma unroll
  for (int j = 0; j < BN / 8; ++j) {
    const int col = n0 + 8 * j + 2 * (lane & 3);
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int m = m_lo + 8 * half;
      if (m < M) {
        T *dst = out_g + (long long)m * ld_out + col;
        if (pairs && col + 1 < N) {
          store_pair(dst, acc[4 * j + 2 * half], acc[4 * j + 2 * half + 1]);
        } else {
          if (col < N) store_one(dst, acc[4 * j + 2 * half]);
          if (col + 1 < N) store_one(dst + 1, acc[4 * j + 2 * half + 1]);
        }
      }
    }
  }
}

// STAGES shared-memory stages; W wgmma groups left in flight at the end of a k-step (0 or 1). Stages kb − W .. kb are
// being read, so loads run AHEAD = STAGES − 1 − W stages ahead of the wgmma.
// GA / GB: whether gather_a / gather_b are used (compile-time, so the k-loop carries no null tests).
// TMA: the operands that are not gathered come by TMA (`a_map` / `b_map`: the operand as [rows, M] / [rows, N] bf16
// in 64 × 64 boxes with the 128-byte swizzle, one box per 64-wide chunk), issued by thread 0 onto the stage's
// mbarrier; a box's rows past the group's end belong to the next group (or to nothing), so they are zeroed in shared
// memory before the wgmma reads them, as the cp.async path zero-fills them.
// OUT_BF16: the result is rounded once to bf16 (the parameters' dtype, as PyTorch's autograd returns it for bf16
// weights) instead of stored as fp32: half the bytes.
template <int BN, int STAGES, int W, bool GA, bool GB, bool TMA = false, bool OUT_BF16 = false>
SY_DEVICE void weight_grad(const bf16_t *__restrict__ a, long long lda, const int *__restrict__ gather_a,
                           const bf16_t *__restrict__ b, long long ldb, const int *__restrict__ gather_b, int M, int N,
                           int groups, const int *__restrict__ offsets, void *__restrict__ out_raw, int ld_out,
                           const SyTensorMap *a_map = nullptr, const SyTensorMap *b_map = nullptr) {
  constexpr bool TMA_A = TMA && !GA, TMA_B = TMA && !GB;
  constexpr int B_CHUNKS = BN / 64;  // 64-wide N chunks of the B tile
  constexpr int AHEAD = STAGES - 1 - W;
  constexpr int STAGE_BYTES = SY_WG_A_BYTES + B_CHUNKS * 64 * 128;
  extern __shared__ unsigned char smem_raw[];
  unsigned char *smem = (unsigned char *)(((unsigned long long)smem_raw + 1023) & ~1023ull);
  const u32 smem_base = smem_addr(smem);
  const int tid = threadIdx.x;
  const int warpgroup = tid >> 7;
  const int lane = tid & 31;
  const int warp_in_group = (tid >> 5) & 3;
  const int total = groups * ((M + 127) / 128) * ((N + BN - 1) / BN);
  // Thread → (row, chunk): rows tid/8 and 32 + tid/8 of each 64-row stage, 16-byte chunk tid % 8, every 64-wide
  // chunk of the A and B tiles.
  const int chunk = tid & 7;
  const int r_lo = tid >> 3;

  // Source rows of this thread's two rows of stage kb (the gather's indices). Loaded one stage ahead of their
  // cp.async (see the main loop), so that no wgmma waits behind a dependent index load.
  struct Sources {
    int a[2], b[2];  // −1: past the group's rows
  };
  auto sources = [&](const WeightGradTile &t, int kb) {
    Sources s;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int row = t.row_begin + kb * 64 + r_lo + 32 * i;
      const bool ok = row < t.row_end;
      s.a[i] = ok ? (GA ? gather_a[row] : row) : -1;
      s.b[i] = ok ? (GB ? gather_b[row] : row) : -1;
    }
    return s;
  };
  // Per thread and tile, constant over the reduction: the swizzled shared-memory offsets of its two rows, its
  // column in A and B, and which 64-wide chunks exist (M, N % 64 == 0). A k-step then costs one address product per
  // row and operand, and each cp.async only adds a constant.
  const u32 sw[2] = {swizzle128(r_lo, chunk), swizzle128(r_lo + 32, chunk)};
  __shared__ alignas(8) u64 full_bar[STAGES];
  auto load_stage = [&](const WeightGradTile &t, int kb, const Sources &src) {
    const u32 stage = smem_base + (kb % STAGES) * STAGE_BYTES;
    if constexpr (TMA_A || TMA_B) {
      if (tid == 0) {
        const u32 bar = smem_addr(&full_bar[kb % STAGES]);
        mbar_expect_tx(bar, (TMA_A ? 2 * 64 * 128 : 0) + (TMA_B ? B_CHUNKS * 64 * 128 : 0));
        const int row0 = t.row_begin + kb * 64;
        if (TMA_A) {
          for (int half = 0; half < 2; ++half) tma_load_2d(stage + half * (64 * 128), a_map, t.m0 + 64 * half, row0, bar);
        }
        if (TMA_B) {
          for (int c = 0; c < B_CHUNKS; ++c) tma_load_2d(stage + SY_WG_A_BYTES + c * (64 * 128), b_map, t.n0 + 64 * c, row0, bar);
        }
      }
    }
    const int a_col = t.m0 + chunk * 8, b_col = t.n0 + chunk * 8;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const bool ok = src.a[i] >= 0;
      const bf16_t *pa = ok ? a + (long long)src.a[i] * lda + a_col : a;
      const bf16_t *pb = ok ? b + (long long)src.b[i] * ldb + b_col : b;
      if constexpr (!TMA_A) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const bool a_ok = ok && t.m0 + 64 * half < M;
          cp_async_16(stage + half * (64 * 128) + sw[i], a_ok ? pa + 64 * half : a, a_ok ? 16u : 0u);
        }
      }
      if constexpr (!TMA_B) {
#pragma unroll
        for (int c = 0; c < B_CHUNKS; ++c) {
          const bool b_ok = ok && t.n0 + 64 * c < N;
          cp_async_16(stage + SY_WG_A_BYTES + c * (64 * 128) + sw[i], b_ok ? pb + 64 * c : b, b_ok ? 16u : 0u);
        }
      }
    }
  };
  // Stages 0 .. STAGES − 3 of tile t, and the sources of the stage after them (returned).
  auto load_prologue = [&](const WeightGradTile &t, bool valid) {
#pragma unroll
    for (int s = 0; s < AHEAD; ++s) {
      if (valid && s < t.num_k) load_stage(t, s, sources(t, s));
      cp_async_commit();
    }
    return sources(t, valid ? AHEAD : t.num_k);
  };

  // Persistent: each block walks tiles blockIdx.x, + gridDim.x, ... (expert-major, so concurrent blocks share an
  // expert's rows in L2). The next tile's first stages are requested before this tile's epilogue, so its stores
  // overlap those loads.
  int tile = blockIdx.x;
  if (tile >= total) return;
  u32 phases = 0;  // TMA: the parity each stage's barrier completes next (the same in every thread)
  if constexpr (TMA_A || TMA_B) {
    if (tid == 0) {
      for (int s = 0; s < STAGES; ++s) mbar_init(smem_addr(&full_bar[s]), 1);
      fence_proxy_async();
    }
    __syncthreads();
  }
  // Stage-0 descriptors of this warpgroup's 64-wide M chunk of A and of the B tile.
  const u64 desc_a0 = wgmma_desc_mn_major_sw128(smem_base + warpgroup * (64 * 128), 64 * 128);
  const u64 desc_b0 = wgmma_desc_mn_major_sw128(smem_base + SY_WG_A_BYTES, 64 * 128);
  WeightGradTile cur = locate_weight_grad_tile<BN, GB && !GA>(tile, M, N, offsets);
  Sources ahead = load_prologue(cur, true);  // sources of stage kb + STAGES − 2
  while (true) {
    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;
    for (int kb = 0; kb < cur.num_k; ++kb) {
      cp_async_wait<AHEAD - 1>();
      if constexpr (TMA_A || TMA_B) {
        const int s = kb % STAGES;
        mbar_wait(smem_addr(&full_bar[s]), (phases >> s) & 1u);
        phases ^= 1u << s;
        // Rows of the boxes past the group's end: zero, as the cp.async path leaves them.
        const int valid = cur.row_end - (cur.row_begin + kb * 64);
        if (valid < 64) {
          const u32 stage = smem_base + s * STAGE_BYTES;
#pragma unroll
          for (int i = 0; i < 2; ++i) {
            if (r_lo + 32 * i >= valid) {
              if (TMA_A) {
                for (int half = 0; half < 2; ++half) st_shared_zero16(stage + half * (64 * 128) + sw[i]);
              }
              if (TMA_B) {
                for (int c = 0; c < B_CHUNKS; ++c) st_shared_zero16(stage + SY_WG_A_BYTES + c * (64 * 128) + sw[i]);
              }
            }
          }
        }
      }
      fence_proxy_async();
      __syncthreads();
      // The cp.async of stage kb + 2 (its sources were loaded an iteration ago), then the indices of stage kb + 3,
      // whose latency the wgmma of this stage hides.
      if (kb + AHEAD < cur.num_k) load_stage(cur, kb + AHEAD, ahead);
      cp_async_commit();
      ahead = sources(cur, kb + AHEAD + 1);
      // Descriptors: the start-address field is (address >> 4) in its low 14 bits and shared memory lies below
      // 256 KiB, so a stage's or k-slice's byte offset is added to the stage-0 descriptor as offset >> 4.
      const u64 stage_off = (u64)((kb % STAGES) * STAGE_BYTES) >> 4;
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        wgmma_step<BN, true>(acc, desc_a0 + stage_off + kk * (2048 >> 4), desc_b0 + stage_off + kk * (2048 >> 4),
                             (kb > 0 || kk > 0) ? 1 : 0);
      }
      wgmma_commit();
      wgmma_wait<W>();
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);
    }
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);

    const int next_tile = tile + gridDim.x;
    const bool has_next = next_tile < total;
    const WeightGradTile next = has_next ? locate_weight_grad_tile<BN, GB && !GA>(next_tile, M, N, offsets) : cur;
    __syncthreads();  // every warp is done reading this tile's shared memory
    ahead = load_prologue(next, has_next);

    // The ring stages the next tile's prologue leaves free (AHEAD, AHEAD + 1) hold the staged rows.
    constexpr bool STAGED = AHEAD + 2 <= STAGES && 64 * 128 * 4 <= STAGE_BYTES;
    const int r_frag = warp_in_group * 16 + (lane >> 2);  // this lane's fragment rows: r_frag, r_frag + 8
    const u32 staging = smem_base + (AHEAD + warpgroup) * STAGE_BYTES;
    if constexpr (OUT_BF16) {
      bf16_t *out_g = (bf16_t *)out_raw + (long long)cur.group * M * ld_out;
      if (STAGED && (ld_out & 7) == 0 && ((unsigned long long)out_raw & 15) == 0) {
        // Staged as the fp32 rows below, in one pass: a row of BN bf16 is BN / 8 16-byte chunks, chunk c at
        // c ^ (r & 7) (a warp's fragment writes, 8 rows × 16 bytes, then cover all 32 banks once), read back and
        // stored 16 bytes a lane, whole rows.
        constexpr int CHUNKS = BN / 8, ROW_BYTES = BN * 2, ROWS_PER_READ = 32 / CHUNKS;
#pragma unroll
        for (int j = 0; j < CHUNKS; ++j) {
#pragma unroll
          for (int half = 0; half < 2; ++half) {
            const int r = r_frag + 8 * half;
            const u32 at = staging + r * ROW_BYTES + ((j ^ (r & 7)) << 4) + (lane & 3) * 4;
            asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(at), "r"(pack_bf16x2(acc[4 * j + 2 * half],
                                                                                  acc[4 * j + 2 * half + 1]))
                         : "memory");
          }
        }
        __syncwarp();
        const int c = lane % CHUNKS, col = cur.n0 + 8 * c;
#pragma unroll 4
        for (int rr = 0; rr < 16; rr += ROWS_PER_READ) {
          const int r = warp_in_group * 16 + rr + lane / CHUNKS, m = cur.m0 + warpgroup * 64 + r;
          uint4 v;
          asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];\n"
                       : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                       : "r"(staging + r * ROW_BYTES + ((c ^ (r & 7)) << 4))
                       : "memory");
          if (m < M && col < N) *(uint4 *)(out_g + (long long)m * ld_out + col) = v;
        }
      } else {
        // Fragment stores, where the rows lack the 16-byte alignment the staged path needs.
        fragment_stores<BN>(acc, out_g, cur.m0 + warpgroup * 64 + r_frag, cur.n0, M, N, ld_out, lane);
      }
    } else {
      float *out_g = (float *)out_raw + (long long)cur.group * M * ld_out;
      if (STAGED && (ld_out & 3) == 0 && ((unsigned long long)out_raw & 15) == 0) {
        // Staged: each warp's 16 rows of the tile go through shared memory, in passes of 128 columns, and leave as
        // whole 512-byte row segments (one 16-byte store per lane, four full lines a warp instruction) instead of
        // the fragments' 8 rows × 32 bytes. Warpgroup w stages its 64 rows × 512 bytes in ring stage AHEAD + w: the
        // prologue above filled stages 0 .. AHEAD − 1, and the next tile first loads stage AHEAD at its k-step 0,
        // after a barrier that every warp reaches only when done here (and after the fence that orders these writes
        // before that TMA). A warp reads back only the rows it wrote, so it syncs only with itself. Staged row r
        // holds its 32-byte chunk c at c ^ (r & 7): a warp's fragment writes (8 rows, one chunk each) then hit 8
        // different chunks of 32 banks' span, two wavefronts as the 256 bytes need anyway.
        constexpr int PASS_COLS = 128, PASSES = BN / PASS_COLS, ROW_BYTES = PASS_COLS * 4;
#pragma unroll
        for (int pass = 0; pass < PASSES; ++pass) {
          if (pass > 0) __syncwarp();  // this warp's reads of the previous pass are done
#pragma unroll
          for (int jj = 0; jj < PASS_COLS / 8; ++jj) {
#pragma unroll
            for (int half = 0; half < 2; ++half) {
              const int r = r_frag + 8 * half, j = pass * (PASS_COLS / 8) + jj;
              const u32 at = staging + r * ROW_BYTES + ((jj ^ (r & 7)) << 5) + (lane & 3) * 8;
              asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(at), "f"(acc[4 * j + 2 * half]),
                           "f"(acc[4 * j + 2 * half + 1]) : "memory");
            }
          }
          __syncwarp();
          const int col = cur.n0 + pass * PASS_COLS + 4 * lane;
#pragma unroll 4
          for (int rr = 0; rr < 16; ++rr) {
            const int r = warp_in_group * 16 + rr, m = cur.m0 + warpgroup * 64 + r;
            float4 v;
            asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];\n"
                         : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
                         : "r"(staging + r * ROW_BYTES + (((lane >> 1) ^ (r & 7)) << 5) + (lane & 1) * 16)
                         : "memory");
            if (m < M && col < N) *(float4 *)(out_g + (long long)m * ld_out + col) = v;
          }
        }
      } else {
        // Fragment stores, where the rows lack the 16-byte alignment the staged path needs.
        fragment_stores<BN>(acc, out_g, cur.m0 + warpgroup * 64 + r_frag, cur.n0, M, N, ld_out, lane);
      }
    }
    if (!has_next) break;
    tile = next_tile;
    cur = next;
  }
}

// One kernel per width and output type, with cp.async for every operand (_128 / _256) or TMA for those not gathered
// (_tma_128 / _tma_256, with the maps of A as [rows, M] and B as [rows, N]; the map of a gathered operand is not read
// and may be anything); fp32 results, or bf16 ones from the `_bf16` kernels (sy_gemm_weight_grad_bf16_256, ...). The
// gather pattern (dW2 gathers B, dW1 gathers A, dWr neither, merged plans both) picks an instantiation.
#define SY_WG_MAPS , const __grid_constant__ SyTensorMap a_map, const __grid_constant__ SyTensorMap b_map
#define SY_WG_CALL(GA, GB)                                                                                             \
  weight_grad<BN, 4, 1, GA, GB, TMA, OUT_BF16>(a, lda, gather_a, b, ldb, gather_b, M, N, groups, offsets, out, ld_out, \
                                               a_map_ptr, b_map_ptr)
#define SY_WEIGHT_GRAD(NAME, BN_, TMA_, OUT_BF16_, MAP_PARAMS, A_MAP, B_MAP)                                          \
  extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                                         \
      const bf16_t *__restrict__ a, long long lda, const int *__restrict__ gather_a, const bf16_t *__restrict__ b,   \
      long long ldb, const int *__restrict__ gather_b, int M, int N, int groups, const int *__restrict__ offsets,    \
      void *__restrict__ out, int ld_out MAP_PARAMS) {                                                               \
    constexpr int BN = BN_;                                                                                          \
    constexpr bool TMA = TMA_, OUT_BF16 = OUT_BF16_;                                                                 \
    const SyTensorMap *a_map_ptr = A_MAP, *b_map_ptr = B_MAP;                                                        \
    if (gather_a && gather_b)                                                                                        \
      SY_WG_CALL(true, true);                                                                                        \
    else if (gather_a)                                                                                               \
      SY_WG_CALL(true, false);                                                                                       \
    else if (gather_b)                                                                                               \
      SY_WG_CALL(false, true);                                                                                       \
    else                                                                                                             \
      SY_WG_CALL(false, false);                                                                                      \
  }

SY_WEIGHT_GRAD(sy_gemm_weight_grad_128, 128, false, false, , nullptr, nullptr)
SY_WEIGHT_GRAD(sy_gemm_weight_grad_256, 256, false, false, , nullptr, nullptr)
SY_WEIGHT_GRAD(sy_gemm_weight_grad_tma_128, 128, true, false, SY_WG_MAPS, &a_map, &b_map)
SY_WEIGHT_GRAD(sy_gemm_weight_grad_tma_256, 256, true, false, SY_WG_MAPS, &a_map, &b_map)
SY_WEIGHT_GRAD(sy_gemm_weight_grad_bf16_128, 128, false, true, , nullptr, nullptr)
SY_WEIGHT_GRAD(sy_gemm_weight_grad_bf16_256, 256, false, true, , nullptr, nullptr)
SY_WEIGHT_GRAD(sy_gemm_weight_grad_tma_bf16_128, 128, true, true, SY_WG_MAPS, &a_map, &b_map)
SY_WEIGHT_GRAD(sy_gemm_weight_grad_tma_bf16_256, 256, true, true, SY_WG_MAPS, &a_map, &b_map)

// Deterministic split-K for one-group products with few output tiles (dWr = Xᵀ·dZ): the rows are cut into `splits`
// groups (offsets written here, on the device), each writes its own partial [M, ld_out], and sy_sum_partials adds
// them in ascending order. grid = 1, block 1.
extern "C" __global__ void sy_split_rows(int rows, int splits, int *__restrict__ offsets) {
  for (int s = 0; s <= splits; ++s) offsets[s] = (int)((long long)rows * s / splits);
}

// out[i] = Σ_s partials[s · count + i], s ascending. Grid-stride.
extern "C" __global__ void sy_sum_partials(const float *__restrict__ partials, int splits, long long count,
                                           float *__restrict__ out) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < splits; ++s) acc += partials[(long long)s * count + i];
    out[i] = acc;
  }
}
