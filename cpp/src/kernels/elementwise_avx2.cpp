// AVX2 scan for non-finite floats (elementwise_internal.hpp). Compiled with -mavx2: plain functions only.
#include <immintrin.h>

#include <cstring>

#include "kernels/elementwise_internal.hpp"

namespace nncore::kernels {

bool any_nonfinite_avx2(const float* x, int64_t n) {
  const __m256i expo = _mm256_set1_epi32(0x7f800000);
  __m256i hit = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int u = 0; u < 4; ++u) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i + 8 * u));
      hit = _mm256_or_si256(hit, _mm256_cmpeq_epi32(_mm256_and_si256(v, expo), expo));
    }
  for (; i + 8 <= n; i += 8) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    hit = _mm256_or_si256(hit, _mm256_cmpeq_epi32(_mm256_and_si256(v, expo), expo));
  }
  bool tail = false;
  for (; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    tail |= (bits & 0x7f800000u) == 0x7f800000u;
  }
  return tail || !_mm256_testz_si256(hit, hit);
}

}  // namespace nncore::kernels
