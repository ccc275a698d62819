// AVX-512 direct-convolution kernels, vectorized over output channels (32 per block, two zmm; a ragged last
// block uses lane masks, which cost nothing extra on AVX-512).
//   forward:          a tile of 12 grid positions x 32 channels of y in 24 zmm; per tap 2 loads of w and 12
//                     broadcasts of a feed 24 FMAs; bias is the accumulators' start value, relu and the stores
//                     (skipping positions that are no output pixel) are the epilogue.
//   backward-weights: a 10-tap x 32-channel tile of dW in 20 zmm stays in registers over the whole block of
//                     pixels; per pixel one row of dy (relu's derivative applied with a compare mask), 10
//                     broadcasts of a, 20 FMAs. 10 taps also keep the 10 tap pointers of a in registers.
//   implicit GEMM:    a tile of 4 pixels x 64 channels in 16 zmm; per input value 4 loads of b, 4 broadcasts of
//                     a, 16 FMAs (8 x 32 for a last panel of <= 32 channels).
// This TU is compiled with AVX-512 flags: it defines no inline function or template shared with baseline TUs
// (the helpers below have internal linkage), hence plain loops and intrinsics only.
#include <immintrin.h>

#include "kernels/conv_internal.hpp"

namespace nncore::kernels {

namespace {

constexpr int P = 12;   // forward: output pixels per tile
constexpr int TB = 10;  // backward-weights: taps per tile

__mmask16 lane_mask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1u);
}

template <bool Masked>
__m512 load(const float* p, __mmask16 m) {
  return Masked ? _mm512_maskz_loadu_ps(m, p) : _mm512_loadu_ps(p);
}
template <bool Masked>
void store(float* p, __mmask16 m, __m512 v) {
  if (Masked) _mm512_mask_storeu_ps(p, m, v);
  else _mm512_storeu_ps(p, v);
}

// One tile of P grid positions (a points at the first) for one block of V * 16 output channels (w, bias, y and z
// already point at the block's channels). Grid position p of the tile is output pixel base + p for p < np when
// base >= 0 (the tile is one run of pixels), else pix[p] (negative: no pixel). Masked: the block is the ragged
// last one (masks m); full blocks use plain loads and stores.
template <int V, bool Masked>
void forward_tile(int64_t taps, const float* a, const int64_t* off, const float* w, int64_t OC, const __mmask16* m,
                  const float* bias, bool relu, float* y, float* z, int64_t base, int64_t np, const int64_t* pix) {
  __m512 acc[P][V];
  __m512 b0[V];
#pragma GCC unroll 2
  for (int v = 0; v < V; ++v) b0[v] = bias != nullptr ? load<Masked>(bias + 16 * v, m[v]) : _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) acc[p][v] = b0[v];

  for (int64_t t = 0; t < taps; ++t, w += OC) {
    const float* at = a + off[t];
    __m512 wv[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) wv[v] = load<Masked>(w + 16 * v, m[v]);
#pragma GCC unroll 12
    for (int p = 0; p < P; ++p) {
      const __m512 ap = _mm512_set1_ps(at[p]);
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[p][v] = _mm512_fmadd_ps(ap, wv[v], acc[p][v]);
    }
  }

  // The common case (a whole run of P pixels, no pre-activation) stores without a branch per pixel.
  const __m512 zero = _mm512_setzero_ps();
  if (base >= 0 && np == P && z == nullptr) {
    float* yt = y + base * OC;
    if (relu) {
#pragma GCC unroll 12
      for (int p = 0; p < P; ++p)
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v)
          store<Masked>(yt + p * OC + 16 * v, m[v], _mm512_mask_max_ps(acc[p][v], 0xFFFF, acc[p][v], zero));
    } else {
#pragma GCC unroll 12
      for (int p = 0; p < P; ++p)
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) store<Masked>(yt + p * OC + 16 * v, m[v], acc[p][v]);
    }
    return;
  }
#pragma GCC unroll 12
  for (int p = 0; p < P; ++p) {
    const int64_t o = base >= 0 ? (p < np ? base + p : -1) : pix[p];
    if (o < 0) continue;
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      if (z != nullptr) store<Masked>(z + o * OC + 16 * v, m[v], acc[p][v]);
      const __m512 r = relu ? _mm512_mask_max_ps(acc[p][v], 0xFFFF, acc[p][v], zero) : acc[p][v];
      store<Masked>(y + o * OC + 16 * v, m[v], r);
    }
  }
}

void forward_avx512(int64_t rows, int64_t grid_w, int64_t OW, int64_t taps, const float* a, const int64_t* off,
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
    for (int64_t oc0 = 0; oc0 < OC; oc0 += 32) {
      const int64_t rem = OC - oc0;
      const __mmask16 m[2] = {lane_mask(rem), lane_mask(rem - 16)};
      const float* b = bias != nullptr ? bias + oc0 : nullptr;
      float* zt = z != nullptr ? z + oc0 : nullptr;
      const float* aq = a + q0;
      const float* wo = w + oc0;
      if (rem >= 32) forward_tile<2, false>(taps, aq, off, wo, OC, m, b, relu, y + oc0, zt, base, np, pix);
      else if (rem > 16) forward_tile<2, true>(taps, aq, off, wo, OC, m, b, relu, y + oc0, zt, base, np, pix);
      else if (rem == 16) forward_tile<1, false>(taps, aq, off, wo, OC, m, b, relu, y + oc0, zt, base, np, pix);
      else forward_tile<1, true>(taps, aq, off, wo, OC, m, b, relu, y + oc0, zt, base, np, pix);
    }
  }
}

// acc[t][:] (T taps of one block of V * 16 channels) += sum over the block's pixels of a[off[t] + q] * g[p][:].
template <int T, int V, bool Masked, bool Relu>
void backward_tile(int64_t rows, int64_t grid_w, int64_t OW, const float* a, const int64_t* off, const float* dy,
                   const float* y, int64_t OC, const __mmask16* m, float* acc) {
  __m512 s[T][V];
  const float* at[T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    at[t] = a + off[t];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) s[t][v] = load<Masked>(acc + t * OC + 16 * v, m[v]);
  }
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t q = r * grid_w, q1 = q + OW; q < q1; ++q, dy += OC) {
      __m512 g[V];
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) {
        g[v] = load<Masked>(dy + 16 * v, m[v]);
        if (Relu) {
          const __mmask16 pos = _mm512_cmp_ps_mask(load<Masked>(y + 16 * v, m[v]), zero, _CMP_GT_OQ);
          g[v] = _mm512_maskz_mov_ps(pos, g[v]);
        }
      }
      if (Relu) y += OC;
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const __m512 b = _mm512_set1_ps(at[t][q]);
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) s[t][v] = _mm512_fmadd_ps(b, g[v], s[t][v]);
      }
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) store<Masked>(acc + t * OC + 16 * v, m[v], s[t][v]);
}

template <int V, bool Masked, bool Relu>
void backward_taps(int T, int64_t rows, int64_t grid_w, int64_t OW, const float* a, const int64_t* off,
                   const float* dy, const float* y, int64_t OC, const __mmask16* m, float* acc) {
  switch (T) {
    case 1: backward_tile<1, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    case 2: backward_tile<2, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    case 3: backward_tile<3, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    case 4: backward_tile<4, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    case 5: backward_tile<5, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    case 6: backward_tile<6, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    case 7: backward_tile<7, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    case 8: backward_tile<8, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    case 9: backward_tile<9, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
    default: backward_tile<TB, V, Masked, Relu>(rows, grid_w, OW, a, off, dy, y, OC, m, acc); break;
  }
}

template <int V, bool Masked>
void backward_block(int T, int64_t rows, int64_t grid_w, int64_t OW, const float* a, const int64_t* off,
                    const float* dy, const float* y, int64_t OC, const __mmask16* m, float* acc) {
  if (y != nullptr) backward_taps<V, Masked, true>(T, rows, grid_w, OW, a, off, dy, y, OC, m, acc);
  else backward_taps<V, Masked, false>(T, rows, grid_w, OW, a, off, dy, nullptr, OC, m, acc);
}

void backward_weights_avx512(int64_t rows, int64_t grid_w, int64_t OW, int64_t taps, const float* a,
                             const int64_t* off, const float* dy, const float* y, int64_t OC, float* acc) {
  // Tap blocks of even size (taps = 28 gives 10, 9, 9, not 10, 10, 8): no block runs far below TB.
  const int64_t nblocks = (taps + TB - 1) / TB;
  for (int64_t oc0 = 0; oc0 < OC; oc0 += 32) {
    const int64_t rem = OC - oc0;
    const __mmask16 m[2] = {lane_mask(rem), lane_mask(rem - 16)};
    const float* yb = y != nullptr ? y + oc0 : nullptr;
    for (int64_t k = 0; k < nblocks; ++k) {
      const int64_t t0 = taps * k / nblocks, t1 = taps * (k + 1) / nblocks;
      const int T = static_cast<int>(t1 - t0);
      float* acck = acc + t0 * OC + oc0;
      if (rem >= 32) backward_block<2, false>(T, rows, grid_w, OW, a, off + t0, dy + oc0, yb, OC, m, acck);
      else if (rem > 16) backward_block<2, true>(T, rows, grid_w, OW, a, off + t0, dy + oc0, yb, OC, m, acck);
      else if (rem == 16) backward_block<1, false>(T, rows, grid_w, OW, a, off + t0, dy + oc0, yb, OC, m, acck);
      else backward_block<1, true>(T, rows, grid_w, OW, a, off + t0, dy + oc0, yb, OC, m, acck);
    }
  }
}

// Implicit GEMM: R <= 4 pixels x 64 channels (4 zmm per pixel: per input value 4 loads of b, 4 broadcasts, 16
// FMAs), or, for a last panel of <= 32 channels, R <= 8 pixels x 32 channels (2 loads, 8 broadcasts, 16 FMAs).
// Measured on Zen 4 (3x3, 64-128 channels, in cache): 4 x 64 at 96% of the FMA peak, 8 x 32 at 91%.
constexpr int IMR = 4, INR = 64, IMR_NARROW = 8, INR_NARROW = 32;

template <int R, int V, bool Masked>
void implicit_tile(int64_t taps, const int64_t* off, int64_t kc, const float* a, const float* b, const float* bias,
                   bool relu, const __mmask16* m, float* y, float* z, int64_t ldc) {
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t t = 0; t < taps; ++t) {
    const float* at = a + off[t];
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; ++k, b += 16 * V) {
      __m512 bv[V];
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 8
      for (int i = 0; i < R; ++i) {
        const __m512 ai = _mm512_set1_ps(at[i * kc + k]);
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
      }
    }
  }
  __m512 c[V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) c[v] = bias != nullptr ? load<Masked>(bias + 16 * v, m[v]) : _mm512_setzero_ps();
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      __m512 r = _mm512_add_ps(acc[i][v], c[v]);
      if (z != nullptr) store<Masked>(z + i * ldc + 16 * v, m[v], r);
      if (relu) r = _mm512_max_ps(r, zero);
      store<Masked>(y + i * ldc + 16 * v, m[v], r);
    }
}

// A tile of exactly `rows` <= R pixels: a ragged last tile of an output row costs its own rows only.
template <int R, int V, bool Masked>
void implicit_rows(int64_t taps, const int64_t* off, int64_t kc, const float* a, const float* b, const float* bias,
                   bool relu, int64_t rows, const __mmask16* m, float* y, float* z, int64_t ldc) {
  if constexpr (R > 1) {
    if (rows < R) return implicit_rows<R - 1, V, Masked>(taps, off, kc, a, b, bias, relu, rows, m, y, z, ldc);
  }
  implicit_tile<R, V, Masked>(taps, off, kc, a, b, bias, relu, m, y, z, ldc);
}

void implicit_avx512(int64_t taps, const int64_t* off, int64_t kc, const float* a, const float* b, const float* bias,
                     bool relu, int64_t rows, int64_t cols, float* y, float* z, int64_t ldc) {
  const __mmask16 m[4] = {lane_mask(cols), lane_mask(cols - 16), lane_mask(cols - 32), lane_mask(cols - 48)};
  if (cols == INR) implicit_rows<IMR, 4, false>(taps, off, kc, a, b, bias, relu, rows, m, y, z, ldc);
  else if (cols > INR_NARROW) implicit_rows<IMR, 4, true>(taps, off, kc, a, b, bias, relu, rows, m, y, z, ldc);
  else if (cols == INR_NARROW) implicit_rows<IMR_NARROW, 2, false>(taps, off, kc, a, b, bias, relu, rows, m, y, z, ldc);
  else implicit_rows<IMR_NARROW, 2, true>(taps, off, kc, a, b, bias, relu, rows, m, y, z, ldc);
}

}  // namespace

const ConvKernel conv_kernel_avx512 = {P,   forward_avx512, backward_weights_avx512, IMR, INR, IMR_NARROW, INR_NARROW,
                                       implicit_avx512, "avx512 12x32 / 10x32 / 4x64"};

}  // namespace nncore::kernels
