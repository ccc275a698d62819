#pragma once
// Activation layers with arguments of their own, as Keras 3's keras.layers.ReLU / LeakyReLU / ELU / Softmax /
// PReLU. LeakyReLU, ELU and Softmax are Activation layers with a fixed activation and parameter (so a final Softmax
// fuses with a cross-entropy loss, as Activation('softmax') does); ReLU and PReLU have kernels of their own.
#include <limits>
#include <vector>

#include "nncore/layers/core.hpp"

namespace nncore {

// y = x > threshold ? min(x, max_value) : negative_slope * (x - threshold). max_value: +inf for None.
class ReLU : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit ReLU(float max_value = std::numeric_limits<float>::infinity(), float negative_slope = 0.f,
                float threshold = 0.f, const std::string& name = "");
  std::string class_name() const override { return "ReLU"; }
  float max_value() const { return max_value_; }  // +inf: None
  float negative_slope() const { return negative_slope_; }
  float threshold() const { return threshold_; }

 protected:
  Shape do_build(const Shape& input_shape) override { return input_shape; }
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  float max_value_, negative_slope_, threshold_;
};

// y = x > 0 ? x : negative_slope * x (Keras 3's default slope 0.3).
class LeakyReLU : public ActivationLayer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit LeakyReLU(float negative_slope = 0.3f, const std::string& name = "");
  std::string class_name() const override { return "LeakyReLU"; }
  float negative_slope() const { return alpha_; }
};

// y = x > 0 ? x : alpha * (exp(x) - 1).
class ELU : public ActivationLayer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit ELU(float alpha = 1.f, const std::string& name = "");
  std::string class_name() const override { return "ELU"; }
  float alpha() const { return alpha_; }
};

// Softmax over `axis` (Keras counts the batch axis: -1, or the rank of the input less one, the last axis). Only the
// last axis is supported: another one raises at build, naming it.
class Softmax : public ActivationLayer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit Softmax(int64_t axis = -1, const std::string& name = "");
  std::string class_name() const override { return "Softmax"; }
  int64_t axis() const { return axis_; }

 protected:
  Shape do_build(const Shape& input_shape) override;

 private:
  int64_t axis_;
};

// y = x > 0 ? x : alpha * x with a learned alpha of the per-sample input shape, 1 along shared_axes (1-based
// per-sample axes as in Keras: shared_axes={1, 2} shares one alpha per channel over the height and width of
// images). Weight "alpha". Shared axes may have unknown lengths; the others must be known.
class PReLU : public Layer {
 public:
  Json config() const override;
  static LayerPtr from_config(const Json& config);
  explicit PReLU(const Initializer& alpha_initializer = "zeros", std::vector<int64_t> shared_axes = {},
                 const std::string& name = "");
  std::string class_name() const override { return "PReLU"; }
  const std::vector<int64_t>& shared_axes() const { return shared_axes_; }
  const Initializer& alpha_initializer() const { return init_; }

 protected:
  struct Call : LayerCall {
    Shape mapped_for;                        // the per-sample shape the maps below were made for
    std::vector<int64_t> amap, order, starts;  // element -> alpha entry, and each entry's elements (empty: identity)
  };
  std::unique_ptr<LayerCall> new_call() const override { return std::make_unique<Call>(); }
  Shape do_build(const Shape& input_shape) override;
  const Tensor& forward_one(LayerCall& call, const Tensor& x, bool training) override;
  const Tensor& backward_one(LayerCall& call, const Tensor& dy, bool need_dx) override;

 private:
  void map_alpha(Call& call) const;  // (re)makes the call's maps for its input shape
  Initializer init_;
  std::vector<int64_t> shared_axes_;
};

}  // namespace nncore
