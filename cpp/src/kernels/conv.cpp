// 2-D convolution on channels-last data as im2col + GEMM.
//   forward:          y(rows, OC) = cols(rows, KH*KW*C) @ w(KH*KW*C, OC) (+ bias), rows = (b, oh, ow)
//   backward-weights: dw += cols^T @ dy        backward-data: dcols = dy @ w^T, then col2im adds into dx
// Images are processed in chunks whose im2col matrix fits a bounded workspace. A 1x1, stride-1, unpadded
// convolution needs no im2col at all: x itself is the (rows, C) matrix.
// Every output element is produced by one GEMM with a fixed K order, and dw accumulates chunk after chunk in
// order, so results do not depend on the thread count.
#include <algorithm>
#include <cstring>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {

constexpr int64_t kWorkspaceFloats = int64_t{1} << 22;  // 16 MiB of im2col per chunk at most

bool is_pointwise(const ConvGeom& g) {
  return g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.OH == g.H && g.OW == g.W;
}

int64_t images_per_chunk(const ConvGeom& g) {
  const int64_t per_image = std::max<int64_t>(1, g.rows_per_image() * g.taps());
  return std::max<int64_t>(1, std::min(g.B, kWorkspaceFloats / per_image));
}

inline void copy_c(float* dst, const float* src, int64_t n) {
  if (n < 16) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
    std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(n));
  }
}

inline void add_c(float* dst, const float* src, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// cols rows for images [b0, b0+nb): row (b, oh, ow) holds the KH x KW x C patch, zeros where padded.
void im2col(float* cols, const float* x, const ConvGeom& g, int64_t b0, int64_t nb) {
  const int64_t K = g.taps(), KWC = g.KW * g.C;
  parallel_range(nb * g.OH, static_cast<double>(g.OW * K), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.OH, oh = r % g.OH;
      const float* xb = x + (b0 + b) * g.H * g.W * g.C;
      float* dst = cols + r * g.OW * K;
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const int64_t iw0 = ow * g.sw - g.pl;
        const bool row_inside = iw0 >= 0 && iw0 + (g.KW - 1) * g.dw < g.W;
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t ih = oh * g.sh - g.pt + kh * g.dh;
          if (ih < 0 || ih >= g.H) {
            std::memset(dst, 0, sizeof(float) * static_cast<size_t>(KWC));
            dst += KWC;
            continue;
          }
          const float* xr = xb + ih * g.W * g.C;
          if (row_inside && g.dw == 1) {  // the KW pixels are contiguous in x
            copy_c(dst, xr + iw0 * g.C, KWC);
            dst += KWC;
            continue;
          }
          for (int64_t kw = 0; kw < g.KW; ++kw, dst += g.C) {
            const int64_t iw = iw0 + kw * g.dw;
            if (iw < 0 || iw >= g.W) std::memset(dst, 0, sizeof(float) * static_cast<size_t>(g.C));
            else copy_c(dst, xr + iw * g.C, g.C);
          }
        }
      }
    }
  });
}

// dx[images b0..b0+nb) += scatter of dcols. Parallel over images: each image's dx is written by one thread.
void col2im_add(float* dx, const float* dcols, const ConvGeom& g, int64_t b0, int64_t nb) {
  const int64_t K = g.taps();
  parallel_range(nb, static_cast<double>(g.rows_per_image() * K), [&](int64_t i0, int64_t i1) {
    for (int64_t b = i0; b < i1; ++b) {
      float* xb = dx + (b0 + b) * g.H * g.W * g.C;
      const float* src = dcols + b * g.rows_per_image() * K;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow)
          for (int64_t kh = 0; kh < g.KH; ++kh) {
            const int64_t ih = oh * g.sh - g.pt + kh * g.dh;
            for (int64_t kw = 0; kw < g.KW; ++kw, src += g.C) {
              const int64_t iw = ow * g.sw - g.pl + kw * g.dw;
              if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) add_c(xb + (ih * g.W + iw) * g.C, src, g.C);
            }
          }
    }
  });
}

}  // namespace

int64_t conv2d_workspace_size(const ConvGeom& g) {
  return is_pointwise(g) ? 0 : images_per_chunk(g) * g.rows_per_image() * g.taps();
}

void conv2d_forward(float* y, const float* x, const float* w, const float* bias, const ConvGeom& g, float* ws,
                    int64_t ws_size) {
  const int64_t K = g.taps(), ipc = images_per_chunk(g), in_image = g.H * g.W * g.C;
  for (int64_t b0 = 0; b0 < g.B; b0 += ipc) {
    const int64_t nb = std::min(ipc, g.B - b0), rows = nb * g.rows_per_image();
    float* yc = y + b0 * g.rows_per_image() * g.OC;
    const float* cols = x + b0 * in_image;
    if (!is_pointwise(g)) {
      im2col(ws, x, g, b0, nb);
      cols = ws;
    }
    if (bias != nullptr) broadcast_rows(yc, bias, rows, g.OC);
    gemm(false, false, rows, g.OC, K, cols, K, w, g.OC, bias != nullptr ? 1.f : 0.f, yc, g.OC);
  }
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     const ConvGeom& g, float* ws, int64_t ws_size) {
  const int64_t K = g.taps(), ipc = images_per_chunk(g), in_image = g.H * g.W * g.C;
  const bool pointwise = is_pointwise(g);
  for (int64_t b0 = 0; b0 < g.B; b0 += ipc) {
    const int64_t nb = std::min(ipc, g.B - b0), rows = nb * g.rows_per_image();
    const float* dyc = dy + b0 * g.rows_per_image() * g.OC;
    if (dw != nullptr) {
      const float* cols = x + b0 * in_image;
      if (!pointwise) {
        im2col(ws, x, g, b0, nb);
        cols = ws;
      }
      gemm(true, false, K, g.OC, rows, cols, K, dyc, g.OC, 1.f, dw, g.OC);
    }
    if (db != nullptr) col_sum_accumulate(db, dyc, rows, g.OC);
    if (dx != nullptr) {
      float* dxc = dx + b0 * in_image;
      if (pointwise) {
        gemm(false, true, rows, g.C, g.OC, dyc, g.OC, w, g.OC, 0.f, dxc, g.C);
      } else {
        gemm(false, true, rows, K, g.OC, dyc, g.OC, w, g.OC, 0.f, ws, K);  // dcols reuses the workspace
        std::memset(dxc, 0, sizeof(float) * static_cast<size_t>(nb * in_image));
        col2im_add(dx, ws, g, b0, nb);
      }
    }
  }
}

// ---- reference (direct loops) ----------------------------------------------------------------------------
void conv2d_forward_ref(float* y, const float* x, const float* w, const float* bias, const ConvGeom& g) {
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow)
        for (int64_t oc = 0; oc < g.OC; ++oc) {
          double s = bias != nullptr ? bias[oc] : 0.0;
          for (int64_t kh = 0; kh < g.KH; ++kh)
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              const int64_t ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
              if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
              for (int64_t c = 0; c < g.C; ++c)
                s += static_cast<double>(x[((b * g.H + ih) * g.W + iw) * g.C + c]) *
                     w[((kh * g.KW + kw) * g.C + c) * g.OC + oc];
            }
          y[((b * g.OH + oh) * g.OW + ow) * g.OC + oc] = static_cast<float>(s);
        }
}

void conv2d_backward_ref(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                         const ConvGeom& g) {
  if (dx != nullptr) std::memset(dx, 0, sizeof(float) * static_cast<size_t>(g.B * g.H * g.W * g.C));
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow)
        for (int64_t oc = 0; oc < g.OC; ++oc) {
          const float gy = dy[((b * g.OH + oh) * g.OW + ow) * g.OC + oc];
          if (db != nullptr) db[oc] += gy;
          for (int64_t kh = 0; kh < g.KH; ++kh)
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              const int64_t ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
              if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
              for (int64_t c = 0; c < g.C; ++c) {
                const int64_t xi = ((b * g.H + ih) * g.W + iw) * g.C + c, wi = ((kh * g.KW + kw) * g.C + c) * g.OC + oc;
                if (dw != nullptr) dw[wi] += x[xi] * gy;
                if (dx != nullptr) dx[xi] += w[wi] * gy;
              }
            }
        }
}

}  // namespace nncore::kernels
