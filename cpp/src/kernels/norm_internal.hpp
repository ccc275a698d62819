#pragma once
// Batch-normalization internals shared by norm.cpp (chunking, threads, the per-channel arithmetic in double) and
// the per-ISA streaming kernels (norm_avx2.cpp, norm_avx512.cpp).
//
// The kernels see a flat run of n floats (whole rows of an (R, C) activation, so n is a multiple of C) cut into
// segments of W floats, W a multiple of C chosen by norm.cpp from C alone: position j of a segment always holds
// channel j % C. Per-channel tables arrive replicated to W floats, and reductions return W per-position sums that
// norm.cpp folds into channels. Segment position j sums its rows in segment order, one float add per row, so the
// result does not depend on the vector width: the AVX2 and AVX-512 kernels are bit-identical. The last segment
// may be short (n % W floats).
#include <cstdint>

namespace nncore::kernels {

struct NormKernel {
  // Welford over the segments: mean[j] = the mean of x[j] - shift[j] and m2[j] = the sum of their squared
  // deviations from it, over the values of position j: n / W of them, plus one for j < n % W.
  // inv[s] = 1 / (s + 1) for s <= n / W.
  void (*moments)(float* mean, float* m2, const float* x, const float* shift, const float* inv, int64_t W,
                  int64_t n);
  // y[j] = (x[j] - m[j]) * a[j] + b[j].
  void (*affine)(float* y, const float* x, const float* m, const float* a, const float* b, int64_t W, int64_t n);
  // s[j] = sum of dy[j], sd[j] = sum of dy[j] * (x[j] - m[j]).
  void (*grad_sums)(float* s, float* sd, const float* dy, const float* x, const float* m, int64_t W, int64_t n);
  // dx[j] = dy[j] * k[j] + (x[j] - m[j]) * kd[j] + k0[j].
  void (*grad_input)(float* dx, const float* dy, const float* x, const float* m, const float* k, const float* kd,
                     const float* k0, int64_t W, int64_t n);
  const char* name;
};

#if defined(NNCORE_X86)
extern const NormKernel norm_kernel_avx2;
extern const NormKernel norm_kernel_avx512;
#endif

}  // namespace nncore::kernels
