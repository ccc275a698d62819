// AVX2 batch-normalization streaming kernels (norm_simd.hpp over 8-float ymm registers); the ragged end of a
// column block goes through maskload/maskstore. Compiled with -mavx2 -mfma; everything here has internal linkage.
#include <immintrin.h>

#include <cstdint>

#include "kernels/norm_internal.hpp"

namespace nncore::kernels {

namespace {

struct Avx2 {
  using reg = __m256;
  static constexpr int L = 8;
  static constexpr int kRegs = 64;  // see block_registers in norm_simd.hpp
  static __m256i lanes(int64_t k) {  // lanes [0, k) set, 0 < k < 8
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float a) { return _mm256_set1_ps(a); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg load_n(const float* p, int64_t k) {
    if (k >= L) return _mm256_loadu_ps(p);
    return k <= 0 ? zero() : _mm256_maskload_ps(p, lanes(k));
  }
  static void store_n(float* p, reg v, int64_t k) {
    if (k >= L) _mm256_storeu_ps(p, v);
    else if (k > 0) _mm256_maskstore_ps(p, lanes(k), v);
  }
  static reg keep_n(reg v, int64_t k) {
    if (k >= L) return v;
    return k <= 0 ? zero() : _mm256_and_ps(v, _mm256_castsi256_ps(lanes(k)));
  }
};

#include "kernels/norm_simd.hpp"

}  // namespace

const NormKernel norm_kernel_avx2 = make_norm_kernel<Avx2>("avx2");

}  // namespace nncore::kernels
