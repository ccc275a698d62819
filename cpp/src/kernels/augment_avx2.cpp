// AVX2 blocks of the image resampling (augment_internal.hpp): the eight pixels' coordinates in registers, the
// (up to four) taps fetched by gathers, one channel at a time. Compiled with -mavx2 -mfma.
#include <immintrin.h>

#include <cstdint>

#include "kernels/augment_internal.hpp"

namespace nncore::kernels {

namespace {
bool block_avx2(float* out, const float* xb, const ImageGeom& g, const float* t, int64_t i, int64_t j0,
                bool bilinear) {
  const __m256 j = _mm256_add_ps(_mm256_set1_ps(static_cast<float>(j0)), _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7));
  const float y = static_cast<float>(i);
  // The same arithmetic as the scalar path: col = t0 j + (t1 y + t2), row = t3 j + (t4 y + t5), unfused.
  const __m256 col = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(t[0]), j), _mm256_set1_ps(t[1] * y + t[2]));
  const __m256 row = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(t[3]), j), _mm256_set1_ps(t[4] * y + t[5]));
  const __m256 zero = _mm256_setzero_ps();
  const __m256 h1 = _mm256_set1_ps(static_cast<float>(g.H - 1)), w1 = _mm256_set1_ps(static_cast<float>(g.W - 1));
  // Bilinear reads the pixel after too, so its coordinate must stay below the last one.
  const __m256 row_ok = bilinear ? _mm256_cmp_ps(row, h1, _CMP_LT_OQ) : _mm256_cmp_ps(row, h1, _CMP_LE_OQ);
  const __m256 col_ok = bilinear ? _mm256_cmp_ps(col, w1, _CMP_LT_OQ) : _mm256_cmp_ps(col, w1, _CMP_LE_OQ);
  const __m256 inside = _mm256_and_ps(
      _mm256_and_ps(_mm256_cmp_ps(row, zero, _CMP_GE_OQ), _mm256_cmp_ps(col, zero, _CMP_GE_OQ)),
      _mm256_and_ps(row_ok, col_ok));
  if (_mm256_movemask_ps(inside) != 0xFF) return false;
  const int64_t C = g.C;
  const __m256i Wv = _mm256_set1_epi32(static_cast<int>(g.W)), Cv = _mm256_set1_epi32(static_cast<int>(C));
  alignas(32) float lane[8];
  if (!bilinear) {  // round half away from zero (std::round) of non-negative values: floor(x + 0.5)
    const __m256 half = _mm256_set1_ps(0.5f);
    const __m256i r = _mm256_cvttps_epi32(_mm256_floor_ps(_mm256_add_ps(row, half)));
    const __m256i c = _mm256_cvttps_epi32(_mm256_floor_ps(_mm256_add_ps(col, half)));
    const __m256i p = _mm256_mullo_epi32(_mm256_add_epi32(_mm256_mullo_epi32(r, Wv), c), Cv);
    for (int64_t ch = 0; ch < C; ++ch) {
      const __m256 v = _mm256_i32gather_ps(xb + ch, p, 4);
      if (C == 1) {
        _mm256_storeu_ps(out + j0, v);
      } else {
        _mm256_store_ps(lane, v);
        for (int k = 0; k < 8; ++k) out[(j0 + k) * C + ch] = lane[k];
      }
    }
    return true;
  }
  const __m256 r0 = _mm256_floor_ps(row), c0 = _mm256_floor_ps(col);
  const __m256 fr = _mm256_sub_ps(row, r0), fc = _mm256_sub_ps(col, c0);
  const __m256 one = _mm256_set1_ps(1.f);
  const __m256 gr = _mm256_sub_ps(one, fr), gc = _mm256_sub_ps(one, fc);
  const __m256 w00 = _mm256_mul_ps(gr, gc), w01 = _mm256_mul_ps(gr, fc), w10 = _mm256_mul_ps(fr, gc),
               w11 = _mm256_mul_ps(fr, fc);
  const __m256i p00 = _mm256_mullo_epi32(
      _mm256_add_epi32(_mm256_mullo_epi32(_mm256_cvttps_epi32(r0), Wv), _mm256_cvttps_epi32(c0)), Cv);
  const __m256i p01 = _mm256_add_epi32(p00, Cv), p10 = _mm256_add_epi32(p00, _mm256_mullo_epi32(Wv, Cv));
  const __m256i p11 = _mm256_add_epi32(p10, Cv);
  for (int64_t ch = 0; ch < C; ++ch) {
    const float* base = xb + ch;
    // The scalar path's order: ((w00 v00 + w01 v01) + w10 v10) + w11 v11, each product rounded.
    __m256 v = _mm256_mul_ps(w00, _mm256_i32gather_ps(base, p00, 4));
    v = _mm256_add_ps(v, _mm256_mul_ps(w01, _mm256_i32gather_ps(base, p01, 4)));
    v = _mm256_add_ps(v, _mm256_mul_ps(w10, _mm256_i32gather_ps(base, p10, 4)));
    v = _mm256_add_ps(v, _mm256_mul_ps(w11, _mm256_i32gather_ps(base, p11, 4)));
    if (C == 1) {
      _mm256_storeu_ps(out + j0, v);
    } else {
      _mm256_store_ps(lane, v);
      for (int k = 0; k < 8; ++k) out[(j0 + k) * C + ch] = lane[k];
    }
  }
  return true;
}
}  // namespace

const ImageBlockKernel image_block_avx2 = block_avx2;

}  // namespace nncore::kernels
