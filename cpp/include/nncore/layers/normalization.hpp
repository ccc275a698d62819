#pragma once
// Normalization layers: BatchNormalization, LayerNormalization (Keras semantics, channels-last, axis -1 only), and
// Keras's preprocessing Normalization (fixed or adapted statistics, any axes).
#include <optional>
#include <vector>

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

// Values given to a layer as a number or a nested list (Keras's Normalization mean and variance): row-major, shape {}
// for a number.
struct ArrayValues {
  Shape shape;
  std::vector<double> values;
};

// Keras's Normalization (a preprocessing layer): y = (x - mean) / max(sqrt(variance), 1e-7), or with invert its
// inverse y = x * max(sqrt(variance), 1e-7) + mean. mean and variance hold one value per index of the kept axes
// (`axis`: Keras's axes counting the batch axis, -1 the last; empty for Keras's None: one value for everything),
// broadcast over the other axes. The kept axes must have known lengths; the others may differ from call to call (and
// with axis None, the rank too) in models and in adapt; the layer's own forward(x) takes the shape it was built for.
// Given to the constructor (any shape that broadcasts to the kept axes' shape from the right, as numpy), mean and
// variance are constants and the layer has no weights, as in Keras. Otherwise it has Keras's three non-trainable
// weights: mean (zeros) and variance (ones) of the kept axes' shape, and count (a scalar Keras 3 leaves at 0; kept
// for its layout). adapt sets mean and variance from data in three steps, so that batches can stream in:
// reset_state(), update_state(batch) for each batch (its moments in double, merged into the running ones by Chan's
// pairwise update), finalize_state(). The backward is dx = dy / scale (dy * scale with invert).
class Normalization : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit Normalization(std::vector<int64_t> axis = {-1}, std::optional<ArrayValues> mean = std::nullopt,
                         std::optional<ArrayValues> variance = std::nullopt, bool invert = false,
                         const std::string& name = "");
  std::string class_name() const override { return "Normalization"; }
  const std::vector<int64_t>& axis() const { return axis_; }
  bool invert() const { return invert_; }
  const std::optional<ArrayValues>& given_mean() const { return input_mean_; }
  const std::optional<ArrayValues>& given_variance() const { return input_variance_; }
  // After build: the per-sample axes with statistics of their own (0-based, ascending), and copies of the mean and
  // variance in use (the weights, or the given values broadcast), of those axes' lengths.
  const std::vector<int64_t>& kept_axes() const { return keep_; }
  Tensor mean() const;
  Tensor variance() const;

  // adapt, in steps. update_state builds the layer from the first batch's per-sample shape when it is not built;
  // a batch (batch, ...) must match the built rank and kept lengths. finalize_state throws when no values came.
  void reset_state();
  void update_state(const Tensor& batch);
  void finalize_state();
  double adapted_count() const { return count_; }  // the values behind each statistic so far

 protected:
  struct Call : LayerCall {
    Shape mapped_for;           // the per-sample shape kmap was made for
    std::vector<int64_t> kmap;  // element -> statistic (empty: e % K, the kept axes being the trailing ones)
    Tensor scale;               // max(sqrt(variance), eps) of the last forward, for backward
    Tensor mean;                // given statistics: the mean broadcast to the kept axes
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  std::vector<Shape> call_shapes(const std::vector<Shape>& input_shapes) const override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  std::vector<int64_t> axis_;
  std::optional<ArrayValues> input_mean_, input_variance_;
  bool invert_;
  std::vector<int64_t> keep_;  // after build
  Shape kept_shape_;
  // adapt's running moments (double): values seen per statistic, means, sums of squared deviations
  double count_ = 0.0;
  std::vector<double> run_mean_, run_m2_;
  // Fills the kept axes' mean and variance (K values each) from the given values, broadcast.
  void broadcast_given(float* mean, float* variance) const;
  // Whether per-sample shape s has the built rank and kept lengths (any shape for axis None).
  bool fits(const Shape& s) const;
  // The statistic of each element of per-sample shape s (empty when the kept axes are trailing: e % K).
  std::vector<int64_t> kept_map(const Shape& s) const;
};

}  // namespace nncore
