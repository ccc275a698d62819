#pragma once
// The vectorized block of the image resampling (kernels/augment.cpp): up to eight output pixels of one row at a
// time, with the fill mode's mapping and the taps outside the image in registers. augment_avx2.cpp.
#include <cstdint>

#include "kernels/kernels.hpp"

namespace nncore::kernels {

// Writes output pixels j0 .. j0 + n - 1 (1 <= n <= 8) of row i (out: the row's first pixel) as the scalar path of
// augment.cpp does: coordinates mapped by the fill mode, the (up to four) taps inside the image weighted, and the
// weight that falls outside times fill_value (constant mode; 0 otherwise).
using ImageBlockKernel = void (*)(float* out, const float* xb, const ImageGeom& g, const float* t, int64_t i,
                                  int64_t j0, int64_t n, bool bilinear, ImageFill fill, float fill_value);

#if defined(NNCORE_X86)
extern const ImageBlockKernel image_block_avx2;
#endif

}  // namespace nncore::kernels
