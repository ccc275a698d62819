#pragma once
// The layer contract.
//   build(input_shape)       once, with the per-sample input shape (no batch axis); creates the weights.
//   forward(x, training)     x is (batch, *input_shape); returns a reference to a layer-owned output buffer that
//                            stays valid until the next forward. The layer keeps a shallow copy of x for backward,
//                            so x's storage must stay alive until then (owned tensors share their storage).
//   backward(dy, need_dx)    accumulates (+=) into the parameter gradients and returns a reference to the
//                            layer-owned dx (empty when need_dx is false: the first layer skips that work).
//   backward_from_preact     the same, given the gradient with respect to the pre-activation when the layer
//                            ends in an activation; the model uses it to fuse softmax/sigmoid with the loss.
// Buffers grow on the first batch of a given size and are reused after that: no allocation per step.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nncore/activations.hpp"
#include "nncore/json.hpp"
#include "nncore/tensor.hpp"

namespace nncore {

// Weight penalty added to the training loss: l1 * sum|w| + l2 * sum w^2 (Keras's L1, L2, L1L2).
struct Regularizer {
  float l1 = 0.f;
  float l2 = 0.f;
  bool active() const { return l1 != 0.f || l2 != 0.f; }
};

class Layer;
using LayerPtr = std::shared_ptr<Layer>;

struct Param {
  std::string name;
  Tensor value;
  Tensor grad;
  Regularizer regularizer;
  bool trainable = true;
};

class Layer {
 public:
  explicit Layer(std::string name);
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  virtual std::string class_name() const = 0;
  const std::string& name() const { return name_; }

  // The constructor arguments as JSON (Keras names): the base writes name, trainable and each weight's
  // regularizer ("kernel_regularizer": {"l1": .., "l2": ..}); derived classes add theirs. Each class has a
  // static from_config(const Json&) that rebuilds it; layer_from_config (nncore/io.hpp) dispatches on
  // class_name through one table in cpp/src/io/registry.cpp.
  virtual Json config() const;
  // Applies the base part of a config (trainable, regularizers) to a freshly constructed layer.
  void apply_base_config(const Json& config);

  void build(const Shape& input_shape);
  bool built() const { return built_; }
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }

  virtual const Tensor& forward(const Tensor& x, bool training) = 0;
  virtual const Tensor& backward(const Tensor& dy, bool need_dx = true);
  virtual const Tensor& backward_from_preact(const Tensor& dz, bool need_dx);

  // The activation the layer ends with, and its pre-activation from the last forward (for loss fusion).
  virtual Activation output_activation() const { return Activation::linear; }
  virtual const Tensor& pre_activation() const { return output_; }
  virtual float activation_alpha() const { return 0.f; }

  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  void zero_grad();
  int64_t count_params() const;
  int64_t count_trainable_params() const;

  bool trainable() const { return trainable_; }
  void set_trainable(bool t);

  // Penalizes weight `weight_name` ("kernel", "bias", ...). Set before or after build; at build, a name the
  // layer does not create is an error.
  void set_regularizer(const std::string& weight_name, Regularizer r);

  // Masking of padded sequence steps (Keras's mask_zero): a (batch, time) tensor of 0/1 floats marking the valid
  // steps. The model hands each layer the mask of the layer before it (nullptr: none) before its forward; a layer
  // that produces or consumes masks overrides output_mask(). The default passes the input mask on when the
  // output keeps the time axis (rank >= 2 per sample, same length as the input's first axis), else drops it.
  void set_input_mask(const Tensor* mask) { input_mask_ = mask; }
  const Tensor* input_mask() const { return input_mask_; }
  virtual const Tensor* output_mask() const;

 protected:
  // Returns the per-sample output shape; called once by build().
  virtual Shape do_build(const Shape& input_shape) = 0;
  Param& add_weight(const std::string& name, const Shape& shape, const std::string& initializer, int64_t fan_in,
                    int64_t fan_out);
  // Checks x is (batch, *input_shape) and names this layer in the error.
  void check_input(const Tensor& x) const;
  Shape batch_shape(int64_t batch, const Shape& per_sample) const;
  // Checks that a forward ran and that dy has the shape of its output (`expected`), naming this layer.
  void check_gradient(const Tensor& dy, const Shape& expected) const;

  std::string name_;
  bool built_ = false;
  bool trainable_ = true;
  Shape input_shape_, output_shape_;
  std::vector<Param> params_;
  std::vector<std::pair<std::string, Regularizer>> pending_regularizers_;
  std::mt19937_64 rng_;
  const Tensor* input_mask_ = nullptr;  // owned by the layer before; valid during this forward/backward
  Tensor input_;   // shallow copy of the last forward's input
  Tensor output_;  // layer-owned output buffer
  Tensor dx_;      // layer-owned input-gradient buffer
  Tensor dpre_;    // gradient with respect to the pre-activation (layers that end in an activation)
};

// A unique Keras-style name: "dense", "dense_1", ... per base name, process-wide.
std::string unique_layer_name(const std::string& base);
// "Dense" -> "dense", "MaxPooling2D" -> "max_pooling2d".
std::string snake_case(const std::string& class_name);

}  // namespace nncore
