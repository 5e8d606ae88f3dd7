// moe_common.cuh — shared device helpers for Switchyard's kernels.
//
// Self-contained on purpose: no CUDA toolkit headers are included, so NVRTC needs no -I path and the kernels
// compile the same on a CPU-only CI machine (from the NVRTC wheel) and on the GPU machine.
// bf16 values travel as raw 16-bit patterns (`bf16_t`); conversions use the PTX cvt instructions.
// Everything here targets sm_90a (wgmma, fence.proxy.async); cp.async needs sm_80+.
#pragma once

typedef unsigned short bf16_t;
typedef unsigned int u32;
typedef unsigned long long u64;

#define SY_DEVICE __device__ __forceinline__

// ---- numbers ---------------------------------------------------------------------------------------------

SY_DEVICE float bf16_to_float(bf16_t h) { return __uint_as_float(((u32)h) << 16); }

SY_DEVICE bf16_t float_to_bf16(float f) {
  bf16_t h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}

// Two floats to a packed bf16x2 (lo in the low half, i.e. at the lower address).
SY_DEVICE u32 pack_bf16x2(float lo, float hi) {
  u32 r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

SY_DEVICE float round_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

// σ(x) with the fast division (2 ulp; no IEEE slow-path call in the GEMM epilogues). Large |x| gives 0 or 1.
SY_DEVICE float sigmoidf_(float x) { return __fdividef(1.0f, 1.0f + __expf(-x)); }

// ---- shared memory and async copies ----------------------------------------------------------------------

SY_DEVICE u32 smem_addr(const void *p) { return (u32)__cvta_generic_to_shared(p); }

// 16-byte global→shared copy; src_bytes = 0 writes 16 zero bytes (used for rows past an expert's end).
SY_DEVICE void cp_async_16(u32 dst, const void *src, u32 src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
SY_DEVICE void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> SY_DEVICE void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }

// Makes generic-proxy writes to shared memory (cp.async, st.shared) visible to the async proxy (wgmma, TMA).
SY_DEVICE void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// ---- TMA (tensor maps) and mbarriers ----------------------------------------------------------------------

// A CUtensorMap (128 bytes, 64-byte aligned) as the host encoded it (TensorMap.swift); passed to kernels as a
// `const __grid_constant__ SyTensorMap` parameter, whose address the copy instruction takes.
struct alignas(64) SyTensorMap {
  u64 words[16];
};

SY_DEVICE void mbar_init(u32 bar, u32 count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// One arrival that also announces `bytes` of asynchronous copies to complete on the barrier.
SY_DEVICE void mbar_expect_tx(u32 bar, u32 bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
// Waits until the barrier's phase with parity `parity` has completed.
SY_DEVICE void mbar_wait(u32 bar, u32 parity) {
  u32 done = 0;
  while (!done) {
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done) : "r"(bar), "r"(parity) : "memory");
  }
}
// 16 zero bytes into shared memory.
SY_DEVICE void st_shared_zero16(u32 dst) {
  asm volatile("st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" ::"r"(dst), "r"(0u) : "memory");
}
// A 2-D box of `map` at (column, row) into shared memory at `dst`, completing `bytes` on `bar`.
SY_DEVICE void tma_load_2d(u32 dst, const SyTensorMap *map, int column, int row, u32 bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n"
               ::"r"(dst), "l"((u64)map), "r"(column), "r"(row), "r"(bar) : "memory");
}

// L2 eviction policies for the copies' `.L2::cache_hint` forms (v20): evict_first for data the kernel writes and
// never reads again, evict_last for data that many of its tiles read.
SY_DEVICE u64 l2_evict_first_policy() {
  u64 p;
  asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));  // pure: the compiler may hoist it
  return p;
}
SY_DEVICE u64 l2_evict_last_policy() {
  u64 p;
  asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;\n" : "=l"(p));
  return p;
}

// Byte offset of 16-byte chunk `chunk` (0..7) of row `row` in a tile of 128-byte rows with the 128B swizzle:
// the chunk index is XORed with the row's position in its 8-row group (what wgmma's SWIZZLE_128B expects).
SY_DEVICE u32 swizzle128(u32 row, u32 chunk) { return row * 128u + ((chunk ^ (row & 7u)) << 4); }

// ---- wgmma -----------------------------------------------------------------------------------------------

// Shared-memory matrix descriptor for a K-major bf16 tile of 128-byte rows, 128B swizzle, 8-row groups 1024 B
// apart (SBO = 1024). The tile base must be 1024-byte aligned; advancing the start address by 32 B selects the
// next 16-wide K slice.
SY_DEVICE u64 wgmma_desc_k_major_sw128(u32 smem_byte_address) {
  u64 desc = 0;
  desc |= (u64)((smem_byte_address & 0x3FFFF) >> 4);
  desc |= (u64)(16 >> 4) << 16;    // leading byte offset (unused for swizzled K-major)
  desc |= (u64)(1024 >> 4) << 32;  // stride byte offset: next 8-row group
  desc |= (u64)1 << 62;            // swizzle mode 1 = 128B
  return desc;
}

// Descriptor for an MN-major bf16 tile with the 128B swizzle: rows are K, each 128 bytes = 64 M (or N) values;
// 8 K-rows make one 1024-byte swizzle atom (SBO = 1024 between K groups); 64-wide M/N chunks lie `chunk_bytes`
// apart (LBO). Advancing the start address by 16 rows (2048 B) selects the next 16-deep K slice.
SY_DEVICE u64 wgmma_desc_mn_major_sw128(u32 smem_byte_address, u32 chunk_bytes) {
  u64 desc = 0;
  desc |= (u64)((smem_byte_address & 0x3FFFF) >> 4);
  desc |= (u64)((chunk_bytes & 0x3FFFF) >> 4) << 16;  // leading byte offset: next 64-wide M/N chunk
  desc |= (u64)(1024 >> 4) << 32;                     // stride byte offset: next 8 K-rows
  desc |= (u64)1 << 62;
  return desc;
}

SY_DEVICE void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
SY_DEVICE void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> SY_DEVICE void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }

// Keeps the compiler from moving accumulator reads/writes across wgmma issue/wait points.
SY_DEVICE void fence_operand(float &r) { asm volatile("" : "+f"(r)::"memory"); }

// D(64×N, fp32) += A(64×16, bf16, smem desc) · B(16×N, bf16, smem desc), N = 128 or 256. TRANS = 0: both operands
// K-major; TRANS = 1: both MN-major (imm-trans-a = imm-trans-b = 1: A stored M-contiguous, B N-contiguous; the
// weight-gradient GEMMs, whose reduction runs over token rows). scale_d == 0 overwrites D (a tile's first k step).
template <int TRANS>
__device__ __forceinline__ void wgmma_m64n128k16_bf16(float (&d)[64], u64 desc_a, u64 desc_b, int scale_d) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "%64, %65, p, 1, 1, %67, %67;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
      "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
      "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
      "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
      "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
      "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
      "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d), "n"(TRANS));
}

template <int TRANS>
__device__ __forceinline__ void wgmma_m64n256k16_bf16(float (&d)[128], u64 desc_a, u64 desc_b, int scale_d) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, "
      "%128, %129, p, 1, 1, %131, %131;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
      "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
      "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
      "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
      "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
      "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
      "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
      "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
      "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
      "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
      "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
      "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
      "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
      "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
      "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d), "n"(TRANS));
}

// One warpgroup's k16 step for a BN-wide tile (BN = 128 or 256): K-major or MN-major operands.
template <int BN, bool MN_MAJOR>
SY_DEVICE void wgmma_step(float (&acc)[BN / 2], u64 desc_a, u64 desc_b, int scale_d) {
  if constexpr (BN == 256) wgmma_m64n256k16_bf16<MN_MAJOR ? 1 : 0>(acc, desc_a, desc_b, scale_d);
  else wgmma_m64n128k16_bf16<MN_MAJOR ? 1 : 0>(acc, desc_a, desc_b, scale_d);
}
