// Optimizer update loops: one pass over (w, state, g), memory-bound; split statically over threads.
// Each range runs in a function over restrict-qualified pointers so the loop vectorizes.
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/kernels.hpp"
#include "kernels/optim_internal.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {

// Decaying optimizer state (Adam's m and v, momentum, RMSprop's mean square) reaches the subnormal range wherever the
// gradient stays exactly 0 (pixels that are always blank, units that never fire), and stays there: 0.9 times the
// smallest subnormal rounds back to it. x86 cores take a slow path per subnormal operand or result (Adam's loop 1.7x
// slower on Zen 4 once m got there), so the update loops run with flush-to-zero and denormals-are-zero, as
// TensorFlow's CPU kernels do: a state or weight under 1.2e-38 counts as 0, far below any step's effect on a weight.
// MXCSR is per thread: each thread sets it around its own part and puts the caller's mode back.
class FlushSubnormals {
 public:
#if defined(__SSE__)
  FlushSubnormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFtzDaz); }
  ~FlushSubnormals() { _mm_setcsr(saved_); }

 private:
  static constexpr unsigned kFtzDaz = 0x8040;  // FTZ (bit 15) | DAZ (bit 6)
  unsigned saved_;
#endif
};

// parallel_range for an update loop: each thread's part under FlushSubnormals.
template <typename F>
void update_range(int64_t n, double cost_per_item, F&& f) {
  parallel_range(n, cost_per_item, [&](int64_t b, int64_t e) {
    const FlushSubnormals flush;
    f(b, e);
  });
}

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
#include "kernels/optim_body.hpp"
void adagrad_range(float* __restrict w, float* __restrict acc, const float* __restrict g, int64_t n, float lr,
                   float eps) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    acc[i] += gi * gi;
    w[i] -= lr * gi / std::sqrt(acc[i] + eps);
  }
}
// The four RMSprop variants as one loop; `centered` and `with_momentum` are constant over the loop, so the
// compiler unswitches them.
void rmsprop_range(float* __restrict w, float* __restrict ms, float* __restrict mg, float* __restrict vel,
                   const float* __restrict g, int64_t n, float lr, float rho, float momentum, float eps,
                   bool centered, bool with_momentum) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    ms[i] = rho * ms[i] + (1.f - rho) * gi * gi;
    float d = ms[i] + eps;
    if (centered) {
      mg[i] = rho * mg[i] + (1.f - rho) * gi;
      d = ms[i] - mg[i] * mg[i] + eps;
    }
    const float inc = lr * gi / std::sqrt(d);
    if (with_momentum) {
      vel[i] = momentum * vel[i] + inc;
      w[i] -= vel[i];
    } else {
      w[i] -= inc;
    }
  }
}
void weight_decay_range(float* __restrict w, int64_t n, float wd, float lr) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) w[i] -= w[i] * wd * lr;
}
double sum_squares_range(const float* __restrict g, int64_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(g[i]) * g[i];
  return s;
}
void scale_range(float* __restrict y, const float* __restrict x, int64_t n, float s) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = s * x[i];
}
void clip_range(float* __restrict y, const float* __restrict x, int64_t n, float v) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(x[i], -v), v);
}
}  // namespace

void sgd_update(float* w, float* v, const float* g, int64_t n, float lr, float momentum, bool nesterov) {
  if (v == nullptr) {
    update_range(n, 2.0, [&](int64_t b, int64_t e) { sgd_plain(w + b, g + b, e - b, lr); });
    return;
  }
  update_range(n, 4.0, [&](int64_t b, int64_t e) { sgd_momentum(w + b, v + b, g + b, e - b, lr, momentum, nesterov); });
}

// A square root and a division per element cost about as much as 40 flops (~0.7 ns at the x86-64 baseline), so a
// 5408 x 10 Dense kernel is worth both cores.
constexpr double kSqrtDivCost = 40.0;

void adam_update(float* w, float* m, float* v, float* v_hat, const float* g, int64_t n, float lr_t, float b1,
                 float b2, float eps_hat) {
  // Adam's square root and division per weight make its loop compute-bound at the baseline's 4 lanes: the AVX2 and
  // AVX-512 builds of the same loop (optim_body.hpp) where the CPU has them.
  AdamLoops loops{adam_range, amsgrad_range};
#if defined(NNCORE_X86)
  if (active_isa() == Isa::avx512) loops = adam_loops_avx512;
  else if (active_isa() == Isa::avx2) loops = adam_loops_avx2;
#endif
  update_range(n, kSqrtDivCost, [&](int64_t b, int64_t e) {
    if (v_hat == nullptr)
      loops.adam(w + b, m + b, v + b, g + b, e - b, lr_t, b1, b2, eps_hat);
    else
      loops.amsgrad(w + b, m + b, v + b, v_hat + b, g + b, e - b, lr_t, b1, b2, eps_hat);
  });
}

void adagrad_update(float* w, float* acc, const float* g, int64_t n, float lr, float eps) {
  update_range(n, kSqrtDivCost, [&](int64_t b, int64_t e) { adagrad_range(w + b, acc + b, g + b, e - b, lr, eps); });
}

void rmsprop_update(float* w, float* ms, float* mg, float* vel, const float* g, int64_t n, float lr, float rho,
                    float momentum, float eps) {
  const bool centered = mg != nullptr, with_momentum = vel != nullptr;
  update_range(n, kSqrtDivCost, [&](int64_t b, int64_t e) {
    rmsprop_range(w + b, ms + b, centered ? mg + b : nullptr, with_momentum ? vel + b : nullptr, g + b, e - b, lr,
                  rho, momentum, eps, centered, with_momentum);
  });
}

void weight_decay_update(float* w, int64_t n, float wd, float lr) {
  update_range(n, 2.0, [&](int64_t b, int64_t e) { weight_decay_range(w + b, e - b, wd, lr); });
}

double sum_squares(const float* g, int64_t n) {
  // Block partials are fixed by n alone; threads only decide who computes which block.
  constexpr int64_t kBlock = 4096;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks));
  parallel_range(blocks, 2.0 * kBlock, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k)
      partial[static_cast<size_t>(k)] = sum_squares_range(g + k * kBlock, std::min(kBlock, n - k * kBlock));
  });
  double s = 0.0;
  for (double p : partial) s += p;
  return s;
}

void clip_scale(float* y, const float* x, int64_t n, float s) {
  parallel_range(n, 1.0, [&](int64_t b, int64_t e) { scale_range(y + b, x + b, e - b, s); });
}

void clip_value(float* y, const float* x, int64_t n, float v) {
  parallel_range(n, 2.0, [&](int64_t b, int64_t e) { clip_range(y + b, x + b, e - b, v); });
}

}  // namespace nncore::kernels
