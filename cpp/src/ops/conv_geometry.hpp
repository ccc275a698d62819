#pragma once
// Output size and padding of a convolution or pooling window along one axis, Keras's "valid" / "same" rules
// (same: output ceil(in / stride), the odd padding pixel after). Shared by the layers and the functional ops.
#include <algorithm>
#include <cstdint>
#include <string>

#include "nncore/check.hpp"

namespace nncore::detail {

struct ConvAxis {
  int64_t out, pad_before;
};

inline ConvAxis conv_axis(int64_t in, int64_t k, int64_t stride, int64_t dilation, const std::string& padding) {
  const int64_t span = (k - 1) * dilation + 1;
  if (padding == "valid") return {in >= span ? (in - span) / stride + 1 : 0, 0};
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + span - in, 0);
  return {out, total / 2};
}

inline void check_padding(const std::string& padding, const std::string& who) {
  NNC_CHECK(padding == "valid" || padding == "same", who, ": padding must be 'valid' or 'same', got '", padding, "'");
}

}  // namespace nncore::detail
