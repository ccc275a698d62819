#pragma once
// Helpers shared by the AVX-512 translation units (compiled with -mavx512f/vl/bw/dq; include from those only).
// GCC 12 warns that the undefined pass-through operand of _mm512_min_ps, _mm512_scalef_ps and others "may be used
// uninitialized" once they are inlined into templates (GCC bug 105593, fixed in GCC 13): silenced for these TUs.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

#include "kernels/simd_exp.hpp"

namespace nncore::kernels::avx512 {

// 16 floats per register, for the kernels written once over a vector type (simd_exp.hpp, rnn_rows_body.hpp).
struct Zmm {
  using reg = __m512;
  static constexpr int L = 16;
  static __mmask16 lanes(int64_t k) { return k >= L ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << k) - 1u); }
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float a) { return _mm512_set1_ps(a); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg fnmadd(reg a, reg b, reg c) { return _mm512_fnmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static reg and_(reg a, reg b) { return _mm512_and_ps(a, b); }
  static reg andnot(reg a, reg b) { return _mm512_andnot_ps(a, b); }  // ~a & b
  static reg or_(reg a, reg b) { return _mm512_or_ps(a, b); }
  static reg round(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // p * 2^n (n integral): exact, as the exponent-bits product of the AVX2 path.
  static reg scale2n(reg p, reg n) { return _mm512_scalef_ps(p, n); }
  // Lanes where a < b (ordered: false for NaN) take t, the others f.
  static reg select_lt(reg a, reg b, reg t, reg f) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), f, t);
  }
  // k floats (all L for k >= L; 0 < k).
  static reg load_n(const float* p, int64_t k) { return k >= L ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(lanes(k), p); }
  static void store_n(float* p, reg v, int64_t k) {
    if (k >= L) _mm512_storeu_ps(p, v);
    else _mm512_mask_storeu_ps(p, lanes(k), v);
  }
};

}  // namespace nncore::kernels::avx512
