// Pooling and zero padding on channels-last data. Parallel over (image, output row); the inner loops run over
// channels, contiguous in memory, so they vectorize (max pooling through per-ISA kernels, pool_<isa>.cpp).
// Backward passes where windows overlap or leave gaps are parallel over images: windows only ever scatter
// into their own image.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"
#include "kernels/pool_internal.hpp"

namespace nncore::kernels {

namespace {

// ---- portable max-pool runs (see pool_internal.hpp); plain loops over channels -----------------------------

void max_forward_generic(float* y, int32_t* arg, const float* xb, int64_t C, int64_t n, int64_t step,
                         const int32_t* off, int npos) {
  for (int64_t o = 0; o < n; ++o, y += C) {
    const int64_t base = o * step;
    for (int64_t c = 0; c < C; ++c) {
      int32_t at = static_cast<int32_t>(off[0] + base + c);
      float best = xb[at];
      for (int k = 1; k < npos; ++k) {
        const int32_t ik = static_cast<int32_t>(off[k] + base + c);
        if (xb[ik] > best) {
          best = xb[ik];
          at = ik;
        }
      }
      y[c] = best;
      if (arg != nullptr) arg[o * C + c] = at;
    }
  }
}

void max_backward_tiled_generic(float* dxb, const float* dy, const int32_t* arg, int64_t C, int64_t n, int64_t step,
                                const int32_t* off, int npos) {
  for (int64_t o = 0; o < n; ++o, dy += C, arg += C)
    for (int k = 0; k < npos; ++k) {
      const int32_t ik = static_cast<int32_t>(off[k] + o * step);
      for (int64_t c = 0; c < C; ++c) dxb[ik + c] = arg[c] == ik + c ? dy[c] : 0.f;
    }
}

}  // namespace

const PoolKernel pool_kernel_generic = {max_forward_generic, max_backward_tiled_generic, "generic"};

namespace {

const PoolKernel& pool_active_kernel() {
#if defined(NNCORE_X86)
  switch (active_isa()) {
    case Isa::avx512: return pool_kernel_avx512;
    case Isa::avx2: return pool_kernel_avx2;
    default: break;
  }
#endif
  return pool_kernel_generic;
}

// In-bounds window positions of output pixel (oh, ow) as flat offsets (ih * W + iw) * C within the image, in
// (ph, pw) order, so that "first maximum" means the same as in the reference. Returns their count.
int window_offsets(const PoolGeom& g, int64_t oh, int64_t ow, int32_t* off) {
  int n = 0;
  for (int64_t ph = 0; ph < g.PH; ++ph) {
    const int64_t ih = oh * g.sh - g.pt + ph;
    if (ih < 0 || ih >= g.H) continue;
    for (int64_t pw = 0; pw < g.PW; ++pw) {
      const int64_t iw = ow * g.sw - g.pl + pw;
      if (iw >= 0 && iw < g.W) off[n++] = static_cast<int32_t>((ih * g.W + iw) * g.C);
    }
  }
  return n;
}

// Cost, in threads_for's flops, of one (output element, window position) of max pooling: the loops stream
// memory (an input element costs several flops' time), so a 26x26x32 batch of 32 is worth both cores.
constexpr double kPoolCost = 8.0;

// Room for one window's offsets: on the stack for the usual pool sizes, so a call allocates nothing.
class WindowOffsets {
 public:
  explicit WindowOffsets(const PoolGeom& g) {
    if (g.PH * g.PW > kStack) heap_.resize(static_cast<size_t>(g.PH * g.PW));
  }
  int32_t* data() { return heap_.empty() ? stack_ : heap_.data(); }

 private:
  static constexpr int64_t kStack = 64;
  int32_t stack_[kStack];
  std::vector<int32_t> heap_;
};

// Windows that cover every input element exactly once.
bool tiles_exactly(const PoolGeom& g) {
  return g.sh == g.PH && g.sw == g.PW && g.pt == 0 && g.pl == 0 && g.OH * g.PH == g.H && g.OW * g.PW == g.W;
}

}  // namespace

// Parallel over (image, output row). Each row is cut into runs of equal window shape: the columns whose
// window lies inside the width form one run, the (padded) edge columns run one by one.
void maxpool2d_forward(float* y, int32_t* argmax, const float* x, const PoolGeom& g) {
  const PoolKernel& k = pool_active_kernel();
  const int64_t ow_lo = std::min(g.OW, (g.pl + g.sw - 1) / g.sw);
  const int64_t last_inside = g.W + g.pl - g.PW;  // ow * sw <= this: the window ends inside the width
  const int64_t ow_hi = last_inside >= 0 ? std::max(ow_lo, std::min(g.OW, last_inside / g.sw + 1)) : ow_lo;
  parallel_range(g.B * g.OH, kPoolCost * static_cast<double>(g.OW * g.PH * g.PW * g.C), [&](int64_t r0, int64_t r1) {
    WindowOffsets off(g);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.OH, oh = r % g.OH;
      const float* xb = x + b * g.H * g.W * g.C;
      const auto run = [&](int64_t ow0, int64_t n) {
        const int npos = window_offsets(g, oh, ow0, off.data());
        k.max_forward(y + (r * g.OW + ow0) * g.C, argmax != nullptr ? argmax + (r * g.OW + ow0) * g.C : nullptr, xb,
                      g.C, n, g.sw * g.C, off.data(), npos);
      };
      for (int64_t ow = 0; ow < ow_lo; ++ow) run(ow, 1);
      if (ow_hi > ow_lo) run(ow_lo, ow_hi - ow_lo);
      for (int64_t ow = ow_hi; ow < g.OW; ++ow) run(ow, 1);
    }
  });
}

void maxpool2d_backward(float* dx, const float* dy, const int32_t* argmax, const PoolGeom& g) {
  const int64_t in_image = g.H * g.W * g.C, out_image = g.OH * g.OW * g.C;
  if (tiles_exactly(g)) {
    // Output row (b, oh) writes input rows [oh * PH, (oh + 1) * PH) of image b, all of them: rows are
    // disjoint across threads and dx needs no clearing.
    const PoolKernel& k = pool_active_kernel();
    parallel_range(g.B * g.OH, kPoolCost * static_cast<double>(g.OW * g.PH * g.PW * g.C), [&](int64_t r0, int64_t r1) {
      WindowOffsets off(g);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / g.OH, oh = r % g.OH;
        const int npos = window_offsets(g, oh, 0, off.data());
        k.max_backward_tiled(dx + b * in_image, dy + r * g.OW * g.C, argmax + r * g.OW * g.C, g.C, g.OW, g.sw * g.C,
                             off.data(), npos);
      }
    });
    return;
  }
  // Overlapping windows, gaps or padding: clear, then scatter. Parallel over images: each writes its own dx.
  parallel_range(g.B, kPoolCost * static_cast<double>(in_image + out_image), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* dxb = dx + b * in_image;
      std::memset(dxb, 0, sizeof(float) * static_cast<size_t>(in_image));
      const float* dyb = dy + b * out_image;
      const int32_t* ab = argmax + b * out_image;
      for (int64_t o = 0; o < out_image; ++o) dxb[ab[o]] += dyb[o];
    }
  });
}

void maxpool2d_forward_ref(float* y, int32_t* argmax, const float* x, const PoolGeom& g) {
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow)
        for (int64_t c = 0; c < g.C; ++c) {
          const int64_t o = ((b * g.OH + oh) * g.OW + ow) * g.C + c;
          bool first = true;
          for (int64_t ph = 0; ph < g.PH; ++ph)
            for (int64_t pw = 0; pw < g.PW; ++pw) {
              const int64_t ih = oh * g.sh - g.pt + ph, iw = ow * g.sw - g.pl + pw;
              if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
              const int64_t i = (ih * g.W + iw) * g.C + c;
              const float v = x[b * g.H * g.W * g.C + i];
              if (first || v > y[o]) {
                y[o] = v;
                argmax[o] = static_cast<int32_t>(i);
              }
              first = false;
            }
        }
}

void maxpool2d_backward_ref(float* dx, const float* dy, const int32_t* argmax, const PoolGeom& g) {
  const int64_t in_image = g.H * g.W * g.C, out_image = g.OH * g.OW * g.C;
  std::memset(dx, 0, sizeof(float) * static_cast<size_t>(g.B * in_image));
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t o = 0; o < out_image; ++o) dx[b * in_image + argmax[b * out_image + o]] += dy[b * out_image + o];
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
  if (tiles_exactly(g)) {
    // Every input element lies in exactly one window: write dx = dy / (PH * PW) directly, no clearing. Output
    // row (b, oh) writes input rows [oh * PH, (oh + 1) * PH) of image b: disjoint across threads.
    const float inv = 1.f / static_cast<float>(g.PH * g.PW);
    parallel_range(g.B * g.OH, kPoolCost * static_cast<double>(g.OW * g.PH * g.PW * g.C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / g.OH, oh = r % g.OH;
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const float* __restrict go = dy + (r * g.OW + ow) * g.C;
          for (int64_t ph = 0; ph < g.PH; ++ph)
            for (int64_t pw = 0; pw < g.PW; ++pw) {
              float* __restrict dp = dx + b * in_image + ((oh * g.PH + ph) * g.W + ow * g.PW + pw) * g.C;
#pragma omp simd
              for (int64_t c = 0; c < g.C; ++c) dp[c] = go[c] * inv;
            }
        }
      }
    });
    return;
  }
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

namespace {
// 1 / (number of valid positions of sample b), 0 when it has none.
float valid_scale(const float* mask, int64_t b, int64_t HW) {
  if (mask == nullptr) return 1.f / static_cast<float>(HW);
  int64_t n = 0;
  for (int64_t p = 0; p < HW; ++p) n += mask[b * HW + p] != 0.f ? 1 : 0;
  return n > 0 ? 1.f / static_cast<float>(n) : 0.f;
}
}  // namespace

void global_avgpool_forward(float* y, const float* x, const float* mask, int64_t B, int64_t HW, int64_t C) {
  parallel_range(B, static_cast<double>(HW * C), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* yb = y + b * C;
      for (int64_t c = 0; c < C; ++c) yb[c] = 0.f;
      for (int64_t p = 0; p < HW; ++p) {
        if (mask && mask[b * HW + p] == 0.f) continue;
        const float* xp = x + (b * HW + p) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) yb[c] += xp[c];
      }
      const float inv = valid_scale(mask, b, HW);
      for (int64_t c = 0; c < C; ++c) yb[c] *= inv;
    }
  });
}

void global_avgpool_backward(float* dx, const float* dy, const float* mask, int64_t B, int64_t HW, int64_t C) {
  parallel_range(B, static_cast<double>(HW * C), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const float inv = valid_scale(mask, b, HW);
      const float* g = dy + b * C;
      for (int64_t p = 0; p < HW; ++p) {
        const float s = mask && mask[b * HW + p] == 0.f ? 0.f : inv;
        float* d = dx + (b * HW + p) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) d[c] = g[c] * s;
      }
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
