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

// A later call of a recurrent layer: its sequence must have the shape the layer was built for.
void check_same_sequence(const Layer& l, const Shape& built, const std::vector<Shape>& in) {
  auto batch_first = [](const Shape& s) {
    Shape b{-1};
    b.insert(b.end(), s.begin(), s.end());
    return shape_str(b);
  };
  NNC_CHECK(!in.empty() && shape_fits(built, in[0]), "Layer '", l.name(), "': already built for input shape ",
            batch_first(built), ", got ", in.empty() ? std::string("no input") : batch_first(in[0]));
}

// backward(dy, dstates) on a layer's own call: the states' gradients are those of its state outputs.
const Tensor& backward_own_with_states(Layer& l, bool return_state, int num_states, const Tensor& dy,
                                       const std::vector<Tensor>& dstates, bool need_dx) {
  if (dstates.empty()) return l.backward(dy, need_dx);
  NNC_CHECK(return_state, "Layer '", l.name(), "' (", l.class_name(),
            "): state gradients need a layer made with return_state=True (its states are then outputs)");
  NNC_CHECK(static_cast<int>(dstates.size()) == num_states, "Layer '", l.name(), "' (", l.class_name(),
            "): expected ", num_states, " state gradient(s) (or none), got ", dstates.size());
  std::vector<const Tensor*> dys{&dy};
  for (const Tensor& d : dstates) dys.push_back(&d);
  const std::vector<const Tensor*>& dxs = l.backward(dys, need_dx);
  static const Tensor empty;
  return dxs.empty() || dxs[0] == nullptr ? empty : *dxs[0];
}

// Checks a (batch, time) mask against x (batch, time, features), naming the layer.
void check_mask(const Tensor& mask, const Tensor& x, const Layer& l) {
  NNC_CHECK(mask.shape() == Shape({x.dim(0), x.dim(1)}), "Layer '", l.name(), "' (", l.class_name(),
            "): expected a mask of shape (", x.dim(0), ", ", x.dim(1), ") for input ", x.shape_str(), ", got ",
            mask.shape_str());
}

}  // namespace

// ---- Recurrent ---------------------------------------------------------------------------------------------

// One call: the sequence computation with its saved activations, and the dropout masks it drew.
struct Recurrent::Call : LayerCall {
  detail::RnnRunner runner;
  bool input_dropout = false, recurrent_dropout = false;  // active in the last forward
  Tensor x_drop, x_mask, r_mask;
};

Recurrent::Recurrent(const std::string& name, RecurrentCell cell, int64_t units, Activation activation,
                     const RecurrentOptions& options)
    : Layer(name), activation_(activation), cell_(cell), units_(units), opt_(options),
      spec_(std::make_unique<kernels::RnnSpec>()) {
  const std::string where = class_name_for_errors();
  NNC_CHECK(units >= 1, where, ": units must be >= 1, got ", units);
  NNC_CHECK(opt_.dropout >= 0.f && opt_.dropout < 1.f, where, ": dropout must be in [0, 1), got ", opt_.dropout);
  NNC_CHECK(opt_.recurrent_dropout >= 0.f && opt_.recurrent_dropout < 1.f, where,
            ": recurrent_dropout must be in [0, 1), got ", opt_.recurrent_dropout);
  opt_.kernel_initializer.check(where + " kernel_initializer");
  opt_.recurrent_initializer.check(where + " recurrent_initializer");
  opt_.bias_initializer.check(where + " bias_initializer");
  kernels::RnnSpec& s = *spec_;
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

std::unique_ptr<LayerCall> Recurrent::new_call() const {
  auto c = std::make_unique<Call>();
  c->runner.spec = *spec_;
  return c;
}

std::vector<Shape> Recurrent::shapes_for(const std::vector<Shape>& in) const {
  const int ns = num_states();
  NNC_CHECK(in.size() == 1 || static_cast<int>(in.size()) == 1 + ns, class_name(), " '", name_,
            "': expected the input sequence and optionally ", ns, " initial state(s), got ", in.size(), " inputs");
  NNC_CHECK(in[0].size() == 2, class_name(), " '", name_, "': expected 3-D input (batch, time, features), got ",
            shape_str(batch_shape(-1, in[0])));
  for (size_t i = 1; i < in.size(); ++i)
    NNC_CHECK(shape_fits({units_}, in[i]), class_name(), " '", name_, "': initial state ", i - 1,
              " must have shape (None, ", units_, "), got ", shape_str(batch_shape(-1, in[i])));
  std::vector<Shape> out{opt_.return_sequences ? Shape{in[0][0], units_} : Shape{units_}};
  if (opt_.return_state)
    for (int i = 0; i < ns; ++i) out.push_back({units_});
  return out;
}

std::vector<Shape> Recurrent::build_shapes(const std::vector<Shape>& in) {
  std::vector<Shape> out = shapes_for(in);
  require_known(in[0], -1, "the features axis");
  const int64_t I = in[0][1], U = units_, GU = spec_->gates() * U;
  add_weight("kernel", {I, GU}, opt_.kernel_initializer);
  add_weight("recurrent_kernel", {U, GU}, opt_.recurrent_initializer);
  if (opt_.use_bias) {
    Param& b = add_weight("bias", cell_ == RecurrentCell::gru ? Shape{2, GU} : Shape{GU}, opt_.bias_initializer);
    adjust_bias(b.value);
  }
  spec_->I = I;
  return out;
}

std::vector<Shape> Recurrent::call_shapes(const std::vector<Shape>& in) const {
  check_same_sequence(*this, input_shapes_[0], in);
  return shapes_for(in);
}

const Tensor* Recurrent::output_mask(const LayerCall& c, size_t output) const {
  return opt_.return_sequences && output == 0 && !c.masks.empty() ? c.masks[0] : nullptr;
}

namespace {
kernels::RnnWeights weights_of(const std::vector<Param>& p, bool gru) {
  const float* bias = p.size() > 2 ? p[2].value.data() : nullptr;
  const int64_t GU = p[1].value.dim(1);
  return {p[0].value.data(), p[1].value.data(), bias, gru && bias != nullptr ? bias + GU : nullptr};
}
}  // namespace

kernels::RnnWeights Recurrent::rnn_weights() const {
  const bool gru = cell_ == RecurrentCell::gru;
  if (!quantized_) return weights_of(params_, gru);
  // [bias], kernel (int8), kernel_scale, recurrent_kernel (int8), recurrent_kernel_scale
  const size_t k = opt_.use_bias ? 1 : 0;
  const float* bias = opt_.use_bias ? params_[0].value.data() : nullptr;
  const int64_t GU = params_[k].value.dim(1);
  kernels::RnnWeights w{params_[k].value.data(), params_[k + 2].value.data(), bias,
                        gru && bias != nullptr ? bias + GU : nullptr};
  w.kernel_q = &int8_packed(0);
  w.kernel_scale = params_[k + 1].value.data();
  w.recurrent_q = &int8_packed(1);
  w.recurrent_scale = params_[k + 3].value.data();
  return w;
}

// The sequence's buffers: the gates (T x gates*U; GRU also its recurrent projections) and the states over the steps
// (h, and c for an LSTM).
int64_t Recurrent::inference_scratch_per_sample(const std::vector<Shape>& in) const {
  if (in.empty() || in[0].empty() || in[0][0] < 0) return 0;  // steps unknown until the call
  const int64_t gates = cell_ == RecurrentCell::lstm ? 4 : cell_ == RecurrentCell::gru ? 6 : 1;
  return in[0][0] * (gates + num_states() + 1) * units_;
}

void Recurrent::forward_list(LayerCall& c, bool training) {
  Call& rc = as<Call>(c);
  const Tensor& x = c.inputs[0];
  const Tensor* mask = c.masks[0];
  const int64_t B = x.dim(0), T = x.dim(1), I = x.dim(2);
  if (mask != nullptr) check_mask(*mask, x, *this);
  rc.runner.spec.zero_masked_output = zero_output_for_mask_;
  const Tensor* xin = &x;
  rc.input_dropout = training && opt_.dropout > 0.f;
  if (rc.input_dropout) {  // one mask per (sample, feature), shared by every step (Keras's dropout)
    rc.x_drop.resize(x.shape());
    rc.x_mask.resize({B, I});
    const uint64_t seed = rng_() ^ (++step_ * 0x9e3779b97f4a7c15ull);
    kernels::spatial_dropout_forward(rc.x_drop.data(), rc.x_mask.data(), x.data(), B, T, I, opt_.dropout, seed);
    xin = &rc.x_drop;
  }
  rc.recurrent_dropout = training && opt_.recurrent_dropout > 0.f;
  if (rc.recurrent_dropout) {
    rc.r_mask.resize({B, units_});
    const uint64_t seed = rng_() ^ (++step_ * 0x9e3779b97f4a7c15ull);
    kernels::dropout_mask(rc.r_mask.data(), B * units_, opt_.recurrent_dropout, seed);
  }
  const float* h0 = c.inputs.size() > 1 ? c.inputs[1].data() : nullptr;
  const float* c0 = c.inputs.size() > 2 ? c.inputs[2].data() : nullptr;
  rc.runner.forward(*xin, mask != nullptr ? mask->data() : nullptr, h0, c0,
                    rc.recurrent_dropout ? rc.r_mask.data() : nullptr, rnn_weights(), false);
  c.outputs.assign(1, &rc.runner.y);
  if (opt_.return_state) {
    c.outputs.push_back(&rc.runner.h_last);
    if (cell_ == RecurrentCell::lstm) c.outputs.push_back(&rc.runner.c_last);
  }
}

void Recurrent::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  Call& rc = as<Call>(c);
  const Tensor& x = c.inputs[0];
  const int64_t B = x.dim(0), T = x.dim(1), I = x.dim(2);
  const bool gru = cell_ == RecurrentCell::gru;
  float* dk = trainable_ ? params_[0].grad_accumulator() : nullptr;
  float* dr = trainable_ ? params_[1].grad_accumulator() : nullptr;
  float* db = trainable_ && opt_.use_bias ? params_[2].grad_accumulator() : nullptr;
  float* drb = db != nullptr && gru ? db + rc.runner.spec.gates() * units_ : nullptr;
  const float* dh = dys.size() > 1 ? dys[1]->data() : nullptr;
  const float* dc = dys.size() > 2 ? dys[2]->data() : nullptr;
  rc.runner.backward(*dys[0], dh, dc, need_dx, dk, dr, db, drb, weights_of(params_, gru), false);
  if (c.inputs.size() > 1) c.dxs[1] = &rc.runner.dh0;
  if (c.inputs.size() > 2) c.dxs[2] = &rc.runner.dc0;
  if (!need_dx) return;
  if (!rc.input_dropout) {
    c.dxs[0] = &rc.runner.dx;
    return;
  }
  c.dx.resize(x.shape());
  kernels::mul_channels(c.dx.data(), rc.runner.dx.data(), rc.x_mask.data(), B, T, I);
  c.dxs[0] = &c.dx;
}

const Tensor& Recurrent::backward_with_states(const Tensor& dy, const std::vector<Tensor>& dstates, bool need_dx) {
  return backward_own_with_states(*this, opt_.return_state, num_states(), dy, dstates, need_dx);
}

const Tensor& Recurrent::state(const LayerCall& c, int i) const {
  NNC_CHECK(i >= 0 && i < num_states(), "Layer '", name_, "': state index ", i, " out of range [0, ", num_states(),
            ")");
  const Call& rc = static_cast<const Call&>(c);
  NNC_CHECK(rc.runner.has_forward(), "Layer '", name_, "': no states before the first forward");
  return i == 0 ? rc.runner.h_last : rc.runner.c_last;
}

const Tensor& Recurrent::state(int i) { return state(own_call(), i); }

const Tensor& Recurrent::state_gradient(int i) {
  NNC_CHECK(i >= 0 && i < num_states(), "Layer '", name_, "': state index ", i, " out of range [0, ", num_states(),
            ")");
  const Call& rc = as<Call>(own_call());
  return i == 0 ? rc.runner.dh0 : rc.runner.dc0;
}

void Recurrent::copy_settings_to(Recurrent& other) const {
  for (const auto& nr : pending_regularizers_) other.set_regularizer(nr.first, nr.second);
  for (const Param& p : params_)
    if (p.regularizer.active()) other.set_regularizer(p.name, p.regularizer);
  other.set_zero_output_for_mask(zero_output_for_mask_);
  other.set_trainable(trainable_);
  other.set_quantize_at_build(quantize_at_build_ || quantized_);
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

std::vector<Shape> Bidirectional::shapes_for(const std::vector<Shape>& in) const {
  const int ns = fwd_->num_states();
  NNC_CHECK(in.size() == 1 || static_cast<int>(in.size()) == 1 + 2 * ns, "Bidirectional '", name_,
            "': expected the input sequence and optionally ", 2 * ns,
            " initial states (the forward layer's, then the backward layer's), got ", in.size(), " inputs");
  NNC_CHECK(in[0].size() == 2, "Bidirectional '", name_, "': expected 3-D input (batch, time, features), got ",
            shape_str(batch_shape(-1, in[0])));
  const int64_t U = fwd_->units();
  for (size_t i = 1; i < in.size(); ++i)
    NNC_CHECK(shape_fits({U}, in[i]), "Bidirectional '", name_, "': initial state ", i - 1, " must have shape (None, ",
              U, "), got ", shape_str(batch_shape(-1, in[i])));
  const bool seq = fwd_->options().return_sequences;
  Shape out = seq ? Shape{in[0][0], U} : Shape{U};
  if (mode_ == static_cast<int>(kernels::MergeMode::concat)) out.back() *= 2;
  std::vector<Shape> outs{out};
  if (fwd_->options().return_state)
    for (int i = 0; i < 2 * ns; ++i) outs.push_back({U});
  return outs;
}

std::vector<Shape> Bidirectional::build_shapes(const std::vector<Shape>& in) {
  std::vector<Shape> out = shapes_for(in);
  fwd_->build(in[0]);
  bwd_->build(in[0]);
  fwd_->set_trainable(trainable_);
  bwd_->set_trainable(trainable_);
  adopt_params();
  return out;
}

void Bidirectional::adopt_params() {
  params_.clear();
  for (const auto& half : {std::make_pair(fwd_, "forward_"), std::make_pair(bwd_, "backward_")})
    for (const Param& p : half.first->params()) {
      Param q = p;  // shares the value and gradient storage of the sub-layer's weight
      q.name = std::string(half.second) + p.name;
      params_.push_back(q);
    }
  quantized_ = fwd_->quantized();  // a quantized model's file: the halves quantized as they built
}

void Bidirectional::do_quantize() {
  fwd_->quantize("int8");
  bwd_->quantize("int8");
  adopt_params();
}

void Bidirectional::refresh_quantized() {
  fwd_->refresh_quantized();
  bwd_->refresh_quantized();
}

std::vector<Shape> Bidirectional::call_shapes(const std::vector<Shape>& in) const {
  check_same_sequence(*this, input_shapes_[0], in);
  return shapes_for(in);
}

void Bidirectional::set_trainable(bool t) {
  Layer::set_trainable(t);
  fwd_->set_trainable(t);
  bwd_->set_trainable(t);
}

const Tensor* Bidirectional::output_mask(const LayerCall& c, size_t output) const {
  return fwd_->options().return_sequences && output == 0 && !c.masks.empty() ? c.masks[0] : nullptr;
}

void Bidirectional::forward_list(LayerCall& c, bool training) {
  Call& bc = as<Call>(c);
  const Tensor& x = c.inputs[0];
  const Tensor* mask = c.masks[0];
  if (mask != nullptr) check_mask(*mask, x, *this);
  const size_t ns = static_cast<size_t>(fwd_->num_states());
  const bool with_states = c.inputs.size() > 1;
  bc.fin.assign(1, &x);
  bc.bin.assign(1, &x);
  if (with_states)
    for (size_t i = 0; i < ns; ++i) {
      bc.fin.push_back(&c.inputs[1 + i]);
      bc.bin.push_back(&c.inputs[1 + ns + i]);
    }
  if (!bc.f) {
    std::vector<Shape> half{c.declared_shapes[0]};  // the halves' calls follow the lengths of each batch too
    for (size_t i = 0; with_states && i < ns; ++i) half.push_back(c.declared_shapes[1 + i]);
    bc.f = fwd_->make_call(half);
    bc.b = bwd_->make_call(half);
  }
  bc.mask.assign(1, mask);
  fwd_->forward(*bc.f, bc.fin, bc.mask, training);
  bwd_->forward(*bc.b, bc.bin, bc.mask, training);
  const Tensor& yf = *bc.f->outputs[0];
  const Tensor& yb = *bc.b->outputs[0];
  const int64_t B = x.dim(0), U = fwd_->units(), T = fwd_->options().return_sequences ? x.dim(1) : 1;
  c.y.resize(batch_shape(B, c.output_shapes[0]));
  kernels::bidirectional_merge(c.y.data(), yf.data(), yb.data(), B, T, U, static_cast<kernels::MergeMode>(mode_));
  c.outputs.assign(1, &c.y);
  for (size_t j = 1; j < bc.f->outputs.size(); ++j) c.outputs.push_back(bc.f->outputs[j]);
  for (size_t j = 1; j < bc.b->outputs.size(); ++j) c.outputs.push_back(bc.b->outputs[j]);
}

void Bidirectional::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  Call& bc = as<Call>(c);
  const Tensor& x = c.inputs[0];
  const Tensor& yf = *bc.f->outputs[0];
  const Tensor& yb = *bc.b->outputs[0];
  const int64_t B = x.dim(0), U = fwd_->units(), T = fwd_->options().return_sequences ? x.dim(1) : 1;
  bc.dyf.resize(yf.shape());
  bc.dyb.resize(yb.shape());
  kernels::bidirectional_merge_backward(bc.dyf.data(), bc.dyb.data(), dys[0]->data(), yf.data(), yb.data(), B, T, U,
                                        static_cast<kernels::MergeMode>(mode_));
  const size_t nf = bc.f->outputs.size() - 1;  // state outputs per half (0 without return_state)
  bc.fdy.assign(1, &bc.dyf);
  bc.bdy.assign(1, &bc.dyb);
  for (size_t i = 0; i < nf; ++i) {
    bc.fdy.push_back(dys[1 + i]);
    bc.bdy.push_back(dys[1 + nf + i]);
  }
  fwd_->backward(*bc.f, bc.fdy, need_dx);
  bwd_->backward(*bc.b, bc.bdy, need_dx);
  const size_t ns = bc.f->inputs.size() - 1;  // initial states given per half
  for (size_t i = 0; i < ns; ++i) {
    c.dxs[1 + i] = bc.f->dxs[1 + i];
    c.dxs[1 + ns + i] = bc.b->dxs[1 + i];
  }
  if (!need_dx) return;
  c.dx.resize(x.shape());
  kernels::add(c.dx.data(), bc.f->dxs[0]->data(), bc.b->dxs[0]->data(), c.dx.size());
  c.dxs[0] = &c.dx;
}

const Tensor& Bidirectional::backward_with_states(const Tensor& dy, const std::vector<Tensor>& dstates, bool need_dx) {
  return backward_own_with_states(*this, fwd_->options().return_state, num_states(), dy, dstates, need_dx);
}

const Tensor& Bidirectional::state(int i) {
  const int n = fwd_->num_states();
  NNC_CHECK(i >= 0 && i < 2 * n, "Layer '", name_, "': state index ", i, " out of range [0, ", 2 * n, ")");
  Call& bc = as<Call>(own_call());
  NNC_CHECK(bc.f != nullptr, "Layer '", name_, "': no states before the first forward");
  return i < n ? fwd_->state(*bc.f, i) : bwd_->state(*bc.b, i - n);
}

// ---- configs ----------------------------------------------------------------------------------------------

Json Recurrent::config() const {
  Json base = Layer::config();
  Json c = Json::object();
  for (const auto& kv : base.items())  // Keras names the recurrent kernel's penalty "recurrent_regularizer"
    c[kv.first == "recurrent_kernel_regularizer" ? "recurrent_regularizer" : kv.first] = kv.second;
  c["units"] = units_;
  c["use_bias"] = opt_.use_bias;
  c["kernel_initializer"] = opt_.kernel_initializer.to_json();
  c["recurrent_initializer"] = opt_.recurrent_initializer.to_json();
  c["bias_initializer"] = opt_.bias_initializer.to_json();
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
  const std::string who = str_cat(cls, " '", c.get("name", ""), "'");
  o.kernel_initializer = initializer_from_config(c, "kernel_initializer", "glorot_uniform", who);
  o.recurrent_initializer = initializer_from_config(c, "recurrent_initializer", "orthogonal", who);
  o.bias_initializer = initializer_from_config(c, "bias_initializer", "zeros", who);
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
