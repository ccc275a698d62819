// Upsampling of channels-last images by integer factors (Keras's UpSampling1D/2D). Plain loops: the inner loop
// runs over the channels, contiguous in memory. Forward passes are parallel over (image, output row): each writes
// its own row. Backward passes are parallel over input rows (nearest: each gathers its own block) or over images
// (bilinear: an output pixel spreads over two input rows, and only ever into its own image), so no two threads
// write the same dx and every sum keeps one order whatever the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {

// Where output index o of an axis upsampled n -> n * s reads, with half-pixel centers: the source coordinate
// (o + 0.5) / s - 0.5, clamped to [0, n - 1], lies between i0 and i1 = min(i0 + 1, n - 1), t of the way to i1.
struct Lerp {
  int64_t i0, i1;
  float t;
};
Lerp lerp_of(int64_t o, int64_t s, int64_t n) {
  const double src = std::min(std::max((static_cast<double>(o) + 0.5) / static_cast<double>(s) - 0.5, 0.0),
                              static_cast<double>(n - 1));
  const int64_t i0 = static_cast<int64_t>(std::floor(src));
  return {i0, std::min(i0 + 1, n - 1), static_cast<float>(src - static_cast<double>(i0))};
}

}  // namespace

// x (B, H, W, C) -> y (B, H*sh, W*sw, C): each input pixel copied into an sh x sw block.
void upsample2d_nearest_forward(float* y, const float* x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t sh,
                                int64_t sw) {
  const int64_t OH = H * sh, OW = W * sw;
  parallel_range(B * OH, static_cast<double>(OW * C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / OH, oh = r % OH;
      const float* xr = x + (b * H + oh / sh) * W * C;
      float* yr = y + r * OW * C;
      for (int64_t w = 0; w < W; ++w)
        for (int64_t j = 0; j < sw; ++j)
          std::memcpy(yr + (w * sw + j) * C, xr + w * C, sizeof(float) * static_cast<size_t>(C));
    }
  });
}

// Backward of the above: dx[b, h, w, :] = sum over the block (i, j) of dy[b, h*sh + i, w*sw + j, :].
void upsample2d_nearest_backward(float* dx, const float* dy, int64_t B, int64_t H, int64_t W, int64_t C, int64_t sh,
                                 int64_t sw) {
  const int64_t OW = W * sw;
  parallel_range(B * H, static_cast<double>(sh * OW * C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r = b * H + h: input row h of image b
      float* dxr = dx + r * W * C;
      std::memset(dxr, 0, sizeof(float) * static_cast<size_t>(W * C));
      for (int64_t i = 0; i < sh; ++i) {
        const float* dyr = dy + (r * sh + i) * OW * C;  // output row h*sh + i of image b
        for (int64_t w = 0; w < W; ++w)
          for (int64_t j = 0; j < sw; ++j) {
            const float* src = dyr + (w * sw + j) * C;
            float* dst = dxr + w * C;
            for (int64_t c = 0; c < C; ++c) dst[c] += src[c];
          }
      }
    }
  });
}

// y[oh, ow] = lerp(lerp(x[h0, w0], x[h0, w1], tw), lerp(x[h1, w0], x[h1, w1], tw), th), with a + (b - a) * t
// as tf.image.resize computes it.
void upsample2d_bilinear_forward(float* y, const float* x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t sh,
                                 int64_t sw) {
  const int64_t OH = H * sh, OW = W * sw;
  parallel_range(B * OH, static_cast<double>(4 * OW * C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / OH, oh = r % OH;
      const Lerp v = lerp_of(oh, sh, H);
      const float* top = x + (b * H + v.i0) * W * C;
      const float* bottom = x + (b * H + v.i1) * W * C;
      float* yr = y + r * OW * C;
      for (int64_t ow = 0; ow < OW; ++ow) {
        const Lerp u = lerp_of(ow, sw, W);
        const float *tl = top + u.i0 * C, *tr = top + u.i1 * C, *bl = bottom + u.i0 * C, *br = bottom + u.i1 * C;
        float* out = yr + ow * C;
        for (int64_t c = 0; c < C; ++c) {
          const float t = tl[c] + (tr[c] - tl[c]) * u.t;
          const float d = bl[c] + (br[c] - bl[c]) * u.t;
          out[c] = t + (d - t) * v.t;
        }
      }
    }
  });
}

// The adjoint of the forward's weights: dy[oh, ow] adds (1 - th)(1 - tw) to x[h0, w0], (1 - th) tw to x[h0, w1],
// th (1 - tw) to x[h1, w0] and th tw to x[h1, w1] (where h0 == h1 or w0 == w1 the shares add up).
void upsample2d_bilinear_backward(float* dx, const float* dy, int64_t B, int64_t H, int64_t W, int64_t C,
                                  int64_t sh, int64_t sw) {
  const int64_t OH = H * sh, OW = W * sw;
  parallel_range(B, static_cast<double>(4 * OH * OW * C), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* dxb = dx + b * H * W * C;
      std::memset(dxb, 0, sizeof(float) * static_cast<size_t>(H * W * C));
      for (int64_t oh = 0; oh < OH; ++oh) {
        const Lerp v = lerp_of(oh, sh, H);
        float* top = dxb + v.i0 * W * C;
        float* bottom = dxb + v.i1 * W * C;
        const float* dyr = dy + (b * OH + oh) * OW * C;
        for (int64_t ow = 0; ow < OW; ++ow) {
          const Lerp u = lerp_of(ow, sw, W);
          const float* g = dyr + ow * C;
          const float wt = 1.f - v.t, wb = v.t, wl = 1.f - u.t, wr = u.t;
          for (int64_t c = 0; c < C; ++c) {
            const float gt = g[c] * wt, gb = g[c] * wb;
            top[u.i0 * C + c] += gt * wl;
            top[u.i1 * C + c] += gt * wr;
            bottom[u.i0 * C + c] += gb * wl;
            bottom[u.i1 * C + c] += gb * wr;
          }
        }
      }
    }
  });
}

}  // namespace nncore::kernels
