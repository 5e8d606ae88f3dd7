// tma_l2_probe.cu — how many L2 sectors and how much time moving the same bf16 tiles into shared memory costs by
// cp.async (every thread, 16 bytes each), by TMA (one thread, four 64 × 64 boxes with the 128B swizzle), and by TMA
// multicast in clusters of two (each CTA two boxes, delivered to both); and, for tiles whose 64 rows are gathered
// through an index (the token gather), by cp.async against TMA boxes of one row each (64 × 1, issued by one warp).
// No math: loads, waits, a checksum over the whole tile as laid out in shared memory (equal checksums of the two
// gather modes mean TMA placed and swizzled every row where cp.async did).
//
// Question it answers (docs/kernel-notes.md, v6.0 and v6.4): the TMA-fed kernels moved more L2 sectors than the
// cp.async ones, where multicast should have halved them.
//
// Build and run on the GPU machine (nvcc, the driver library for cuTensorMapEncodeTiled):
//   nvcc -O3 -std=c++17 -arch=sm_90a -o /tmp/tma_l2_probe bench/probes/tma_l2_probe.cu -lcuda
//   /tmp/tma_l2_probe                         # times and checksums of the three modes
//   ncu --clock-control none --metrics gpu__time_duration.sum,lts__t_sectors.sum,lts__t_sectors_srcunit_tex.sum,\
//       lts__t_requests_srcunit_tex.sum,dram__bytes_read.sum /tmp/tma_l2_probe
// Expected if every byte is read once per delivery: sectors = tiles × 32 KiB / 32 B for cp.async and TMA, half of
// that for multicast.
#include <cuda.h>
#include <cuda_runtime.h>
#include <cstdint>
#include <cstdio>
#include <vector>

constexpr int kRows = 16384, kCols = 512;  // 16 MiB of bf16: stays in L2, so L2 → SM traffic is what is measured
constexpr int kStages = 4, kTileRows = 64, kTileCols = 256, kTileBytes = kTileRows * kTileCols * 2;
constexpr int kPasses = 20;

__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ uint32_t swz(uint32_t row, uint32_t chunk) { return row * 128u + ((chunk ^ (row & 7u)) << 4); }
__device__ __forceinline__ void mbar_init(uint32_t b, uint32_t n) { asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(b), "r"(n)); }
__device__ __forceinline__ void expect_tx(uint32_t b, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(b), "r"(bytes) : "memory");
}
__device__ __forceinline__ void wait_parity(uint32_t b, uint32_t parity) {
  uint32_t done = 0;
  while (!done)
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done) : "r"(b), "r"(parity) : "memory");
}
__device__ __forceinline__ void tma(uint32_t dst, const CUtensorMap *map, int col, int row, uint32_t bar, uint16_t mask, bool multicast) {
  if (multicast)
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster"
                 " [%0], [%1, {%2, %3}], [%4], %5;" ::"r"(dst), "l"(map), "r"(col), "r"(row), "r"(bar), "h"(mask) : "memory");
  else
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3}], [%4];" ::"r"(dst), "l"(map), "r"(col), "r"(row), "r"(bar) : "memory");
}
__device__ __forceinline__ uint32_t cluster_rank() { uint32_t r; asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r)); return r; }
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}

// Tile t: rows 64·(t / 2) mod kRows, columns 256·(t % 2).
__device__ __forceinline__ void tile_origin(int t, int &row, int &col) {
  row = (t / 2) * kTileRows % kRows;
  col = (t % 2) * kTileCols;
}

// MODE 0: cp.async by 256 threads. MODE 1: TMA by thread 0. MODE 2: TMA multicast, clusters of two (unit = pair).
// MODE 3: rows gathered through `index`, cp.async. MODE 4: the same rows by TMA, one 64 × 1 box per row and chunk
// (`row_map`), issued by warp 0.
template <int MODE>
__device__ void probe(const CUtensorMap *map, const CUtensorMap *row_map, const int *index, const uint16_t *src,
                      int units, unsigned long long *sink) {
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  unsigned char *smem = (unsigned char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
  const uint32_t base = smem_u32(smem), bars = base + kStages * kTileBytes;
  const int tid = threadIdx.x;
  const int rank = MODE == 2 ? (int)cluster_rank() : 0;
  const int first = MODE == 2 ? blockIdx.x / 2 : blockIdx.x, stride = MODE == 2 ? gridDim.x / 2 : gridDim.x;
  if (MODE != 0 && MODE != 3 && tid == 0) {
    for (int s = 0; s < kStages; ++s) mbar_init(bars + 8 * s, 1);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (MODE == 2) cluster_sync();
  unsigned long long check = 0;
  const int count = first < units ? (units - first + stride - 1) / stride : 0;
  auto issue = [&](int i) {  // the i-th unit of this CTA (cluster) into stage i % kStages
    const int t = first + i * stride, s = i % kStages;
    int row, col;
    tile_origin(t, row, col);
    const uint32_t stage = base + s * kTileBytes;
    if (MODE == 4) {
      if (tid == 0) expect_tx(bars + 8 * s, kTileBytes);
      if (tid < 32) {
        for (int j = tid; j < kTileRows * 4; j += 32) {  // (row, 64-column chunk) boxes of one row
          const int r = j / 4, c = j % 4;
          tma(stage + c * (64 * 128) + r * 128, row_map, col + 64 * c, index[row + r], bars + 8 * s, 0, false);
        }
      }
    } else if (MODE == 0 || MODE == 3) {
      for (int j = tid; j < kTileRows * kTileCols / 8; j += blockDim.x) {  // 16-byte chunks
        const int r = j / (kTileCols / 8), c = j % (kTileCols / 8);
        const int source_row = MODE == 3 ? index[row + r] : row + r;
        const uint16_t *g = src + (size_t)source_row * kCols + col + c * 8;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(stage + (c / 8) * (64 * 128) + swz(r, c % 8)), "l"(g) : "memory");
      }
      asm volatile("cp.async.commit_group;" ::: "memory");
    } else if (tid == 0) {
      expect_tx(bars + 8 * s, kTileBytes);
      for (int c = MODE == 2 ? 2 * rank : 0; c < (MODE == 2 ? 2 * rank + 2 : 4); ++c)
        tma(stage + c * (64 * 128), map, col + 64 * c, row, bars + 8 * s, 0x3, MODE == 2);
    }
  };
  for (int i = 0; i < kStages - 1 && i < count; ++i) issue(i);
  for (int i = 0; i < count; ++i) {
    const int s = i % kStages;
    if (MODE == 0 || MODE == 3) {
      if (i + kStages - 1 < count) asm volatile("cp.async.wait_group %0;" ::"n"(kStages - 2) : "memory");
      else asm volatile("cp.async.wait_group 0;" ::: "memory");
      __syncthreads();
    } else {
      wait_parity(bars + 8 * s, (i / kStages) & 1);
    }
    for (int w = 0; w < kTileBytes / 4 / 256; ++w)  // the whole tile, as laid out
      check += (unsigned long long)*(const uint32_t *)(smem + s * kTileBytes + (w * 256 + tid) * 4) * (w + 1);
    // Every thread (MODE 2: of both CTAs) is done with the stage that the next issue overwrites.
    if (MODE == 2) cluster_sync(); else __syncthreads();
    if (i + kStages - 1 < count) issue(i + kStages - 1);
  }
  if (MODE == 2) cluster_sync();
  atomicAdd(sink, check);
}

#define PROBE_ARGS const __grid_constant__ CUtensorMap map, const __grid_constant__ CUtensorMap row_map, const int *index, \
                   const uint16_t *src, int units, unsigned long long *sink
extern "C" __global__ void __launch_bounds__(256, 1) probe_cp_async(PROBE_ARGS) { probe<0>(&map, &row_map, index, src, units, sink); }
extern "C" __global__ void __launch_bounds__(256, 1) probe_tma(PROBE_ARGS) { probe<1>(&map, &row_map, index, src, units, sink); }
extern "C" __global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(256, 1) probe_tma_multicast(PROBE_ARGS) { probe<2>(&map, &row_map, index, src, units, sink); }
extern "C" __global__ void __launch_bounds__(256, 1) probe_gather_cp_async(PROBE_ARGS) { probe<3>(&map, &row_map, index, src, units, sink); }
extern "C" __global__ void __launch_bounds__(256, 1) probe_gather_tma_rows(PROBE_ARGS) { probe<4>(&map, &row_map, index, src, units, sink); }

#define CHECK(x) do { auto e = (x); if (e) { printf("%s:%d error %d\n", __FILE__, __LINE__, (int)e); return 1; } } while (0)

int main() {
  std::vector<uint16_t> host((size_t)kRows * kCols);
  for (size_t i = 0; i < host.size(); ++i) host[i] = (uint16_t)(i * 2654435761u >> 16);
  uint16_t *src; unsigned long long *sink;
  CHECK(cudaMalloc(&src, host.size() * 2)); CHECK(cudaMalloc(&sink, 8));
  CHECK(cudaMemcpy(src, host.data(), host.size() * 2, cudaMemcpyHostToDevice));
  CUtensorMap map;
  cuuint64_t dims[2] = {kCols, kRows}, strides[1] = {kCols * 2};
  cuuint32_t box[2] = {64, 64}, elem[2] = {1, 1};
  CHECK(cuTensorMapEncodeTiled(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, src, dims, strides, box, elem,
                               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                               CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));
  CUtensorMap row_map;
  cuuint32_t row_box[2] = {64, 1};
  CHECK(cuTensorMapEncodeTiled(&row_map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, src, dims, strides, row_box, elem,
                               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                               CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));
  std::vector<int> perm(kRows);  // a fixed pseudo-random permutation of the rows: the gather
  for (int i = 0; i < kRows; ++i) perm[i] = (int)((i * 7919ull + 13) % kRows);
  int *index; CHECK(cudaMalloc(&index, kRows * 4));
  CHECK(cudaMemcpy(index, perm.data(), kRows * 4, cudaMemcpyHostToDevice));
  const int units = kPasses * (kRows / kTileRows) * 2;  // tiles to move (MODE 2: tile pairs, each tile to two CTAs)
  const int smem = kStages * kTileBytes + 1024 + 64;
  int sms; CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const char *names[5] = {"cp.async", "TMA", "TMA multicast x2", "gather cp.async", "gather TMA rows"};
  void *kernels[5] = {(void *)probe_cp_async, (void *)probe_tma, (void *)probe_tma_multicast,
                      (void *)probe_gather_cp_async, (void *)probe_gather_tma_rows};
  for (int m = 0; m < 5; ++m) {
    CHECK(cudaFuncSetAttribute(kernels[m], cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    const int grid = sms / 2 * 2;
    void *args[6] = {&map, &row_map, &index, &src, (void *)&units, &sink};
    cudaEvent_t a, b; cudaEventCreate(&a); cudaEventCreate(&b);
    CHECK(cudaMemset(sink, 0, 8));
    CHECK(cudaLaunchKernel(kernels[m], dim3(grid), dim3(256), args, smem, 0));  // warm-up
    CHECK(cudaDeviceSynchronize());
    cudaEventRecord(a);
    CHECK(cudaLaunchKernel(kernels[m], dim3(grid), dim3(256), args, smem, 0));
    cudaEventRecord(b);
    CHECK(cudaEventSynchronize(b));
    float ms; cudaEventElapsedTime(&ms, a, b);
    unsigned long long check; CHECK(cudaMemcpy(&check, sink, 8, cudaMemcpyDeviceToHost));
    // Bytes delivered to shared memory: every unit is one tile (MODE 2: one tile to each CTA of the pair).
    const double delivered = (double)units * kTileBytes * (m == 2 ? 2 : 1);
    printf("%-18s %8.1f us  delivered %.3f GB  %.2f TB/s into shared memory  checksum %llu\n", names[m], ms * 1e3,
           delivered / 1e9, delivered / (ms * 1e-3) / 1e12, check);
  }
  return 0;
}
