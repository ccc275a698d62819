#include "nncore/layers/conv.hpp"

#include "kernels/nd.hpp"
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
               const std::string& activation, bool use_bias, const Initializer& kernel_initializer,
               const Initializer& bias_initializer, const std::string& name, int64_t groups)
    : Conv2D(2, filters, kernel_size, strides, padding, dilation_rate, activation, use_bias, kernel_initializer,
             bias_initializer, name, groups) {}

Conv2D::Conv2D(int rank, int64_t filters, Pair kernel_size, Pair strides, const std::string& padding,
               Pair dilation_rate, const std::string& activation, bool use_bias, const Initializer& kernel_initializer,
               const Initializer& bias_initializer, const std::string& name, int64_t groups)
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
      bias_init_(bias_initializer),
      groups_(groups) {
  NNC_CHECK(filters >= 1, who(), ": filters must be >= 1, got ", filters);
  NNC_CHECK(groups >= 1 && filters % groups == 0, who(), ": groups must be >= 1 and divide filters (", filters,
            "), got ", groups);
  check_pair(kernel_size, who(), "kernel_size");
  check_pair(strides, who(), "strides");
  check_pair(dilation_rate, who(), "dilation_rate");
  check_padding(padding, who(), rank == 1);
  kernel_initializer.check(who() + " kernel_initializer");
  bias_initializer.check(who() + " bias_initializer");
}

std::string Conv2D::who() const { return (rank_ == 1 ? "Conv1D '" : "Conv2D '") + name_ + "'"; }

Shape Conv2D::do_build(const Shape& in) {
  const Shape out = infer_shape(in);
  require_known(in, -1, "the channel axis");
  NNC_CHECK(in.back() % groups_ == 0, who(), ": the input's ", in.back(), " channels do not split into groups=",
            groups_);
  const int64_t C = in.back() / groups_;  // each filter sees its group's channels
  const Shape kernel_shape = rank_ == 1 ? Shape{kernel_[1], C, filters_} : Shape{kernel_[0], kernel_[1], C, filters_};
  add_weight("kernel", kernel_shape, kernel_init_);
  if (use_bias_) add_weight("bias", {filters_}, bias_init_);
  return out;
}

namespace {
// conv_axis, with an unknown (-1) length staying unknown.
detail::ConvAxis axis_of(int64_t in, int64_t k, int64_t s, int64_t d, const std::string& padding) {
  return in < 0 ? detail::ConvAxis{-1, 0} : conv_axis(in, k, s, d, padding);
}

// The images of a window over per-sample input `in` (a 1-D layer's (steps, C) as one row) with `channels` out.
ConvImage conv_image(const Shape& in, int rank, Pair k, Pair s, Pair d, const std::string& padding,
                     int64_t channels) {
  ConvImage im;
  im.in = rank == 1 ? Shape{1, in[0], in[1]} : in;
  const detail::ConvAxis h = axis_of(im.in[0], k[0], s[0], d[0], padding);
  const detail::ConvAxis w = axis_of(im.in[1], k[1], s[1], d[1], padding);
  im.out = {h.out, w.out, channels};
  im.pad_top = h.pad_before;
  im.pad_left = w.pad_before;
  return im;
}
}  // namespace

Conv2D::Image Conv2D::image(const Shape& in) const {
  return conv_image(in, rank_, kernel_, strides_, dilation_, padding_, filters_);
}

Shape Conv2D::infer_shape(const Shape& in) const {
  if (rank_ == 1)
    NNC_CHECK(in.size() == 2, who(), ": expected input of shape (batch, steps, channels), got ",
              shape_str(batch_shape(-1, in)));
  else
    check_image_input(in, who());
  const Image im = image(in);
  const int64_t oh = im.out[0], ow = im.out[1];
  if (rank_ == 1)
    NNC_CHECK(ow != 0, who(), ": kernel_size ", kernel_[1], " (dilation_rate ", dilation_[1],
              ") is longer than the ", padding_, "-padded input of ", im.in[1], " steps");
  else
    NNC_CHECK(oh != 0 && ow != 0, who(), ": kernel ", kernel_[0], "x", kernel_[1], " (dilation ", dilation_[0],
              "x", dilation_[1], ") is larger than the ", padding_, "-padded input ", im.in[0], "x", im.in[1]);
  return rank_ == 1 ? Shape{ow, filters_} : im.out;
}

namespace {
kernels::ConvGeom geometry(const Shape& in, const Shape& out, int64_t B, Pair k, Pair s, Pair d, int64_t pt,
                           int64_t pl) {
  return {B, in[0], in[1], in[2], k[0], k[1], out[2], out[0], out[1], s[0], s[1], d[0], d[1], pt, pl};
}
}  // namespace

kernels::ConvGeom Conv2D::geometry_of(const LayerCall& c, int64_t batch) const {
  const Image im = image(c.input_shapes[0]);
  return geometry(im.in, im.out, batch, kernel_, strides_, dilation_, im.pad_top, im.pad_left);
}

const Tensor& Conv2D::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& cc = as<Call>(c);
  const kernels::ConvGeom g = geometry_of(c, x.dim(0));
  if (groups_ > 1) return forward_grouped(c, x, g);
  const Shape out_shape = batch_shape(x.dim(0), c.output_shapes[0]);  // the image output's memory, in the call's shape
  if (quantized_) {  // weights: [bias], kernel (int8), kernel_scale; the pre-activation kept for any activation
    const bool keep_preact = act_ != Activation::linear;
    if (keep_preact) cc.preact.resize(out_shape);
    cc.preact_current = keep_preact;
    c.y.resize(out_shape);
    kernels::conv2d_forward_s8(keep_preact ? cc.preact.data() : c.y.data(), x.data(), int8_packed(0),
                               params_.back().value.data(), use_bias_ ? params_[0].value.data() : nullptr, false, g);
    if (keep_preact) kernels::act_forward(to_kernel(act_), c.y.data(), cc.preact.data(), g.B * g.OH * g.OW, g.OC, alpha_);
    return c.y;
  }
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
  const kernels::ConvGeom g = geometry_of(c, x.dim(0));
  cc.preact.resize(c.y.shape());
  cc.workspace.resize({kernels::conv2d_workspace_size(g)});
  kernels::conv2d_forward(cc.preact.data(), nullptr, x.data(), params_[0].value.data(),
                          use_bias_ ? params_[1].value.data() : nullptr, kernels::Act::linear, 0.f, g,
                          cc.workspace.data(), cc.workspace.size());
  cc.preact_current = true;
  return cc.preact;
}

const Tensor& Conv2D::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (act_ != Activation::relu || groups_ > 1) return Layer::backward_one(c, dy, need_dx);
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
  const kernels::ConvGeom g = geometry_of(c, x.dim(0));
  if (groups_ > 1) return backward_grouped(c, dy, g, need_dx);  // act is linear here (Layer::backward_one)
  if (need_dx) c.dx.resize(x.shape());
  cc.workspace.resize({kernels::conv2d_workspace_size(g)});
  kernels::conv2d_backward(need_dx ? c.dx.data() : nullptr, trainable_ ? params_[0].grad_accumulator() : nullptr,
                           trainable_ && use_bias_ ? params_[1].grad_accumulator() : nullptr, dy.data(), c.y.data(),
                           to_kernel(act), x.data(), params_[0].value.data(), g, cc.workspace.data(),
                           cc.workspace.size());
  return c.dx;
}

// Grouped: the channels of every pixel are [group 0 | group 1 | ...], so a (pixels, groups, per-group) permutation
// to (groups, pixels, per-group) makes each group's input, kernel columns and output contiguous for conv2d.
namespace {

// A grouped convolution's sizes: G groups of Cg input and Fg output channels, P input and Q output pixels, KC rows
// of a group's kernel, and the per-group geometry conv2d runs.
struct Groups {
  int64_t G, Cg, Fg, P, Q, KC;
  kernels::ConvGeom geom;
};
Groups groups_of(const kernels::ConvGeom& g, int64_t groups) {
  Groups s{groups, g.C / groups, g.OC / groups, g.B * g.H * g.W, g.B * g.OH * g.OW, 0, g};
  s.KC = g.KH * g.KW * s.Cg;
  s.geom.C = s.Cg;
  s.geom.OC = s.Fg;
  return s;
}

}  // namespace

const Tensor& Conv2D::forward_grouped(LayerCall& c, const Tensor& x, const kernels::ConvGeom& g) {
  Call& cc = as<Call>(c);
  const Groups s = groups_of(g, groups_);
  const int64_t G = s.G, Cg = s.Cg, Fg = s.Fg, P = s.P, Q = s.Q, KC = s.KC;
  const kernels::ConvGeom& gg = s.geom;
  cc.xg.resize({G, P, Cg});
  kernels::permute(cc.xg.data(), x.data(), {P, G, Cg}, {1, 0, 2});
  cc.wg.resize({G, KC, Fg});
  kernels::permute(cc.wg.data(), params_[0].value.data(), {KC, G, Fg}, {1, 0, 2});
  cc.yg.resize({G, Q, Fg});
  cc.workspace.resize({kernels::conv2d_workspace_size(gg)});
  for (int64_t k = 0; k < G; ++k)
    kernels::conv2d_forward(cc.yg.data() + k * Q * Fg, nullptr, cc.xg.data() + k * P * Cg,
                            cc.wg.data() + k * KC * Fg, nullptr, kernels::Act::linear, 0.f, gg, cc.workspace.data(),
                            cc.workspace.size());
  const Shape out_shape = batch_shape(x.dim(0), c.output_shapes[0]);
  Tensor& z = act_ == Activation::linear ? c.y : cc.preact;
  z.resize(out_shape);
  c.y.resize(out_shape);
  kernels::permute(z.data(), cc.yg.data(), {G, Q, Fg}, {1, 0, 2});
  if (use_bias_) kernels::add_rows_bias(z.data(), params_[1].value.data(), Q, g.OC);
  if (act_ != Activation::linear) kernels::act_forward(to_kernel(act_), c.y.data(), z.data(), Q, g.OC, alpha_);
  cc.preact_current = act_ != Activation::linear;
  return c.y;
}

const Tensor& Conv2D::backward_grouped(LayerCall& c, const Tensor& dz, const kernels::ConvGeom& g, bool need_dx) {
  Call& cc = as<Call>(c);
  const Groups s = groups_of(g, groups_);
  const int64_t G = s.G, Cg = s.Cg, Fg = s.Fg, P = s.P, Q = s.Q, KC = s.KC;
  const kernels::ConvGeom& gg = s.geom;
  cc.dyg.resize({G, Q, Fg});
  kernels::permute(cc.dyg.data(), dz.data(), {Q, G, Fg}, {1, 0, 2});
  if (need_dx) cc.dxg.resize({G, P, Cg});
  if (trainable_) cc.dwg = Tensor({G, KC, Fg});  // conv2d_backward accumulates into it
  cc.workspace.resize({kernels::conv2d_workspace_size(gg)});
  for (int64_t k = 0; k < G; ++k)
    kernels::conv2d_backward(need_dx ? cc.dxg.data() + k * P * Cg : nullptr,
                             trainable_ ? cc.dwg.data() + k * KC * Fg : nullptr, nullptr, cc.dyg.data() + k * Q * Fg,
                             nullptr, kernels::Act::linear, cc.xg.data() + k * P * Cg, cc.wg.data() + k * KC * Fg,
                             gg, cc.workspace.data(), cc.workspace.size());
  if (trainable_) {
    cc.dw_back.resize({KC, G, Fg});
    kernels::permute(cc.dw_back.data(), cc.dwg.data(), {G, KC, Fg}, {1, 0, 2});
    float* dw = params_[0].grad_accumulator();
    kernels::add(dw, dw, cc.dw_back.data(), cc.dw_back.size());
    if (use_bias_) kernels::col_sum_accumulate(params_[1].grad_accumulator(), dz.data(), Q, g.OC);
  }
  if (!need_dx) return c.dx;
  c.dx.resize(c.inputs[0].shape());
  kernels::permute(c.dx.data(), cc.dxg.data(), {G, P, Cg}, {1, 0, 2});
  return c.dx;
}

// ---- Conv2DTranspose ------------------------------------------------------------------------------------------
namespace {
// Output lengths from which the upsampling layers refuse (a forged config, not an image), checked in floating point
// before the integer arithmetic that could overflow.
constexpr double kMaxLength = 1125899906842624.0;  // 2^50

// "(a, b)", or "b" for a 1-D layer's pair {1, b}.
std::string pair_str(Pair p, int rank) {
  return rank == 1 ? std::to_string(p[1]) : str_cat("(", p[0], ", ", p[1], ")");
}
}  // namespace

Conv2DTranspose::Conv2DTranspose(int64_t filters, Pair kernel_size, Pair strides, const std::string& padding,
                                 Pair output_padding, Pair dilation_rate, const std::string& activation,
                                 bool use_bias, const Initializer& kernel_initializer,
                                 const Initializer& bias_initializer, const std::string& name)
    : Conv2DTranspose(2, filters, kernel_size, strides, padding, output_padding, dilation_rate, activation, use_bias,
                      kernel_initializer, bias_initializer, name) {}

Conv2DTranspose::Conv2DTranspose(int rank, int64_t filters, Pair kernel_size, Pair strides,
                                 const std::string& padding, Pair output_padding, Pair dilation_rate,
                                 const std::string& activation, bool use_bias, const Initializer& kernel_initializer,
                                 const Initializer& bias_initializer, const std::string& name)
    : Layer(layer_name(name, rank == 1 ? "Conv1DTranspose" : "Conv2DTranspose")),
      rank_(rank),
      filters_(filters),
      kernel_(kernel_size),
      strides_(strides),
      output_padding_(output_padding),
      dilation_(dilation_rate),
      padding_(padding),
      act_(activation_from_name(activation)),
      alpha_(activation_default_alpha(act_)),
      use_bias_(use_bias),
      kernel_init_(kernel_initializer),
      bias_init_(bias_initializer) {
  NNC_CHECK(filters >= 1, who(), ": filters must be >= 1, got ", filters);
  NNC_CHECK(kernel_size[0] >= 1 && kernel_size[1] >= 1, who(), ": kernel_size must be positive, got ",
            pair_str(kernel_size, rank));
  NNC_CHECK(strides[0] >= 1 && strides[1] >= 1, who(), ": strides must be positive, got ", pair_str(strides, rank));
  NNC_CHECK(dilation_rate[0] >= 1 && dilation_rate[1] >= 1, who(), ": dilation_rate must be positive, got ",
            pair_str(dilation_rate, rank));
  check_padding(padding, who());
  const bool none = output_padding[0] < 0 && output_padding[1] < 0;
  if (!none) {  // Keras's rule: each axis's output_padding in [0, stride)
    const bool ok = output_padding[0] >= 0 && output_padding[1] >= 0 && output_padding[0] < strides[0] &&
                    output_padding[1] < strides[1];
    NNC_CHECK(ok, who(), ": output_padding must be >= 0 and smaller than strides on each axis, got output_padding ",
              pair_str(output_padding, rank), " with strides ", pair_str(strides, rank));
  } else {
    output_padding_ = {-1, -1};
  }
  kernel_initializer.check(who() + " kernel_initializer");
  bias_initializer.check(who() + " bias_initializer");
}

std::string Conv2DTranspose::who() const {
  return (rank_ == 1 ? "Conv1DTranspose '" : "Conv2DTranspose '") + name_ + "'";
}

Shape Conv2DTranspose::do_build(const Shape& in) {
  const Shape out = infer_shape(in);
  require_known(in, -1, "the channel axis");
  const int64_t C = in.back(), taps = kernel_[0] * kernel_[1];
  const Shape kernel_shape = rank_ == 1 ? Shape{kernel_[1], filters_, C} : Shape{kernel_[0], kernel_[1], filters_, C};
  // Keras's fans for a kernel (..., filters, C): the second-to-last axis is "in".
  add_weight("kernel", kernel_shape, kernel_init_);
  if (use_bias_) add_weight("bias", {filters_}, bias_init_);
  return out;
}

Conv2DTranspose::Image Conv2DTranspose::image(const Shape& in) const {
  Image im;
  im.in = rank_ == 1 ? Shape{1, in[0], in[1]} : in;
  const auto axis = [&](int a) {
    return im.in[a] < 0 ? detail::ConvAxis{-1, 0}
                        : detail::conv_transpose_axis(im.in[a], kernel_[a], strides_[a], dilation_[a], padding_,
                                                      output_padding_[a]);
  };
  const detail::ConvAxis h = axis(0), w = axis(1);
  im.out = {h.out, w.out, filters_};
  im.pad_top = h.pad_before;
  im.pad_left = w.pad_before;
  return im;
}

Shape Conv2DTranspose::infer_shape(const Shape& in) const {
  if (rank_ == 1)
    NNC_CHECK(in.size() == 2, who(), ": expected input of shape (batch, steps, channels), got ",
              shape_str(batch_shape(-1, in)));
  else
    check_image_input(in, who());
  const Shape im_in = rank_ == 1 ? Shape{1, in[0], in[1]} : in;
  for (int a = 0; a < 2; ++a) {
    NNC_CHECK(im_in[a] != 0, who(), ": expected input of non-zero length, got ", shape_str(batch_shape(-1, in)));
    // Estimated in floating point first, so that a forged config cannot overflow the integer arithmetic.
    const double longest = static_cast<double>(im_in[a]) * static_cast<double>(strides_[a]) +
                           static_cast<double>(kernel_[a]) * static_cast<double>(dilation_[a]);
    NNC_CHECK(longest < kMaxLength, who(), ": the output of input ", shape_str(batch_shape(-1, in)),
              " would be too long (kernel_size ", pair_str(kernel_, rank_), ", strides ", pair_str(strides_, rank_),
              ", dilation_rate ", pair_str(dilation_, rank_), ")");
  }
  const Image im = image(in);
  NNC_CHECK(im.out[0] != 0 && im.out[1] != 0, who(), ": the output would be empty (", im.out[0], "x", im.out[1],
            ") for input ", shape_str(batch_shape(-1, in)), " with kernel_size ", pair_str(kernel_, rank_),
            ", padding '", padding_, "' and output_padding ",
            has_output_padding() ? pair_str(output_padding_, rank_) : "None");
  return rank_ == 1 ? Shape{im.out[1], filters_} : im.out;
}

kernels::ConvGeom Conv2DTranspose::geometry_of(const LayerCall& c, int64_t batch) const {
  const Image im = image(c.input_shapes[0]);
  // The adjoint convolution: input image (OH, OW, filters) -> output (H, W, C_in).
  return geometry(im.out, im.in, batch, kernel_, strides_, dilation_, im.pad_top, im.pad_left);
}

const Tensor& Conv2DTranspose::pre_activation(LayerCall& c) const {
  return act_ == Activation::linear ? c.y : as<Call>(c).preact;
}

// z = conv_transpose(x) = the adjoint convolution's input gradient for output gradient x; y = act(z + bias).
const Tensor& Conv2DTranspose::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& cc = as<Call>(c);
  const kernels::ConvGeom g = geometry_of(c, x.dim(0));
  const Shape out_shape = batch_shape(x.dim(0), c.output_shapes[0]);
  Tensor& z = act_ == Activation::linear ? c.y : cc.preact;
  z.resize(out_shape);
  c.y.resize(out_shape);
  cc.workspace.resize({kernels::conv2d_workspace_size(g)});
  kernels::conv2d_backward(z.data(), nullptr, nullptr, x.data(), nullptr, kernels::Act::linear, nullptr,
                           params_[0].value.data(), g, cc.workspace.data(), cc.workspace.size());
  const int64_t rows = z.size() / filters_;
  if (use_bias_) kernels::add_rows_bias(z.data(), params_[1].value.data(), rows, filters_);
  if (act_ != Activation::linear) kernels::act_forward(to_kernel(act_), c.y.data(), z.data(), rows, filters_, alpha_);
  return c.y;
}

// Backward of z = conv_transpose(x) + bias, through the adjoint convolution: dx = conv(dz) (its forward),
// dkernel += its weight gradient with dz as the input image and x as the output gradient, dbias += sum of dz.
const Tensor& Conv2DTranspose::backward_preact_one(LayerCall& c, const Tensor& dz, bool need_dx) {
  Call& cc = as<Call>(c);
  const Tensor& x = c.inputs[0];
  const kernels::ConvGeom g = geometry_of(c, x.dim(0));
  cc.workspace.resize({kernels::conv2d_workspace_size(g)});
  if (trainable_) {
    kernels::conv2d_backward(nullptr, params_[0].grad_accumulator(), nullptr, x.data(), nullptr, kernels::Act::linear,
                             dz.data(), params_[0].value.data(), g, cc.workspace.data(), cc.workspace.size());
    if (use_bias_) kernels::col_sum_accumulate(params_[1].grad_accumulator(), dz.data(), dz.size() / filters_, filters_);
  }
  if (!need_dx) return c.dx;
  c.dx.resize(x.shape());
  kernels::conv2d_forward(c.dx.data(), nullptr, dz.data(), params_[0].value.data(), nullptr, kernels::Act::linear,
                          0.f, g, cc.workspace.data(), cc.workspace.size());
  return c.dx;
}

// ---- DepthwiseConv2D, SeparableConv2D ---------------------------------------------------------------------------
DepthwiseConv2D::DepthwiseConv2D(Pair kernel_size, Pair strides, const std::string& padding, int64_t depth_multiplier,
                                 Pair dilation_rate, const std::string& activation, bool use_bias,
                                 const Initializer& depthwise_initializer, const Initializer& bias_initializer,
                                 const std::string& name)
    : DepthwiseConv2D(0, kernel_size, strides, padding, depth_multiplier, dilation_rate, activation, use_bias,
                      depthwise_initializer, "glorot_uniform", bias_initializer, name) {}

DepthwiseConv2D::DepthwiseConv2D(int64_t filters, Pair kernel_size, Pair strides, const std::string& padding,
                                 int64_t depth_multiplier, Pair dilation_rate, const std::string& activation,
                                 bool use_bias, const Initializer& depthwise_initializer,
                                 const Initializer& pointwise_initializer, const Initializer& bias_initializer,
                                 const std::string& name, int rank)
    : Layer(layer_name(name,
                       std::string(filters > 0 ? "SeparableConv" : "DepthwiseConv") + (rank == 1 ? "1D" : "2D"))),
      filters_(filters),
      rank_(rank),
      kernel_(kernel_size),
      strides_(strides),
      dilation_(dilation_rate),
      padding_(padding),
      multiplier_(depth_multiplier),
      act_(activation_from_name(activation)),
      alpha_(activation_default_alpha(act_)),
      use_bias_(use_bias),
      depthwise_init_(depthwise_initializer),
      pointwise_init_(pointwise_initializer),
      bias_init_(bias_initializer) {
  NNC_CHECK(filters >= 0, who(), ": filters must be >= 1, got ", filters);
  NNC_CHECK(depth_multiplier >= 1, who(), ": depth_multiplier must be >= 1, got ", depth_multiplier);
  check_pair(kernel_size, who(), "kernel_size");
  check_pair(strides, who(), "strides");
  check_pair(dilation_rate, who(), "dilation_rate");
  NNC_CHECK((strides[0] == 1 && strides[1] == 1) || (dilation_rate[0] == 1 && dilation_rate[1] == 1), who(),
            ": strides > 1 and dilation_rate > 1 cannot be combined (as in Keras), got strides (", strides[0], ", ",
            strides[1], ") and dilation_rate (", dilation_rate[0], ", ", dilation_rate[1], ")");
  check_padding(padding, who(), rank == 1);
  depthwise_initializer.check(who() + " depthwise_initializer");
  pointwise_initializer.check(who() + " pointwise_initializer");
  bias_initializer.check(who() + " bias_initializer");
}

SeparableConv2D::SeparableConv2D(int64_t filters, Pair kernel_size, Pair strides, const std::string& padding,
                                 int64_t depth_multiplier, Pair dilation_rate, const std::string& activation,
                                 bool use_bias, const Initializer& depthwise_initializer,
                                 const Initializer& pointwise_initializer, const Initializer& bias_initializer,
                                 const std::string& name)
    : SeparableConv2D(2, filters, kernel_size, strides, padding, depth_multiplier, dilation_rate, activation, use_bias,
                      depthwise_initializer, pointwise_initializer, bias_initializer, name) {}

SeparableConv2D::SeparableConv2D(int rank, int64_t filters, Pair kernel_size, Pair strides, const std::string& padding,
                                 int64_t depth_multiplier, Pair dilation_rate, const std::string& activation,
                                 bool use_bias, const Initializer& depthwise_initializer,
                                 const Initializer& pointwise_initializer, const Initializer& bias_initializer,
                                 const std::string& name)
    : DepthwiseConv2D(filters, kernel_size, strides, padding, depth_multiplier, dilation_rate, activation, use_bias,
                      depthwise_initializer, pointwise_initializer, bias_initializer, name, rank) {
  NNC_CHECK(filters >= 1, who(), ": filters must be >= 1, got ", filters);
}

DepthwiseConv1D::DepthwiseConv1D(int64_t kernel_size, int64_t strides, const std::string& padding,
                                 int64_t depth_multiplier, int64_t dilation_rate, const std::string& activation,
                                 bool use_bias, const Initializer& depthwise_initializer,
                                 const Initializer& bias_initializer, const std::string& name)
    : DepthwiseConv2D(0, {1, kernel_size}, {1, strides}, padding, depth_multiplier, {1, dilation_rate}, activation,
                      use_bias, depthwise_initializer, "glorot_uniform", bias_initializer, name, 1) {}

SeparableConv1D::SeparableConv1D(int64_t filters, int64_t kernel_size, int64_t strides, const std::string& padding,
                                 int64_t depth_multiplier, int64_t dilation_rate, const std::string& activation,
                                 bool use_bias, const Initializer& depthwise_initializer,
                                 const Initializer& pointwise_initializer, const Initializer& bias_initializer,
                                 const std::string& name)
    : SeparableConv2D(1, filters, {1, kernel_size}, {1, strides}, padding, depth_multiplier, {1, dilation_rate},
                      activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer, name) {}

std::string DepthwiseConv2D::class_name() const {
  return std::string(filters_ > 0 ? "SeparableConv" : "DepthwiseConv") + (rank_ == 1 ? "1D" : "2D");
}

ConvImage DepthwiseConv2D::image(const Shape& in) const {
  return conv_image(in, rank_, kernel_, strides_, dilation_, padding_,
                    in.back() < 0 ? -1 : in.back() * multiplier_);
}

Shape DepthwiseConv2D::infer_shape(const Shape& in) const {
  if (rank_ == 1)
    NNC_CHECK(in.size() == 2, who(), ": expected input of shape (batch, steps, channels), got ",
              shape_str(batch_shape(-1, in)));
  else
    check_image_input(in, who());
  const ConvImage im = image(in);
  NNC_CHECK(im.out[0] != 0 && im.out[1] != 0, who(), ": kernel ", kernel_[0], "x", kernel_[1], " (dilation ",
            dilation_[0], "x", dilation_[1], ") is larger than the ", padding_, "-padded input ", im.in[0], "x",
            im.in[1]);
  const int64_t channels = filters_ > 0 ? filters_ : im.out[2];
  return rank_ == 1 ? Shape{im.out[1], channels} : Shape{im.out[0], im.out[1], channels};
}

Shape DepthwiseConv2D::do_build(const Shape& in) {
  const Shape out = infer_shape(in);
  require_known(in, -1, "the channel axis");
  const int64_t C = in.back();
  add_weight("depthwise_kernel",
             rank_ == 1 ? Shape{kernel_[1], C, multiplier_} : Shape{kernel_[0], kernel_[1], C, multiplier_},
             depthwise_init_);
  if (filters_ > 0)
    add_weight("pointwise_kernel", rank_ == 1 ? Shape{1, C * multiplier_, filters_} : Shape{1, 1, C * multiplier_, filters_},
               pointwise_init_);
  if (use_bias_) add_weight("bias", {filters_ > 0 ? filters_ : C * multiplier_}, bias_init_);
  return out;
}

kernels::ConvGeom DepthwiseConv2D::geometry_of(const LayerCall& c, int64_t batch) const {
  const ConvImage im = image(c.input_shapes[0]);
  return geometry(im.in, im.out, batch, kernel_, strides_, dilation_, im.pad_top, im.pad_left);
}

const Tensor& DepthwiseConv2D::pre_activation(LayerCall& c) const {
  return act_ == Activation::linear ? c.y : as<Call>(c).preact;
}

// z = depthwise(x) (then z = z . pointwise for a separable layer) + bias; y = act(z).
const Tensor& DepthwiseConv2D::forward_one(LayerCall& c, const Tensor& x, bool) {
  Call& cc = as<Call>(c);
  const kernels::ConvGeom g = geometry_of(c, x.dim(0));
  const Shape out_shape = batch_shape(x.dim(0), c.output_shapes[0]);
  Tensor& z = act_ == Activation::linear ? c.y : cc.preact;
  z.resize(out_shape);
  c.y.resize(out_shape);
  const int64_t rows = g.B * g.OH * g.OW, cols = filters_ > 0 ? filters_ : g.OC;
  const float* bias = use_bias_ ? params_.back().value.data() : nullptr;
  if (filters_ > 0) {  // the bias rides in the pointwise GEMM's epilogue
    cc.mid.resize({g.B, g.OH, g.OW, g.OC});
    kernels::depthwise_conv2d_forward(cc.mid.data(), x.data(), params_[0].value.data(), nullptr, g);
    kernels::GemmEpilogue ep;
    ep.bias = bias;
    kernels::gemm(false, false, rows, filters_, g.OC, cc.mid.data(), g.OC, params_[1].value.data(), filters_, 0.f,
                  z.data(), filters_, ep);
  } else {  // the rows start from the bias
    kernels::depthwise_conv2d_forward(z.data(), x.data(), params_[0].value.data(), bias, g);
  }
  if (act_ != Activation::linear) kernels::act_forward(to_kernel(act_), c.y.data(), z.data(), rows, cols, alpha_);
  return c.y;
}

const Tensor& DepthwiseConv2D::backward_preact_one(LayerCall& c, const Tensor& dz, bool need_dx) {
  Call& cc = as<Call>(c);
  const Tensor& x = c.inputs[0];
  const kernels::ConvGeom g = geometry_of(c, x.dim(0));
  const int64_t rows = g.B * g.OH * g.OW, cols = filters_ > 0 ? filters_ : g.OC;
  if (trainable_ && use_bias_) kernels::col_sum_accumulate(params_.back().grad_accumulator(), dz.data(), rows, cols);
  const float* dmid = dz.data();
  if (filters_ > 0) {
    if (trainable_)  // dpointwise += mid^T dz
      kernels::gemm(true, false, g.OC, filters_, rows, cc.mid.data(), g.OC, dz.data(), filters_, 1.f,
                    params_[1].grad_accumulator(), filters_);
    if (!need_dx && !trainable_) return c.dx;
    cc.dmid.resize({g.B, g.OH, g.OW, g.OC});  // dmid = dz pointwise^T
    kernels::gemm(false, true, rows, g.OC, filters_, dz.data(), filters_, params_[1].value.data(), filters_, 0.f,
                  cc.dmid.data(), g.OC);
    dmid = cc.dmid.data();
  }
  if (need_dx) c.dx.resize(x.shape());
  cc.workspace.resize({kernels::depthwise_conv2d_workspace_size(g)});
  kernels::depthwise_conv2d_backward(need_dx ? c.dx.data() : nullptr, trainable_ ? params_[0].grad_accumulator() : nullptr,
                                     dmid, x.data(), params_[0].value.data(), g, cc.workspace.data(),
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

Shape Pooling2D::do_build(const Shape& in) { return infer_shape(in); }

Pooling2D::Image Pooling2D::image(const Shape& in) const {
  return conv_image(in, rank_, pool_, strides_, {1, 1}, padding_, in.back());
}

Shape Pooling2D::infer_shape(const Shape& in) const {
  const std::string who = class_name() + " '" + name_ + "'";
  if (rank_ == 1)
    NNC_CHECK(in.size() == 2, who, ": expected input of shape (batch, steps, channels), got ",
              shape_str(batch_shape(-1, in)));
  else
    check_image_input(in, who);
  const Image im = image(in);
  if (rank_ == 1)
    NNC_CHECK(im.out[1] != 0, who, ": pool_size ", pool_[1], " is longer than the input of ", im.in[1], " steps");
  else
    NNC_CHECK(im.out[0] != 0 && im.out[1] != 0, who, ": pool ", pool_[0], "x", pool_[1], " is larger than the input ",
              im.in[0], "x", im.in[1]);
  return rank_ == 1 ? Shape{im.out[1], im.out[2]} : im.out;
}

namespace {
kernels::PoolGeom pool_geometry(const Shape& in, const Shape& out, int64_t B, Pair pool, Pair strides, int64_t pt,
                                int64_t pl) {
  return {B, in[0], in[1], in[2], pool[0], pool[1], out[0], out[1], strides[0], strides[1], pt, pl};
}
}  // namespace

kernels::PoolGeom Pooling2D::geometry_of(const LayerCall& c, int64_t batch) const {
  const Image im = image(c.input_shapes[0]);
  return pool_geometry(im.in, im.out, batch, pool_, strides_, im.pad_top, im.pad_left);
}

const Tensor& Pooling2D::forward_one(LayerCall& c, const Tensor& x, bool training) {
  const kernels::PoolGeom g = geometry_of(c, x.dim(0));
  c.y.resize(batch_shape(x.dim(0), c.output_shapes[0]));
  if (mode_ == Mode::max) {
    // The argmax only for backward: an inference forward writes the maxima alone (a third less memory traffic).
    Call& pc = as<Call>(c);
    pc.argmax_kept = training;
    if (training) pc.argmax.resize(static_cast<size_t>(c.y.size()));
    kernels::maxpool2d_forward(c.y.data(), training ? pc.argmax.data() : nullptr, x.data(), g);
  } else {
    kernels::avgpool2d_forward(c.y.data(), x.data(), g);
  }
  return c.y;
}

const Tensor& Pooling2D::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  const Tensor& x = c.inputs[0];
  const kernels::PoolGeom g = geometry_of(c, x.dim(0));
  c.dx.resize(x.shape());
  if (mode_ == Mode::max) {
    Call& pc = as<Call>(c);
    if (!pc.argmax_kept) {  // the forward ran in inference mode (a gradient through a model called training=False)
      pc.argmax.resize(static_cast<size_t>(dy.size()));
      Tensor y(dy.shape());
      kernels::maxpool2d_forward(y.data(), pc.argmax.data(), x.data(), g);
      pc.argmax_kept = true;
    }
    kernels::maxpool2d_backward(c.dx.data(), dy.data(), pc.argmax.data(), g);
  } else {
    kernels::avgpool2d_backward(c.dx.data(), dy.data(), g);
  }
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
  require_known(in, -1, "the channel axis");
  return infer_shape(in);
}

Shape GlobalPooling::infer_shape(const Shape& in) const { return {in.back()}; }

// x is (B, P, C) with P the positions (H*W or steps); mask, if any, is (B, P).
const Tensor& GlobalPooling::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& gc = as<Call>(c);
  const int64_t B = x.dim(0), C = x.dim(-1), P = B * C > 0 ? x.size() / (B * C) : 0;
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
  const int64_t B = x.dim(0), C = x.dim(-1), P = B * C > 0 ? x.size() / (B * C) : 0;
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
  return infer_shape(in);
}

Shape ZeroPadding2D::infer_shape(const Shape& in) const {
  return {in[0] < 0 ? -1 : in[0] + h_[0] + h_[1], in[1] < 0 ? -1 : in[1] + w_[0] + w_[1], in[2]};
}

const Tensor& ZeroPadding2D::forward_one(LayerCall& c, const Tensor& x, bool training) {
  const Shape& in = c.input_shapes[0];
  c.y.resize(batch_shape(x.dim(0), c.output_shapes[0]));
  kernels::pad2d_forward(c.y.data(), x.data(), x.dim(0), in[0], in[1], in[2], h_[0], h_[1], w_[0], w_[1]);
  return c.y;
}

const Tensor& ZeroPadding2D::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  const Shape& in = c.input_shapes[0];
  const Tensor& x = c.inputs[0];
  c.dx.resize(x.shape());
  kernels::pad2d_backward(c.dx.data(), dy.data(), x.dim(0), in[0], in[1], in[2], h_[0], h_[1], w_[0], w_[1]);
  return c.dx;
}

// ---- Cropping2D -----------------------------------------------------------------------------------------------
Cropping2D::Cropping2D(Pair height, Pair width, const std::string& name) : Cropping2D(2, height, width, name) {}

Cropping2D::Cropping2D(int rank, Pair height, Pair width, const std::string& name)
    : Layer(layer_name(name, rank == 1 ? "Cropping1D" : "Cropping2D")), rank_(rank), h_(height), w_(width) {
  if (rank == 1)
    NNC_CHECK(w_[0] >= 0 && w_[1] >= 0, who(), ": cropping must be >= 0, got (", w_[0], ", ", w_[1], ")");
  else
    NNC_CHECK(h_[0] >= 0 && h_[1] >= 0 && w_[0] >= 0 && w_[1] >= 0, who(), ": cropping must be >= 0, got ((", h_[0],
              ", ", h_[1], "), (", w_[0], ", ", w_[1], "))");
}

std::string Cropping2D::who() const { return (rank_ == 1 ? "Cropping1D '" : "Cropping2D '") + name_ + "'"; }

Shape Cropping2D::do_build(const Shape& in) { return infer_shape(in); }

// Each known length must keep at least one row/column/step; unknown ones stay unknown (checked per batch).
Shape Cropping2D::infer_shape(const Shape& in) const {
  const auto cut = [&](int64_t n, Pair p, const char* axis) {
    NNC_CHECK(n < 0 || n - p[0] - p[1] >= 1, who(), ": cropping (", p[0], ", ", p[1], ") leaves nothing of ", axis,
              " ", n, " of input ", shape_str(batch_shape(-1, in)));
    return n < 0 ? int64_t{-1} : n - p[0] - p[1];
  };
  if (rank_ == 1) {
    NNC_CHECK(in.size() == 2, who(), ": expected input of shape (batch, steps, features), got ",
              shape_str(batch_shape(-1, in)));
    return {cut(in[0], w_, "steps"), in[1]};
  }
  check_image_input(in, who());
  return {cut(in[0], h_, "height"), cut(in[1], w_, "width"), in[2]};
}

// Cropping is the adjoint of zero padding: forward = pad2d_backward (the interior), backward = pad2d_forward.
const Tensor& Cropping2D::forward_one(LayerCall& c, const Tensor& x, bool training) {
  const Shape& out = c.output_shapes[0];
  const Shape im = rank_ == 1 ? Shape{1, out[0], out[1]} : out;
  c.y.resize(batch_shape(x.dim(0), out));
  kernels::pad2d_backward(c.y.data(), x.data(), x.dim(0), im[0], im[1], im[2], h_[0], h_[1], w_[0], w_[1]);
  return c.y;
}

const Tensor& Cropping2D::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  const Shape& out = c.output_shapes[0];
  const Shape im = rank_ == 1 ? Shape{1, out[0], out[1]} : out;
  c.dx.resize(c.inputs[0].shape());
  kernels::pad2d_forward(c.dx.data(), dy.data(), dy.dim(0), im[0], im[1], im[2], h_[0], h_[1], w_[0], w_[1]);
  return c.dx;
}

// ---- UpSampling2D ---------------------------------------------------------------------------------------------
UpSampling2D::UpSampling2D(Pair size, const std::string& interpolation, const std::string& name)
    : UpSampling2D(2, size, interpolation, name) {}

UpSampling2D::UpSampling2D(int rank, Pair size, const std::string& interpolation, const std::string& name)
    : Layer(layer_name(name, rank == 1 ? "UpSampling1D" : "UpSampling2D")),
      rank_(rank),
      size_(size),
      interpolation_(interpolation) {
  NNC_CHECK(size[0] >= 1 && size[1] >= 1, who(), ": size must be positive, got ", pair_str(size, rank));
  NNC_CHECK(interpolation == "nearest" || interpolation == "bilinear", who(),
            ": interpolation must be 'nearest' or 'bilinear', got '", interpolation, "'");
}

std::string UpSampling2D::who() const { return (rank_ == 1 ? "UpSampling1D '" : "UpSampling2D '") + name_ + "'"; }

Shape UpSampling2D::do_build(const Shape& in) { return infer_shape(in); }

Shape UpSampling2D::infer_shape(const Shape& in) const {
  const auto up = [&](int64_t n, int64_t s) {
    NNC_CHECK(static_cast<double>(n) * static_cast<double>(s) < kMaxLength, who(), ": the output of input ",
              shape_str(batch_shape(-1, in)), " would be too long (size ", pair_str(size_, rank_), ")");
    return n < 0 ? int64_t{-1} : n * s;
  };
  if (rank_ == 1) {
    NNC_CHECK(in.size() == 2, who(), ": expected input of shape (batch, steps, features), got ",
              shape_str(batch_shape(-1, in)));
    return {up(in[0], size_[1]), in[1]};
  }
  check_image_input(in, who());
  return {up(in[0], size_[0]), up(in[1], size_[1]), in[2]};
}

const Tensor& UpSampling2D::forward_one(LayerCall& c, const Tensor& x, bool training) {
  const Shape& in = c.input_shapes[0];
  const Shape im = rank_ == 1 ? Shape{1, in[0], in[1]} : in;
  c.y.resize(batch_shape(x.dim(0), c.output_shapes[0]));
  if (interpolation_ == "nearest")
    kernels::upsample2d_nearest_forward(c.y.data(), x.data(), x.dim(0), im[0], im[1], im[2], size_[0], size_[1]);
  else
    kernels::upsample2d_bilinear_forward(c.y.data(), x.data(), x.dim(0), im[0], im[1], im[2], size_[0], size_[1]);
  return c.y;
}

const Tensor& UpSampling2D::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  const Shape& in = c.input_shapes[0];
  const Shape im = rank_ == 1 ? Shape{1, in[0], in[1]} : in;
  const Tensor& x = c.inputs[0];
  c.dx.resize(x.shape());
  if (interpolation_ == "nearest")
    kernels::upsample2d_nearest_backward(c.dx.data(), dy.data(), x.dim(0), im[0], im[1], im[2], size_[0], size_[1]);
  else
    kernels::upsample2d_bilinear_backward(c.dx.data(), dy.data(), x.dim(0), im[0], im[1], im[2], size_[0],
                                          size_[1]);
  return c.dx;
}

}  // namespace nncore
