// int8 GEMM for quantized inference (kernels.hpp): B packed once for the fastest path the CPU has (AVX-512 VNNI,
// AVX2, generic; gemm_s8_internal.hpp), A quantized by the caller. Integer sums are exact, so every path and every
// thread split gives the same int32 result, equal to gemm_s8_ref.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/gemm_s8_internal.hpp"
#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"
#include "kernels/thread_buffer.hpp"

namespace nncore::kernels {

namespace {

int64_t panel_width(S8Path p) { return p == S8Path::avx2 ? 8 : 16; }

// What threads_for (calibrated on the float GEMM) should count for an int8 product of M x N x K on path p: its
// multiply-adds divided by how many times faster than the float GEMM the path runs them. The Xeon, one thread,
// 32 x 784 x 256 quantized and dequantized: AMX 11.4 us, VNNI 31 us against 78 us in float (6.8x, 2.5x); AVX2 98 us
// against 195 (2.0x); generic 1,085 against 2,095 (1.9x); 32 x 128 x 512: AMX 6.0 against 26.6 us (4.4x). Counted
// as float flops, a batch of 32 through a 784-256-256-10 int8 MLP split over two threads (32 us) ran slower than
// on one (22 us): 32 x 784 x 256 on AMX took 12.7 us on two threads, 10.9 on one (64 rows: 22 and 33 us).
double int8_work(S8Path p, int64_t M, int64_t N, int64_t K) {
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
#if defined(NNCORE_X86)
  if (p == S8Path::vnni) return flops / (M >= kAmxMinRows && amx_int8_active() ? 6.0 : 2.5);
#endif
  return flops / (p == S8Path::generic ? 1.9 : 2.0);
}

S8Path best_path() {
#if defined(NNCORE_X86)
  if (active_isa() == Isa::avx512 && cpu_has_avx512_vnni()) return S8Path::vnni;
  if (active_isa() != Isa::generic) return S8Path::avx2;
#endif
  return S8Path::generic;
}

void dequant_rows_generic(int64_t M, int64_t N, const int32_t* acc, int64_t ldacc, const float* inv_rs,
                          int64_t rs_stride, const float* inv_cs, const float* bias, bool add_c, bool relu, float* C,
                          int64_t ldc);

void generic(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const void* packed, const int32_t*,
             int64_t p0, int64_t p1, int32_t* C, int64_t ldc, int16_t*, const S8Dequant* dq) {
  const int8_t* B = static_cast<const int8_t*>(packed);
  const int64_t j0 = 16 * p0, j1 = std::min(N, 16 * p1);
  int32_t row[16];  // with dq: one row's products, 16 columns at a time
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t c0 = j0; c0 < j1; c0 += dq != nullptr ? 16 : j1 - j0) {
      const int64_t c1 = dq != nullptr ? std::min(j1, c0 + 16) : j1;
      int32_t* __restrict c = dq != nullptr ? row : C + i * ldc + c0;  // column c0 at c[0]
      for (int64_t j = 0; j < c1 - c0; ++j) c[j] = 0;
      for (int64_t k = 0; k < K; ++k) {
        const int32_t a = A[i * lda + k];
        const int8_t* __restrict b = B + k * N + c0;
        for (int64_t j = 0; j < c1 - c0; ++j) c[j] += a * b[j];
      }
      if (dq != nullptr) {
        const S8Dequant d = dq->at(i, c0);
        dequant_rows_generic(1, c1 - c0, row, 16, d.inv_rs, 0, d.inv_cs, d.bias, d.add_c, d.relu, d.F, d.ldf);
      }
    }
  }
}

GemmS8Kernel kernel_for(S8Path p) {
#if defined(NNCORE_X86)
  if (p == S8Path::vnni) return gemm_s8_kernel_vnni;
  if (p == S8Path::avx2) return gemm_s8_kernel_avx2;
#endif
  return generic;
}

thread_local std::vector<int16_t> tls_scratch;

}  // namespace

void gemm_s8_pack_b(int64_t K, int64_t N, const int8_t* B, int64_t ldb, Int8PackedB* packed) {
  if (K < 0 || N < 0 || K >= (int64_t{1} << 17))
    throw std::invalid_argument("gemm_s8: K must be in [0, 131072) (int32 sums stay exact), got " + std::to_string(K));
  const S8Path path = best_path();
  packed->K = K;
  packed->N = N;
  packed->path = static_cast<int>(path);
  packed->col_sums.assign(static_cast<size_t>(N), 0);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < N; ++j) packed->col_sums[static_cast<size_t>(j)] += B[k * ldb + j];
  const auto at = [&](int64_t k, int64_t j) -> int8_t { return k < K && j < N ? B[k * ldb + j] : 0; };
  const int64_t panels = (N + panel_width(path) - 1) / panel_width(path);
  std::vector<int8_t>& d = packed->data;
  if (path == S8Path::vnni) {
    const int64_t K4 = (K + 3) / 4;
    d.assign(static_cast<size_t>(panels * K4 * 64 + 1024), 0);
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t g = 0; g < K4; ++g)
        for (int64_t j = 0; j < 16; ++j)
          for (int64_t t = 0; t < 4; ++t) d[static_cast<size_t>(((p * K4 + g) * 16 + j) * 4 + t)] = at(4 * g + t, 16 * p + j);
  } else if (path == S8Path::avx2) {
    const int64_t K2 = (K + 1) / 2;
    d.assign(static_cast<size_t>(panels * K2 * 16 * 2), 0);
    int16_t* e = reinterpret_cast<int16_t*>(d.data());
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t g = 0; g < K2; ++g)
        for (int64_t j = 0; j < 8; ++j)
          for (int64_t t = 0; t < 2; ++t) e[((p * K2 + g) * 8 + j) * 2 + t] = at(2 * g + t, 8 * p + j);
  } else {
    d.resize(static_cast<size_t>(K * N));
    for (int64_t k = 0; k < K; ++k) std::memcpy(d.data() + k * N, B + k * ldb, static_cast<size_t>(N));
  }
}

namespace {

// C = A B (int32), or with dq the products dequantized into dq->F.
void run_s8(int64_t M, const int8_t* A, int64_t lda, const Int8PackedB& packed, int32_t* C, int64_t ldc, bool serial,
            const S8Dequant* dq = nullptr) {
  const int64_t N = packed.N, K = packed.K;
  if (M <= 0 || N <= 0) return;
  const S8Path path = static_cast<S8Path>(packed.path);
#if defined(NNCORE_X86)
  const bool amx = path == S8Path::vnni && M >= kAmxMinRows && amx_int8_active();
  const GemmS8Kernel kernel = amx ? gemm_s8_kernel_amx : kernel_for(path);
#else
  const bool amx = false;
  const GemmS8Kernel kernel = kernel_for(path);
#endif
  const int64_t panels = (N + panel_width(path) - 1) / panel_width(path);
  const auto scratch = [&]() {  // 4 (K + 1) int16 for AVX2, kAmxBlockRows x K rounded up to 64 bytes for AMX
    const int64_t need = amx ? kAmxBlockRows * (K + 63) / 2 : 4 * (K + 1);
    std::vector<int16_t>& s = tls_scratch;
    if (static_cast<int64_t>(s.size()) < need) s.resize(static_cast<size_t>(need));
    return s.data();
  };
  if (serial) {
    kernel(M, N, K, A, lda, packed.data.data(), packed.col_sums.data(), 0, panels, C, ldc, scratch(), dq);
    return;
  }
  const double flops = int8_work(path, M, N, K);
  // Rows in groups of 4 (AMX: its blocks) over the threads when there are enough, else the panels (exact sums: any
  // split gives the same result).
  const int64_t rows = amx ? kAmxBlockRows : 4;
  const int64_t groups = (M + rows - 1) / rows;
  const bool by_rows = groups >= 2 * threads_for(flops) || groups >= panels;
  const int64_t units = by_rows ? groups : panels;
  parallel_range(units, flops / static_cast<double>(units), [&](int64_t u0, int64_t u1) {
    if (by_rows) {
      const int64_t m0 = rows * u0, m1 = std::min(M, rows * u1);
      S8Dequant d;
      kernel(m1 - m0, N, K, A + m0 * lda, lda, packed.data.data(), packed.col_sums.data(), 0, panels,
             C != nullptr ? C + m0 * ldc : nullptr, ldc, scratch(), S8Dequant::at_or_null(dq, m0, 0, &d));
    } else {
      kernel(M, N, K, A, lda, packed.data.data(), packed.col_sums.data(), u0, u1, C, ldc, scratch(), dq);
    }
  });
}

QuantizeRowsKernel quantize_rows_kernel() {
#if defined(NNCORE_X86)
  if (active_isa() == Isa::avx512) return quantize_rows_avx512;
  if (active_isa() == Isa::avx2) return quantize_rows_avx2;
#endif
  return quantize_rows_s8_ref;
}

void dequant_rows_generic(int64_t M, int64_t N, const int32_t* acc, int64_t ldacc, const float* inv_rs,
                          int64_t rs_stride, const float* inv_cs, const float* bias, bool add_c, bool relu, float* C,
                          int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    const float r = inv_rs[i * rs_stride];
    const int32_t* __restrict a = acc + i * ldacc;
    float* __restrict c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) {
      float v = static_cast<float>(a[j]) * r * inv_cs[j];
      if (bias != nullptr) v += bias[j];
      if (add_c) v += c[j];
      c[j] = relu && v < 0.f ? 0.f : v;
    }
  }
}


thread_local ThreadBuffer tls_q, tls_inv;

}  // namespace

void gemm_s8(int64_t M, const int8_t* A, int64_t lda, const Int8PackedB& packed, int32_t* C, int64_t ldc) {
  run_s8(M, A, lda, packed, C, ldc, false);
}

void quantize_rows_s8_ref(int64_t M, int64_t K, const float* A, int64_t lda, int8_t* Q, int64_t ldq, float* scale) {
  for (int64_t i = 0; i < M; ++i) {
    const float* a = A + i * lda;
    float amax = 0.f;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(a[k]));
    const float s = kQuantRange / (amax + kQuantEpsilon);
    scale[i] = s;
    for (int64_t k = 0; k < K; ++k)
      Q[i * ldq + k] = static_cast<int8_t>(std::min(kQuantRange, std::max(-kQuantRange, std::nearbyint(a[k] * s))));
  }
}

void quantize_rows_s8(int64_t M, int64_t K, const float* A, int64_t lda, int8_t* Q, int64_t ldq, float* scale) {
  quantize_rows_kernel()(M, K, A, lda, Q, ldq, scale);
}

void quantize_columns_s8(int64_t K, int64_t N, const float* W, int8_t* Q, float* scale) {
  std::vector<float> amax(static_cast<size_t>(N), 0.f);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < N; ++j) amax[static_cast<size_t>(j)] = std::max(amax[static_cast<size_t>(j)], std::fabs(W[k * N + j]));
  for (int64_t j = 0; j < N; ++j) scale[j] = kQuantRange / (amax[static_cast<size_t>(j)] + kQuantEpsilon);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < N; ++j)
      Q[k * N + j] = static_cast<int8_t>(std::min(kQuantRange, std::max(-kQuantRange, std::nearbyint(W[k * N + j] * scale[j]))));
}

void gemm_s8_dequant(int64_t M, const int8_t* A, int64_t lda, const float* row_scale, int64_t row_scale_stride,
                     const Int8PackedB& B, const float* col_scale, float beta, float* C, int64_t ldc,
                     const GemmEpilogue& ep, bool serial) {
  const int64_t N = B.N;
  if (M <= 0 || N <= 0) return;
  if (beta != 0.f && beta != 1.f) throw std::invalid_argument("gemm_s8_dequant: beta must be 0 or 1");
  const int64_t rows = row_scale_stride == 0 ? 1 : M;
  float* inv = tls_inv.get(N + rows);  // the scales' reciprocals: columns, then rows
  for (int64_t j = 0; j < N; ++j) inv[j] = 1.f / col_scale[j];
  for (int64_t i = 0; i < rows; ++i) inv[N + i] = 1.f / row_scale[i * row_scale_stride];
  const S8Dequant dq{inv + N, row_scale_stride == 0 ? 0 : 1, inv, ep.bias, beta != 0.f, ep.relu, C, ldc};
  run_s8(M, A, lda, B, nullptr, 0, serial, &dq);
}

void gemm_q8(int64_t M, const float* A, int64_t lda, const Int8PackedB& B, const float* col_scale, float beta,
             float* C, int64_t ldc, const GemmEpilogue& ep, bool serial) {
  const int64_t N = B.N, K = B.K;
  if (M <= 0 || N <= 0) return;
  // Blocks of rows small enough that their int8 rows and int32 products stay in L2 beside B.
  constexpr int64_t kBlock = 64;
  const auto block = [&](int64_t m0, int64_t m1, bool ser) {
    const int64_t rows = m1 - m0;
    float* q = tls_q.get((rows * K + 3) / 4 + rows);
    int8_t* qa = reinterpret_cast<int8_t*>(q + rows);
    quantize_rows_s8(rows, K, A + m0 * lda, lda, qa, K, q);
    gemm_s8_dequant(rows, qa, K, q, 1, B, col_scale, beta, C + m0 * ldc, ldc, ep, ser);
  };
  const int64_t blocks = (M + kBlock - 1) / kBlock;
  const double flops = int8_work(static_cast<S8Path>(B.path), kBlock, N, K);
  if (serial || blocks < 2 || threads_for(flops * static_cast<double>(blocks)) < 2) {
    for (int64_t b = 0; b < blocks; ++b) block(b * kBlock, std::min(M, (b + 1) * kBlock), serial);
    return;
  }
  parallel_range(blocks, flops, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) block(b * kBlock, std::min(M, (b + 1) * kBlock), true);
  });
}

void gemm_q8_ref(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const int8_t* B, int64_t ldb,
                 const float* col_scale, float beta, float* C, int64_t ldc, const GemmEpilogue& ep) {
  std::vector<int8_t> q(static_cast<size_t>(M * K));
  std::vector<float> rs(static_cast<size_t>(M));
  std::vector<int32_t> acc(static_cast<size_t>(M * N));
  quantize_rows_s8_ref(M, K, A, lda, q.data(), K, rs.data());
  gemm_s8_ref(M, N, K, q.data(), K, B, ldb, acc.data(), N);
  std::vector<float> inv_r(static_cast<size_t>(M)), inv_c(static_cast<size_t>(N));
  for (int64_t i = 0; i < M; ++i) inv_r[static_cast<size_t>(i)] = 1.f / rs[static_cast<size_t>(i)];
  for (int64_t j = 0; j < N; ++j) inv_c[static_cast<size_t>(j)] = 1.f / col_scale[j];
  dequant_rows_generic(M, N, acc.data(), N, inv_r.data(), 1, inv_c.data(), ep.bias, beta != 0.f, ep.relu, C, ldc);
}

void gemm_s8_ref(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* B, int64_t ldb,
                 int32_t* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      int64_t s = 0;
      for (int64_t k = 0; k < K; ++k) s += static_cast<int64_t>(A[i * lda + k]) * B[k * ldb + j];
      C[i * ldc + j] = static_cast<int32_t>(s);
    }
}

const char* gemm_s8_path_name(const Int8PackedB& packed) {
  switch (static_cast<S8Path>(packed.path)) {
    case S8Path::vnni: return "avx512_vnni";
    case S8Path::avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace nncore::kernels
