// Kernels of Keras's Masking, Dot and Normalization layers. Elementwise and row loops run parallel over a static
// split of their rows (each thread writes its own rows); the batched products call gemm, whose result never depends
// on the thread split; the moments that Normalization.adapt reads run serially, in one order.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

// ---- Masking -----------------------------------------------------------------------------------------------------
// x (R, F): a row whose values all equal `value` is masked. y = x * mask (as Keras: a masked row becomes zeros).
void masking_forward(float* y, float* mask, const float* x, int64_t R, int64_t F, float value) {
  parallel_range(R, static_cast<double>(F), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * F;
      float keep = 0.f;
      for (int64_t f = 0; f < F; ++f)
        if (xr[f] != value) {
          keep = 1.f;
          break;
        }
      mask[r] = keep;
      float* yr = y + r * F;
      for (int64_t f = 0; f < F; ++f) yr[f] = xr[f] * keep;
    }
  });
}

void scale_rows(float* y, const float* x, const float* s, int64_t R, int64_t F) {
  parallel_range(R, static_cast<double>(F), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t f = 0; f < F; ++f) y[r * F + f] = x[r * F + f] * s[r];
  });
}

// ---- Dot ---------------------------------------------------------------------------------------------------------
// x (O, L, I) normalized along L: inv = min(rsqrt(sum_l x^2), 1/eps), y = x * inv. Parallel over O; the (o, i) columns
// are independent.
void l2_normalize_forward(float* y, float* inv, const float* x, int64_t O, int64_t L, int64_t I, float inv_eps) {
  parallel_range(O, 2.0 * static_cast<double>(L * I), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      const float* xo = x + o * L * I;
      float* yo = y + o * L * I;
      for (int64_t i = 0; i < I; ++i) {
        double ss = 0.0;
        for (int64_t l = 0; l < L; ++l) ss += static_cast<double>(xo[l * I + i]) * xo[l * I + i];
        const float r = std::fmin(static_cast<float>(1.0 / std::sqrt(ss)), inv_eps);  // ss == 0: inf, clamped
        inv[o * I + i] = r;
        for (int64_t l = 0; l < L; ++l) yo[l * I + i] = xo[l * I + i] * r;
      }
    }
  });
}

// Backward of y = x / ||x||: dx = (dy - y * <dy, y>) / ||x||; where the norm was clamped, y = x * inv_eps and dx =
// inv_eps * dy.
void l2_normalize_backward(float* dx, const float* dy, const float* y, const float* inv, int64_t O, int64_t L,
                           int64_t I, float inv_eps) {
  parallel_range(O, 3.0 * static_cast<double>(L * I), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      const int64_t base = o * L * I;
      for (int64_t i = 0; i < I; ++i) {
        const float r = inv[o * I + i];
        if (r >= inv_eps) {
          for (int64_t l = 0; l < L; ++l) dx[base + l * I + i] = dy[base + l * I + i] * r;
          continue;
        }
        double dot = 0.0;
        for (int64_t l = 0; l < L; ++l) dot += static_cast<double>(dy[base + l * I + i]) * y[base + l * I + i];
        const float d = static_cast<float>(dot);
        for (int64_t l = 0; l < L; ++l) {
          const int64_t k = base + l * I + i;
          dx[k] = r * (dy[k] - y[k] * d);
        }
      }
    }
  });
}

// Many samples: one serial gemm per sample, the samples split over the threads; few: each gemm uses the threads.
// gemm_serial and gemm give the same bits, so the split does not change the result.
void batch_matmul(float* C, const float* A, const float* B, int64_t P, int64_t M, int64_t N, int64_t K, bool trans_a,
                  bool trans_b) {
  const int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
  const int64_t sa = M * K, sb = K * N, sc = M * N;
  if (P >= num_threads()) {
    parallel_range(P, 2.0 * static_cast<double>(M * N * K) + 1.0, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        gemm_serial(trans_a, trans_b, M, N, K, A + p * sa, lda, B + p * sb, ldb, 0.f, C + p * sc, N, GemmEpilogue{});
    });
    return;
  }
  for (int64_t p = 0; p < P; ++p)
    gemm(trans_a, trans_b, M, N, K, A + p * sa, lda, B + p * sb, ldb, 0.f, C + p * sc, N);
}

// ---- Normalization -----------------------------------------------------------------------------------------------
void sqrt_floor(float* s, const float* var, int64_t n, float floor) {
  for (int64_t i = 0; i < n; ++i) s[i] = std::fmax(std::sqrt(var[i]), floor);  // n: the statistics, few
}

// Parallel over the flat index; each range walks e = i mod E (and k = e mod K) without a division per element.
void standardize_forward(float* y, const float* x, const float* m, const float* s, const int64_t* kmap, int64_t B,
                         int64_t E, int64_t K, bool invert) {
  parallel_range(B * E, 1.0, [&](int64_t i0, int64_t i1) {
    int64_t e = i0 % E, k = e % K;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t j = kmap != nullptr ? kmap[e] : k;
      y[i] = invert ? x[i] * s[j] + m[j] : (x[i] - m[j]) / s[j];
      if (++k == K) k = 0;
      if (++e == E) e = k = 0;
    }
  });
}

void standardize_backward(float* dx, const float* dy, const float* s, const int64_t* kmap, int64_t B, int64_t E,
                          int64_t K, bool invert) {
  parallel_range(B * E, 1.0, [&](int64_t i0, int64_t i1) {
    int64_t e = i0 % E, k = e % K;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t j = kmap != nullptr ? kmap[e] : k;
      dx[i] = invert ? dy[i] * s[j] : dy[i] / s[j];
      if (++k == K) k = 0;
      if (++e == E) e = k = 0;
    }
  });
}

// Two passes in double: the mean per group, then the squared deviations from it (no cancellation, unlike sums of
// squares). Every group holds the same number of values, B * E / K.
bool group_moments(double* mean, double* m2, const float* x, const int64_t* kmap, int64_t B, int64_t E, int64_t K) {
  std::fill(mean, mean + K, 0.0);
  std::fill(m2, m2 + K, 0.0);
  const double count = static_cast<double>(B) * static_cast<double>(E / K);
  for (int64_t b = 0; b < B; ++b) {
    const float* xb = x + b * E;
    for (int64_t e = 0; e < E; ++e) mean[kmap != nullptr ? kmap[e] : e % K] += xb[e];
  }
  for (int64_t k = 0; k < K; ++k) {
    if (!std::isfinite(mean[k])) return false;  // NaN or inf in the data (finite floats cannot overflow a double)
    mean[k] /= count;
  }
  for (int64_t b = 0; b < B; ++b) {
    const float* xb = x + b * E;
    for (int64_t e = 0; e < E; ++e) {
      const int64_t k = kmap != nullptr ? kmap[e] : e % K;
      const double d = xb[e] - mean[k];
      m2[k] += d * d;
    }
  }
  return true;
}

}  // namespace nncore::kernels
