#include "nncore/layers/sequence.hpp"

#include <algorithm>

#include "layers/common.hpp"
#include "nncore/check.hpp"
#include "nncore/initializers.hpp"

namespace nncore {

using detail::layer_name;

// ---- Embedding ------------------------------------------------------------------------------------------------
Embedding::Embedding(int64_t input_dim, int64_t output_dim, const Initializer& embeddings_initializer,
                     bool mask_zero, int64_t input_length, const std::string& name)
    : Layer(layer_name(name, "Embedding")),
      input_dim_(input_dim),
      output_dim_(output_dim),
      init_(embeddings_initializer),
      mask_zero_(mask_zero),
      input_length_(input_length) {
  const std::string who = "Embedding '" + name_ + "'";
  NNC_CHECK(input_dim >= 1, who, ": input_dim must be >= 1, got ", input_dim);
  NNC_CHECK(output_dim >= 1, who, ": output_dim must be >= 1, got ", output_dim);
  NNC_CHECK(input_length >= 0, who, ": input_length must be >= 1 (or not given), got ", input_length);
  NNC_CHECK(input_dim <= (int64_t{1} << 24), who, ": input_dim must be <= 2^24 (ids travel as float32), got ",
            input_dim);
  embeddings_initializer.check(who + " embeddings_initializer");
}

Shape Embedding::do_build(const Shape& in) {
  NNC_CHECK(input_length_ == 0 || (!in.empty() && (in.back() == input_length_ || in.back() < 0)), "Embedding '",
            name_, "': input_length is ", input_length_, " but the input has shape ", shape_str(batch_shape(-1, in)));
  add_weight("embeddings", {input_dim_, output_dim_}, init_);
  return infer_shape(in);
}

Shape Embedding::infer_shape(const Shape& in) const {
  Shape out = in;
  out.push_back(output_dim_);
  return out;
}

// x is (B, S...) of ids; y is (B, S..., D).
const Tensor* Embedding::output_mask(const LayerCall& c, size_t output) const {
  return mask_zero_ && output == 0 ? &static_cast<const Call&>(c).mask : nullptr;
}

const Tensor& Embedding::forward_one(LayerCall& c, const Tensor& x, bool training) {
  const int64_t n = x.size(), D = output_dim_;
  const int64_t bad = kernels::embedding_first_invalid(x.data(), n, input_dim_);
  if (bad >= 0) {
    const int64_t per_sample = n / x.dim(0);
    NNC_CHECK(false, "Embedding '", name_, "': ids must be integers in [0, input_dim=", input_dim_, "), got ",
              x.data()[bad], " (sample ", bad / per_sample, ", position ", bad % per_sample, ")");
  }
  Tensor& mask = as<Call>(c).mask;
  c.y.resize(batch_shape(x.dim(0), c.output_shapes[0]));
  if (mask_zero_) mask.resize(x.shape());
  // Quantized: embeddings (int8), embeddings_scale (one per row).
  kernels::embedding_forward(c.y.data(), mask_zero_ ? mask.data() : nullptr, x.data(), params_[0].value.data(), n, D,
                             quantized_ ? params_[1].value.data() : nullptr);
  return c.y;
}

// Backward of y = E[x]: dE[x[i]] += dy[i] (scatter-add). The ids have no gradient (piecewise constant): zeros.
const Tensor& Embedding::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  const Tensor& x = c.inputs[0];
  if (trainable_) kernels::embedding_backward(params_[0].grad_accumulator(), dy.data(), x.data(), x.size(), output_dim_);
  if (!need_dx) return c.dx;
  c.dx.resize(x.shape());
  c.dx.zero();
  return c.dx;
}

// ---- Conv1D ---------------------------------------------------------------------------------------------------
Conv1D::Conv1D(int64_t filters, int64_t kernel_size, int64_t strides, const std::string& padding,
               int64_t dilation_rate, const std::string& activation, bool use_bias,
               const Initializer& kernel_initializer, const Initializer& bias_initializer, const std::string& name,
               int64_t groups)
    : Conv2D(1, filters, {1, kernel_size}, {1, strides}, padding, {1, dilation_rate}, activation, use_bias,
             kernel_initializer, bias_initializer, name, groups) {}

// ---- Conv1DTranspose, UpSampling1D ----------------------------------------------------------------------------
Conv1DTranspose::Conv1DTranspose(int64_t filters, int64_t kernel_size, int64_t strides, const std::string& padding,
                                 int64_t output_padding, int64_t dilation_rate, const std::string& activation,
                                 bool use_bias, const Initializer& kernel_initializer,
                                 const Initializer& bias_initializer, const std::string& name)
    : Conv2DTranspose(1, filters, {1, kernel_size}, {1, strides}, padding,
                      {output_padding < 0 ? -1 : 0, output_padding}, {1, dilation_rate}, activation, use_bias,
                      kernel_initializer, bias_initializer, name) {}

UpSampling1D::UpSampling1D(int64_t size, const std::string& name) : UpSampling2D(1, {1, size}, "nearest", name) {}

Cropping1D::Cropping1D(Pair cropping, const std::string& name) : Cropping2D(1, {0, 0}, cropping, name) {}

// ---- 1-D pooling ----------------------------------------------------------------------------------------------
Pooling1D::Pooling1D(Mode mode, int64_t pool_size, int64_t strides, const std::string& padding,
                     const std::string& name)
    : Pooling2D(mode, {1, pool_size}, strides == 0 ? Pair{0, 0} : Pair{1, strides}, padding, name, 1) {}

MaxPooling1D::MaxPooling1D(int64_t pool_size, int64_t strides, const std::string& padding, const std::string& name)
    : Pooling1D(Mode::max, pool_size, strides, padding, name) {}
AveragePooling1D::AveragePooling1D(int64_t pool_size, int64_t strides, const std::string& padding,
                                   const std::string& name)
    : Pooling1D(Mode::average, pool_size, strides, padding, name) {}

GlobalAveragePooling1D::GlobalAveragePooling1D(const std::string& name) : GlobalPooling(false, 1, name) {}
GlobalMaxPooling1D::GlobalMaxPooling1D(const std::string& name) : GlobalPooling(true, 1, name) {}

// ---- TimeDistributed ------------------------------------------------------------------------------------------
TimeDistributed::TimeDistributed(LayerPtr layer, const std::string& name)
    : Layer(layer_name(name, "TimeDistributed")), inner_(std::move(layer)) {
  NNC_CHECK(inner_ != nullptr, "TimeDistributed '", name_, "': expected a layer to wrap, got none");
}

Shape TimeDistributed::do_build(const Shape& in) {
  NNC_CHECK(in.size() >= 2, "TimeDistributed '", name_, "': expected input of shape (batch, time, features...), got ",
            shape_str(batch_shape(-1, in)));
  inner_->build(Shape(in.begin() + 1, in.end()));
  inner_->set_trainable(trainable_);
  params_ = inner_->params();  // copies of the Params share the inner layer's value and grad storage
  quantized_ = inner_->quantized();
  return infer_shape(in);
}

void TimeDistributed::do_quantize() {
  inner_->quantize("int8");
  params_ = inner_->params();
}

void TimeDistributed::refresh_quantized() { inner_->refresh_quantized(); }

Shape TimeDistributed::infer_shape(const Shape& in) const {
  Shape out{in[0]};
  const Shape inner = inner_->output_shapes_for({Shape(in.begin() + 1, in.end())}).at(0);
  out.insert(out.end(), inner.begin(), inner.end());
  return out;
}

void TimeDistributed::set_trainable(bool t) {
  Layer::set_trainable(t);
  inner_->set_trainable(t);
}

std::unique_ptr<LayerCall> TimeDistributed::new_call() const { return std::make_unique<Call>(); }

Tensor TimeDistributed::fold(const Tensor& t) const {
  Shape s{t.dim(0) * t.dim(1)};
  s.insert(s.end(), t.shape().begin() + 2, t.shape().end());
  Tensor v = t;
  v.reshape(s);
  return v;
}

Tensor TimeDistributed::unfold(const Tensor& t, int64_t batch) const {
  Shape s{batch, t.dim(0) / std::max<int64_t>(batch, 1)};
  s.insert(s.end(), t.shape().begin() + 1, t.shape().end());
  Tensor v = t;
  v.reshape(s);
  return v;
}

// The inner layer sees no mask.
const Tensor& TimeDistributed::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& tc = as<Call>(c);
  if (!tc.inner) tc.inner = inner_->make_call({inner_->input_shape()});
  tc.folded = fold(x);
  tc.arg.assign(1, &tc.folded);
  inner_->forward(*tc.inner, tc.arg, {}, training);
  c.y = unfold(*tc.inner->outputs[0], x.dim(0));
  return c.y;
}

const Tensor& TimeDistributed::pre_activation(LayerCall& c) const {
  Call& tc = as<Call>(c);
  tc.preact = unfold(inner_->pre_activation(*tc.inner), c.inputs[0].dim(0));
  return tc.preact;
}

const Tensor& TimeDistributed::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  return run_backward(c, dy, need_dx, false);
}

const Tensor& TimeDistributed::backward_preact_one(LayerCall& c, const Tensor& dz, bool need_dx) {
  return run_backward(c, dz, need_dx, true);
}

const Tensor& TimeDistributed::run_backward(LayerCall& c, const Tensor& dy, bool need_dx, bool from_preact) {
  Call& tc = as<Call>(c);
  // Kept in the call: the inner layer may hand it back as its dx (identity Dropout).
  tc.dpre = fold(dy);
  tc.arg.assign(1, &tc.dpre);
  if (from_preact) inner_->backward_from_preact(*tc.inner, tc.dpre, need_dx);
  else inner_->backward(*tc.inner, tc.arg, need_dx);
  if (!need_dx) return c.dx;
  c.dx = *tc.inner->dxs[0];
  c.dx.reshape(c.inputs[0].shape());
  return c.dx;
}

}  // namespace nncore
