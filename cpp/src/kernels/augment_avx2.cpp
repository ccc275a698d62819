// AVX2 blocks of the image resampling (augment_internal.hpp): the eight pixels' coordinates in registers, mapped by
// the fill mode there, and the (up to four) taps fetched by masked gathers, one channel at a time; a tap outside
// the image is masked off and its weight goes to the fill value. Compiled with -mavx2 -mfma.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels/augment_internal.hpp"

namespace nncore::kernels {

namespace {

// The helpers are forced inline: as calls they pass their vectors through memory.
[[gnu::always_inline]] inline __m256 clamp(__m256 v, __m256 hi) { return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), hi); }

// fmod(c, m) (exact, the sign of c) for m > 0, then + m where negative: the scalar path's two steps.
[[gnu::always_inline]] inline __m256 positive_mod(__m256 c, __m256 m) {
  // The quotient from the reciprocal may be off by one either way; the steps below correct it.
  const __m256 q = _mm256_round_ps(_mm256_mul_ps(c, _mm256_div_ps(_mm256_set1_ps(1.f), m)),
                                   _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(q, m, c);  // exact when q is the true quotient; a rounded division is off by one
  const __m256 zero = _mm256_setzero_ps();
  const __m256 c_neg = _mm256_cmp_ps(c, zero, _CMP_LT_OQ);
  // The true fmod has |r| < m and the sign of c (or is 0): step back where the quotient overshot or undershot.
  r = _mm256_blendv_ps(r, _mm256_sub_ps(r, m), _mm256_andnot_ps(c_neg, _mm256_cmp_ps(r, m, _CMP_GE_OQ)));
  r = _mm256_blendv_ps(r, _mm256_add_ps(r, m), _mm256_andnot_ps(c_neg, _mm256_cmp_ps(r, zero, _CMP_LT_OQ)));
  r = _mm256_blendv_ps(r, _mm256_add_ps(r, m), _mm256_and_ps(c_neg, _mm256_cmp_ps(r, _mm256_sub_ps(zero, m), _CMP_LE_OQ)));
  r = _mm256_blendv_ps(r, _mm256_sub_ps(r, m), _mm256_and_ps(c_neg, _mm256_cmp_ps(r, zero, _CMP_GT_OQ)));
  return _mm256_blendv_ps(r, _mm256_add_ps(r, m), _mm256_cmp_ps(r, zero, _CMP_LT_OQ));
}

// map_coord of augment.cpp on eight coordinates.
[[gnu::always_inline]] inline __m256 map_coord(__m256 c, int64_t len, ImageFill fill) {
  const float n = static_cast<float>(len);
  const __m256 hi = _mm256_set1_ps(n - 1.f);
  switch (fill) {
    case ImageFill::reflect: {
      if (len <= 1) return _mm256_setzero_ps();
      const __m256 two_n = _mm256_set1_ps(2.f * n);
      __m256 t = positive_mod(c, two_n);
      t = _mm256_blendv_ps(t, _mm256_sub_ps(_mm256_set1_ps(2.f * n - 1.f), t),
                           _mm256_cmp_ps(t, _mm256_set1_ps(n), _CMP_GE_OQ));
      return clamp(t, hi);
    }
    case ImageFill::wrap:
      return clamp(positive_mod(c, _mm256_set1_ps(n)), hi);
    case ImageFill::nearest:
      return clamp(c, hi);
    case ImageFill::constant:
      break;
  }
  return c;
}

// std::round (half away from zero).
[[gnu::always_inline]] inline __m256 round_half_away(__m256 v) {
  const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.f));
  const __m256 a = _mm256_floor_ps(_mm256_add_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), v), _mm256_set1_ps(0.5f)));
  return _mm256_or_ps(a, sign);
}

// A tap at (r, c) with weight w: its gather mask (inside the image and w != 0), its element offsets (p * C) and
// the weight it sends to the fill value (outside and w != 0).
struct Tap {
  __m256 inside, w, w_out;
  __m256i at;
};
[[gnu::always_inline]] inline Tap tap(__m256 r, __m256 c, __m256 w, const ImageGeom& g) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 h1 = _mm256_set1_ps(static_cast<float>(g.H - 1)), w1 = _mm256_set1_ps(static_cast<float>(g.W - 1));
  const __m256 used = _mm256_cmp_ps(w, zero, _CMP_NEQ_UQ);
  const __m256 in = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(r, zero, _CMP_GE_OQ), _mm256_cmp_ps(c, zero, _CMP_GE_OQ)),
                                  _mm256_and_ps(_mm256_cmp_ps(r, h1, _CMP_LE_OQ), _mm256_cmp_ps(c, w1, _CMP_LE_OQ)));
  // Outside lanes get row and column 0 (never read): far-away constant-fill coordinates must not overflow.
  const __m256 rs = _mm256_and_ps(r, in), cs = _mm256_and_ps(c, in);
  const __m256i p = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_cvttps_epi32(rs), _mm256_set1_epi32(static_cast<int>(g.W))),
                                     _mm256_cvttps_epi32(cs));
  return {_mm256_and_ps(in, used), w, _mm256_andnot_ps(in, _mm256_and_ps(used, w)),
          _mm256_mullo_epi32(p, _mm256_set1_epi32(static_cast<int>(g.C)))};
}

[[gnu::always_inline]] inline __m256 gather(const float* base, const Tap& k) {
  return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, k.at, k.inside, 4);
}

// A shift along the row (t0 = 1, t3 = 0: the eight pixels' columns are consecutive, their row the same) whose two
// rows of taps lie inside the image: two unaligned loads per tap row instead of four gathers. Same arithmetic.
bool translated_row(float* out, const float* xb, const ImageGeom& g, __m256 row, __m256 col) {
  alignas(32) float r[8], c[8];
  _mm256_store_ps(r, row);
  _mm256_store_ps(c, col);
  const float r0 = std::floor(r[0]), c0 = std::floor(c[0]);
  // The whole 2 x 9 neighbourhood inside the image, and lane k's column in [c0 + k, c0 + k + 1).
  const __m256 cf = _mm256_floor_ps(col);
  const __m256 steps = _mm256_add_ps(_mm256_set1_ps(c0), _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7));
  if (!(r0 >= 0.f && r0 + 1.f <= static_cast<float>(g.H - 1) && c0 >= 0.f && c0 + 8.f <= static_cast<float>(g.W - 1) &&
        r[7] == r[0] && _mm256_movemask_ps(_mm256_cmp_ps(cf, steps, _CMP_EQ_OQ)) == 0xFF))
    return false;
  const __m256 fr = _mm256_sub_ps(row, _mm256_set1_ps(r0)), fc = _mm256_sub_ps(col, cf);
  const __m256 one = _mm256_set1_ps(1.f);
  const __m256 gr = _mm256_sub_ps(one, fr), gc = _mm256_sub_ps(one, fc);
  const float* p = xb + static_cast<int64_t>(r0) * g.W + static_cast<int64_t>(c0);
  __m256 v = _mm256_mul_ps(_mm256_mul_ps(gr, gc), _mm256_loadu_ps(p));
  v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_mul_ps(gr, fc), _mm256_loadu_ps(p + 1)));
  v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_mul_ps(fr, gc), _mm256_loadu_ps(p + g.W)));
  v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_mul_ps(fr, fc), _mm256_loadu_ps(p + g.W + 1)));
  _mm256_storeu_ps(out, v);
  return true;
}

void block_avx2(float* out, const float* xb, const ImageGeom& g, const float* t, int64_t i, int64_t j0, int64_t n,
                bool bilinear, ImageFill fill, float fill_value) {
  const __m256 j = _mm256_add_ps(_mm256_set1_ps(static_cast<float>(j0)), _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7));
  const float y = static_cast<float>(i);
  // The scalar path's arithmetic: col = t0 j + (t1 y + t2), row = t3 j + (t4 y + t5), unfused; then the mapping
  // (the identity inside the image).
  const __m256 col = map_coord(_mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(t[0]), j), _mm256_set1_ps(t[1] * y + t[2])),
                               g.W, fill);
  const __m256 row = map_coord(_mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(t[3]), j), _mm256_set1_ps(t[4] * y + t[5])),
                               g.H, fill);
  const __m256 one = _mm256_set1_ps(1.f), fv = _mm256_set1_ps(fill_value);
  if (bilinear && g.C == 1 && n == 8 && t[0] == 1.f && t[3] == 0.f && translated_row(out + j0, xb, g, row, col)) return;
  Tap k[4];
  int taps = 1;
  if (!bilinear) {
    k[0] = tap(round_half_away(row), round_half_away(col), one, g);
  } else {
    const __m256 r0 = _mm256_floor_ps(row), c0 = _mm256_floor_ps(col);
    const __m256 fr = _mm256_sub_ps(row, r0), fc = _mm256_sub_ps(col, c0);
    const __m256 gr = _mm256_sub_ps(one, fr), gc = _mm256_sub_ps(one, fc);
    const __m256 r1 = _mm256_add_ps(r0, one), c1 = _mm256_add_ps(c0, one);
    k[0] = tap(r0, c0, _mm256_mul_ps(gr, gc), g);
    k[1] = tap(r0, c1, _mm256_mul_ps(gr, fc), g);
    k[2] = tap(r1, c0, _mm256_mul_ps(fr, gc), g);
    k[3] = tap(r1, c1, _mm256_mul_ps(fr, fc), g);
    taps = 4;
  }
  // The weight outside, summed in the scalar path's tap order.
  __m256 outside = k[0].w_out;
  for (int m = 1; m < taps; ++m) outside = _mm256_add_ps(outside, k[m].w_out);
  const __m256 fill_part = _mm256_mul_ps(outside, fv);
  const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  alignas(32) float lane[8];
  for (int64_t ch = 0; ch < g.C; ++ch) {
    const float* base = xb + ch;
    // ((w00 v00 + w01 v01) + w10 v10) + w11 v11, each product rounded, then the fill: the scalar path's order
    // (a masked tap adds an exact 0).
    __m256 v = _mm256_mul_ps(k[0].w, gather(base, k[0]));
    for (int m = 1; m < taps; ++m) v = _mm256_add_ps(v, _mm256_mul_ps(k[m].w, gather(base, k[m])));
    v = _mm256_add_ps(v, fill_part);
    if (g.C == 1) {
      if (n == 8) _mm256_storeu_ps(out + j0, v);
      else _mm256_maskstore_ps(out + j0, lanes, v);
    } else {
      _mm256_store_ps(lane, v);
      for (int64_t m = 0; m < n; ++m) out[(j0 + m) * g.C + ch] = lane[m];
    }
  }
}

}  // namespace

const ImageBlockKernel image_block_avx2 = block_avx2;

}  // namespace nncore::kernels
