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

}  // namespace nncore
