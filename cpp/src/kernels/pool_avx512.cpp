// AVX-512 max pooling over runs of output pixels, 16 channels per zmm: the running max and its index stay in
// registers across the window (compare into a mask, two masked moves per position); the ragged last channel
// vector uses lane masks. This TU is compiled with AVX-512 flags: no inline function or template shared with
// baseline TUs, only intrinsics and internal helpers.
#include <immintrin.h>

#include "kernels/avx512_math.hpp"  // also silences GCC 12's false -Wmaybe-uninitialized on _mm512_max_ps
#include "kernels/pool_internal.hpp"

namespace nncore::kernels {

namespace {

__mmask16 lane_mask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Masked: the ragged last vector of channels; full vectors use plain loads and stores (cheaper masked stores
// are not a given). Track: keep the argmax (training); without it (inference) the max alone, with max_ps(v, best),
// which is v > best ? v : best lane by lane (NaN and signed zeros alike): the same maxima.
template <bool Masked, bool Track>
void max_forward_pixel(float* y, int32_t* arg, const float* xb, int64_t c, __mmask16 m, int64_t base,
                       const int32_t* off, int npos) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int32_t i0 = static_cast<int32_t>(off[0] + base + c);
  __m512 best = Masked ? _mm512_maskz_loadu_ps(m, xb + i0) : _mm512_loadu_ps(xb + i0);
  __m512i at = _mm512_add_epi32(_mm512_set1_epi32(i0), iota);
  for (int k = 1; k < npos; ++k) {
    const int32_t ik = static_cast<int32_t>(off[k] + base + c);
    const __m512 v = Masked ? _mm512_maskz_loadu_ps(m, xb + ik) : _mm512_loadu_ps(xb + ik);
    if (!Track) {
      best = _mm512_max_ps(v, best);
      continue;
    }
    const __mmask16 gt = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
    best = _mm512_mask_mov_ps(best, gt, v);
    at = _mm512_mask_mov_epi32(at, gt, _mm512_add_epi32(_mm512_set1_epi32(ik), iota));
  }
  if (Masked) {
    _mm512_mask_storeu_ps(y + c, m, best);
    if (Track) _mm512_mask_storeu_epi32(arg + c, m, at);
  } else {
    _mm512_storeu_ps(y + c, best);
    if (Track) _mm512_storeu_si512(arg + c, at);
  }
}

template <bool Track>
void max_forward_run(float* y, int32_t* arg, const float* xb, int64_t C, int64_t n, int64_t step, const int32_t* off,
                     int npos) {
  const int64_t full = C / 16 * 16;
  const __mmask16 m = lane_mask(C - full);
  for (int64_t o = 0; o < n; ++o, y += C, arg += Track ? C : 0) {
    for (int64_t c = 0; c < full; c += 16) max_forward_pixel<false, Track>(y, arg, xb, c, m, o * step, off, npos);
    if (full < C) max_forward_pixel<true, Track>(y, arg, xb, full, m, o * step, off, npos);
  }
}

void max_forward_avx512(float* y, int32_t* arg, const float* xb, int64_t C, int64_t n, int64_t step,
                        const int32_t* off, int npos) {
  if (arg != nullptr) max_forward_run<true>(y, arg, xb, C, n, step, off, npos);
  else max_forward_run<false>(y, arg, xb, C, n, step, off, npos);
}

template <bool Masked>
void max_backward_pixel(float* dxb, const float* dy, const int32_t* arg, int64_t c, __mmask16 m, int64_t base,
                        const int32_t* off, int npos) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512 g = Masked ? _mm512_maskz_loadu_ps(m, dy + c) : _mm512_loadu_ps(dy + c);
  const __m512i at = Masked ? _mm512_maskz_loadu_epi32(m, arg + c) : _mm512_loadu_si512(arg + c);
  for (int k = 0; k < npos; ++k) {
    const int32_t ik = static_cast<int32_t>(off[k] + base + c);
    const __mmask16 hit = _mm512_cmpeq_epi32_mask(at, _mm512_add_epi32(_mm512_set1_epi32(ik), iota));
    if (Masked) _mm512_mask_storeu_ps(dxb + ik, m, _mm512_maskz_mov_ps(hit, g));
    else _mm512_storeu_ps(dxb + ik, _mm512_maskz_mov_ps(hit, g));
  }
}

void max_backward_tiled_avx512(float* dxb, const float* dy, const int32_t* arg, int64_t C, int64_t n, int64_t step,
                               const int32_t* off, int npos) {
  const int64_t full = C / 16 * 16;
  const __mmask16 m = lane_mask(C - full);
  for (int64_t o = 0; o < n; ++o, dy += C, arg += C) {
    for (int64_t c = 0; c < full; c += 16) max_backward_pixel<false>(dxb, dy, arg, c, m, o * step, off, npos);
    if (full < C) max_backward_pixel<true>(dxb, dy, arg, full, m, o * step, off, npos);
  }
}

}  // namespace

const PoolKernel pool_kernel_avx512 = {max_forward_avx512, max_backward_tiled_avx512, "avx512"};

}  // namespace nncore::kernels
