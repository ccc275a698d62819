#pragma once
// Helpers shared by the AVX2 translation units (compiled with -mavx2 -mfma; include from those only).
#include <immintrin.h>

#include <cstdint>

#include "kernels/simd_exp.hpp"

namespace nncore::kernels::avx2 {

// The first n lanes of a vector of 8 (all for n >= 8).
inline __m256i lane_mask(int64_t n) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < 8 ? n : 8)), lanes);
}

// 8 floats per register, for the kernels written once over a vector type (simd_exp.hpp, rnn_rows_body.hpp).
struct Ymm {
  using reg = __m256;
  static constexpr int L = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float a) { return _mm256_set1_ps(a); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg fnmadd(reg a, reg b, reg c) { return _mm256_fnmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg and_(reg a, reg b) { return _mm256_and_ps(a, b); }
  static reg andnot(reg a, reg b) { return _mm256_andnot_ps(a, b); }  // ~a & b
  static reg or_(reg a, reg b) { return _mm256_or_ps(a, b); }
  static reg round(reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // p * 2^n through the exponent bits (n integral, 2^n normal).
  static reg scale2n(reg p, reg n) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  }
  // Lanes where a < b (ordered: false for NaN) take t, the others f.
  static reg select_lt(reg a, reg b, reg t, reg f) { return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
  // k floats (all L for k >= L; 0 < k).
  static reg load_n(const float* p, int64_t k) { return k >= L ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(k)); }
  static void store_n(float* p, reg v, int64_t k) {
    if (k >= L) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, lane_mask(k), v);
  }
};

// e^x to about 2 ulp (simd_exp.hpp).
inline __m256 exp_ps(__m256 x) { return simd::exp<Ymm>(x); }

}  // namespace nncore::kernels::avx2
