// AVX2 + FMA GEMM micro-kernel: C (4 x 24) = beta * C + a * b on packed panels.
// 12 ymm accumulators + 3 for the b row + 1 broadcast of a = 16 registers; per k step 3 loads and 4 broadcasts
// feed 12 FMAs, which keeps both FMA pipes busy through their 4-cycle latency. 4 x 24 beat 6 x 16 on Zen4:
// equal on large squares, ~10% faster at batch 32, 128 (MR = 4 divides the usual batch sizes, 6 wastes 1/9).
// This TU is compiled with -mavx2 -mfma: it must define no inline function or template shared with baseline
// TUs (the linker could keep this AVX copy for everyone), hence plain C-style code and intrinsics only.
#include <immintrin.h>

#include <algorithm>

#include "kernels/gemm_internal.hpp"

namespace nncore::kernels {

namespace {

constexpr int MR = 4;
constexpr int NR = 24;
constexpr int NV = NR / 8;  // ymm vectors per tile row
static_assert(NR % 8 == 0 && MR * NV + NV + 1 <= 16, "tile must fit the 16 ymm registers");

void micro_kernel_avx2(int64_t kc, const float* a, int64_t rs_a, int64_t cs_a, const float* b, float beta,
                       float* c, int64_t ldc) {
  // The C tile is touched only after the k loop; fetching it now hides the miss behind the FMAs.
  for (int i = 0; i < MR; ++i) {
    for (int v = 0; v <= NV; ++v)
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + (v < NV ? 8 * v : NR - 1)), _MM_HINT_T0);
  }
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();

#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i * rs_a);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += cs_a;
    b += NR;
  }

  // beta == 0 must not read C: it may be uninitialized or NaN, and 0 * NaN would leak into the result.
  const __m256 vbeta = _mm256_set1_ps(beta);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m256 r = acc[i][v];
      if (beta == 1.0f)
        r = _mm256_add_ps(_mm256_loadu_ps(ci + 8 * v), r);
      else if (beta != 0.0f)
        r = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(ci + 8 * v), r);
      _mm256_storeu_ps(ci + 8 * v, r);
    }
  }
}

// ---- narrow C (N <= 16): V ymm per row of C, the columns past N masked off ------------------------------------
constexpr int NARROW_MR = 6;  // rows per tile at V = 2 (12 accumulators); V = 1 runs 8

template <int R, int V>
void narrow_tile(int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b, int64_t ldb,
                 const __m256i* m, const bool* full, float beta, float* c, int64_t ldc) {
  __m256 acc[R][V];
  const float* ai[R];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    ai[i] = a + i * rs_a;
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) acc[i][v] = _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < K; ++k) {
    __m256 bv[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) bv[v] = _mm256_maskload_ps(b + k * ldb + 8 * v, m[v]);
    const int64_t ka = k * cs_a;
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m256 ak = _mm256_broadcast_ss(ai[i] + ka);
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(ak, bv[v], acc[i][v]);
    }
  }
  // beta == 0 must not read C (see the micro-kernel). All loads of C come before the first store: a narrow row
  // shares its 32-byte windows with the next, and a load behind an overlapping masked store waits for it.
  // Full vectors go through plain stores: maskstore is slow on some AMD cores.
  const __m256 vbeta = _mm256_set1_ps(beta);
  if (beta != 0.0f) {
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) {
        float* civ = c + i * ldc + 8 * v;
        const __m256 ci = full[v] ? _mm256_loadu_ps(civ) : _mm256_maskload_ps(civ, m[v]);
        acc[i][v] = beta == 1.0f ? _mm256_add_ps(ci, acc[i][v]) : _mm256_fmadd_ps(vbeta, ci, acc[i][v]);
      }
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      if (full[v]) _mm256_storeu_ps(c + i * ldc + 8 * v, acc[i][v]);
      else _mm256_maskstore_ps(c + i * ldc + 8 * v, m[v], acc[i][v]);
    }
}

template <int V>
void narrow_rows(int64_t M, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b, int64_t ldb,
                 const __m256i* m, const bool* full, float beta, float* c, int64_t ldc) {
  constexpr int R = V == 1 ? 8 : NARROW_MR;
  int64_t i = 0;
  for (; i + R <= M; i += R) narrow_tile<R, V>(K, a + i * rs_a, rs_a, cs_a, b, ldb, m, full, beta, c + i * ldc, ldc);
  for (; i < M; ++i) narrow_tile<1, V>(K, a + i * rs_a, rs_a, cs_a, b, ldb, m, full, beta, c + i * ldc, ldc);
}

// All ones in the first n of 8 lanes (none for n <= 0): a maskload / maskstore mask.
__m256i lanes8(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

void narrow_avx2(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b,
                 int64_t ldb, float beta, float* c, int64_t ldc) {
  const __m256i m[2] = {lanes8(N), lanes8(N - 8)};
  const bool full[2] = {N >= 8, N >= 16};
  if (N <= 8) narrow_rows<1>(M, K, a, rs_a, cs_a, b, ldb, m, full, beta, c, ldc);
  else narrow_rows<2>(M, K, a, rs_a, cs_a, b, ldb, m, full, beta, c, ldc);
}

// ---- few rows of C (M <= 4 per tile), any N: R rows x V ymm of C in 12 registers --------------------------------
// B is read in place (row k of the strip at b + k * ldb) or, Packed, vector v of row k at b + k ldb + v vs, 32-byte
// aligned, the columns past n zero (a panel: ldb = 8 V, vs = 8; B packed once in units of 8 columns: ldb = 8,
// vs = 8 K); resume and finish as in gemm_avx512.cpp's small_m_tile.
template <int R, int V, bool Packed = false>
void small_m_tile(int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b, int64_t ldb, int64_t n,
                  float beta, float* c, int64_t ldc, SmallMStore st, bool resume = false, bool finish = true,
                  int64_t vs = 8) {
  __m256i m[V];
#pragma GCC unroll 12
  for (int v = 0; v < V; ++v) m[v] = lanes8(n - 8 * v);
  const bool full = n == 8 * V;
  __m256 acc[R][V];
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 12
    for (int v = 0; v < V; ++v) acc[i][v] = resume ? _mm256_maskload_ps(c + i * ldc + 8 * v, m[v]) : _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* bk = b + k * ldb;
    __m256 ak[R];
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) ak[i] = _mm256_broadcast_ss(a + i * rs_a + k * cs_a);
#pragma GCC unroll 12
    for (int v = 0; v < V; ++v) {
      const __m256 bv = Packed ? _mm256_load_ps(bk + vs * v)
                               : full ? _mm256_loadu_ps(bk + 8 * v) : _mm256_maskload_ps(bk + 8 * v, m[v]);
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) acc[i][v] = _mm256_fmadd_ps(ak[i], bv, acc[i][v]);
    }
  }
  const __m256 vbeta = _mm256_set1_ps(beta);
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 12
    for (int v = 0; v < V; ++v) {
      float* ci = c + i * ldc + 8 * v;
      __m256 r = acc[i][v];
      if (finish) {
        if (beta == 1.0f) r = _mm256_add_ps(_mm256_maskload_ps(ci, m[v]), r);
        else if (beta != 0.0f) r = _mm256_fmadd_ps(vbeta, _mm256_maskload_ps(ci, m[v]), r);
        if (st.bias != nullptr) r = _mm256_add_ps(r, _mm256_maskload_ps(st.bias + 8 * v, m[v]));
        if (st.relu) r = _mm256_max_ps(_mm256_setzero_ps(), r);  // max(0, NaN) and max(0, -0): the second operand
      }
      if (full) _mm256_storeu_ps(ci, r);
      else _mm256_maskstore_ps(ci, m[v], r);
    }
}

// R rows of C across all N, in column strips of 8 * V floats (12 accumulators).
template <int R>
void small_m_rows(int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b, int64_t ldb,
                  float beta, float* c, int64_t ldc, SmallMStore st) {
  constexpr int V = 12 / R;
  for (int64_t j = 0; j < N; j += 8 * V)
    small_m_tile<R, V>(K, a, rs_a, cs_a, b + j, ldb, std::min<int64_t>(8 * V, N - j), beta, c + j, ldc, st.from(j));
}

// ---- many rows (kSmallMPackedRows or more) with beta 0: each strip of B packed, kPanelK rows at a time -----
// As in gemm_avx512.cpp (B's rows ldb floats apart crowd a few of L1's sets; packed, every group of 4 rows reads
// them from L1, C keeping the partial sums between K blocks: the same sums, bit for bit). The Xeon's AVX2 path, one
// core, alternating: 256 x 784 x 256 1,520-1,640 -> 1,480-1,585 us, 256 x 256 x 256 490-530 -> 460-510 us,
// 64 x 784 x 256 400-430 -> 360-405 us (what bounds this kernel at ~60% of the ymm FMA rate is not B's traffic).
constexpr int64_t kPanelK = 256;
constexpr int64_t kPanelFloats = kPanelK * 24;

void pack_panel(int64_t kc, const float* b, int64_t ldb, int64_t n, float* dst) {
  const __m256i m[3] = {lanes8(n), lanes8(n - 8), lanes8(n - 16)};
  for (int64_t k = 0; k < kc; ++k, dst += 24)
    for (int v = 0; v < 3; ++v) _mm256_store_ps(dst + 8 * v, _mm256_maskload_ps(b + k * ldb + 8 * v, m[v]));
}

// All M rows of a strip of n <= 8 V columns, K in blocks of up to kPanelK rows with beta 0 (else one block), every
// row group over the block's panel of B: packed now into `panel` (24 floats a row), or, when B was packed once
// (gemm_pack_b_small_m: units of 8 columns, each all K rows; pb: the strip's first unit), read there (ldb 8, vs 8 K)
// without copying. C keeps the partial sums between the blocks.
template <int V>
void panel_strip(int64_t M, int64_t n, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b,
                 int64_t ldb, const float* pb, float beta, float* c, int64_t ldc, SmallMStore st, float* panel) {
  const int64_t blocks = beta == 0.0f ? (K + kPanelK - 1) / kPanelK : 1;
  const int64_t lp = pb != nullptr ? 8 : 24, vs = pb != nullptr ? 8 * K : 8;
  for (int64_t q = 0; q < blocks; ++q) {
    const int64_t k0 = K * q / blocks, kc = K * (q + 1) / blocks - k0;
    const bool resume = q > 0, finish = q + 1 == blocks;
    const float* ak = a + k0 * cs_a;
    const float* bq = pb != nullptr ? pb + 8 * k0 : panel;
    if (pb == nullptr) pack_panel(kc, b + k0 * ldb, ldb, n, panel);
    int64_t i = 0;
    for (; i + 4 <= M; i += 4)
      small_m_tile<4, V, true>(kc, ak + i * rs_a, rs_a, cs_a, bq, lp, n, beta, c + i * ldc, ldc, st, resume, finish, vs);
    for (; i < M; ++i)
      small_m_tile<1, V, true>(kc, ak + i * rs_a, rs_a, cs_a, bq, lp, n, beta, c + i * ldc, ldc, st, resume, finish, vs);
  }
}

// Strips of 24 columns over panels of B: packed per call (packed null: beta 0), or packed once (the unit of column j
// at packed + j K; j is a multiple of 8), the last strip in as many vectors as cover it (a packing once has no more
// units). The same k-ordered sums as in place, bit for bit.
void panel_rows(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b,
                int64_t ldb, const float* packed, float beta, float* c, int64_t ldc, SmallMStore st, float* panel) {
  for (int64_t j = 0; j < N; j += 24) {
    const int64_t n = std::min<int64_t>(24, N - j);
    const float* pb = packed != nullptr ? packed + j * K : nullptr;
    if (n > 16) panel_strip<3>(M, n, K, a, rs_a, cs_a, b + j, ldb, pb, beta, c + j, ldc, st.from(j), panel);
    else if (n > 8) panel_strip<2>(M, n, K, a, rs_a, cs_a, b + j, ldb, pb, beta, c + j, ldc, st.from(j), panel);
    else panel_strip<1>(M, n, K, a, rs_a, cs_a, b + j, ldb, pb, beta, c + j, ldc, st.from(j), panel);
  }
}

constexpr int SMALL_M_MAX = 256;

void small_m_avx2(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b,
                  int64_t ldb, float beta, float* c, int64_t ldc, SmallMStore st, float* scratch,
                  const float* packed) {
  if (M >= kSmallMPackedRows && (packed != nullptr || (beta == 0.0f && scratch != nullptr)))
    return panel_rows(M, N, K, a, rs_a, cs_a, b, ldb, packed, beta, c, ldc, st, scratch);
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) small_m_rows<4>(N, K, a + i * rs_a, rs_a, cs_a, b, ldb, beta, c + i * ldc, ldc, st);
  if (M - i >= 2) {
    small_m_rows<2>(N, K, a + i * rs_a, rs_a, cs_a, b, ldb, beta, c + i * ldc, ldc, st);
    i += 2;
  }
  if (M - i == 1) small_m_rows<1>(N, K, a + i * rs_a, rs_a, cs_a, b, ldb, beta, c + i * ldc, ldc, st);
}

}  // namespace

// Blocking for Zen4-class caches (32 KiB L1d, 1 MiB L2): KC * NR * 4 B = 24 KiB of B per micro-panel in L1,
// MC * KC * 4 B = 192 KiB of A in L2, a KC x NC block of B (4 MiB) in L3.
const GemmKernel gemm_kernel_avx2 = {MR, NR, 192, 256, 4080, micro_kernel_avx2, 16, narrow_avx2,
                                     NARROW_MR, SMALL_M_MAX, small_m_avx2, kPanelFloats, 8, "avx2 4x24"};

}  // namespace nncore::kernels
