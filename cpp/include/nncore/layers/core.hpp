#pragma once
// Core layers: Dense, Activation, Reshape, Flatten, RepeatVector, Permute, Rescaling, Masking; regularization layers:
// Dropout, SpatialDropout2D, GaussianNoise, GaussianDropout, ActivityRegularization.
#include "nncore/layers/layer.hpp"

namespace nncore {
namespace detail {
class PackedKernel;
}

// y = act(x W + b) over the last axis. x is (B, ..., in), W is (in, units), b is (units).
class Dense : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  Dense(int64_t units, const std::string& activation = "linear", bool use_bias = true,
        const Initializer& kernel_initializer = "glorot_uniform", const Initializer& bias_initializer = "zeros",
        const std::string& name = "");
  std::string class_name() const override { return "Dense"; }
  Activation output_activation() const override { return act_; }
  const Tensor& pre_activation(LayerCall& call) const override;
  float activation_alpha() const override { return alpha_; }
  int64_t units() const { return units_; }
  bool use_bias() const { return use_bias_; }
  std::vector<Int8Weight> int8_weights() const override { return {{"kernel", false}}; }
  // How many times inference packed the kernel for the GEMM (kept between calls while the kernel stays the same).
  int64_t inference_packs() const;

 protected:
  struct Call : LayerCall {
    Tensor preact;  // z = x W + b when an activation follows
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_preact_one(LayerCall& call, const Tensor& dz, bool need_dx) override;

 private:
  int64_t units_;
  Activation act_;
  float alpha_;
  bool use_bias_;
  Initializer kernel_init_, bias_init_;
  std::shared_ptr<detail::PackedKernel> packed_;  // the kernel packed for inference (layers/packed_kernel.hpp)
};

class ActivationLayer : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit ActivationLayer(const std::string& activation, const std::string& name = "");
  std::string class_name() const override { return "Activation"; }
  Activation output_activation() const override { return act_; }
  const Tensor& pre_activation(LayerCall& call) const override { return call.inputs.at(0); }
  float activation_alpha() const override { return alpha_; }

 protected:
  // For the activation layers with arguments of their own (LeakyReLU, ELU, Softmax in activation.hpp): the
  // activation, its parameter and the class name that makes the default layer name.
  ActivationLayer(Activation act, float alpha, const std::string& name, const std::string& class_name);
  Shape do_build(const Shape& input_shape) override { return input_shape; }
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_preact_one(LayerCall& call, const Tensor& dz, bool need_dx) override;

  Activation act_;
  float alpha_;
};

// Reshapes each sample to target_shape (one entry may be -1).
class Reshape : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit Reshape(Shape target_shape, const std::string& name = "");
  std::string class_name() const override { return "Reshape"; }
  const Shape& target_shape() const { return target_; }

 protected:
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  Shape target_;
};

// Flattens each sample to one axis: a Reshape to (-1,).
class Flatten : public Reshape {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit Flatten(const std::string& name = "");
  std::string class_name() const override { return "Flatten"; }
};

// (batch, features) -> (batch, n, features): the input repeated n times along a new time axis.
class RepeatVector : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit RepeatVector(int64_t n, const std::string& name = "");
  std::string class_name() const override { return "RepeatVector"; }
  int64_t n() const { return n_; }
  const Tensor* output_mask(const LayerCall&, size_t) const override { return nullptr; }

 protected:
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  int64_t n_;
};

// Permutes the per-sample axes: dims is a permutation of 1..rank (Keras counts from 1, after the batch axis);
// output axis i is input axis dims[i]. Unknown lengths move with their axes. Drops the mask (as Keras).
class Permute : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit Permute(std::vector<int64_t> dims, const std::string& name = "");
  std::string class_name() const override { return "Permute"; }
  const std::vector<int64_t>& dims() const { return dims_; }
  const Tensor* output_mask(const LayerCall&, size_t) const override { return nullptr; }

 protected:
  Shape do_build(const Shape& input_shape) override;
  Shape infer_shape(const Shape& in) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  std::vector<int64_t> dims_;
  std::vector<int64_t> perm_, inverse_;  // 0-based per-sample permutation and its inverse
};

// y = x * scale + offset (Keras's Rescaling, e.g. scale=1/255 for images).
class Rescaling : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit Rescaling(float scale, float offset = 0.f, const std::string& name = "");
  std::string class_name() const override { return "Rescaling"; }
  float scale() const { return scale_; }
  float offset() const { return offset_; }

 protected:
  Shape do_build(const Shape& input_shape) override { return input_shape; }
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  float scale_, offset_;
};

// Keras's Masking: a step whose features (the last axis) all equal mask_value is masked. y = x * mask, where mask =
// any(x != mask_value) over the last axis, and output_mask() is that 0/1 mask of the input's shape less its last
// axis ((batch, time) for sequences), which the layers after it honor as they honor Embedding(mask_zero=True)'s:
// recurrent layers carry their state over masked steps, GlobalAveragePooling1D averages the valid ones. The mask
// is not differentiable: dx = dy * mask.
class Masking : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit Masking(double mask_value = 0.0, const std::string& name = "");
  std::string class_name() const override { return "Masking"; }
  double mask_value() const { return mask_value_; }
  const Tensor* output_mask(const LayerCall& call, size_t output) const override;

 protected:
  struct Call : LayerCall {
    Tensor mask;  // the input's shape less its last axis
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  double mask_value_;  // as given (the config keeps it); compared as a float
};

// Inverted dropout: in training, zeroes a fraction `rate` of the inputs and scales the rest by 1/(1-rate);
// identity at inference. The mask comes from (layer seed, step, index), so it is reproducible under a seed.
class Dropout : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit Dropout(float rate, const std::string& name = "");
  std::string class_name() const override { return "Dropout"; }
  float rate() const { return rate_; }

 protected:
  struct Call : LayerCall {
    bool dropped = false;  // the last forward dropped (training with rate > 0)
    Tensor mask;
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override { return input_shape; }
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  float rate_;
  uint64_t step_ = 0;
};

// Spatial dropout on channels-last images (B, H, W, C): in training, drops whole feature maps, one draw per
// (sample, channel) broadcast over H and W, scaling kept ones by 1/(1-rate); identity at inference. Same
// reproducible mask source as Dropout.
class SpatialDropout2D : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit SpatialDropout2D(float rate, const std::string& name = "");
  std::string class_name() const override { return "SpatialDropout2D"; }
  float rate() const { return rate_; }

 protected:
  struct Call : LayerCall {
    bool dropped = false;
    Tensor mask;  // (B, C)
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  float rate_;
  uint64_t step_ = 0;
};

// The Gaussian noise layers: in training, GaussianNoise adds N(0, stddev^2) noise (backward: the identity) and
// GaussianDropout multiplies by N(1, rate / (1 - rate)) noise (backward: the same factors); the identity at inference.
// Draws come from a counter-based hash of (layer seed, step, index): reproducible under nncore.set_random_seed (or the
// layer's own seed), the same for any thread count.
class GaussianNoise : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  // seed < 0: none (the layer's generator comes from the global seed stream).
  explicit GaussianNoise(float stddev, int64_t seed = -1, const std::string& name = "");
  std::string class_name() const override { return "GaussianNoise"; }
  float stddev() const { return stddev_; }
  int64_t seed() const { return seed_; }

 protected:
  Shape do_build(const Shape& input_shape) override { return input_shape; }
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  float stddev_;
  int64_t seed_;
  uint64_t step_ = 0;
};

class GaussianDropout : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit GaussianDropout(float rate, int64_t seed = -1, const std::string& name = "");
  std::string class_name() const override { return "GaussianDropout"; }
  float rate() const { return rate_; }
  int64_t seed() const { return seed_; }

 protected:
  struct Call : LayerCall {
    bool noised = false;  // the last forward multiplied (training with rate > 0)
    Tensor mask;
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override { return input_shape; }
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  float rate_;
  int64_t seed_;
  uint64_t step_ = 0;
};

// The identity that adds l1 * sum|x| + l2 * sum x^2 per sample, averaged over the batch, to the loss (Keras's
// ActivityRegularization; in fit, evaluate and compute_gradients, like the weight penalties). Its backward seeds that
// penalty's gradient, (l1 * sign(x) + 2 * l2 * x) / batch, into dx, so its output must reach the loss (as any layer
// on the path to an output does).
class ActivityRegularization : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit ActivityRegularization(float l1 = 0.f, float l2 = 0.f, const std::string& name = "");
  std::string class_name() const override { return "ActivityRegularization"; }
  float l1() const { return l1_; }
  float l2() const { return l2_; }
  double aux_loss(const LayerCall& call) const override;
  bool adds_losses() const override { return l1_ != 0.f || l2_ != 0.f; }

 protected:
  Shape do_build(const Shape& input_shape) override { return input_shape; }
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  float l1_, l2_;
};

}  // namespace nncore
