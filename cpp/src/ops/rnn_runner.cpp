#include "ops/rnn_runner.hpp"

#include "nncore/check.hpp"

namespace nncore::detail {

kernels::Act rnn_activation(Activation a, const std::string& where) {
  NNC_CHECK(a == Activation::linear || a == Activation::relu || a == Activation::sigmoid || a == Activation::tanh,
            where, ": activation must be one of linear, relu, sigmoid, tanh; got '", activation_name(a), "'");
  return static_cast<kernels::Act>(static_cast<int>(a));
}

void RnnRunner::forward(const Tensor& x, const float* mask, const float* h0, const float* c0,
                        const float* recurrent_mask, const kernels::RnnWeights& w, bool reference) {
  spec.B = x.dim(0);
  spec.T = x.dim(1);
  const int64_t B = spec.B, T = spec.T, U = spec.U, GU = spec.gates() * U;
  const bool lstm = spec.cell == kernels::RnnCell::lstm, gru = spec.cell == kernels::RnnCell::gru;
  y.resize(spec.return_sequences ? Shape{B, T, U} : Shape{B, U});
  h_last.resize({B, U});
  c_last.resize(lstm ? Shape{B, U} : Shape{0});
  gates_.resize({B, T, GU});
  hprev_.resize({B, T, U});
  hdrop_.resize(recurrent_mask != nullptr ? Shape{B, T, U} : Shape{0});
  c_.resize(lstm ? Shape{B, T, U} : Shape{0});
  rec_.resize(gru ? Shape{B, T, GU} : Shape{0});
  data_ = kernels::RnnData{x.data(), mask, h0, c0, recurrent_mask, y.data(), h_last.data(), c_last.data(),
                           gates_.data(), hprev_.data(), hdrop_.data(), c_.data(), rec_.data()};
  if (reference) kernels::rnn_forward_ref(spec, w, data_);
  else kernels::rnn_forward(spec, w, data_);
}

void RnnRunner::backward(const Tensor& dy, const float* dh_last, const float* dc_last, bool need_dx, float* dkernel,
                         float* drecurrent, float* dbias, float* drecurrent_bias, const kernels::RnnWeights& w,
                         bool reference) {
  const int64_t B = spec.B, T = spec.T, U = spec.U, GU = spec.gates() * U;
  const bool lstm = spec.cell == kernels::RnnCell::lstm, gru = spec.cell == kernels::RnnCell::gru;
  dgates_.resize({B, T, GU});
  drec_.resize(gru ? Shape{B, T, GU} : Shape{0});
  tmp_.resize(data_.recurrent_mask != nullptr ? Shape{B, U} : Shape{0});
  dh0.resize({B, U});
  dc0.resize(lstm ? Shape{B, U} : Shape{0});
  dx.resize(need_dx ? Shape{B, T, spec.I} : Shape{0});
  const kernels::RnnGrads g{dy.data(),      dh_last,        dc_last,       need_dx ? dx.data() : nullptr,
                            dkernel,        drecurrent,     dbias,         drecurrent_bias,
                            dgates_.data(), drec_.data(),   dh0.data(),    dc0.data(),
                            tmp_.data()};
  if (reference) kernels::rnn_backward_ref(spec, w, data_, g);
  else kernels::rnn_backward(spec, w, data_, g);
}

}  // namespace nncore::detail
