// Batch and layer normalization. Per-channel reductions (batch norm statistics, dgamma/dbeta) run over fixed
// chunks of rows: each chunk sums its rows into its own double partial (contiguous, vectorized over channels),
// and the partials are added in chunk order, so the sums do not depend on the thread count. Per-row work (layer
// norm, the elementwise passes) is parallel over ranges of rows.
#include "kernels/norm.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {
constexpr int64_t kRowChunk = 128;

// Grow-only double scratch of the calling thread (OpenMP reuses its workers: steady state allocates nothing).
double* scratch(int64_t n) {
  thread_local std::vector<double> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));
  return buf.data();
}

// Grow-only double buffer for the reductions' results (separate from the partials above).
double* result_scratch(int64_t n) {
  thread_local std::vector<double> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));
  return buf.data();
}

// out[k*C + c] = sum over rows r of the k-th of `terms` per-row contributions, for k < terms. add_rows(r0, r1, acc)
// adds rows [r0, r1) into acc (terms*C doubles, zeroed by the caller). Fixed row chunks + ordered reduction.
template <typename AddRows>
void column_sums(double* out, int64_t R, int64_t C, int terms, AddRows add_rows) {
  const int64_t chunks = (R + kRowChunk - 1) / kRowChunk, width = terms * C;
  thread_local std::vector<float> partial_buf;
  if (static_cast<int64_t>(partial_buf.size()) < chunks * width) partial_buf.resize(static_cast<size_t>(chunks * width));
  float* partial = partial_buf.data();
  parallel_range(chunks, static_cast<double>(kRowChunk * width) * 2.0, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      float* acc = partial + k * width;
      for (int64_t j = 0; j < width; ++j) acc[j] = 0.f;
      add_rows(k * kRowChunk, std::min(R, (k + 1) * kRowChunk), acc);
    }
  });
  for (int64_t j = 0; j < width; ++j) out[j] = 0.0;
  for (int64_t k = 0; k < chunks; ++k)
    for (int64_t j = 0; j < width; ++j) out[j] += partial[k * width + j];
}

void add_row(float* __restrict acc, const float* __restrict row, int64_t C) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) acc[c] += row[c];
}
void add_sq_dev(float* __restrict acc, const float* __restrict row, const float* __restrict m, int64_t C) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    const float d = row[c] - m[c];
    acc[c] += d * d;
  }
}
void add_dy_xhat(float* __restrict s, float* __restrict sx, const float* __restrict dy, const float* __restrict x,
                 const float* __restrict mean, const float* __restrict rstd, int64_t C) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    const float xhat = (x[c] - mean[c]) * rstd[c];
    s[c] += dy[c];
    sx[c] += dy[c] * xhat;
  }
}
void add_dy_xhat_row(float* __restrict s, float* __restrict sx, const float* __restrict dy,
                     const float* __restrict x, float m, float rs, int64_t C) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    s[c] += dy[c];
    sx[c] += dy[c] * ((x[c] - m) * rs);
  }
}
}  // namespace

void batchnorm_stats(float* mean, float* var, float* rstd, const float* x, int64_t R, int64_t C, float eps) {
  // x is (R, C); mean, var, rstd are (C). Two passes (mean, then squared deviations) for accuracy.
  double* m = result_scratch(2 * C);
  double* v = m + C;
  column_sums(m, R, C, 1, [&](int64_t r0, int64_t r1, float* acc) {
    for (int64_t r = r0; r < r1; ++r) add_row(acc, x + r * C, C);
  });
  for (int64_t c = 0; c < C; ++c) mean[c] = static_cast<float>(m[c] / static_cast<double>(R));
  column_sums(v, R, C, 1, [&](int64_t r0, int64_t r1, float* acc) {
    for (int64_t r = r0; r < r1; ++r) add_sq_dev(acc, x + r * C, mean, C);
  });
  for (int64_t c = 0; c < C; ++c) {
    const double var_c = v[c] / static_cast<double>(R);
    var[c] = static_cast<float>(var_c);
    rstd[c] = static_cast<float>(1.0 / std::sqrt(var_c + static_cast<double>(eps)));
  }
}

void batchnorm_update_moving(float* moving_mean, float* moving_var, const float* mean, const float* var, int64_t C,
                             float momentum) {
  const float keep = momentum, take = 1.f - momentum;
  for (int64_t c = 0; c < C; ++c) {
    moving_mean[c] = moving_mean[c] * keep + mean[c] * take;
    moving_var[c] = moving_var[c] * keep + var[c] * take;
  }
}

void batchnorm_rstd(float* rstd, const float* var, int64_t C, float eps) {
  for (int64_t c = 0; c < C; ++c)
    rstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[c]) + static_cast<double>(eps)));
}

void batchnorm_forward(float* y, const float* x, const float* mean, const float* rstd, const float* gamma,
                       const float* beta, int64_t R, int64_t C) {
  // x, y are (R, C); per-row work is independent, each thread writes its own rows.
  parallel_range(R, 3.0 * static_cast<double>(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict xr = x + r * C;
      float* __restrict yr = y + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - mean[c]) * (rstd[c] * gamma[c]) + beta[c];
    }
  });
}

void batchnorm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                        const float* rstd, const float* gamma, int64_t R, int64_t C, bool batch_stats, float* ws) {
  // forward: y = (x - mean) * rstd * gamma + beta, mean/rstd over the rows of x when batch_stats.
  float* sum_dy = ws;         // (C) sum_r dy
  float* sum_dy_xhat = ws + C;  // (C) sum_r dy * xhat
  const bool need_sums = dgamma != nullptr || dbeta != nullptr || (dx != nullptr && batch_stats);
  if (need_sums) {
    double* sums = result_scratch(2 * C);
    column_sums(sums, R, C, 2, [&](int64_t r0, int64_t r1, float* acc) {
      for (int64_t r = r0; r < r1; ++r) add_dy_xhat(acc, acc + C, dy + r * C, x + r * C, mean, rstd, C);
    });
    for (int64_t c = 0; c < C; ++c) {
      sum_dy[c] = static_cast<float>(sums[c]);
      sum_dy_xhat[c] = static_cast<float>(sums[C + c]);
      if (dbeta) dbeta[c] += sum_dy[c];
      if (dgamma) dgamma[c] += sum_dy_xhat[c];
    }
  }
  if (dx == nullptr) return;
  const float inv_r = 1.f / static_cast<float>(R);
  parallel_range(R, 6.0 * static_cast<double>(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict xr = x + r * C;
      const float* __restrict dyr = dy + r * C;
      float* __restrict dxr = dx + r * C;
      if (batch_stats) {
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          const float xhat = (xr[c] - mean[c]) * rstd[c];
          dxr[c] = gamma[c] * rstd[c] * (dyr[c] - sum_dy[c] * inv_r - xhat * sum_dy_xhat[c] * inv_r);
        }
      } else {
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) dxr[c] = dyr[c] * (gamma[c] * rstd[c]);
      }
    }
  });
}

void layernorm_forward(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                       int64_t R, int64_t C, float eps) {
  // x, y are (R, C); mean, rstd are (R). Rows are independent: parallel over rows, two passes per row in double.
  parallel_range(R, 5.0 * static_cast<double>(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * C;
      float* yr = y + r * C;
      double s = 0.0;
      for (int64_t c = 0; c < C; ++c) s += xr[c];
      const double m = s / static_cast<double>(C);
      double ss = 0.0;
      for (int64_t c = 0; c < C; ++c) {
        const double d = xr[c] - m;
        ss += d * d;
      }
      const float mf = static_cast<float>(m);
      const float rs = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(C) + static_cast<double>(eps)));
      mean[r] = mf;
      rstd[r] = rs;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - mf) * rs * gamma[c] + beta[c];
    }
  });
}

void layernorm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                        const float* rstd, const float* gamma, int64_t R, int64_t C) {
  // forward: y[r,c] = (x[r,c] - mean[r]) * rstd[r] * gamma[c] + beta[c].
  // Two loop nests instead of atomics: dx parallel over rows, dgamma/dbeta parallel over columns.
  if (dx != nullptr) {
    parallel_range(R, 8.0 * static_cast<double>(C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* xr = x + r * C;
        const float* dyr = dy + r * C;
        float* dxr = dx + r * C;
        const float m = mean[r], rs = rstd[r];
        double s = 0.0, sx = 0.0;  // sum_c dxhat, sum_c dxhat * xhat
        for (int64_t c = 0; c < C; ++c) {
          const float xhat = (xr[c] - m) * rs;
          const float dxhat = dyr[c] * gamma[c];
          s += dxhat;
          sx += static_cast<double>(dxhat) * xhat;
        }
        const float ms = static_cast<float>(s / static_cast<double>(C));
        const float msx = static_cast<float>(sx / static_cast<double>(C));
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          const float xhat = (xr[c] - m) * rs;
          dxr[c] = rs * (dyr[c] * gamma[c] - ms - xhat * msx);
        }
      }
    });
  }
  if (dgamma == nullptr && dbeta == nullptr) return;
  double* sums = result_scratch(2 * C);
  column_sums(sums, R, C, 2, [&](int64_t r0, int64_t r1, float* acc) {
    for (int64_t r = r0; r < r1; ++r) add_dy_xhat_row(acc, acc + C, dy + r * C, x + r * C, mean[r], rstd[r], C);
  });
  for (int64_t c = 0; c < C; ++c) {
    if (dbeta) dbeta[c] += static_cast<float>(sums[c]);
    if (dgamma) dgamma[c] += static_cast<float>(sums[C + c]);
  }
}

}  // namespace nncore::kernels
