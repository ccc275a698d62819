// Keras 3's activation layers with arguments (activation.hpp): ReLU and PReLU on their kernels (kernels/utility.cpp);
// LeakyReLU, ELU and Softmax as Activation layers with their parameter.
#include <cmath>

#include "layers/common.hpp"
#include "nncore/check.hpp"
#include "nncore/initializers.hpp"
#include "nncore/layers/activation.hpp"

namespace nncore {

using detail::layer_name;

// ---- ReLU -----------------------------------------------------------------------------------------------------------
ReLU::ReLU(float max_value, float negative_slope, float threshold, const std::string& name)
    : Layer(layer_name(name, "ReLU")), max_value_(max_value), negative_slope_(negative_slope), threshold_(threshold) {
  NNC_CHECK(!std::isnan(max_value) && max_value >= 0.f, "ReLU '", name_,
            "': max_value must be >= 0 (or None), got ", max_value);
  NNC_CHECK(std::isfinite(negative_slope) && negative_slope >= 0.f, "ReLU '", name_,
            "': negative_slope must be a finite number >= 0, got ", negative_slope);
  NNC_CHECK(std::isfinite(threshold) && threshold >= 0.f, "ReLU '", name_,
            "': threshold must be a finite number >= 0, got ", threshold);
}

// x and y are any shape, treated as flat.
const Tensor& ReLU::forward_one(LayerCall& c, const Tensor& x, bool training) {
  c.y.resize(x.shape());
  kernels::relu_ext_forward(c.y.data(), x.data(), x.size(), max_value_, negative_slope_, threshold_);
  return c.y;
}

const Tensor& ReLU::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  const Tensor& x = c.inputs[0];
  c.dx.resize(x.shape());
  kernels::relu_ext_backward(c.dx.data(), dy.data(), x.data(), x.size(), max_value_, negative_slope_, threshold_);
  return c.dx;
}

// ---- LeakyReLU, ELU, Softmax: activation layers with their parameter -------------------------------------------------
LeakyReLU::LeakyReLU(float negative_slope, const std::string& name)
    : ActivationLayer(Activation::leaky_relu, negative_slope, name, "LeakyReLU") {
  NNC_CHECK(std::isfinite(negative_slope) && negative_slope >= 0.f, "LeakyReLU '", name_,
            "': negative_slope must be a finite number >= 0, got ", negative_slope);
}

ELU::ELU(float alpha, const std::string& name) : ActivationLayer(Activation::elu, alpha, name, "ELU") {
  NNC_CHECK(std::isfinite(alpha), "ELU '", name_, "': alpha must be a finite number, got ", alpha);
}

Softmax::Softmax(int64_t axis, const std::string& name)
    : ActivationLayer(Activation::softmax, 0.f, name, "Softmax"), axis_(axis) {
  NNC_CHECK(axis != 0, "Softmax '", name_, "': axis 0 is the batch axis; use -1 (the last axis)");
}

// The kernels take softmax over the last axis: axis -1, or its positive index (counting the batch axis).
Shape Softmax::do_build(const Shape& in) {
  const int64_t rank = static_cast<int64_t>(in.size()) + 1;
  NNC_CHECK(axis_ == -1 || axis_ == rank - 1, "Softmax '", name_, "': only the last axis (axis=-1) is supported, got axis=",
            axis_, " for input ", shape_str(batch_shape(-1, in)));
  return in;
}

// ---- PReLU ----------------------------------------------------------------------------------------------------------
PReLU::PReLU(const Initializer& alpha_initializer, std::vector<int64_t> shared_axes, const std::string& name)
    : Layer(layer_name(name, "PReLU")), init_(alpha_initializer), shared_axes_(std::move(shared_axes)) {
  alpha_initializer.check("PReLU '" + name_ + "' alpha_initializer");
  for (int64_t a : shared_axes_)
    NNC_CHECK(a >= 1, "PReLU '", name_, "': shared_axes are per-sample axes counted from 1 (after the batch axis), got ",
              shape_str(shared_axes_));
}

// alpha has the per-sample shape with each shared axis set to 1.
Shape PReLU::do_build(const Shape& in) {
  NNC_CHECK(!in.empty(), who(), ": expected input with at least 2 dimensions (batch, features), got ",
            shape_str(batch_shape(-1, in)));
  Shape alpha = in;
  for (int64_t a : shared_axes_) {
    NNC_CHECK(a <= static_cast<int64_t>(in.size()), who(), ": shared_axes ", shape_str(shared_axes_),
              " do not fit input ", shape_str(batch_shape(-1, in)), " (per-sample axes are 1..", in.size(), ")");
    alpha[static_cast<size_t>(a - 1)] = 1;
  }
  for (size_t d = 0; d < in.size(); ++d)
    if (alpha[d] != 1) require_known(in, static_cast<int64_t>(d), str_cat("axis ", d + 1, " (not in shared_axes)"));
  add_weight("alpha", alpha, init_);
  return in;
}

// The alpha entry of each per-sample element, and each entry's elements in ascending order (for the gradient's
// fixed summation order). Empty when nothing is shared (alpha has the input's shape).
void PReLU::map_alpha(Call& c) const {
  const Shape& in = c.input_shapes[0];
  if (c.mapped_for == in) return;
  c.mapped_for = in;
  c.amap.clear();
  c.order.clear();
  c.starts.clear();
  const Shape& alpha = params_[0].value.shape();
  if (alpha == in) return;
  const size_t r = in.size();
  const int64_t E = shape_numel(in), A = shape_numel(alpha);
  std::vector<int64_t> astride(r, 1);
  for (size_t d = r; d-- > 1;) astride[d - 1] = astride[d] * alpha[d];
  c.amap.resize(static_cast<size_t>(E));
  std::vector<int64_t> idx(r, 0);
  for (int64_t e = 0; e < E; ++e) {
    int64_t a = 0;
    for (size_t d = 0; d < r; ++d) a += alpha[d] == 1 ? 0 : idx[d] * astride[d];
    c.amap[static_cast<size_t>(e)] = a;
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < in[d]) break;
      idx[d] = 0;
    }
  }
  // Counting sort by entry: e ascending within each entry.
  c.starts.assign(static_cast<size_t>(A + 1), 0);
  for (int64_t a : c.amap) ++c.starts[static_cast<size_t>(a + 1)];
  for (int64_t a = 0; a < A; ++a) c.starts[static_cast<size_t>(a + 1)] += c.starts[static_cast<size_t>(a)];
  c.order.resize(static_cast<size_t>(E));
  std::vector<int64_t> next(c.starts.begin(), c.starts.end() - 1);
  for (int64_t e = 0; e < E; ++e) c.order[static_cast<size_t>(next[static_cast<size_t>(c.amap[static_cast<size_t>(e)])]++)] = e;
}

// x is (B, *shape) viewed as (B, E).
const Tensor& PReLU::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& pc = as<Call>(c);
  map_alpha(pc);
  const int64_t B = x.dim(0), E = B > 0 ? x.size() / B : 0;
  c.y.resize(x.shape());
  kernels::prelu_forward(c.y.data(), x.data(), params_[0].value.data(), pc.amap.empty() ? nullptr : pc.amap.data(), B,
                         E);
  return c.y;
}

const Tensor& PReLU::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  Call& pc = as<Call>(c);
  const Tensor& x = c.inputs[0];
  const int64_t B = x.dim(0), E = B > 0 ? x.size() / B : 0;
  if (need_dx) c.dx.resize(x.shape());
  const bool mapped = !pc.amap.empty();
  kernels::prelu_backward(need_dx ? c.dx.data() : nullptr, trainable_ ? params_[0].grad_accumulator() : nullptr, dy.data(),
                          x.data(), params_[0].value.data(), mapped ? pc.amap.data() : nullptr,
                          mapped ? pc.order.data() : nullptr, mapped ? pc.starts.data() : nullptr, B, E,
                          params_[0].value.size());
  return c.dx;
}

}  // namespace nncore
