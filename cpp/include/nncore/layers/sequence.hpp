#pragma once
// Sequence layers on (batch, time, features), as in Keras: Embedding, and (below) the 1-D convolution and pooling
// layers and TimeDistributed. The recurrent layers live in their own header.
#include "nncore/layers/conv.hpp"
#include "nncore/layers/layer.hpp"

namespace nncore {

// y[..., :] = embeddings[x[...], :]: integer ids (held in float32, exact up to 2^24) of any per-sample shape S
// -> (S..., output_dim); embeddings (input_dim, output_dim). Ids that are not integers in [0, input_dim) are an
// error naming the layer and the id. With mask_zero, id 0 marks padding: output_mask() is (batch, S...) with 0
// where the id is 0 and 1 elsewhere. Ids are not differentiable: asked for an input gradient (only when the
// layer is not first), it returns zeros.
class Embedding : public Layer {
 public:
  Embedding(int64_t input_dim, int64_t output_dim, const Initializer& embeddings_initializer = "uniform",
            bool mask_zero = false, int64_t input_length = 0, const std::string& name = "");
  std::string class_name() const override { return "Embedding"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  const Tensor* output_mask(const LayerCall& call, size_t output) const override;
  int64_t input_dim() const { return input_dim_; }
  int64_t output_dim() const { return output_dim_; }
  bool mask_zero() const { return mask_zero_; }
  int64_t input_length() const { return input_length_; }  // 0: not given
  const Initializer& embeddings_initializer() const { return init_; }
  std::vector<Int8Weight> int8_weights() const override { return {{"embeddings", true}}; }

 protected:
  struct Call : LayerCall {
    Tensor mask;  // with mask_zero: 0 where the id is 0, else 1
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  int64_t input_dim_, output_dim_;
  Initializer init_;
  bool mask_zero_;
  int64_t input_length_;
};

// 1-D convolution on (batch, steps, channels): Conv2D's kernels on the one-row images (batch, 1, steps, channels).
// kernel (kernel_size, in, filters) as in Keras; padding "valid", "same" or "causal" (dilation * (kernel_size - 1)
// zero steps before the sequence, none after: output t sees inputs up to t * strides). Drops the input mask, as
// Keras's Conv1D does (its output steps mix several input steps).
class Conv1D : public Conv2D {
 public:
  Conv1D(int64_t filters, int64_t kernel_size, int64_t strides = 1, const std::string& padding = "valid",
         int64_t dilation_rate = 1, const std::string& activation = "linear", bool use_bias = true,
         const Initializer& kernel_initializer = "glorot_uniform", const Initializer& bias_initializer = "zeros",
         const std::string& name = "", int64_t groups = 1);
  std::string class_name() const override { return "Conv1D"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  const Tensor* output_mask(const LayerCall&, size_t) const override { return nullptr; }
  int64_t kernel_size() const { return Conv2D::kernel_size()[1]; }
  int64_t strides() const { return Conv2D::strides()[1]; }
  int64_t dilation_rate() const { return Conv2D::dilation_rate()[1]; }
};

// 1-D transposed convolution on (batch, steps, channels): Conv2DTranspose on one-row images. kernel
// (kernel_size, filters, in) as in Keras; padding "valid" or "same"; output_padding < 0: None.
class Conv1DTranspose : public Conv2DTranspose {
 public:
  Conv1DTranspose(int64_t filters, int64_t kernel_size, int64_t strides = 1, const std::string& padding = "valid",
                  int64_t output_padding = -1, int64_t dilation_rate = 1, const std::string& activation = "linear",
                  bool use_bias = true, const Initializer& kernel_initializer = "glorot_uniform",
                  const Initializer& bias_initializer = "zeros", const std::string& name = "");
  std::string class_name() const override { return "Conv1DTranspose"; }
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  int64_t kernel_size() const { return Conv2DTranspose::kernel_size()[1]; }
  int64_t strides() const { return Conv2DTranspose::strides()[1]; }
  int64_t dilation_rate() const { return Conv2DTranspose::dilation_rate()[1]; }
  int64_t output_padding() const { return Conv2DTranspose::output_padding()[1]; }  // -1: None
};

// Repeats each step `size` times: (batch, steps, C) -> (batch, steps * size, C). Drops the mask.
class UpSampling1D : public UpSampling2D {
 public:
  explicit UpSampling1D(int64_t size = 2, const std::string& name = "");
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  int64_t size() const { return UpSampling2D::size()[1]; }
};

// Cuts (start, end) steps off (batch, steps, C) (Keras's Cropping1D): Cropping2D on one-row images. Drops the mask.
class Cropping1D : public Cropping2D {
 public:
  explicit Cropping1D(Pair cropping = {1, 1}, const std::string& name = "");
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  Pair cropping() const { return width(); }
};

// Max or average over windows of pool_size steps of (batch, steps, channels); strides default to pool_size
// (0: not given); padding "valid" or "same". The 2-D pooling kernels on one-row images. Drops the mask (Keras).
class Pooling1D : public Pooling2D {
 public:
  Pooling1D(Mode mode, int64_t pool_size, int64_t strides, const std::string& padding, const std::string& name);
  Json config() const override;
  const Tensor* output_mask(const LayerCall&, size_t) const override { return nullptr; }
  int64_t pool_size() const { return Pooling2D::pool_size()[1]; }
  int64_t strides() const { return Pooling2D::strides()[1]; }
};

class MaxPooling1D : public Pooling1D {
 public:
  static LayerPtr from_config(const Json& config);
  explicit MaxPooling1D(int64_t pool_size = 2, int64_t strides = 0, const std::string& padding = "valid",
                        const std::string& name = "");
};

class AveragePooling1D : public Pooling1D {
 public:
  static LayerPtr from_config(const Json& config);
  explicit AveragePooling1D(int64_t pool_size = 2, int64_t strides = 0, const std::string& padding = "valid",
                            const std::string& name = "");
};

// (batch, steps, features) -> (batch, features): the mean over the steps, or over the valid steps only under a
// mask (Keras's rule; 0 for a sample whose steps are all masked).
class GlobalAveragePooling1D : public GlobalPooling {
 public:
  explicit GlobalAveragePooling1D(const std::string& name = "");
  static LayerPtr from_config(const Json& config);
};

// (batch, steps, features) -> (batch, features): the max over the steps (masks ignored, as in Keras).
class GlobalMaxPooling1D : public GlobalPooling {
 public:
  explicit GlobalMaxPooling1D(const std::string& name = "");
  static LayerPtr from_config(const Json& config);
};

// Applies `layer` to every time step: (batch, time, S...) is folded to (batch * time, S...), the inner layer runs
// once on that, and its output (batch * time, O...) is unfolded to (batch, time, O...). The weights are the inner
// layer's own (shared storage; trainable follows this layer). The inner layer sees no mask; the input mask passes
// through to the next layer. When the inner layer ends in an activation, the loss fuses with it as usual.
class TimeDistributed : public Layer {
 public:
  explicit TimeDistributed(LayerPtr layer, const std::string& name = "");
  std::string class_name() const override { return "TimeDistributed"; }
  bool rows_independent() const override { return inner_->rows_independent(); }
  Json config() const override;  // "layer": the inner layer's {"class_name", "config"}, as Keras
  static LayerPtr from_config(const Json& config);
  Activation output_activation() const override { return inner_->output_activation(); }
  const Tensor& pre_activation(LayerCall& call) const override;
  float activation_alpha() const override { return inner_->activation_alpha(); }
  const LayerPtr& layer() const { return inner_; }
  void set_trainable(bool t) override;  // the inner layer's weights are this layer's: it follows
  std::vector<Int8Weight> int8_weights() const override { return inner_->int8_weights(); }
  bool quantize_by_default() const override { return inner_->quantize_by_default(); }
  void refresh_quantized() override;

 protected:
  void do_quantize() override;  // quantizes the inner layer
  struct Call : LayerCall {
    std::unique_ptr<LayerCall> inner;  // the inner layer's call on the folded batch
    Tensor folded, preact;
    std::vector<const Tensor*> arg;
  };
  std::unique_ptr<LayerCall> new_call() const override;
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;
  const Tensor& backward_preact_one(LayerCall& call, const Tensor& dz, bool need_dx) override;

 private:
  // t viewed with its first two axes merged (fold) or split back to (batch, time) (unfold); shares storage.
  Tensor fold(const Tensor& t) const;
  Tensor unfold(const Tensor& t, int64_t batch) const;
  const Tensor& run_backward(LayerCall& call, const Tensor& dy, bool need_dx, bool from_preact);
  LayerPtr inner_;
};

}  // namespace nncore
