// Adam's and AMSGrad's element loops (kernels.hpp: adam_update), written once and compiled per ISA: by optim.cpp for
// the baseline and by optim_avx2.cpp / optim_avx512.cpp with those flags, each including this file inside an
// anonymous namespace (internal linkage: no TU's copy can stand in for another's at link time; no library template
// is instantiated here). The loops vectorize to the TU's registers; sqrt and division are IEEE in every width.

void adam_range(float* __restrict w, float* __restrict m, float* __restrict v, const float* __restrict g, int64_t n,
                float lr_t, float b1, float b2, float eps) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    m[i] = b1 * m[i] + (1.f - b1) * gi;
    v[i] = b2 * v[i] + (1.f - b2) * gi * gi;
    w[i] -= lr_t * m[i] / (__builtin_sqrtf(v[i]) + eps);
  }
}

void amsgrad_range(float* __restrict w, float* __restrict m, float* __restrict v, float* __restrict v_hat,
                   const float* __restrict g, int64_t n, float lr_t, float b1, float b2, float eps) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    m[i] = b1 * m[i] + (1.f - b1) * gi;
    v[i] = b2 * v[i] + (1.f - b2) * gi * gi;
    v_hat[i] = v_hat[i] > v[i] ? v_hat[i] : v[i];
    w[i] -= lr_t * m[i] / (__builtin_sqrtf(v_hat[i]) + eps);
  }
}
