#pragma once
// Output size and padding of a convolution or pooling window along one axis, Keras's "valid" / "same" rules
// (same: output ceil(in / stride), the odd padding pixel after) and Conv1D's "causal" (all the padding,
// dilation * (k - 1), before: output t sees inputs up to t * stride only). Shared by the layers and the ops.
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
  if (padding == "causal") return {(in - 1) / stride + 1, span - 1};
  if (padding == "valid") return {in >= span ? (in - span) / stride + 1 : 0, 0};
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + span - in, 0);
  return {out, total / 2};
}

inline void check_padding(const std::string& padding, const std::string& who, bool causal_ok = false) {
  if (causal_ok)
    NNC_CHECK(padding == "valid" || padding == "same" || padding == "causal", who,
              ": padding must be 'valid', 'same' or 'causal', got '", padding, "'");
  else
    NNC_CHECK(padding == "valid" || padding == "same", who, ": padding must be 'valid' or 'same', got '", padding,
              "'");
}

}  // namespace nncore::detail
