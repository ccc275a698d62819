#include "nncore/activations.hpp"

#include "nncore/check.hpp"

namespace nncore {

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names{"linear", "relu",       "sigmoid", "tanh",
                                              "softmax", "leaky_relu", "gelu",    "elu"};
  return names;
}

Activation activation_from_name(const std::string& name) {
  if (name.empty() || name == "linear" || name == "None") return Activation::linear;
  const auto& names = activation_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<Activation>(i);
  std::string valid;
  for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown activation '" + name + "'; valid activations: " + valid);
}

std::string activation_name(Activation a) { return activation_names()[static_cast<size_t>(a)]; }

float activation_default_alpha(Activation a) {
  switch (a) {
    case Activation::leaky_relu: return 0.2f;
    case Activation::elu: return 1.0f;
    default: return 0.f;
  }
}

}  // namespace nncore
