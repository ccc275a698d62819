#pragma once
#include <string>
#include <vector>

namespace nncore {

enum class Activation { linear, relu, sigmoid, tanh, softmax, leaky_relu, gelu, elu };

// "relu", "sigmoid", ... ("linear" and "" both mean identity). Throws listing the valid names.
Activation activation_from_name(const std::string& name);
std::string activation_name(Activation a);
const std::vector<std::string>& activation_names();
// The default parameter of an activation (leaky_relu: negative slope 0.2 as in Keras 3; elu: alpha 1.0).
float activation_default_alpha(Activation a);

}  // namespace nncore
