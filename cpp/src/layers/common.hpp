#pragma once
// Helpers shared by the layer implementations (not public API).
#include <string>

#include "kernels/kernels.hpp"
#include "nncore/activations.hpp"
#include "nncore/layers/layer.hpp"

namespace nncore::detail {

inline kernels::Act to_kernel(Activation a) { return static_cast<kernels::Act>(static_cast<int>(a)); }

// The given name, or a fresh Keras-style one from the class name ("Conv2D" -> "conv2d", "conv2d_1", ...).
inline std::string layer_name(const std::string& name, const std::string& class_name) {
  return name.empty() ? unique_layer_name(snake_case(class_name)) : name;
}

// While a WeightBudget lives on this thread, Layer::add_weight refuses to create weights beyond `floats` values in
// total: a model file's architecture may not ask for more weights than the file holds (no allocation the size of
// a forged config).
class WeightBudget {
 public:
  explicit WeightBudget(int64_t floats);
  ~WeightBudget();
  WeightBudget(const WeightBudget&) = delete;
  WeightBudget& operator=(const WeightBudget&) = delete;
  // Takes n floats from the active budget (if any); throws when it runs out.
  static void take(int64_t n, const std::string& what);
  // Whether a budget lives on this thread (a model file is being read).
  static bool active();

 private:
  int64_t remaining_;
  WeightBudget* outer_;
};

}  // namespace nncore::detail
