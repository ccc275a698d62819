#include "nncore/ops.hpp"

#include "kernels/kernels.hpp"
#include "nncore/check.hpp"

namespace nncore {

namespace {
struct MatmulDims {
  int64_t M, N, K;
};
MatmulDims matmul_dims(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  NNC_CHECK(a.ndim() == 2, "matmul: expected a to be 2-D, got shape ", a.shape_str());
  NNC_CHECK(b.ndim() == 2, "matmul: expected b to be 2-D, got shape ", b.shape_str());
  const int64_t M = ta ? a.dim(1) : a.dim(0), Ka = ta ? a.dim(0) : a.dim(1);
  const int64_t Kb = tb ? b.dim(1) : b.dim(0), N = tb ? b.dim(0) : b.dim(1);
  NNC_CHECK(Ka == Kb, "matmul: inner dimensions differ: op(a) is (", M, ", ", Ka, ") and op(b) is (", Kb, ", ", N,
            ")");
  return {M, N, Ka};
}
}  // namespace

void matmul_into(Tensor& out, const Tensor& a, const Tensor& b, bool ta, bool tb, float beta) {
  const MatmulDims d = matmul_dims(a, b, ta, tb);
  if (beta != 0.f)
    NNC_CHECK(out.shape() == Shape({d.M, d.N}), "matmul: expected out of shape (", d.M, ", ", d.N, "), got ",
              out.shape_str());
  else
    out.resize({d.M, d.N});
  if (d.K == 0) {
    if (beta == 0.f) out.zero();
    else
      for (int64_t i = 0; i < out.size(); ++i) out.data()[i] *= beta;
    return;
  }
  kernels::gemm(ta, tb, d.M, d.N, d.K, a.data(), a.dim(1), b.data(), b.dim(1), beta, out.data(), d.N);
}

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  Tensor out;
  matmul_into(out, a, b, ta, tb, 0.f);
  return out;
}

Tensor matmul_ref(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const MatmulDims d = matmul_dims(a, b, ta, tb);
  Tensor out({d.M, d.N});
  if (d.K > 0) kernels::gemm_ref(ta, tb, d.M, d.N, d.K, a.data(), a.dim(1), b.data(), b.dim(1), 0.f, out.data(), d.N);
  return out;
}

Tensor matmul_packed(const Tensor& a, const Tensor& b, bool ta, bool tb, const Tensor& c, float beta,
                     const Tensor& bias, bool small_m) {
  NNC_CHECK(a.ndim() == 3, "matmul_packed: expected a to be 3-D (slices, rows, columns), got shape ", a.shape_str());
  NNC_CHECK(b.ndim() == 2, "matmul_packed: expected b to be 2-D, got shape ", b.shape_str());
  const int64_t S = a.dim(0), M = ta ? a.dim(2) : a.dim(1), Ka = ta ? a.dim(1) : a.dim(2);
  const int64_t K = tb ? b.dim(1) : b.dim(0), N = tb ? b.dim(0) : b.dim(1);
  NNC_CHECK(Ka == K, "matmul_packed: inner dimensions differ: op(a[s]) is (", M, ", ", Ka, ") and op(b) is (", K,
            ", ", N, ")");
  NNC_CHECK(beta == 0.f || c.shape() == Shape({S, M, N}), "matmul_packed: expected c of shape ",
            shape_str({S, M, N}), ", got ", c.shape_str());
  NNC_CHECK(bias.size() == 0 || bias.shape() == Shape({N}), "matmul_packed: expected bias of shape ", shape_str({N}),
            ", got ", bias.shape_str());
  NNC_CHECK(!small_m || !tb, "matmul_packed: the small-M layout packs a row-major b (transpose_b false)");
  Tensor out({S, M, N});
  if (beta != 0.f) out.copy_from(c);
  kernels::GemmEpilogue ep;
  ep.bias = bias.size() > 0 ? bias.data() : nullptr;
  kernels::GemmPackedB packed;
  if (small_m) kernels::gemm_pack_b_small_m(K, N, b.data(), b.dim(1), &packed);
  else kernels::gemm_pack_b(tb, K, N, b.data(), b.dim(1), &packed);
  for (int64_t s = 0; s < S; ++s)
    kernels::gemm_packed_b(ta, M, N, K, a.data() + s * a.dim(1) * a.dim(2), a.dim(2), packed, beta,
                           out.data() + s * M * N, N, ep);
  return out;
}

Tensor activation_forward(Activation act, const Tensor& x, float alpha) {
  Tensor y(x.shape());
  const int64_t cols = x.ndim() > 0 ? x.dim(-1) : 1;
  if (x.size() > 0)
    kernels::act_forward(static_cast<kernels::Act>(static_cast<int>(act)), y.data(), x.data(), x.size() / cols, cols,
                         alpha);
  return y;
}

Tensor activation_backward(Activation act, const Tensor& dy, const Tensor& x, const Tensor& y, float alpha) {
  NNC_CHECK(dy.shape() == x.shape() && y.shape() == x.shape(), "activation_backward: dy, x and y must share a shape; got ",
            dy.shape_str(), ", ", x.shape_str(), ", ", y.shape_str());
  Tensor dx(x.shape());
  const int64_t cols = x.ndim() > 0 ? x.dim(-1) : 1;
  if (x.size() > 0)
    kernels::act_backward(static_cast<kernels::Act>(static_cast<int>(act)), dx.data(), dy.data(), x.data(), y.data(),
                          x.size() / cols, cols, alpha);
  return dx;
}

void matmul_int8(const int8_t* a, const int8_t* b, int32_t* c, int64_t M, int64_t K, int64_t N, bool reference) {
  NNC_CHECK(M >= 0 && K >= 0 && N >= 0, "matmul_int8: negative sizes (", M, ", ", K, ", ", N, ")");
  if (reference) return kernels::gemm_s8_ref(M, N, K, a, K, b, N, c, N);
  kernels::Int8PackedB packed;
  kernels::gemm_s8_pack_b(K, N, b, N, &packed);
  kernels::gemm_s8(M, a, K, packed, c, N);
}

void quantize_rows_int8(const float* x, int64_t M, int64_t K, int8_t* q, float* scale, bool reference) {
  NNC_CHECK(M >= 0 && K >= 0, "quantize_rows_int8: negative sizes (", M, ", ", K, ")");
  if (reference) kernels::quantize_rows_s8_ref(M, K, x, K, q, K, scale);
  else kernels::quantize_rows_s8(M, K, x, K, q, K, scale);
}

void matmul_q8(const float* a, int64_t M, int64_t K, const int8_t* b, int64_t N, const float* col_scale,
               const float* bias, float* c, bool reference) {
  NNC_CHECK(M >= 0 && K >= 0 && N >= 0, "matmul_q8: negative sizes (", M, ", ", K, ", ", N, ")");
  kernels::GemmEpilogue ep;
  ep.bias = bias;
  if (reference) return kernels::gemm_q8_ref(M, N, K, a, K, b, N, col_scale, 0.f, c, N, ep);
  kernels::Int8PackedB packed;
  kernels::gemm_s8_pack_b(K, N, b, N, &packed);
  kernels::gemm_q8(M, a, K, packed, col_scale, 0.f, c, N, ep);
}

}  // namespace nncore
