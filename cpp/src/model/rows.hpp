#pragma once
// Batches as views of the rows of (N, ...) tensors (training.cpp, inference.cpp).
#include <cstdint>
#include <vector>

#include "nncore/tensor.hpp"

namespace nncore {

// Rows [begin, begin+n) of a (N, ...) tensor as a view (no copy).
inline Tensor row_view(const Tensor& x, int64_t begin, int64_t n) {
  Shape s = x.shape();
  const int64_t row = x.dim(0) > 0 ? x.size() / x.dim(0) : 0;
  s[0] = n;
  return Tensor::view(const_cast<float*>(x.data()) + begin * row, s);
}

inline std::vector<Tensor> row_views(const std::vector<Tensor>& xs, int64_t begin, int64_t n) {
  std::vector<Tensor> out;
  for (const Tensor& x : xs) out.push_back(row_view(x, begin, n));
  return out;
}

}  // namespace nncore
