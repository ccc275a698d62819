// int8 GEMM for quantized inference (kernels.hpp): B packed once for the fastest path the CPU has (AVX-512 VNNI,
// AVX2, generic; gemm_s8_internal.hpp), A quantized by the caller. Integer sums are exact, so every path and every
// thread split gives the same int32 result, equal to gemm_s8_ref.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/gemm_s8_internal.hpp"
#include "kernels/kernels.hpp"
#include "kernels/parallel.hpp"

namespace nncore::kernels {

namespace {

int64_t panel_width(S8Path p) { return p == S8Path::avx2 ? 8 : 16; }

S8Path best_path() {
#if defined(NNCORE_X86)
  if (active_isa() == Isa::avx512 && cpu_has_avx512_vnni()) return S8Path::vnni;
  if (active_isa() != Isa::generic) return S8Path::avx2;
#endif
  return S8Path::generic;
}

void generic(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const void* packed, const int32_t*,
             int64_t p0, int64_t p1, int32_t* C, int64_t ldc, int16_t*) {
  const int8_t* B = static_cast<const int8_t*>(packed);
  const int64_t j0 = 16 * p0, j1 = std::min(N, 16 * p1);
  for (int64_t i = 0; i < M; ++i) {
    int32_t* __restrict c = C + i * ldc;
    for (int64_t j = j0; j < j1; ++j) c[j] = 0;
    for (int64_t k = 0; k < K; ++k) {
      const int32_t a = A[i * lda + k];
      const int8_t* __restrict b = B + k * N;
      for (int64_t j = j0; j < j1; ++j) c[j] += a * b[j];
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
    d.assign(static_cast<size_t>(panels * K4 * 64), 0);
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

void gemm_s8(int64_t M, const int8_t* A, int64_t lda, const Int8PackedB& packed, int32_t* C, int64_t ldc) {
  const int64_t N = packed.N, K = packed.K;
  if (M <= 0 || N <= 0) return;
  const S8Path path = static_cast<S8Path>(packed.path);
  const GemmS8Kernel kernel = kernel_for(path);
  const int64_t panels = (N + panel_width(path) - 1) / panel_width(path);
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  // Rows in groups of 4 over the threads when there are enough, else the panels (exact sums: any split gives the
  // same result).
  const int64_t groups = (M + 3) / 4;
  const bool by_rows = groups >= 2 * threads_for(flops) || groups >= panels;
  const int64_t units = by_rows ? groups : panels;
  parallel_range(units, flops / static_cast<double>(units), [&](int64_t u0, int64_t u1) {
    std::vector<int16_t>& scratch = tls_scratch;
    if (static_cast<int64_t>(scratch.size()) < 4 * (K + 1)) scratch.resize(static_cast<size_t>(4 * (K + 1)));
    if (by_rows) {
      const int64_t m0 = 4 * u0, m1 = std::min(M, 4 * u1);
      kernel(m1 - m0, N, K, A + m0 * lda, lda, packed.data.data(), packed.col_sums.data(), 0, panels, C + m0 * ldc,
             ldc, scratch.data());
    } else {
      kernel(M, N, K, A, lda, packed.data.data(), packed.col_sums.data(), u0, u1, C, ldc, scratch.data());
    }
  });
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
