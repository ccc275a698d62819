// AVX2 row kernels of the recurrent cells: 8 units per ymm, every gate of a unit in registers at once, the
// ragged last vector through maskload/maskstore so all lanes run the same arithmetic. exp, sigmoid and tanh are
// computed here to about 2 ulp (relative error < 3e-7 against double precision), not approximated further: RNN
// states feed back through T steps. This TU is compiled with -mavx2 -mfma: intrinsics and internal helpers only.
#include <immintrin.h>

#include "kernels/avx2_math.hpp"
#include "kernels/rnn_internal.hpp"

namespace nncore::kernels {

namespace {

using avx2::exp_ps;
using avx2::lane_mask;

// Loads and stores of v[j .. j+8) or its first n < 8 lanes.
struct Lanes {
  bool full;
  __m256i m;
  __m256 load(const float* p) const { return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m); }
  void store(float* p, __m256 v) const {
    if (full) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, m, v);
  }
};

// 1 / (1 + e^-x), with a true division: no cancellation on either tail.
inline __attribute__((always_inline)) __m256 sigmoid_ps(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// tanh: an odd polynomial for |x| < 0.625 (Cephes's tanhf), where 1 - 2/(e^2|x| + 1) would cancel; that form
// with the sign restored elsewhere (it saturates to exactly 1 past |x| ~ 9).
inline __attribute__((always_inline)) __m256 tanh_ps(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.f));
  const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.f), x);
  const __m256 one = _mm256_set1_ps(1.f);
  const __m256 e = exp_ps(_mm256_add_ps(ax, ax));
  const __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.f), _mm256_add_ps(e, one)));
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  const __m256 use_small = _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm256_blendv_ps(_mm256_or_ps(big, sign), small, use_small);
}

// y (1 - y): the sigmoid's derivative from its output; 1 - y^2: tanh's.
__m256 dsigmoid(__m256 y) { return _mm256_mul_ps(y, _mm256_sub_ps(_mm256_set1_ps(1.f), y)); }
__m256 dtanh(__m256 y) { return _mm256_fnmadd_ps(y, y, _mm256_set1_ps(1.f)); }

__m256 load_or_zero(const Lanes& l, const float* p) { return p != nullptr ? l.load(p) : _mm256_setzero_ps(); }

Lanes lanes_at(int64_t U, int64_t j) { return Lanes{U - j >= 8, lane_mask(U - j)}; }

// v[0 .. n) = act(v[0 .. n)). Each vector's chain (exp, division, polynomial: ~60 cycles of latency) depends on
// its own input alone, so the core overlaps the chains of several iterations; a loop computing a unit's gates
// and then its state waits on each unit's longer chain instead (1.4x slower for LSTM(128)).
template <__m256 (*act)(__m256)>
void act_in_place(float* v, int64_t n) {
  for (int64_t j = 0; j < n; j += 8) {
    const Lanes l = lanes_at(n, j);
    l.store(v + j, act(l.load(v + j)));
  }
}

void lstm_forward_avx2(int64_t U, float* g, const float* c_prev, float* c, float* h) {
  act_in_place<sigmoid_ps>(g, 2 * U);  // i, f
  act_in_place<tanh_ps>(g + 2 * U, U);
  act_in_place<sigmoid_ps>(g + 3 * U, U);
  for (int64_t j = 0; j < U; j += 8) {
    const Lanes l = lanes_at(U, j);
    const __m256 i = l.load(g + j), f = l.load(g + U + j), cc = l.load(g + 2 * U + j), o = l.load(g + 3 * U + j);
    const __m256 ct = _mm256_fmadd_ps(f, load_or_zero(l, c_prev != nullptr ? c_prev + j : nullptr), _mm256_mul_ps(i, cc));
    l.store(c + j, ct);
    l.store(h + j, _mm256_mul_ps(o, tanh_ps(ct)));
  }
}

void lstm_backward_avx2(int64_t U, const float* g, const float* c, const float* c_prev, float* dh, const float* dy,
                        float* dc, float* dg) {
  for (int64_t j = 0; j < U; j += 8) {
    const Lanes l = lanes_at(U, j);
    const __m256 i = l.load(g + j), f = l.load(g + U + j), cc = l.load(g + 2 * U + j), o = l.load(g + 3 * U + j);
    const __m256 tc = tanh_ps(l.load(c + j));
    const __m256 dht = _mm256_add_ps(l.load(dh + j), load_or_zero(l, dy != nullptr ? dy + j : nullptr));
    const __m256 dct = _mm256_fmadd_ps(_mm256_mul_ps(dht, o), dtanh(tc), l.load(dc + j));
    const __m256 cp = load_or_zero(l, c_prev != nullptr ? c_prev + j : nullptr);
    l.store(dg + j, _mm256_mul_ps(_mm256_mul_ps(dct, cc), dsigmoid(i)));
    l.store(dg + U + j, _mm256_mul_ps(_mm256_mul_ps(dct, cp), dsigmoid(f)));
    l.store(dg + 2 * U + j, _mm256_mul_ps(_mm256_mul_ps(dct, i), dtanh(cc)));
    l.store(dg + 3 * U + j, _mm256_mul_ps(_mm256_mul_ps(dht, tc), dsigmoid(o)));
    l.store(dc + j, _mm256_mul_ps(dct, f));
    l.store(dh + j, _mm256_setzero_ps());
  }
}

void gru_forward_avx2(int64_t U, float* p, const float* rec, const float* h_prev, float* h) {
  for (int64_t j = 0; j < U; j += 8) {
    const Lanes l = lanes_at(U, j);
    const __m256 z = sigmoid_ps(_mm256_add_ps(l.load(p + j), l.load(rec + j)));
    const __m256 r = sigmoid_ps(_mm256_add_ps(l.load(p + U + j), l.load(rec + U + j)));
    const __m256 hh = tanh_ps(_mm256_fmadd_ps(r, l.load(rec + 2 * U + j), l.load(p + 2 * U + j)));
    const __m256 hp = l.load(h_prev + j);
    l.store(p + j, z);
    l.store(p + U + j, r);
    l.store(p + 2 * U + j, hh);
    l.store(h + j, _mm256_fmadd_ps(z, _mm256_sub_ps(hp, hh), hh));  // z*hp + (1-z)*hh
  }
}

void gru_backward_avx2(int64_t U, const float* p, const float* rec, const float* h_prev, float* dh, const float* dy,
                       float* dp, float* drec) {
  const __m256 one = _mm256_set1_ps(1.f);
  for (int64_t j = 0; j < U; j += 8) {
    const Lanes l = lanes_at(U, j);
    const __m256 z = l.load(p + j), r = l.load(p + U + j), hh = l.load(p + 2 * U + j);
    const __m256 dht = _mm256_add_ps(l.load(dh + j), load_or_zero(l, dy != nullptr ? dy + j : nullptr));
    const __m256 daz = _mm256_mul_ps(_mm256_mul_ps(dht, _mm256_sub_ps(l.load(h_prev + j), hh)), dsigmoid(z));
    const __m256 dah = _mm256_mul_ps(_mm256_mul_ps(dht, _mm256_sub_ps(one, z)), dtanh(hh));
    const __m256 dar = _mm256_mul_ps(_mm256_mul_ps(dah, l.load(rec + 2 * U + j)), dsigmoid(r));
    l.store(dp + j, daz);
    l.store(dp + U + j, dar);
    l.store(dp + 2 * U + j, dah);
    l.store(drec + j, daz);
    l.store(drec + U + j, dar);
    l.store(drec + 2 * U + j, _mm256_mul_ps(dah, r));
    l.store(dh + j, _mm256_mul_ps(dht, z));
  }
}

__m256 act_ps(Act act, __m256 x) {
  switch (act) {
    case Act::relu: return _mm256_max_ps(x, _mm256_setzero_ps());
    case Act::sigmoid: return sigmoid_ps(x);
    case Act::tanh: return tanh_ps(x);
    default: return x;  // linear
  }
}

// act'(x) from y = act(x).
__m256 dact_ps(Act act, __m256 y) {
  switch (act) {
    case Act::relu: return _mm256_and_ps(_mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_set1_ps(1.f));
    case Act::sigmoid: return dsigmoid(y);
    case Act::tanh: return dtanh(y);
    default: return _mm256_set1_ps(1.f);
  }
}

void simple_forward_avx2(Act act, int64_t U, float* p, float* h) {
  for (int64_t j = 0; j < U; j += 8) {
    const Lanes l = lanes_at(U, j);
    const __m256 y = act_ps(act, l.load(p + j));
    l.store(p + j, y);
    l.store(h + j, y);
  }
}

void simple_backward_avx2(Act act, int64_t U, const float* p, float* dh, const float* dy, float* dp) {
  for (int64_t j = 0; j < U; j += 8) {
    const Lanes l = lanes_at(U, j);
    const __m256 dht = _mm256_add_ps(l.load(dh + j), load_or_zero(l, dy != nullptr ? dy + j : nullptr));
    l.store(dp + j, _mm256_mul_ps(dht, dact_ps(act, l.load(p + j))));
    l.store(dh + j, _mm256_setzero_ps());
  }
}

}  // namespace

const RnnRowKernels rnn_rows_avx2 = {lstm_forward_avx2, lstm_backward_avx2,  gru_forward_avx2, gru_backward_avx2,
                                     simple_forward_avx2, simple_backward_avx2, "avx2"};

}  // namespace nncore::kernels
