// AVX2 + FMA GEMM micro-kernel: C (6 x 16) = beta * C + a * b on packed panels.
// 12 ymm accumulators + 2 for the b row + 1 broadcast of a = 15 of 16 registers; per k step 2 loads and 6
// broadcasts feed 12 FMAs, which keeps both FMA pipes busy through their 4-cycle latency.
// This TU is compiled with -mavx2 -mfma: it must define no inline function or template shared with baseline
// TUs (the linker could keep this AVX copy for everyone), hence plain C-style code and intrinsics only.
#include <immintrin.h>

#include "kernels/gemm_internal.hpp"

namespace nncore::kernels {

namespace {

constexpr int MR = 6;
constexpr int NR = 16;

void micro_kernel_avx2(int64_t kc, const float* a, int64_t rs_a, int64_t cs_a, const float* b, float beta,
                       float* c, int64_t ldc) {
  // The C tile is touched only after the k loop; fetching it now hides the miss behind the FMAs.
  for (int i = 0; i < MR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NR - 1), _MM_HINT_T0);
  }
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();

#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i * rs_a);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += cs_a;
    b += NR;
  }

  // beta == 0 must not read C: it may be uninitialized or NaN, and 0 * NaN would leak into the result.
  if (beta == 0.0f) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      _mm256_storeu_ps(c + i * ldc, acc[i][0]);
      _mm256_storeu_ps(c + i * ldc + 8, acc[i][1]);
    }
  } else if (beta == 1.0f) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      _mm256_storeu_ps(c + i * ldc, _mm256_add_ps(_mm256_loadu_ps(c + i * ldc), acc[i][0]));
      _mm256_storeu_ps(c + i * ldc + 8, _mm256_add_ps(_mm256_loadu_ps(c + i * ldc + 8), acc[i][1]));
    }
  } else {
    const __m256 vbeta = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      _mm256_storeu_ps(c + i * ldc, _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(c + i * ldc), acc[i][0]));
      _mm256_storeu_ps(c + i * ldc + 8, _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(c + i * ldc + 8), acc[i][1]));
    }
  }
}

}  // namespace

// Blocking for Zen4-class caches (32 KiB L1d, 1 MiB L2): KC * NR * 4 B = 16 KiB of B per micro-panel in L1,
// MC * KC * 4 B = 192 KiB of A in L2, a KC x NC block of B (4 MiB) in L3.
const GemmKernel gemm_kernel_avx2 = {MR, NR, 192, 256, 4096, micro_kernel_avx2, "avx2 6x16"};

}  // namespace nncore::kernels
