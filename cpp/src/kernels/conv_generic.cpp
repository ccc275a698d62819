// Portable direct-convolution kernels: plain loops over output channels, contiguous in y, w and dy, which the
// compiler vectorizes at the x86-64 baseline. The fallback where no hand-written kernel exists.
#include "kernels/conv_internal.hpp"

namespace nncore::kernels {

namespace {

void forward_generic(int64_t rows, int64_t grid_w, int64_t OW, int64_t taps, const float* a, const int64_t* off,
                     const float* w, int64_t OC, const float* bias, bool relu, float* y, float* z) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t p = r * OW + ow, q = r * grid_w + ow;
      float* __restrict yp = y + p * OC;
      for (int64_t oc = 0; oc < OC; ++oc) yp[oc] = bias != nullptr ? bias[oc] : 0.f;
      for (int64_t t = 0; t < taps; ++t) {
        const float at = a[off[t] + q];
        const float* __restrict wt = w + t * OC;
        for (int64_t oc = 0; oc < OC; ++oc) yp[oc] += at * wt[oc];
      }
      if (z != nullptr)
        for (int64_t oc = 0; oc < OC; ++oc) z[p * OC + oc] = yp[oc];
      if (relu)
        for (int64_t oc = 0; oc < OC; ++oc) yp[oc] = yp[oc] > 0.f ? yp[oc] : 0.f;
    }
}

// acc[t][:] += a * g over OC, restrict-qualified so that it vectorizes.
void axpy_row(float* __restrict acc, float a, const float* __restrict g, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += a * g[i];
}

void backward_weights_generic(int64_t rows, int64_t grid_w, int64_t OW, int64_t taps, const float* a,
                              const int64_t* off, const float* dy, const float* y, int64_t OC, float* acc) {
  constexpr int64_t kChunk = 256;  // channels per pass: relu's masked row of dy lives on the stack
  float gm[kChunk];
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t p = r * OW + ow, q = r * grid_w + ow;
      for (int64_t oc0 = 0; oc0 < OC; oc0 += kChunk) {
        const int64_t n = OC - oc0 < kChunk ? OC - oc0 : kChunk;
        const float* g = dy + p * OC + oc0;
        if (y != nullptr) {
          const float* yp = y + p * OC + oc0;
          for (int64_t i = 0; i < n; ++i) gm[i] = yp[i] > 0.f ? g[i] : 0.f;
          g = gm;
        }
        for (int64_t t = 0; t < taps; ++t) axpy_row(acc + t * OC + oc0, a[off[t] + q], g, n);
      }
    }
}

constexpr int IMR = 4, INR = 16;  // implicit GEMM tile

void implicit_generic(int64_t taps, const int64_t* off, int64_t kc, const float* a, const float* b,
                      const float* bias, bool relu, int64_t rows, int64_t cols, float* y, float* z, int64_t ldc) {
  float acc[IMR][INR] = {};
  for (int64_t t = 0; t < taps; ++t) {
    const float* at = a + off[t];
    for (int64_t k = 0; k < kc; ++k, b += INR)
      for (int i = 0; i < IMR; ++i) {
        const float ai = at[i * kc + k];
        for (int j = 0; j < INR; ++j) acc[i][j] += ai * b[j];
      }
  }
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      const float v = acc[i][j] + (bias != nullptr ? bias[j] : 0.f);
      if (z != nullptr) z[i * ldc + j] = v;
      y[i * ldc + j] = relu && !(v > 0.f) ? 0.f : v;
    }
}

}  // namespace

const ConvKernel conv_kernel_generic = {1, forward_generic, backward_weights_generic, IMR, INR, 0, 0, implicit_generic,
                                        "generic"};

}  // namespace nncore::kernels
