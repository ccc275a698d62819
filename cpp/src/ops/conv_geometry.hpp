#pragma once
// Output size and padding of a convolution or pooling window along one axis, Keras's "valid" / "same" rules
// (same: output ceil(in / stride), the odd padding pixel after) and Conv1D's "causal" (all the padding,
// dilation * (k - 1), before: output t sees inputs up to t * stride only). Shared by the layers and the ops.
#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/kernels.hpp"
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

// A transposed convolution along one axis, Keras 3's rule (compute_conv_transpose_output_length): without an
// output_padding (< 0: None) the output is in * stride ("same") or in * stride + max(span - stride, 0) ("valid");
// with one, (in - 1) * stride + span - 2 * pad + output_padding, pad = span / 2 ("same") or 0 ("valid").
// pad_before is that of the convolution the transposed one is the adjoint of (its input is this output, its
// output this input): none for "valid", TensorFlow's "same" split of max((in - 1) * stride + span - out, 0).
// Output pixel o then collects input pixel i through tap t where o = i * stride - pad_before + t * dilation.
inline ConvAxis conv_transpose_axis(int64_t in, int64_t k, int64_t stride, int64_t dilation,
                                    const std::string& padding, int64_t output_padding) {
  const int64_t span = (k - 1) * dilation + 1;
  const bool same = padding == "same";
  int64_t out;
  if (output_padding < 0) out = same ? in * stride : in * stride + std::max<int64_t>(span - stride, 0);
  else out = (in - 1) * stride + span - 2 * (same ? span / 2 : 0) + output_padding;
  const int64_t pad_before = same ? std::max<int64_t>((in - 1) * stride + span - out, 0) / 2 : 0;
  return {out, pad_before};
}

inline void check_padding(const std::string& padding, const std::string& who, bool causal_ok = false) {
  if (causal_ok)
    NNC_CHECK(padding == "valid" || padding == "same" || padding == "causal", who,
              ": padding must be 'valid', 'same' or 'causal', got '", padding, "'");
  else
    NNC_CHECK(padding == "valid" || padding == "same", who, ": padding must be 'valid' or 'same', got '", padding,
              "'");
}

// An image resampling's fill mode by its Keras name; `who` names the caller in the error.
inline kernels::ImageFill image_fill(const std::string& mode, const std::string& who) {
  if (mode == "reflect") return kernels::ImageFill::reflect;
  if (mode == "wrap") return kernels::ImageFill::wrap;
  if (mode == "nearest") return kernels::ImageFill::nearest;
  NNC_CHECK(mode == "constant", who, ": fill_mode must be 'reflect', 'wrap', 'nearest' or 'constant', got '", mode,
            "'");
  return kernels::ImageFill::constant;
}

}  // namespace nncore::detail

