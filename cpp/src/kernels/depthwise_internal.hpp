#pragma once
// The per-ISA loops of the depthwise convolution (depthwise_body.hpp, compiled by depthwise.cpp and
// depthwise_avx2.cpp); depthwise.cpp spreads them over the threads.
#include <cstdint>

#include "kernels/kernels.hpp"

namespace nncore::kernels {

struct DepthwiseLoops {
  // Output row (b, oh), overwritten (the bias, when not null, added).
  void (*row)(float* y, const float* x, const float* w, const float* bias, const ConvGeom& g, int64_t b, int64_t oh);
  // Image b: dx of that image overwritten (when not null), dw_part accumulated (when not null).
  void (*image_backward)(float* dx, float* dw_part, const float* dy, const float* x, const float* w,
                         const ConvGeom& g, int64_t b);
  const char* name;
};

#if defined(NNCORE_X86)
extern const DepthwiseLoops depthwise_loops_avx2;
#endif

}  // namespace nncore::kernels
