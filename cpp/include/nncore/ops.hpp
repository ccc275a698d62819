#pragma once
// Functional ops on Tensors, with shape checks. Backward functions accumulate into gradients.
#include "nncore/activations.hpp"
#include "nncore/tensor.hpp"

namespace nncore {

// C = op(A) op(B): A is (M, K) or, with transpose_a, (K, M); B is (K, N) or, with transpose_b, (N, K).
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// Same, into an existing output: out = beta * out + op(A) op(B).
void matmul_into(Tensor& out, const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, float beta);
// The plain reference GEMM (test oracle).
Tensor matmul_ref(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);

// y = act(x) (softmax over the last axis).
Tensor activation_forward(Activation act, const Tensor& x, float alpha);
// dx = dy * act'(x), given the forward's input x and output y.
Tensor activation_backward(Activation act, const Tensor& dy, const Tensor& x, const Tensor& y, float alpha);

}  // namespace nncore
