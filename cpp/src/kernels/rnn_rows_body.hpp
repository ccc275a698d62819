// The recurrent cells' row kernels (rnn_internal.hpp) written once over a vector type V (avx2_math.hpp's Ymm,
// avx512_math.hpp's Zmm). Included by rnn_avx2.cpp and rnn_avx512.cpp inside an anonymous namespace, so every
// definition here has internal linkage and is compiled once per ISA. Vectors of V::L units, every gate of a unit
// in registers at once, the ragged last vector through masked loads and stores so all lanes run the same
// arithmetic: both ISAs give the same bits. exp, sigmoid and tanh to about 2 ulp (relative error < 3e-7 against
// double precision), not approximated further: RNN states feed back through T steps.

template <class V>
using Reg = typename V::reg;

template <class V>
inline __attribute__((always_inline)) Reg<V> load_or_zero(const float* p, int64_t k) {
  return p != nullptr ? V::load_n(p, k) : V::zero();
}

// 1 / (1 + e^-x), with a true division: no cancellation on either tail.
template <class V>
inline __attribute__((always_inline)) Reg<V> sigmoid_v(Reg<V> x) {
  const Reg<V> one = V::set1(1.f);
  return V::div(one, V::add(one, simd::exp<V>(V::sub(V::zero(), x))));
}

// tanh: an odd polynomial for |x| < 0.625 (Cephes's tanhf), where 1 - 2/(e^2|x| + 1) would cancel; that form
// with the sign restored elsewhere (it saturates to exactly 1 past |x| ~ 9).
template <class V>
inline __attribute__((always_inline)) Reg<V> tanh_v(Reg<V> x) {
  const Reg<V> sign = V::and_(x, V::set1(-0.f));
  const Reg<V> ax = V::andnot(V::set1(-0.f), x);
  const Reg<V> one = V::set1(1.f);
  const Reg<V> e = simd::exp<V>(V::add(ax, ax));
  const Reg<V> big = V::sub(one, V::div(V::set1(2.f), V::add(e, one)));
  const Reg<V> z = V::mul(x, x);
  Reg<V> p = V::set1(-5.70498872745e-3f);
  p = V::fmadd(p, z, V::set1(2.06390887954e-2f));
  p = V::fmadd(p, z, V::set1(-5.37397155531e-2f));
  p = V::fmadd(p, z, V::set1(1.33314422036e-1f));
  p = V::fmadd(p, z, V::set1(-3.33332819422e-1f));
  const Reg<V> small = V::fmadd(V::mul(p, z), x, x);
  return V::select_lt(ax, V::set1(0.625f), small, V::or_(big, sign));
}

// y (1 - y): the sigmoid's derivative from its output; 1 - y^2: tanh's.
template <class V>
inline Reg<V> dsigmoid_v(Reg<V> y) { return V::mul(y, V::sub(V::set1(1.f), y)); }
template <class V>
inline Reg<V> dtanh_v(Reg<V> y) { return V::fnmadd(y, y, V::set1(1.f)); }

// v[0 .. n) = act(v[0 .. n)). Each vector's chain (exp, division, polynomial: ~60 cycles of latency) depends on
// its own input alone, so the core overlaps the chains of several iterations; a loop computing a unit's gates
// and then its state waits on each unit's longer chain instead (1.1x slower for LSTM(128)).
template <class V, Reg<V> (*act)(Reg<V>)>
void act_in_place(float* v, int64_t n) {
  for (int64_t j = 0; j < n; j += V::L) V::store_n(v + j, act(V::load_n(v + j, n - j)), n - j);
}

template <class V>
void lstm_forward(int64_t U, float* g, const float* c_prev, float* c, float* h) {
  act_in_place<V, sigmoid_v<V>>(g, 2 * U);  // i, f
  act_in_place<V, tanh_v<V>>(g + 2 * U, U);
  act_in_place<V, sigmoid_v<V>>(g + 3 * U, U);
  for (int64_t j = 0; j < U; j += V::L) {
    const int64_t k = U - j;
    const Reg<V> i = V::load_n(g + j, k), f = V::load_n(g + U + j, k), cc = V::load_n(g + 2 * U + j, k);
    const Reg<V> ct = V::fmadd(f, load_or_zero<V>(c_prev != nullptr ? c_prev + j : nullptr, k), V::mul(i, cc));
    V::store_n(c + j, ct, k);
    V::store_n(h + j, V::mul(V::load_n(g + 3 * U + j, k), tanh_v<V>(ct)), k);
  }
}

template <class V>
void lstm_backward(int64_t U, const float* g, const float* c, const float* c_prev, float* dh, const float* dy,
                   float* dc, float* dg) {
  for (int64_t j = 0; j < U; j += V::L) {
    const int64_t k = U - j;
    const Reg<V> i = V::load_n(g + j, k), f = V::load_n(g + U + j, k), cc = V::load_n(g + 2 * U + j, k);
    const Reg<V> o = V::load_n(g + 3 * U + j, k);
    const Reg<V> tc = tanh_v<V>(V::load_n(c + j, k));
    const Reg<V> dht = V::add(V::load_n(dh + j, k), load_or_zero<V>(dy != nullptr ? dy + j : nullptr, k));
    const Reg<V> dct = V::fmadd(V::mul(dht, o), dtanh_v<V>(tc), V::load_n(dc + j, k));
    const Reg<V> cp = load_or_zero<V>(c_prev != nullptr ? c_prev + j : nullptr, k);
    V::store_n(dg + j, V::mul(V::mul(dct, cc), dsigmoid_v<V>(i)), k);
    V::store_n(dg + U + j, V::mul(V::mul(dct, cp), dsigmoid_v<V>(f)), k);
    V::store_n(dg + 2 * U + j, V::mul(V::mul(dct, i), dtanh_v<V>(cc)), k);
    V::store_n(dg + 3 * U + j, V::mul(V::mul(dht, tc), dsigmoid_v<V>(o)), k);
    V::store_n(dc + j, V::mul(dct, f), k);
    V::store_n(dh + j, V::zero(), k);
  }
}

template <class V>
void gru_forward(int64_t U, float* p, const float* rec, const float* h_prev, float* h) {
  for (int64_t j = 0; j < U; j += V::L) {
    const int64_t k = U - j;
    const Reg<V> z = sigmoid_v<V>(V::add(V::load_n(p + j, k), V::load_n(rec + j, k)));
    const Reg<V> r = sigmoid_v<V>(V::add(V::load_n(p + U + j, k), V::load_n(rec + U + j, k)));
    const Reg<V> hh = tanh_v<V>(V::fmadd(r, V::load_n(rec + 2 * U + j, k), V::load_n(p + 2 * U + j, k)));
    const Reg<V> hp = V::load_n(h_prev + j, k);
    V::store_n(p + j, z, k);
    V::store_n(p + U + j, r, k);
    V::store_n(p + 2 * U + j, hh, k);
    V::store_n(h + j, V::fmadd(z, V::sub(hp, hh), hh), k);  // z*hp + (1-z)*hh
  }
}

template <class V>
void gru_backward(int64_t U, const float* p, const float* rec, const float* h_prev, float* dh, const float* dy,
                  float* dp, float* drec) {
  const Reg<V> one = V::set1(1.f);
  for (int64_t j = 0; j < U; j += V::L) {
    const int64_t k = U - j;
    const Reg<V> z = V::load_n(p + j, k), r = V::load_n(p + U + j, k), hh = V::load_n(p + 2 * U + j, k);
    const Reg<V> dht = V::add(V::load_n(dh + j, k), load_or_zero<V>(dy != nullptr ? dy + j : nullptr, k));
    const Reg<V> daz = V::mul(V::mul(dht, V::sub(V::load_n(h_prev + j, k), hh)), dsigmoid_v<V>(z));
    const Reg<V> dah = V::mul(V::mul(dht, V::sub(one, z)), dtanh_v<V>(hh));
    const Reg<V> dar = V::mul(V::mul(dah, V::load_n(rec + 2 * U + j, k)), dsigmoid_v<V>(r));
    V::store_n(dp + j, daz, k);
    V::store_n(dp + U + j, dar, k);
    V::store_n(dp + 2 * U + j, dah, k);
    V::store_n(drec + j, daz, k);
    V::store_n(drec + U + j, dar, k);
    V::store_n(drec + 2 * U + j, V::mul(dah, r), k);
    V::store_n(dh + j, V::mul(dht, z), k);
  }
}

template <class V>
Reg<V> act_v(Act act, Reg<V> x) {
  switch (act) {
    case Act::relu: return V::max(x, V::zero());
    case Act::sigmoid: return sigmoid_v<V>(x);
    case Act::tanh: return tanh_v<V>(x);
    default: return x;  // linear
  }
}

// act'(x) from y = act(x).
template <class V>
Reg<V> dact_v(Act act, Reg<V> y) {
  switch (act) {
    case Act::relu: return V::select_lt(V::zero(), y, V::set1(1.f), V::zero());
    case Act::sigmoid: return dsigmoid_v<V>(y);
    case Act::tanh: return dtanh_v<V>(y);
    default: return V::set1(1.f);
  }
}

template <class V>
void simple_forward(Act act, int64_t U, float* p, float* h) {
  for (int64_t j = 0; j < U; j += V::L) {
    const Reg<V> y = act_v<V>(act, V::load_n(p + j, U - j));
    V::store_n(p + j, y, U - j);
    V::store_n(h + j, y, U - j);
  }
}

template <class V>
void simple_backward(Act act, int64_t U, const float* p, float* dh, const float* dy, float* dp) {
  for (int64_t j = 0; j < U; j += V::L) {
    const int64_t k = U - j;
    const Reg<V> dht = V::add(V::load_n(dh + j, k), load_or_zero<V>(dy != nullptr ? dy + j : nullptr, k));
    V::store_n(dp + j, V::mul(dht, dact_v<V>(act, V::load_n(p + j, k))), k);
    V::store_n(dh + j, V::zero(), k);
  }
}
