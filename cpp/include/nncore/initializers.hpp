#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "nncore/tensor.hpp"

namespace nncore {

// Keras's initializers: glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal,
// zeros, ones, orthogonal (orthonormal rows or columns, as Keras's Orthogonal). *_normal draw from a truncated
// normal (|z| < 2 sd, rescaled so the variance is exact).
void initialize(Tensor& w, const std::string& name, int64_t fan_in, int64_t fan_out, std::mt19937_64& rng);
const std::vector<std::string>& initializer_names();
void check_initializer(const std::string& name, const std::string& where);

}  // namespace nncore
