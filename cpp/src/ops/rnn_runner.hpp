#pragma once
// One recurrent sequence computation with its buffers (what forward saves, backward's workspace), shared by the
// functional ops (nncore::rnn_forward/rnn_backward) and the recurrent layers. Buffers grow on the first call for
// a batch size and sequence length and are reused after that: no allocation per step or per batch.
#include <string>

#include "kernels/rnn.hpp"
#include "nncore/activations.hpp"
#include "nncore/tensor.hpp"

namespace nncore::detail {

// The SimpleRNN activation as the fused kernels take it; throws naming `where` unless linear/relu/sigmoid/tanh.
kernels::Act rnn_activation(Activation a, const std::string& where);

class RnnRunner {
 public:
  kernels::RnnSpec spec;  // cell, act, I, U and flags; B and T are taken from x on each forward

  // x (B, T, I) stays alive (and unchanged) until backward, as do mask (B, T), h0/c0 (B, U) and recurrent_mask
  // (B, U) when given (null: none / zeros).
  void forward(const Tensor& x, const float* mask, const float* h0, const float* c0, const float* recurrent_mask,
               const kernels::RnnWeights& w, bool reference);
  // dy like y; dh_last/dc_last null or (B, U). Weight gradients as in kernels::RnnGrads (accumulated, null skips).
  // Afterwards dx (when need_dx), dh0 and dc0 hold the input and initial-state gradients.
  void backward(const Tensor& dy, const float* dh_last, const float* dc_last, bool need_dx, float* dkernel,
                float* drecurrent, float* dbias, float* drecurrent_bias, const kernels::RnnWeights& w,
                bool reference);
  bool has_forward() const { return data_.x != nullptr; }

  Tensor y, h_last, c_last;  // forward's results
  Tensor dx, dh0, dc0;       // backward's results

 private:
  kernels::RnnData data_{};
  Tensor gates_, hprev_, hdrop_, c_, rec_, dgates_, drec_, tmp_;
};

}  // namespace nncore::detail
