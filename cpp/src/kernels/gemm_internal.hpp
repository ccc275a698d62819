#pragma once
// GEMM internals shared by gemm.cpp (packing, the five loops, threads) and the per-ISA micro-kernels.
// Packed layouts (MR, NR from the chosen kernel):
//   A panel: an MR-row strip of op(A), k-major: a[k * MR + i] = op(A)[i][k]
//   B panel: an NR-column strip of op(B), k-major: b[k * NR + j] = op(B)[k][j]
// Packing zero-pads ragged strips, so a micro-kernel always computes a full MR x NR tile.
#include <cstdint>

namespace nncore::kernels {

// C (MR x NR tile, row stride ldc) = beta * C + a * b, summed over kc steps.
// a[i * rs_a + k * cs_a] is row i of the A strip: a packed panel has (rs_a, cs_a) = (1, MR); a row-major A used
// in place has (lda, 1), which spares packing A when it would not be reused enough to pay for itself.
// b is a packed panel. beta == 0 stores without reading C (C may hold NaN); beta == 1 is a plain accumulate.
using GemmMicroKernel = void (*)(int64_t kc, const float* a, int64_t rs_a, int64_t cs_a, const float* b,
                                 float beta, float* c, int64_t ldc);

// Narrow C (N <= narrow_nr, e.g. the 10 logits of a classifier head): C (M x N) = beta * C + op(A) * B for a
// row-major B (K x N, row stride ldb) and op(A)[i][k] = a[i * rs_a + k * cs_a]. Neither operand is packed: each
// row of B is one masked vector load, each C row stays in a register over the whole of K. A tile of MR x NR
// would leave most of its columns (and FMAs) idle here, and the transposed problem pays a transposing copy
// per tile instead.
using GemmNarrowKernel = void (*)(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a,
                                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Few rows of C (M <= small_m_max: a batch of one to a few samples through a dense layer) with row-major B: the
// narrow kernel's contract, for any N. B is read in place, row k once per group of up to four rows of C (eight on
// AVX-512), with as many vectors of C per row in registers as the register file holds; packing all of B (a layer's
// weights) ahead would cost more than the product. From kSmallMPackedRows rows of C with beta 0, the SIMD kernels
// copy B a panel at a time (a strip of columns, up to 256 rows of it) into the thread's scratch, which every row
// group then reads from L1, C holding the partial sums between panels: the same sums as in place. A Dense layer's
// epilogue goes into the store (no pass over C after): C += bias[j] when bias is not null, then max(0, C) when relu
// (NaN and -0 kept), as gemm's apply_epilogue does.
constexpr int64_t kSmallMPackedRows = 64;

// The ISA translation units call from(): always inlined, so that no out-of-line copy compiled for one ISA can be
// the one the linker keeps for all.
struct SmallMStore {
  const float* bias;  // at the kernel's column 0
  bool relu;
  __attribute__((always_inline)) SmallMStore from(int64_t j) const {
    return {bias != nullptr ? bias + j : nullptr, relu};
  }
};
// scratch: the calling thread's small_m_scratch floats, 64-byte aligned (null when the kernel asks for none).
// packed: null, or B packed once in the kernel's layout (gemm_pack_b_small_m: units of small_m_unit columns, each all
// K rows, 64-byte aligned, zero past N; the unit of column 0 here), read instead of b from kSmallMPackedRows rows
// (where the kernel would otherwise copy B a panel at a time; below, B's 64-byte aligned rows read in place are as
// fast: MLP predict at batch 8 and 32 the same either way).
using GemmSmallMKernel = void (*)(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a,
                                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc, SmallMStore st,
                                  float* scratch, const float* packed);

// A micro-kernel and the blocking tuned for it. MC is a multiple of MR and NC of NR; an A block (MC x KC)
// is meant to stay in L2 and a B micro-panel (KC x NR) in L1.
struct GemmKernel {
  int MR;
  int NR;
  int64_t MC;
  int64_t KC;
  int64_t NC;
  GemmMicroKernel fn;
  int narrow_nr;            // widest N the narrow kernel takes; 0: none
  GemmNarrowKernel narrow;  // null: none
  int narrow_mr;            // rows per narrow tile (threads split M at multiples of it)
  int small_m_max;          // most rows of C the small-M kernel takes; 0: none
  GemmSmallMKernel small_m; // null: none
  int64_t small_m_scratch;  // floats of per-thread scratch the small-M kernel takes; 0: none
  int small_m_unit;         // columns per unit of B packed once for the small-M kernel; 0: it reads B in place only
  const char* name;
};

// Constant-initialized data, not functions: reading a descriptor never runs code compiled for an ISA the CPU
// may lack; only calling `fn` does, and gemm.cpp does that only for active_isa().
extern const GemmKernel gemm_kernel_generic;
#if defined(NNCORE_X86)
extern const GemmKernel gemm_kernel_avx2;
extern const GemmKernel gemm_kernel_avx512;
#endif

// The kernel for active_isa(); exposed for tests and benchmarks.
const GemmKernel& gemm_active_kernel();

}  // namespace nncore::kernels
