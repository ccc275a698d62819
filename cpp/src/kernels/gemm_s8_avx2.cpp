// int8 GEMM with AVX2 (gemm_s8_internal.hpp): A's rows sign-extended to int16 once per row group, B packed as int16
// pairs; R <= 4 rows x V <= 2 panels of 8 int32 in registers; per pair of k, V loads of B, R broadcasts of two
// int16 of A, R x V vpmaddwd + vpaddd. Exact: a pair's sum is at most 2 * 128 * 128.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/gemm_s8_internal.hpp"

namespace nncore::kernels {

namespace {

template <int R, int V>
void tile(int64_t K2, const int16_t* a16, int64_t a_stride, const int16_t* pb, int64_t panel_elems, int64_t n,
          int32_t* C, int64_t ldc, const S8Dequant* dq) {
  __m256i acc[R][V];
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) acc[i][v] = _mm256_setzero_si256();
  for (int64_t g = 0; g < K2; ++g) {
    __m256i b[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v)
      b[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pb + v * panel_elems + g * 16));
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      int32_t pair;
      __builtin_memcpy(&pair, a16 + i * a_stride + 2 * g, 4);
      const __m256i a = _mm256_set1_epi32(pair);
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[i][v] = _mm256_add_epi32(acc[i][v], _mm256_madd_epi16(a, b[v]));
    }
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 2
  for (int v = 0; v < V; ++v) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n - 8 * v)), lane);
    if (dq != nullptr) {  // dequantized into floats (S8Dequant)
      const __m256 ic = _mm256_maskload_ps(dq->inv_cs + 8 * v, m);
      const __m256 b = dq->bias != nullptr ? _mm256_maskload_ps(dq->bias + 8 * v, m) : _mm256_setzero_ps();
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) {
        float* f = dq->F + i * dq->ldf + 8 * v;
        __m256 x = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[i][v]),
                                               _mm256_set1_ps(dq->inv_rs[i * dq->rs_stride])), ic);
        if (dq->bias != nullptr) x = _mm256_add_ps(x, b);
        if (dq->add_c) x = _mm256_add_ps(x, _mm256_maskload_ps(f, m));
        if (dq->relu) x = _mm256_max_ps(_mm256_setzero_ps(), x);  // max returns its second operand for NaN: kept
        _mm256_maskstore_ps(f, m, x);
      }
      continue;
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) _mm256_maskstore_epi32(C + i * ldc + 8 * v, m, acc[i][v]);
  }
}

template <int R>
void row_group(int64_t K2, const int16_t* a16, int64_t a_stride, const int16_t* pb, int64_t panel_elems,
               int64_t panels, int64_t n, int32_t* C, int64_t ldc, const S8Dequant* dq) {
  if (panels >= 2) tile<R, 2>(K2, a16, a_stride, pb, panel_elems, n, C, ldc, dq);
  else tile<R, 1>(K2, a16, a_stride, pb, panel_elems, n, C, ldc, dq);
}

void avx2(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const void* packed, const int32_t*,
          int64_t p0, int64_t p1, int32_t* C, int64_t ldc, int16_t* a16, const S8Dequant* dq) {
  const int64_t K2 = (K + 1) / 2, stride = 2 * K2, panel_elems = K2 * 16;
  const int16_t* pb = static_cast<const int16_t*>(packed);
  for (int64_t i0 = 0; i0 < M; i0 += 4) {
    const int64_t rows = M - i0 < 4 ? M - i0 : 4;
    for (int64_t i = 0; i < rows; ++i) {  // the rows as int16, zero-padded to whole pairs
      int16_t* d = a16 + i * stride;
      for (int64_t k = 0; k < K; ++k) d[k] = A[(i0 + i) * lda + k];
      for (int64_t k = K; k < stride; ++k) d[k] = 0;
    }
    for (int64_t p = p0; p < p1; p += 2) {
      const int64_t panels = p1 - p < 2 ? p1 - p : 2, j0 = 8 * p;
      const int64_t n = N - j0 < 8 * panels ? N - j0 : 8 * panels;
      const int16_t* b = pb + p * panel_elems;
      int32_t* c = dq != nullptr ? nullptr : C + i0 * ldc + j0;
      S8Dequant d;
      const S8Dequant* dp = S8Dequant::at_or_null(dq, i0, j0, &d);
      switch (rows) {
        case 1: row_group<1>(K2, a16, stride, b, panel_elems, panels, n, c, ldc, dp); break;
        case 2: row_group<2>(K2, a16, stride, b, panel_elems, panels, n, c, ldc, dp); break;
        case 3: row_group<3>(K2, a16, stride, b, panel_elems, panels, n, c, ldc, dp); break;
        default: row_group<4>(K2, a16, stride, b, panel_elems, panels, n, c, ldc, dp); break;
      }
    }
  }
}

void quantize_rows(int64_t M, int64_t K, const float* A, int64_t lda, int8_t* Q, int64_t ldq, float* scale) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  const int64_t K8 = K - K % 8;
  for (int64_t i = 0; i < M; ++i) {
    const float* a = A + i * lda;
    int8_t* q = Q + i * ldq;
    __m256 m = _mm256_setzero_ps();
    // max returns its second operand when either is NaN: the running maximum goes second, so a NaN of A is left
    // out (as the reference's amax < v does).
    for (int64_t k = 0; k < K8; k += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(a + k), absmask), m);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    float amax = _mm_cvtss_f32(m4);
    for (int64_t k = K8; k < K; ++k) amax = std::max(amax, std::fabs(a[k]));
    const float s = kQuantRange / (amax + kQuantEpsilon);
    scale[i] = s;
    const __m256 vs = _mm256_set1_ps(s);
    // vcvtps2dq rounds to nearest even (the default MXCSR mode), as numpy's and Keras's round.
    for (int64_t k = 0; k < K8; k += 8) {
      __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(a + k), vs));
      v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
      const __m256i w = _mm256_packs_epi16(_mm256_packs_epi32(v, v), _mm256_setzero_si256());  // per lane: 4 bytes
      const int32_t b0 = _mm_cvtsi128_si32(_mm256_castsi256_si128(w)), b1 = _mm_cvtsi128_si32(_mm256_extracti128_si256(w, 1));
      std::memcpy(q + k, &b0, 4);
      std::memcpy(q + k + 4, &b1, 4);
    }
    for (int64_t k = K8; k < K; ++k)
      q[k] = static_cast<int8_t>(std::min(127.f, std::max(-127.f, std::nearbyint(a[k] * s))));
  }
}

}  // namespace

const GemmS8Kernel gemm_s8_kernel_avx2 = avx2;
const QuantizeRowsKernel quantize_rows_avx2 = quantize_rows;

}  // namespace nncore::kernels
