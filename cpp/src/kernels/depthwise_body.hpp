// The loops of the depthwise convolution (kernels.hpp: depthwise_conv2d_*), written once and compiled twice: by
// depthwise.cpp for the baseline ISA and by depthwise_avx2.cpp with AVX2+FMA, each including this file inside an
// anonymous namespace (internal linkage: neither TU's copy can stand in for the other's at link time). The channel
// loops are plain contiguous loops the compiler vectorizes for the TU's ISA.
//
// x (B, H, W, C), w (KH, KW, C, M), y (B, OH, OW, C * M): y[.., c * M + m] = sum over taps of x[.., c] w[.., c, m].

// acc[c * M + m] += x[c] * w[c * M + m]
inline void taps_madd(float* __restrict acc, const float* __restrict x, const float* __restrict w, int64_t C,
                      int64_t M) {
  if (M == 1) {
    for (int64_t c = 0; c < C; ++c) acc[c] += x[c] * w[c];
    return;
  }
  for (int64_t c = 0; c < C; ++c) {
    const float xv = x[c];
    for (int64_t m = 0; m < M; ++m) acc[c * M + m] += xv * w[c * M + m];
  }
}

// One output row (b, oh), all OW pixels: overwritten, starting from the bias (OC floats) when not null.
inline void depthwise_row(float* y, const float* x, const float* w, const float* bias, const ConvGeom& g, int64_t b,
                          int64_t oh) {
  const int64_t C = g.C, M = g.OC / g.C, OC = g.OC;
  float* yrow = y + (b * g.OH + oh) * g.OW * OC;
  for (int64_t o = 0; o < g.OW; ++o)
    for (int64_t i = 0; i < OC; ++i) yrow[o * OC + i] = bias != nullptr ? bias[i] : 0.f;
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh * g.sh - g.pt + kh * g.dh;
    if (ih < 0 || ih >= g.H) continue;
    const float* xrow = x + (b * g.H + ih) * g.W * C;
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t iw0 = ow * g.sw - g.pl;
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t iw = iw0 + kw * g.dw;
        if (iw < 0 || iw >= g.W) continue;
        taps_madd(yrow + ow * OC, xrow + iw * C, w + (kh * g.KW + kw) * C * M, C, M);
      }
    }
  }
}

// Image b's share of backward: dx (that image, overwritten when not null) and dw_part (accumulated, when not null).
inline void depthwise_image_backward(float* dx, float* dw_part, const float* dy, const float* x, const float* w,
                                     const ConvGeom& g, int64_t b) {
  const int64_t C = g.C, M = g.OC / g.C, OC = g.OC;
  float* dxi = dx != nullptr ? dx + b * g.H * g.W * C : nullptr;
  if (dxi != nullptr)
    for (int64_t i = 0; i < g.H * g.W * C; ++i) dxi[i] = 0.f;
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t ih = oh * g.sh - g.pt + kh * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const float* __restrict gy = dy + ((b * g.OH + oh) * g.OW + ow) * OC;
        const int64_t iw0 = ow * g.sw - g.pl;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t iw = iw0 + kw * g.dw;
          if (iw < 0 || iw >= g.W) continue;
          const int64_t pix = (ih * g.W + iw) * C, tap = (kh * g.KW + kw) * C * M;
          if (dw_part != nullptr) {
            float* __restrict dwp = dw_part + tap;
            const float* __restrict xp = x + b * g.H * g.W * C + pix;
            if (M == 1) {
              for (int64_t c = 0; c < C; ++c) dwp[c] += xp[c] * gy[c];
            } else {
              for (int64_t c = 0; c < C; ++c)
                for (int64_t m = 0; m < M; ++m) dwp[c * M + m] += xp[c] * gy[c * M + m];
            }
          }
          if (dxi != nullptr) {
            float* __restrict dxp = dxi + pix;
            const float* __restrict wp = w + tap;
            if (M == 1) {
              for (int64_t c = 0; c < C; ++c) dxp[c] += gy[c] * wp[c];
            } else {
              for (int64_t c = 0; c < C; ++c) {
                float s = 0.f;
                for (int64_t m = 0; m < M; ++m) s += gy[c * M + m] * wp[c * M + m];
                dxp[c] += s;
              }
            }
          }
        }
      }
    }
}
