// Elementwise kernels: activations and their derivatives, broadcasts, reductions, dropout.
// Parallel over a static split of the flat index (or of rows for softmax); each thread writes its own range.
#include <cmath>
#include <cstring>

#include "kernels/elementwise_internal.hpp"
#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// Loops over restrict-qualified pointers so they vectorize (inputs and outputs never overlap in nncore).
void leaky_relu_fwd(float* __restrict y, const float* __restrict x, int64_t n, float alpha) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : alpha * x[i];
}
void leaky_relu_bwd(float* __restrict dx, const float* __restrict dy, const float* __restrict x, int64_t n,
                    float alpha) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0.f ? dy[i] : alpha * dy[i];
}
void sigmoid_bwd(float* __restrict dx, const float* __restrict dy, const float* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.f - y[i]);
}
void tanh_bwd(float* __restrict dx, const float* __restrict dy, const float* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.f - y[i] * y[i]);
}
void elu_bwd(float* __restrict dx, const float* __restrict dy, const float* __restrict x, const float* __restrict y,
             int64_t n, float alpha) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i], neg = g * (y[i] + alpha);
    dx[i] = x[i] > 0.f ? g : neg;
  }
}
void add_rows(float* __restrict acc, const float* __restrict row, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) acc[i] += row[i];
}
void add_range(float* __restrict y, const float* __restrict a, const float* __restrict b, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
void mul_range(float* __restrict y, const float* __restrict a, const float* __restrict b, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

inline float sigmoidf(float x) {
  // Stable on both tails: exp of a non-positive argument only.
  if (x >= 0.f) return 1.f / (1.f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.f + e);
}

void softmax_rows(float* y, const float* x, int64_t r0, int64_t r1, int64_t cols) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = xr[0];
    for (int64_t c = 1; c < cols; ++c) m = xr[c] > m ? xr[c] : m;
    float s = 0.f;
    for (int64_t c = 0; c < cols; ++c) {
      yr[c] = std::exp(xr[c] - m);
      s += yr[c];
    }
    const float inv = 1.f / s;
    for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
  }
}
}  // namespace

void relu_backward_serial(float* __restrict dx, const float* __restrict dy, const float* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i];  // loaded unconditionally so the select vectorizes
    dx[i] = y[i] > 0.f ? g : 0.f;
  }
}

void act_forward(Act act, float* y, const float* x, int64_t rows, int64_t cols, float alpha) {
  const int64_t n = rows * cols;
  switch (act) {
    case Act::linear:
      if (y != x) std::memcpy(y, x, sizeof(float) * static_cast<size_t>(n));
      return;
    case Act::softmax:
      parallel_range(rows, 20.0 * cols, [&](int64_t r0, int64_t r1) { softmax_rows(y, x, r0, r1, cols); });
      return;
    case Act::relu:
      parallel_range(n, 1.0, [&](int64_t b, int64_t e) { leaky_relu_fwd(y + b, x + b, e - b, 0.f); });
      return;
    case Act::leaky_relu:
      parallel_range(n, 1.0, [&](int64_t b, int64_t e) { leaky_relu_fwd(y + b, x + b, e - b, alpha); });
      return;
    case Act::sigmoid:
      parallel_range(n, 20.0, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = sigmoidf(x[i]);
      });
      return;
    case Act::tanh:
      parallel_range(n, 20.0, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = std::tanh(x[i]);
      });
      return;
    case Act::elu:
      parallel_range(n, 20.0, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = x[i] > 0.f ? x[i] : alpha * std::expm1(x[i]);
      });
      return;
    case Act::gelu:  // exact form (Keras's approximate=False): x * Phi(x)
      parallel_range(n, 20.0, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = 0.5f * x[i] * (1.f + std::erf(x[i] * kInvSqrt2));
      });
      return;
  }
}

void act_backward(Act act, float* dx, const float* dy, const float* x, const float* y, int64_t rows,
                  int64_t cols, float alpha) {
  const int64_t n = rows * cols;
  switch (act) {
    case Act::linear:
      if (dx != dy) std::memcpy(dx, dy, sizeof(float) * static_cast<size_t>(n));
      return;
    case Act::softmax:  // dx = y * (dy - <dy, y>) per row
      parallel_range(rows, 4.0 * cols, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* yr = y + r * cols;
          const float* gr = dy + r * cols;
          float* dr = dx + r * cols;
          float dot = 0.f;
          for (int64_t c = 0; c < cols; ++c) dot += gr[c] * yr[c];
          for (int64_t c = 0; c < cols; ++c) dr[c] = yr[c] * (gr[c] - dot);
        }
      });
      return;
    case Act::relu:  // from the output: y > 0 <=> x > 0
      parallel_range(n, 1.0, [&](int64_t b, int64_t e) { relu_backward_serial(dx + b, dy + b, y + b, e - b); });
      return;
    case Act::leaky_relu:
      parallel_range(n, 1.0, [&](int64_t b, int64_t e) { leaky_relu_bwd(dx + b, dy + b, x + b, e - b, alpha); });
      return;
    case Act::sigmoid:
      parallel_range(n, 2.0, [&](int64_t b, int64_t e) { sigmoid_bwd(dx + b, dy + b, y + b, e - b); });
      return;
    case Act::tanh:
      parallel_range(n, 2.0, [&](int64_t b, int64_t e) { tanh_bwd(dx + b, dy + b, y + b, e - b); });
      return;
    case Act::elu:  // for x <= 0: d/dx alpha*(e^x - 1) = y + alpha
      parallel_range(n, 2.0, [&](int64_t b, int64_t e) { elu_bwd(dx + b, dy + b, x + b, y + b, e - b, alpha); });
      return;
    case Act::gelu:  // d/dx x*Phi(x) = Phi(x) + x*phi(x)
      parallel_range(n, 30.0, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const float xi = x[i];
          const float cdf = 0.5f * (1.f + std::erf(xi * kInvSqrt2));
          const float pdf = kInvSqrt2Pi * std::exp(-0.5f * xi * xi);
          dx[i] = dy[i] * (cdf + xi * pdf);
        }
      });
      return;
  }
}

void gather_rows(float* dst, const float* src, const int64_t* idx, int64_t n, int64_t row) {
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dst + i * row, src + idx[i] * row, sizeof(float) * static_cast<size_t>(row));
}

void prefetch_rows(const float* src, const int64_t* idx, int64_t n, int64_t row) {
  constexpr int64_t kLine = 64 / sizeof(float);
  for (int64_t i = 0; i < n; ++i) {
    const float* r = src + idx[i] * row;
    for (int64_t k = 0; k < row; k += kLine) __builtin_prefetch(r + k, 0, 2);  // read, into L2
    __builtin_prefetch(r + row - 1, 0, 2);  // a row need not start on a cache line
  }
}

void broadcast_rows(float* y, const float* b, int64_t rows, int64_t cols) {
  parallel_range(rows, static_cast<double>(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) std::memcpy(y + r * cols, b, sizeof(float) * static_cast<size_t>(cols));
  });
}

void add_rows_bias(float* y, const float* b, int64_t rows, int64_t cols) {
  parallel_range(rows, static_cast<double>(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) add_rows(y + r * cols, b, cols);
  });
}

void col_sum_accumulate(float* db, const float* dz, int64_t rows, int64_t cols) {
  // Parallel over columns so the sum over rows keeps one fixed order whatever the thread count.
  parallel_range(cols, static_cast<double>(rows), [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < rows; ++r) add_rows(db + c0, dz + r * cols + c0, c1 - c0);
  });
}

void add(float* y, const float* a, const float* b, int64_t n) {
  parallel_range(n, 1.0, [&](int64_t s, int64_t e) { add_range(y + s, a + s, b + s, e - s); });
}

void mul(float* y, const float* a, const float* b, int64_t n) {
  parallel_range(n, 1.0, [&](int64_t s, int64_t e) { mul_range(y + s, a + s, b + s, e - s); });
}

namespace {
void regularize_grad(float* __restrict g, const float* __restrict w, int64_t n, float l1, float l2) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float sign = w[i] > 0.f ? 1.f : (w[i] < 0.f ? -1.f : 0.f);
    g[i] += l1 * sign + 2.f * l2 * w[i];
  }
}
}  // namespace

double regularize(float* grad, const float* w, int64_t n, float l1, float l2) {
  double a = 0.0, s = 0.0;  // serial: the penalty must not depend on the thread count
  for (int64_t i = 0; i < n; ++i) {
    a += std::fabs(w[i]);
    s += static_cast<double>(w[i]) * w[i];
  }
  if (grad != nullptr) parallel_range(n, 4.0, [&](int64_t b, int64_t e) { regularize_grad(grad + b, w + b, e - b, l1, l2); });
  return static_cast<double>(l1) * a + static_cast<double>(l2) * s;
}

int64_t orthogonal_scratch_size(int64_t rows, int64_t cols, bool columns) {
  const int64_t R = columns ? cols : rows, C = columns ? rows : cols;
  return 2 * R * C + R * R + R;
}

double orthogonal_regularize(float* grad, const float* w, int64_t rows, int64_t cols, bool columns, float factor,
                             float* scratch) {
  const int64_t R = columns ? cols : rows, C = columns ? rows : cols;  // R vectors of length C
  if (R < 2 || factor == 0.f) return 0.0;
  constexpr float kMaxInv = 1e7f;  // 1 / Keras's epsilon: shorter vectors are scaled by it, not normalized
  float* N = scratch;              // R x C: the vectors, normalized
  float* G = N + R * C;            // R x R: their dot products, then the signs that d penalty / dN needs
  float* D = G + R * R;            // R x C: d penalty / dN
  float* inv = D + R * C;          // R: the scale of each vector
  for (int64_t r = 0; r < R; ++r) {
    float* n = N + r * C;
    for (int64_t c = 0; c < C; ++c) n[c] = columns ? w[c * cols + r] : w[r * cols + c];
    double ss = 0.0;
    for (int64_t c = 0; c < C; ++c) ss += static_cast<double>(n[c]) * n[c];
    inv[r] = ss > 0.0 ? static_cast<float>(std::fmin(1.0 / std::sqrt(ss), static_cast<double>(kMaxInv))) : kMaxInv;
    for (int64_t c = 0; c < C; ++c) n[c] *= inv[r];
  }
  gemm(false, true, R, R, C, N, C, N, C, 0.f, G, R);
  double sum = 0.0;  // serial: the penalty must not depend on the thread count
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < R; ++j)
      if (i != j) sum += std::fabs(G[i * R + j]);
  const double k = static_cast<double>(factor) / (static_cast<double>(R) * static_cast<double>(R - 1));
  if (grad != nullptr) {
    // |G_ij| and |G_ji| both hold n_i . n_j: d penalty / dn_i = 2k sum_{j != i} sign(G_ij) n_j.
    const float two_k = static_cast<float>(2.0 * k);
    for (int64_t i = 0; i < R; ++i)
      for (int64_t j = 0; j < R; ++j) {
        const float g = G[i * R + j];
        G[i * R + j] = i == j ? 0.f : (g > 0.f ? two_k : (g < 0.f ? -two_k : 0.f));
      }
    gemm(false, false, R, C, R, G, R, N, C, 0.f, D, C);
    // Back through n = w * inv: dw = inv * (dn - n (n . dn)) for a normalized vector, inv * dn for a clamped one.
    for (int64_t r = 0; r < R; ++r) {
      const float* n = N + r * C;
      const float* dn = D + r * C;
      double dot = 0.0;
      if (inv[r] < kMaxInv)
        for (int64_t c = 0; c < C; ++c) dot += static_cast<double>(n[c]) * dn[c];
      for (int64_t c = 0; c < C; ++c) {
        const float g = inv[r] * (dn[c] - n[c] * static_cast<float>(dot));
        grad[columns ? c * cols + r : r * cols + c] += g;
      }
    }
  }
  return k * sum;
}

int64_t count_nonfinite(const float* x, int64_t n) {
  // Inputs are scanned at every fit, evaluate and predict (800 KB at a batch of 256 MNIST images: ~30 us in plain
  // SSE code, ~3% of the MLP's predict): the active ISA answers whether anything is to count.
#if defined(NNCORE_X86)
  switch (active_isa()) {
    case Isa::avx512:
      if (!any_nonfinite_avx512(x, n)) return 0;
      break;
    case Isa::avx2:
      if (!any_nonfinite_avx2(x, n)) return 0;
      break;
    default: break;
  }
#endif
  // x - x is 0 for a finite x and NaN for inf or NaN (no -ffast-math: not folded), and NaN != NaN: a test the
  // compiler vectorizes, unlike std::isfinite, counted in int32 over blocks.
  int64_t bad = 0;
  constexpr int64_t kBlock = int64_t{1} << 20;
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t i1 = std::min(n, i0 + kBlock);
    int32_t b = 0;
    for (int64_t i = i0; i < i1; ++i) {
      const float d = x[i] - x[i];
      b += d != d ? 1 : 0;
    }
    bad += b;
  }
  return bad;
}

namespace {
inline uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

namespace {
// Inverted-dropout mask value of flat index i: keep when a 24-bit uniform from hash(seed, i) is >= rate, so the
// mask depends on (seed, i) only, never on the thread count.
inline float dropout_keep(uint64_t seed, int64_t i, uint32_t threshold, float scale) {
  const uint32_t u = static_cast<uint32_t>(splitmix64(seed ^ (static_cast<uint64_t>(i) * 0xd1b54a32d192ed03ull)) >> 40);
  return u >= threshold ? scale : 0.f;
}
inline uint32_t dropout_threshold(float rate) { return static_cast<uint32_t>(static_cast<double>(rate) * 16777216.0); }
}  // namespace

void dropout_forward(float* y, float* mask, const float* x, int64_t n, float rate, uint64_t seed) {
  const float scale = 1.f / (1.f - rate);
  const uint32_t threshold = dropout_threshold(rate);
  parallel_range(n, 4.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      mask[i] = dropout_keep(seed, i, threshold, scale);
      y[i] = x[i] * mask[i];
    }
  });
}

void dropout_mask(float* mask, int64_t n, float rate, uint64_t seed) {
  const float scale = 1.f / (1.f - rate);
  const uint32_t threshold = dropout_threshold(rate);
  for (int64_t i = 0; i < n; ++i) mask[i] = dropout_keep(seed, i, threshold, scale);  // small: one draw per (b, c)
}

void spatial_dropout_forward(float* y, float* mask, const float* x, int64_t B, int64_t HW, int64_t C, float rate,
                             uint64_t seed) {
  dropout_mask(mask, B * C, rate, seed);
  mul_channels(y, x, mask, B, HW, C);
}

void mul_channels(float* y, const float* x, const float* mask, int64_t B, int64_t HW, int64_t C) {
  // x is (B, HW, C), mask (B, C). Parallel over the B*HW pixel rows: each thread writes its own rows.
  parallel_range(B * HW, static_cast<double>(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* m = mask + (r / HW) * C;
      for (int64_t c = 0; c < C; ++c) y[r * C + c] = x[r * C + c] * m[c];
    }
  });
}

}  // namespace nncore::kernels
