#pragma once
// Recurrent layers on sequences (batch, time, features), as in Keras: SimpleRNN, LSTM, GRU and Bidirectional.
// Weights in Keras's layout and gate order, so a Keras model's weights give the same outputs:
//   SimpleRNN kernel (in, u),  recurrent_kernel (u, u),  bias (u)
//   LSTM      kernel (in, 4u), recurrent_kernel (u, 4u), bias (4u)     gates i, f, c, o
//   GRU       kernel (in, 3u), recurrent_kernel (u, 3u), bias (2, 3u)  gates z, r, h (reset_after=True; bias row 0
//             for the input projection, row 1 for the recurrent one)
// Inputs: [x] or, with initial states (Keras's initial_state), [x, h0] ([x, h0, c0] for the LSTM), each state
// (batch, units); gradients flow into them. Outputs: the output sequence (return_sequences) or the last output,
// and with return_state also the final states: [y, h] ([y, h, c] for the LSTM), as Keras.
// A (batch, time) mask from the layer before (Embedding(mask_zero=True)) makes masked steps carry the states over
// unchanged and repeat the previous output; a returned sequence keeps the mask.
#include <memory>
#include <string>
#include <vector>

#include "nncore/layers/layer.hpp"

namespace nncore {

namespace kernels {
struct RnnSpec;
struct RnnWeights;
}

struct RecurrentOptions {
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer recurrent_initializer = "orthogonal";
  Initializer bias_initializer = "zeros";
  float dropout = 0.f;            // on the inputs: one mask per sequence and feature, shared by all steps
  float recurrent_dropout = 0.f;  // on the state fed to the recurrent kernel: one mask per sequence and unit
  bool return_sequences = false;
  bool return_state = false;      // the final states are outputs too
  bool go_backwards = false;      // process the sequence from its end; a returned sequence is in that order
};

enum class RecurrentCell { simple_rnn, lstm, gru };

// The shared implementation of SimpleRNN, LSTM and GRU.
class Recurrent : public Layer {
 public:
  ~Recurrent() override;
  // On the layer's own call: backward given also the gradients of the final states (empty: none; else one
  // (batch, units) tensor per state; needs return_state).
  const Tensor& backward_with_states(const Tensor& dy, const std::vector<Tensor>& dstates, bool need_dx = true);
  const Tensor* output_mask(const LayerCall& call, size_t output) const override;

  RecurrentCell cell() const { return cell_; }
  int64_t units() const { return units_; }
  const RecurrentOptions& options() const { return opt_; }
  int num_states() const { return cell_ == RecurrentCell::lstm ? 2 : 1; }
  int64_t inference_scratch_per_sample(const std::vector<Shape>& in) const override;
  // Final states of a call's last forward: h, then c for the LSTM; (batch, units). Without a call: the own call's.
  const Tensor& state(const LayerCall& call, int i) const;
  const Tensor& state(int i);
  // Gradients of the initial states from the own call's last backward (zero initial states when none were given).
  const Tensor& state_gradient(int i);
  // Masked steps output zeros instead of the previous output (Keras's zero_output_for_mask).
  void set_zero_output_for_mask(bool z) { zero_output_for_mask_ = z; }
  bool zero_output_for_mask() const { return zero_output_for_mask_; }
  // A new, unbuilt layer with this one's configuration and regularizers and go_backwards flipped.
  virtual std::shared_ptr<Recurrent> reversed_copy(const std::string& name) const = 0;
  // Keras's keys: units, use_bias, the three initializers, dropout, recurrent_dropout, return_sequences,
  // return_state, go_backwards, and "recurrent_regularizer" for the recurrent kernel's penalty.
  Json config() const override;
  std::vector<Int8Weight> int8_weights() const override { return {{"kernel", false}, {"recurrent_kernel", false}}; }

 protected:
  Recurrent(const std::string& name, RecurrentCell cell, int64_t units, Activation activation,
            const RecurrentOptions& options);
  struct Call;
  std::unique_ptr<LayerCall> new_call() const override;
  std::vector<Shape> build_shapes(const std::vector<Shape>& input_shapes) override;
  std::vector<Shape> call_shapes(const std::vector<Shape>& input_shapes) const override;
  void forward_list(LayerCall& call, bool training) override;
  void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx) override;
  // Fills the bias after its initializer ran (LSTM: unit_forget_bias).
  virtual void adjust_bias(Tensor& bias) {}
  // Copies regularizers and the mask mode onto a reversed copy.
  void copy_settings_to(Recurrent& other) const;
  // The options and base settings of a config (from_config of the subclasses).
  static RecurrentOptions options_from_config(const Json& config, const std::string& cls);
  static std::string name_from_config(const Json& config);
  void apply_recurrent_config(const Json& config);
  Activation activation_;
  // The kernels' view of the weights (float, or int8 when quantized).
  kernels::RnnWeights rnn_weights() const;

 private:
  std::string class_name_for_errors() const;  // usable in the constructor, unlike class_name()
  // The output shapes for input shapes [x] or [x, states...], checked (naming the layer).
  std::vector<Shape> shapes_for(const std::vector<Shape>& in) const;
  RecurrentCell cell_;
  int64_t units_;
  RecurrentOptions opt_;
  bool zero_output_for_mask_ = false;
  std::unique_ptr<kernels::RnnSpec> spec_;  // cell, activation, sizes and flags; each call runs a copy
  uint64_t step_ = 0;
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
// Inputs: [x] or [x, forward states..., backward states...] (Keras's initial_state, split in halves). Outputs: the
// merged output and, when the wrapped layer has return_state, the forward layer's final states followed by the
// backward layer's.
class Bidirectional : public Layer {
 public:
  explicit Bidirectional(std::shared_ptr<Recurrent> layer, const std::string& merge_mode = "concat",
                         const std::string& name = "");
  std::string class_name() const override { return "Bidirectional"; }
  int64_t inference_scratch_per_sample(const std::vector<Shape>& in) const override {
    return fwd_->inference_scratch_per_sample(in) + bwd_->inference_scratch_per_sample(in);
  }
  // {"layer": {"class_name": ..., "config": ...}, "merge_mode": ...} as Keras.
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  // On the own call. dstates: empty, or the forward layer's state gradients followed by the backward layer's.
  const Tensor& backward_with_states(const Tensor& dy, const std::vector<Tensor>& dstates, bool need_dx = true);
  const Tensor* output_mask(const LayerCall& call, size_t output) const override;
  const std::string& merge_mode() const { return merge_mode_; }
  std::shared_ptr<Recurrent> forward_layer() const { return fwd_; }
  std::shared_ptr<Recurrent> backward_layer() const { return bwd_; }
  int num_states() const { return 2 * fwd_->num_states(); }
  // The own call's final states (forward layer's, then backward layer's).
  const Tensor& state(int i);
  void set_trainable(bool t) override;  // the halves' weights are this layer's: they follow
  std::vector<Int8Weight> int8_weights() const override { return fwd_->int8_weights(); }
  void refresh_quantized() override;

 protected:
  void do_quantize() override;  // quantizes both halves
  struct Call : LayerCall {
    std::unique_ptr<LayerCall> f, b;  // the halves' calls
    Tensor dyf, dyb;
    std::vector<const Tensor*> fin, bin, fdy, bdy, mask;  // argument lists for the halves (reused)
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  std::vector<Shape> build_shapes(const std::vector<Shape>& input_shapes) override;
  std::vector<Shape> call_shapes(const std::vector<Shape>& input_shapes) const override;
  void forward_list(LayerCall& call, bool training) override;
  void backward_list(LayerCall& call, const std::vector<const Tensor*>& dys, bool need_dx) override;

 private:
  std::vector<Shape> shapes_for(const std::vector<Shape>& in) const;
  void adopt_params();  // params_: the halves' weights, prefixed "forward_" / "backward_"
  std::shared_ptr<Recurrent> fwd_, bwd_;
  std::string merge_mode_;
  int mode_;
};

}  // namespace nncore
