// AVX2+FMA row loops of attention (see attention_internal.hpp). Eight lanes accumulate in a fixed order and are
// folded the same way every time: a row's result depends only on the row.
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "kernels/attention_internal.hpp"
#include "kernels/avx2_math.hpp"

namespace nncore::kernels {

namespace {
using avx2::exp_ps;

float fold(__m256 v) {  // lanes 0+4, 1+5, ... then pairs: a fixed order
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

float row_max(const float* x, int64_t n) {
  const float ninf = -std::numeric_limits<float>::infinity();
  __m256 m = _mm256_set1_ps(ninf);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  if (i < n) {
    const __m256i k = avx2::lane_mask(n - i);
    m = _mm256_max_ps(m, _mm256_blendv_ps(_mm256_set1_ps(ninf), _mm256_maskload_ps(x + i, k), _mm256_castsi256_ps(k)));
  }
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

float row_exp_sum(float* x, int64_t n, float scale, float shift) {
  const __m256 sc = _mm256_set1_ps(scale), sh = _mm256_set1_ps(shift), ninf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 sum = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 e = _mm256_andnot_ps(_mm256_cmp_ps(v, ninf, _CMP_EQ_OQ), exp_ps(_mm256_fmadd_ps(v, sc, sh)));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (i < n) {
    const __m256i k = avx2::lane_mask(n - i);
    const __m256 v = _mm256_maskload_ps(x + i, k);
    __m256 e = _mm256_andnot_ps(_mm256_cmp_ps(v, ninf, _CMP_EQ_OQ), exp_ps(_mm256_fmadd_ps(v, sc, sh)));
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
    const __m256i k = avx2::lane_mask(n - i);
    s = _mm256_fmadd_ps(_mm256_maskload_ps(x + i, k), _mm256_maskload_ps(y + i, k), s);
  }
  return fold(s);
}
}  // namespace

const AttentionRowKernel attention_row_kernel_avx2 = {row_max, row_exp_sum, row_dot, "avx2"};

}  // namespace nncore::kernels
