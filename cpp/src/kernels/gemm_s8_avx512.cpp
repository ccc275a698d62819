// int8 GEMM with AVX-512 VNNI (gemm_s8_internal.hpp): R rows x V panels of 16 int32 in registers (8 x 3, then 4 x 4
// for the last rows); per group of 4 k, V loads of B, R broadcasts of 4 bytes of A (+128, as unsigned), R x V
// vpdpbusd. Groups of 8 rows read each group of B once for twice the rows of groups of 4: B comes from L2 here (a
// layer's weights), and on a core with two 512-bit vpdpbusd units per cycle L2 could not feed groups of 4.
// The AMX kernel (below) runs blocks of 32 rows on AMX-INT8 tiles over the same packing.
// The VNNI and AMX instructions are enabled per function (target attribute): the file's flags are the AVX-512 base
// set, and gemm_s8.cpp calls these only where CPUID reports AVX512_VNNI (and AMX-INT8, granted by the OS).
#include <immintrin.h>

#include <cstring>

#include "kernels/gemm_s8_internal.hpp"

namespace nncore::kernels {

namespace {

constexpr uint32_t kFlip = 0x80808080u;  // x ^ 0x80 = x + 128 for each byte: signed to unsigned

// Bytes 4g .. 4g + 3 of a row (zero past K), each + 128.
int32_t group(const int8_t* a, int64_t g, int64_t K) {
  uint8_t b[4] = {0, 0, 0, 0};
  for (int64_t t = 0; t < 4 && 4 * g + t < K; ++t) b[t] = static_cast<uint8_t>(a[4 * g + t]);
  uint32_t v;
  std::memcpy(&v, b, 4);
  return static_cast<int32_t>(v ^ kFlip);
}

__mmask16 lanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1u);
}

// Masked (maskz) intrinsics below where an unmasked form exists: GCC 12 warns, wrongly, that the unmasked forms'
// undefined pass-through operand may be used uninitialized.

// Row i, columns j .. j + 15 (mask m) of a dequantized store (S8Dequant).
inline void dequant_store(__m512i p, __mmask16 m, const S8Dequant& dq, int64_t i, int64_t j) {
  float* f = dq.F + i * dq.ldf + j;
  __m512 x = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_cvtepi32_ps(m, p), _mm512_set1_ps(dq.inv_rs[i * dq.rs_stride])),
                           _mm512_maskz_loadu_ps(m, dq.inv_cs + j));
  if (dq.bias != nullptr) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, dq.bias + j));
  if (dq.add_c) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, f));
  if (dq.relu) x = _mm512_maskz_max_ps(m, _mm512_setzero_ps(), x);  // max returns its second operand for NaN: kept
  _mm512_mask_storeu_ps(f, m, x);
}

template <int R, int V>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void tile(int64_t K, const int8_t* A, int64_t lda,
                                                                  const int8_t* pb, int64_t panel_bytes,
                                                                  const int32_t* cs, int64_t n, int32_t* C,
                                                                  int64_t ldc, const S8Dequant* dq) {
  __m512i acc[R][V];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_si512();
  const int64_t full = K / 4, groups = (K + 3) / 4;
  for (int64_t g = 0; g < groups; ++g) {
    __m512i b[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) b[v] = _mm512_loadu_si512(pb + v * panel_bytes + g * 64);
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      int32_t word;
      if (g < full) {
        std::memcpy(&word, A + i * lda + 4 * g, 4);
        word = static_cast<int32_t>(static_cast<uint32_t>(word) ^ kFlip);
      } else {
        word = group(A + i * lda, g, K);
      }
      const __m512i a = _mm512_set1_epi32(word);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], a, b[v]);
    }
  }
  // sum (a + 128) b = sum a b + 128 sum b: take the second term off.
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) {
    const __mmask16 m = lanes(n - 16 * v);
    const __m512i c128 = _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(m, cs + 16 * v), _mm512_set1_epi32(128));
    if (dq != nullptr) {  // dequantized into floats (S8Dequant)
#pragma GCC unroll 8
      for (int i = 0; i < R; ++i) dequant_store(_mm512_sub_epi32(acc[i][v], c128), m, *dq, i, 16 * v);
      continue;
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
      _mm512_mask_storeu_epi32(C + i * ldc + 16 * v, m, _mm512_sub_epi32(acc[i][v], c128));
  }
}

// Rows i0 .. i0 + R of C over the panels [p0, p1), V panels per tile; V + 1 left are taken as two tiles of about
// half (16 panels of groups of 3: 4 x 3 + 2 x 2, not 5 x 3 + a tile of one panel that does a third of the work
// per broadcast of A).
template <int R, int V>
void row_group(int64_t N, int64_t K, const int8_t* A, int64_t lda, const int8_t* pb, int64_t panel_bytes,
               const int32_t* col_sums, int64_t p0, int64_t p1, int64_t i0, int32_t* C, int64_t ldc,
               const S8Dequant* dq) {
  for (int64_t p = p0, panels = 0; p < p1; p += panels) {
    const int64_t left = p1 - p;
    panels = left == V + 1 ? (V + 1) / 2 : left < V ? left : V;
    const int64_t j0 = 16 * p;
    const int64_t n = N - j0 < 16 * panels ? N - j0 : 16 * panels;
    const int8_t* a = A + i0 * lda;
    const int8_t* b = pb + p * panel_bytes;
    int32_t* c = dq != nullptr ? nullptr : C + i0 * ldc + j0;
    S8Dequant d;
    const S8Dequant* dp = S8Dequant::at_or_null(dq, i0, j0, &d);
    switch (panels) {
      case 1: tile<R, 1>(K, a, lda, b, panel_bytes, col_sums + j0, n, c, ldc, dp); break;
      case 2: tile<R, 2>(K, a, lda, b, panel_bytes, col_sums + j0, n, c, ldc, dp); break;
      case 3: tile<R, (V >= 3 ? 3 : V)>(K, a, lda, b, panel_bytes, col_sums + j0, n, c, ldc, dp); break;
      default: tile<R, V>(K, a, lda, b, panel_bytes, col_sums + j0, n, c, ldc, dp); break;
    }
  }
}

void vnni(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const void* packed, const int32_t* col_sums,
          int64_t p0, int64_t p1, int32_t* C, int64_t ldc, int16_t*, const S8Dequant* dq) {
  const int64_t panel_bytes = (K + 3) / 4 * 64;
  const int8_t* pb = static_cast<const int8_t*>(packed);
  int64_t i0 = 0;
  for (; i0 + 8 <= M; i0 += 8) row_group<8, 3>(N, K, A, lda, pb, panel_bytes, col_sums, p0, p1, i0, C, ldc, dq);
  for (; i0 < M; i0 += 4) {
    switch (M - i0) {
      case 1: row_group<1, 4>(N, K, A, lda, pb, panel_bytes, col_sums, p0, p1, i0, C, ldc, dq); break;
      case 2: row_group<2, 4>(N, K, A, lda, pb, panel_bytes, col_sums, p0, p1, i0, C, ldc, dq); break;
      case 3: row_group<3, 4>(N, K, A, lda, pb, panel_bytes, col_sums, p0, p1, i0, C, ldc, dq); break;
      default: row_group<4, 4>(N, K, A, lda, pb, panel_bytes, col_sums, p0, p1, i0, C, ldc, dq); break;
    }
  }
}

// ---- AMX ---------------------------------------------------------------------------------------------------------
// Blocks of 32 rows x 2 panels: C in tiles 0-3 (16 rows x 16 int32 each: rows 0-15 x panels 0, 1, then rows 16-31),
// A in tiles 4, 5 (16 rows x 64 bytes: 64 k), B in tiles 6, 7 (16 groups of 4 k x 16 columns: 1 KiB of a VNNI
// panel, so one packing serves both kernels). tdpbssd multiplies signed bytes by signed bytes: neither the +128 nor
// the column sums. Every tile is 16 x 64 bytes; a block with fewer rows, or K not a multiple of 64, is copied into
// scratch with zeros past its rows and K, so a tile reads nothing undefined from A; past K4 in the last chunk B reads
// the next panel (or the packing's 1 KiB of zeros past the last), which meets only those zeros of A.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// A block of up to 16 rows (each thread's part of a 32-row batch at two threads) computes 4 pairs of panels before
// draining them, row by row across the 8 panels. Rows ldc apart with ldc * 4 bytes a multiple of 4 KiB (an LSTM's
// gates, (B, T, 4U) floats: step t's rows are T * 4U apart) put one column's line of every row in the same L1 set;
// draining a pair at a time kept 16 lines of one set in flight and its loads and stores of C evicted each other.
// One row across 8 panels spreads them over 8 sets: M = 16, K = 128, N = 512 with such rows 4.8 -> 3.9 us; the
// int8 LSTM(128) at two threads 3-5% faster. (Blocks of 32 rows drained this way, 2 or 4 panels a group, were
// 4-8% slower in the LSTM at one thread, for no reason found; they keep the pair at a time.)
constexpr int kAmxGroupPairs = 4;

// Row i, columns j0 .. j0 + 15 (mask m) of the products v: into C, or dequantized.
inline void put_row(__m512i v, __mmask16 m, const S8Dequant* dq, int32_t* C, int64_t ldc, int64_t i, int64_t j0) {
  if (dq != nullptr)
    dequant_store(v, m, *dq, i, j0);
  else
    _mm512_mask_storeu_epi32(C + i * ldc + j0, m, v);
}

// Rows 0-15 (and 16-31 when two) of A times panels b0 (and b1 when pair), K in chunks of 64 bytes, into tiles 0-3
// and out to o0 (rows 0-15 x b0), o1 (x b1), o2, o3 (rows 16-31): 16 x 16 int32 each. Only what is computed is
// stored.
__attribute__((target("amx-tile,amx-int8,avx512f,avx512bw"), always_inline)) inline void amx_pair(
    const int8_t* a, int64_t la, const int8_t* b0, const int8_t* b1, int64_t chunks, bool pair, bool two,
    int32_t* o0, int32_t* o1, int32_t* o2, int32_t* o3) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t c = 0; c < chunks; ++c) {
    _tile_loadd(4, a + 64 * c, la);
    _tile_loadd(6, b0 + 1024 * c, 64);
    _tile_dpbssd(0, 4, 6);
    if (pair) {
      _tile_loadd(7, b1 + 1024 * c, 64);
      _tile_dpbssd(1, 4, 7);
    }
    if (two) {
      _tile_loadd(5, a + 16 * la + 64 * c, la);
      _tile_dpbssd(2, 5, 6);
      if (pair) _tile_dpbssd(3, 5, 7);
    }
  }
  _tile_stored(0, o0, 64);
  if (pair) _tile_stored(1, o1, 64);
  if (two) {
    _tile_stored(2, o2, 64);
    if (pair) _tile_stored(3, o3, 64);
  }
}

__attribute__((target("amx-tile,amx-int8,avx512f,avx512bw"))) void amx(
    int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const void* packed, const int32_t*, int64_t p0,
    int64_t p1, int32_t* C, int64_t ldc, int16_t* scratch, const S8Dequant* dq) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  // The tile intrinsics are asm statements that take their memory operands as addresses: these barriers make the
  // stores they read (cfg, the copied rows) happen before them, and the loads of their stores (out) after.
  __asm__ volatile("" : : "r"(&cfg) : "memory");
  _tile_loadconfig(&cfg);
  const int64_t K4 = (K + 3) / 4, chunks = (K4 + 15) / 16, panel_bytes = K4 * 64, K64 = 64 * chunks;
  const int8_t* pb = static_cast<const int8_t*>(packed);
  int8_t* pad = reinterpret_cast<int8_t*>(scratch);  // kAmxBlockRows x K64 bytes
  alignas(64) int32_t out[2 * kAmxGroupPairs][256];
  for (int64_t i0 = 0; i0 < M; i0 += kAmxBlockRows) {
    const int64_t r = M - i0 < kAmxBlockRows ? M - i0 : kAmxBlockRows;
    const int8_t* a = A + i0 * lda;
    int64_t la = lda;
    // (A block of exactly 16 rows reads only its own rows: tile 4 alone.)
    if ((r < kAmxBlockRows && r != 16) || K != K64) {
      for (int64_t i = 0; i < kAmxBlockRows; ++i) {
        int8_t* d = pad + i * K64;
        const int64_t n = i < r ? K : 0;
        if (n > 0) std::memcpy(d, a + i * lda, static_cast<size_t>(n));
        std::memset(d + n, 0, static_cast<size_t>(K64 - n));
      }
      a = pad;
      la = K64;
      __asm__ volatile("" : : : "memory");
    }
    if (r <= 16) {  // groups of 4 pairs, drained row by row across their panels (out[t]: panel g0 + t)
      for (int64_t g0 = p0; g0 < p1; g0 += 2 * kAmxGroupPairs) {
        const int64_t g1 = p1 - g0 < 2 * kAmxGroupPairs ? p1 : g0 + 2 * kAmxGroupPairs;
        for (int64_t p = g0; p < g1; p += 2)
          amx_pair(a, la, pb + p * panel_bytes, pb + (p + 1) * panel_bytes, chunks, p + 1 < g1, false, out[p - g0],
                   out[p - g0 + 1], nullptr, nullptr);
        __asm__ volatile("" : : : "memory");
        for (int64_t i = 0; i < r; ++i)
          for (int64_t p = g0; p < g1; ++p)
            put_row(_mm512_load_si512(out[p - g0] + 16 * i), lanes(N - 16 * p), dq, C, ldc, i0 + i, 16 * p);
      }
      continue;
    }
    for (int64_t p = p0; p < p1; p += 2) {  // a pair at a time (out[0], out[1]: rows 0-15; out[2], out[3]: 16-31)
      const bool pair = p + 1 < p1;
      amx_pair(a, la, pb + p * panel_bytes, pb + (p + 1) * panel_bytes, chunks, pair, true, out[0], out[1], out[2],
               out[3]);
      __asm__ volatile("" : : : "memory");
      for (int t = 0; t < (pair ? 2 : 1); ++t) {
        const int64_t j0 = 16 * (p + t);
        const __mmask16 m = lanes(N - j0);
        for (int64_t i = 0; i < r; ++i)
          put_row(_mm512_load_si512(out[(i >= 16 ? 2 : 0) + t] + 16 * (i & 15)), m, dq, C, ldc, i0 + i, j0);
      }
    }
  }
  _tile_release();
}

void quantize_rows(int64_t M, int64_t K, const float* A, int64_t lda, int8_t* Q, int64_t ldq, float* scale) {
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  const int64_t tail = K % 16, K16 = K - tail;
  const __mmask16 tm = lanes(tail);
  for (int64_t i = 0; i < M; ++i) {
    const float* a = A + i * lda;
    int8_t* q = Q + i * ldq;
    // Four running maxima (max is exact: any order gives the same), so the loop is not one dependency chain. max
    // returns its second operand when either is NaN: the running maximum goes second, so a NaN of A is left out
    // (as the reference's amax < v does) and the maxima never become NaN.
    __m512 m = _mm512_setzero_ps(), m1 = m, m2 = m, m3 = m;
    int64_t k = 0;
    for (; k + 64 <= K16; k += 64) {
      m = _mm512_maskz_max_ps(0xFFFF, _mm512_abs_ps(_mm512_loadu_ps(a + k)), m);
      m1 = _mm512_maskz_max_ps(0xFFFF, _mm512_abs_ps(_mm512_loadu_ps(a + k + 16)), m1);
      m2 = _mm512_maskz_max_ps(0xFFFF, _mm512_abs_ps(_mm512_loadu_ps(a + k + 32)), m2);
      m3 = _mm512_maskz_max_ps(0xFFFF, _mm512_abs_ps(_mm512_loadu_ps(a + k + 48)), m3);
    }
    for (; k < K16; k += 16) m = _mm512_maskz_max_ps(0xFFFF, _mm512_abs_ps(_mm512_loadu_ps(a + k)), m);
    if (tail) m = _mm512_maskz_max_ps(0xFFFF, _mm512_abs_ps(_mm512_maskz_loadu_ps(tm, a + K16)), m);
    m = _mm512_maskz_max_ps(0xFFFF, _mm512_maskz_max_ps(0xFFFF, m, m1), _mm512_maskz_max_ps(0xFFFF, m2, m3));
    // The largest lane by a shuffle tree, not a loop over the 16 lanes through memory (a chain of 16 compares: a
    // third of this function's time on rows of 128).
    const float amax = _mm512_reduce_max_ps(m);
    const float s = kQuantRange / (amax + kQuantEpsilon);
    scale[i] = s;
    const __m512 vs = _mm512_set1_ps(s);
    // vcvtps2dq rounds to nearest even (the default MXCSR mode), as numpy's and Keras's round.
    for (int64_t k = 0; k < K16; k += 16) {
      const __m512i v = _mm512_maskz_cvtps_epi32(0xFFFF, _mm512_mul_ps(_mm512_loadu_ps(a + k), vs));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k), _mm512_maskz_cvtsepi32_epi8(0xFFFF, _mm512_maskz_min_epi32(0xFFFF, _mm512_maskz_max_epi32(0xFFFF, v, lo), hi)));
    }
    if (tail) {
      const __m512i v = _mm512_maskz_cvtps_epi32(0xFFFF, _mm512_mul_ps(_mm512_maskz_loadu_ps(tm, a + K16), vs));
      _mm512_mask_cvtsepi32_storeu_epi8(q + K16, tm, _mm512_maskz_min_epi32(0xFFFF, _mm512_maskz_max_epi32(0xFFFF, v, lo), hi));
    }
  }
}

}  // namespace

const GemmS8Kernel gemm_s8_kernel_vnni = vnni;
const GemmS8Kernel gemm_s8_kernel_amx = amx;
const QuantizeRowsKernel quantize_rows_avx512 = quantize_rows;

}  // namespace nncore::kernels
