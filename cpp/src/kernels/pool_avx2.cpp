// AVX2 max pooling over runs of output pixels, 8 channels per ymm: the running max and its index stay in
// registers across the window (compare, two blends per position); the ragged last channel vector goes through
// maskload/maskstore. This TU is compiled with -mavx2 -mfma: no inline function or template shared with
// baseline TUs, only intrinsics and internal helpers.
#include <immintrin.h>

#include "kernels/pool_internal.hpp"

namespace nncore::kernels {

namespace {

__m256i lane_mask(int64_t n) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < 8 ? n : 8)), lanes);
}

// Track: keep the argmax (training); without it (inference) the max alone, with max_ps(v, best), which is
// v > best ? v : best lane by lane (NaN and signed zeros alike): the same maxima.
template <bool Track>
void max_forward_run(float* y, int32_t* arg, const float* xb, int64_t C, int64_t n, int64_t step, const int32_t* off,
                     int npos) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t o = 0; o < n; ++o, y += C, arg += Track ? C : 0) {
    const int64_t base = o * step;
    for (int64_t c = 0; c < C; c += 8) {
      const bool full = C - c >= 8;
      const __m256i m = lane_mask(C - c);
      const int32_t i0 = static_cast<int32_t>(off[0] + base + c);
      __m256 best = full ? _mm256_loadu_ps(xb + i0) : _mm256_maskload_ps(xb + i0, m);
      __m256 at = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_set1_epi32(i0), iota));
      for (int k = 1; k < npos; ++k) {
        const int32_t ik = static_cast<int32_t>(off[k] + base + c);
        const __m256 v = full ? _mm256_loadu_ps(xb + ik) : _mm256_maskload_ps(xb + ik, m);
        if (!Track) {
          best = _mm256_max_ps(v, best);
          continue;
        }
        const __m256 gt = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
        best = _mm256_blendv_ps(best, v, gt);
        at = _mm256_blendv_ps(at, _mm256_castsi256_ps(_mm256_add_epi32(_mm256_set1_epi32(ik), iota)), gt);
      }
      if (full) {
        _mm256_storeu_ps(y + c, best);
        if (Track) _mm256_storeu_ps(reinterpret_cast<float*>(arg + c), at);
      } else {
        _mm256_maskstore_ps(y + c, m, best);
        if (Track) _mm256_maskstore_ps(reinterpret_cast<float*>(arg + c), m, at);
      }
    }
  }
}

void max_forward_avx2(float* y, int32_t* arg, const float* xb, int64_t C, int64_t n, int64_t step,
                      const int32_t* off, int npos) {
  if (arg != nullptr) max_forward_run<true>(y, arg, xb, C, n, step, off, npos);
  else max_forward_run<false>(y, arg, xb, C, n, step, off, npos);
}

void max_backward_tiled_avx2(float* dxb, const float* dy, const int32_t* arg, int64_t C, int64_t n, int64_t step,
                             const int32_t* off, int npos) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t o = 0; o < n; ++o, dy += C, arg += C) {
    const int64_t base = o * step;
    for (int64_t c = 0; c < C; c += 8) {
      const bool full = C - c >= 8;
      const __m256i m = lane_mask(C - c);
      const __m256 g = full ? _mm256_loadu_ps(dy + c) : _mm256_maskload_ps(dy + c, m);
      const __m256i at = full ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(arg + c))
                              : _mm256_castps_si256(_mm256_maskload_ps(reinterpret_cast<const float*>(arg + c), m));
      for (int k = 0; k < npos; ++k) {
        const int32_t ik = static_cast<int32_t>(off[k] + base + c);
        const __m256i hit = _mm256_cmpeq_epi32(at, _mm256_add_epi32(_mm256_set1_epi32(ik), iota));
        const __m256 d = _mm256_and_ps(g, _mm256_castsi256_ps(hit));
        if (full) _mm256_storeu_ps(dxb + ik, d);
        else _mm256_maskstore_ps(dxb + ik, m, d);
      }
    }
  }
}

}  // namespace

const PoolKernel pool_kernel_avx2 = {max_forward_avx2, max_backward_tiled_avx2, "avx2"};

}  // namespace nncore::kernels
