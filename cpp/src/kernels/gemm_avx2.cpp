// AVX2 + FMA GEMM micro-kernel: C (4 x 24) = beta * C + a * b on packed panels.
// 12 ymm accumulators + 3 for the b row + 1 broadcast of a = 16 registers; per k step 3 loads and 4 broadcasts
// feed 12 FMAs, which keeps both FMA pipes busy through their 4-cycle latency. 4 x 24 beat 6 x 16 on Zen4:
// equal on large squares, ~10% faster at batch 32, 128 (MR = 4 divides the usual batch sizes, 6 wastes 1/9).
// This TU is compiled with -mavx2 -mfma: it must define no inline function or template shared with baseline
// TUs (the linker could keep this AVX copy for everyone), hence plain C-style code and intrinsics only.
#include <immintrin.h>

#include "kernels/gemm_internal.hpp"

namespace nncore::kernels {

namespace {

constexpr int MR = 4;
constexpr int NR = 24;
constexpr int NV = NR / 8;  // ymm vectors per tile row
static_assert(NR % 8 == 0 && MR * NV + NV + 1 <= 16, "tile must fit the 16 ymm registers");

void micro_kernel_avx2(int64_t kc, const float* a, int64_t rs_a, int64_t cs_a, const float* b, float beta,
                       float* c, int64_t ldc) {
  // The C tile is touched only after the k loop; fetching it now hides the miss behind the FMAs.
  for (int i = 0; i < MR; ++i) {
    for (int v = 0; v <= NV; ++v)
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + (v < NV ? 8 * v : NR - 1)), _MM_HINT_T0);
  }
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();

#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i * rs_a);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += cs_a;
    b += NR;
  }

  // beta == 0 must not read C: it may be uninitialized or NaN, and 0 * NaN would leak into the result.
  const __m256 vbeta = _mm256_set1_ps(beta);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m256 r = acc[i][v];
      if (beta == 1.0f)
        r = _mm256_add_ps(_mm256_loadu_ps(ci + 8 * v), r);
      else if (beta != 0.0f)
        r = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(ci + 8 * v), r);
      _mm256_storeu_ps(ci + 8 * v, r);
    }
  }
}

}  // namespace

// Blocking for Zen4-class caches (32 KiB L1d, 1 MiB L2): KC * NR * 4 B = 24 KiB of B per micro-panel in L1,
// MC * KC * 4 B = 192 KiB of A in L2, a KC x NC block of B (4 MiB) in L3.
const GemmKernel gemm_kernel_avx2 = {MR, NR, 192, 256, 4080, micro_kernel_avx2, "avx2 4x24"};

}  // namespace nncore::kernels
