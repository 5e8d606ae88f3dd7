// moe_grouped_gemm.cu — persistent grouped GEMM on Hopper (wgmma, sm_90a) with a fused row gather.
//
// C[rows, N] = A[rows, K] · B[g]ᵀ for each group g (an expert), where the rows of group g are
// offsets[g] ..< offsets[g+1] and B[g] is stored K-major: [N, K] row-major (Switchyard packs weights so).
// Row r of A is read from `a + gather[r] * lda` when `gather` is non-null (the token gather of the
// up-projection: no gathered copy of X exists), else from `a + r * lda`.
//
// Launch contract (all kernels here):
//   block 256 threads (two consumer warpgroups, 64 rows each), 1 block per SM, grid = number of SMs (persistent);
//   dynamic shared memory = GemmShape<BN>::smem (164864 B for BN 128, 197632 B for BN 256; raise the limit first;
//   the _tma kernels add one 8-byte mbarrier per stage of static shared memory);
//   K % 64 == 0; N % 128 == 0 for the SwiGLU kernel, N and ld_out multiples of 8 for the bf16 kernel (it stores
//   16-byte chunks), any N for fp32;
//   lda and K in elements, rows 16-byte aligned;
//   tile_offsets[g] = Σ_{h<g} ceil(count_h / 128): the M tiles of each group, tile_offsets[groups] = total.
//   Sizes are run-time arguments: a new token count never needs a new compile, and the host never reads counts.
// Tiles: 128 (rows) × BN (N) × 64 (K) with BN = 128 (5-stage pipeline) or 256 (4 stages); one wgmma group kept in
// flight. A (gathered or not) by 16-byte cp.async from every thread; B by cp.async too, or, in the _tma kernels (the
// host's default when N % BN == 0), by one TMA box per stage issued by thread 0 onto the stage's mbarrier. Each
// kernel below exists in both widths (suffix _128 / _256); the host picks per shape.
// What is written: only rows < offsets[g+1] and columns < N of each tile; nothing else.
#include "moe_common.cuh"

#define SY_BM 128
#define SY_BK 64
#define SY_TILE_BYTES (SY_BM * SY_BK * 2)
// Pipeline depth and shared memory per tile width: stages × (A tile + B tile) + 1 KiB for alignment.
template <int BN> struct GemmShape {
  static constexpr int stages = BN == 256 ? 4 : 5;
  static constexpr int b_bytes = BN * SY_BK * 2;
  static constexpr int stage_bytes = SY_TILE_BYTES + b_bytes;
  static constexpr int smem = stages * stage_bytes + 1024;
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

// TMA_B: B comes by TMA (`b_map`: the [groups·N, K] weight matrix in BN × 64 boxes with the 128-byte swizzle), one
// copy per stage issued by thread 0 onto the stage's mbarrier, instead of 16-byte cp.async by every thread. Needs
// N % BN == 0 (a box never reaches into the next group's rows). A stays cp.async (the gather).
template <int EPI, int BN, bool TMA_B = false>
SY_DEVICE void grouped_gemm(const bf16_t *__restrict__ a, long long lda, const int *__restrict__ gather,
                            const bf16_t *__restrict__ b, int N, int K, const int *__restrict__ offsets,
                            const int *__restrict__ tile_offsets, int groups, void *__restrict__ out0,
                            void *__restrict__ out1, const float *__restrict__ row_scale, int ld_out,
                            const bf16_t *__restrict__ aux = nullptr, float *__restrict__ partial = nullptr,
                            const SyTensorMap *b_map = nullptr, int b_group_rows = 0) {
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
  const int total_tiles = tile_offsets[groups] * num_n_tiles;
  const int num_k = K / SY_BK;
  // B's rows per group (0: N): a launch over a column range of wider weights (the layer's column chunks) passes the
  // weights' full row count, with `b` (and B's map) starting at the range's first row.
  const int b_rows = b_group_rows > 0 ? b_group_rows : N;

  // Each thread copies chunk `chunk` (16 B) of A rows load_row + 32 i (i < 4) and B rows load_row + 32 i (i < BN/32).
  const int chunk = tid & 7;
  const int load_row = tid >> 3;
  // Stage-0 wgmma descriptors: this warpgroup's 64 rows of A, and B.
  const u64 desc_a0 = wgmma_desc_k_major_sw128(smem_base + warpgroup * (64 * 128));
  const u64 desc_b0 = wgmma_desc_k_major_sw128(smem_base + SY_TILE_BYTES);

  // TMA_B: one "full" barrier per stage (one arrival with the box's bytes); `phases` holds the parity each stage's
  // barrier completes next, the same in every thread (each waits on every stage it consumes).
  __shared__ alignas(8) u64 full_bar[STAGES];
  u32 phases = 0;
  int b_row0 = 0;
  if (TMA_B) {
    if (tid == 0) {
      for (int s = 0; s < STAGES; ++s) mbar_init(smem_addr(&full_bar[s]), 1);
      fence_proxy_async();
    }
    __syncthreads();
  }

  const bf16_t *a_src[4];
  const bf16_t *b_src[TMA_B ? 1 : B_ROWS];
  u32 a_bytes[4], b_bytes[TMA_B ? 1 : B_ROWS];
  auto set_sources = [&](const TileCoord &t) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      int r = t.row_begin + load_row + 32 * i;
      bool valid = r < t.row_end;
      long long src_row = valid ? (gather ? (long long)gather[r] : (long long)r) : 0;
      a_src[i] = a + src_row * lda + chunk * 8;
      a_bytes[i] = valid ? 16u : 0u;
    }
    if constexpr (TMA_B) {
      b_row0 = t.group * b_rows + t.n0;
    } else {
#pragma unroll
      for (int i = 0; i < B_ROWS; ++i) {
        int n = t.n0 + load_row + 32 * i;
        bool n_valid = n < N;
        b_src[i] = b + ((long long)t.group * b_rows + (n_valid ? n : 0)) * K + chunk * 8;
        b_bytes[i] = n_valid ? 16u : 0u;
      }
    }
  };
  auto load_stage = [&](int kb) {
    const u32 stage = smem_base + (kb % STAGES) * STAGE_BYTES;
    const int k0 = kb * SY_BK;
#pragma unroll
    for (int i = 0; i < 4; ++i)
      cp_async_16(stage + swizzle128(load_row + 32 * i, chunk), a_src[i] + k0, a_bytes[i]);
    if constexpr (TMA_B) {
      if (tid == 0) {
        const u32 bar = smem_addr(&full_bar[kb % STAGES]);
        mbar_expect_tx(bar, GemmShape<BN>::b_bytes);
        tma_load_2d(stage + SY_TILE_BYTES, b_map, k0, b_row0, bar);
      }
    } else {
#pragma unroll
      for (int i = 0; i < B_ROWS; ++i)
        cp_async_16(stage + SY_TILE_BYTES + swizzle128(load_row + 32 * i, chunk), b_src[i] + k0, b_bytes[i]);
    }
  };
  auto load_prologue = [&]() {
#pragma unroll
    for (int s = 0; s < STAGES - 2; ++s) {
      if (s < num_k) load_stage(s);
      cp_async_commit();
    }
  };

  // Persistent: each block walks tiles blockIdx.x, + gridDim.x, ... (Requesting the next tile's first stages before
  // the epilogue was measured slower here: docs/kernel-notes.md.)
  for (int tile = blockIdx.x; tile < total_tiles; tile += gridDim.x) {
    const TileCoord tc = locate_tile<BN>(tile, num_n_tiles, offsets, tile_offsets, groups);
    // The previous tile's epilogue wrote and read the stages through the generic proxy; the TMA writes them through
    // the async proxy.
    if (TMA_B) fence_proxy_async();
    __syncthreads();  // every warp is done reading the previous tile's shared memory
    set_sources(tc);
    load_prologue();
    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;

    for (int kb = 0; kb < num_k; ++kb) {
      cp_async_wait<STAGES - 3>();
      if (TMA_B) {
        const int s = kb % STAGES;
        mbar_wait(smem_addr(&full_bar[s]), (phases >> s) & 1u);
        phases ^= 1u << s;
      }
      fence_proxy_async();
      __syncthreads();
      if (kb + STAGES - 2 < num_k) load_stage(kb + STAGES - 2);
      cp_async_commit();

      // The stage-0 descriptors plus the stage's and k-slice's byte offset >> 4 (the start-address field; shared
      // memory lies below 256 KiB, so the sum never carries out of it).
      const u64 stage_off = (u64)((kb % STAGES) * STAGE_BYTES) >> 4;
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < SY_BK / 16; ++kk) {
        wgmma_step<BN, false>(acc, desc_a0 + stage_off + kk * (32 >> 4), desc_b0 + stage_off + kk * (32 >> 4),
                              (kb > 0 || kk > 0) ? 1 : 0);
      }
      wgmma_commit();
      wgmma_wait<1>();
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);
    }
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);

    // Accumulator layout of wgmma m64nNk16: register 4j+q holds row 16·warp + lane/4 + 8·(q ≥ 2),
    // column 8j + 2·(lane % 4) + (q & 1) of the warpgroup's 64-row slice.
    const int row_lo = tc.row_begin + warpgroup * 64 + warp_in_group * 16 + (lane >> 2);
    const int col_in = 2 * (lane & 3);
    if (EPI == EPI_SWIGLU) {
      // Packed B rows: BN/2 gate columns then BN/2 up columns of the same intermediate slice n0/2 ..< n0/2 + BN/2.
      // out0 = H [rows, 2n] (gate 0..n-1, up n..2n-1), out1 = A [rows, n]; ld_out = n. Staged in shared memory as
      // three sub-tiles (gate, up, A) of 64 × BN/2 per warpgroup, then stored in whole 16-byte chunks (as EPI_BF16).
      bf16_t *h = (bf16_t *)out0;
      bf16_t *act = (bf16_t *)out1;
      const int n_inter = ld_out;
      const int c0 = tc.n0 / 2;
      constexpr int UP = BN / 16;                  // accumulator groups of 8 columns before the up half starts
      constexpr int SUB_ROW = BN;                  // bytes of one staged row of a sub-tile (BN/2 bf16)
      constexpr int SUB = 64 * SUB_ROW;            // bytes of one sub-tile
      __syncthreads();
      const u32 staged = smem_base + warpgroup * (3 * SUB);
#pragma unroll
      for (int j = 0; j < UP; ++j) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int r = warp_in_group * 16 + (lane >> 2) + 8 * half;
          float g0 = round_bf16(acc[4 * j + 2 * half]), g1 = round_bf16(acc[4 * j + 2 * half + 1]);
          float u0 = round_bf16(acc[4 * (j + UP) + 2 * half]), u1 = round_bf16(acc[4 * (j + UP) + 2 * half + 1]);
          float a0 = g0 * sigmoidf_(g0) * u0, a1 = g1 * sigmoidf_(g1) * u1;
          const u32 at = staged + r * SUB_ROW + ((j ^ (r & 7)) << 4) + (lane & 3) * 4;
          asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(at), "r"(pack_bf16x2(g0, g1)) : "memory");
          asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(at + SUB), "r"(pack_bf16x2(u0, u1)) : "memory");
          asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(at + 2 * SUB), "r"(pack_bf16x2(a0, a1)) : "memory");
        }
      }
      asm volatile("bar.sync %0, 128;\n" ::"r"(1 + warpgroup) : "memory");
      constexpr int CHUNKS = BN / 16;              // 16-byte chunks in a staged row
      const int t = tid & 127;
#pragma unroll 4
      for (int i = 0; i < 3 * 64 * CHUNKS / 128; ++i) {
        const int idx = i * 128 + t;
        const int sub = idx / (64 * CHUNKS), r = (idx / CHUNKS) % 64, c = idx % CHUNKS;
        const int row = tc.row_begin + warpgroup * 64 + r;
        if (row < tc.row_end && (sub < 2 || act != nullptr)) {  // act null: the forward keeps no A (AH)
          uint4 v;
          asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                       : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                       : "r"(staged + sub * SUB + r * SUB_ROW + ((c ^ (r & 7)) << 4)));
          const int col = c0 + 8 * c;
          bf16_t *dst = sub == 2 ? act + (long long)row * n_inter + col
                                 : h + (long long)row * (2 * n_inter) + sub * n_inter + col;
          *(uint4 *)dst = v;
        }
      }
    } else if (EPI == EPI_DSWIGLU) {
      // acc = dA' (unscaled by s). aux = H [rows, 2n]; out0 = dH [rows, 2n]; out1 = A' = s·A [rows, n];
      // partial[row · n_tiles + tile] = Σ over this tile's columns of dA'·A (dS, reduced later in a fixed order).
      // Through shared memory, three sub-tiles of 64 × BN bf16 per warpgroup (gate, up, A′): the warpgroup copies
      // its rows of H in with 16-byte cp.async, each thread turns its fragment's (g, u) into (dg, du) in place and
      // writes s·A beside them, and the three go out in whole 16-byte chunks (as EPI_BF16).
      const bf16_t *h = aux;
      bf16_t *dh = (bf16_t *)out0;
      bf16_t *a_scaled = (bf16_t *)out1;
      const int n_inter = ld_out;
      constexpr int SUB_ROW = 2 * BN, SUB = 64 * SUB_ROW, CHUNKS = BN / 8;
      __syncthreads();  // both warpgroups' wgmmas are done with the stages
      const u32 staged = smem_base + warpgroup * (3 * SUB);
      const int t = tid & 127;
#pragma unroll 4
      for (int i = 0; i < 2 * 64 * CHUNKS / 128; ++i) {
        const int idx = i * 128 + t;
        const int sub = idx / (64 * CHUNKS), r = (idx / CHUNKS) % 64, c = idx % CHUNKS;
        const int row = tc.row_begin + warpgroup * 64 + r, col = tc.n0 + 8 * c;
        const bool ok = row < tc.row_end && col < N;
        const bf16_t *src = h + (ok ? (long long)row * (2 * n_inter) + sub * n_inter + col : 0);
        cp_async_16(staged + sub * SUB + r * SUB_ROW + ((c ^ (r & 7)) << 4), src, ok ? 16u : 0u);
      }
      cp_async_commit();
      cp_async_wait<0>();
      asm volatile("bar.sync %0, 128;\n" ::"r"(1 + warpgroup) : "memory");
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int r = warp_in_group * 16 + (lane >> 2) + 8 * half;
        const int row = row_lo + 8 * half;
        const bool row_ok = row < tc.row_end;
        const float s = row_ok ? row_scale[row] : 0.0f;
        float ds = 0.0f;
#pragma unroll
        for (int j = 0; j < BN / 8; ++j) {
          const u32 at = staged + r * SUB_ROW + ((j ^ (r & 7)) << 4) + (lane & 3) * 4;
          u32 gp, up;
          asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(gp) : "r"(at));
          asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(up) : "r"(at + SUB));
          float g[2] = {bf16_to_float((bf16_t)(gp & 0xffffu)), bf16_to_float((bf16_t)(gp >> 16))};
          float u[2] = {bf16_to_float((bf16_t)(up & 0xffffu)), bf16_to_float((bf16_t)(up >> 16))};
          float dg[2], du[2], as[2];
#pragma unroll
          for (int q = 0; q < 2; ++q) {
            const float da = acc[4 * j + 2 * half + q];
            const float sig = sigmoidf_(g[q]);
            const float silu = g[q] * sig;
            // A as the forward stored it (bf16, the same expression as the up-projection's epilogue): dS is then
            // ⟨dA′, A⟩ of the A that Y was computed from. Unrounded, a dS whose terms cancel could be off by
            // far more than its rounding (check seed 22: T = 1, K = 1, relative error 0.64).
            const float act = round_bf16(silu * u[q]);
            ds += da * act;  // columns past N hold zeros (H copied as zeros there)
            const float dact = s * da;
            dg[q] = dact * u[q] * sig * (1.0f + g[q] * (1.0f - sig));
            du[q] = dact * silu;
            as[q] = s * act;
          }
          asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(at), "r"(pack_bf16x2(dg[0], dg[1])) : "memory");
          asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(at + SUB), "r"(pack_bf16x2(du[0], du[1])) : "memory");
          asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(at + 2 * SUB), "r"(pack_bf16x2(as[0], as[1])) : "memory");
        }
        // The four lanes that share a row hold its BN columns between them.
        ds += __shfl_xor_sync(0xffffffffu, ds, 1);
        ds += __shfl_xor_sync(0xffffffffu, ds, 2);
        if (row_ok && (lane & 3) == 0) partial[(long long)row * num_n_tiles + tc.n0 / BN] = ds;
      }
      asm volatile("bar.sync %0, 128;\n" ::"r"(1 + warpgroup) : "memory");
#pragma unroll 4
      for (int i = 0; i < 3 * 64 * CHUNKS / 128; ++i) {
        const int idx = i * 128 + t;
        const int sub = idx / (64 * CHUNKS), r = (idx / CHUNKS) % 64, c = idx % CHUNKS;
        const int row = tc.row_begin + warpgroup * 64 + r, col = tc.n0 + 8 * c;
        if (row < tc.row_end && col < N) {
          uint4 v;
          asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                       : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                       : "r"(staged + sub * SUB + r * SUB_ROW + ((c ^ (r & 7)) << 4)));
          bf16_t *dst = sub == 2 ? a_scaled + (long long)row * n_inter + col
                                 : dh + (long long)row * (2 * n_inter) + sub * n_inter + col;
          *(uint4 *)dst = v;
        }
      }
    } else if (EPI == EPI_BF16 || (EPI == EPI_F32 && (N & 3) == 0 && (ld_out & 3) == 0)) {
      // The tile goes through shared memory, so that global stores are whole 16-byte chunks, a warp writing
      // consecutive chunks of one row (straight from the accumulators, each thread would store 64 four-byte pieces
      // of half-filled 32-byte sectors; ncu found those kernels stalled on the global instruction queue). fp32 takes
      // this path when its rows keep 16-byte alignment. Staging reuses the pipeline's stages: no load is in flight
      // between tiles, and after this barrier neither warpgroup's wgmmas read them.
      __syncthreads();
      constexpr int ES = EPI == EPI_BF16 ? 2 : 4;  // bytes per output element
      constexpr int ROW_BYTES = BN * ES, CHUNKS = ROW_BYTES / 16;
      const u32 staged = smem_base + warpgroup * (64 * ROW_BYTES);
#pragma unroll
      for (int j = 0; j < BN / 8; ++j) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int r = warp_in_group * 16 + (lane >> 2) + 8 * half;  // row within the warpgroup's 64
          float v0 = acc[4 * j + 2 * half], v1 = acc[4 * j + 2 * half + 1];
          // 16-byte chunk c of row r at chunk c ^ (r & 7): the 8 rows of one store hit different banks (fp32: two
          // rows share banks, a 2-way conflict instead of 8-way).
          if constexpr (EPI == EPI_BF16) {
            if (row_scale) {
              const int row = row_lo + 8 * half;
              const float s = row < tc.row_end ? row_scale[row] : 0.0f;
              v0 *= s;
              v1 *= s;
            }
            const u32 at = staged + r * ROW_BYTES + ((j ^ (r & 7)) << 4) + (lane & 3) * 4;
            asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(at), "r"(pack_bf16x2(v0, v1)) : "memory");
          } else {
            const int c = 2 * j + ((lane & 3) >> 1);
            const u32 at = staged + r * ROW_BYTES + ((c ^ (r & 7)) << 4) + (lane & 1) * 8;
            asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(at), "f"(v0), "f"(v1) : "memory");
          }
        }
      }
      asm volatile("bar.sync %0, 128;\n" ::"r"(1 + warpgroup) : "memory");  // this warpgroup's 128 threads
      unsigned char *c_out = (unsigned char *)out0;
      const int t = tid & 127;
#pragma unroll 4
      for (int i = 0; i < 64 * CHUNKS / 128; ++i) {
        const int idx = i * 128 + t;
        const int r = idx / CHUNKS, c = idx % CHUNKS;
        const int row = tc.row_begin + warpgroup * 64 + r, col = tc.n0 + (16 / ES) * c;
        if (row < tc.row_end && col < N) {
          uint4 v;
          asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                       : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                       : "r"(staged + r * ROW_BYTES + ((c ^ (r & 7)) << 4)));
          *(uint4 *)(c_out + ((long long)row * ld_out + col) * ES) = v;
        }
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
}

// Every kernel below exists in four instantiations: widths 128 and 256 (suffix _128 / _256), each with B by cp.async
// and by TMA (suffix _tma_128 / _tma_256: one more parameter, the tensor map of B, [groups·N, K] bf16 in BN × 64
// boxes with the 128-byte swizzle; N % BN == 0). The macros take the kernel's name, BN, whether B comes by TMA, the
// map parameter (SY_B_MAP or nothing) and what is passed for it (&b_map or nullptr).
#define SY_B_MAP , const __grid_constant__ SyTensorMap b_map

// Up-projection: H = X[gather] · W1p[e]ᵀ with SwiGLU fused; writes H [rows, 2n] and A [rows, n] (bf16).
// w1_packed: [E, 2n, d], rows interleaved in blocks of BN/2 gate / BN/2 up (see sy_pack_rows). N = 2n, K = d.
#define SY_UP_SWIGLU(NAME, BN, TMA, MAP_PARAM, MAP)                                                                   \
  extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                                         \
      const bf16_t *__restrict__ x, const int *__restrict__ gather, const bf16_t *__restrict__ w1_packed, int N,     \
      int K, const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups,                      \
      bf16_t *__restrict__ h, bf16_t *__restrict__ act MAP_PARAM) {                                                  \
    grouped_gemm<EPI_SWIGLU, BN, TMA>(x, K, gather, w1_packed, N, K, offsets, tile_offsets, groups, h, act, nullptr, \
                                      N / 2, nullptr, nullptr, MAP);                                                 \
  }

// C [rows, N] (bf16) = A [rows, K] · B[g]ᵀ, optional per-row scale; optional gather of A rows. B[g] is rows
// g · b_group_rows ..< g · b_group_rows + N of `b` (and of B's map): N = b_group_rows for whole weights, a column range
// of them with `b` moved to the range's first row (the layer's column chunks).
#define SY_GEMM_BF16(NAME, BN, TMA, MAP_PARAM, MAP)                                                                   \
  extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                                         \
      const bf16_t *__restrict__ a, const int *__restrict__ gather, const bf16_t *__restrict__ b, int N, int K,      \
      const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups, bf16_t *__restrict__ c,     \
      const float *__restrict__ row_scale, int b_group_rows MAP_PARAM) {                                             \
    grouped_gemm<EPI_BF16, BN, TMA>(a, K, gather, b, N, K, offsets, tile_offsets, groups, c, nullptr, row_scale, N,  \
                                    nullptr, nullptr, MAP, b_group_rows);                                            \
  }

// dH kernel of the backward pass: dA' = dO[gather] · W2[e]ᵀ (w2: the canonical [E, n, d] layout, K-major for this
// product; N = n, K = d), with the SwiGLU backward fused into the epilogue. Reads H [rows, 2n] and the score of
// each position; writes dH [rows, 2n] (score-scaled), A' = s·A [rows, n] and per-tile dS partials
// [rows, ceil(n / BN)]. No atomics: each partial is written once.
#define SY_DSWIGLU(NAME, BN, TMA, MAP_PARAM, MAP)                                                                     \
  extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                                         \
      const bf16_t *__restrict__ d_out, const int *__restrict__ gather, const bf16_t *__restrict__ w2, int N, int K, \
      const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups,                             \
      const bf16_t *__restrict__ h, const float *__restrict__ score_of_position, bf16_t *__restrict__ d_h,           \
      bf16_t *__restrict__ a_scaled, float *__restrict__ ds_partial MAP_PARAM) {                                     \
    grouped_gemm<EPI_DSWIGLU, BN, TMA>(d_out, K, gather, w2, N, K, offsets, tile_offsets, groups, d_h, a_scaled,    \
                                       score_of_position, N, h, ds_partial, MAP);                                    \
  }

SY_UP_SWIGLU(sy_gemm_up_swiglu_128, 128, false, , nullptr)
SY_UP_SWIGLU(sy_gemm_up_swiglu_256, 256, false, , nullptr)
SY_GEMM_BF16(sy_gemm_bf16_128, 128, false, , nullptr)
SY_GEMM_BF16(sy_gemm_bf16_256, 256, false, , nullptr)
SY_DSWIGLU(sy_gemm_dswiglu_128, 128, false, , nullptr)
SY_DSWIGLU(sy_gemm_dswiglu_256, 256, false, , nullptr)
SY_UP_SWIGLU(sy_gemm_up_swiglu_tma_128, 128, true, SY_B_MAP, &b_map)
SY_UP_SWIGLU(sy_gemm_up_swiglu_tma_256, 256, true, SY_B_MAP, &b_map)
SY_GEMM_BF16(sy_gemm_bf16_tma_128, 128, true, SY_B_MAP, &b_map)
SY_GEMM_BF16(sy_gemm_bf16_tma_256, 256, true, SY_B_MAP, &b_map)
SY_DSWIGLU(sy_gemm_dswiglu_tma_128, 128, true, SY_B_MAP, &b_map)
SY_DSWIGLU(sy_gemm_dswiglu_tma_256, 256, true, SY_B_MAP, &b_map)

// ---- Warp-specialized bf16 grouped GEMMs (v9): ping-pong and cooperative --------------------------------------
//
// C [rows, N] (bf16) = A [rows, K] · B[g]ᵀ with an optional per-row scale and gather of A rows, as sy_gemm_bf16, for
// short reductions (the down-projection, K = n, and the dX rows, K = 2n): there a tile is 4–8 k-steps and its
// prologue and epilogue, which nothing overlaps in the one-role kernel above, take a large share of its time.
// 384 threads in three roles:
//   warpgroup 0 produces: thread 0 arms the stage's full barrier with B's bytes and issues B's BN × 64 box by TMA;
//     all 128 threads copy the stage's 128 (gathered) A rows with 16-byte cp.async (8 each) and hand them to the
//     same barrier with cp.async.mbarrier.arrive.noinc (count 128 + 1). It runs ahead over the block's tiles, as far
//     as the ring's empty barriers let it, so a tile's loads never wait for the previous tile's epilogue.
//   warpgroups 1 and 2 consume, releasing each stage (one arrival per consuming warp) once their wgmmas read it:
//   - ping-pong (sy_gemm_bf16_pingpong, BN 128, 5 stages): each consumer takes alternate tiles of the block, a whole
//     128 × 128 tile (two m64n128k16 per k16, 128 accumulator registers). Their k-loops take turns (named barriers 3
//     and 4: a consumer starts when the other has issued its last k-step), so one consumer's epilogue runs while
//     the other's wgmmas do. Staging: 32 KiB per consumer.
//   - cooperative (sy_gemm_bf16_coop, BN 256, 4 stages): both consumers work on every tile, 64 rows each (one
//     m64n256k16 per k16), as the one-role kernel, so the L2 bytes per FLOP stay those of a 128 × 256 tile; only
//     the loads overlap the epilogue. Staging: 16 KiB per consumer, the 256 columns in two passes.
//   - cooperative with multicast (sy_gemm_bf16_coop_mc): as cooperative, in clusters of two CTAs sharing B (below).
// Epilogues go through the consumer's own staging buffer (never the ring, which the producer is refilling) and
// leave in whole 16-byte chunks of rows < the group's end. Shared memory: 5 × 32 KiB + 2 × 32 KiB + 1 KiB = 230400 B
// (ping-pong), 4 × 48 KiB + 2 × 16 KiB + 1 KiB = 230400 B (cooperative).
// Needs N % BN == 0 (a B box never reaches the next group), K % 64 == 0; tile_offsets in 128-row tiles as above.
// Each output is one k-ascending sum: the same bytes on every run.
SY_DEVICE void cp_async_mbar_arrive_noinc(u32 bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
SY_DEVICE void mbar_arrive(u32 bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
SY_DEVICE void named_bar_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
SY_DEVICE void named_bar_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

template <bool PINGPONG> struct WsShape {
  static constexpr int bn = PINGPONG ? 128 : 256;
  static constexpr int stages = PINGPONG ? 5 : 4;
  static constexpr int stage_bytes = SY_TILE_BYTES + bn * SY_BK * 2;
  static constexpr int staging_bytes = PINGPONG ? SY_BM * 128 * 2 : 64 * 128 * 2;  // per consumer
  static constexpr int smem = stages * stage_bytes + 2 * staging_bytes + 1024;
};
// The launch contract above (and GPUKernels.warpSpecializedSharedMemoryBytes): one size for every variant.
static_assert(WsShape<true>::smem == 230400 && WsShape<false>::smem == 230400, "warp-specialized shared memory");

// ---- clusters (the multicast kernel) ----
SY_DEVICE u32 cluster_special(int which) {
  u32 r;
  if (which == 0) asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  else if (which == 1) asm volatile("mov.u32 %0, %%clusterid.x;\n" : "=r"(r));
  else asm volatile("mov.u32 %0, %%nclusterid.x;\n" : "=r"(r));
  return r;
}
// Every thread of both CTAs; orders what each did before it (barrier inits included, with fence_mbar_init) with
// what any does after it.
SY_DEVICE void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
SY_DEVICE void fence_mbar_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
// One arrival on the barrier at the same shared-memory offset in cluster CTA `cta`.
SY_DEVICE void mbar_arrive_remote(u32 bar, u32 cta) {
  asm volatile("{\n.reg .b32 remote;\nmapa.shared::cluster.u32 remote, %0, %1;\n"
               "mbarrier.arrive.shared::cluster.b64 _, [remote];\n}\n" ::"r"(bar), "r"(cta) : "memory");
}
// mbar_wait with acquire at cluster scope: the arrivals came from both CTAs, and what follows (a multicast into the
// peer's shared memory) must come after the peer's reads.
SY_DEVICE void mbar_wait_cluster(u32 bar, u32 parity) {
  u32 done = 0;
  while (!done) {
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [%1], %2;\n"
                 "selp.u32 %0, 1, 0, p;\n}\n" : "=r"(done) : "r"(bar), "r"(parity) : "memory");
  }
}
// A 2-D box of `map` into shared memory at `dst` of both CTAs of the cluster (mask 0b11), completing its bytes on
// the barrier at offset `bar` of each. It loads B, the weights every pair of a group reads, so with L2's evict_last
// policy (v20: with the C stores' evict_first below, the dX rows' DRAM bytes −7% at 30B-n1024; the experiment define
// SY_NO_L2_HINTS drops both hints).
SY_DEVICE void tma_load_2d_multicast2(u32 dst, const SyTensorMap *map, int column, int row, u32 bar) {
#ifdef SY_NO_L2_HINTS
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster "
               "[%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(dst), "l"((u64)map), "r"(column), "r"(row), "r"(bar),
               "h"((unsigned short)0x3) : "memory");
#else
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster"
               ".L2::cache_hint [%0], [%1, {%2, %3}], [%4], %5, %6;\n" ::"r"(dst), "l"((u64)map), "r"(column),
               "r"(row), "r"(bar), "h"((unsigned short)0x3), "l"(l2_evict_last_policy()) : "memory");
#endif
}

// Work of one CTA: PINGPONG / cooperative as above; MC (cooperative only) in clusters of two CTAs that take M tiles
// 2p and 2p + 1 of the same group and the same N tile, each loading half of B (128 of the 256 rows) by TMA and
// multicasting it to both, so that B, two thirds of a tile's bytes, is read from L2 once per pair. A group with an
// odd number of M tiles leaves the second CTA of its last pair without rows: it still loads and multicasts its half
// of B, and skips the wgmmas and the stores. The pairs are numbered through pair_offsets[g] = Σ_{h<g} ⌈tiles_h / 2⌉,
// which each CTA builds in shared memory from tile_offsets (groups ≤ SY_MC_MAX_GROUPS).
#define SY_MC_MAX_GROUPS 256
// Keeps the compiler from moving accumulator accesses across the wgmma fences and waits (every register of `acc`).
template <int H, int N> SY_DEVICE void fence_accumulators(float (&acc)[H][N]) {
#pragma unroll
  for (int h = 0; h < H; ++h)
#pragma unroll
    for (int i = 0; i < N; ++i) fence_operand(acc[h][i]);
}

// TS (cooperative only): a consumer's staged 64 × 128 pass leaves by TMA (two 64 × 64 boxes of `c_map`, 128-byte
// swizzle, the staging laid out as those boxes), issued by the consumer's thread 0, when all its 64 rows lie inside
// the group (every tile but a group's last), with L2's evict_first policy (the kernel never reads C); the consumers
// go back to their k-loop while the stores drain, and only the next pass into the same buffer waits for the copies
// to have read it. Rows reaching past the group's end (the
// next group's rows, which another tile writes) take the thread stores.
//
// TA: A comes by TMA too (`a_map`: A as [rows, K] bf16 in 128 × 64 boxes with the 128-byte swizzle), one box per
// stage from the producer's thread 0, the tile's 128 rows from row gather[row_begin] (or row_begin without a gather)
// on. So the gather must be affine inside each group: gather[r] = gather[offsets[g]] + r − offsets[g] (the layer
// passes none: its column chunks read A by position). A tile's rows past its group's end load the next rows (or the map's zeros): they only reach output rows
// that are not stored.
// The warp-specialized producers' A gather (cp.async): thread (row0, chunk) copies 16-byte chunk `chunk` of the
// tile's rows row0 + 16 i (i < 8), from row gather[r] (r itself without a gather) of `a`, whose rows are `stride`
// elements apart (K). Rows past the tile's group copy 0 bytes (zero-filled).
SY_DEVICE void producer_a_rows(const bf16_t *__restrict__ a, const int *__restrict__ gather, const TileCoord &tc,
                               int row0, int chunk, const bf16_t *(&src)[8], u32 (&bytes)[8], long long stride) {
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int r = tc.row_begin + row0 + 16 * i;
    const bool valid = r < tc.row_end;
    const long long src_row = valid ? (gather ? (long long)gather[r] : (long long)r) : 0;
    src[i] = a + src_row * stride + chunk * 8;
    bytes[i] = valid ? 16u : 0u;
  }
}

// AH (the multicast kernel with TMA stores, A by the producer threads; a workspace that keeps no A): the GEMM's A
// is SwiGLU(H) = silu(g)·u, computed while it is loaded, so the forward pass keeps no A. `a` is H [rows, 2K] (gate
// columns 0 ..< K, up K ..< 2K); each producer thread loads its 16-byte chunks of g and u, and writes silu(g)·u,
// rounded to bf16, into the stage where the copy of A would have gone: the same expression on the same bf16 g and u
// as the up-projection's epilogue (EPI_SWIGLU), so the same A bits. Rows past the group's end get zeros. (Tried and
// dropped, bench/results/2026-12-05-H100-a-from-h-bbf5b28: loads issued only once the stage is free, 13–16% slower;
// σ by one tanh.approx instead of ex2 and rcp, 2–3% faster but not the kept-A forward's bits.)
SY_DEVICE u32 swiglu_pair(u32 g, u32 u) {
  const float g0 = __uint_as_float(g << 16), g1 = __uint_as_float(g & 0xffff0000u);
  const float u0 = __uint_as_float(u << 16), u1 = __uint_as_float(u & 0xffff0000u);
  return pack_bf16x2(g0 * sigmoidf_(g0) * u0, g1 * sigmoidf_(g1) * u1);
}
SY_DEVICE uint4 ld_global_nc_v4(const bf16_t *p) {
  uint4 v;
  asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}

// OV (the multicast kernel with TMA stores and A by TMA only): the overlapped epilogue. The consumers run on 232
// registers (setmaxnreg; the producer gives its own back down to 40), so that at a tile's end each can round its 128
// accumulators to 64 packed bf16 pairs and go straight on to the next tile: the two staged passes of the finished
// tile run inside the next tile's k-loop, each after a k-step's wgmmas are issued, while the tensor pipe works on
// them, and the last tile's passes after the loop.
SY_DEVICE void setmaxnreg_dec_40() { asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::: "memory"); }
SY_DEVICE void setmaxnreg_inc_232() { asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::: "memory"); }

template <bool PINGPONG, bool MC = false, bool TS = false, bool TA = false, bool OV = false, bool AH = false>
SY_DEVICE void bf16_gemm_ws(const bf16_t *__restrict__ a, const int *__restrict__ gather, int N, int K,
                            const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups,
                            bf16_t *__restrict__ c, const float *__restrict__ row_scale, int b_group_rows,
                            const SyTensorMap *b_map, const SyTensorMap *c_map = nullptr,
                            const SyTensorMap *a_map = nullptr) {
  static_assert(!(PINGPONG && MC), "multicast is for the cooperative kernel");
  static_assert(!(PINGPONG && TS), "TMA stores are for the cooperative kernel");
  static_assert(!TA || (MC && TS), "A by TMA is for the multicast kernel with TMA stores");
  static_assert(!OV || TA, "the overlapped epilogue is for the multicast kernel with TMA stores and A by TMA");
  static_assert(!AH || (MC && TS && !TA), "A from H is for the multicast kernel with TMA stores, A by the producer");
  using Shape = WsShape<PINGPONG>;
  constexpr int BN = Shape::bn, STAGES = Shape::stages, STAGE_BYTES = Shape::stage_bytes;
  extern __shared__ unsigned char smem_raw_ws[];
  unsigned char *smem = (unsigned char *)(((unsigned long long)smem_raw_ws + 1023) & ~1023ull);
  const u32 smem_base = smem_addr(smem);
  __shared__ alignas(8) u64 full_bar[STAGES], empty_bar[STAGES];
  __shared__ int pair_offsets[MC ? SY_MC_MAX_GROUPS + 1 : 1];

  const int tid = threadIdx.x;
  const int warpgroup = tid >> 7;
  const int num_n_tiles = N / BN;
  const int num_k = K / SY_BK;
  const u32 rank = MC ? cluster_special(0) : 0;
  // This CTA's work items: tiles blockIdx.x + i·gridDim.x, or (MC) the cluster's units clusterid + i·nclusters, up
  // to total_items. Each role reads them itself (ITEMS below), after its setmaxnreg (OV): values live across it
  // would be spilled.
#define ITEMS                                                                                                  \
  const int first_item = MC ? (int)cluster_special(1) : (int)blockIdx.x;                                      \
  const int item_stride = MC ? (int)cluster_special(2) : (int)gridDim.x;                                      \
  const int total_items = (MC ? *(volatile int *)&pair_offsets[groups] : tile_offsets[groups]) * num_n_tiles;

  if (tid == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbar_init(smem_addr(&full_bar[s]), TA ? 1 : 128 + 1);  // 128 producer threads' copies (not TA) + the expect_tx
      // One arrival per consuming warp (MC: of both CTAs, whose B halves this CTA's producer multicasts into).
      mbar_init(smem_addr(&empty_bar[s]), PINGPONG ? 4 : MC ? 16 : 8);
    }
    fence_proxy_async();
    if (MC) fence_mbar_init();
  }
  if constexpr (MC) {
    if (tid < 32) {  // warp 0: pair_offsets by a warp scan of ⌈tiles_g / 2⌉
      int carry = 0;
      for (int base = 0; base < groups; base += 32) {
        const int g = base + tid;
        int v = g < groups ? (tile_offsets[g + 1] - tile_offsets[g] + 1) >> 1 : 0;
#pragma unroll
        for (int d = 1; d < 32; d <<= 1) {
          const int up = __shfl_up_sync(0xffffffffu, v, d);
          if (tid >= d) v += up;
        }
        if (g < groups) pair_offsets[g + 1] = carry + v;
        carry += __shfl_sync(0xffffffffu, v, 31);
      }
      if (tid == 0) pair_offsets[0] = 0;
    }
    __syncthreads();
    cluster_sync();  // the peer's barriers are initialized before anything arrives on them or lands in its stages
  } else {
    __syncthreads();
  }
  // The tile of work item `item` (< total_items).
  auto tile_of = [&](int item) -> TileCoord {
    if constexpr (MC) {
      const int pair = item / num_n_tiles, nt = item - pair * num_n_tiles;
      int lo = 0, hi = groups - 1;
      while (lo < hi) {  // largest g with pair_offsets[g] <= pair
        const int mid = (lo + hi + 1) >> 1;
        if (pair_offsets[mid] <= pair) lo = mid; else hi = mid - 1;
      }
      TileCoord t;
      t.group = lo;
      t.row_begin = offsets[lo] + (2 * (pair - pair_offsets[lo]) + (int)rank) * SY_BM;
      t.row_end = offsets[lo + 1];
      t.n0 = nt * BN;
      return t;
    } else {
      return locate_tile<BN>(item, num_n_tiles, offsets, tile_offsets, groups);
    }
  };

  if (TA && warpgroup == 0) {
    // Producer, A by TMA: thread 0 alone; the other producer threads have nothing to do until the end.
    if (OV) setmaxnreg_dec_40();
    if (tid == 0) {
      ITEMS
      int pos = 0;
      for (int item = first_item; item < total_items; item += item_stride) {
        const TileCoord tc = tile_of(item);
        // The second CTA of a group's odd last pair has no rows (its row_begin may lie past every position): it
        // loads rows from 0, which nothing reads.
        const int a_row = tc.row_begin < tc.row_end ? (gather ? gather[tc.row_begin] : tc.row_begin) : 0;
        const int b_row = tc.group * b_group_rows + tc.n0;
        for (int kb = 0; kb < num_k; ++kb, ++pos) {
          const int s = pos % STAGES;
          mbar_wait_cluster(smem_addr(&empty_bar[s]), ((pos / STAGES) & 1) ^ 1);
          const u32 stage = smem_base + s * STAGE_BYTES;
          const u32 full = smem_addr(&full_bar[s]);
          mbar_expect_tx(full, SY_TILE_BYTES + BN * SY_BK * 2);  // A, and both CTAs' halves of B
          tma_load_2d(stage, a_map, kb * SY_BK, a_row, full);
          tma_load_2d_multicast2(stage + SY_TILE_BYTES + rank * (BN / 2) * 128, b_map, kb * SY_BK,
                                 b_row + (int)rank * (BN / 2), full);
        }
      }
    }
  } else if (AH && warpgroup == 0) {
    // Producer, A = SwiGLU(H), its loads one k-step ahead (across tiles too): thread t computes 16-byte chunk t % 8
    // of A rows t / 8 + 16 i (i < 8); as soon as row i's A is in the stage, its registers take the loads of g and u
    // for the next step, which stay in flight while the producer waits for that step's stage. No gather: A's rows are
    // the tile's positions.
    const int chunk = tid & 7, row0 = tid >> 3;
    ITEMS
    int pos = 0, item = first_item, kb = 0;
    int b_row = 0;           // the step's first row of B (this CTA's half: + rank · BN / 2)
    const bf16_t *base = a;  // the loads' row row0 of H, at column chunk * 8
    u32 valid = 0;           // bit i: row row0 + 16 i lies inside the tile's group
    auto start_tile = [&](int it) {
      const TileCoord t = tile_of(it);
      base = a + (long long)(t.row_begin + row0) * (2 * K) + chunk * 8;
      valid = 0;
#pragma unroll
      for (int i = 0; i < 8; ++i) valid |= (t.row_begin + row0 + 16 * i < t.row_end ? 1u : 0u) << i;
      return t.group * b_group_rows + t.n0 + (int)rank * (BN / 2);
    };
    auto load = [&](uint4 &g, uint4 &u, int i, int k) {
      g = make_uint4(0u, 0u, 0u, 0u);
      u = g;
      if (valid >> i & 1u) {
        g = ld_global_nc_v4(base + (long long)(16 * i) * (2 * K) + k * SY_BK);
        u = ld_global_nc_v4(base + (long long)(16 * i) * (2 * K) + K + k * SY_BK);
      }
    };
    uint4 g[8], u[8];
    if (item < total_items) {
      b_row = start_tile(item);
#pragma unroll
      for (int i = 0; i < 8; ++i) load(g[i], u[i], i, 0);
    }
    while (item < total_items) {
      int next_kb = kb + 1, next_item = item, next_b_row = b_row;
      if (next_kb == num_k) { next_kb = 0; next_item += item_stride; }
      const bool more = next_item < total_items;
      if (more && next_kb == 0) next_b_row = start_tile(next_item);
      const int s = pos % STAGES;
      mbar_wait_cluster(smem_addr(&empty_bar[s]), ((pos / STAGES) & 1) ^ 1);
      const u32 stage = smem_base + s * STAGE_BYTES;
      const u32 full = smem_addr(&full_bar[s]);
      if (tid == 0) {
        mbar_expect_tx(full, BN * SY_BK * 2);  // half from this CTA's copy, half from the peer's
        tma_load_2d_multicast2(stage + SY_TILE_BYTES + rank * (BN / 2) * 128, b_map, kb * SY_BK, b_row, full);
      }
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const u32 x = swiglu_pair(g[i].x, u[i].x), y = swiglu_pair(g[i].y, u[i].y);
        const u32 z = swiglu_pair(g[i].z, u[i].z), w = swiglu_pair(g[i].w, u[i].w);
        asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};\n"
                     ::"r"(stage + swizzle128(row0 + 16 * i, chunk)), "r"(x), "r"(y), "r"(z), "r"(w) : "memory");
        if (more) load(g[i], u[i], i, next_kb);
      }
      fence_proxy_async();  // the generic-proxy stores, before wgmma reads them through the async proxy
      mbar_arrive(full);
      ++pos; kb = next_kb; item = next_item; b_row = next_b_row;
    }
  } else if (warpgroup == 0) {
    // Producer. Thread t copies 16-byte chunk t % 8 of A rows t / 8 + 16 i (i < 8).
    const int chunk = tid & 7, row0 = tid >> 3;
    ITEMS
    int pos = 0;  // ring position: k-steps issued so far over this CTA's items
    for (int item = first_item; item < total_items; item += item_stride) {
      const TileCoord tc = tile_of(item);
      const bf16_t *src[8];
      u32 bytes[8];
      producer_a_rows(a, gather, tc, row0, chunk, src, bytes, K);
      const int b_row = tc.group * b_group_rows + tc.n0;
      for (int kb = 0; kb < num_k; ++kb, ++pos) {
        const int s = pos % STAGES;
        // A fresh barrier counts as having completed the phase before its first: the first round does not wait.
        const u32 parity = ((pos / STAGES) & 1) ^ 1;
        if (MC) mbar_wait_cluster(smem_addr(&empty_bar[s]), parity);
        else mbar_wait(smem_addr(&empty_bar[s]), parity);
        const u32 stage = smem_base + s * STAGE_BYTES;
        const u32 full = smem_addr(&full_bar[s]);
        if (tid == 0) {
          mbar_expect_tx(full, BN * SY_BK * 2);  // MC: half from this CTA's copy, half from the peer's
          if (MC)
            tma_load_2d_multicast2(stage + SY_TILE_BYTES + rank * (BN / 2) * 128, b_map, kb * SY_BK,
                                   b_row + (int)rank * (BN / 2), full);
          else
            tma_load_2d(stage + SY_TILE_BYTES, b_map, kb * SY_BK, b_row, full);
        }
#pragma unroll
        for (int i = 0; i < 8; ++i) cp_async_16(stage + swizzle128(row0 + 16 * i, chunk), src[i] + kb * SY_BK, bytes[i]);
        cp_async_mbar_arrive_noinc(full);
      }
    }
    cp_async_wait<0>();
  } else {
    if (OV) setmaxnreg_inc_232();
    ITEMS
    const int me = warpgroup - 1;
    const int t = tid & 127, lane = tid & 31, warp_in_group = t >> 5;
    const u64 desc_a0 = wgmma_desc_k_major_sw128(smem_base);
    const u64 desc_b0 = wgmma_desc_k_major_sw128(smem_base + SY_TILE_BYTES);
    const u32 staged = smem_base + STAGES * STAGE_BYTES + me * Shape::staging_bytes;
    constexpr int HALVES = PINGPONG ? 2 : 1;  // m64 slices per consumer
    constexpr int ACC = BN / 2;               // accumulator registers per slice
    auto release = [&](int stage_index) {
      if (lane != 0) return;
      const u32 bar = smem_addr(&empty_bar[stage_index]);
      if (MC) {
        mbar_arrive_remote(bar, 0);
        mbar_arrive_remote(bar, 1);
      } else {
        mbar_arrive(bar);
      }
    };
    // Epilogue, in passes of 128 columns through the staging buffer (ping-pong: one pass over the tile's 128 rows;
    // cooperative: two passes over this consumer's 64 rows). Fragment: register 4 j + q of slice h is row
    // 16 warp + lane/4 + 8 (q ≥ 2) of the slice, column 8 j + 2 (lane % 4) + (q & 1); it goes to 16-byte chunk
    // (j mod 16) ^ (row & 7) of a 256-byte staged row (TS: chunk (j mod 8) ^ (row & 7) of a 128-byte row of box
    // (j mod 16) / 8, boxes 8 KiB apart: the layout a 64 × 64 TMA box with the 128-byte swizzle has).
    // `value(h, half, j)` is the packed bf16 pair of columns 8 j + 2 (lane % 4) + {0, 1} of that row.
    constexpr int ROWS = PINGPONG ? SY_BM : 64, PASSES = BN / 128, ROW_BYTES = 256, CHUNKS = 16;
    struct Out {
      int row_base, row_end, n0;
      bool by_tma;
    };
    auto chunk_at = [&](int r, int ch) -> u32 {
      return TS ? staged + (ch >> 3) * (64 * 128) + r * 128 + (((ch & 7) ^ (r & 7)) << 4)
                : staged + r * ROW_BYTES + ((ch ^ (r & 7)) << 4);
    };
    auto epilogue_pass = [&](const int pass, const Out &o, auto &&value) {
      if (TS && t == 0) asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");  // earlier stores read it
      named_bar_sync(1 + me, 128);  // the staging buffer's previous contents have left
#pragma unroll
      for (int h = 0; h < HALVES; ++h) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int r = h * 64 + warp_in_group * 16 + (lane >> 2) + 8 * half;
#pragma unroll
          for (int jj = 0; jj < 16; ++jj) {
            const u32 at = chunk_at(r, jj) + (lane & 3) * 4;
            asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(at), "r"(value(h, half, pass * 16 + jj)) : "memory");
          }
        }
      }
      if (o.by_tma) fence_proxy_async();  // the generic-proxy writes above, before the TMA reads them
      named_bar_sync(1 + me, 128);
      if (o.by_tma) {
        if (t == 0) {
#pragma unroll
          for (int box = 0; box < 2; ++box) {
#ifdef SY_NO_L2_HINTS
            asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];\n"
                         ::"l"((u64)c_map), "r"(o.n0 + 128 * pass + 64 * box), "r"(o.row_base),
                         "r"(staged + box * (64 * 128)) : "memory");
#else
            asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group.L2::cache_hint [%0, {%1, %2}], [%3], %4;\n"
                         ::"l"((u64)c_map), "r"(o.n0 + 128 * pass + 64 * box), "r"(o.row_base),
                         "r"(staged + box * (64 * 128)), "l"(l2_evict_first_policy()) : "memory");
#endif
          }
          asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
        }
        return;
      }
#pragma unroll 4
      for (int i = 0; i < ROWS * CHUNKS / 128; ++i) {
        const int idx = i * 128 + t;
        const int r = idx / CHUNKS, ch = idx % CHUNKS;
        const int row = o.row_base + r;
        if (row < o.row_end) {
          uint4 v;
          asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                       : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                       : "r"(chunk_at(r, ch)));
          *(uint4 *)(c + (long long)row * N + o.n0 + 128 * pass + 8 * ch) = v;
        }
      }
    };
    // OV: the finished tile's rounded values and where they go, and how many of its passes are still to run.
    u32 packed[OV ? ACC / 2 : 1];
#pragma unroll
    for (int i = 0; i < (OV ? ACC / 2 : 1); ++i) packed[i] = 0;  // (written before any pass reads it)
    Out pending{};
    int pending_passes = 0;
    auto packed_value = [&](int, int half, int j) -> u32 { return packed[2 * j + half]; };
    auto run_pending_pass = [&]() {
      if constexpr (OV) {
        if (pending_passes == 2) epilogue_pass(0, pending, packed_value);
        else epilogue_pass(1, pending, packed_value);
        --pending_passes;
      }
    };
    // Ping-pong: consumer `me` takes the CTA's items me, me + 2, ...; cooperative: both take every item.
    const int first = PINGPONG ? me : 0, step = PINGPONG ? 2 : 1;
    int local = first;  // this item's index among the CTA's items
    for (int item = first_item + first * item_stride; item < total_items; item += step * item_stride, local += step) {
      const TileCoord tc = tile_of(item);
      const int row_base = tc.row_begin + (PINGPONG ? 0 : 64 * me);
      // False for the second CTA of a group's odd last pair and (cooperative) for a consumer whose 64 rows all lie
      // past the group's end, a group's last tile with at most 64 rows: that consumer still waits for and releases
      // every stage, but issues no wgmma and stores nothing (v16.1).
      const bool live = row_base < tc.row_end;
      // Each thread's rows' scales (rows past the group: 0), read before the k-loop.
      float sc[HALVES][2];
#pragma unroll
      for (int h = 0; h < HALVES; ++h)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int row = row_base + h * 64 + warp_in_group * 16 + (lane >> 2) + 8 * half;
          sc[h][half] = row_scale ? (row < tc.row_end ? row_scale[row] : 0.0f) : 1.0f;
        }
      if (PINGPONG && local > 0) named_bar_sync(3 + me, 256);  // the other consumer has issued the previous tile
      float acc[HALVES][ACC];
#pragma unroll
      for (int h = 0; h < HALVES; ++h)
#pragma unroll
        for (int i = 0; i < ACC; ++i) acc[h][i] = 0.0f;
      int pos = local * num_k;
      // OV: the previous tile's passes run a quarter and three quarters into this tile's k-loop (k-steps 1 and 3 of
      // 4, 2 and 6 of 8), each after that k-step's wgmmas are issued and its previous stage released, so that
      // the producer refills the stage meanwhile and each pass finds the stores of the one before it done reading
      // the staging buffer.
      const int pass0_step = num_k / 4, pass1_step = num_k / 4 + num_k / 2;
      for (int kb = 0; kb < num_k; ++kb, ++pos) {
        const int s = pos % STAGES;
        mbar_wait(smem_addr(&full_bar[s]), (pos / STAGES) & 1);
        if (live) {
          // The A rows came through cp.async (generic proxy); wgmma reads through the async one.
          if (!TA) fence_proxy_async();
          const u64 stage_off = (u64)(s * STAGE_BYTES) >> 4;
          fence_accumulators(acc);
          wgmma_fence();
#pragma unroll
          for (int kk = 0; kk < SY_BK / 16; ++kk) {
#pragma unroll
            for (int h = 0; h < HALVES; ++h) {
              const int slice = PINGPONG ? h : me;  // which 64 rows of the stage's A
              wgmma_step<BN, false>(acc[h], desc_a0 + stage_off + ((slice * 64 * 128) >> 4) + kk * (32 >> 4),
                                    desc_b0 + stage_off + kk * (32 >> 4), (kb > 0 || kk > 0) ? 1 : 0);
            }
          }
          wgmma_commit();
          wgmma_wait<1>();
          fence_accumulators(acc);
        }
        if (kb > 0) release((pos - 1) % STAGES);
        // OV: a pass of the previous tile's epilogue while this k-step's wgmmas run.
        if (OV && pending_passes > 0 && kb >= (pending_passes == 2 ? pass0_step : pass1_step)) run_pending_pass();
      }
      wgmma_wait<0>();
      fence_accumulators(acc);
      if (num_k > 0) release((pos - 1) % STAGES);
      // Hand the tensor pipe to the other consumer if it has a next tile (no arrival is left that nobody waits for).
      if (PINGPONG && item + item_stride < total_items) named_bar_arrive(3 + (1 - me), 256);
      if constexpr (OV) {
        while (pending_passes > 0) run_pending_pass();  // tiles of fewer than two k-steps
      }
      if (!live) continue;
      const Out out{row_base, tc.row_end, tc.n0, TS && row_base + 64 <= tc.row_end};
      if constexpr (OV) {
#pragma unroll
        for (int half = 0; half < 2; ++half)
#pragma unroll
          for (int j = 0; j < ACC / 4; ++j)
            packed[2 * j + half] = pack_bf16x2(acc[0][4 * j + 2 * half] * sc[0][half],
                                               acc[0][4 * j + 2 * half + 1] * sc[0][half]);
        pending = out;
        pending_passes = PASSES;
        continue;
      }
      auto scaled = [&](int h, int half, int j) -> u32 {
        return pack_bf16x2(acc[h][4 * j + 2 * half] * sc[h][half], acc[h][4 * j + 2 * half + 1] * sc[h][half]);
      };
#pragma unroll
      for (int pass = 0; pass < PASSES; ++pass) epilogue_pass(pass, out, scaled);
    }
    if constexpr (OV) {
      while (pending_passes > 0) run_pending_pass();
    }
    // The staging buffer must outlive the last stores' reads of it.
    if (TS && t == 0) asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
  }
  // MC: the peer may still multicast into this CTA or arrive on its barriers until it is done too.
  if (MC) cluster_sync();
#undef ITEMS
}

// Arguments as sy_gemm_bf16 (b_group_rows included; it must be given, > 0) plus B's tensor map ([groups ·
// b_group_rows, K] bf16 from the launch's first column on, in boxes of BN × 64, MC: 128 × 64, with the 128-byte
// swizzle). MC: launched in clusters of two (an even grid), groups ≤ SY_MC_MAX_GROUPS.
#define SY_GEMM_BF16_WS(NAME, PINGPONG, MC, CLUSTER)                                                                  \
  extern "C" __global__ void CLUSTER __launch_bounds__(384, 1) NAME(                                                 \
      const bf16_t *__restrict__ a, const int *__restrict__ gather, const bf16_t *__restrict__ b, int N, int K,      \
      const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups, bf16_t *__restrict__ c,     \
      const float *__restrict__ row_scale, int b_group_rows, const __grid_constant__ SyTensorMap b_map) {            \
    bf16_gemm_ws<PINGPONG, MC>(a, gather, N, K, offsets, tile_offsets, groups, c, row_scale, b_group_rows, &b_map);  \
  }
SY_GEMM_BF16_WS(sy_gemm_bf16_pingpong, true, false, )
SY_GEMM_BF16_WS(sy_gemm_bf16_coop, false, false, )
SY_GEMM_BF16_WS(sy_gemm_bf16_coop_mc, false, true, __cluster_dims__(2, 1, 1))
// The multicast kernel with TMA stores: one more parameter, C's tensor map ([rows, N] bf16, 64 × 64 boxes, 128-byte
// swizzle; rows: at least the last row any tile writes).
extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(384, 1) sy_gemm_bf16_coop_mc_ts(
    const bf16_t *__restrict__ a, const int *__restrict__ gather, const bf16_t *__restrict__ b, int N, int K,
    const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups, bf16_t *__restrict__ c,
    const float *__restrict__ row_scale, int b_group_rows, const __grid_constant__ SyTensorMap b_map,
    const __grid_constant__ SyTensorMap c_map) {
  bf16_gemm_ws<false, true, true>(a, gather, N, K, offsets, tile_offsets, groups, c, row_scale, b_group_rows, &b_map,
                                  &c_map);
}
// And with A = SwiGLU(H) computed by the producer (AH above): `a` is H [rows, 2K], `gather` must be null; the rest as
// sy_gemm_bf16_coop_mc_ts.
extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(384, 1) sy_gemm_bf16_coop_mc_ts_ah(
    const bf16_t *__restrict__ a, const int *__restrict__ gather, const bf16_t *__restrict__ b, int N, int K,
    const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups, bf16_t *__restrict__ c,
    const float *__restrict__ row_scale, int b_group_rows, const __grid_constant__ SyTensorMap b_map,
    const __grid_constant__ SyTensorMap c_map) {
  bf16_gemm_ws<false, true, true, false, false, true>(a, gather, N, K, offsets, tile_offsets, groups, c, row_scale,
                                                      b_group_rows, &b_map, &c_map);
}
// And with A by TMA (TA above): one more parameter, A's tensor map ([rows, K] bf16, 128 × 64 boxes, 128-byte
// swizzle; rows: at least the last position any group holds); the gather, when given, affine inside each group.
extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(384, 1) sy_gemm_bf16_coop_mc_ts_ta(
    const bf16_t *__restrict__ a, const int *__restrict__ gather, const bf16_t *__restrict__ b, int N, int K,
    const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups, bf16_t *__restrict__ c,
    const float *__restrict__ row_scale, int b_group_rows, const __grid_constant__ SyTensorMap b_map,
    const __grid_constant__ SyTensorMap c_map, const __grid_constant__ SyTensorMap a_map) {
  bf16_gemm_ws<false, true, true, true>(a, gather, N, K, offsets, tile_offsets, groups, c, row_scale, b_group_rows,
                                        &b_map, &c_map, &a_map);
}
// The same with the overlapped epilogue (OV above; the default, `SWITCHYARD_BF16_EPILOGUE=serial` keeps the kernel
// before it).
extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(384, 1) sy_gemm_bf16_coop_mc_ts_ta_ov(
    const bf16_t *__restrict__ a, const int *__restrict__ gather, const bf16_t *__restrict__ b, int N, int K,
    const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups, bf16_t *__restrict__ c,
    const float *__restrict__ row_scale, int b_group_rows, const __grid_constant__ SyTensorMap b_map,
    const __grid_constant__ SyTensorMap c_map, const __grid_constant__ SyTensorMap a_map) {
  bf16_gemm_ws<false, true, true, true, true>(a, gather, N, K, offsets, tile_offsets, groups, c, row_scale,
                                              b_group_rows, &b_map, &c_map, &a_map);
}

// ---- dH kernel, warp-specialized (the default; SWITCHYARD_DH_KERNEL=onerole keeps sy_gemm_dswiglu_tma_256) -----
//
// The dH kernel of sy_gemm_dswiglu_tma_256 (its arguments, then H's map; the same results) on the cooperative
// warp-specialized structure: 384 threads, a producer warpgroup (dO gathered by token with cp.async, W2 by TMA), two
// consumers of 64 rows each of a 128 × 256 tile, the 4-stage ring and 16 KiB staging of WsShape<false>. H comes through the ring
// too: after a tile's k-steps the producer loads four "H stages", each the tile's 128 rows × 64 columns of gate and
// of up (two 16 KiB TMA boxes of `h_map`, H as [rows, 2n], 128-byte swizzle), so the epilogue never waits on a
// load of its own. Each consumer turns an H stage into dg, du and A′ in two 32-column passes through its staging
// (three 64 × 32 sub-tiles, 80-byte rows), releases the stage after the second pass read it, and stores whole
// 16-byte chunks of rows < the group's end. Needs N % 256 == 0, K % 64 == 0; tile_offsets in 128-row tiles.
// dS partials as the one-role kernel: partial[row · N/256 + tile] = Σ over the tile's columns of dA′ · A.
extern "C" __global__ void __launch_bounds__(384, 1) sy_gemm_dswiglu_ws(
    const bf16_t *__restrict__ d_out, const int *__restrict__ gather, const bf16_t *__restrict__ /* w2: b_map */,
    int N, int K, const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups,
    const bf16_t *__restrict__ /* h: h_map */, const float *__restrict__ score_of_position, bf16_t *__restrict__ d_h,
    bf16_t *__restrict__ a_scaled, float *__restrict__ ds_partial, const __grid_constant__ SyTensorMap b_map,
    const __grid_constant__ SyTensorMap h_map) {
  using Shape = WsShape<false>;
  constexpr int BN = Shape::bn, STAGES = Shape::stages, STAGE_BYTES = Shape::stage_bytes, HQ = BN / 64;
  constexpr int SUB_ROW = 80, SUB = 64 * SUB_ROW;  // staged sub-tile: 64 rows × 32 bf16, rows padded to 80 bytes
  static_assert(3 * SUB <= Shape::staging_bytes, "dg, du and A' sub-tiles fit the staging");
  extern __shared__ unsigned char smem_raw_dh[];
  unsigned char *smem = (unsigned char *)(((unsigned long long)smem_raw_dh + 1023) & ~1023ull);
  const u32 smem_base = smem_addr(smem);
  __shared__ alignas(8) u64 full_bar[STAGES], empty_bar[STAGES];
  const int tid = threadIdx.x, warpgroup = tid >> 7;
  const int num_n_tiles = N / BN, num_k = K / SY_BK;
  if (tid == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbar_init(smem_addr(&full_bar[s]), 128 + 1);  // every producer thread once, plus thread 0's expect_tx
      mbar_init(smem_addr(&empty_bar[s]), 8);       // one arrival per consuming warp
    }
    fence_proxy_async();
  }
  __syncthreads();

  // The tile count, read by each role after its setmaxnreg: a value live across it is spilled.
#define SY_DH_TOTAL const int total = *(volatile const int *)&tile_offsets[groups] * num_n_tiles;
  if (warpgroup == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 56;\n" ::: "memory");
    SY_DH_TOTAL
    // Producer. k-stages: thread t copies chunk t % 8 of A rows t / 8 + 16 i (i < 8) and arrives when they land;
    // H stages: thread 0 issues the two boxes, every thread arrives.
    const int chunk = tid & 7, row0 = tid >> 3;
    int pos = 0;
    for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
      const TileCoord tc = locate_tile<BN>(tile, num_n_tiles, offsets, tile_offsets, groups);
      const bf16_t *src[8];
      u32 bytes[8];
      producer_a_rows(d_out, gather, tc, row0, chunk, src, bytes, K);
      const int b_row = tc.group * N + tc.n0;
      for (int kb = 0; kb < num_k; ++kb, ++pos) {
        const int s = pos % STAGES;
        mbar_wait(smem_addr(&empty_bar[s]), ((pos / STAGES) & 1) ^ 1);
        const u32 stage = smem_base + s * STAGE_BYTES, full = smem_addr(&full_bar[s]);
        if (tid == 0) {
          mbar_expect_tx(full, BN * SY_BK * 2);
          tma_load_2d(stage + SY_TILE_BYTES, &b_map, kb * SY_BK, b_row, full);
        }
#pragma unroll
        for (int i = 0; i < 8; ++i) cp_async_16(stage + swizzle128(row0 + 16 * i, chunk), src[i] + kb * SY_BK, bytes[i]);
        cp_async_mbar_arrive_noinc(full);
      }
      for (int q = 0; q < HQ; ++q, ++pos) {
        const int s = pos % STAGES;
        mbar_wait(smem_addr(&empty_bar[s]), ((pos / STAGES) & 1) ^ 1);
        const u32 stage = smem_base + s * STAGE_BYTES, full = smem_addr(&full_bar[s]);
        if (tid == 0) {
          mbar_expect_tx(full, 2 * SY_TILE_BYTES);
          tma_load_2d(stage, &h_map, tc.n0 + 64 * q, tc.row_begin, full);                      // gate
          tma_load_2d(stage + SY_TILE_BYTES, &h_map, N + tc.n0 + 64 * q, tc.row_begin, full);  // up
        }
        mbar_arrive(full);
      }
    }
    cp_async_wait<0>();
    return;
  }

  // The consumers' epilogue (SwiGLU backward with the fp32 accumulators and H live) gets 224 registers (v16).
  asm volatile("setmaxnreg.inc.sync.aligned.u32 224;\n" ::: "memory");
  SY_DH_TOTAL
#undef SY_DH_TOTAL
  const int me = warpgroup - 1, t = tid & 127, lane = tid & 31, warp_in_group = t >> 5;
  const u32 staged = smem_base + STAGES * STAGE_BYTES + me * Shape::staging_bytes;
  auto release = [&](int stage_index) {
    __syncwarp();
    if (lane == 0) mbar_arrive(smem_addr(&empty_bar[stage_index]));
  };
  int pos = 0;
  for (int tile = blockIdx.x; tile < total; tile += gridDim.x) {
    const TileCoord tc = locate_tile<BN>(tile, num_n_tiles, offsets, tile_offsets, groups);
    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;
    // Made per tile rather than kept across the epilogue, which needs every register it can get.
    const u64 desc_a0 = wgmma_desc_k_major_sw128(smem_base + me * (64 * 128));
    const u64 desc_b0 = wgmma_desc_k_major_sw128(smem_base + SY_TILE_BYTES);
    for (int kb = 0; kb < num_k; ++kb, ++pos) {
      const int s = pos % STAGES;
      mbar_wait(smem_addr(&full_bar[s]), (pos / STAGES) & 1);
      fence_proxy_async();  // A came through cp.async (generic proxy); wgmma reads through the async one
      const u64 stage_off = (u64)(s * STAGE_BYTES) >> 4;
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < SY_BK / 16; ++kk)
        wgmma_step<BN, false>(acc, desc_a0 + stage_off + kk * (32 >> 4), desc_b0 + stage_off + kk * (32 >> 4),
                              (kb > 0 || kk > 0) ? 1 : 0);
      wgmma_commit();
      wgmma_wait<1>();
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);
      if (kb > 0) release((pos - 1) % STAGES);
    }
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) fence_operand(acc[i]);
    if (num_k > 0) release((pos - 1) % STAGES);

    // Epilogue. Fragment: register 4 j + q holds row 16 warp + lane/4 + 8 (q ≥ 2) of this consumer's 64, column
    // 8 j + 2 (lane % 4) + (q & 1) of the tile.
    const int r0 = warp_in_group * 16 + (lane >> 2);
    float sc[2], ds[2] = {0.0f, 0.0f};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = tc.row_begin + 64 * me + r0 + 8 * h;
      sc[h] = row < tc.row_end ? score_of_position[row] : 0.0f;
    }
#pragma unroll  // the accumulator index must be a constant: a run-time one puts acc in local memory
    for (int q = 0; q < HQ; ++q, ++pos) {
      const int s = pos % STAGES;
      mbar_wait(smem_addr(&full_bar[s]), (pos / STAGES) & 1);
      const u32 hs = smem_base + s * STAGE_BYTES;
#pragma unroll
      for (int sub = 0; sub < 2; ++sub) {
        named_bar_sync(1 + me, 128);  // the previous pass's stores have read the staging
#pragma unroll
        for (int jj = 0; jj < 4; ++jj) {
          const int chunk = 4 * sub + jj;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int r = r0 + 8 * h, tr = 64 * me + r;
            const u32 at = hs + tr * 128 + ((chunk ^ (tr & 7)) << 4) + (lane & 3) * 4;
            u32 gp, up;
            asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(gp) : "r"(at));
            asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(up) : "r"(at + SY_TILE_BYTES));
            const float g[2] = {bf16_to_float((bf16_t)(gp & 0xffffu)), bf16_to_float((bf16_t)(gp >> 16))};
            const float u[2] = {bf16_to_float((bf16_t)(up & 0xffffu)), bf16_to_float((bf16_t)(up >> 16))};
            float dg[2], du[2], as[2];
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              // The one-role kernel's EPI_DSWIGLU expressions, term for term (see there).
              const float da = acc[4 * (8 * q + chunk) + 2 * h + e];
              const float sig = sigmoidf_(g[e]);
              const float silu = g[e] * sig;
              const float act = round_bf16(silu * u[e]);
              ds[h] += da * act;
              const float dact = sc[h] * da;
              dg[e] = dact * u[e] * sig * (1.0f + g[e] * (1.0f - sig));
              du[e] = dact * silu;
              as[e] = sc[h] * act;
            }
            const u32 o = staged + r * SUB_ROW + jj * 16 + (lane & 3) * 4;
            asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(o), "r"(pack_bf16x2(dg[0], dg[1])) : "memory");
            asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(o + SUB), "r"(pack_bf16x2(du[0], du[1])) : "memory");
            asm volatile("st.shared.u32 [%0], %1;\n" ::"r"(o + 2 * SUB), "r"(pack_bf16x2(as[0], as[1])) : "memory");
          }
        }
        if (sub == 1) release(s);  // this warp has read its rows of the H stage
        named_bar_sync(1 + me, 128);
#pragma unroll 1
        for (int i = 0; i < 3 * 64 * 4 / 128; ++i) {
          const int idx = i * 128 + t;
          const int part = idx >> 8, r = (idx >> 2) & 63, ch = idx & 3;
          const int row = tc.row_begin + 64 * me + r;
          if (row < tc.row_end) {
            uint4 v;
            asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                         : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                         : "r"(staged + part * SUB + r * SUB_ROW + ch * 16));
            const int col = tc.n0 + 64 * q + 32 * sub + 8 * ch;
            bf16_t *dst = part == 2 ? a_scaled + (long long)row * N + col
                                    : d_h + (long long)row * (2 * N) + part * N + col;
            *(uint4 *)dst = v;
          }
        }
      }
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float v = ds[h];
      v += __shfl_xor_sync(0xffffffffu, v, 1);
      v += __shfl_xor_sync(0xffffffffu, v, 2);
      const int row = tc.row_begin + 64 * me + r0 + 8 * h;
      if (row < tc.row_end && (lane & 3) == 0) ds_partial[(long long)row * num_n_tiles + tc.n0 / BN] = v;
    }
  }
}

// C [rows, N] (fp32) = A [rows, K] · B[g]ᵀ; used for the router logits (one group, N = E) and the router's dX.
extern "C" __global__ void __launch_bounds__(256, 1)
    sy_gemm_f32(const bf16_t *__restrict__ a, const int *__restrict__ gather, const bf16_t *__restrict__ b, int N, int K,
                const int *__restrict__ offsets, const int *__restrict__ tile_offsets, int groups,
                float *__restrict__ c) {
  grouped_gemm<EPI_F32, 128>(a, K, gather, b, N, K, offsets, tile_offsets, groups, c, nullptr, nullptr, N);
}
