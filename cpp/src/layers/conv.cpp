#include "nncore/layers/conv.hpp"

#include "layers/common.hpp"
#include "ops/conv_geometry.hpp"
#include "nncore/check.hpp"
#include "nncore/initializers.hpp"

namespace nncore {

using detail::layer_name;
using detail::check_padding;
using detail::conv_axis;
using detail::to_kernel;

namespace {

void check_pair(Pair p, const std::string& who, const std::string& what) {
  NNC_CHECK(p[0] >= 1 && p[1] >= 1, who, ": ", what, " must be positive, got (", p[0], ", ", p[1], ")");
}

void check_image_input(const Shape& in, const std::string& who) {
  Shape shown{-1};
  shown.insert(shown.end(), in.begin(), in.end());
  NNC_CHECK(in.size() == 3, who, ": expected input of shape (batch, height, width, channels), got ", shape_str(shown));
}

}  // namespace

// ---- Conv2D ---------------------------------------------------------------------------------------------------
Conv2D::Conv2D(int64_t filters, Pair kernel_size, Pair strides, const std::string& padding, Pair dilation_rate,
               const std::string& activation, bool use_bias, const std::string& kernel_initializer,
               const std::string& bias_initializer, const std::string& name)
    : Conv2D(2, filters, kernel_size, strides, padding, dilation_rate, activation, use_bias, kernel_initializer,
             bias_initializer, name) {}

Conv2D::Conv2D(int rank, int64_t filters, Pair kernel_size, Pair strides, const std::string& padding,
               Pair dilation_rate, const std::string& activation, bool use_bias, const std::string& kernel_initializer,
               const std::string& bias_initializer, const std::string& name)
    : Layer(layer_name(name, rank == 1 ? "Conv1D" : "Conv2D")),
      rank_(rank),
      filters_(filters),
      kernel_(kernel_size),
      strides_(strides),
      dilation_(dilation_rate),
      padding_(padding),
      act_(activation_from_name(activation)),
      alpha_(activation_default_alpha(act_)),
      use_bias_(use_bias),
      kernel_init_(kernel_initializer),
      bias_init_(bias_initializer) {
  NNC_CHECK(filters >= 1, who(), ": filters must be >= 1, got ", filters);
  check_pair(kernel_size, who(), "kernel_size");
  check_pair(strides, who(), "strides");
  check_pair(dilation_rate, who(), "dilation_rate");
  check_padding(padding, who(), rank == 1);
  check_initializer(kernel_initializer, who() + " kernel_initializer");
  check_initializer(bias_initializer, who() + " bias_initializer");
}

std::string Conv2D::who() const { return (rank_ == 1 ? "Conv1D '" : "Conv2D '") + name_ + "'"; }

Shape Conv2D::do_build(const Shape& in) {
  check_image_input(in, who());
  return build_image(in, {kernel_[0], kernel_[1], in[2], filters_});
}

Shape Conv2D::build_image(const Shape& in, const Shape& kernel_shape) {
  const detail::ConvAxis h = conv_axis(in[0], kernel_[0], strides_[0], dilation_[0], padding_);
  const detail::ConvAxis w = conv_axis(in[1], kernel_[1], strides_[1], dilation_[1], padding_);
  if (rank_ == 1)
    NNC_CHECK(w.out >= 1, who(), ": kernel_size ", kernel_[1], " (dilation_rate ", dilation_[1],
              ") is longer than the ", padding_, "-padded input of ", in[1], " steps");
  else
    NNC_CHECK(h.out >= 1 && w.out >= 1, who(), ": kernel ", kernel_[0], "x", kernel_[1], " (dilation ", dilation_[0],
              "x", dilation_[1], ") is larger than the ", padding_, "-padded input ", in[0], "x", in[1]);
  pad_top_ = h.pad_before;
  pad_left_ = w.pad_before;
  image_in_ = in;
  image_out_ = {h.out, w.out, filters_};
  const int64_t C = in[2], taps = kernel_[0] * kernel_[1];
  add_weight("kernel", kernel_shape, kernel_init_, taps * C, taps * filters_);
  if (use_bias_) add_weight("bias", {filters_}, bias_init_, C, filters_);
  return image_out_;
}

namespace {
kernels::ConvGeom geometry(const Shape& in, const Shape& out, int64_t B, Pair k, Pair s, Pair d, int64_t pt,
                           int64_t pl) {
  return {B, in[0], in[1], in[2], k[0], k[1], out[2], out[0], out[1], s[0], s[1], d[0], d[1], pt, pl};
}
}  // namespace

const Tensor& Conv2D::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& cc = as<Call>(c);
  const kernels::ConvGeom g =
      geometry(image_in_, image_out_, x.dim(0), kernel_, strides_, dilation_, pad_top_, pad_left_);
  const Shape out_shape = batch_shape(x.dim(0), output_shape());  // the image output's memory, in the layer's shape
  const kernels::Act act = to_kernel(act_);
  const bool keep_preact = !kernels::conv2d_fuses(act);
  if (keep_preact) cc.preact.resize(out_shape);
  cc.preact_current = keep_preact;
  c.y.resize(out_shape);
  cc.workspace.resize({kernels::conv2d_workspace_size(g)});
  kernels::conv2d_forward(c.y.data(), keep_preact ? cc.preact.data() : nullptr, x.data(), params_[0].value.data(),
                          use_bias_ ? params_[1].value.data() : nullptr, act, alpha_, g, cc.workspace.data(),
                          cc.workspace.size());
  return c.y;
}

const Tensor& Conv2D::pre_activation(LayerCall& c) const {
  Call& cc = as<Call>(c);
  if (act_ == Activation::linear || cc.preact_current) return act_ == Activation::linear ? c.y : cc.preact;
  const Tensor& x = c.inputs[0];
  const kernels::ConvGeom g =
      geometry(image_in_, image_out_, x.dim(0), kernel_, strides_, dilation_, pad_top_, pad_left_);
  cc.preact.resize(c.y.shape());
  cc.workspace.resize({kernels::conv2d_workspace_size(g)});
  kernels::conv2d_forward(cc.preact.data(), nullptr, x.data(), params_[0].value.data(),
                          use_bias_ ? params_[1].value.data() : nullptr, kernels::Act::linear, 0.f, g,
                          cc.workspace.data(), cc.workspace.size());
  cc.preact_current = true;
  return cc.preact;
}

const Tensor& Conv2D::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (act_ != Activation::relu) return Layer::backward_one(c, dy, need_dx);
  return run_backward(c, dy, act_, need_dx);
}

const Tensor& Conv2D::backward_preact_one(LayerCall& c, const Tensor& dz, bool need_dx) {
  return run_backward(c, dz, Activation::linear, need_dx);
}

// dy is the gradient with respect to act(z) for act relu (the kernels apply relu' from the output), or with
// respect to z itself for act linear.
const Tensor& Conv2D::run_backward(LayerCall& c, const Tensor& dy, Activation act, bool need_dx) {
  Call& cc = as<Call>(c);
  const Tensor& x = c.inputs[0];
  const kernels::ConvGeom g =
      geometry(image_in_, image_out_, x.dim(0), kernel_, strides_, dilation_, pad_top_, pad_left_);
  if (need_dx) c.dx.resize(x.shape());
  cc.workspace.resize({kernels::conv2d_workspace_size(g)});
  kernels::conv2d_backward(need_dx ? c.dx.data() : nullptr, trainable_ ? params_[0].grad.data() : nullptr,
                           trainable_ && use_bias_ ? params_[1].grad.data() : nullptr, dy.data(), c.y.data(),
                           to_kernel(act), x.data(), params_[0].value.data(), g, cc.workspace.data(),
                           cc.workspace.size());
  return c.dx;
}

// ---- pooling -------------------------------------------------------------------------------------------------
Pooling2D::Pooling2D(Mode mode, Pair pool_size, Pair strides, const std::string& padding, const std::string& name,
                     int rank)
    : Layer(layer_name(name, std::string(mode == Mode::max ? "MaxPooling" : "AveragePooling") +
                                 (rank == 1 ? "1D" : "2D"))),
      mode_(mode),
      rank_(rank),
      pool_(pool_size),
      strides_(strides[0] == 0 && strides[1] == 0 ? pool_size : strides),
      padding_(padding) {
  const std::string who = class_name() + " '" + name_ + "'";
  check_pair(pool_, who, "pool_size");
  check_pair(strides_, who, "strides");
  check_padding(padding, who);
}

std::string Pooling2D::class_name() const {
  return std::string(mode_ == Mode::max ? "MaxPooling" : "AveragePooling") + (rank_ == 1 ? "1D" : "2D");
}

Shape Pooling2D::do_build(const Shape& in) {
  const std::string who = class_name() + " '" + name_ + "'";
  if (rank_ == 1)
    NNC_CHECK(in.size() == 2, who, ": expected input of shape (batch, steps, channels), got ",
              shape_str(batch_shape(-1, in)));
  else
    check_image_input(in, who);
  image_in_ = rank_ == 1 ? Shape{1, in[0], in[1]} : in;
  const Shape& im = image_in_;
  const detail::ConvAxis h = conv_axis(im[0], pool_[0], strides_[0], 1, padding_);
  const detail::ConvAxis w = conv_axis(im[1], pool_[1], strides_[1], 1, padding_);
  if (rank_ == 1)
    NNC_CHECK(w.out >= 1, who, ": pool_size ", pool_[1], " is longer than the input of ", im[1], " steps");
  else
    NNC_CHECK(h.out >= 1 && w.out >= 1, who, ": pool ", pool_[0], "x", pool_[1], " is larger than the input ", im[0],
              "x", im[1]);
  pad_top_ = h.pad_before;
  pad_left_ = w.pad_before;
  image_out_ = {h.out, w.out, im[2]};
  return rank_ == 1 ? Shape{w.out, im[2]} : image_out_;
}

namespace {
kernels::PoolGeom pool_geometry(const Shape& in, const Shape& out, int64_t B, Pair pool, Pair strides, int64_t pt,
                                int64_t pl) {
  return {B, in[0], in[1], in[2], pool[0], pool[1], out[0], out[1], strides[0], strides[1], pt, pl};
}
}  // namespace

const Tensor& Pooling2D::forward_one(LayerCall& c, const Tensor& x, bool training) {
  const kernels::PoolGeom g = pool_geometry(image_in_, image_out_, x.dim(0), pool_, strides_, pad_top_, pad_left_);
  c.y.resize(batch_shape(x.dim(0), output_shape()));
  if (mode_ == Mode::max) {
    std::vector<int32_t>& argmax = as<Call>(c).argmax;
    argmax.resize(static_cast<size_t>(c.y.size()));
    kernels::maxpool2d_forward(c.y.data(), argmax.data(), x.data(), g);
  } else {
    kernels::avgpool2d_forward(c.y.data(), x.data(), g);
  }
  return c.y;
}

const Tensor& Pooling2D::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  const Tensor& x = c.inputs[0];
  const kernels::PoolGeom g = pool_geometry(image_in_, image_out_, x.dim(0), pool_, strides_, pad_top_, pad_left_);
  c.dx.resize(x.shape());
  if (mode_ == Mode::max) kernels::maxpool2d_backward(c.dx.data(), dy.data(), as<Call>(c).argmax.data(), g);
  else kernels::avgpool2d_backward(c.dx.data(), dy.data(), g);
  return c.dx;
}

MaxPooling2D::MaxPooling2D(Pair pool_size, Pair strides, const std::string& padding, const std::string& name)
    : Pooling2D(Mode::max, pool_size, strides, padding, name) {}
AveragePooling2D::AveragePooling2D(Pair pool_size, Pair strides, const std::string& padding, const std::string& name)
    : Pooling2D(Mode::average, pool_size, strides, padding, name) {}

// ---- global pooling ---------------------------------------------------------------------------------------------
namespace {
std::string global_pooling_name(bool max, int rank) {
  return std::string(max ? "GlobalMaxPooling" : "GlobalAveragePooling") + (rank == 1 ? "1D" : "2D");
}
}  // namespace

GlobalPooling::GlobalPooling(bool max, int rank, const std::string& name)
    : Layer(layer_name(name, global_pooling_name(max, rank))), max_(max), rank_(rank) {
  NNC_CHECK(rank == 1 || rank == 2, "GlobalPooling '", name_, "': rank must be 1 or 2, got ", rank);
}

std::string GlobalPooling::class_name() const { return global_pooling_name(max_, rank_); }

Shape GlobalPooling::do_build(const Shape& in) {
  const std::string who = class_name() + " '" + name_ + "'";
  if (rank_ == 2) check_image_input(in, who);
  else
    NNC_CHECK(in.size() == 2, who, ": expected input of shape (batch, steps, features), got ",
              shape_str(batch_shape(-1, in)));
  return {in.back()};
}

// x is (B, P, C) with P the positions (H*W or steps); mask, if any, is (B, P).
const Tensor& GlobalPooling::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& gc = as<Call>(c);
  const int64_t B = x.dim(0), C = input_shape().back(), P = shape_numel(input_shape()) / C;
  c.y.resize({B, C});
  if (max_) {
    gc.argmax.resize(static_cast<size_t>(B * C));
    kernels::global_maxpool_forward(c.y.data(), gc.argmax.data(), x.data(), B, P, C);
    return c.y;
  }
  const Tensor* mask = c.masks[0];
  gc.masked = rank_ == 1 && mask != nullptr;
  if (gc.masked) {
    NNC_CHECK(mask->shape() == Shape({B, P}), class_name(), " '", name_, "': expected a mask of shape ",
              shape_str({B, P}), ", got ", mask->shape_str());
    gc.mask.resize({B, P});
    gc.mask.copy_from(*mask);  // backward must not depend on the previous layer's buffer
  }
  kernels::global_avgpool_forward(c.y.data(), x.data(), gc.masked ? gc.mask.data() : nullptr, B, P, C);
  return c.y;
}

const Tensor& GlobalPooling::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  Call& gc = as<Call>(c);
  const Tensor& x = c.inputs[0];
  const int64_t B = x.dim(0), C = input_shape().back(), P = shape_numel(input_shape()) / C;
  c.dx.resize(x.shape());
  if (max_) kernels::global_maxpool_backward(c.dx.data(), dy.data(), gc.argmax.data(), B, P, C);
  else kernels::global_avgpool_backward(c.dx.data(), dy.data(), gc.masked ? gc.mask.data() : nullptr, B, P, C);
  return c.dx;
}

GlobalAveragePooling2D::GlobalAveragePooling2D(const std::string& name) : GlobalPooling(false, 2, name) {}
GlobalMaxPooling2D::GlobalMaxPooling2D(const std::string& name) : GlobalPooling(true, 2, name) {}

// ---- ZeroPadding2D --------------------------------------------------------------------------------------------
ZeroPadding2D::ZeroPadding2D(Pair height, Pair width, const std::string& name)
    : Layer(layer_name(name, "ZeroPadding2D")), h_(height), w_(width) {
  NNC_CHECK(h_[0] >= 0 && h_[1] >= 0 && w_[0] >= 0 && w_[1] >= 0, "ZeroPadding2D '", name_,
            "': padding must be >= 0, got ((", h_[0], ", ", h_[1], "), (", w_[0], ", ", w_[1], "))");
}

Shape ZeroPadding2D::do_build(const Shape& in) {
  check_image_input(in, "ZeroPadding2D '" + name_ + "'");
  return {in[0] + h_[0] + h_[1], in[1] + w_[0] + w_[1], in[2]};
}

const Tensor& ZeroPadding2D::forward_one(LayerCall& c, const Tensor& x, bool training) {
  const Shape& in = input_shape();
  c.y.resize(batch_shape(x.dim(0), output_shape()));
  kernels::pad2d_forward(c.y.data(), x.data(), x.dim(0), in[0], in[1], in[2], h_[0], h_[1], w_[0], w_[1]);
  return c.y;
}

const Tensor& ZeroPadding2D::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  const Shape& in = input_shape();
  const Tensor& x = c.inputs[0];
  c.dx.resize(x.shape());
  kernels::pad2d_backward(c.dx.data(), dy.data(), x.dim(0), in[0], in[1], in[2], h_[0], h_[1], w_[0], w_[1]);
  return c.dx;
}

}  // namespace nncore
