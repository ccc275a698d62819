// C (M x N) = beta * C + op(A) (M x K) * op(B) (K x N), float32, row-major.
// BLIS-style: five loops (JC over N by NC, PC over K by KC, IC over M by MC, JR by NR, IR by MR) around an
// MR x NR micro-kernel of the active ISA, on A and B panels packed into reused, 64-byte aligned buffers.
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "kernels/gemm_internal.hpp"
#include "kernels/kernels.hpp"
#include "kernels/thread_buffer.hpp"
#include "kernels/thread_pool.hpp"

namespace nncore::kernels {

// ---- reference ----------------------------------------------------------------------------------------------

void gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const float a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += static_cast<double>(a) * b;
      }
      float& c = C[i * ldc + j];
      c = beta == 0.0f ? static_cast<float>(acc) : static_cast<float>(beta * static_cast<double>(c) + acc);
    }
  }
}

// ---- kernel selection -----------------------------------------------------------------------------------------

const GemmKernel& gemm_active_kernel() {
#if defined(NNCORE_X86)
  switch (active_isa()) {
    case Isa::avx512: return gemm_kernel_avx512;
    case Isa::avx2: return gemm_kernel_avx2;
    default: break;
  }
#endif
  return gemm_kernel_generic;
}

namespace {

// ---- packing buffers ------------------------------------------------------------------------------------------

thread_local ThreadBuffer tls_pack_a;
thread_local ThreadBuffer tls_pack_b;
thread_local ThreadBuffer tls_small_m;  // the small-M kernel's panels

// ---- packing --------------------------------------------------------------------------------------------------

// dst[k * R + r] = src[r * ld + k] for r < rows, k < kc, zero for rows <= r < R: the gather that packing needs
// when the strip runs across the stored rows (A not transposed, B transposed). Full strips go through 4 x 4
// SSE transposes (SSE is part of the x86-64 baseline), several times faster than one float at a time.
void gather_strip(const float* src, int64_t ld, int rows, int64_t kc, int R, float* dst) {
  int64_t k = 0;
#if defined(__SSE__)
  if (rows == R && R % 4 == 0) {
    for (; k + 4 <= kc; k += 4) {
      for (int r = 0; r < R; r += 4) {
        __m128 x0 = _mm_loadu_ps(src + (r + 0) * ld + k), x1 = _mm_loadu_ps(src + (r + 1) * ld + k);
        __m128 x2 = _mm_loadu_ps(src + (r + 2) * ld + k), x3 = _mm_loadu_ps(src + (r + 3) * ld + k);
        _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
        _mm_storeu_ps(dst + (k + 0) * R + r, x0);
        _mm_storeu_ps(dst + (k + 1) * R + r, x1);
        _mm_storeu_ps(dst + (k + 2) * R + r, x2);
        _mm_storeu_ps(dst + (k + 3) * R + r, x3);
      }
    }
  }
#endif
  for (; k < kc; ++k) {
    for (int r = 0; r < rows; ++r) dst[k * R + r] = src[r * ld + k];
    for (int r = rows; r < R; ++r) dst[k * R + r] = 0.0f;
  }
}

// op(A)[i0 : i0+mc, p0 : p0+kc] into MR-row strips, a[s * kc * MR + k * MR + i]; rows past mc are zero so the
// micro-kernel never sees a ragged edge.
void pack_a(bool trans_a, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int MR,
            float* dst) {
  for (int64_t s = 0; s < mc; s += MR) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, mc - s));
    if (trans_a) {
      // A is stored K x M: each k gives mr contiguous floats of the strip.
      const float* src = A + p0 * lda + i0 + s;
      for (int64_t k = 0; k < kc; ++k, src += lda, dst += MR) {
        for (int i = 0; i < mr; ++i) dst[i] = src[i];
        for (int i = mr; i < MR; ++i) dst[i] = 0.0f;
      }
    } else {
      // A is stored M x K: the strip runs across its rows.
      gather_strip(A + (i0 + s) * lda + p0, lda, mr, kc, MR, dst);
      dst += kc * MR;
    }
  }
}

// op(B)[p0 : p0+kc, j0 : j0+nc] into NR-column strips, b[s * kc * NR + k * NR + j]; columns past nc are zero.
void pack_b(bool trans_b, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int NR,
            float* dst) {
  for (int64_t s = 0; s < nc; s += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, nc - s));
    if (!trans_b) {
      // B is stored K x N: each k gives nr contiguous floats of the strip.
      const float* src = B + p0 * ldb + j0 + s;
      for (int64_t k = 0; k < kc; ++k, src += ldb, dst += NR) {
        // A plain loop, not memcpy: a library call per 16..32 floats costs more than the copy.
        for (int j = 0; j < nr; ++j) dst[j] = src[j];
        for (int j = nr; j < NR; ++j) dst[j] = 0.0f;
      }
    } else {
      // B is stored N x K: the strip runs across its rows.
      gather_strip(B + (j0 + s) * ldb + p0, ldb, nr, kc, NR, dst);
      dst += kc * NR;
    }
  }
}

// ---- blocking -------------------------------------------------------------------------------------------------

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Block size for `n` split into blocks of at most `max_block` (a multiple of `step`), evened out so that the last
// block is not a sliver: K = 784 with KC = 256 gives 4 x 196, not 256, 256, 256, 16.
int64_t even_block(int64_t n, int64_t max_block, int64_t step) {
  const int64_t blocks = ceil_div(n, max_block);
  return ceil_div(ceil_div(n, blocks), step) * step;
}

// The K slab depth: from K alone, so that every thread split (and a pre-packed B) sums over the same slabs.
int64_t slab_depth(int64_t K, const GemmKernel& uk) { return even_block(K, uk.KC, 8); }

// ---- the five loops on one thread's block of C ----------------------------------------------------------------

struct Problem {
  bool trans_a, trans_b;
  int64_t M, N, K;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t rs_c, cs_c;  // C[i][j] is C[i * rs_c + j * cs_c]: (ldc, 1), or (1, ldc) when computing C^T
  bool swapped;        // computing C^T: rows of this problem are columns of the caller's C
  const GemmEpilogue* ep;  // null: none
  const GemmPackedB* packed = nullptr;  // op(B) already packed for this kernel: B and ldb are not read
};

// The epilogue on the finished mr x nr tile at (i0, j0) of the problem. Bias runs along the caller's columns,
// which are this problem's rows when it is swapped; either way the inner loop walks contiguous memory.
void apply_epilogue(const Problem& p, int64_t i0, int64_t j0, int64_t mr, int64_t nr) {
  const GemmEpilogue& ep = *p.ep;
  if (ep.bias == nullptr && !ep.relu && ep.preact == nullptr) return;  // only the block hook
  float* const c0 = p.C + i0 * p.rs_c + j0 * p.cs_c;
  float* const z0 = ep.preact != nullptr ? ep.preact + (c0 - p.C) : nullptr;
  const int64_t outer = p.swapped ? nr : mr, inner = p.swapped ? mr : nr, ld = p.swapped ? p.cs_c : p.rs_c;
  const float* bias = ep.bias != nullptr ? ep.bias + (p.swapped ? i0 : j0) : nullptr;
  for (int64_t o = 0; o < outer; ++o) {
    float* __restrict c = c0 + o * ld;
    float* __restrict z = z0 != nullptr ? z0 + o * ld : nullptr;
    if (bias != nullptr)
      for (int64_t k = 0; k < inner; ++k) c[k] += bias[k];
    if (z != nullptr)
      for (int64_t k = 0; k < inner; ++k) z[k] = c[k];
    if (ep.relu)  // NaN stays NaN, as in act_forward: a diverged weight must not turn into a quiet 0
      for (int64_t k = 0; k < inner; ++k) c[k] = c[k] < 0.f ? 0.f : c[k];
  }
}

// A feeds the micro-kernel in place (no packing) when the columns it meets are at most this many: then few
// column strips would reuse a packed copy, and the packing would cost more than it saves. Row-major A is read
// a row per tile row (rs_a = lda), transposed A a contiguous MR-float run per k (cs_a = lda).
constexpr int64_t direct_a_max_n = 512;

// C[m0 : m1, n0 : n1] of the problem, sequentially. m0 and n0 are multiples of MR and NR, and every block size
// below is too, so each tile sits at the same place in C whatever the thread split: with the K slabs fixed by K
// alone, results are bit-identical across thread counts.
void gemm_block(const Problem& p, const GemmKernel& uk, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int MR = uk.MR, NR = uk.NR;
  const int64_t KC = slab_depth(p.K, uk);
  const int64_t MC = even_block(m1 - m0, std::max<int64_t>(uk.MC / MR, 1) * MR, MR);
  const int64_t NC = even_block(n1 - n0, std::max<int64_t>(uk.NC / NR, 1) * NR, NR);
  float* pa = tls_pack_a.get(MC * KC);
  float* pb = p.packed != nullptr ? nullptr : tls_pack_b.get(KC * NC);
  const bool direct_a = (n1 - n0) <= direct_a_max_n;
  alignas(64) float edge[1024];  // one C tile for the ragged borders (MR * NR <= 1024 for every kernel)

  for (int64_t jc = n0; jc < n1; jc += NC) {  // JC: B block in L3
    const int64_t nc = std::min(NC, n1 - jc);
    for (int64_t pc = 0; pc < p.K; pc += KC) {  // PC: K slab; beta applies to the first slab only
      const int64_t kc = std::min(KC, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;
      const bool last_slab = pc + kc >= p.K;
      // The strips of columns jc.. of this slab: packed now, or where gemm_pack_b put them (the strip of column
      // j of slab pc starts at pc * NP + j * kc, as every strip before it holds kc x NR floats).
      const float* pbc = pb;
      if (p.packed != nullptr) pbc = p.packed->data() + pc * p.packed->NP + jc * kc;
      else pack_b(p.trans_b, p.B, p.ldb, pc, kc, jc, nc, NR, pb);
      for (int64_t ic = m0; ic < m1; ic += MC) {  // IC: A block in L2
        const int64_t mc = std::min(MC, m1 - ic);
        if (!direct_a) pack_a(p.trans_a, p.A, p.lda, ic, mc, pc, kc, MR, pa);
        for (int64_t jr = 0; jr < nc; jr += NR) {  // JR: B micro-panel in L1
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          const float* b = pbc + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {  // IR: one MR x NR tile
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            const float* a = pa + ir * kc;
            int64_t rs_a = 1, cs_a = MR;
            if (direct_a && mr == MR) {
              if (p.trans_a) {
                a = p.A + pc * p.lda + ic + ir;
                cs_a = p.lda;
              } else {
                a = p.A + (ic + ir) * p.lda + pc;
                rs_a = p.lda;
                cs_a = 1;
              }
            } else if (direct_a && jr == 0) {  // a ragged strip would read past A: pack it, once per slab
              pack_a(p.trans_a, p.A, p.lda, ic + ir, mr, pc, kc, MR, pa + ir * kc);
            }
            float* c = p.C + (ic + ir) * p.rs_c + (jc + jr) * p.cs_c;
            if (mr == MR && nr == NR && p.cs_c == 1) {
              uk.fn(kc, a, rs_a, cs_a, b, beta, c, p.rs_c);
              if (last_slab && p.ep != nullptr) apply_epilogue(p, ic + ir, jc + jr, mr, nr);
              continue;
            }
            // Ragged or transposed tile: run the full-size kernel on a copy so it neither reads nor writes
            // outside C. The copy goes through the same kernel arithmetic, so every element rounds alike.
            if (beta != 0.0f)
              for (int64_t i = 0; i < mr; ++i)
                for (int64_t j = 0; j < nr; ++j) edge[i * NR + j] = c[i * p.rs_c + j * p.cs_c];
            uk.fn(kc, a, rs_a, cs_a, b, beta, edge, NR);
            for (int64_t i = 0; i < mr; ++i)
              for (int64_t j = 0; j < nr; ++j) c[i * p.rs_c + j * p.cs_c] = edge[i * NR + j];
            if (last_slab && p.ep != nullptr) apply_epilogue(p, ic + ir, jc + jr, mr, nr);
          }
        }
      }
    }
  }
}

// ---- thread split ---------------------------------------------------------------------------------------------

// Range [begin, end) of part `idx` of `parts`, cutting [0, n) only at multiples of `step`.
void split_range(int64_t n, int64_t step, int parts, int idx, int64_t* begin, int64_t* end) {
  const int64_t units = ceil_div(n, step), base = units / parts, rem = units % parts;
  const int64_t u0 = idx * base + std::min<int64_t>(idx, rem);
  const int64_t u1 = u0 + base + (idx < rem ? 1 : 0);
  *begin = std::min(n, u0 * step);
  *end = std::min(n, u1 * step);
}

// Each thread owns a rectangle of C from a tm x tn grid and packs what it needs itself: no barriers, no shared
// writes, no split of K. Choose the grid that minimises the busiest thread's cost: padded micro-kernel FMAs plus
// packing, which a grid repeats (splitting N makes every thread pack all of its A rows, splitting M all of its B).
void choose_grid(const Problem& p, const GemmKernel& uk, int nt, int* tm_out, int* tn_out) {
  constexpr double pack_cost = 4.0;  // one packed float costs about as much as this many FMAs
  const int64_t m_tiles = ceil_div(p.M, uk.MR), n_tiles = ceil_div(p.N, uk.NR);
  double best = 0.0;
  for (int tm = 1; tm <= nt; ++tm) {
    if (nt % tm != 0) continue;
    const int tn = nt / tm;
    if (tm > m_tiles || tn > n_tiles) continue;
    const double rows = static_cast<double>(ceil_div(m_tiles, tm) * uk.MR);
    const double cols = static_cast<double>(ceil_div(n_tiles, tn) * uk.NR);
    const double k = static_cast<double>(p.K);
    const double a_packs = static_cast<double>(ceil_div(static_cast<int64_t>(cols), uk.NC));
    const double b_packs = p.packed != nullptr ? 0.0 : 1.0;  // each (jc, pc) block of B is packed once per thread
    const double cost = rows * cols * k + pack_cost * k * (rows * a_packs + cols * b_packs);
    if (best == 0.0 || cost < best) {
      best = cost;
      *tm_out = tm;
      *tn_out = tn;
    }
  }
}

// Rough single-thread cost, in FMA-cycles, of computing p as laid out: padded micro-kernel work plus packing
// (a gather from a transposed layout costs about twice a row copy) plus the transposing C copy that a
// swapped problem pays per tile and K slab. Used only to pick between C and C^T, so only ratios matter.
double layout_cost(const Problem& p, const GemmKernel& uk, bool swapped) {
  const double M = static_cast<double>(p.M), N = static_cast<double>(p.N), K = static_cast<double>(p.K);
  const double padded = static_cast<double>(ceil_div(p.M, uk.MR) * uk.MR) *
                        static_cast<double>(ceil_div(p.N, uk.NR) * uk.NR) * K;
  const double fma_per_cycle = 16.0;
  const double gather = 0.5, copy = 0.25;
  const bool direct_a = p.N <= direct_a_max_n;
  const double pack_a =
      direct_a ? 0.0 : M * K * static_cast<double>(ceil_div(p.N, uk.NC)) * (p.trans_a ? copy : gather);
  const double pack_b = N * K * static_cast<double>(ceil_div(p.M, uk.MC)) * (p.trans_b ? gather : copy);
  const double c_copy = swapped ? 2.0 * M * N * static_cast<double>(ceil_div(p.K, uk.KC)) : 0.0;
  return padded / fma_per_cycle + pack_a + pack_b + c_copy;
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, GemmEpilogue{});
}

namespace {

// The narrow kernel takes C of at most narrow_nr columns when B is row-major: it reads B in place.
bool takes_narrow(const GemmKernel& uk, bool trans_b, int64_t N) {
  return uk.narrow != nullptr && !trans_b && N <= uk.narrow_nr;
}

// The small-M kernel takes C of at most small_m_max rows (wider than the narrow kernel's) when B is row-major: for
// up to 4 rows always (B is read once, packing would read and write it), for more while B stays in L2 (each group of
// 4 or 8 rows reads it again). Measured on Zen 4 against the packed path: 32 x 784 x 256 at 98 vs 88 GFLOP/s on one
// core, 200 vs 164 on two; 256 x 784 x 256 114 vs 109 and 223 vs 209; 64 x 1024 x 1024 (4 MiB of B) 88 vs 95,
// so not taken. From the shapes alone, so that
// a product never changes its summation order with the thread count.
constexpr int64_t kSmallMMaxB = int64_t{1} << 18;  // floats of B (1 MiB)
bool takes_small_m(const GemmKernel& uk, bool trans_b, int64_t M, int64_t N, int64_t K) {
  return uk.small_m != nullptr && !trans_b && N > uk.narrow_nr &&
         (M <= 4 || (M <= uk.small_m_max && K * N <= kSmallMMaxB));
}

const GemmEpilogue* epilogue_or_null(const GemmEpilogue& ep) {
  return ep.bias != nullptr || ep.relu || ep.preact != nullptr || ep.on_block != nullptr ? &ep : nullptr;
}

// The epilogue's block hook on rows [m0, m1) x columns [n0, n1) of problem p (the caller's columns and rows when p
// is the swapped problem).
void finish_block(const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (p.ep == nullptr || p.ep->on_block == nullptr) return;
  if (p.swapped) p.ep->on_block(p.ep->on_block_ctx, n0, n1, m0, m1);
  else p.ep->on_block(p.ep->on_block_ctx, m0, m1, n0, n1);
}

// A block hook gets whole rows of the caller's C when they go round (at least one split unit of `unit` rows per
// thread): one contiguous part per thread, so that an optimizer step on it is one call, not one per row.
bool hook_takes_rows(const GemmEpilogue* ep, int64_t rows, int64_t unit, int nt) {
  return ep != nullptr && ep->on_block != nullptr && ceil_div(rows, unit) >= nt;
}

// Runs problem p (K > 0) on the threads that its size is worth (one when serial): each thread owns a rectangle of
// a tm x tn grid over C (see choose_grid) and runs the five loops on it.
void run_grid(const Problem& p, const GemmKernel& uk, bool serial) {
  int nt = serial ? 1
                  : threads_for(2.0 * static_cast<double>(p.M) * static_cast<double>(p.N) * static_cast<double>(p.K));
  int tm = 1, tn = 1;
  if (nt > 1) {
    choose_grid(p, uk, nt, &tm, &tn);
    const bool rows_are_m = !p.swapped;  // the caller's rows: M, or N of the swapped problem
    if (hook_takes_rows(p.ep, rows_are_m ? p.M : p.N, rows_are_m ? uk.MR : uk.NR, nt)) {
      tm = rows_are_m ? nt : 1;
      tn = rows_are_m ? 1 : nt;
    }
    nt = tm * tn;  // 1 when the problem is too small to split along M or N
  }
  if (nt == 1) {
    gemm_block(p, uk, 0, p.M, 0, p.N);
    finish_block(p, 0, p.M, 0, p.N);
    return;
  }
  // Threads write disjoint rectangles of C and only read A and B: no race. Rectangles are dealt round-robin
  // so that all are computed when the pool grants fewer threads than asked (nested regions, a busy pool).
  parallel_run(nt, [&](int t, int granted) {
    for (int r = t; r < tm * tn; r += granted) {
      int64_t m0, m1, n0, n1;
      split_range(p.M, uk.MR, tm, r / tn, &m0, &m1);
      split_range(p.N, uk.NR, tn, r % tn, &n0, &n1);
      if (m0 < m1 && n0 < n1) {
        gemm_block(p, uk, m0, m1, n0, n1);
        finish_block(p, m0, m1, n0, n1);
      }
    }
  });
}

// small_m_packed: B packed once for the small-M kernel (gemm_pack_b_small_m), or null.
void gemm_impl(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& epilogue,
               bool serial, const float* small_m_packed = nullptr) {
  if (M <= 0 || N <= 0) return;
  const GemmEpilogue* ep = epilogue_or_null(epilogue);
  if (K <= 0) {  // op(A) * op(B) is all zeros: C = beta * C, without reading C when beta == 0
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    if (ep != nullptr) {
      const Problem whole{trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, 1, false, ep};
      apply_epilogue(whole, 0, 0, M, N);
      finish_block(whole, 0, M, 0, N);
    }
    return;
  }
  const GemmKernel& uk = gemm_active_kernel();
  Problem p{trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, 1, false, ep};
  if (takes_narrow(uk, trans_b, N)) {
    // Narrow C: threads take disjoint row ranges, each row computed whole (all of K) by one thread.
    const int64_t rs_a = trans_a ? 1 : lda, cs_a = trans_a ? lda : 1;
    const auto rows = [&](int64_t m0, int64_t m1) {
      uk.narrow(m1 - m0, N, K, A + m0 * rs_a, rs_a, cs_a, B, ldb, beta, C + m0 * ldc, ldc);
      if (ep != nullptr) apply_epilogue(p, m0, 0, m1 - m0, N);
      finish_block(p, m0, m1, 0, N);
    };
    const int64_t tiles = ceil_div(M, uk.narrow_mr);
    const int nt = serial ? 1 : static_cast<int>(std::min<int64_t>(
        tiles, threads_for(2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K))));
    if (nt <= 1) {
      rows(0, M);
      return;
    }
    parallel_run(nt, [&](int t, int granted) {
      for (int r = t; r < nt; r += granted) {
        int64_t m0, m1;
        split_range(M, uk.narrow_mr, nt, r, &m0, &m1);
        if (m0 < m1) rows(m0, m1);
      }
    });
    return;
  }
  if (takes_small_m(uk, trans_b, M, N, K)) {
    // Few rows: threads take disjoint column ranges (multiples of 64 floats), or row ranges (multiples of 4) when
    // the columns are too few to go round; every element of C is the same k-ordered sum whichever tile computes
    // it, so the split never changes a result.
    const int64_t rs_a = trans_a ? 1 : lda, cs_a = trans_a ? lda : 1;
    // Bias and relu go into the kernel's store, unless the pre-activation is kept too.
    const bool fused = ep != nullptr && ep->preact == nullptr;
    const SmallMStore store{fused ? ep->bias : nullptr, fused && ep->relu};
    const auto block = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
      float* scratch = uk.small_m_scratch > 0 ? tls_small_m.get(uk.small_m_scratch) : nullptr;
      // (n0 is a multiple of 64 columns, so of the packed unit: that unit starts at n0 K)
      uk.small_m(m1 - m0, n1 - n0, K, A + m0 * rs_a, rs_a, cs_a, B + n0, ldb, beta, C + m0 * ldc + n0, ldc,
                 store.from(n0), scratch, small_m_packed != nullptr ? small_m_packed + n0 * K : nullptr);
      if (ep != nullptr && !fused) apply_epilogue(p, m0, n0, m1 - m0, n1 - n0);
      finish_block(p, m0, m1, n0, n1);
    };
    // With one or two row groups the kernel waits on B's memory more than on its FMAs: a float of B read per
    // group counts as 16 flops, so that a B of 256 KiB or more per thread is split (each core reading its part).
    const double work = std::max(2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K),
                                 16.0 * static_cast<double>(K * N) * static_cast<double>(ceil_div(M, 4)));
    const int nt = serial ? 1 : static_cast<int>(std::min<int64_t>(std::max(ceil_div(N, 64), ceil_div(M, 4)),
                                                                   threads_for(work)));
    if (nt <= 1) {
      block(0, M, 0, N);
      return;
    }
    const bool rows_for_hook = hook_takes_rows(ep, M, 4, nt);
    // Two threads take row ranges also when each gets kSmallMPackedRows rows or more (both then pack all of B's
    // strips, each reading its half of A): MLP predict, 256 x 784 x 256 and 256 x 256 x 256, 509 -> 475 us (128
    // rows: 273 -> 267 us). Measured on two cores only: with more threads each would pack all of B for a smaller
    // share of the product, so they keep the columns.
    const bool rows_packed = nt == 2 && M >= kSmallMPackedRows * nt;
    const bool by_columns = ceil_div(N, 64) >= nt && !rows_for_hook && !rows_packed;
    parallel_run(nt, [&](int t, int granted) {
      for (int r = t; r < nt; r += granted) {
        int64_t b0, b1;
        split_range(by_columns ? N : M, by_columns ? 64 : 4, nt, r, &b0, &b1);
        if (b0 < b1) by_columns ? block(0, M, b0, b1) : block(b0, b1, 0, N);
      }
    });
    return;
  }
  // C^T = op(B)^T op(A)^T is the same product with the roles of M and N swapped. Computing it instead pays when
  // it fills the MR x NR tiles better (N = 10 wastes most of a 16- or 32-wide tile) or packs less (dY W^T
  // with a small batch: W then feeds the micro-kernel in place instead of being gathered), even though every
  // tile then goes through the transposing edge copy. The choice depends on the shapes only, not on threads.
  const Problem swapped{!trans_b, !trans_a, N, M, K, B, ldb, A, lda, beta, C, 1, ldc, true, ep};
  if (layout_cost(swapped, uk, true) < layout_cost(p, uk, false)) p = swapped;
  run_grid(p, uk, serial);
}

void gemm_packed_b_impl(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                        const GemmPackedB& packed, float beta, float* C, int64_t ldc, const GemmEpilogue& epilogue,
                        bool serial) {
  if (N != packed.N || K != packed.K)
    throw std::invalid_argument("gemm_packed_b: expected N, K = " + std::to_string(packed.N) + ", " +
                                std::to_string(packed.K) + " (the packed B's), got " + std::to_string(N) + ", " +
                                std::to_string(K));
  const GemmKernel& uk = gemm_active_kernel();
  // Nothing packed (narrow or empty), packed for a kernel no longer active, few rows, or laid out for the small-M
  // kernel: gemm on the original B, exactly as gemm would compute it (the same sums for the same shapes, packed or
  // not), the small-M kernel reading its packed layout when there is one.
  if (packed.kernel != &uk || takes_small_m(uk, packed.trans_b, M, N, K) || packed.small_m) {
    const float* small_m_packed = packed.kernel == &uk && packed.small_m ? packed.data() : nullptr;
    gemm_impl(trans_a, packed.trans_b, M, N, K, A, lda, packed.B, packed.ldb, beta, C, ldc, epilogue, serial,
              small_m_packed);
    return;
  }
  if (M <= 0) return;
  // Never the C^T layout: that would need op(A) packed as the B operand, and B is what is packed here.
  const Problem p{trans_a, packed.trans_b, M, N, K, A, lda, packed.B, packed.ldb, beta, C, ldc, 1, false,
                  epilogue_or_null(epilogue), &packed};
  run_grid(p, uk, serial);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& epilogue) {
  gemm_impl(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, epilogue, false);
}

bool gemm_small_m_rows(int64_t M, int64_t N, int64_t K) {
  return takes_small_m(gemm_active_kernel(), false, M, N, K);
}

bool gemm_small_m_reads_packed(int64_t M, int64_t N, int64_t K) {
  const GemmKernel& uk = gemm_active_kernel();
  return uk.small_m_unit > 0 && M >= kSmallMPackedRows && takes_small_m(uk, false, M, N, K);
}

void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& epilogue) {
  gemm_impl(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, epilogue, true);
}

// ---- pre-packed B ---------------------------------------------------------------------------------------------

namespace {
// What packed describes, nothing packed yet (its buffer kept for reuse).
void describe(GemmPackedB* packed, bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, bool small_m) {
  packed->trans_b = trans_b;
  packed->K = K;
  packed->N = N;
  packed->B = B;
  packed->ldb = ldb;
  packed->kernel = nullptr;
  packed->small_m = small_m;
  packed->KC = packed->NP = 0;
}
}  // namespace

void gemm_pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, GemmPackedB* packed,
                 int64_t max_m) {
  const GemmKernel& uk = gemm_active_kernel();
  describe(packed, trans_b, K, N, B, ldb, false);
  // gemm would pack nothing here: the narrow kernel reads B in place, the small-M kernel too for every product
  // of at most max_m rows (it takes all M below one it takes), and an empty product reads no B.
  if (K <= 0 || N <= 0 || takes_narrow(uk, trans_b, N) || (max_m >= 0 && takes_small_m(uk, trans_b, max_m, N, K)))
    return;
  const int64_t KC = slab_depth(K, uk), NP = ceil_div(N, uk.NR) * uk.NR;
  float* dst = packed->buffer.get(K * NP);
  for (int64_t pc = 0; pc < K; pc += KC)
    pack_b(trans_b, B, ldb, pc, std::min(KC, K - pc), 0, N, uk.NR, dst + pc * NP);  // slab pc at pc * NP
  packed->KC = KC;
  packed->NP = NP;
  packed->kernel = &uk;
}

GemmPackedB gemm_pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb) {
  GemmPackedB packed;
  gemm_pack_b(trans_b, K, N, B, ldb, &packed);
  return packed;
}

void gemm_pack_b_small_m(int64_t K, int64_t N, const float* B, int64_t ldb, GemmPackedB* packed) {
  const GemmKernel& uk = gemm_active_kernel();
  describe(packed, false, K, N, B, ldb, true);
  if (K <= 0 || N <= 0 || uk.small_m_unit == 0 || takes_narrow(uk, false, N)) return;
  // Unit u (columns [u U, u U + U)) holds rows 0..K-1 of U floats, zero past N, at u U K.
  const int64_t U = uk.small_m_unit, NP = ceil_div(N, U) * U;
  float* dst = packed->buffer.get(K * NP);
  for (int64_t u0 = 0; u0 < N; u0 += U) {
    const int64_t w = std::min(U, N - u0);
    float* d = dst + u0 * K;
    for (int64_t k = 0; k < K; ++k, d += U) {
      const float* src = B + k * ldb + u0;
      for (int64_t j = 0; j < w; ++j) d[j] = src[j];
      for (int64_t j = w; j < U; ++j) d[j] = 0.0f;
    }
  }
  packed->NP = NP;
  packed->kernel = &uk;
}

void gemm_packed_b(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                   const GemmPackedB& packed, float beta, float* C, int64_t ldc, const GemmEpilogue& epilogue) {
  gemm_packed_b_impl(trans_a, M, N, K, A, lda, packed, beta, C, ldc, epilogue, false);
}

void gemm_packed_b_serial(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                          const GemmPackedB& packed, float beta, float* C, int64_t ldc, const GemmEpilogue& epilogue) {
  gemm_packed_b_impl(trans_a, M, N, K, A, lda, packed, beta, C, ldc, epilogue, true);
}

}  // namespace nncore::kernels
