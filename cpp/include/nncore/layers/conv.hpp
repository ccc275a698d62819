#pragma once
// Convolutional layers on channels-last images (batch, height, width, channels), as in Keras.
#include <array>

#include "nncore/layers/layer.hpp"

namespace nncore {
namespace kernels {
struct ConvGeom;
struct PoolGeom;
}  // namespace kernels

using Pair = std::array<int64_t, 2>;

// A per-sample input ((H, W, C), or (steps, C) for a 1-D layer) as images: in (H, W, C) and out (OH, OW, channels),
// with the padding before each axis. Unknown (-1) lengths stay unknown.
struct ConvImage {
  Shape in, out;
  int64_t pad_top = 0, pad_left = 0;
};

// y = act(conv(x, kernel) + bias); kernel (KH, KW, C_in / groups, filters). padding "valid" or "same" (TensorFlow's
// rule: output ceil(H / stride), the odd padding pixel at the bottom/right). groups > 1 (Keras's): input channels
// and filters split into that many groups, filter group k seeing only input channel group k.
class Conv2D : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  Conv2D(int64_t filters, Pair kernel_size, Pair strides = {1, 1}, const std::string& padding = "valid",
         Pair dilation_rate = {1, 1}, const std::string& activation = "linear", bool use_bias = true,
         const Initializer& kernel_initializer = "glorot_uniform", const Initializer& bias_initializer = "zeros",
         const std::string& name = "", int64_t groups = 1);
  std::string class_name() const override { return "Conv2D"; }
  Activation output_activation() const override { return act_; }
  // linear and relu keep no pre-activation (the kernels fuse them; relu's backward needs only the output):
  // relu's is recomputed here on first request after a forward.
  const Tensor& pre_activation(LayerCall& call) const override;
  float activation_alpha() const override { return alpha_; }
  int64_t filters() const { return filters_; }
  Pair kernel_size() const { return kernel_; }
  Pair strides() const { return strides_; }
  Pair dilation_rate() const { return dilation_; }
  const std::string& padding() const { return padding_; }
  bool use_bias() const { return use_bias_; }
  int64_t groups() const { return groups_; }
  // Grouped convolutions stay float under quantization.
  std::vector<Int8Weight> int8_weights() const override {
    return groups_ == 1 ? std::vector<Int8Weight>{{"kernel", false}} : std::vector<Int8Weight>{};
  }
  // Model::quantize leaves convolutions on at most 4 input channels float (an image model's first layer: a kernel of
  // a few hundred weights whose im2col rows are too short for the int8 GEMM to beat the direct float kernel).
  bool quantize_by_default() const override {
    return !(built_ && !input_shapes_.empty() && input_shapes_[0].back() <= 4);
  }

 protected:
  // rank 1: Conv1D, a convolution over one-row images (1, steps, channels) (padding may also be "causal").
  Conv2D(int rank, int64_t filters, Pair kernel_size, Pair strides, const std::string& padding, Pair dilation_rate,
         const std::string& activation, bool use_bias, const Initializer& kernel_initializer,
         const Initializer& bias_initializer, const std::string& name, int64_t groups = 1);
  struct Call : LayerCall {
    Tensor preact, workspace;
    bool preact_current = false;
    // groups > 1: input, kernel and output with each group's channels contiguous (group-major), and backward's
    // group-major gradients.
    Tensor xg, wg, yg, dyg, dxg, dwg, dw_back;
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  // relu's derivative is folded into the kernels' read of dy; other activations take Layer's separate pass.
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;
  const Tensor& backward_preact_one(LayerCall& call, const Tensor& dz, bool need_dx) override;
  int rank_;
  // Names the layer in errors; usable in the constructor (by rank), where class_name() is not yet Conv1D's.
  std::string who() const;

 private:
  using Image = ConvImage;  // out: (OH, OW, filters)
  Image image(const Shape& in) const;
  // The kernel geometry of a call's current shapes.
  kernels::ConvGeom geometry_of(const LayerCall& call, int64_t batch) const;
  int64_t filters_;
  Pair kernel_, strides_, dilation_;
  std::string padding_;
  Activation act_;
  float alpha_;
  bool use_bias_;
  Initializer kernel_init_, bias_init_;
  int64_t groups_ = 1;
  const Tensor& run_backward(LayerCall& call, const Tensor& dy, Activation act, bool need_dx);
  // groups > 1: one convolution per group on group-major copies (kernels::permute), then bias and activation.
  const Tensor& forward_grouped(LayerCall& call, const Tensor& x, const kernels::ConvGeom& g);
  const Tensor& backward_grouped(LayerCall& call, const Tensor& dz, const kernels::ConvGeom& g, bool need_dx);
};

// y = act(conv_transpose(x, kernel) + bias) on channels-last images; kernel (KH, KW, filters, C_in) and bias
// (filters) as in Keras. A transposed convolution is the input gradient of a convolution (TensorFlow defines it
// so): of the Conv2D whose input image is this layer's output (OH, OW, filters) and whose output is this layer's
// input (H, W, C_in), with the kernel read as that Conv2D's (KH, KW, C = filters, OC = C_in) — the same memory.
// Output lengths follow Keras 3 (cpp/src/ops/conv_geometry.hpp: conv_transpose_axis): "valid" (in - 1) * stride +
// dilation * (k - 1) + 1 (at least in * stride), "same" in * stride; output_padding, when given ({-1, -1}: None),
// must be smaller than the stride on each axis. Spatial axes may be unknown (-1); the channel axis may not.
class Conv2DTranspose : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  Conv2DTranspose(int64_t filters, Pair kernel_size, Pair strides = {1, 1}, const std::string& padding = "valid",
                  Pair output_padding = {-1, -1}, Pair dilation_rate = {1, 1},
                  const std::string& activation = "linear", bool use_bias = true,
                  const Initializer& kernel_initializer = "glorot_uniform",
                  const Initializer& bias_initializer = "zeros", const std::string& name = "");
  std::string class_name() const override { return "Conv2DTranspose"; }
  Activation output_activation() const override { return act_; }
  const Tensor& pre_activation(LayerCall& call) const override;
  float activation_alpha() const override { return alpha_; }
  // An image's rows are not time steps: no mask goes on.
  const Tensor* output_mask(const LayerCall&, size_t) const override { return nullptr; }
  int64_t filters() const { return filters_; }
  Pair kernel_size() const { return kernel_; }
  Pair strides() const { return strides_; }
  Pair dilation_rate() const { return dilation_; }
  Pair output_padding() const { return output_padding_; }  // {-1, -1}: None
  bool has_output_padding() const { return output_padding_[1] >= 0; }
  const std::string& padding() const { return padding_; }
  bool use_bias() const { return use_bias_; }

 protected:
  // rank 1: Conv1DTranspose, on one-row images (1, steps, channels); kernel (k, filters, C_in).
  Conv2DTranspose(int rank, int64_t filters, Pair kernel_size, Pair strides, const std::string& padding,
                  Pair output_padding, Pair dilation_rate, const std::string& activation, bool use_bias,
                  const Initializer& kernel_initializer, const Initializer& bias_initializer,
                  const std::string& name);
  struct Call : LayerCall {
    Tensor preact, workspace;  // preact: with an activation other than linear
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_preact_one(LayerCall& call, const Tensor& dz, bool need_dx) override;
  int rank_;
  // Names the layer in errors; usable in the constructor (by rank), where class_name() is not yet the 1-D one's.
  std::string who() const;

 private:
  // out: (OH, OW, filters); the padding is the adjoint convolution's.
  using Image = ConvImage;
  Image image(const Shape& in) const;
  // The geometry of the Conv2D this call is the adjoint of (its input image: this call's output).
  kernels::ConvGeom geometry_of(const LayerCall& call, int64_t batch) const;
  int64_t filters_;
  Pair kernel_, strides_, output_padding_, dilation_;
  std::string padding_;
  Activation act_;
  float alpha_;
  bool use_bias_;
  Initializer kernel_init_, bias_init_;
};

// Depthwise convolution: each input channel c convolved with its own depth_multiplier filters, output channel
// c * depth_multiplier + m; depthwise_kernel (KH, KW, C, depth_multiplier) and bias (C * depth_multiplier) as in
// Keras; padding and output sizes as Conv2D's. Runs on kernels::depthwise_conv2d_*.
class DepthwiseConv2D : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  DepthwiseConv2D(Pair kernel_size, Pair strides = {1, 1}, const std::string& padding = "valid",
                  int64_t depth_multiplier = 1, Pair dilation_rate = {1, 1}, const std::string& activation = "linear",
                  bool use_bias = true, const Initializer& depthwise_initializer = "glorot_uniform",
                  const Initializer& bias_initializer = "zeros", const std::string& name = "");
  std::string class_name() const override;
  Activation output_activation() const override { return act_; }
  const Tensor& pre_activation(LayerCall& call) const override;
  float activation_alpha() const override { return alpha_; }
  const Tensor* output_mask(const LayerCall&, size_t) const override { return nullptr; }
  Pair kernel_size() const { return kernel_; }
  Pair strides() const { return strides_; }
  Pair dilation_rate() const { return dilation_; }
  const std::string& padding() const { return padding_; }
  int64_t depth_multiplier() const { return multiplier_; }
  bool use_bias() const { return use_bias_; }

 protected:
  // filters > 0: SeparableConv2D, the depthwise convolution followed by a pointwise (1 x 1) one to `filters`
  // channels, pointwise_kernel (1, 1, C * depth_multiplier, filters), the bias and activation after it.
  // rank 1: DepthwiseConv1D / SeparableConv1D on (batch, steps, channels), one-row images (padding may also be
  // "causal"); kernels (k, C, depth_multiplier) and (1, C * depth_multiplier, filters).
  DepthwiseConv2D(int64_t filters, Pair kernel_size, Pair strides, const std::string& padding,
                  int64_t depth_multiplier, Pair dilation_rate, const std::string& activation, bool use_bias,
                  const Initializer& depthwise_initializer, const Initializer& pointwise_initializer,
                  const Initializer& bias_initializer, const std::string& name, int rank = 2);
  struct Call : LayerCall {
    Tensor preact, mid, dmid, workspace;  // mid: the depthwise output of a separable layer; preact: act not linear
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_preact_one(LayerCall& call, const Tensor& dz, bool need_dx) override;
  std::string who() const { return class_name() + " '" + name_ + "'"; }
  int64_t filters_;  // 0: depthwise only
  int rank_;
  Pair kernel_, strides_, dilation_;
  std::string padding_;
  int64_t multiplier_;
  Activation act_;
  float alpha_;
  bool use_bias_;
  Initializer depthwise_init_, pointwise_init_, bias_init_;

 private:
  ConvImage image(const Shape& in) const;  // out: (OH, OW, C * depth_multiplier)
  kernels::ConvGeom geometry_of(const LayerCall& call, int64_t batch) const;
};

// Depthwise then pointwise convolution (Keras's SeparableConv2D): depthwise_kernel (KH, KW, C, depth_multiplier),
// pointwise_kernel (1, 1, C * depth_multiplier, filters), bias (filters).
class SeparableConv2D : public DepthwiseConv2D {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  SeparableConv2D(int64_t filters, Pair kernel_size, Pair strides = {1, 1}, const std::string& padding = "valid",
                  int64_t depth_multiplier = 1, Pair dilation_rate = {1, 1}, const std::string& activation = "linear",
                  bool use_bias = true, const Initializer& depthwise_initializer = "glorot_uniform",
                  const Initializer& pointwise_initializer = "glorot_uniform",
                  const Initializer& bias_initializer = "zeros", const std::string& name = "");
  int64_t filters() const { return filters_; }

 protected:
  SeparableConv2D(int rank, int64_t filters, Pair kernel_size, Pair strides, const std::string& padding,
                  int64_t depth_multiplier, Pair dilation_rate, const std::string& activation, bool use_bias,
                  const Initializer& depthwise_initializer, const Initializer& pointwise_initializer,
                  const Initializer& bias_initializer, const std::string& name);
};

// Keras's DepthwiseConv1D: depthwise_kernel (kernel_size, C, depth_multiplier), bias (C * depth_multiplier).
class DepthwiseConv1D : public DepthwiseConv2D {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  DepthwiseConv1D(int64_t kernel_size, int64_t strides = 1, const std::string& padding = "valid",
                  int64_t depth_multiplier = 1, int64_t dilation_rate = 1, const std::string& activation = "linear",
                  bool use_bias = true, const Initializer& depthwise_initializer = "glorot_uniform",
                  const Initializer& bias_initializer = "zeros", const std::string& name = "");
};

// Keras's SeparableConv1D: depthwise_kernel (kernel_size, C, depth_multiplier), pointwise_kernel
// (1, C * depth_multiplier, filters), bias (filters).
class SeparableConv1D : public SeparableConv2D {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  SeparableConv1D(int64_t filters, int64_t kernel_size, int64_t strides = 1, const std::string& padding = "valid",
                  int64_t depth_multiplier = 1, int64_t dilation_rate = 1, const std::string& activation = "linear",
                  bool use_bias = true, const Initializer& depthwise_initializer = "glorot_uniform",
                  const Initializer& pointwise_initializer = "glorot_uniform",
                  const Initializer& bias_initializer = "zeros", const std::string& name = "");
};

// Max or average pooling over pool_size windows; strides default to pool_size.
// rank 1: MaxPooling1D / AveragePooling1D on (batch, steps, channels), viewed as one-row images.
class Pooling2D : public Layer {
 public:
  Json config() const override;
  enum class Mode { max, average };
  Pooling2D(Mode mode, Pair pool_size, Pair strides, const std::string& padding, const std::string& name,
            int rank = 2);
  std::string class_name() const override;
  Pair pool_size() const { return pool_; }
  Pair strides() const { return strides_; }
  const std::string& padding() const { return padding_; }

 protected:
  struct Call : LayerCall {
    std::vector<int32_t> argmax;
    bool argmax_kept = false;  // an inference forward keeps none; a backward after one computes it then
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  Mode mode_;
  int rank_;
  Pair pool_, strides_;
  std::string padding_;
  using Image = ConvImage;  // out: (OH, OW, C)
  Image image(const Shape& in) const;
  kernels::PoolGeom geometry_of(const LayerCall& call, int64_t batch) const;
};

class MaxPooling2D : public Pooling2D {
 public:
  static LayerPtr from_config(const Json& config);
  explicit MaxPooling2D(Pair pool_size = {2, 2}, Pair strides = {0, 0}, const std::string& padding = "valid",
                        const std::string& name = "");
};

class AveragePooling2D : public Pooling2D {
 public:
  static LayerPtr from_config(const Json& config);
  explicit AveragePooling2D(Pair pool_size = {2, 2}, Pair strides = {0, 0}, const std::string& padding = "valid",
                            const std::string& name = "");
};

// Global max or average over the spatial axes: (batch, H, W, C) -> (batch, C) for rank 2, (batch, steps, C) ->
// (batch, C) for rank 1. The 1-D average honors an input mask as Keras does: the mean over the valid steps (0 for
// a sample without any); the max ignores masks, as Keras's does. Either drops the mask (no time axis left).
class GlobalPooling : public Layer {
 public:
  Json config() const override;
  GlobalPooling(bool max, int rank, const std::string& name);
  std::string class_name() const override;
  const Tensor* output_mask(const LayerCall&, size_t) const override { return nullptr; }

 protected:
  struct Call : LayerCall {
    bool masked = false;  // the last forward averaged under a mask (kept in `mask` for backward)
    Tensor mask;
    std::vector<int32_t> argmax;
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  bool max_;
  int rank_;
};

class GlobalAveragePooling2D : public GlobalPooling {
 public:
  static LayerPtr from_config(const Json& config);
  explicit GlobalAveragePooling2D(const std::string& name = "");
};

class GlobalMaxPooling2D : public GlobalPooling {
 public:
  static LayerPtr from_config(const Json& config);
  explicit GlobalMaxPooling2D(const std::string& name = "");
};

// Zero rows/columns around each image: ((top, bottom), (left, right)).
class ZeroPadding2D : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit ZeroPadding2D(Pair height = {1, 1}, Pair width = {1, 1}, const std::string& name = "");
  std::string class_name() const override { return "ZeroPadding2D"; }

 protected:
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  Pair h_, w_;
};

// Cuts rows/columns off each image: ((top, bottom), (left, right)) (Keras's Cropping2D); the backward pads the
// gradient back with zeros. Spatial axes may be unknown (-1): a batch too small to crop raises, naming the layer.
// Drops the mask.
class Cropping2D : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit Cropping2D(Pair height = {0, 0}, Pair width = {0, 0}, const std::string& name = "");
  std::string class_name() const override { return rank_ == 1 ? "Cropping1D" : "Cropping2D"; }
  const Tensor* output_mask(const LayerCall&, size_t) const override { return nullptr; }
  Pair height() const { return h_; }
  Pair width() const { return w_; }

 protected:
  // rank 1: Cropping1D, cutting steps off (batch, steps, C) (one-row images, height {0, 0}).
  Cropping2D(int rank, Pair height, Pair width, const std::string& name);
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  int rank_;
  Pair h_, w_;
  std::string who() const;
};

// Repeats rows and columns: (batch, H, W, C) -> (batch, H * size[0], W * size[1], C). interpolation "nearest"
// (each pixel becomes a size[0] x size[1] block; backward sums each block's gradient) or "bilinear" (half-pixel
// centers, as Keras 3 / tf.image.resize with antialias=False: output pixel o samples the input at
// (o + 0.5) / size - 0.5, clamped to the image). Spatial axes may be unknown (-1).
class UpSampling2D : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit UpSampling2D(Pair size = {2, 2}, const std::string& interpolation = "nearest",
                        const std::string& name = "");
  std::string class_name() const override { return rank_ == 1 ? "UpSampling1D" : "UpSampling2D"; }
  const Tensor* output_mask(const LayerCall&, size_t) const override { return nullptr; }
  Pair size() const { return size_; }
  const std::string& interpolation() const { return interpolation_; }

 protected:
  // rank 1: UpSampling1D, repeating the steps of (batch, steps, C) (one-row images, size {1, n}).
  UpSampling2D(int rank, Pair size, const std::string& interpolation, const std::string& name);
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  int rank_;
  Pair size_;
  std::string interpolation_;
  std::string who() const;
};

}  // namespace nncore
