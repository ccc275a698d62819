#pragma once
// What the losses and metrics share: how many targets a sample has, the error when a batch has others, and the
// list of valid names in their errors.
#include <string>
#include <vector>

#include "nncore/check.hpp"
#include "nncore/tensor.hpp"

namespace nncore {

inline std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Target values per sample for an output of per-sample shape `out`: one integer label per row of classes (the sparse
// layout) or one value per output element.
inline int64_t targets_per_sample(bool sparse, const Shape& out) {
  return sparse ? shape_numel(out) / out.back() : shape_numel(out);
}

// The loss and metric kernels read exactly B * targets_per_sample targets; any other count is refused rather than
// read past. Called only on a mismatch, so the per-batch path builds no message.
[[noreturn]] inline void wrong_target_count(const std::string& who, bool sparse, const Tensor& y, int64_t B,
                                     const Shape& out) {
  throw std::invalid_argument(str_cat(who, ": expected ", B * targets_per_sample(sparse, out), " target values for ",
                                      B, " sample(s) of output shape ", shape_str(out),
                                      (sparse ? " (one integer label per row)" : ""), ", got ", y.size(),
                                      " (targets of shape ", y.shape_str(), ")"));
}

}  // namespace nncore
