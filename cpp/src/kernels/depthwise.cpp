// Depthwise 2-D convolution, channels-last (kernels.hpp): each input channel convolved with its own depth_multiplier
// filters. Forward spreads output rows over the threads; backward spreads fixed chunks of the batch, each chunk
// summing its images' weight gradient in its own slice of the workspace, and the slices are added in chunk order:
// results never depend on the thread count.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/depthwise_internal.hpp"
#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {
#include "kernels/depthwise_body.hpp"

const DepthwiseLoops depthwise_loops_generic = {depthwise_row, depthwise_image_backward, "generic"};

const DepthwiseLoops& active_loops() {
#if defined(NNCORE_X86)
  if (active_isa() != Isa::generic) return depthwise_loops_avx2;
#endif
  return depthwise_loops_generic;
}

constexpr int64_t kMaxChunks = 16;  // batch chunks of backward's weight gradient (a function of B alone)

int64_t chunks_of(const ConvGeom& g) { return std::min<int64_t>(g.B, kMaxChunks); }

void check(const ConvGeom& g) {
  if (g.C < 1 || g.OC % g.C != 0)
    throw std::invalid_argument("depthwise_conv2d: output channels " + std::to_string(g.OC) +
                                " are not a multiple of input channels " + std::to_string(g.C));
}

double row_cost(const ConvGeom& g) { return 2.0 * static_cast<double>(g.OW * g.OC * g.KH * g.KW); }
}  // namespace

int64_t depthwise_conv2d_workspace_size(const ConvGeom& g) { return chunks_of(g) * g.KH * g.KW * g.OC; }

void depthwise_conv2d_forward(float* y, const float* x, const float* w, const float* bias, const ConvGeom& g) {
  check(g);
  const DepthwiseLoops& L = active_loops();
  parallel_range(g.B * g.OH, row_cost(g), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) L.row(y, x, w, bias, g, r / g.OH, r % g.OH);
  });
}

void depthwise_conv2d_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                               const ConvGeom& g, float* ws, int64_t ws_size) {
  check(g);
  const DepthwiseLoops& L = active_loops();
  const int64_t chunks = chunks_of(g), wsize = g.KH * g.KW * g.OC;
  if (dw != nullptr && ws_size < chunks * wsize)
    throw std::invalid_argument("depthwise_conv2d_backward: workspace of " + std::to_string(ws_size) +
                                " floats, need " + std::to_string(chunks * wsize));
  if (chunks == 0) return;
  parallel_range(chunks, row_cost(g) * static_cast<double>(g.OH) * 2.0 * static_cast<double>(g.B) /
                             static_cast<double>(chunks),
                 [&](int64_t c0, int64_t c1) {
                   for (int64_t c = c0; c < c1; ++c) {
                     float* part = dw != nullptr ? ws + c * wsize : nullptr;
                     if (part != nullptr) std::fill(part, part + wsize, 0.f);
                     for (int64_t b = g.B * c / chunks; b < g.B * (c + 1) / chunks; ++b)
                       L.image_backward(dx, part, dy, x, w, g, b);
                   }
                 });
  if (dw == nullptr) return;
  parallel_range(wsize, static_cast<double>(chunks), [&](int64_t i0, int64_t i1) {
    for (int64_t c = 0; c < chunks; ++c) {
      const float* part = ws + c * wsize;
      for (int64_t i = i0; i < i1; ++i) dw[i] += part[i];
    }
  });
}

// ---- plain loops (the test oracle) ----------------------------------------------------------------------------
void depthwise_conv2d_forward_ref(float* y, const float* x, const float* w, const float* bias, const ConvGeom& g) {
  check(g);
  const int64_t M = g.OC / g.C;
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow)
        for (int64_t c = 0; c < g.C; ++c)
          for (int64_t m = 0; m < M; ++m) {
            double s = bias != nullptr ? bias[c * M + m] : 0.0;
            for (int64_t kh = 0; kh < g.KH; ++kh)
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                s += static_cast<double>(x[((b * g.H + ih) * g.W + iw) * g.C + c]) *
                     w[((kh * g.KW + kw) * g.C + c) * M + m];
              }
            y[((b * g.OH + oh) * g.OW + ow) * g.OC + c * M + m] = static_cast<float>(s);
          }
}

void depthwise_conv2d_backward_ref(float* dx, float* dw, const float* dy, const float* x, const float* w,
                                   const ConvGeom& g) {
  check(g);
  const int64_t M = g.OC / g.C;
  if (dx != nullptr) std::fill(dx, dx + g.B * g.H * g.W * g.C, 0.f);
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow)
        for (int64_t kh = 0; kh < g.KH; ++kh)
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
            if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
            for (int64_t c = 0; c < g.C; ++c)
              for (int64_t m = 0; m < M; ++m) {
                const float gy = dy[((b * g.OH + oh) * g.OW + ow) * g.OC + c * M + m];
                const int64_t xi = ((b * g.H + ih) * g.W + iw) * g.C + c, wi = ((kh * g.KW + kw) * g.C + c) * M + m;
                if (dw != nullptr) dw[wi] += x[xi] * gy;
                if (dx != nullptr) dx[xi] += w[wi] * gy;
              }
          }
}

}  // namespace nncore::kernels
