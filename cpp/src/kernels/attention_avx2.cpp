// AVX2+FMA row loops of attention (see attention_internal.hpp). Eight lanes accumulate in a fixed order and are
// folded the same way every time: a row's result depends only on the row.
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "kernels/attention_internal.hpp"

namespace nncore::kernels {

namespace {
// e^x for x in [-87.3, 88.3] (clamped): x = n ln2 + r, e^r by Cephes's degree-6 expf polynomial, 2^n through the
// exponent bits (as the recurrent kernels' exp).
__m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

float fold(__m256 v) {  // lanes 0+4, 1+5, ... then pairs: a fixed order
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

__m256i tail_mask(int64_t r) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(r)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

float row_max(const float* x, int64_t n) {
  const float ninf = -std::numeric_limits<float>::infinity();
  __m256 m = _mm256_set1_ps(ninf);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  if (i < n) {
    const __m256i k = tail_mask(n - i);
    m = _mm256_max_ps(m, _mm256_blendv_ps(_mm256_set1_ps(ninf), _mm256_maskload_ps(x + i, k), _mm256_castsi256_ps(k)));
  }
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

float row_exp_sum(float* x, int64_t n, float shift) {
  const __m256 sh = _mm256_set1_ps(shift), ninf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 sum = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 e = _mm256_andnot_ps(_mm256_cmp_ps(v, ninf, _CMP_EQ_OQ), exp8(_mm256_add_ps(v, sh)));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (i < n) {
    const __m256i k = tail_mask(n - i);
    const __m256 v = _mm256_maskload_ps(x + i, k);
    __m256 e = _mm256_andnot_ps(_mm256_cmp_ps(v, ninf, _CMP_EQ_OQ), exp8(_mm256_add_ps(v, sh)));
    e = _mm256_and_ps(e, _mm256_castsi256_ps(k));
    _mm256_maskstore_ps(x + i, k, e);
    sum = _mm256_add_ps(sum, e);
  }
  return fold(sum);
}

float row_dot(const float* x, const float* y, int64_t n) {
  __m256 s = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s);
  if (i < n) {
    const __m256i k = tail_mask(n - i);
    s = _mm256_fmadd_ps(_mm256_maskload_ps(x + i, k), _mm256_maskload_ps(y + i, k), s);
  }
  return fold(s);
}
}  // namespace

const AttentionRowKernel attention_row_kernel_avx2 = {row_max, row_exp_sum, row_dot, "avx2"};

}  // namespace nncore::kernels
