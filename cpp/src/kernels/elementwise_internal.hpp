#pragma once
// Per-ISA scans behind elementwise.cpp's count_nonfinite: whether any of x[0..n) is NaN or +-inf (its exponent bits
// all ones). The all-finite answer is the common one (every fit, evaluate and predict scans its inputs), so only
// that scan is vectorized; elementwise.cpp counts in plain code when it says yes.
#include <cstdint>

namespace nncore::kernels {

#if defined(NNCORE_X86)
bool any_nonfinite_avx2(const float* x, int64_t n);
bool any_nonfinite_avx512(const float* x, int64_t n);
#endif

}  // namespace nncore::kernels
