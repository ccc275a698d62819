#pragma once
// Weight initializers, as Keras 3 has them (keras.initializers), each a kind and its arguments:
//   Zeros, Ones, Constant(value), Identity(gain)                 constant values (Identity: 2-D weights only)
//   RandomNormal(mean, stddev), RandomUniform(minval, maxval), TruncatedNormal(mean, stddev)  (|z| <= 2, redrawn)
//   VarianceScaling(scale, mode, distribution): variance scale / fan, fan = fan_in, fan_out or their mean
//     ("fan_avg"), from a truncated normal rescaled so the variance is exact, a plain normal or a uniform; and its
//     named cases GlorotUniform/GlorotNormal (1, fan_avg), LecunUniform/LecunNormal (1, fan_in), HeUniform/HeNormal
//     (2, fan_in)
//   Orthogonal(gain): the weight viewed as (prod of all axes but the last, last) gets orthonormal rows or columns
// Fans follow Keras's compute_fans: (in, out) for a matrix, the receptive field times the last two axes for a
// convolution kernel, the length twice for a vector.
//
// An Initializer is made from a name (Keras's snake-case or class name: "glorot_uniform", "GlorotUniform"; a C++
// caller writes a plain string) or from a Keras config ({"class_name": "RandomNormal", "config": {"mean": 0,
// "stddev": 0.02, "seed": null}}). With a seed (>= 0) it draws the same values at every use, by itself (Keras's
// seeded initializers); without one it draws from the generator it is given: a layer's, seeded by nncore's seed.
// A user's function can stand in (custom): it fills the weight, and `spec` (the config its host wrote for it) names
// it in configs. A host language that resolves such specs back into functions registers a resolver.
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "nncore/json.hpp"
#include "nncore/tensor.hpp"

namespace nncore {

// Fills w (its shape is the weight's) or throws; `where` names the weight for messages.
using InitializerFill = std::function<void(Tensor& w, const std::string& where)>;

class Initializer {
 public:
  enum class Kind { zeros, ones, constant, identity, random_normal, random_uniform, truncated_normal,
                    variance_scaling, orthogonal, custom, unknown };

  // A name: snake-case, Keras class name or alias ("uniform", "normal", "one", "zero"). An unknown name is kept
  // and reported by check() (so the layer that gets it can name itself in the message).
  Initializer(const std::string& name);  // NOLINT(google-explicit-constructor): a name stands for the initializer
  Initializer(const char* name);         // NOLINT(google-explicit-constructor)
  // A name string or a Keras config object ({"class_name", "config"}; "module" and "registered_name" optional).
  // A class that is not built in (a user's, named by registered_name or class_name "function") becomes custom:
  // the resolver's function when one is registered and knows it, else unresolved. `where` prefixes errors.
  static Initializer from_json(const Json& j, const std::string& where);
  // A user's function, named by `spec` in configs.
  static Initializer custom(InitializerFill fill, Json spec);

  // The name it was made from (snake-case), the name of its class when its arguments are the defaults and it has
  // no seed, else Keras's serialized form {"module", "class_name", "config", "registered_name"}.
  Json to_json() const;
  // Throws std::invalid_argument "<where>: unknown initializer 'x'; valid initializers: ..." for an unknown name.
  void check(const std::string& where) const;
  // Fills w. Unseeded draws come from rng. A custom initializer without a function throws, naming it.
  void fill(Tensor& w, std::mt19937_64& rng, const std::string& where) const;

  Kind kind() const { return kind_; }
  const std::string& class_name() const { return class_; }  // Keras's ("RandomNormal", "GlorotUniform", ...)
  bool is_custom() const { return kind_ == Kind::custom; }
  bool has_function() const { return static_cast<bool>(fill_); }
  int64_t seed() const { return seed_; }  // -1: none

 private:
  Initializer() = default;
  void set_class(const std::string& class_name);  // the kind and default arguments of a built-in class
  Json arguments() const;                          // the "config" part of the serialized form
  Kind kind_ = Kind::zeros;
  std::string class_;
  std::string name_;     // the snake-case name it was made from; empty when made from a config
  std::string unknown_;  // the name that is no initializer (kind unknown)
  double mean_ = 0.0, stddev_ = 0.05, minval_ = -0.05, maxval_ = 0.05, value_ = 0.0, gain_ = 1.0, scale_ = 1.0;
  std::string mode_ = "fan_in", distribution_ = "truncated_normal";
  int64_t seed_ = -1;
  InitializerFill fill_;  // custom
  Json spec_;             // custom
};

// Member `key` of a layer config (a name or a Keras config), `def` when missing or null; `who` names the layer.
Initializer initializer_from_config(const Json& config, const std::string& key, const std::string& def,
                                    const std::string& who);

// Keras's compute_fans: (fan_in, fan_out) of a weight shape.
std::pair<int64_t, int64_t> compute_fans(const Shape& shape);
// A new tensor of this shape drawn by `init`; unseeded initializers draw from nncore's seed stream (a fresh draw
// at each call, reproducible after set_random_seed). Keras's initializer(shape) called eagerly.
Tensor initializer_values(const Initializer& init, const Shape& shape);

// The snake-case names of the built-in initializers (with Keras's aliases), for messages and checks.
const std::vector<std::string>& initializer_names();
void check_initializer(const std::string& name, const std::string& where);

// How a host language turns the spec of a user's initializer (as its config names it) into a function; an empty
// function when it does not know it. Consulted when a config is read (Initializer::from_json).
using InitializerResolver = std::function<InitializerFill(const Json& spec)>;
void set_initializer_resolver(InitializerResolver resolver);

}  // namespace nncore
