#pragma once
// int8 GEMM internals (gemm_s8.cpp: packing, dispatch, threads, the generic kernel and the reference; the per-ISA
// kernels in gemm_s8_avx2.cpp and gemm_s8_avx512.cpp). The packed layouts of B (K x N, int8), zero past K and N:
//   vnni:    16-column panels, k in groups of 4 bytes: byte ((p * K4 + g) * 16 + j) * 4 + t = B[4g + t][16p + j]
//            (vpdpbusd multiplies 4 unsigned bytes of A by 4 signed bytes of B per int32 lane: A goes in as
//            A + 128, and 128 * the column sums of B come off at the end; AMX's tdpbssd reads 16 groups of a
//            panel as one tile), followed by 1 KiB of zeros (a tile's reach past the last panel)
//   avx2:    8-column panels, k in pairs of int16: element ((p * K2 + g) * 8 + j) * 2 + t = B[2g + t][8p + j]
//            (vpmaddwd on sign-extended values: exact, where vpmaddubsw would saturate its int16 sums)
//   generic: B itself, row-major, in 16-column panels for the threads
#include <cstdint>

namespace nncore::kernels {

// Keras's "int8" quantization: symmetric, value_range (-127, 127), scale = 127 / (max |x| + 1e-7).
constexpr float kQuantRange = 127.f;
constexpr float kQuantEpsilon = 1e-7f;

enum class S8Path { generic = 0, avx2 = 1, vnni = 2 };

// Dequantization fused into a kernel's store (gemm_s8_dequant): the float result
// F[i][j] = (P[i][j] * inv_rs[i * rs_stride]) * inv_cs[j] (+ bias[j]) (+ F[i][j] when add_c), then max(0, .) when
// relu, of the int32 product P, with inv_* the reciprocals of the row and column scales. Pointers are at row 0 and
// column 0 of the kernel's C.
struct S8Dequant {
  const float* inv_rs;
  int64_t rs_stride;
  const float* inv_cs;
  const float* bias;
  bool add_c, relu;
  float* F;
  int64_t ldf;
  // The same at row i0 and column j0.
  S8Dequant at(int64_t i0, int64_t j0) const {
    return {inv_rs + i0 * rs_stride, rs_stride, inv_cs + j0, bias != nullptr ? bias + j0 : nullptr, add_c, relu,
            F + i0 * ldf + j0, ldf};
  }
  // dq->at(i0, j0) kept in *storage, or null without dq (a kernel's pointer for a part of its C).
  static const S8Dequant* at_or_null(const S8Dequant* dq, int64_t i0, int64_t j0, S8Dequant* storage) {
    if (dq == nullptr) return nullptr;
    *storage = dq->at(i0, j0);
    return storage;
  }
};

// C rows [0, M) x columns of panels [p0, p1) (int32, row stride ldc) = A (M x K, int8, row stride lda) * B, exactly;
// packed is the layout of the kernel's path, col_sums the column sums of B, scratch 4 * (K + 1) int16 of the
// calling thread's (the per-ISA files allocate nothing: no library template may be instantiated there). With dq,
// the products are dequantized into dq->F instead (C unused).
using GemmS8Kernel = void (*)(int64_t M, int64_t N, int64_t K, const int8_t* A, int64_t lda, const void* packed,
                              const int32_t* col_sums, int64_t p0, int64_t p1, int32_t* C, int64_t ldc,
                              int16_t* scratch, const S8Dequant* dq);

// quantize_rows_s8 (kernels.hpp) on one path; every path gives the same bytes and scales.
using QuantizeRowsKernel = void (*)(int64_t M, int64_t K, const float* A, int64_t lda, int8_t* Q, int64_t ldq,
                                    float* scale);

// The AMX kernel's rows per block (its scratch: kAmxBlockRows x K rounded up to 64 bytes), and the fewest rows it
// takes: below, a 16-row tile does more work than the VNNI kernel's rows.
constexpr int64_t kAmxBlockRows = 32;
constexpr int64_t kAmxMinRows = 8;

#if defined(NNCORE_X86)
extern const GemmS8Kernel gemm_s8_kernel_vnni;  // gemm_s8_avx512.cpp
extern const GemmS8Kernel gemm_s8_kernel_amx;   // the same packing (vnni), on AMX-INT8 tiles
extern const GemmS8Kernel gemm_s8_kernel_avx2;  // gemm_s8_avx2.cpp
extern const QuantizeRowsKernel quantize_rows_avx512;
extern const QuantizeRowsKernel quantize_rows_avx2;
#endif

}  // namespace nncore::kernels
