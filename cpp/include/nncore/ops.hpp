#pragma once
// Functional ops on Tensors, with shape checks. Backward functions accumulate into gradients.
#include <array>
#include <string>
#include <vector>

#include "nncore/activations.hpp"
#include "nncore/tensor.hpp"

namespace nncore {

// C = op(A) op(B): A is (M, K) or, with transpose_a, (K, M); B is (K, N) or, with transpose_b, (N, K).
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// Same, into an existing output: out = beta * out + op(A) op(B).
void matmul_into(Tensor& out, const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, float beta);
// The plain reference GEMM (test oracle).
Tensor matmul_ref(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// int8 x int8 -> int32, exact: c (M x N) = a (M x K) b (K x N), all row-major (the kernel quantized layers run on;
// reference: the plain loop twin).
void matmul_int8(const int8_t* a, const int8_t* b, int32_t* c, int64_t M, int64_t K, int64_t N, bool reference = false);
// Keras's abs_max_quantize over the last axis of x (M x K): q (M x K) int8 and scale (M), q = round(x * scale)
// with scale = 127 / (max |x| + 1e-7) per row.
void quantize_rows_int8(const float* x, int64_t M, int64_t K, int8_t* q, float* scale, bool reference = false);
// The quantized Dense product (Keras's int8 Dense): a (M x K) float quantized per row, times int8 b (K x N), the
// int32 sums divided by (row scale * col_scale[j]), plus bias (N, or null), into c (M x N).
void matmul_q8(const float* a, int64_t M, int64_t K, const int8_t* b, int64_t N, const float* col_scale,
               const float* bias, float* c, bool reference = false);
// One B for a stack of products: out[s] = beta * c[s] + op(a[s]) op(B) + bias, for a (S, M, K) (with transpose_a
// (S, K, M)), out (S, M, N). op(B) is packed once and reused for every slice, as recurrent layers do per time
// step. c (S, M, N) is read only when beta != 0; bias is (N) or empty. small_m: op(B) (not transposed) packed in the
// small-M kernel's layout instead, as a dense layer keeps its kernel for inference.
Tensor matmul_packed(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, const Tensor& c, float beta,
                     const Tensor& bias, bool small_m = false);

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
// Depthwise: x (B, H, W, C), w (KH, KW, C, M) -> y (B, OH, OW, C * M), channel c * M + m from input channel c and
// filter (.., c, m); no bias. backward gives dx and dw (db empty). reference: the plain-loop twin.
Tensor depthwise_conv2d(const Tensor& x, const Tensor& w, const Conv2DOptions& options = {}, bool reference = false);
Conv2DGradients depthwise_conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w,
                                          const Conv2DOptions& options = {}, bool reference = false);
// Affine resampling of images x (B, H, W, C) by transforms (B, 6) (TensorFlow's [a0 a1 a2 b0 b1 b2]: output pixel
// (row i, column j) reads column a0 j + a1 i + a2, row b0 j + b1 i + b2), interpolation "nearest" / "bilinear",
// fill_mode "reflect" / "wrap" / "nearest" / "constant" (fill_value): the augmentation layers' kernel. Its backward
// is the adjoint (dy -> dx).
Tensor image_transform(const Tensor& x, const Tensor& transforms, const std::string& interpolation,
                       const std::string& fill_mode, float fill_value);
Tensor image_transform_backward(const Tensor& dy, const Tensor& transforms, const std::string& interpolation,
                                const std::string& fill_mode);

}  // namespace nncore

namespace nncore {

// Recurrent layers as functions over whole sequences (Keras's weight layouts and gate orders).
//   cell "simple_rnn": h = act(x W + h U + b)                                   kernel (I, U),  bias (U)
//   cell "lstm":       gates i, f, c, o; c = f*c + i*tanh(.); h = o*tanh(c)     kernel (I, 4U), bias (4U)
//   cell "gru":        Keras's reset_after=True: gates z, r, h;                  kernel (I, 3U), bias (2, 3U)
//                      hh = tanh(x W_h + b_h + r * (h U_h + rb_h)); h = z*h + (1-z)*hh
// x (B, T, I); recurrent_kernel (U, G*U); bias may be empty (use_bias=False); mask (B, T) of 0/1 or empty: at a
// masked step the states carry over and the output is the previous state (zeros with zero_output_for_mask).
// initial_states: empty (zeros) or one (B, U) tensor per state (h, then c for the LSTM). recurrent_mask: empty or
// (B, U), multiplying the state fed to the recurrent kernel at every step (recurrent dropout).
struct RnnOptions {
  std::string cell = "lstm";
  Activation activation = Activation::tanh;  // simple_rnn: linear, relu, sigmoid or tanh
  bool return_sequences = true;              // y (B, T, U), else the last output (B, U)
  bool go_backwards = false;                 // process the steps from last to first; y comes out in that order
  bool zero_output_for_mask = false;
  bool reference = false;                    // the plain step-by-step loops (test oracle)
};
struct RnnOutputs {
  Tensor y;
  std::vector<Tensor> states;  // final h (and c)
};
RnnOutputs rnn_forward(const RnnOptions& options, const Tensor& x, const Tensor& kernel,
                       const Tensor& recurrent_kernel, const Tensor& bias, const Tensor& mask,
                       const std::vector<Tensor>& initial_states, const Tensor& recurrent_mask = Tensor());
struct RnnGradients {
  Tensor dx, dkernel, drecurrent_kernel, dbias;
  std::vector<Tensor> dinitial_states;
};
// Gradients for the output gradient dy (shaped like y) and, optionally, the final states' gradients dstates
// (empty, or one (B, U) tensor per state). Fresh tensors, not accumulated.
RnnGradients rnn_backward(const RnnOptions& options, const Tensor& dy, const std::vector<Tensor>& dstates,
                          const Tensor& x, const Tensor& kernel, const Tensor& recurrent_kernel, const Tensor& bias,
                          const Tensor& mask, const std::vector<Tensor>& initial_states,
                          const Tensor& recurrent_mask = Tensor());

// ---- scaled dot-product attention (kernels/attention.hpp) ------------------------------------------------------
// query (B, T, H, D), key (B, S, H, D), value (B, S, H, Dv) -> (B, T, H, Dv): softmax(scale * q k^T + bias) v per
// batch row and head over the keys the mask allows (a query with none gives zeros), without the (B, H, T, S) tensor.
struct AttentionOptions {
  const Tensor* mask = nullptr;  // broadcast numpy's way against (B, H, T, S); non-zero: may attend
  const Tensor* bias = nullptr;  // added to the scores, broadcast the same way
  float scale = 0.f;             // <= 0: 1 / sqrt(D)
  bool causal = false;           // query t sees keys s <= t
  float dropout = 0.f;           // on the probabilities (training), decided by a hash of (seed, b, h, t, s)
  uint64_t seed = 0;
  bool reference = false;        // the plain loops (test oracle)
};
// out receives the result (resized), lse each query row's log-sum-exp (B, H, T), what backward needs; probs
// (B, H, T, S), when given, the probabilities before dropout (Keras's return_attention_scores).
void attention_forward(const Tensor& query, const Tensor& key, const Tensor& value, const AttentionOptions& options,
                       Tensor& out, Tensor& lse, Tensor* probs = nullptr);
// The gradients of sum(dout * out) for query, key and value (resized, overwritten).
void attention_backward(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& lse,
                        const Tensor& dout, const AttentionOptions& options, Tensor& dquery, Tensor& dkey,
                        Tensor& dvalue);

}  // namespace nncore
