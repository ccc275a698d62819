#pragma once
// The row loops of attention (kernels/attention.cpp) that decide its speed: a max, exponentials with their sum, and
// a dot product over one row of scores. attention.cpp holds the plain versions (the generic path); attention_avx2.cpp
// the AVX2+FMA ones, which the AVX-512 path uses too (rows of 100-2000 scores gain nothing from wider registers, and
// one kernel keeps both paths bit-identical).
#include <cstdint>

namespace nncore::kernels {

struct AttentionRowKernel {
  // The largest of x[0..n) (-inf for n = 0).
  float (*max)(const float* x, int64_t n);
  // x[i] = exp(scale * x[i] + shift) for i < n, where x[i] = -inf gives exactly 0; returns the sum of the results.
  // (scale > 0: the score scaling rides in the exponential's FMA when no mask or bias needs the scores first.)
  float (*exp_sum)(float* x, int64_t n, float scale, float shift);
  // sum of x[i] * y[i] for i < n.
  float (*dot)(const float* x, const float* y, int64_t n);
  const char* name;
};

#if defined(NNCORE_X86)
extern const AttentionRowKernel attention_row_kernel_avx2;
#endif

}  // namespace nncore::kernels
