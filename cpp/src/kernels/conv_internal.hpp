#pragma once
// Convolution internals shared by conv.cpp (blocking, the input buffers, threads, reductions) and the per-ISA
// kernels: the direct path below and the implicit-GEMM tile further down. The direct path serves convolutions
// with few input channels (the first layer of an image
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

// Implicit GEMM (stride-1 convolutions with many input channels, and their backward-data): conv.cpp copies a block's
// input rows, zero-padded, into a channels-last slab of width grid_w = OW + (KW-1)*dw, where tap t = (kh, kw) of
// output pixel (r, ow) is the kc = C floats at slab + ((r + kh*dh) * grid_w + ow + kw*dw) * kc: a GEMM whose A
// rows are read in place, tap after tap, with no im2col. A tile is MR consecutive pixels of one output row times
// NR channels (narrow_mr x narrow_nr when cols <= narrow_nr: the last panel of a ragged OC, packed that wide);
// a points at its first pixel, off[t] = (kh*dh * grid_w + kw*dw) * kc, and b is the weights packed in an
// NR-column panel, k-major (b[(t * kc + k) * NR + j], zero past the last channel):
//   acc[i][j] = sum_{t < taps} sum_{k < kc} a[off[t] + i * kc + k] * b[(t * kc + k) * NR + j]
// for all MR x NR (rows past `rows` read slab memory that conv.cpp keeps readable), then for i < rows, j < cols:
//   z[i * ldc + j] = acc + bias[j] (when z is not null; no bias when null), y[i * ldc + j] = relu ? max(z, 0) : z.
using ConvImplicitTile = void (*)(int64_t taps, const int64_t* off, int64_t kc, const float* a, const float* b,
                                  const float* bias, bool relu, int64_t rows, int64_t cols, float* y, float* z,
                                  int64_t ldc);

struct ConvKernel {
  int pix_tile;  // grid positions per forward register tile
  ConvForwardBlock forward;
  ConvBackwardWeightsBlock backward_weights;
  int tile_mr, tile_nr;      // the implicit-GEMM tile: pixels x channels
  int narrow_mr, narrow_nr;  // a narrower tile for a last panel of <= narrow_nr channels (0: none)
  ConvImplicitTile implicit;
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
