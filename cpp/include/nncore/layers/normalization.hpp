#pragma once
// Normalization layers: BatchNormalization, LayerNormalization (Keras semantics, channels-last, axis -1 only).
#include "nncore/layers/layer.hpp"

namespace nncore {

// What both normalizations share: the last axis only, epsilon, and the optional affine map gamma * xhat + beta
// (gamma, beta of shape (channels,); ones / zeros stand in when scale / center is off).
class AffineNormalization : public Layer {
 public:
  // axis, epsilon, center, scale and the gamma/beta initializers (both subclasses' shared arguments).
  Json config() const override;
  int64_t axis() const { return axis_; }
  float epsilon() const { return epsilon_; }
  bool center() const { return center_; }
  bool scale() const { return scale_; }

 protected:
  AffineNormalization(const std::string& name, const std::string& class_name, int64_t axis, float epsilon,
                      bool center, bool scale, const Initializer& beta_initializer,
                      const Initializer& gamma_initializer);
  // Checks the input, adds gamma and beta in Keras order; returns the channel count.
  int64_t build_affine(const Shape& in);
  const float* gamma() const;
  const float* beta() const;
  float* dgamma();  // null when not needed (frozen or no scale)
  float* dbeta();
  float* dx_buffer(LayerCall& call, bool need_dx);  // call.dx sized like the input, or null

  int64_t axis_;
  float epsilon_;
  bool center_, scale_;
  Initializer beta_init_, gamma_init_;
  int gamma_ = -1, beta_ = -1;  // indices into params_ (-1: absent)
  Tensor ones_, zeros_;
};

// Normalizes each channel (the last axis) over every other axis: y = (x - mean) / sqrt(var + eps) * gamma + beta.
// Training uses the batch's mean and biased variance and updates moving = moving*momentum + batch*(1-momentum);
// inference, and a frozen layer (trainable false, as in Keras), use the moving statistics.
// Weights in Keras order: gamma (if scale), beta (if center), moving_mean, moving_variance (the last two are not
// trainable).
class BatchNormalization : public AffineNormalization {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  BatchNormalization(int64_t axis = -1, float momentum = 0.99f, float epsilon = 1e-3f, bool center = true,
                     bool scale = true, const Initializer& beta_initializer = "zeros",
                     const Initializer& gamma_initializer = "ones",
                     const Initializer& moving_mean_initializer = "zeros",
                     const Initializer& moving_variance_initializer = "ones", const std::string& name = "");
  std::string class_name() const override { return "BatchNormalization"; }
  float momentum() const { return momentum_; }

 protected:
  struct Call : LayerCall {
    bool batch_stats = false;  // the last forward normalized with the batch's statistics
    Tensor mean, var, rstd, ws;
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_preact_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  float momentum_;
  Initializer mean_init_, var_init_;
  int moving_mean_ = -1, moving_var_ = -1;  // indices into params_
};

// Normalizes each sample over its last axis: y = (x - mean_row) / sqrt(var_row + eps) * gamma + beta,
// gamma and beta of shape (last,). The same in training and inference.
class LayerNormalization : public AffineNormalization {
 public:
  static LayerPtr from_config(const Json& config);
  LayerNormalization(int64_t axis = -1, float epsilon = 1e-3f, bool center = true, bool scale = true,
                     const Initializer& beta_initializer = "zeros", const Initializer& gamma_initializer = "ones",
                     const std::string& name = "");
  std::string class_name() const override { return "LayerNormalization"; }

 protected:
  struct Call : LayerCall {
    Tensor mean, rstd;  // per row
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_preact_one(LayerCall& call, const Tensor& dy, bool need_dx) override;
};

}  // namespace nncore
