#pragma once
// Direct-convolution internals shared by conv.cpp (blocking, the input buffer, threads, reductions) and the
// per-ISA kernels. The direct path serves convolutions with few input channels (the first layer of an image
// network), where im2col + GEMM would spend most of its time packing a K = KH*KW*C of 9 or 27.
//
// A block is `rows` whole output rows of one image. conv.cpp lays its input out so that input value t
// (t = (kh, kw, c)) of the block's output pixel (r, ow) is a[off[t] + r * grid_w + ow]:
//   stride 1: a zero-padded slab of the input rows the block reads, one plane per channel, grid_w = the padded
//     width OW + (KW-1)*dw, and off[t] = c * plane + kh*dh * grid_w + kw*dw. Each tap is a shifted window of
//     the same slab, so building it costs a copy of the input rows, not KH*KW*C copies of them.
//   other strides: the patch tap-major, a[t * lda + p] with p = r * OW + ow: grid_w = OW, off[t] = t * lda.
// Grid positions with ow >= OW (between two output rows of the slab) are no output pixel.
#include <cstdint>

namespace nncore::kernels {

// Forward, for every output pixel (r, ow) of the block, p = r * OW + ow its row in y and z (OC apart):
//   z[p][oc] = bias[oc] + sum_{t < taps} a[off[t] + r * grid_w + ow] * w[t * OC + oc]   (no bias when null)
//   y[p][oc] = relu ? max(z, 0) : z                                                     (z stored when not null)
// The kernel may compute whole tiles of pix_tile grid positions, past the last output pixel too: conv.cpp
// leaves pix_tile readable (zero) floats after every tap's last position.
using ConvForwardBlock = void (*)(int64_t rows, int64_t grid_w, int64_t OW, int64_t taps, const float* a,
                                  const int64_t* off, const float* w, int64_t OC, const float* bias, bool relu,
                                  float* y, float* z);

// Backward-weights: acc[t][oc] += sum over the block's output pixels of a[off[t] + r * grid_w + ow] * g[p][oc]
// for t < taps, where g = dy, or dy * (y > 0) when y is not null (relu's derivative, taken from its output).
// conv.cpp points the last tap at a plane of ones, so the last row of acc collects the bias gradient.
using ConvBackwardWeightsBlock = void (*)(int64_t rows, int64_t grid_w, int64_t OW, int64_t taps, const float* a,
                                          const int64_t* off, const float* dy, const float* y, int64_t OC,
                                          float* acc);

struct ConvKernel {
  int pix_tile;  // grid positions per forward register tile
  ConvForwardBlock forward;
  ConvBackwardWeightsBlock backward_weights;
  const char* name;
};

// Constant-initialized data, as for the GEMM kernels: only calling a function runs ISA-specific code.
extern const ConvKernel conv_kernel_generic;
#if defined(NNCORE_X86)
extern const ConvKernel conv_kernel_avx2;
extern const ConvKernel conv_kernel_avx512;
#endif

// The kernel for active_isa(); exposed for tests and benchmarks.
const ConvKernel& conv_active_kernel();

}  // namespace nncore::kernels
