#pragma once
// Max-pooling internals shared by pool.cpp (window geometry, padding, threads) and the per-ISA kernels.
// A run is n consecutive output pixels of one output row whose windows hold the same in-bounds positions:
// output pixel o (0 <= o < n) reads input flat indexes off[k] + o * step + c (k < npos, c < C) of its image,
// step = stride_w * C. Outputs and argmax of pixel o are at o * C + c; argmax holds the flat index within the
// image, as maxpool2d_forward promises.
#include <cstdint>

namespace nncore::kernels {

// y = max over the window, arg = flat index of the first maximum (a later position wins only when greater); arg
// null: the maxima alone (inference).
using MaxPoolForwardRun = void (*)(float* y, int32_t* arg, const float* xb, int64_t C, int64_t n, int64_t step,
                                   const int32_t* off, int npos);
// Windows that tile the input exactly (each input element in exactly one window): every element of the run's
// windows is written, dy where it was the argmax and 0 elsewhere, so dx needs no memset and no scatter.
using MaxPoolBackwardRun = void (*)(float* dxb, const float* dy, const int32_t* arg, int64_t C, int64_t n,
                                    int64_t step, const int32_t* off, int npos);

struct PoolKernel {
  MaxPoolForwardRun max_forward;
  MaxPoolBackwardRun max_backward_tiled;
  const char* name;
};

extern const PoolKernel pool_kernel_generic;  // defined in pool.cpp
#if defined(NNCORE_X86)
extern const PoolKernel pool_kernel_avx2;
extern const PoolKernel pool_kernel_avx512;
#endif

}  // namespace nncore::kernels
