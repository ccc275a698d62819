// Portable GEMM micro-kernel: C (4 x 8) = beta * C + a * b on packed panels. Plain fixed-size loops that the
// compiler turns into SSE2 at the x86-64 baseline (8 xmm accumulators + 2 for b + 1 for a in 16 registers);
// it is also the fallback on CPUs and architectures without a hand-written kernel.
#include "kernels/gemm_internal.hpp"

namespace nncore::kernels {

namespace {

constexpr int MR = 4;
constexpr int NR = 8;

void micro_kernel_generic(int64_t kc, const float* a, int64_t rs_a, int64_t cs_a, const float* b, float beta,
                          float* c, int64_t ldc) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < MR; ++i) {
      const float ai = a[i * rs_a];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
    }
    a += cs_a;
    b += NR;
  }
  // beta == 0 must not read C: it may be uninitialized or NaN, and 0 * NaN would leak into the result.
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < NR; ++j) ci[j] = acc[i][j];
    } else if (beta == 1.0f) {
      for (int j = 0; j < NR; ++j) ci[j] += acc[i][j];
    } else {
      for (int j = 0; j < NR; ++j) ci[j] = beta * ci[j] + acc[i][j];
    }
  }
}

}  // namespace

// KC * NR * 4 B = 8 KiB of B per micro-panel in L1; MC * KC * 4 B = 256 KiB of A in L2.
const GemmKernel gemm_kernel_generic = {MR,      NR, 256, 256, 4096, micro_kernel_generic, 0, nullptr, 1, 0, nullptr,
                                        0,       0,  "generic 4x8"};

}  // namespace nncore::kernels
