// AVX-512 GEMM micro-kernel: C (8 x 32) = beta * C + a * b on packed panels.
// 16 zmm accumulators + 2 for the b row + 1 broadcast. Zen4 runs a 512-bit FMA as two 256-bit halves (one per
// cycle, 4-cycle latency), so 16 accumulators already saturate it; measured against 12x32, 14x32, 6x64 and
// 8x48, 8 x 32 was as fast on large squares and fastest at batch 32 / 128 (MR = 8 divides them).
// This TU is compiled with -mavx512f/vl/bw/dq: it must define no inline function or template shared with
// baseline TUs (the linker could keep this AVX-512 copy for everyone), hence plain C-style code and intrinsics.
#include <immintrin.h>

#include <algorithm>

#include "kernels/gemm_internal.hpp"

namespace nncore::kernels {

namespace {

constexpr int MR = 8;
constexpr int NR = 32;
constexpr int NV = NR / 16;  // zmm vectors per tile row
static_assert(NR % 16 == 0 && MR * NV + NV + 1 <= 32, "tile must fit the 32 zmm registers");

void micro_kernel_avx512(int64_t kc, const float* a, int64_t rs_a, int64_t cs_a, const float* b, float beta,
                         float* c, int64_t ldc) {
  // The C tile is touched only after the k loop; fetching it now hides the miss behind the FMAs.
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v <= NV; ++v)
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + (v < NV ? 16 * v : NR - 1)), _MM_HINT_T0);
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();

#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i * rs_a]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += cs_a;
    b += NR;
  }

  // beta == 0 must not read C: it may be uninitialized or NaN, and 0 * NaN would leak into the result.
  const __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512 r = acc[i][v];
      if (beta == 1.0f)
        r = _mm512_add_ps(_mm512_loadu_ps(ci + 16 * v), r);
      else if (beta != 0.0f)
        r = _mm512_fmadd_ps(vbeta, _mm512_loadu_ps(ci + 16 * v), r);
      _mm512_storeu_ps(ci + 16 * v, r);
    }
  }
}

// The first n lanes of 16 (none for n <= 0).
__mmask16 lanes16(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1u);
}

// ---- narrow C (N <= 16): one zmm per row of C, the columns past N masked off ----------------------------------
constexpr int NARROW_MR = 8;  // 8 independent accumulators cover the FMA latency

template <int R>
void narrow_tile(int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b, int64_t ldb, __mmask16 m,
                 float beta, float* c, int64_t ldc) {
  __m512 acc[R];
  const float* ai[R];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    acc[i] = _mm512_setzero_ps();
    ai[i] = a + i * rs_a;
  }
  for (int64_t k = 0; k < K; ++k) {
    const __m512 bv = _mm512_maskz_loadu_ps(m, b + k * ldb);
    const int64_t ka = k * cs_a;
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(ai[i][ka]), bv, acc[i]);
  }
  // beta == 0 must not read C (see the micro-kernel). All loads of C come before the first store: a narrow row
  // shares its 64-byte window with the next, and a load behind an overlapping masked store waits for it.
  const __m512 vbeta = _mm512_set1_ps(beta);
  if (beta == 1.0f) {
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) acc[i] = _mm512_add_ps(_mm512_maskz_loadu_ps(m, c + i * ldc), acc[i]);
  } else if (beta != 0.0f) {
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) acc[i] = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m, c + i * ldc), acc[i]);
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) _mm512_mask_storeu_ps(c + i * ldc, m, acc[i]);
}

void narrow_avx512(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b,
                   int64_t ldb, float beta, float* c, int64_t ldc) {
  const __mmask16 m = lanes16(N);
  int64_t i = 0;
  for (; i + NARROW_MR <= M; i += NARROW_MR)
    narrow_tile<NARROW_MR>(K, a + i * rs_a, rs_a, cs_a, b, ldb, m, beta, c + i * ldc, ldc);
  switch (M - i) {
    case 7: narrow_tile<7>(K, a + i * rs_a, rs_a, cs_a, b, ldb, m, beta, c + i * ldc, ldc); break;
    case 6: narrow_tile<6>(K, a + i * rs_a, rs_a, cs_a, b, ldb, m, beta, c + i * ldc, ldc); break;
    case 5: narrow_tile<5>(K, a + i * rs_a, rs_a, cs_a, b, ldb, m, beta, c + i * ldc, ldc); break;
    case 4: narrow_tile<4>(K, a + i * rs_a, rs_a, cs_a, b, ldb, m, beta, c + i * ldc, ldc); break;
    case 3: narrow_tile<3>(K, a + i * rs_a, rs_a, cs_a, b, ldb, m, beta, c + i * ldc, ldc); break;
    case 2: narrow_tile<2>(K, a + i * rs_a, rs_a, cs_a, b, ldb, m, beta, c + i * ldc, ldc); break;
    case 1: narrow_tile<1>(K, a + i * rs_a, rs_a, cs_a, b, ldb, m, beta, c + i * ldc, ldc); break;
    default: break;
  }
}

// ---- few rows of C (M <= 8 per tile), any N: R rows x V zmm of C in registers ----------------------------------
// B is read in place (row k of the strip at b + k * ldb), or, Packed, from a panel of kc x 16 V floats (row k at
// b + 16 V k, 64-byte aligned, the columns past n zero). resume: the accumulators start from C's values, the partial
// sums of the K block before (beta is then 0); finish: beta, the bias and relu go into the store (else the raw sums).
// In place, row k + kSmallMPrefetch of B is asked into L1 while row k is used: the strip's rows lie ldb floats apart
// (one or a few lines each, a page holding only a handful), which the hardware prefetchers follow late. On the Xeon,
// 784 x 256 B alone: 32 rows 70-75 -> 64-69 us, 256 rows 540-610 -> 500 us (8 rows ahead; 4 was slower, 12-16 no
// faster); in MLP predict 2-5%. Groups of 1 or 2 rows (batch 1) read B sequentially and were slower with it.
constexpr int64_t kSmallMPrefetch = 8;

// Packed: B's vector v of row k at b + k ldb + v vs, 64-byte aligned, the columns past n zero (a panel: ldb = 16 V,
// vs = 16; B packed once in units of 16 columns: ldb = 16, vs = 16 K).
template <int R, int V, bool Packed = false>
void small_m_tile(int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b, int64_t ldb, int64_t n,
                  float beta, float* c, int64_t ldc, SmallMStore st, bool resume = false, bool finish = true,
                  int64_t vs = 16) {
  __mmask16 m[V];
#pragma GCC unroll 16
  for (int v = 0; v < V; ++v) m[v] = lanes16(n - 16 * v);
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v)
      acc[i][v] = resume ? _mm512_maskz_loadu_ps(m[v], c + i * ldc + 16 * v) : _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* bk = b + k * ldb;
    __m512 bv[V];
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) bv[v] = Packed ? _mm512_load_ps(bk + vs * v) : _mm512_maskz_loadu_ps(m[v], bk + 16 * v);
    // (a prefetch never faults: rows past B's last are harmless)
    if constexpr (!Packed && R >= 4) {
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v)
        _mm_prefetch(reinterpret_cast<const char*>(bk + kSmallMPrefetch * ldb + 16 * v), _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i * rs_a + k * cs_a]);
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
  const __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) {
      float* ci = c + i * ldc + 16 * v;
      __m512 r = acc[i][v];
      if (finish) {
        if (beta == 1.0f) r = _mm512_add_ps(_mm512_maskz_loadu_ps(m[v], ci), r);
        else if (beta != 0.0f) r = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m[v], ci), r);
        if (st.bias != nullptr) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m[v], st.bias + 16 * v));
        if (st.relu) r = _mm512_maskz_max_ps(m[v], _mm512_setzero_ps(), r);  // max(0, NaN), max(0, -0): the second
      }
      _mm512_mask_storeu_ps(ci, m[v], r);
    }
}

// A strip of n <= 16 V columns in as few vectors as cover it (at most V).
template <int R, int V>
void small_m_strip(int64_t n, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b, int64_t ldb,
                   float beta, float* c, int64_t ldc, SmallMStore st) {
  if constexpr (V > 1) {
    constexpr int H = V > 4 ? V / 2 : V - 1;  // 16 -> 8 -> 4 -> 3 -> 2 -> 1
    if (n <= 16 * H) return small_m_strip<R, H>(n, K, a, rs_a, cs_a, b, ldb, beta, c, ldc, st);
  }
  small_m_tile<R, V>(K, a, rs_a, cs_a, b, ldb, n, beta, c, ldc, st);
}

// Column strips of N for tiles W >= 48 columns wide: whole strips of W, and a last part of 16 columns or fewer
// after a whole strip merged with it into a strip of 32 and the rest (256 = 4 x 48 + 2 x 32 for W = 48): a strip of
// one vector does a third of the FMAs per broadcast of A. f(j, width) for each, left to right.
template <class F>
void for_each_strip(int64_t N, int64_t W, F&& f) {
  int64_t j = 0;
  for (; N - j > W + 16; j += W) f(j, W);
  int64_t left = N - j;  // 1 .. W + 16
  if (left > W) {
    f(j, int64_t{32});
    j += 32;
    left -= 32;
  }
  f(j, left);
}

// R rows of C across all N, in column strips of 16 V floats (R V zmm of accumulators).
template <int R, int V>
void small_m_rows(int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b, int64_t ldb,
                  float beta, float* c, int64_t ldc, SmallMStore st) {
  for_each_strip(N, 16 * V, [&](int64_t j, int64_t n) {
    // (Whole strips straight to their tile: through small_m_strip, MLP predict at batch 8 and 32 ran 5% slower.)
    if (n == 16 * V) small_m_tile<R, V>(K, a, rs_a, cs_a, b + j, ldb, n, beta, c + j, ldc, st.from(j));
    else small_m_strip<R, V>(n, K, a, rs_a, cs_a, b + j, ldb, beta, c + j, ldc, st.from(j));
  });
}

// ---- many rows (kSmallMPackedRows or more) with beta 0: each strip of B packed, kPanelK rows at a time -----
// Every group of 8 rows reads the whole strip of B again. In place, its rows lie ldb floats apart: with ldb = 256
// (1 KiB) they fall into a quarter of L1's sets and come from L2 each time. Packed into a contiguous panel (at most
// kPanelK x 48 floats, 48 KiB) they are read once from L2 and by every group from L1; C keeps the partial sums
// between the K blocks. Each element of C is still the same k-ordered sum (the accumulator goes to C and back
// unrounded), so the result is the in-place kernel's, bit for bit. The Xeon, one core: 256 x 784 x 256 650 -> 585
// us, 256 x 256 x 256 205 -> 174 us, 64 x 784 x 256 164 -> 152 us; 32 rows were 3-5% slower (the packing is
// shared by too few groups), hence the threshold.
constexpr int64_t kPanelK = 256;
constexpr int64_t kPanelFloats = kPanelK * 48;

template <int V>
void pack_panel(int64_t kc, const float* b, int64_t ldb, int64_t n, float* dst) {
  __mmask16 m[V];
#pragma GCC unroll 16
  for (int v = 0; v < V; ++v) m[v] = lanes16(n - 16 * v);
  for (int64_t k = 0; k < kc; ++k, dst += 16 * V) {
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) {
      _mm_prefetch(reinterpret_cast<const char*>(b + (k + kSmallMPrefetch) * ldb + 16 * v), _MM_HINT_T0);
      _mm512_store_ps(dst + 16 * v, _mm512_maskz_loadu_ps(m[v], b + k * ldb + 16 * v));
    }
  }
}

// All M rows of a strip of n <= 16 V columns, K in blocks of up to kPanelK rows with beta 0 (else one block), every
// row group over the block's panel of B: packed now into `panel` (ldb 16 V), or, when B was packed once
// (gemm_pack_b_small_m: units of 16 columns, each all K rows; pb: the strip's first unit), read there (ldb 16,
// vs 16 K) without copying. C keeps the partial sums between the blocks.
template <int V>
void panel_strip(int64_t M, int64_t n, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b,
                 int64_t ldb, const float* pb, float beta, float* c, int64_t ldc, SmallMStore st, float* panel) {
  const int64_t blocks = beta == 0.0f ? (K + kPanelK - 1) / kPanelK : 1;
  const int64_t lp = pb != nullptr ? 16 : 16 * V, vs = pb != nullptr ? 16 * K : 16;
  for (int64_t q = 0; q < blocks; ++q) {
    const int64_t k0 = K * q / blocks, kc = K * (q + 1) / blocks - k0;
    const bool resume = q > 0, finish = q + 1 == blocks;
    const float* ak = a + k0 * cs_a;
    const float* bq = pb != nullptr ? pb + 16 * k0 : panel;
    if (pb == nullptr) pack_panel<V>(kc, b + k0 * ldb, ldb, n, panel);
    int64_t i = 0;
    for (; i + 8 <= M; i += 8)
      small_m_tile<8, V, true>(kc, ak + i * rs_a, rs_a, cs_a, bq, lp, n, beta, c + i * ldc, ldc, st, resume, finish, vs);
    for (; i + 4 <= M; i += 4)
      small_m_tile<4, V, true>(kc, ak + i * rs_a, rs_a, cs_a, bq, lp, n, beta, c + i * ldc, ldc, st, resume, finish, vs);
    for (; i < M; ++i)
      small_m_tile<1, V, true>(kc, ak + i * rs_a, rs_a, cs_a, bq, lp, n, beta, c + i * ldc, ldc, st, resume, finish, vs);
  }
}

// The strips of small_m_rows<8, 3> over panels of B: packed per call (packed null: beta 0), or packed once (the
// unit of column j at packed + j K; j is a multiple of 16). The same k-ordered sums as in place, bit for bit.
void panel_rows(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b,
                int64_t ldb, const float* packed, float beta, float* c, int64_t ldc, SmallMStore st, float* panel) {
  for_each_strip(N, 48, [&](int64_t j, int64_t n) {
    const float* pb = packed != nullptr ? packed + j * K : nullptr;
    if (n > 32) panel_strip<3>(M, n, K, a, rs_a, cs_a, b + j, ldb, pb, beta, c + j, ldc, st.from(j), panel);
    else if (n > 16) panel_strip<2>(M, n, K, a, rs_a, cs_a, b + j, ldb, pb, beta, c + j, ldc, st.from(j), panel);
    else panel_strip<1>(M, n, K, a, rs_a, cs_a, b + j, ldb, pb, beta, c + j, ldc, st.from(j), panel);
  });
}

constexpr int SMALL_M_MAX = 256;

void small_m_avx512(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a, const float* b,
                    int64_t ldb, float beta, float* c, int64_t ldc, SmallMStore st, float* scratch,
                    const float* packed) {
  if (M >= kSmallMPackedRows && (packed != nullptr || (beta == 0.0f && scratch != nullptr)))
    return panel_rows(M, N, K, a, rs_a, cs_a, b, ldb, packed, beta, c, ldc, st, scratch);
  // Groups of 8 rows read each row of B once for 48 columns of C in 24 accumulators: half the B traffic of groups of
  // 4 (B comes from L2 here). On a Xeon with two 512-bit FMA units, 32 x 784 x 256 in 125 instead of 145 us
  // (MLP predict at batch 32), 256 rows 1,030 instead of 1,135 us. Each element of C sums K in order whatever the
  // group, so the grouping never changes a result.
  int64_t i = 0;
  for (; i + 8 <= M; i += 8) small_m_rows<8, 3>(N, K, a + i * rs_a, rs_a, cs_a, b, ldb, beta, c + i * ldc, ldc, st);
  for (; i + 4 <= M; i += 4) small_m_rows<4, 4>(N, K, a + i * rs_a, rs_a, cs_a, b, ldb, beta, c + i * ldc, ldc, st);
  if (M - i >= 2) {
    small_m_rows<2, 8>(N, K, a + i * rs_a, rs_a, cs_a, b, ldb, beta, c + i * ldc, ldc, st);
    i += 2;
  }
  if (M - i == 1) small_m_rows<1, 16>(N, K, a + i * rs_a, rs_a, cs_a, b, ldb, beta, c + i * ldc, ldc, st);
}

}  // namespace

// Blocking for Zen4-class caches (32 KiB L1d, 1 MiB L2): KC * NR * 4 B = 32 KiB of B per micro-panel streams
// through L1, MC * KC * 4 B = 192 KiB of A in L2, a KC x NC block of B (4 MiB) in L3.
const GemmKernel gemm_kernel_avx512 = {MR, NR, 192, 256, 4096, micro_kernel_avx512, 16, narrow_avx512,
                                       NARROW_MR, SMALL_M_MAX, small_m_avx512, kPanelFloats, 16,
                                       "avx512 8x32"};

}  // namespace nncore::kernels
