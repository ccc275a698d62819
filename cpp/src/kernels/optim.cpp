// Optimizer update loops: one pass over (w, state, g), memory-bound; split statically over threads.
// Each range runs in a function over restrict-qualified pointers so the loop vectorizes.
#include <cmath>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {
void sgd_plain(float* __restrict w, const float* __restrict g, int64_t n, float lr) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
}
void sgd_momentum(float* __restrict w, float* __restrict v, const float* __restrict g, int64_t n, float lr,
                  float momentum, bool nesterov) {
  if (nesterov) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      v[i] = momentum * v[i] - lr * g[i];
      w[i] += momentum * v[i] - lr * g[i];
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      v[i] = momentum * v[i] - lr * g[i];
      w[i] += v[i];
    }
  }
}
void adam_range(float* __restrict w, float* __restrict m, float* __restrict v, const float* __restrict g, int64_t n,
                float lr_t, float b1, float b2, float eps) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    m[i] = b1 * m[i] + (1.f - b1) * gi;
    v[i] = b2 * v[i] + (1.f - b2) * gi * gi;
    w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
  }
}
void rmsprop_range(float* __restrict w, float* __restrict ms, const float* __restrict g, int64_t n, float lr,
                   float rho, float eps) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    ms[i] = rho * ms[i] + (1.f - rho) * gi * gi;
    w[i] -= lr * gi / std::sqrt(ms[i] + eps);
  }
}
}  // namespace

void sgd_update(float* w, float* v, const float* g, int64_t n, float lr, float momentum, bool nesterov) {
  if (v == nullptr) {
    parallel_range(n, 2.0, [&](int64_t b, int64_t e) { sgd_plain(w + b, g + b, e - b, lr); });
    return;
  }
  parallel_range(n, 4.0, [&](int64_t b, int64_t e) { sgd_momentum(w + b, v + b, g + b, e - b, lr, momentum, nesterov); });
}

// A square root and a division per element cost about as much as 40 flops (~0.7 ns at the x86-64 baseline,
// twice that once m decays into subnormals), so a 5408 x 10 Dense kernel is worth both cores.
constexpr double kSqrtDivCost = 40.0;

void adam_update(float* w, float* m, float* v, const float* g, int64_t n, float lr_t, float b1, float b2,
                 float eps_hat) {
  parallel_range(n, kSqrtDivCost, [&](int64_t b, int64_t e) {
    adam_range(w + b, m + b, v + b, g + b, e - b, lr_t, b1, b2, eps_hat);
  });
}

void rmsprop_update(float* w, float* ms, const float* g, int64_t n, float lr, float rho, float eps) {
  parallel_range(n, kSqrtDivCost, [&](int64_t b, int64_t e) {
    rmsprop_range(w + b, ms + b, g + b, e - b, lr, rho, eps);
  });
}

}  // namespace nncore::kernels
