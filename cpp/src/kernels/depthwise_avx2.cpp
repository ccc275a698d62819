// The depthwise convolution's loops (depthwise_body.hpp) compiled with AVX2+FMA: the channel loops vectorize to
// 8-float registers. Everything here has internal linkage but the descriptor.
#include <cstdint>

#include "kernels/depthwise_internal.hpp"

namespace nncore::kernels {

namespace {
#include "kernels/depthwise_body.hpp"
}  // namespace

const DepthwiseLoops depthwise_loops_avx2 = {depthwise_row, depthwise_image_backward, "avx2"};

}  // namespace nncore::kernels
