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

}  // namespace nncore::detail
