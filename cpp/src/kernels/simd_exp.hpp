#pragma once
// e^x written once over a vector type V, for the ISA translation units (include from those only: it compiles to
// the including TU's instructions). V provides reg, set1, min, max, mul, add, fmadd, fnmadd, round (to nearest),
// and scale2n(p, n) = p * 2^n for a vector n of integral floats.
//
// x = n ln2 + r with |r| <= ln2/2 (ln2 split in two for an exact product), e^r by a degree-6 minimax polynomial
// (Cephes's expf coefficients), 2^n exact. x is clamped to [-87.3, 88.3], where 2^n stays a normal number. About
// 2 ulp (relative error < 3e-7 against double precision). Every ISA computes the same operations in the same
// order, so AVX2 and AVX-512 give the same bits.
namespace nncore::kernels::simd {

template <class V>
inline typename V::reg exp(typename V::reg x) {
  using R = typename V::reg;
  x = V::min(V::max(x, V::set1(-87.3f)), V::set1(88.3f));
  const R n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  R r = V::fnmadd(n, V::set1(0.693359375f), x);
  r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);
  R p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
  p = V::fmadd(p, V::mul(r, r), V::add(r, V::set1(1.f)));
  return V::scale2n(p, n);
}

}  // namespace nncore::kernels::simd
