// Batch and layer normalization. Per-channel reductions (batch norm statistics, dgamma/dbeta) are parallel over
// ranges of channels: each thread walks all rows in order for its own channels, so there is no race and the sums
// do not depend on the split. Per-row work (layer norm, the elementwise passes) is parallel over ranges of rows.
#include "kernels/norm.hpp"

#include <cmath>
#include <vector>

#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {
// Grow-only double scratch per thread: OpenMP reuses its workers, so steady state allocates nothing.
double* scratch(int64_t n) {
  thread_local std::vector<double> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));
  return buf.data();
}
}  // namespace

void batchnorm_stats(float* mean, float* var, float* rstd, const float* x, int64_t R, int64_t C, float eps) {
  // x is (R, C); mean, var, rstd are (C). Two passes (mean, then squared deviations) for accuracy.
  parallel_range(C, 3.0 * static_cast<double>(R), [&](int64_t c0, int64_t c1) {
    const int64_t n = c1 - c0;
    double* acc = scratch(2 * n);
    double* m = acc + n;
    for (int64_t j = 0; j < n; ++j) acc[j] = 0.0;
    for (int64_t r = 0; r < R; ++r) {
      const float* row = x + r * C + c0;
      for (int64_t j = 0; j < n; ++j) acc[j] += row[j];
    }
    for (int64_t j = 0; j < n; ++j) {
      m[j] = acc[j] / static_cast<double>(R);
      acc[j] = 0.0;
    }
    for (int64_t r = 0; r < R; ++r) {
      const float* row = x + r * C + c0;
      for (int64_t j = 0; j < n; ++j) {
        const double d = row[j] - m[j];
        acc[j] += d * d;
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      const double v = acc[j] / static_cast<double>(R);
      mean[c0 + j] = static_cast<float>(m[j]);
      var[c0 + j] = static_cast<float>(v);
      rstd[c0 + j] = static_cast<float>(1.0 / std::sqrt(v + static_cast<double>(eps)));
    }
  });
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
    parallel_range(C, 4.0 * static_cast<double>(R), [&](int64_t c0, int64_t c1) {
      const int64_t n = c1 - c0;
      double* s = scratch(2 * n);
      double* sx = s + n;
      for (int64_t j = 0; j < 2 * n; ++j) s[j] = 0.0;
      for (int64_t r = 0; r < R; ++r) {
        const float* xr = x + r * C + c0;
        const float* dyr = dy + r * C + c0;
        for (int64_t j = 0; j < n; ++j) {
          const float xhat = (xr[j] - mean[c0 + j]) * rstd[c0 + j];
          s[j] += dyr[j];
          sx[j] += static_cast<double>(dyr[j]) * xhat;
        }
      }
      for (int64_t j = 0; j < n; ++j) {
        sum_dy[c0 + j] = static_cast<float>(s[j]);
        sum_dy_xhat[c0 + j] = static_cast<float>(sx[j]);
        if (dbeta) dbeta[c0 + j] += static_cast<float>(s[j]);
        if (dgamma) dgamma[c0 + j] += static_cast<float>(sx[j]);
      }
    });
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
  parallel_range(C, 4.0 * static_cast<double>(R), [&](int64_t c0, int64_t c1) {
    const int64_t n = c1 - c0;
    double* s = scratch(2 * n);
    double* sx = s + n;
    for (int64_t j = 0; j < 2 * n; ++j) s[j] = 0.0;
    for (int64_t r = 0; r < R; ++r) {
      const float* xr = x + r * C + c0;
      const float* dyr = dy + r * C + c0;
      const float m = mean[r], rs = rstd[r];
      for (int64_t j = 0; j < n; ++j) {
        s[j] += dyr[j];
        sx[j] += static_cast<double>(dyr[j]) * ((xr[j] - m) * rs);
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      if (dbeta) dbeta[c0 + j] += static_cast<float>(s[j]);
      if (dgamma) dgamma[c0 + j] += static_cast<float>(sx[j]);
    }
  });
}

}  // namespace nncore::kernels
