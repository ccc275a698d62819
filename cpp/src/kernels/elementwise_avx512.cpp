// AVX-512 scan for non-finite floats (elementwise_internal.hpp). Compiled with -mavx512f: plain functions only.
#include <immintrin.h>

#include "kernels/elementwise_internal.hpp"

namespace nncore::kernels {

bool any_nonfinite_avx512(const float* x, int64_t n) {
  const __m512i expo = _mm512_set1_epi32(0x7f800000);
  __mmask16 hit = 0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int u = 0; u < 4; ++u) {
      const __m512i v = _mm512_loadu_si512(x + i + 16 * u);
      hit |= _mm512_cmpeq_epi32_mask(_mm512_and_si512(v, expo), expo);
    }
  for (; i < n; i += 16) {  // the masked-off lanes load as 0: finite
    const int64_t left = n - i;
    const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
    const __m512i v = _mm512_maskz_loadu_epi32(m, x + i);
    hit |= _mm512_cmpeq_epi32_mask(_mm512_and_si512(v, expo), expo);
  }
  return hit != 0;
}

}  // namespace nncore::kernels
