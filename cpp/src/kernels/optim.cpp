// Optimizer update loops: one pass over (w, state, g), memory-bound; split statically over threads.
#include <cmath>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

void sgd_update(float* w, float* v, const float* g, int64_t n, float lr, float momentum, bool nesterov) {
  if (v == nullptr) {
    parallel_range(n, 2.0, [&](int64_t b, int64_t e) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) w[i] -= lr * g[i];
    });
    return;
  }
  parallel_range(n, 4.0, [&](int64_t b, int64_t e) {
    if (nesterov) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        v[i] = momentum * v[i] - lr * g[i];
        w[i] += momentum * v[i] - lr * g[i];
      }
    } else {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) {
        v[i] = momentum * v[i] - lr * g[i];
        w[i] += v[i];
      }
    }
  });
}

void adam_update(float* w, float* m, float* v, const float* g, int64_t n, float lr_t, float b1, float b2,
                 float eps_hat) {
  parallel_range(n, 8.0, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      const float gi = g[i];
      m[i] = b1 * m[i] + (1.f - b1) * gi;
      v[i] = b2 * v[i] + (1.f - b2) * gi * gi;
      w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps_hat);
    }
  });
}

void rmsprop_update(float* w, float* ms, const float* g, int64_t n, float lr, float rho, float eps) {
  parallel_range(n, 8.0, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      const float gi = g[i];
      ms[i] = rho * ms[i] + (1.f - rho) * gi * gi;
      w[i] -= lr * gi / (std::sqrt(ms[i]) + eps);
    }
  });
}

}  // namespace nncore::kernels
