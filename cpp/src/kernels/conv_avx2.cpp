// AVX2 + FMA direct-convolution kernels, vectorized over output channels (16 per block, two ymm; a ragged
// last block goes through maskload/maskstore, full blocks through plain loads).
//   forward:          a tile of 6 grid positions x 16 channels of y in 12 ymm; per tap 2 loads of w and 6
//                     broadcasts of a feed 12 FMAs (15 of the 16 registers); bias starts the accumulators, relu
//                     and the stores (skipping positions that are no output pixel) are the epilogue.
//   backward-weights: a 5-tap x 16-channel tile of dW in 10 ymm over the whole block of pixels; per pixel one
//                     row of dy masked by relu's derivative (compare + and), 5 broadcasts, 10 FMAs.
//   implicit GEMM:    a tile of 6 pixels x 16 channels in 12 ymm; per input value 2 loads of b, 6 broadcasts of
//                     a, 12 FMAs.
// This TU is compiled with -mavx2 -mfma: it defines no inline function or template shared with baseline TUs
// (the helpers below have internal linkage), hence plain loops and intrinsics only.
#include <immintrin.h>

#include "kernels/conv_internal.hpp"

namespace nncore::kernels {

namespace {

constexpr int P = 6;   // forward: output pixels per tile
constexpr int TB = 5;  // backward-weights: taps per tile

// Lane masks for the channels [oc0, oc0 + 16) of which only `rem` exist.
void lane_masks(int64_t rem, __m256i* m) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  m[0] = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem < 16 ? rem : 16)), lanes);
  m[1] = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem < 16 ? rem - 8 : 8)), lanes);
}

template <bool Masked>
__m256 load(const float* p, __m256i m) {
  return Masked ? _mm256_maskload_ps(p, m) : _mm256_loadu_ps(p);
}
template <bool Masked>
void store(float* p, __m256i m, __m256 v) {
  if (Masked) _mm256_maskstore_ps(p, m, v);
  else _mm256_storeu_ps(p, v);
}

// One tile of P grid positions (a points at the first) for one block of V * 8 output channels (w, bias, y and z
// already point at the block's channels). Grid position p of the tile is output pixel base + p for p < np when
// base >= 0 (the tile is one run of pixels), else pix[p] (negative: no pixel).
template <int V, bool Masked>
void forward_tile(int64_t taps, const float* a, const int64_t* off, const float* w, int64_t OC, const __m256i* m,
                  const float* bias, bool relu, float* y, float* z, int64_t base, int64_t np, const int64_t* pix) {
  __m256 acc[P][V];
  __m256 b0[V];
#pragma GCC unroll 2
  for (int v = 0; v < V; ++v) b0[v] = bias != nullptr ? load<Masked>(bias + 8 * v, m[v]) : _mm256_setzero_ps();
#pragma GCC unroll 6
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) acc[p][v] = b0[v];

  for (int64_t t = 0; t < taps; ++t, w += OC) {
    const float* at = a + off[t];
    __m256 wv[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) wv[v] = load<Masked>(w + 8 * v, m[v]);
#pragma GCC unroll 6
    for (int p = 0; p < P; ++p) {
      const __m256 ap = _mm256_broadcast_ss(at + p);
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[p][v] = _mm256_fmadd_ps(ap, wv[v], acc[p][v]);
    }
  }

  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 6
  for (int p = 0; p < P; ++p) {
    const int64_t o = base >= 0 ? (p < np ? base + p : -1) : pix[p];
    if (o < 0) continue;
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      if (z != nullptr) store<Masked>(z + o * OC + 8 * v, m[v], acc[p][v]);
      const __m256 r = relu ? _mm256_max_ps(acc[p][v], zero) : acc[p][v];
      store<Masked>(y + o * OC + 8 * v, m[v], r);
    }
  }
}

void forward_avx2(int64_t rows, int64_t grid_w, int64_t OW, int64_t taps, const float* a, const int64_t* off,
                  const float* w, int64_t OC, const float* bias, bool relu, float* y, float* z) {
  const int64_t end = (rows - 1) * grid_w + OW;  // one past the last output pixel's grid position
  int64_t pix[P] = {};
  int64_t r = 0, col = 0;  // grid row and column of q0, kept without a division per tile
  for (int64_t q0 = 0; q0 < end; q0 += P, col += P) {
    while (col >= grid_w) {
      col -= grid_w;
      ++r;
    }
    const int64_t np = end - q0 < P ? end - q0 : P;
    int64_t base = r * OW + col;
    if (col + np > OW) {  // the tile crosses the gap between two output rows: map each position
      base = -1;
      bool any = false;
      int64_t rq = r, cq = col;
      for (int p = 0; p < P; ++p, ++cq) {
        if (cq == grid_w) {
          cq = 0;
          ++rq;
        }
        pix[p] = p < np && cq < OW ? rq * OW + cq : -1;
        any = any || pix[p] >= 0;
      }
      if (!any) continue;
    }
    for (int64_t oc0 = 0; oc0 < OC; oc0 += 16) {
      const int64_t rem = OC - oc0;
      __m256i m[2];
      lane_masks(rem, m);
      const float* b = bias != nullptr ? bias + oc0 : nullptr;
      float* zt = z != nullptr ? z + oc0 : nullptr;
      const float* aq = a + q0;
      const float* wo = w + oc0;
      if (rem >= 16) forward_tile<2, false>(taps, aq, off, wo, OC, m, b, relu, y + oc0, zt, base, np, pix);
      else if (rem > 8) forward_tile<2, true>(taps, aq, off, wo, OC, m, b, relu, y + oc0, zt, base, np, pix);
      else forward_tile<1, true>(taps, aq, off, wo, OC, m, b, relu, y + oc0, zt, base, np, pix);
    }
  }
}

// acc[t][:] (T taps of one block of V * 8 channels) += sum over the block's pixels of a[off[t] + q] * g[p][:].
template <int T, int V, bool Masked, bool Relu>
void backward_tile(int64_t rows, int64_t grid_w, int64_t OW, const float* a, const int64_t* off, const float* dy,
                   const float* y, int64_t OC, const __m256i* m, float* acc) {
  __m256 s[T][V];
  const float* at[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    at[t] = a + off[t];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) s[t][v] = load<Masked>(acc + t * OC + 8 * v, m[v]);
  }
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t q = r * grid_w, q1 = q + OW; q < q1; ++q, dy += OC) {
      __m256 g[V];
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) {
        g[v] = load<Masked>(dy + 8 * v, m[v]);
        if (Relu) g[v] = _mm256_and_ps(g[v], _mm256_cmp_ps(load<Masked>(y + 8 * v, m[v]), zero, _CMP_GT_OQ));
      }
      if (Relu) y += OC;
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const __m256 b = _mm256_broadcast_ss(at[t] + q);
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) s[t][v] = _mm256_fmadd_ps(b, g[v], s[t][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) store<Masked>(acc + t * OC + 8 * v, m[v], s[t][v]);
}

template <int V, bool Masked, bool Relu>
void backward_taps(int T, int64_t rows, int64_t grid_w, int64_t OW, const float* a, const int64_t* off,
                   const float* dy, const float* y, int64_t OC, const __m256i* m, float* acc) {
  switch (T) {
    case 1: backward_tile<1, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    case 2: backward_tile<2, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    case 3: backward_tile<3, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    case 4: backward_tile<4, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    default: backward_tile<TB, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
  }
}

template <int V, bool Masked>
void backward_block(int T, int64_t rows, int64_t grid_w, int64_t OW, const float* a, const int64_t* off,
                    const float* dy, const float* y, int64_t OC, const __m256i* m, float* acc) {
  if (y != nullptr) backward_taps<V, Masked, true>(T, rows, grid_w, OW, a, off, dy, y, OC, m, acc);
  else backward_taps<V, Masked, false>(T, rows, grid_w, OW, a, off, dy, nullptr, OC, m, acc);
}

void backward_weights_avx2(int64_t rows, int64_t grid_w, int64_t OW, int64_t taps, const float* a,
                           const int64_t* off, const float* dy, const float* y, int64_t OC, float* acc) {
  const int64_t nblocks = (taps + TB - 1) / TB;  // even tap blocks, as in the AVX-512 kernel
  for (int64_t oc0 = 0; oc0 < OC; oc0 += 16) {
    const int64_t rem = OC - oc0;
    __m256i m[2];
    lane_masks(rem, m);
    const float* yb = y != nullptr ? y + oc0 : nullptr;
    for (int64_t k = 0; k < nblocks; ++k) {
      const int64_t t0 = taps * k / nblocks, t1 = taps * (k + 1) / nblocks;
      const int T = static_cast<int>(t1 - t0);
      float* acck = acc + t0 * OC + oc0;
      if (rem >= 16) backward_block<2, false>(T, rows, grid_w, OW, a, off + t0, dy + oc0, yb, OC, m, acck);
      else if (rem > 8) backward_block<2, true>(T, rows, grid_w, OW, a, off + t0, dy + oc0, yb, OC, m, acck);
      else backward_block<1, true>(T, rows, grid_w, OW, a, off + t0, dy + oc0, yb, OC, m, acck);
    }
  }
}

constexpr int IMR = 6;  // implicit GEMM: pixels per tile (16 channels)

template <int R, bool Masked>
void implicit_tile(int64_t taps, const int64_t* off, int64_t kc, const float* a, const float* b, const float* bias,
                   bool relu, const __m256i* m, float* y, float* z, int64_t ldc) {
  __m256 acc[R][2];
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t t = 0; t < taps; ++t) {
    const float* at = a + off[t];
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; ++k, b += 16) {
      const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
      for (int i = 0; i < R; ++i) {
        const __m256 ai = _mm256_broadcast_ss(at + i * kc + k);
        acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
      }
    }
  }
  const __m256 c0 = bias != nullptr ? load<Masked>(bias, m[0]) : _mm256_setzero_ps();
  const __m256 c1 = bias != nullptr ? load<Masked>(bias + 8, m[1]) : _mm256_setzero_ps();
  const __m256 zero = _mm256_setzero_ps();
  for (int i = 0; i < R; ++i) {
    __m256 v0 = _mm256_add_ps(acc[i][0], c0), v1 = _mm256_add_ps(acc[i][1], c1);
    if (z != nullptr) {
      store<Masked>(z + i * ldc, m[0], v0);
      store<Masked>(z + i * ldc + 8, m[1], v1);
    }
    if (relu) {
      v0 = _mm256_max_ps(v0, zero);
      v1 = _mm256_max_ps(v1, zero);
    }
    store<Masked>(y + i * ldc, m[0], v0);
    store<Masked>(y + i * ldc + 8, m[1], v1);
  }
}

// A tile of exactly `rows` <= R pixels: a ragged last tile of an output row costs its own rows only.
template <int R, bool Masked>
void implicit_rows(int64_t taps, const int64_t* off, int64_t kc, const float* a, const float* b, const float* bias,
                   bool relu, int64_t rows, const __m256i* m, float* y, float* z, int64_t ldc) {
  if constexpr (R > 1) {
    if (rows < R) return implicit_rows<R - 1, Masked>(taps, off, kc, a, b, bias, relu, rows, m, y, z, ldc);
  }
  implicit_tile<R, Masked>(taps, off, kc, a, b, bias, relu, m, y, z, ldc);
}

void implicit_avx2(int64_t taps, const int64_t* off, int64_t kc, const float* a, const float* b, const float* bias,
                   bool relu, int64_t rows, int64_t cols, float* y, float* z, int64_t ldc) {
  __m256i m[2];
  lane_masks(cols, m);
  if (cols >= 16) implicit_rows<IMR, false>(taps, off, kc, a, b, bias, relu, rows, m, y, z, ldc);
  else implicit_rows<IMR, true>(taps, off, kc, a, b, bias, relu, rows, m, y, z, ldc);
}

}  // namespace

const ConvKernel conv_kernel_avx2 = {P, forward_avx2, backward_weights_avx2, IMR, 16, 0, 0, implicit_avx2,
                                     "avx2 6x16 / 5x16 / 6x16"};

}  // namespace nncore::kernels
