// Keras's weight initializers. Variance scaling: scale / fan, with fan = fan_in, fan_out or their mean.
#include "nncore/initializers.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "nncore/check.hpp"

namespace nncore {

const std::vector<std::string>& initializer_names() {
  static const std::vector<std::string> names{"glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                              "lecun_uniform",  "lecun_normal",  "zeros",      "ones",
                                              "uniform",        "random_uniform", "orthogonal",
                                              "random_normal",  "normal",         "truncated_normal"};
  return names;
}

void check_initializer(const std::string& name, const std::string& where) {
  for (const auto& n : initializer_names())
    if (n == name) return;
  std::string valid;
  for (const auto& n : initializer_names()) valid += (valid.empty() ? "" : ", ") + n;
  throw std::invalid_argument(where + ": unknown initializer '" + name + "'; valid initializers: " + valid);
}

namespace {
void fill_uniform(Tensor& w, float limit, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(-limit, limit);
  for (int64_t i = 0; i < w.size(); ++i) w.data()[i] = u(rng);
}
// Truncated at 2 standard deviations; the stddev of N(0,1) truncated to [-2,2] is 0.87962566, so the draw is
// divided by it to keep the requested variance (as Keras's VarianceScaling does).
void fill_truncated_normal(Tensor& w, float stddev, std::mt19937_64& rng) {
  std::normal_distribution<float> n(0.f, 1.f);
  const float s = stddev / 0.87962566103423978f;
  for (int64_t i = 0; i < w.size(); ++i) {
    float z;
    do z = n(rng);
    while (std::fabs(z) > 2.f);
    w.data()[i] = s * z;
  }
}

// Keras's Orthogonal (gain 1): w viewed as (rows, cols) = (prod of all axes but the last, last axis) gets
// orthonormal rows or columns, whichever there are fewer of: the Q factor of a standard-normal matrix of shape
// (max, min), made unique by positive diagonal of R (modified Gram-Schmidt gives that directly), transposed
// when rows < cols. In double, then rounded.
void fill_orthogonal(Tensor& w, std::mt19937_64& rng) {
  const int64_t cols = w.ndim() > 0 ? w.dim(-1) : 1, rows = cols > 0 ? w.size() / cols : 0;
  const int64_t n = std::max(rows, cols), k = std::min(rows, cols);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> a(static_cast<size_t>(n * k));  // column j is a[j*n .. j*n+n)
  for (double& v : a) v = normal(rng);
  for (int64_t j = 0; j < k; ++j) {
    double* q = &a[static_cast<size_t>(j * n)];
    for (int64_t p = 0; p < j; ++p) {
      const double* e = &a[static_cast<size_t>(p * n)];
      double dot = 0.0;
      for (int64_t i = 0; i < n; ++i) dot += e[i] * q[i];
      for (int64_t i = 0; i < n; ++i) q[i] -= dot * e[i];
    }
    double norm = 0.0;
    for (int64_t i = 0; i < n; ++i) norm += q[i] * q[i];
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < n; ++i) q[i] /= norm;
  }
  // Q is (n, k) with Q[i][j] = a[j*n + i]; w is Q (rows >= cols) or Q^T.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      w.data()[r * cols + c] = static_cast<float>(rows >= cols ? a[static_cast<size_t>(c * n + r)]
                                                                : a[static_cast<size_t>(r * n + c)]);
}
}  // namespace

void initialize(Tensor& w, const std::string& name, int64_t fan_in, int64_t fan_out, std::mt19937_64& rng) {
  check_initializer(name, "initialize");
  const double fi = static_cast<double>(fan_in), fo = static_cast<double>(fan_out);
  if (name == "zeros") w.fill(0.f);
  else if (name == "ones") w.fill(1.f);
  else if (name == "glorot_uniform") fill_uniform(w, static_cast<float>(std::sqrt(6.0 / (fi + fo))), rng);
  else if (name == "glorot_normal") fill_truncated_normal(w, static_cast<float>(std::sqrt(2.0 / (fi + fo))), rng);
  else if (name == "he_uniform") fill_uniform(w, static_cast<float>(std::sqrt(6.0 / fi)), rng);
  else if (name == "he_normal") fill_truncated_normal(w, static_cast<float>(std::sqrt(2.0 / fi)), rng);
  else if (name == "lecun_uniform") fill_uniform(w, static_cast<float>(std::sqrt(3.0 / fi)), rng);
  else if (name == "orthogonal") fill_orthogonal(w, rng);
  else if (name == "lecun_normal") fill_truncated_normal(w, static_cast<float>(std::sqrt(1.0 / fi)), rng);
  else if (name == "uniform" || name == "random_uniform") fill_uniform(w, 0.05f, rng);  // Keras's RandomUniform()
  else if (name == "random_normal" || name == "normal") {  // Keras's RandomNormal(): N(0, 0.05)
    std::normal_distribution<float> n(0.f, 0.05f);
    for (int64_t i = 0; i < w.size(); ++i) w.data()[i] = n(rng);
  } else if (name == "truncated_normal") {  // Keras's TruncatedNormal(): N(0, 0.05) cut at 2 standard deviations
    fill_truncated_normal(w, 0.05f * 0.87962566103423978f, rng);
  }
}

}  // namespace nncore
