// moe_grouped_gemm.cu — persistent grouped GEMM on Hopper (wgmma, sm_90a) with a fused row gather.
//
// C[rows, N] = A[rows, K] · B[g]ᵀ for each group g (an expert), where the rows of group g are
// offsets[g] ..< offsets[g+1] and B[g] is stored K-major: [N, K] row-major (Switchyard packs weights so).
// Row r of A is read from `a + gather[r] * lda` when `gather` is non-null (the token gather of the
// up-projection: no gathered copy of X exists), else from `a + r * lda`.
//
// Launch contract (all kernels here):
//   block 256 threads (two consumer warpgroups, 64 rows each), 1 block per SM, grid = number of SMs (persistent);
//   dynamic shared memory = GemmShape<BN>::smem (164864 B for BN 128, 197632 B for BN 256; raise the limit first);
//   K % 64 == 0; N % 128 == 0 for the SwiGLU kernel, N even for the bf16 kernel, any N for fp32;
//   lda and K in elements, rows 16-byte aligned;
//   tile_offsets[g] = Σ_{h<g} ceil(count_h / 128): the M tiles of each group, tile_offsets[groups] = total.
//   Sizes are run-time arguments: a new token count never needs a new compile, and the host never reads counts.
// Tiles: 128 (rows) × BN (N) × 64 (K) with BN = 128 (5-stage cp.async pipeline) or 256 (4 stages); one wgmma group
// kept in flight. Each kernel below exists in both widths (suffix _128 / _256); the host picks per shape.
// What is written: only rows < offsets[g+1] and columns < N of each tile; nothing else.
#include "moe_common.cuh"

#define SY_BM 128
#define SY_BK 64
#define SY_TILE_BYTES (SY_BM * SY_BK * 2)
#define SY_MC_MAX_GROUPS 1024
// Pipeline depth and shared memory per tile width: stages × (A tile + B tile) + 1 KiB for alignment.
template <int BN> struct GemmShape {
  static constexpr int stages = BN == 256 ? 4 : 5;
  static constexpr int b_bytes = BN * SY_BK * 2;
  static constexpr int stage_bytes = SY_TILE_BYTES + b_bytes;
  static constexpr int smem = stages * stage_bytes + 1024;
  // The multicast path adds the full/empty barriers (8 B each per stage) and the pair-tile offsets of up to
  // SY_MC_MAX_GROUPS groups.
  static constexpr int mc_extra = 16 * stages + 4 * (SY_MC_MAX_GROUPS + 1);
  static constexpr int smem_mc = smem + (mc_extra + 127) / 128 * 128;
};

enum Epilogue { EPI_SWIGLU = 0, EPI_BF16 = 1, EPI_F32 = 2, EPI_DSWIGLU = 3 };

struct TileCoord {
  int group, row_begin, row_end, n0;
};

// Finds the group that owns M tile `mt` (binary search over tile_offsets) and the tile's row range.
template <int BN>
SY_DEVICE TileCoord locate_tile(int tile, int num_n_tiles, const int *__restrict__ offsets,
                                const int *__restrict__ tile_offsets, int groups) {
  int mt = tile / num_n_tiles;
  int nt = tile - mt * num_n_tiles;
  int lo = 0, hi = groups - 1;
  while (lo < hi) {  // largest g with tile_offsets[g] <= mt
    int mid = (lo + hi + 1) >> 1;
    if (tile_offsets[mid] <= mt) lo = mid; else hi = mid - 1;
  }
  TileCoord c;
  c.group = lo;
  c.row_begin = offsets[lo] + (mt - tile_offsets[lo]) * SY_BM;
  c.row_end = offsets[lo + 1];
  c.n0 = nt * BN;
  return c;
}

// Multicast path: work unit `tile` is a pair of M tiles (2p, 2p + 1 of one group, rank r of the cluster taking 2p + r)
// and one N tile; pair_offsets (shared memory) are the prefix sums of ceil(m tiles / 2). A rank whose M tile lies
// past the group's end gets rows ≥ row_end: it loads zeros, stores nothing, and still takes its half of B.
template <int BN>
SY_DEVICE TileCoord locate_pair_tile(int tile, int num_n_tiles, const int *__restrict__ offsets, const int *pair_offsets,
                                     int groups, int rank) {
  int mp = tile / num_n_tiles;
  int nt = tile - mp * num_n_tiles;
  int lo = 0, hi = groups - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) >> 1;
    if (pair_offsets[mid] <= mp) lo = mid; else hi = mid - 1;
  }
  TileCoord c;
  c.group = lo;
  c.row_begin = offsets[lo] + (2 * (mp - pair_offsets[lo]) + rank) * SY_BM;
  c.row_end = offsets[lo + 1];
  c.n0 = nt * BN;
  return c;
}

// MC (BN 256 only): launched in clusters of two CTAs that work on the two M tiles of a pair with the same B tile.
// B comes by TMA (`b_map`, a 2-D map over [groups · N, K] with 128 × 64 boxes and the 128B swizzle): each CTA
// loads one half of the B tile and multicasts it to both, so L2 serves each B tile once per pair instead of
// twice. A stays a cp.async gather. Stage s has a full barrier (thread 0's expect_tx, the TMA bytes of both
// halves) and an empty barrier (one arrival from each warpgroup of either CTA once its wgmmas on the stage are
// done); a CTA's thread 0 writes a stage in both CTAs only after all four emptied it, and issues the TMA after its
// own wgmmas of the step, so that the wait for the peer overlaps them.
template <int EPI, int BN, bool MC = false>
SY_DEVICE void grouped_gemm(const bf16_t *__restrict__ a, long long lda, const int *__restrict__ gather,
                            const bf16_t *__restrict__ b, int N, int K, const int *__restrict__ offsets,
                            const int *__restrict__ tile_offsets, int groups, void *__restrict__ out0,
                            void *__restrict__ out1, const float *__restrict__ row_scale, int ld_out,
                            const bf16_t *__restrict__ aux = nullptr, float *__restrict__ partial = nullptr,
                            const TmaMap *b_map = nullptr) {
  static_assert(!MC || BN == 256, "the multicast path splits a 256-wide B tile into two TMA boxes of 128 rows");
  extern __shared__ unsigned char smem_raw[];
  // wgmma's 128B swizzle needs 1024-byte aligned tiles.
  unsigned char *smem = (unsigned char *)(((unsigned long long)smem_raw + 1023) & ~1023ull);
  const u32 smem_base = smem_addr(smem);

  const int tid = threadIdx.x;
  const int warpgroup = tid >> 7;
  const int lane = tid & 31;
  const int warp_in_group = (tid >> 5) & 3;
  constexpr int STAGES = GemmShape<BN>::stages;
  constexpr int STAGE_BYTES = GemmShape<BN>::stage_bytes;
  constexpr int B_ROWS = BN / 32;  // B rows each thread copies per stage
  const int num_n_tiles = (N + BN - 1) / BN;
  const int num_k = K / SY_BK;

  // Multicast state: barriers after the stages, then the pair-tile offsets.
  const u32 bars = smem_base + STAGES * STAGE_BYTES;
  int *pair_offsets = (int *)(smem + STAGES * STAGE_BYTES + 16 * STAGES);
  const int rank = MC ? (int)cluster_rank() : 0;
  if constexpr (MC) {
    if (tid == 0) {
      for (int s = 0; s < STAGES; ++s) {
        mbar_init(bars + 8 * s, 1);             // full: this CTA's expect_tx
        mbar_init(bars + 8 * (STAGES + s), 4);  // empty: one arrival per warpgroup of either CTA
      }
      fence_mbar_init();
    }
    if (tid < 32) {  // warp 0: pair_offsets[g] = Σ_{h<g} ceil(m_tiles_h / 2)
      const int per = (groups + 31) / 32;
      const int g0 = tid * per;
      int local = 0;
      for (int i = 0; i < per; ++i) {
        const int g = g0 + i;
        if (g < groups) local += (tile_offsets[g + 1] - tile_offsets[g] + 1) >> 1;
      }
      int inclusive = local;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int v = __shfl_up_sync(0xffffffffu, inclusive, o);
        if (tid >= o) inclusive += v;
      }
      int running = inclusive - local;
      for (int i = 0; i < per; ++i) {
        const int g = g0 + i;
        if (g < groups) {
          pair_offsets[g] = running;
          running += (tile_offsets[g + 1] - tile_offsets[g] + 1) >> 1;
        }
      }
      if (tid == 31) pair_offsets[groups] = inclusive;
    }
    __syncthreads();
    cluster_sync();
  }
  const int total_tiles = (MC ? pair_offsets[groups] : tile_offsets[groups]) * num_n_tiles;
  // MC: k steps consumed by this CTA's earlier tiles (stage and barrier phase run on across tiles), and (in each
  // warpgroup's first thread) the k steps whose wgmmas that warpgroup has finished and released to both CTAs.
  int kbase = 0;
  int released = 0;
  auto release_to = [&](int upto) {
    for (; released < upto; ++released) {
      const u32 empty = bars + 8 * (STAGES + released % STAGES);
      mbar_arrive_cluster(empty, 0);
      mbar_arrive_cluster(empty, 1);
    }
  };

  // Each thread copies chunk `chunk` (16 B) of A rows load_row + 32 i (i < 4) and B rows load_row + 32 i (i < BN/32).
  const int chunk = tid & 7;
  const int load_row = tid >> 3;
  // Stage-0 wgmma descriptors: this warpgroup's 64 rows of A, and B.
  const u64 desc_a0 = wgmma_desc_k_major_sw128(smem_base + warpgroup * (64 * 128));
  const u64 desc_b0 = wgmma_desc_k_major_sw128(smem_base + SY_TILE_BYTES);

  const bf16_t *a_src[4];
  const bf16_t *b_src[B_ROWS];
  u32 a_bytes[4], b_bytes[B_ROWS];
  auto set_sources = [&](const TileCoord &t) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      int r = t.row_begin + load_row + 32 * i;
      bool valid = r < t.row_end;
      long long src_row = valid ? (gather ? (long long)gather[r] : (long long)r) : 0;
      a_src[i] = a + src_row * lda + chunk * 8;
      a_bytes[i] = valid ? 16u : 0u;
    }
    if constexpr (!MC) {
#pragma unroll
      for (int i = 0; i < B_ROWS; ++i) {
        int n = t.n0 + load_row + 32 * i;
        bool n_valid = n < N;
        b_src[i] = b + ((long long)t.group * N + (n_valid ? n : 0)) * K + chunk * 8;
        b_bytes[i] = n_valid ? 16u : 0u;
      }
    }
  };
  // k step kb of the tile, the block's k step j (MC: stage and phase from j; else the stage is kb % STAGES).
  // The cp.async part (A; B too without MC), issued by every thread:
  auto load_stage = [&](int kb, int j) {
    const int s = (MC ? j : kb) % STAGES;
    const u32 stage = smem_base + s * STAGE_BYTES;
    const int k0 = kb * SY_BK;
#pragma unroll
    for (int i = 0; i < 4; ++i)
      cp_async_16(stage + swizzle128(load_row + 32 * i, chunk), a_src[i] + k0, a_bytes[i]);
    if constexpr (!MC) {
#pragma unroll
      for (int i = 0; i < B_ROWS; ++i)
        cp_async_16(stage + SY_TILE_BYTES + swizzle128(load_row + 32 * i, chunk), b_src[i] + k0, b_bytes[i]);
    }
  };
  // MC, thread 0: this CTA's half of B for step j into both CTAs, once all four warpgroups emptied the stage.
  auto load_stage_b = [&](int kb, int j, const TileCoord &t) {
    const int s = j % STAGES;
    if (j >= STAGES) mbar_wait<true>(bars + 8 * (STAGES + s), ((j / STAGES) - 1) & 1);
    mbar_arrive_expect_tx(bars + 8 * s, (u32)GemmShape<BN>::b_bytes);
    tma_load_2d_multicast(smem_base + s * STAGE_BYTES + SY_TILE_BYTES + rank * (BN / 2) * 128, b_map, kb * SY_BK,
                          t.group * N + t.n0 + rank * (BN / 2), bars + 8 * s, (unsigned short)0x3);
  };
  auto load_prologue = [&](const TileCoord &t) {
#pragma unroll
    for (int s = 0; s < STAGES - 2; ++s) {
      if (s < num_k) {
        load_stage(s, kbase + s);
        if (MC && tid == 0) load_stage_b(s, kbase + s, t);
      }
      cp_async_commit();
    }
  };

  // Persistent: each block (MC: each cluster) walks its work units first, + stride, ... (Requesting the next tile's
  // first stages before the epilogue was measured slower here: docs/kernel-notes.md.)
  const int first_tile = MC ? (int)cluster_index() : (int)blockIdx.x;
  const int tile_stride = MC ? (int)cluster_count() : (int)gridDim.x;
  for (int tile = first_tile; tile < total_tiles; tile += tile_stride) {
    const TileCoord tc = MC ? locate_pair_tile<BN>(tile, num_n_tiles, offsets, pair_offsets, groups, rank)
                            : locate_tile<BN>(tile, num_n_tiles, offsets, tile_offsets, groups);
    __syncthreads();  // every warp is done reading the previous tile's shared memory
    set_sources(tc);
    load_prologue(tc);
    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;

    for (int kb = 0; kb < num_k; ++kb) {
      const int j = kbase + kb;
      const int s = (MC ? j : kb) % STAGES;
      cp_async_wait<STAGES - 3>();
      fence_proxy_async();
      __syncthreads();
      if (kb + STAGES - 2 < num_k) load_stage(kb + STAGES - 2, j + STAGES - 2);
      cp_async_commit();
      if constexpr (MC) mbar_wait<false>(bars + 8 * s, (j / STAGES) & 1);

      // The stage-0 descriptors plus the stage's and k-slice's byte offset >> 4 (the start-address field; shared
      // memory lies below 256 KiB, so the sum never carries out of it).
      const u64 stage_off = (u64)(s * STAGE_BYTES) >> 4;
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < SY_BK / 16; ++kk) {
        wgmma_step<BN, false>(acc, desc_a0 + stage_off + kk * (32 >> 4), desc_b0 + stage_off + kk * (32 >> 4),
                              (kb > 0 || kk > 0) ? 1 : 0);
      }
      wgmma_commit();
      // MC: B for step j + 2 once the peer emptied its stage too; waiting here overlaps this step's wgmmas.
      if (MC && tid == 0 && kb + STAGES - 2 < num_k) load_stage_b(kb + STAGES - 2, j + STAGES - 2, tc);
      wgmma_wait<1>();
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);
      if (MC && (tid & 127) == 0) release_to(j);  // this warpgroup is done with steps < j
    }
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);
    kbase += num_k;
    if (MC && (tid & 127) == 0) release_to(kbase);

    // Accumulator layout of wgmma m64nNk16: register 4j+q holds row 16·warp + lane/4 + 8·(q ≥ 2),
    // column 8j + 2·(lane % 4) + (q & 1) of the warpgroup's 64-row slice.
    const int row_lo = tc.row_begin + warpgroup * 64 + warp_in_group * 16 + (lane >> 2);
    const int col_in = 2 * (lane & 3);
    if (EPI == EPI_SWIGLU) {
      // Packed B rows: BN/2 gate columns then BN/2 up columns of the same intermediate slice n0/2 ..< n0/2 + BN/2.
      // out0 = H [rows, 2n] (gate 0..n-1, up n..2n-1), out1 = A [rows, n]; ld_out = n.
      bf16_t *h = (bf16_t *)out0;
      bf16_t *act = (bf16_t *)out1;
      const int n_inter = ld_out;
      const int c0 = tc.n0 / 2;
      constexpr int UP = BN / 16;  // accumulator groups of 8 columns before the up half starts
#pragma unroll
      for (int j = 0; j < UP; ++j) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int row = row_lo + 8 * half;
          if (row < tc.row_end) {
            const int col = c0 + 8 * j + col_in;
            float g0 = round_bf16(acc[4 * j + 2 * half]), g1 = round_bf16(acc[4 * j + 2 * half + 1]);
            float u0 = round_bf16(acc[4 * (j + UP) + 2 * half]), u1 = round_bf16(acc[4 * (j + UP) + 2 * half + 1]);
            float a0 = g0 * sigmoidf_(g0) * u0, a1 = g1 * sigmoidf_(g1) * u1;
            bf16_t *h_row = h + (long long)row * (2 * n_inter);
            *(u32 *)(h_row + col) = pack_bf16x2(g0, g1);
            *(u32 *)(h_row + n_inter + col) = pack_bf16x2(u0, u1);
            *(u32 *)(act + (long long)row * n_inter + col) = pack_bf16x2(a0, a1);
          }
        }
      }
    } else if (EPI == EPI_DSWIGLU) {
      // acc = dA' (unscaled by s). aux = H [rows, 2n]; out0 = dH [rows, 2n]; out1 = A' = s·A [rows, n];
      // partial[row · n_tiles + tile] = Σ over this tile's columns of dA'·A (dS, reduced later in a fixed order).
      const bf16_t *h = aux;
      bf16_t *dh = (bf16_t *)out0;
      bf16_t *a_scaled = (bf16_t *)out1;
      const int n_inter = ld_out;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int row = row_lo + 8 * half;
        const bool row_ok = row < tc.row_end;
        const float s = row_ok ? row_scale[row] : 0.0f;
        float ds = 0.0f;
        const bf16_t *h_row = h + (long long)(row_ok ? row : 0) * (2 * n_inter);
        // H is read in batches of 8 column pairs, all loads of a batch issued before any of its math and stores, so
        // that their latencies overlap (one at a time, the epilogue was as long as a third of the main loop).
        constexpr int BATCH = 8;
#pragma unroll
        for (int j0 = 0; j0 < BN / 8; j0 += BATCH) {
          u32 gate_pairs[BATCH], up_pairs[BATCH];
#pragma unroll
          for (int jj = 0; jj < BATCH; ++jj) {
            const int col = tc.n0 + 8 * (j0 + jj) + col_in;
            const bool ok = row_ok && col < N;
            gate_pairs[jj] = ok ? __ldg((const unsigned int *)(h_row + col)) : 0u;
            up_pairs[jj] = ok ? __ldg((const unsigned int *)(h_row + n_inter + col)) : 0u;
          }
#pragma unroll
          for (int jj = 0; jj < BATCH; ++jj) {
            const int j = j0 + jj;
            const int col = tc.n0 + 8 * j + col_in;
            if (row_ok && col < N) {
              const u32 gp = gate_pairs[jj], up = up_pairs[jj];
              float g[2] = {bf16_to_float((bf16_t)(gp & 0xffffu)), bf16_to_float((bf16_t)(gp >> 16))};
              float u[2] = {bf16_to_float((bf16_t)(up & 0xffffu)), bf16_to_float((bf16_t)(up >> 16))};
              float dg[2], du[2], as[2];
#pragma unroll
              for (int q = 0; q < 2; ++q) {
                const float da = acc[4 * j + 2 * half + q];
                const float sig = sigmoidf_(g[q]);
                const float silu = g[q] * sig;
                const float act = silu * u[q];
                ds += da * act;
                const float dact = s * da;
                dg[q] = dact * u[q] * sig * (1.0f + g[q] * (1.0f - sig));
                du[q] = dact * silu;
                as[q] = s * act;
              }
              bf16_t *dh_row = dh + (long long)row * (2 * n_inter);
              *(u32 *)(dh_row + col) = pack_bf16x2(dg[0], dg[1]);
              *(u32 *)(dh_row + n_inter + col) = pack_bf16x2(du[0], du[1]);
              *(u32 *)(a_scaled + (long long)row * n_inter + col) = pack_bf16x2(as[0], as[1]);
            }
          }
        }
        // The four lanes that share a row hold its BN columns between them.
        ds += __shfl_xor_sync(0xffffffffu, ds, 1);
        ds += __shfl_xor_sync(0xffffffffu, ds, 2);
        if (row_ok && (lane & 3) == 0) partial[(long long)row * num_n_tiles + tc.n0 / BN] = ds;
      }
    } else {
#pragma unroll
      for (int j = 0; j < BN / 8; ++j) {
        const int col = tc.n0 + 8 * j + col_in;
        if (col < N) {
#pragma unroll
          for (int half = 0; half < 2; ++half) {
            const int row = row_lo + 8 * half;
            if (row < tc.row_end) {
              float v0 = acc[4 * j + 2 * half], v1 = acc[4 * j + 2 * half + 1];
              if (row_scale) {
                const float s = row_scale[row];
                v0 *= s;
                v1 *= s;
              }
              if (EPI == EPI_BF16) {
                *(u32 *)((bf16_t *)out0 + (long long)row * ld_out + col) = pack_bf16x2(v0, v1);
              } else {
                // fp32 rows of odd width (N = E may be odd) are not 8-byte aligned: store each value alone.
                float *dst = (float *)out0 + (long long)row * ld_out + col;
                dst[0] = v0;
                if (col + 1 < N) dst[1] = v1;
              }
            }
          }
        }
      }
    }
  }
  // MC: the peer may still arrive on this CTA's empty barriers; neither CTA leaves before both are done.
  if constexpr (MC) {
    __syncthreads();
    cluster_sync();
  }
}

// Up-projection: H = X[gather] · W1p[e]ᵀ with SwiGLU fused; writes H [rows, 2n] and A [rows, n] (bf16).
// w1_packed: [E, 2n, d], rows interleaved in blocks of BN/2 gate / BN/2 up (see sy_pack_rows). N = 2n, K = d.
#define SY_UP_SWIGLU(BN)                                                                                              \
  extern "C" __global__ void __launch_bounds__(256, 1) sy_gemm_up_swiglu_##BN(                                        \
      const bf16_t *__restrict__ x, const int *__restrict__ gather, const bf16_t *__restrict__ w1_packed, int N,     \
      int K, const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups,                      \
      bf16_t *__restrict__ h, bf16_t *__restrict__ act) {                                                            \
    grouped_gemm<EPI_SWIGLU, BN>(x, K, gather, w1_packed, N, K, offsets, tile_offsets, groups, h, act, nullptr,      \
                                 N / 2);                                                                             \
  }

// C [rows, N] (bf16) = A [rows, K] · B[g]ᵀ, optional per-row scale; optional gather of A rows.
#define SY_GEMM_BF16(BN)                                                                                              \
  extern "C" __global__ void __launch_bounds__(256, 1) sy_gemm_bf16_##BN(                                             \
      const bf16_t *__restrict__ a, const int *__restrict__ gather, const bf16_t *__restrict__ b, int N, int K,      \
      const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups, bf16_t *__restrict__ c,     \
      const float *__restrict__ row_scale) {                                                                         \
    grouped_gemm<EPI_BF16, BN>(a, K, gather, b, N, K, offsets, tile_offsets, groups, c, nullptr, row_scale, N);      \
  }

// dH kernel of the backward pass: dA' = dO[gather] · W2[e]ᵀ (w2: the canonical [E, n, d] layout, K-major for this
// product; N = n, K = d), with the SwiGLU backward fused into the epilogue. Reads H [rows, 2n] and the score of
// each position; writes dH [rows, 2n] (score-scaled), A' = s·A [rows, n] and per-tile dS partials
// [rows, ceil(n / BN)]. No atomics: each partial is written once.
#define SY_DSWIGLU(BN)                                                                                                \
  extern "C" __global__ void __launch_bounds__(256, 1) sy_gemm_dswiglu_##BN(                                          \
      const bf16_t *__restrict__ d_out, const int *__restrict__ gather, const bf16_t *__restrict__ w2, int N, int K, \
      const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups,                             \
      const bf16_t *__restrict__ h, const float *__restrict__ score_of_position, bf16_t *__restrict__ d_h,           \
      bf16_t *__restrict__ a_scaled, float *__restrict__ ds_partial) {                                               \
    grouped_gemm<EPI_DSWIGLU, BN>(d_out, K, gather, w2, N, K, offsets, tile_offsets, groups, d_h, a_scaled,         \
                                  score_of_position, N, h, ds_partial);                                              \
  }

SY_UP_SWIGLU(128)
SY_UP_SWIGLU(256)
SY_GEMM_BF16(128)
SY_GEMM_BF16(256)
SY_DSWIGLU(128)
SY_DSWIGLU(256)

// The up-projection and bf16 kernels at BN 256 in clusters of two with B multicast by TMA (see grouped_gemm's MC path): the
// parameters of the _256 kernel and then b_map, a 2-D map over B viewed as [groups · N, K] (box 128 × 64, 128B
// swizzle). The grid must be even; dynamic shared memory GemmShape<256>::smem_mc; groups ≤ SY_MC_MAX_GROUPS.
// (The dH kernel in this form needs 255 registers and spills, where its cp.async form needs 206: not built.)
extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(256, 1) sy_gemm_up_swiglu_mc_256(
    const bf16_t *__restrict__ x, const int *__restrict__ gather, const bf16_t *__restrict__ w1_packed, int N, int K,
    const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups, bf16_t *__restrict__ h,
    bf16_t *__restrict__ act, const __grid_constant__ TmaMap b_map) {
  grouped_gemm<EPI_SWIGLU, 256, true>(x, K, gather, w1_packed, N, K, offsets, tile_offsets, groups, h, act, nullptr,
                                      N / 2, nullptr, nullptr, &b_map);
}
extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(256, 1) sy_gemm_bf16_mc_256(
    const bf16_t *__restrict__ a, const int *__restrict__ gather, const bf16_t *__restrict__ b, int N, int K,
    const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups, bf16_t *__restrict__ c,
    const float *__restrict__ row_scale, const __grid_constant__ TmaMap b_map) {
  grouped_gemm<EPI_BF16, 256, true>(a, K, gather, b, N, K, offsets, tile_offsets, groups, c, nullptr, row_scale, N,
                                    nullptr, nullptr, &b_map);
}

// C [rows, N] (fp32) = A [rows, K] · B[g]ᵀ; used for the router logits (one group, N = E) and the router's dX.
extern "C" __global__ void __launch_bounds__(256, 1)
    sy_gemm_f32(const bf16_t *__restrict__ a, const int *__restrict__ gather, const bf16_t *__restrict__ b, int N, int K,
                const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups,
                float *__restrict__ c) {
  grouped_gemm<EPI_F32, 128>(a, K, gather, b, N, K, offsets, tile_offsets, groups, c, nullptr, nullptr, N);
}
