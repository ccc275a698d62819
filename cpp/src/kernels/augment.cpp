// Image augmentation kernels (kernels.hpp): affine resampling as TensorFlow's ImageProjectiveTransformV3 (which
// Keras's RandomRotation / RandomZoom / RandomTranslation use) with its fill modes, and its adjoint; contrast and
// brightness with clipping. Images are spread over the threads, each computed whole by one: results never depend on
// the thread count.
#include <algorithm>
#include <cmath>

#include "kernels/augment_internal.hpp"
#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {
// A sampling coordinate brought into [0, len - 1] as the fill mode says; constant leaves it (reads outside give
// fill_value).
float map_coord(float c, int64_t len, ImageFill fill) {
  const float n = static_cast<float>(len), hi = n - 1.f;
  switch (fill) {
    case ImageFill::reflect: {  // (d c b a | a b c d | d c b a): period 2 len, mirrored about the edges
      if (len <= 1) return 0.f;
      float t = std::fmod(c, 2.f * n);
      if (t < 0.f) t += 2.f * n;
      if (t >= n) t = 2.f * n - 1.f - t;
      return std::min(std::max(t, 0.f), hi);
    }
    case ImageFill::wrap: {  // (a b c d | a b c d | a b c d)
      float t = std::fmod(c, n);
      if (t < 0.f) t += n;
      return std::min(std::max(t, 0.f), hi);
    }
    case ImageFill::nearest:
      return std::min(std::max(c, 0.f), hi);
    case ImageFill::constant:
      return c;
  }
  return c;
}

// The taps output pixel (i, j) of image b reads: up to 4 (pixel index in the image, weight); a tap outside the image
// reads fill_value with its weight (returned in *outside).
struct Taps {
  int n = 0;
  int64_t index[4];
  float weight[4];
  float outside = 0.f;
};

Taps taps_of(const ImageGeom& g, const float* t, int64_t i, int64_t j, bool bilinear, ImageFill fill) {
  const float x = static_cast<float>(j), y = static_cast<float>(i);
  const float col = map_coord(t[0] * x + (t[1] * y + t[2]), g.W, fill);
  const float row = map_coord(t[3] * x + (t[4] * y + t[5]), g.H, fill);
  Taps k;
  const auto add = [&](float r, float c, float w) {
    if (w == 0.f) return;
    if (r < 0.f || c < 0.f || r > static_cast<float>(g.H - 1) || c > static_cast<float>(g.W - 1)) {
      k.outside += w;
      return;
    }
    k.index[k.n] = static_cast<int64_t>(r) * g.W + static_cast<int64_t>(c);
    k.weight[k.n++] = w;
  };
  if (!bilinear) {
    add(std::round(row), std::round(col), 1.f);
    return k;
  }
  const float r0 = std::floor(row), c0 = std::floor(col), fr = row - r0, fc = col - c0;
  add(r0, c0, (1.f - fr) * (1.f - fc));
  add(r0, c0 + 1.f, (1.f - fr) * fc);
  add(r0 + 1.f, c0, fr * (1.f - fc));
  add(r0 + 1.f, c0 + 1.f, fr * fc);
  return k;
}

// About what a pixel costs in flop-equivalents (the mapping, up to four gathered taps, the scattered stores).
double image_cost(const ImageGeom& g) { return 100.0 * static_cast<double>(g.OH * g.OW * g.C); }

// Output pixel (i, j)'s sampling: calls tap(index, weight) for every in-image tap and outside(weight) for the weight
// that falls outside. A pixel whose whole bilinear (or nearest) neighbourhood lies inside the image takes the fast
// path without the fill mode's mapping (which is the identity there): most pixels of a small rotation, zoom or
// shift. The forward's AVX2 blocks (augment_avx2.cpp) compute the same, eight pixels at a time.
template <class Tap, class Outside>
void sample_pixel(const ImageGeom& g, const float* t, int64_t i, int64_t j, bool bilinear, ImageFill fill, Tap tap,
                  Outside outside) {
  const float x = static_cast<float>(j), y = static_cast<float>(i);
  const float col = t[0] * x + (t[1] * y + t[2]), row = t[3] * x + (t[4] * y + t[5]);
  const float h1 = static_cast<float>(g.H - 1), w1 = static_cast<float>(g.W - 1);
  if (!bilinear) {
    if (row >= 0.f && col >= 0.f && row <= h1 && col <= w1) {
      tap(static_cast<int64_t>(std::round(row)) * g.W + static_cast<int64_t>(std::round(col)), 1.f);
      return;
    }
  } else if (row >= 0.f && col >= 0.f && row < h1 && col < w1) {
    const float r0 = std::floor(row), c0 = std::floor(col), fr = row - r0, fc = col - c0;
    const int64_t p = static_cast<int64_t>(r0) * g.W + static_cast<int64_t>(c0);
    tap(p, (1.f - fr) * (1.f - fc));
    tap(p + 1, (1.f - fr) * fc);
    tap(p + g.W, fr * (1.f - fc));
    tap(p + g.W + 1, fr * fc);
    return;
  }
  const Taps k = taps_of(g, t, i, j, bilinear, fill);
  for (int n = 0; n < k.n; ++n) tap(k.index[n], k.weight[n]);
  if (k.outside != 0.f) outside(k.outside);
}

ImageBlockKernel active_block() {
#if defined(NNCORE_X86)
  if (active_isa() != Isa::generic) return image_block_avx2;
#endif
  return nullptr;
}

// A transform that is a flip (or the identity) of the whole image samples exactly one pixel per output, with
// weight 1 (bilinear weights 1, 0, 0, 0): output row i is input row t4 i + t5, reversed when t0 = -1.
bool is_flip(const ImageGeom& g, const float* t) {
  const bool h = t[0] == 1.f ? t[2] == 0.f : t[0] == -1.f && t[2] == static_cast<float>(g.W - 1);
  const bool v = t[4] == 1.f ? t[5] == 0.f : t[4] == -1.f && t[5] == static_cast<float>(g.H - 1);
  return h && v && t[1] == 0.f && t[3] == 0.f && g.OH == g.H && g.OW == g.W;
}

// dst = src flipped by t (is_flip): dst pixel (i, j) = src pixel (r(i), c(j)); a flip is its own inverse, so this
// serves the adjoint too.
void flip_copy(float* dst, const float* src, const ImageGeom& g, const float* t) {
  const int64_t row = g.W * g.C;
  for (int64_t i = 0; i < g.H; ++i) {
    const float* s = src + (t[4] == 1.f ? i : g.H - 1 - i) * row;
    float* d = dst + i * row;
    if (t[0] == 1.f) {
      std::copy(s, s + row, d);
    } else {
      for (int64_t j = 0; j < g.W; ++j) std::copy(s + (g.W - 1 - j) * g.C, s + (g.W - j) * g.C, d + j * g.C);
    }
  }
}

}  // namespace

void image_transform_forward(float* y, const float* x, const ImageGeom& g, const float* transforms, bool bilinear,
                             ImageFill fill, float fill_value) {
  const int64_t C = g.C, HW = g.H * g.W;
  const float fv = fill == ImageFill::constant ? fill_value : 0.f;
  const ImageBlockKernel block = active_block();
  parallel_range(g.B, image_cost(g), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const float* xb = x + b * HW * C;
      const float* t = transforms + 6 * b;
      float* yb = y + b * g.OH * g.OW * C;
      if (is_flip(g, t)) {
        flip_copy(yb, xb, g, t);
        continue;
      }
      for (int64_t i = 0; i < g.OH; ++i) {
        float* yrow = yb + i * g.OW * C;
        if (block != nullptr) {
          for (int64_t j0 = 0; j0 < g.OW; j0 += 8) block(yrow, xb, g, t, i, j0, std::min<int64_t>(8, g.OW - j0), bilinear, fill, fv);
          continue;
        }
        for (int64_t j = 0; j < g.OW; ++j) {
          float* out = yrow + j * C;
          std::fill(out, out + C, 0.f);
          sample_pixel(
              g, t, i, j, bilinear, fill,
              [&](int64_t p, float w) {
                const float* src = xb + p * C;
                for (int64_t c = 0; c < C; ++c) out[c] += w * src[c];
              },
              [&](float w) {
                for (int64_t c = 0; c < C; ++c) out[c] += w * fv;
              });
        }
      }
    }
  });
}

void image_transform_backward(float* dx, const float* dy, const ImageGeom& g, const float* transforms, bool bilinear,
                              ImageFill fill) {
  const int64_t C = g.C, HW = g.H * g.W;
  parallel_range(g.B, image_cost(g), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* dxb = dx + b * HW * C;
      const float* dyb = dy + b * g.OH * g.OW * C;
      if (is_flip(g, transforms + 6 * b)) {  // a permutation: its adjoint is the inverse permutation
        flip_copy(dxb, dyb, g, transforms + 6 * b);
        continue;
      }
      std::fill(dxb, dxb + HW * C, 0.f);
      for (int64_t i = 0; i < g.OH; ++i)
        for (int64_t j = 0; j < g.OW; ++j) {
          const float* gy = dy + ((b * g.OH + i) * g.OW + j) * C;
          sample_pixel(
              g, transforms + 6 * b, i, j, bilinear, fill,
              [&](int64_t p, float w) {
                float* dst = dxb + p * C;
                for (int64_t c = 0; c < C; ++c) dst[c] += w * gy[c];
              },
              [](float) {});
        }
    }
  });
}

void adjust_contrast_forward(float* y, const float* x, const ImageGeom& g, const float* factors, float lo, float hi) {
  const int64_t C = g.C, HW = g.H * g.W;
  parallel_range(g.B, image_cost(g), [&](int64_t b0, int64_t b1) {
    std::vector<double> mean(static_cast<size_t>(C));
    for (int64_t b = b0; b < b1; ++b) {
      const float* xb = x + b * HW * C;
      float* yb = y + b * HW * C;
      std::fill(mean.begin(), mean.end(), 0.0);
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < C; ++c) mean[static_cast<size_t>(c)] += xb[p * C + c];
      const float f = factors[b];
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < C; ++c) {
          const float m = static_cast<float>(mean[static_cast<size_t>(c)] / static_cast<double>(HW));
          yb[p * C + c] = std::min(std::max((xb[p * C + c] - m) * f + m, lo), hi);
        }
    }
  });
}

void adjust_contrast_backward(float* dx, const float* dy, const float* y, const ImageGeom& g, const float* factors,
                              float lo, float hi) {
  const int64_t C = g.C, HW = g.H * g.W;
  parallel_range(g.B, image_cost(g), [&](int64_t b0, int64_t b1) {
    std::vector<double> sum(static_cast<size_t>(C));
    for (int64_t b = b0; b < b1; ++b) {
      const float* gy = dy + b * HW * C;
      const float* yb = y + b * HW * C;
      float* dxb = dx + b * HW * C;
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int64_t p = 0; p < HW * C; ++p) {  // the gradient past the clipping, and its sum per channel
        dxb[p] = yb[p] > lo && yb[p] < hi ? gy[p] : 0.f;
        sum[static_cast<size_t>(p % C)] += dxb[p];
      }
      const float f = factors[b];
      for (int64_t p = 0; p < HW; ++p)  // y = f x + (1 - f) mean(x): dx = f g + (1 - f) sum(g) / HW
        for (int64_t c = 0; c < C; ++c)
          dxb[p * C + c] = f * dxb[p * C + c] +
                           (1.f - f) * static_cast<float>(sum[static_cast<size_t>(c)] / static_cast<double>(HW));
    }
  });
}

void adjust_brightness_forward(float* y, const float* x, const ImageGeom& g, const float* deltas, float lo, float hi) {
  const int64_t n = g.H * g.W * g.C;
  parallel_range(g.B, image_cost(g), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t p = b * n; p < (b + 1) * n; ++p) y[p] = std::min(std::max(x[p] + deltas[b], lo), hi);
  });
}

void clipped_backward(float* dx, const float* dy, const float* y, int64_t n, float lo, float hi) {
  for (int64_t p = 0; p < n; ++p) dx[p] = y[p] > lo && y[p] < hi ? dy[p] : 0.f;
}

}  // namespace nncore::kernels
