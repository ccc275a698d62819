#pragma once
// Functional ops on Tensors, with shape checks. Backward functions accumulate into gradients.
#include <array>
#include <string>

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

namespace nncore {

struct Conv2DOptions {
  std::array<int64_t, 2> strides{1, 1};
  std::string padding = "valid";  // or "same"
  std::array<int64_t, 2> dilation{1, 1};
};

// x (B, H, W, C), w (KH, KW, C, OC), bias (OC) or empty -> y (B, OH, OW, OC).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2DOptions& options = {});

struct Conv2DGradients {
  Tensor dx, dw, db;
};
// Gradients of conv2d for the output gradient dy (fresh tensors, not accumulated).
Conv2DGradients conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Conv2DOptions& options = {});
// The plain direct-loop twins of the two above (test oracle).
Tensor conv2d_ref(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2DOptions& options = {});
Conv2DGradients conv2d_backward_ref(const Tensor& dy, const Tensor& x, const Tensor& w,
                                    const Conv2DOptions& options = {});

}  // namespace nncore
