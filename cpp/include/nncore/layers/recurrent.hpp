#pragma once
// Recurrent layers on sequences (batch, time, features), as in Keras: SimpleRNN, LSTM, GRU and Bidirectional.
// Weights in Keras's layout and gate order, so a Keras model's weights give the same outputs:
//   SimpleRNN kernel (in, u),  recurrent_kernel (u, u),  bias (u)
//   LSTM      kernel (in, 4u), recurrent_kernel (u, 4u), bias (4u)     gates i, f, c, o
//   GRU       kernel (in, 3u), recurrent_kernel (u, 3u), bias (2, 3u)  gates z, r, h (reset_after=True; bias row 0
//             for the input projection, row 1 for the recurrent one)
// forward returns the output sequence (return_sequences) or the last output; the final states are available from
// state(i) after a forward (Keras's return_state), and backward_with_states takes their gradients.
// A (batch, time) mask from the layer before (Embedding(mask_zero=True)) or from forward_masked() makes masked
// steps carry the states over unchanged and repeat the previous output; a returned sequence keeps the mask.
#include <memory>
#include <string>
#include <vector>

#include "nncore/layers/layer.hpp"

namespace nncore {

namespace detail {
class RnnRunner;
}

struct RecurrentOptions {
  bool use_bias = true;
  std::string kernel_initializer = "glorot_uniform";
  std::string recurrent_initializer = "orthogonal";
  std::string bias_initializer = "zeros";
  float dropout = 0.f;            // on the inputs: one mask per sequence and feature, shared by all steps
  float recurrent_dropout = 0.f;  // on the state fed to the recurrent kernel: one mask per sequence and unit
  bool return_sequences = false;
  bool return_state = false;      // informational: the layer API always keeps the states (see state())
  bool go_backwards = false;      // process the sequence from its end; a returned sequence is in that order
};

enum class RecurrentCell { simple_rnn, lstm, gru };

// The shared implementation of SimpleRNN, LSTM and GRU.
class Recurrent : public Layer {
 public:
  ~Recurrent() override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy, bool need_dx = true) override;
  // Backward given also the gradients of the final states (empty: none; else one (batch, units) tensor per state).
  const Tensor& backward_with_states(const Tensor& dy, const std::vector<Tensor>& dstates, bool need_dx = true);
  // forward with this call's (batch, time) mask (copied) instead of the one the model hands over.
  const Tensor& forward_masked(const Tensor& x, const Tensor& mask, bool training);
  const Tensor* output_mask() const override;

  RecurrentCell cell() const { return cell_; }
  int64_t units() const { return units_; }
  const RecurrentOptions& options() const { return opt_; }
  int num_states() const { return cell_ == RecurrentCell::lstm ? 2 : 1; }
  // Final states of the last forward: h, then c for the LSTM; (batch, units).
  const Tensor& state(int i) const;
  // The last forward's output (what forward returned).
  const Tensor& last_output() const;
  // Gradients of the initial states from the last backward (the layer starts from zero states).
  const Tensor& state_gradient(int i) const;
  // Masked steps output zeros instead of the previous output (Keras's zero_output_for_mask).
  void set_zero_output_for_mask(bool z) { zero_output_for_mask_ = z; }
  bool zero_output_for_mask() const { return zero_output_for_mask_; }
  // A new, unbuilt layer with this one's configuration and regularizers and go_backwards flipped.
  virtual std::shared_ptr<Recurrent> reversed_copy(const std::string& name) const = 0;
  // Keras's keys: units, use_bias, the three initializers, dropout, recurrent_dropout, return_sequences,
  // return_state, go_backwards, and "recurrent_regularizer" for the recurrent kernel's penalty.
  Json config() const override;

 protected:
  Recurrent(const std::string& name, RecurrentCell cell, int64_t units, Activation activation,
            const RecurrentOptions& options);
  Shape do_build(const Shape& input_shape) override;
  // Fills the bias after its initializer ran (LSTM: unit_forget_bias).
  virtual void adjust_bias(Tensor& bias) {}
  // Copies regularizers and the mask mode onto a reversed copy.
  void copy_settings_to(Recurrent& other) const;
  // The options and base settings of a config (from_config of the subclasses).
  static RecurrentOptions options_from_config(const Json& config, const std::string& cls);
  static std::string name_from_config(const Json& config);
  void apply_recurrent_config(const Json& config);
  Activation activation_;

 private:
  std::string class_name_for_errors() const;  // usable in the constructor, unlike class_name()
  RecurrentCell cell_;
  int64_t units_;
  RecurrentOptions opt_;
  bool zero_output_for_mask_ = false;
  std::unique_ptr<detail::RnnRunner> runner_;
  bool input_dropout_ = false, recurrent_dropout_ = false;  // active in the last forward
  uint64_t step_ = 0;
  Tensor x_drop_, x_mask_, r_mask_, own_mask_;
};

// h = activation(x W + h U + b).
class SimpleRNN : public Recurrent {
 public:
  SimpleRNN(int64_t units, const std::string& activation = "tanh", const RecurrentOptions& options = {},
            const std::string& name = "");
  std::string class_name() const override { return "SimpleRNN"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  const std::string activation() const { return activation_name(activation_); }
  std::shared_ptr<Recurrent> reversed_copy(const std::string& name) const override;
};

// Long short-term memory (Hochreiter & Schmidhuber 1997, with Gers et al.'s forget gate): sigmoid gates i, f, o,
// tanh candidate c~; c = f*c + i*c~; h = o*tanh(c). unit_forget_bias starts the forget gate's bias at 1.
class LSTM : public Recurrent {
 public:
  LSTM(int64_t units, const RecurrentOptions& options = {}, bool unit_forget_bias = true,
       const std::string& name = "");
  std::string class_name() const override { return "LSTM"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  bool unit_forget_bias() const { return unit_forget_bias_; }
  std::shared_ptr<Recurrent> reversed_copy(const std::string& name) const override;

 protected:
  void adjust_bias(Tensor& bias) override;

 private:
  bool unit_forget_bias_;
};

// Gated recurrent unit (Cho et al. 2014) in Keras's reset_after=True form: z = sig(x Wz + h Uz + b), r likewise,
// hh = tanh(x Wh + bh + r * (h Uh + rbh)), h = z*h + (1-z)*hh.
class GRU : public Recurrent {
 public:
  GRU(int64_t units, const RecurrentOptions& options = {}, bool reset_after = true, const std::string& name = "");
  std::string class_name() const override { return "GRU"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  bool reset_after() const { return true; }
  std::shared_ptr<Recurrent> reversed_copy(const std::string& name) const override;
};

// Runs a recurrent layer forwards and a copy of it (go_backwards flipped) backwards over the same input and merges
// their outputs: "concat" (the default), "sum", "mul" or "ave". The backward layer's output sequence is put back
// in input order first. Weights: the forward layer's, then the backward layer's (as Keras).
class Bidirectional : public Layer {
 public:
  explicit Bidirectional(std::shared_ptr<Recurrent> layer, const std::string& merge_mode = "concat",
                         const std::string& name = "");
  std::string class_name() const override { return "Bidirectional"; }
  // {"layer": {"class_name": ..., "config": ...}, "merge_mode": ...} as Keras.
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy, bool need_dx = true) override;
  // dstates: empty, or the forward layer's state gradients followed by the backward layer's.
  const Tensor& backward_with_states(const Tensor& dy, const std::vector<Tensor>& dstates, bool need_dx = true);
  const Tensor& forward_masked(const Tensor& x, const Tensor& mask, bool training);
  const Tensor* output_mask() const override;
  const std::string& merge_mode() const { return merge_mode_; }
  std::shared_ptr<Recurrent> forward_layer() const { return fwd_; }
  std::shared_ptr<Recurrent> backward_layer() const { return bwd_; }
  int num_states() const { return 2 * fwd_->num_states(); }
  const Tensor& state(int i) const;

 protected:
  Shape do_build(const Shape& input_shape) override;

 private:
  std::shared_ptr<Recurrent> fwd_, bwd_;
  std::string merge_mode_;
  int mode_;
  Tensor dyf_, dyb_, own_mask_;
};

}  // namespace nncore
