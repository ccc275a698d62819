#pragma once
// The optimizers' per-ISA loops (optim_body.hpp), chosen by optim.cpp at run time.
#include <cstdint>

namespace nncore::kernels {

struct AdamLoops {
  void (*adam)(float* w, float* m, float* v, const float* g, int64_t n, float lr_t, float b1, float b2, float eps);
  void (*amsgrad)(float* w, float* m, float* v, float* v_hat, const float* g, int64_t n, float lr_t, float b1,
                  float b2, float eps);
};

#if defined(NNCORE_X86)
extern const AdamLoops adam_loops_avx2;    // optim_avx2.cpp
extern const AdamLoops adam_loops_avx512;  // optim_avx512.cpp
#endif

}  // namespace nncore::kernels
