// AVX-512 batch-normalization streaming kernels (norm_simd.hpp over 16-float zmm registers); the ragged end of a
// column block uses lane masks. Compiled with AVX-512 flags; everything here has internal linkage.
#include <immintrin.h>

#include <cstdint>

#include "kernels/norm_internal.hpp"

namespace nncore::kernels {

namespace {

struct Avx512 {
  using reg = __m512;
  static constexpr int L = 16;
  static constexpr int kRegs = 64;  // see block_registers in norm_simd.hpp
  static __mmask16 lanes(int64_t k) { return static_cast<__mmask16>((1u << k) - 1u); }  // 0 < k < 16
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float a) { return _mm512_set1_ps(a); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg load_n(const float* p, int64_t k) {
    if (k >= L) return _mm512_loadu_ps(p);
    return k <= 0 ? zero() : _mm512_maskz_loadu_ps(lanes(k), p);
  }
  static void store_n(float* p, reg v, int64_t k) {
    if (k >= L) _mm512_storeu_ps(p, v);
    else if (k > 0) _mm512_mask_storeu_ps(p, lanes(k), v);
  }
  static reg keep_n(reg v, int64_t k) {
    if (k >= L) return v;
    return k <= 0 ? zero() : _mm512_maskz_mov_ps(lanes(k), v);
  }
};

#include "kernels/norm_simd.hpp"

}  // namespace

const NormKernel norm_kernel_avx512 = make_norm_kernel<Avx512>("avx512");

}  // namespace nncore::kernels
