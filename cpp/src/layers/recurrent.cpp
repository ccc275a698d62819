#include "nncore/layers/recurrent.hpp"

#include "kernels/kernels.hpp"
#include "layers/common.hpp"
#include "nncore/check.hpp"
#include "nncore/initializers.hpp"
#include "nncore/io.hpp"
#include "ops/rnn_runner.hpp"

namespace nncore {

using detail::layer_name;

namespace {

kernels::RnnCell kernel_cell(RecurrentCell c) {
  switch (c) {
    case RecurrentCell::lstm: return kernels::RnnCell::lstm;
    case RecurrentCell::gru: return kernels::RnnCell::gru;
    default: return kernels::RnnCell::simple;
  }
}

// Checks a (batch, time) mask against x (batch, time, features), naming the layer.
void check_mask(const Tensor& mask, const Tensor& x, const Layer& l) {
  NNC_CHECK(mask.shape() == Shape({x.dim(0), x.dim(1)}), "Layer '", l.name(), "' (", l.class_name(),
            "): expected a mask of shape (", x.dim(0), ", ", x.dim(1), ") for input ", x.shape_str(), ", got ",
            mask.shape_str());
}

}  // namespace

// ---- Recurrent ---------------------------------------------------------------------------------------------

Recurrent::Recurrent(const std::string& name, RecurrentCell cell, int64_t units, Activation activation,
                     const RecurrentOptions& options)
    : Layer(name), activation_(activation), cell_(cell), units_(units), opt_(options),
      runner_(std::make_unique<detail::RnnRunner>()) {
  const std::string where = class_name_for_errors();
  NNC_CHECK(units >= 1, where, ": units must be >= 1, got ", units);
  NNC_CHECK(opt_.dropout >= 0.f && opt_.dropout < 1.f, where, ": dropout must be in [0, 1), got ", opt_.dropout);
  NNC_CHECK(opt_.recurrent_dropout >= 0.f && opt_.recurrent_dropout < 1.f, where,
            ": recurrent_dropout must be in [0, 1), got ", opt_.recurrent_dropout);
  check_initializer(opt_.kernel_initializer, where + " kernel_initializer");
  check_initializer(opt_.recurrent_initializer, where + " recurrent_initializer");
  check_initializer(opt_.bias_initializer, where + " bias_initializer");
  kernels::RnnSpec& s = runner_->spec;
  s.cell = kernel_cell(cell);
  s.act = cell == RecurrentCell::simple_rnn ? detail::rnn_activation(activation, where) : kernels::Act::tanh;
  s.U = units;
  s.go_backwards = opt_.go_backwards;
  s.return_sequences = opt_.return_sequences;
}

Recurrent::~Recurrent() = default;

std::string Recurrent::class_name_for_errors() const {
  static const char* names[] = {"SimpleRNN", "LSTM", "GRU"};
  return std::string(names[static_cast<int>(cell_)]) + " '" + name_ + "'";
}

Shape Recurrent::do_build(const Shape& in) {
  NNC_CHECK(in.size() == 2, class_name(), " '", name_, "': expected 3-D input (batch, time, features), got ",
            shape_str(batch_shape(-1, in)));
  const int64_t I = in[1], U = units_, GU = runner_->spec.gates() * U;
  add_weight("kernel", {I, GU}, opt_.kernel_initializer, I, GU);
  add_weight("recurrent_kernel", {U, GU}, opt_.recurrent_initializer, U, GU);
  if (opt_.use_bias) {
    Param& b = add_weight("bias", cell_ == RecurrentCell::gru ? Shape{2, GU} : Shape{GU}, opt_.bias_initializer, I, GU);
    adjust_bias(b.value);
  }
  runner_->spec.I = I;
  return opt_.return_sequences ? Shape{in[0], U} : Shape{U};
}

const Tensor* Recurrent::output_mask() const { return opt_.return_sequences ? input_mask_ : nullptr; }

namespace {
kernels::RnnWeights weights_of(const std::vector<Param>& p, bool gru) {
  const float* bias = p.size() > 2 ? p[2].value.data() : nullptr;
  const int64_t GU = p[1].value.dim(1);
  return {p[0].value.data(), p[1].value.data(), bias, gru && bias != nullptr ? bias + GU : nullptr};
}
}  // namespace

const Tensor& Recurrent::forward(const Tensor& x, bool training) {
  check_input(x);
  input_ = x;
  const int64_t B = x.dim(0), T = x.dim(1), I = x.dim(2);
  if (input_mask_ != nullptr) check_mask(*input_mask_, x, *this);
  runner_->spec.zero_masked_output = zero_output_for_mask_;
  const Tensor* xin = &x;
  input_dropout_ = training && opt_.dropout > 0.f;
  if (input_dropout_) {  // one mask per (sample, feature), shared by every step (Keras's dropout)
    x_drop_.resize(x.shape());
    x_mask_.resize({B, I});
    const uint64_t seed = rng_() ^ (++step_ * 0x9e3779b97f4a7c15ull);
    kernels::spatial_dropout_forward(x_drop_.data(), x_mask_.data(), x.data(), B, T, I, opt_.dropout, seed);
    xin = &x_drop_;
  }
  recurrent_dropout_ = training && opt_.recurrent_dropout > 0.f;
  if (recurrent_dropout_) {
    r_mask_.resize({B, units_});
    const uint64_t seed = rng_() ^ (++step_ * 0x9e3779b97f4a7c15ull);
    kernels::dropout_mask(r_mask_.data(), B * units_, opt_.recurrent_dropout, seed);
  }
  runner_->forward(*xin, input_mask_ != nullptr ? input_mask_->data() : nullptr, nullptr, nullptr,
                   recurrent_dropout_ ? r_mask_.data() : nullptr, weights_of(params_, cell_ == RecurrentCell::gru),
                   false);
  return runner_->y;
}

const Tensor& Recurrent::forward_masked(const Tensor& x, const Tensor& mask, bool training) {
  check_input(x);
  check_mask(mask, x, *this);
  own_mask_.resize(mask.shape());
  own_mask_.copy_from(mask);
  set_input_mask(&own_mask_);
  return forward(x, training);
}

const Tensor& Recurrent::backward(const Tensor& dy, bool need_dx) { return backward_with_states(dy, {}, need_dx); }

const Tensor& Recurrent::backward_with_states(const Tensor& dy, const std::vector<Tensor>& dstates, bool need_dx) {
  NNC_CHECK(runner_->has_forward(), "Layer '", name_, "' (", class_name(), "): backward called before forward");
  check_gradient(dy, runner_->y.shape());
  const int64_t B = input_.dim(0), T = input_.dim(1), I = input_.dim(2);
  NNC_CHECK(dstates.empty() || static_cast<int>(dstates.size()) == num_states(), "Layer '", name_, "' (",
            class_name(), "): expected ", num_states(), " state gradient(s) (or none), got ", dstates.size());
  for (const Tensor& d : dstates)
    NNC_CHECK(d.shape() == Shape({B, units_}), "Layer '", name_, "' (", class_name(),
              "): expected state gradients of shape (", B, ", ", units_, "), got ", d.shape_str());
  const bool gru = cell_ == RecurrentCell::gru;
  float* dk = trainable_ ? params_[0].grad.data() : nullptr;
  float* dr = trainable_ ? params_[1].grad.data() : nullptr;
  float* db = trainable_ && opt_.use_bias ? params_[2].grad.data() : nullptr;
  float* drb = db != nullptr && gru ? db + runner_->spec.gates() * units_ : nullptr;
  runner_->backward(dy, dstates.empty() ? nullptr : dstates[0].data(), dstates.size() > 1 ? dstates[1].data() : nullptr,
                    need_dx, dk, dr, db, drb, weights_of(params_, gru), false);
  if (!need_dx) {
    dx_.resize({0});
    return dx_;
  }
  if (!input_dropout_) return runner_->dx;
  dx_.resize(input_.shape());
  kernels::mul_channels(dx_.data(), runner_->dx.data(), x_mask_.data(), B, T, I);
  return dx_;
}

const Tensor& Recurrent::state(int i) const {
  NNC_CHECK(i >= 0 && i < num_states(), "Layer '", name_, "': state index ", i, " out of range [0, ", num_states(),
            ")");
  NNC_CHECK(runner_->has_forward(), "Layer '", name_, "': no states before the first forward");
  return i == 0 ? runner_->h_last : runner_->c_last;
}

const Tensor& Recurrent::last_output() const { return runner_->y; }

const Tensor& Recurrent::state_gradient(int i) const {
  NNC_CHECK(i >= 0 && i < num_states(), "Layer '", name_, "': state index ", i, " out of range [0, ", num_states(),
            ")");
  return i == 0 ? runner_->dh0 : runner_->dc0;
}

void Recurrent::copy_settings_to(Recurrent& other) const {
  for (const auto& nr : pending_regularizers_) other.set_regularizer(nr.first, nr.second);
  for (const Param& p : params_)
    if (p.regularizer.active()) other.set_regularizer(p.name, p.regularizer);
  other.set_zero_output_for_mask(zero_output_for_mask_);
  other.set_trainable(trainable_);
}

namespace {
RecurrentOptions flipped(RecurrentOptions o) {
  o.go_backwards = !o.go_backwards;
  return o;
}
}  // namespace

// ---- SimpleRNN, LSTM, GRU ----------------------------------------------------------------------------------

SimpleRNN::SimpleRNN(int64_t units, const std::string& activation, const RecurrentOptions& options,
                     const std::string& name)
    : Recurrent(layer_name(name, "SimpleRNN"), RecurrentCell::simple_rnn, units, activation_from_name(activation),
                options) {}

std::shared_ptr<Recurrent> SimpleRNN::reversed_copy(const std::string& name) const {
  auto copy = std::make_shared<SimpleRNN>(units(), activation(), flipped(options()), name);
  copy_settings_to(*copy);
  return copy;
}

LSTM::LSTM(int64_t units, const RecurrentOptions& options, bool unit_forget_bias, const std::string& name)
    : Recurrent(layer_name(name, "LSTM"), RecurrentCell::lstm, units, Activation::tanh, options),
      unit_forget_bias_(unit_forget_bias) {}

void LSTM::adjust_bias(Tensor& bias) {
  if (!unit_forget_bias_) return;
  for (int64_t j = units(); j < 2 * units(); ++j) bias.data()[j] = 1.f;  // the forget gate's block
}

std::shared_ptr<Recurrent> LSTM::reversed_copy(const std::string& name) const {
  auto copy = std::make_shared<LSTM>(units(), flipped(options()), unit_forget_bias_, name);
  copy_settings_to(*copy);
  return copy;
}

GRU::GRU(int64_t units, const RecurrentOptions& options, bool reset_after, const std::string& name)
    : Recurrent(layer_name(name, "GRU"), RecurrentCell::gru, units, Activation::tanh, options) {
  NNC_CHECK(reset_after, "GRU '", name_,
            "': only reset_after=True (Keras's default, the reset gate applied after the recurrent kernel) is "
            "supported");
}

std::shared_ptr<Recurrent> GRU::reversed_copy(const std::string& name) const {
  auto copy = std::make_shared<GRU>(units(), flipped(options()), true, name);
  copy_settings_to(*copy);
  return copy;
}

// ---- Bidirectional -----------------------------------------------------------------------------------------

namespace {
int merge_mode_of(const std::string& m, const std::string& where) {
  if (m == "concat") return static_cast<int>(kernels::MergeMode::concat);
  if (m == "sum") return static_cast<int>(kernels::MergeMode::sum);
  if (m == "mul") return static_cast<int>(kernels::MergeMode::mul);
  if (m == "ave") return static_cast<int>(kernels::MergeMode::ave);
  NNC_CHECK(false, where, ": merge_mode must be one of concat, sum, mul, ave; got '", m, "'");
  return 0;
}
}  // namespace

Bidirectional::Bidirectional(std::shared_ptr<Recurrent> layer, const std::string& merge_mode, const std::string& name)
    : Layer(layer_name(name, "Bidirectional")), fwd_(std::move(layer)), merge_mode_(merge_mode) {
  NNC_CHECK(fwd_ != nullptr, "Bidirectional '", name_, "': expected a recurrent layer (SimpleRNN, LSTM, GRU)");
  mode_ = merge_mode_of(merge_mode, "Bidirectional '" + name_ + "'");
  bwd_ = fwd_->reversed_copy("backward_" + fwd_->name());
  // Keras: a bidirectional layer that returns sequences outputs zeros at masked steps.
  if (fwd_->options().return_sequences) {
    fwd_->set_zero_output_for_mask(true);
    bwd_->set_zero_output_for_mask(true);
  }
}

Shape Bidirectional::do_build(const Shape& in) {
  NNC_CHECK(in.size() == 2, "Bidirectional '", name_, "': expected 3-D input (batch, time, features), got ",
            shape_str(batch_shape(-1, in)));
  fwd_->build(in);
  bwd_->build(in);
  for (const auto& half : {std::make_pair(fwd_, "forward_"), std::make_pair(bwd_, "backward_")})
    for (const Param& p : half.first->params()) {
      Param q = p;  // shares the value and gradient storage of the sub-layer's weight
      q.name = std::string(half.second) + p.name;
      params_.push_back(q);
    }
  Shape out = fwd_->output_shape();
  if (mode_ == static_cast<int>(kernels::MergeMode::concat)) out.back() *= 2;
  return out;
}

const Tensor* Bidirectional::output_mask() const {
  return fwd_->options().return_sequences ? input_mask_ : nullptr;
}

const Tensor& Bidirectional::forward(const Tensor& x, bool training) {
  check_input(x);
  input_ = x;
  if (input_mask_ != nullptr) check_mask(*input_mask_, x, *this);
  fwd_->set_input_mask(input_mask_);
  bwd_->set_input_mask(input_mask_);
  const Tensor& yf = fwd_->forward(x, training);
  const Tensor& yb = bwd_->forward(x, training);
  const int64_t B = x.dim(0), U = fwd_->units(), T = fwd_->options().return_sequences ? x.dim(1) : 1;
  output_.resize(batch_shape(B, output_shape_));
  kernels::bidirectional_merge(output_.data(), yf.data(), yb.data(), B, T, U, static_cast<kernels::MergeMode>(mode_));
  return output_;
}

const Tensor& Bidirectional::forward_masked(const Tensor& x, const Tensor& mask, bool training) {
  check_input(x);
  check_mask(mask, x, *this);
  own_mask_.resize(mask.shape());
  own_mask_.copy_from(mask);
  set_input_mask(&own_mask_);
  return forward(x, training);
}

const Tensor& Bidirectional::backward(const Tensor& dy, bool need_dx) { return backward_with_states(dy, {}, need_dx); }

const Tensor& Bidirectional::backward_with_states(const Tensor& dy, const std::vector<Tensor>& dstates, bool need_dx) {
  check_gradient(dy, output_.shape());
  const int n = fwd_->num_states();
  NNC_CHECK(dstates.empty() || static_cast<int>(dstates.size()) == 2 * n, "Layer '", name_,
            "' (Bidirectional): expected ", 2 * n, " state gradient(s) (or none), got ", dstates.size());
  const Tensor& yf = fwd_->last_output();
  const Tensor& yb = bwd_->last_output();
  const int64_t B = input_.dim(0), U = fwd_->units(), T = fwd_->options().return_sequences ? input_.dim(1) : 1;
  dyf_.resize(yf.shape());
  dyb_.resize(yb.shape());
  kernels::bidirectional_merge_backward(dyf_.data(), dyb_.data(), dy.data(), yf.data(), yb.data(), B, T, U,
                                        static_cast<kernels::MergeMode>(mode_));
  // The halves follow this layer's trainable flag (their weights are this layer's).
  fwd_->set_trainable(trainable_);
  bwd_->set_trainable(trainable_);
  const std::vector<Tensor> sf(dstates.begin(), dstates.begin() + (dstates.empty() ? 0 : n));
  const std::vector<Tensor> sb(dstates.begin() + (dstates.empty() ? 0 : n), dstates.end());
  const Tensor& dxf = fwd_->backward_with_states(dyf_, sf, need_dx);
  const Tensor& dxb = bwd_->backward_with_states(dyb_, sb, need_dx);
  if (!need_dx) {
    dx_.resize({0});
    return dx_;
  }
  dx_.resize(input_.shape());
  kernels::add(dx_.data(), dxf.data(), dxb.data(), dx_.size());
  return dx_;
}

const Tensor& Bidirectional::state(int i) const {
  const int n = fwd_->num_states();
  NNC_CHECK(i >= 0 && i < 2 * n, "Layer '", name_, "': state index ", i, " out of range [0, ", 2 * n, ")");
  return i < n ? fwd_->state(i) : bwd_->state(i - n);
}

// ---- configs ----------------------------------------------------------------------------------------------

Json Recurrent::config() const {
  Json base = Layer::config();
  Json c = Json::object();
  for (const auto& kv : base.items())  // Keras names the recurrent kernel's penalty "recurrent_regularizer"
    c[kv.first == "recurrent_kernel_regularizer" ? "recurrent_regularizer" : kv.first] = kv.second;
  c["units"] = units_;
  c["use_bias"] = opt_.use_bias;
  c["kernel_initializer"] = opt_.kernel_initializer;
  c["recurrent_initializer"] = opt_.recurrent_initializer;
  c["bias_initializer"] = opt_.bias_initializer;
  c["dropout"] = opt_.dropout;
  c["recurrent_dropout"] = opt_.recurrent_dropout;
  c["return_sequences"] = opt_.return_sequences;
  c["return_state"] = opt_.return_state;
  c["go_backwards"] = opt_.go_backwards;
  return c;
}

RecurrentOptions Recurrent::options_from_config(const Json& c, const std::string& cls) {
  RecurrentOptions o;
  o.use_bias = c.get("use_bias", true);
  o.kernel_initializer = c.get("kernel_initializer", "glorot_uniform");
  o.recurrent_initializer = c.get("recurrent_initializer", "orthogonal");
  o.bias_initializer = c.get("bias_initializer", "zeros");
  o.dropout = c.get("dropout", 0.f);
  o.recurrent_dropout = c.get("recurrent_dropout", 0.f);
  o.return_sequences = c.get("return_sequences", false);
  o.return_state = c.get("return_state", false);
  o.go_backwards = c.get("go_backwards", false);
  for (const char* flag : {"stateful", "unroll"})
    NNC_CHECK(!c.get(flag, false), cls, " config: ", flag, "=true is not supported");
  return o;
}

std::string Recurrent::name_from_config(const Json& c) { return c.get("name", ""); }

void Recurrent::apply_recurrent_config(const Json& c) {
  Json base = Json::object();
  for (const auto& kv : c.items())
    base[kv.first == "recurrent_regularizer" ? "recurrent_kernel_regularizer" : kv.first] = kv.second;
  apply_base_config(base);
}

namespace {
void check_gate_activations(const Json& c, const std::string& cls) {
  NNC_CHECK(c.get("activation", "tanh") == "tanh", cls, " config: only activation \"tanh\" is supported, got \"",
            c.get("activation", ""), "\"");
  NNC_CHECK(c.get("recurrent_activation", "sigmoid") == "sigmoid", cls,
            " config: only recurrent_activation \"sigmoid\" is supported, got \"", c.get("recurrent_activation", ""),
            "\"");
}
int64_t units_from_config(const Json& c, const std::string& cls) {
  return c.at("units", cls + " config").as_int(cls + " units");
}
}  // namespace

Json SimpleRNN::config() const {
  Json c = Recurrent::config();
  c["activation"] = activation();
  return c;
}

LayerPtr SimpleRNN::from_config(const Json& c) {
  auto l = std::make_shared<SimpleRNN>(units_from_config(c, "SimpleRNN"), c.get("activation", "tanh"),
                                       options_from_config(c, "SimpleRNN"), name_from_config(c));
  l->apply_recurrent_config(c);
  return l;
}

Json LSTM::config() const {
  Json c = Recurrent::config();
  c["activation"] = "tanh";
  c["recurrent_activation"] = "sigmoid";
  c["unit_forget_bias"] = unit_forget_bias_;
  return c;
}

LayerPtr LSTM::from_config(const Json& c) {
  check_gate_activations(c, "LSTM");
  auto l = std::make_shared<LSTM>(units_from_config(c, "LSTM"), options_from_config(c, "LSTM"),
                                  c.get("unit_forget_bias", true), name_from_config(c));
  l->apply_recurrent_config(c);
  return l;
}

Json GRU::config() const {
  Json c = Recurrent::config();
  c["activation"] = "tanh";
  c["recurrent_activation"] = "sigmoid";
  c["reset_after"] = true;
  return c;
}

LayerPtr GRU::from_config(const Json& c) {
  check_gate_activations(c, "GRU");
  auto l = std::make_shared<GRU>(units_from_config(c, "GRU"), options_from_config(c, "GRU"),
                                 c.get("reset_after", true), name_from_config(c));
  l->apply_recurrent_config(c);
  return l;
}

Json Bidirectional::config() const {
  Json c = Json::object();
  c["name"] = name_;
  c["trainable"] = trainable_;
  c["layer"] = layer_spec(*fwd_);
  c["merge_mode"] = merge_mode_;
  return c;
}

LayerPtr Bidirectional::from_config(const Json& c) {
  LayerPtr inner = layer_from_config(c.at("layer", "Bidirectional config"));
  auto rnn = std::dynamic_pointer_cast<Recurrent>(inner);
  NNC_CHECK(rnn != nullptr, "Bidirectional config: \"layer\" must be a SimpleRNN, LSTM or GRU, got ",
            inner->class_name());
  auto l = std::make_shared<Bidirectional>(rnn, c.get("merge_mode", "concat"), c.get("name", ""));
  l->set_trainable(c.get("trainable", true));
  return l;
}

}  // namespace nncore
