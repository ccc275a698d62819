#pragma once
// Core layers: Dense, Activation, Reshape, Flatten, Dropout, SpatialDropout2D.
#include "nncore/layers/layer.hpp"

namespace nncore {

// y = act(x W + b) over the last axis. x is (B, ..., in), W is (in, units), b is (units).
class Dense : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  Dense(int64_t units, const std::string& activation = "linear", bool use_bias = true,
        const std::string& kernel_initializer = "glorot_uniform", const std::string& bias_initializer = "zeros",
        const std::string& name = "");
  std::string class_name() const override { return "Dense"; }
  Activation output_activation() const override { return act_; }
  const Tensor& pre_activation(LayerCall& call) const override;
  float activation_alpha() const override { return alpha_; }
  int64_t units() const { return units_; }
  bool use_bias() const { return use_bias_; }

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
  std::string kernel_init_, bias_init_;
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
  Shape do_build(const Shape& input_shape) override { return input_shape; }
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_preact_one(LayerCall& call, const Tensor& dz, bool need_dx) override;

 private:
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

}  // namespace nncore
