#pragma once
// The vectorized block of the image resampling (kernels/augment.cpp): eight output pixels of one row at a time,
// when all eight sample inside the image (where the fill mode's mapping is the identity). augment_avx2.cpp.
#include <cstdint>

#include "kernels/kernels.hpp"

namespace nncore::kernels {

// Writes output pixels j0 .. j0 + 7 of row i (out: the row's first pixel) and returns true when every one of them
// samples (bilinear: its whole 2 x 2 neighbourhood) inside the image; returns false and writes nothing otherwise.
using ImageBlockKernel = bool (*)(float* out, const float* xb, const ImageGeom& g, const float* t, int64_t i,
                                  int64_t j0, bool bilinear);

#if defined(NNCORE_X86)
extern const ImageBlockKernel image_block_avx2;
#endif

}  // namespace nncore::kernels
