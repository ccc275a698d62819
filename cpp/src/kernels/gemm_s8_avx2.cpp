// int8 GEMM with AVX2 (gemm_s8_internal.hpp): A's rows sign-extended to int16 once per row group, B packed as int16
// pairs; R <= 4 rows x V <= 2 panels of 8 int32 in registers; per pair of k, V loads of B, R broadcasts of two
// int16 of A, R x V vpmaddwd + vpaddd. Exact: a pair's sum is at most 2 * 128 * 128.
#include <immintrin.h>

#include <cstdint>

#include "kernels/gemm_s8_internal.hpp"

namespace nncore::kernels {

namespace {

template <int R, int V>
void tile(int64_t K2, const int16_t* a16, int64_t a_stride, const int16_t* pb, int64_t panel_elems, int64_t n,
          int32_t* C, int64_t ldc) {
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
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) _mm256_maskstore_epi32(C + i * ldc + 8 * v, m, acc[i][v]);
  }
}

template <int R>
void row_group(int64_t K2, const int16_t* a16, int64_t a_stride, const int16_t* pb, int64_t panel_elems,
               int64_t panels, int64_t n, int32_t* C, int64_t ldc) {
  if (panels >= 2) tile<R, 2>(K2, a16, a_stride, pb, panel_elems, n, C, ldc);
  else tile<R, 1>(K2, a16, a_stride, pb, panel_elems, n, C, ldc);
}

void avx2(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const void* packed, const int32_t*,
          int64_t p0, int64_t p1, int32_t* C, int64_t ldc, int16_t* a16) {
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
      int32_t* c = C + i0 * ldc + j0;
      switch (rows) {
        case 1: row_group<1>(K2, a16, stride, b, panel_elems, panels, n, c, ldc); break;
        case 2: row_group<2>(K2, a16, stride, b, panel_elems, panels, n, c, ldc); break;
        case 3: row_group<3>(K2, a16, stride, b, panel_elems, panels, n, c, ldc); break;
        default: row_group<4>(K2, a16, stride, b, panel_elems, panels, n, c, ldc); break;
      }
    }
  }
}

}  // namespace

const GemmS8Kernel gemm_s8_kernel_avx2 = avx2;

}  // namespace nncore::kernels
