// Pooling and zero padding on channels-last data. Parallel over (image, output row); the inner loops run over
// channels, contiguous in memory, so they vectorize. Backward passes are parallel over images: overlapping
// windows only ever scatter into their own image.
#include <cstring>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {
// Running max over one window position, vectorized over channels; '>' keeps the first maximum.
void max_update(float* __restrict y, int32_t* __restrict arg, const float* __restrict x, int64_t C, int32_t base) {
  const int32_t n = static_cast<int32_t>(C);
#pragma omp simd
  for (int32_t c = 0; c < n; ++c) {
    const float xv = x[c], yv = y[c];
    const int32_t av = arg[c];
    const int32_t take = xv > yv ? -1 : 0;  // as a lane mask, so the selects vectorize
    y[c] = take ? xv : yv;
    arg[c] = (take & (base + c)) | (~take & av);
  }
}
void max_init(float* __restrict y, int32_t* __restrict arg, const float* __restrict x, int64_t C, int32_t base) {
  for (int64_t c = 0; c < C; ++c) {
    y[c] = x[c];
    arg[c] = base + static_cast<int32_t>(c);
  }
}
}  // namespace

void maxpool2d_forward(float* y, int32_t* argmax, const float* x, const PoolGeom& g) {
  parallel_range(g.B * g.OH, static_cast<double>(g.OW * g.PH * g.PW * g.C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.OH, oh = r % g.OH;
      const float* xb = x + b * g.H * g.W * g.C;
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        float* yo = y + (r * g.OW + ow) * g.C;
        int32_t* ao = argmax + (r * g.OW + ow) * g.C;
        bool first = true;  // every window holds at least one in-bounds pixel ('valid' and 'same' alike)
        for (int64_t ph = 0; ph < g.PH; ++ph) {
          const int64_t ih = oh * g.sh - g.pt + ph;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t pw = 0; pw < g.PW; ++pw) {
            const int64_t iw = ow * g.sw - g.pl + pw;
            if (iw < 0 || iw >= g.W) continue;
            const int64_t base = (ih * g.W + iw) * g.C;
            if (first) max_init(yo, ao, xb + base, g.C, static_cast<int32_t>(base));
            else max_update(yo, ao, xb + base, g.C, static_cast<int32_t>(base));
            first = false;
          }
        }
      }
    }
  });
}

void maxpool2d_backward(float* dx, const float* dy, const int32_t* argmax, const PoolGeom& g) {
  const int64_t in_image = g.H * g.W * g.C, out_image = g.OH * g.OW * g.C;
  parallel_range(g.B, static_cast<double>(in_image + out_image), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* dxb = dx + b * in_image;
      std::memset(dxb, 0, sizeof(float) * static_cast<size_t>(in_image));
      const float* dyb = dy + b * out_image;
      const int32_t* ab = argmax + b * out_image;
      for (int64_t o = 0; o < out_image; ++o) dxb[ab[o]] += dyb[o];
    }
  });
}

namespace {
// In-bounds extent of a window along one axis.
inline void window(int64_t o, int64_t stride, int64_t pad, int64_t size, int64_t extent, int64_t& lo, int64_t& hi) {
  lo = o * stride - pad;
  hi = lo + size;
  lo = lo < 0 ? 0 : lo;
  hi = hi > extent ? extent : hi;
}
}  // namespace

void avgpool2d_forward(float* y, const float* x, const PoolGeom& g) {
  parallel_range(g.B * g.OH, static_cast<double>(g.OW * g.PH * g.PW * g.C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.OH, oh = r % g.OH;
      const float* xb = x + b * g.H * g.W * g.C;
      int64_t h0, h1;
      window(oh, g.sh, g.pt, g.PH, g.H, h0, h1);
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        int64_t w0, w1;
        window(ow, g.sw, g.pl, g.PW, g.W, w0, w1);
        float* yo = y + (r * g.OW + ow) * g.C;
        for (int64_t c = 0; c < g.C; ++c) yo[c] = 0.f;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) {
            const float* xp = xb + (ih * g.W + iw) * g.C;
#pragma omp simd
            for (int64_t c = 0; c < g.C; ++c) yo[c] += xp[c];
          }
        const int64_t n = (h1 - h0) * (w1 - w0);
        const float inv = n > 0 ? 1.f / static_cast<float>(n) : 0.f;
        for (int64_t c = 0; c < g.C; ++c) yo[c] *= inv;
      }
    }
  });
}

void avgpool2d_backward(float* dx, const float* dy, const PoolGeom& g) {
  const int64_t in_image = g.H * g.W * g.C;
  parallel_range(g.B, static_cast<double>(in_image + g.OH * g.OW * g.PH * g.PW * g.C), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* dxb = dx + b * in_image;
      std::memset(dxb, 0, sizeof(float) * static_cast<size_t>(in_image));
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        int64_t h0, h1;
        window(oh, g.sh, g.pt, g.PH, g.H, h0, h1);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          int64_t w0, w1;
          window(ow, g.sw, g.pl, g.PW, g.W, w0, w1);
          const int64_t n = (h1 - h0) * (w1 - w0);
          if (n == 0) continue;
          const float inv = 1.f / static_cast<float>(n);
          const float* go = dy + ((b * g.OH + oh) * g.OW + ow) * g.C;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) {
              float* dp = dxb + (ih * g.W + iw) * g.C;
#pragma omp simd
              for (int64_t c = 0; c < g.C; ++c) dp[c] += go[c] * inv;
            }
        }
      }
    }
  });
}

void global_avgpool_forward(float* y, const float* x, int64_t B, int64_t HW, int64_t C) {
  const float inv = 1.f / static_cast<float>(HW);
  parallel_range(B, static_cast<double>(HW * C), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* yb = y + b * C;
      for (int64_t c = 0; c < C; ++c) yb[c] = 0.f;
      for (int64_t p = 0; p < HW; ++p) {
        const float* xp = x + (b * HW + p) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) yb[c] += xp[c];
      }
      for (int64_t c = 0; c < C; ++c) yb[c] *= inv;
    }
  });
}

void global_avgpool_backward(float* dx, const float* dy, int64_t B, int64_t HW, int64_t C) {
  const float inv = 1.f / static_cast<float>(HW);
  parallel_range(B * HW, static_cast<double>(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* g = dy + (r / HW) * C;
      float* d = dx + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) d[c] = g[c] * inv;
    }
  });
}

void global_maxpool_forward(float* y, int32_t* argmax, const float* x, int64_t B, int64_t HW, int64_t C) {
  parallel_range(B, static_cast<double>(HW * C), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* yb = y + b * C;
      int32_t* ab = argmax + b * C;
      for (int64_t c = 0; c < C; ++c) {
        yb[c] = x[b * HW * C + c];
        ab[c] = static_cast<int32_t>(c);
      }
      for (int64_t p = 1; p < HW; ++p) {
        const float* xp = x + (b * HW + p) * C;
        for (int64_t c = 0; c < C; ++c)
          if (xp[c] > yb[c]) {
            yb[c] = xp[c];
            ab[c] = static_cast<int32_t>(p * C + c);
          }
      }
    }
  });
}

void global_maxpool_backward(float* dx, const float* dy, const int32_t* argmax, int64_t B, int64_t HW, int64_t C) {
  parallel_range(B, static_cast<double>(HW * C), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* dxb = dx + b * HW * C;
      std::memset(dxb, 0, sizeof(float) * static_cast<size_t>(HW * C));
      for (int64_t c = 0; c < C; ++c) dxb[argmax[b * C + c]] += dy[b * C + c];
    }
  });
}

void pad2d_forward(float* y, const float* x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t top, int64_t bottom,
                   int64_t left, int64_t right) {
  const int64_t OH = H + top + bottom, OW = W + left + right;
  parallel_range(B * OH, static_cast<double>(OW * C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / OH, oh = r % OH, ih = oh - top;
      float* yr = y + r * OW * C;
      if (ih < 0 || ih >= H) {
        std::memset(yr, 0, sizeof(float) * static_cast<size_t>(OW * C));
        continue;
      }
      std::memset(yr, 0, sizeof(float) * static_cast<size_t>(left * C));
      std::memcpy(yr + left * C, x + (b * H + ih) * W * C, sizeof(float) * static_cast<size_t>(W * C));
      std::memset(yr + (left + W) * C, 0, sizeof(float) * static_cast<size_t>(right * C));
    }
  });
}

void pad2d_backward(float* dx, const float* dy, int64_t B, int64_t H, int64_t W, int64_t C, int64_t top,
                    int64_t bottom, int64_t left, int64_t right) {
  const int64_t OH = H + top + bottom, OW = W + left + right;
  parallel_range(B * H, static_cast<double>(W * C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / H, ih = r % H;
      std::memcpy(dx + r * W * C, dy + ((b * OH + ih + top) * OW + left) * C, sizeof(float) * static_cast<size_t>(W * C));
    }
  });
}

}  // namespace nncore::kernels
