// AVX-512 GEMM micro-kernel: C (8 x 32) = beta * C + a * b on packed panels.
// 16 zmm accumulators + 2 for the b row + 1 broadcast. Zen4 runs a 512-bit FMA as two 256-bit halves (one per
// cycle, 4-cycle latency), so 16 accumulators already saturate it; measured against 12x32, 14x32, 6x64 and
// 8x48, 8 x 32 was as fast on large squares and fastest at batch 32 / 128 (MR = 8 divides them).
// This TU is compiled with -mavx512f/vl/bw/dq: it must define no inline function or template shared with
// baseline TUs (the linker could keep this AVX-512 copy for everyone), hence plain C-style code and intrinsics.
#include <immintrin.h>

#include "kernels/gemm_internal.hpp"

namespace nncore::kernels {

namespace {

constexpr int MR = 8;
constexpr int NR = 32;
constexpr int NV = NR / 16;  // zmm vectors per tile row
static_assert(NR % 16 == 0 && MR * NV + NV + 1 <= 32, "tile must fit the 32 zmm registers");

void micro_kernel_avx512(int64_t kc, const float* a, int64_t rs_a, int64_t cs_a, const float* b, float beta,
                         float* c, int64_t ldc) {
  // The C tile is touched only after the k loop; fetching it now hides the miss behind the FMAs.
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v <= NV; ++v)
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + (v < NV ? 16 * v : NR - 1)), _MM_HINT_T0);
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();

#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i * rs_a]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += cs_a;
    b += NR;
  }

  // beta == 0 must not read C: it may be uninitialized or NaN, and 0 * NaN would leak into the result.
  const __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512 r = acc[i][v];
      if (beta == 1.0f)
        r = _mm512_add_ps(_mm512_loadu_ps(ci + 16 * v), r);
      else if (beta != 0.0f)
        r = _mm512_fmadd_ps(vbeta, _mm512_loadu_ps(ci + 16 * v), r);
      _mm512_storeu_ps(ci + 16 * v, r);
    }
  }
}

}  // namespace

// Blocking for Zen4-class caches (32 KiB L1d, 1 MiB L2): KC * NR * 4 B = 32 KiB of B per micro-panel streams
// through L1, MC * KC * 4 B = 192 KiB of A in L2, a KC x NC block of B (4 MiB) in L3.
const GemmKernel gemm_kernel_avx512 = {MR, NR, 192, 256, 4096, micro_kernel_avx512, "avx512 8x32"};

}  // namespace nncore::kernels
