// Batch and layer normalization. Per-channel reductions (batch norm statistics, dgamma/dbeta) run over fixed
// chunks of rows: each chunk sums its rows into its own float partial (contiguous, vectorized over channels),
// and the partials are added in double in chunk order, so the sums do not depend on the thread count. Per-row
// work (layer norm, the elementwise passes) is parallel over ranges of rows.
//
// Batch normalization has two paths. The `_ref` functions below are the plain one (the generic ISA, and the
// oracle): two passes for the statistics, xhat recomputed per element. On AVX2 and AVX-512 the fast path moves
// fewer bytes: the statistics take one pass (shifted Welford updates per position in registers, the moments
// merged in double as Chan et al.), backward is one pass for both sums and one for dx, and per-channel tables
// stay in registers (norm_internal.hpp, norm_simd.hpp).
#include "kernels/norm.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/norm_internal.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {
constexpr int64_t kRowChunk = 128;

// Grow-only double buffer of the calling thread for the reductions' results (OpenMP reuses its workers: steady
// state allocates nothing).
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

void batchnorm_stats_ref(float* mean, float* var, float* rstd, const float* x, int64_t R, int64_t C, float eps) {
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

void batchnorm_forward_ref(float* y, const float* x, const float* mean, const float* rstd, const float* gamma,
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

void batchnorm_backward_ref(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
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

// ---- batch normalization, fast path ------------------------------------------------------------------------
namespace {

const NormKernel* fast_norm_kernel() {
#if defined(NNCORE_X86)
  // The dx pass (two loads and a store per register) runs ~7% faster with 256-bit registers on AMD Zen 4, whose
  // 512-bit stores take two cycles; both give the same bits, so the AVX-512 path borrows it.
  static const NormKernel avx512 = [] {
    NormKernel k = norm_kernel_avx512;
    k.grad_input = norm_kernel_avx2.grad_input;
    return k;
  }();
  switch (active_isa()) {
    case Isa::avx512: return &avx512;
    case Isa::avx2: return &norm_kernel_avx2;
    default: break;
  }
#endif
  return nullptr;
}

// How the (R, C) activation is cut, from R and C alone (never the ISA or the thread count). Segments of W floats
// (W a multiple of C): W = C when C is a multiple of 16 and at least 64 or when lcm(C, 16) is large, else the
// smallest multiple of lcm(C, 16) of at least 64 floats, so that narrow layers (C = 6, 16, 32) still fill whole
// registers. W / C is then a power of two <= 64, so chunks of a multiple of 64 rows hold whole segments.
// Chunks of ~32K floats (128 KB): larger chunks mean less per-chunk work (folds, merges) and longer streams for
// the prefetchers (measured faster than L1-sized ones), and no float sum runs over more than 512 rows.
struct BnLayout {
  int64_t W, rows, chunks;  // segment width; rows per chunk (~32K floats) and their count
};

BnLayout bn_layout(int64_t R, int64_t C) {
  int64_t W = C;
  if (C % 16 != 0 || C < 64) {
    int64_t a = C, b = 16;
    while (b != 0) {
      const int64_t t = a % b;
      a = b;
      b = t;
    }
    const int64_t lcm = C / a * 16;
    if (lcm <= 1024) {
      W = lcm;
      while (W < 64) W += lcm;
    }
  }
  const int64_t rows = std::max<int64_t>(64, 32768 / C / 64 * 64);
  return {W, rows, (R + rows - 1) / rows};
}

// Per-call float scratch of the calling thread (tables shared read-only with the workers, chunk partials).
float* float_scratch(int64_t n) {
  thread_local std::vector<float> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));
  return buf.data();
}
// Per-thread W-position accumulators of the kernels.
float* worker_scratch(int64_t n) {
  thread_local std::vector<float> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));
  return buf.data();
}

// rep[j] = v[j % C] for j < W.
void replicate(float* rep, const float* v, int64_t W, int64_t C) {
  for (int64_t j = 0; j < W; j += C) std::copy(v, v + C, rep + j);
}
// out[c] = acc[c] + acc[C + c] + ... (the W / C row slots of a segment, in order).
void fold(float* out, const float* acc, int64_t W, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = acc[c];
  for (int64_t j = C; j < W; j += C)
    for (int64_t c = 0; c < C; ++c) out[c] += acc[j + c];
}

// Chunk k of the layout: its first row and row count.
struct ChunkRows {
  int64_t r0, n;
};
ChunkRows chunk_rows(const BnLayout& L, int64_t R, int64_t k) {
  const int64_t r0 = k * L.rows;
  return {r0, std::min(R, r0 + L.rows) - r0};
}

// Runs f(k, rows of chunk k) for every chunk, each thread over its own contiguous range of chunks (the same
// split for every pass over an activation of this size, so a thread revisits the rows it touched last). Passes
// alternate direction: a descending pass starts on the rows its thread just read, still in its L2.
template <typename F>
void for_chunks(const BnLayout& L, int64_t R, int64_t C, double cost_per_float, bool descending, F&& f) {
  parallel_range(L.chunks, cost_per_float * static_cast<double>(L.rows * C), [&](int64_t k0, int64_t k1) {
    for (int64_t i = k0; i < k1; ++i) {
      const int64_t k = descending ? k0 + k1 - 1 - i : i;
      f(k, chunk_rows(L, R, k));
    }
  });
}

void batchnorm_stats_fast(const NormKernel& K, float* mean, float* var, float* rstd, const float* x, int64_t R,
                          int64_t C, float eps) {
  const BnLayout L = bn_layout(R, C);
  // Shift: the mean of (up to) 64 rows spread over the batch, per channel. Welford's running means then stay
  // within sqrt(R / 64) standard deviations of 0 whatever the data (a large common offset, outliers), so their
  // float rounding stays small against the spread.
  const int64_t W = L.W, segs = L.rows * C / W + 1, ns = std::min<int64_t>(R, 64);
  float* part = float_scratch(2 * W * L.chunks + W + C + segs);
  float *shift = part + 2 * W * L.chunks, *shift_c = shift + W, *inv = shift_c + C;
  double* acc = result_scratch(2 * C);
  double *m = acc, *m2 = acc + C;
  std::fill(acc, acc + 2 * C, 0.0);
  for (int64_t i = 0; i < ns; ++i)
    for (int64_t c = 0; c < C; ++c) m[c] += x[(i * R / ns) * C + c];
  for (int64_t c = 0; c < C; ++c) shift_c[c] = static_cast<float>(m[c] / static_cast<double>(ns));
  replicate(shift, shift_c, W, C);
  for (int64_t i = 0; i < segs; ++i) inv[i] = 1.f / static_cast<float>(i + 1);
  // Per chunk and segment position j: Welford's moments of x - shift (in registers, one pass over memory).
  for_chunks(L, R, C, 4.0, false, [&](int64_t k, ChunkRows cr) {
    float* P = part + 2 * W * k;
    K.moments(P, P + W, x + cr.r0 * C, shift, inv, W, cr.n * C);
  });
  // Merge in double, in chunk and slot order (slot t: positions [tC, tC + C), each holding `count` rows, the same
  // for the whole slot since n % W is a multiple of C): sum (x - shift) = sum count * mean_j, then
  // sum (x - mean)^2 = sum m2_j + count * (mean_j - (mean - shift))^2 (Chan et al.), vectorized over channels.
  auto for_slots = [&](auto&& f) {  // f(count, mean and m2 of the slot's first position)
    for (int64_t k = 0; k < L.chunks; ++k) {
      const int64_t n = chunk_rows(L, R, k).n * C, whole = n / W, tail = n - whole * W;
      const float* P = part + 2 * W * k;
      for (int64_t t = 0; t * C < W; ++t)
        f(static_cast<double>(whole + (t * C < tail ? 1 : 0)), P + t * C, P + W + t * C);
    }
  };
  std::fill(acc, acc + 2 * C, 0.0);
  for_slots([&](double count, const float* mj, const float*) {
    for (int64_t c = 0; c < C; ++c) m[c] += count * mj[c];
  });
  for (int64_t c = 0; c < C; ++c) m[c] /= static_cast<double>(R);  // mean - shift
  for_slots([&](double count, const float* mj, const float* qj) {
    for (int64_t c = 0; c < C; ++c) {
      const double d = static_cast<double>(mj[c]) - m[c];
      m2[c] += static_cast<double>(qj[c]) + count * d * d;
    }
  });
  for (int64_t c = 0; c < C; ++c) m[c] += shift_c[c];
  for (int64_t c = 0; c < C; ++c) {
    const double v = m2[c] / static_cast<double>(R);
    mean[c] = static_cast<float>(m[c]);
    var[c] = static_cast<float>(v);
    rstd[c] = static_cast<float>(1.0 / std::sqrt(v + static_cast<double>(eps)));
  }
}

void batchnorm_forward_fast(const NormKernel& K, float* y, const float* x, const float* mean, const float* rstd,
                            const float* gamma, const float* beta, int64_t R, int64_t C) {
  const BnLayout L = bn_layout(R, C);
  const int64_t W = L.W;
  float* t = float_scratch(3 * W + C);
  float *mrep = t, *arep = t + W, *brep = t + 2 * W, *a = t + 3 * W;
  for (int64_t c = 0; c < C; ++c) a[c] = rstd[c] * gamma[c];
  replicate(mrep, mean, W, C);
  replicate(arep, a, W, C);
  replicate(brep, beta, W, C);
  // Descending: the statistics pass just read x in ascending order.
  for_chunks(L, R, C, 3.0, true, [&](int64_t, ChunkRows cr) {
    K.affine(y + cr.r0 * C, x + cr.r0 * C, mrep, arep, brep, W, cr.n * C);
  });
}

void batchnorm_backward_fast(const NormKernel& K, float* dx, float* dgamma, float* dbeta, const float* dy,
                             const float* x, const float* mean, const float* rstd, const float* gamma, int64_t R,
                             int64_t C, bool batch_stats, float* ws) {
  const BnLayout L = bn_layout(R, C);
  const int64_t W = L.W;
  float* sum_dy = ws;          // (C) sum_r dy
  float* sum_dy_xhat = ws + C;  // (C) sum_r dy * xhat
  // Tables: mean, and for dx: k = gamma*rstd, kd (slope in x - mean), k0 (constant); then 2*C per chunk.
  float* t = float_scratch(4 * W + 3 * C + 2 * C * L.chunks);
  float *mrep = t, *krep = t + W, *kdrep = t + 2 * W, *k0rep = t + 3 * W, *coef = t + 4 * W;
  float* part = coef + 3 * C;
  replicate(mrep, mean, W, C);
  const bool need_sums = dgamma != nullptr || dbeta != nullptr || (dx != nullptr && batch_stats);
  if (need_sums) {
    for_chunks(L, R, C, 4.0, false, [&](int64_t k, ChunkRows cr) {
      float* acc = worker_scratch(2 * W);
      K.grad_sums(acc, acc + W, dy + cr.r0 * C, x + cr.r0 * C, mrep, W, cr.n * C);
      fold(part + 2 * C * k, acc, W, C);
      fold(part + 2 * C * k + C, acc + W, W, C);
    });
    double* acc = result_scratch(2 * C);
    std::fill(acc, acc + 2 * C, 0.0);
    for (int64_t k = 0; k < L.chunks; ++k)
      for (int64_t j = 0; j < 2 * C; ++j) acc[j] += part[2 * C * k + j];
    for (int64_t c = 0; c < C; ++c) {
      sum_dy[c] = static_cast<float>(acc[c]);
      sum_dy_xhat[c] = static_cast<float>(acc[C + c] * rstd[c]);
      if (dbeta) dbeta[c] += sum_dy[c];
      if (dgamma) dgamma[c] += sum_dy_xhat[c];
    }
  }
  if (dx == nullptr) return;
  // dx = gamma*rstd * (dy - sum_dy/R - xhat * sum_dy_xhat/R) = k*dy + kd*(x - mean) + k0.
  float *k = coef, *kd = coef + C, *k0 = coef + 2 * C;
  const double inv_r = 1.0 / static_cast<double>(R);
  for (int64_t c = 0; c < C; ++c) {
    const double kc = static_cast<double>(gamma[c]) * rstd[c];
    k[c] = static_cast<float>(kc);
    kd[c] = batch_stats ? static_cast<float>(-kc * rstd[c] * sum_dy_xhat[c] * inv_r) : 0.f;
    k0[c] = batch_stats ? static_cast<float>(-kc * sum_dy[c] * inv_r) : 0.f;
  }
  replicate(krep, k, W, C);
  if (!batch_stats) {
    // Constant statistics: dx = dy * k, as an affine map with zero centre and offset.
    std::fill(kdrep, kdrep + W, 0.f);
    for_chunks(L, R, C, 2.0, true, [&](int64_t, ChunkRows cr) {
      K.affine(dx + cr.r0 * C, dy + cr.r0 * C, kdrep, krep, kdrep, W, cr.n * C);
    });
    return;
  }
  replicate(kdrep, kd, W, C);
  replicate(k0rep, k0, W, C);
  // Descending: the sums pass just read dy and x in ascending order.
  for_chunks(L, R, C, 5.0, true, [&](int64_t, ChunkRows cr) {
    const int64_t off = cr.r0 * C;
    K.grad_input(dx + off, dy + off, x + off, mrep, krep, kdrep, k0rep, W, cr.n * C);
  });
}

}  // namespace

void batchnorm_stats(float* mean, float* var, float* rstd, const float* x, int64_t R, int64_t C, float eps) {
  if (const NormKernel* k = fast_norm_kernel()) return batchnorm_stats_fast(*k, mean, var, rstd, x, R, C, eps);
  batchnorm_stats_ref(mean, var, rstd, x, R, C, eps);
}

void batchnorm_forward(float* y, const float* x, const float* mean, const float* rstd, const float* gamma,
                       const float* beta, int64_t R, int64_t C) {
  if (const NormKernel* k = fast_norm_kernel()) return batchnorm_forward_fast(*k, y, x, mean, rstd, gamma, beta, R, C);
  batchnorm_forward_ref(y, x, mean, rstd, gamma, beta, R, C);
}

void batchnorm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                        const float* rstd, const float* gamma, int64_t R, int64_t C, bool batch_stats, float* ws) {
  if (const NormKernel* k = fast_norm_kernel())
    return batchnorm_backward_fast(*k, dx, dgamma, dbeta, dy, x, mean, rstd, gamma, R, C, batch_stats, ws);
  batchnorm_backward_ref(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, R, C, batch_stats, ws);
}

void layernorm_forward(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                       int64_t R, int64_t C, float eps) {
  // x, y are (R, C); mean, rstd are (R). Rows are independent: parallel over rows, two passes per row in double.
  // Each double sum is one dependent chain (~4 cycles an element): counted as 30 flops an element, so that the
  // Transformer's 6,400 x 32 rows (~120 us) take two threads (5 per element counted them as ~5 us of work).
  parallel_range(R, 30.0 * static_cast<double>(C), [&](int64_t r0, int64_t r1) {
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
