#include "nncore/layers/merge.hpp"

#include <cstring>

#include "layers/common.hpp"
#include "nncore/check.hpp"

namespace nncore {

using detail::layer_name;

// ---- MergeLayer -----------------------------------------------------------------------------------------------
std::vector<Shape> MergeLayer::build_shapes(const std::vector<Shape>& shapes) {
  NNC_CHECK(shapes.size() >= 2, who(), ": expected at least 2 inputs, got ", shapes.size());
  return {merge_shape(shapes)};
}

std::vector<Shape> MergeLayer::call_shapes(const std::vector<Shape>& shapes) const {
  NNC_CHECK(shapes.size() == input_shapes_.size(), who(), " takes ", input_shapes_.size(), " input(s), got ",
            shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i)
    NNC_CHECK(shape_fits(input_shapes_[i], shapes[i]), who(), ": already built for input ", i, " of shape ",
              shape_str(batch_shape(-1, input_shapes_[i])), ", got ", shape_str(batch_shape(-1, shapes[i])));
  return {merge_shape(shapes)};
}

// ---- Add, Subtract, Multiply, Average --------------------------------------------------------------------------
ElementwiseMerge::ElementwiseMerge(Op op, const std::string& name)
    : MergeLayer(layer_name(name, op == Op::add        ? "Add"
                                  : op == Op::subtract ? "Subtract"
                                  : op == Op::multiply ? "Multiply"
                                  : op == Op::average  ? "Average"
                                  : op == Op::maximum  ? "Maximum"
                                                       : "Minimum")),
      op_(op) {}

std::string ElementwiseMerge::class_name() const {
  switch (op_) {
    case Op::add: return "Add";
    case Op::subtract: return "Subtract";
    case Op::multiply: return "Multiply";
    case Op::average: return "Average";
    case Op::maximum: return "Maximum";
    case Op::minimum: return "Minimum";
  }
  return "";
}

Shape ElementwiseMerge::merge_shape(const std::vector<Shape>& shapes) const {
  const std::string who = class_name() + " '" + name_ + "'";
  NNC_CHECK(op_ != Op::subtract || shapes.size() == 2, who, ": expected exactly 2 inputs, got ", shapes.size());
  Shape out = shapes[0];
  for (size_t i = 1; i < shapes.size(); ++i) {
    NNC_CHECK(shape_fits(shapes[0], shapes[i]), who, ": inputs must have the same shape, got ",
              shape_str(batch_shape(-1, shapes[0])), " and ", shape_str(batch_shape(-1, shapes[i])));
    for (size_t d = 0; d < out.size(); ++d)
      if (out[d] < 0) out[d] = shapes[i][d];  // a length one input knows
  }
  return out;
}

void ElementwiseMerge::forward_list(LayerCall& c, bool) {
  const std::vector<Tensor>& xs = c.inputs;
  c.y.resize(xs[0].shape());
  float* y = c.y.data();
  const int64_t n = c.y.size();
  if (op_ == Op::maximum || op_ == Op::minimum) {
    Call& ec = as<Call>(c);
    ec.chosen.resize(static_cast<size_t>(n));
    ec.xs.clear();
    for (const Tensor& x : xs) ec.xs.push_back(x.data());
    kernels::extremum_forward(y, ec.chosen.data(), ec.xs.data(), static_cast<int64_t>(xs.size()), n,
                              op_ == Op::maximum);
    c.outputs.assign(1, &c.y);
    return;
  }
  std::memcpy(y, xs[0].data(), sizeof(float) * static_cast<size_t>(n));
  for (size_t k = 1; k < xs.size(); ++k) {
    const float* x = xs[k].data();
    switch (op_) {
      case Op::add:
      case Op::average:
        for (int64_t i = 0; i < n; ++i) y[i] += x[i];
        break;
      case Op::subtract:
        for (int64_t i = 0; i < n; ++i) y[i] -= x[i];
        break;
      case Op::multiply:
        for (int64_t i = 0; i < n; ++i) y[i] *= x[i];
        break;
      case Op::maximum:
      case Op::minimum: break;  // above
    }
  }
  if (op_ == Op::average) {
    const float s = 1.f / static_cast<float>(xs.size());
    for (int64_t i = 0; i < n; ++i) y[i] *= s;
  }
  c.outputs.assign(1, &c.y);
}

void ElementwiseMerge::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  if (!need_dx) return;  // no weights, and nothing upstream needs a gradient
  const std::vector<Tensor>& xs = c.inputs;
  std::vector<Tensor>& dx = as<Call>(c).dx;
  dx.resize(xs.size());
  const Tensor& dy = *dys[0];
  const int64_t n = dy.size();
  const float* g = dy.data();
  for (size_t k = 0; k < xs.size(); ++k) {
    dx[k].resize(dy.shape());
    c.dxs[k] = &dx[k];
    float* d = dx[k].data();
    switch (op_) {
      case Op::add: std::memcpy(d, g, sizeof(float) * static_cast<size_t>(n)); break;
      case Op::subtract:
        for (int64_t i = 0; i < n; ++i) d[i] = k == 0 ? g[i] : -g[i];
        break;
      case Op::average: {
        const float s = 1.f / static_cast<float>(xs.size());
        for (int64_t i = 0; i < n; ++i) d[i] = g[i] * s;
        break;
      }
      case Op::multiply:
        // d/dx_k prod = prod of the others, multiplied in input order.
        for (int64_t i = 0; i < n; ++i) d[i] = g[i];
        for (size_t j = 0; j < xs.size(); ++j) {
          if (j == k) continue;
          const float* x = xs[j].data();
          for (int64_t i = 0; i < n; ++i) d[i] *= x[i];
        }
        break;
      case Op::maximum:
      case Op::minimum:
        // d max / d x_k = 1 where x_k was chosen (the first input on ties), else 0.
        kernels::extremum_backward(d, g, as<Call>(c).chosen.data(), static_cast<int32_t>(k), n);
        break;
    }
  }
}

// ---- Concatenate -------------------------------------------------------------------------------------------------
Concatenate::Concatenate(int64_t axis, const std::string& name)
    : MergeLayer(layer_name(name, "Concatenate")), axis_(axis) {
  NNC_CHECK(axis != 0, "Concatenate '", name_, "': axis 0 is the batch axis; use -1 or a per-sample axis >= 1");
}

int64_t Concatenate::per_sample_axis(size_t rank) const {
  const int64_t r = static_cast<int64_t>(rank);
  const int64_t a = axis_ < 0 ? r + axis_ : axis_ - 1;
  NNC_CHECK(a >= 0 && a < r, "Concatenate '", name_, "': axis ", axis_, " is out of range for inputs of shape ",
            "(batch", rank ? ", ..." : "", ") with ", rank, " per-sample dimension(s)");
  return a;
}

Shape Concatenate::merge_shape(const std::vector<Shape>& shapes) const {
  const int64_t a = per_sample_axis(shapes[0].size());
  Shape out = shapes[0];
  for (size_t i = 1; i < shapes.size(); ++i) {
    bool ok = shapes[i].size() == shapes[0].size();
    for (size_t d = 0; ok && d < shapes[0].size(); ++d)
      ok = static_cast<int64_t>(d) == a || shapes[i][d] == shapes[0][d] || shapes[i][d] < 0 || shapes[0][d] < 0;
    NNC_CHECK(ok, "Concatenate '", name_, "': inputs must match except along axis ", axis_, ", got ",
              shape_str(batch_shape(-1, shapes[0])), " and ", shape_str(batch_shape(-1, shapes[i])));
    for (size_t d = 0; d < out.size(); ++d)
      if (static_cast<int64_t>(d) != a && out[d] < 0) out[d] = shapes[i][d];
    int64_t& len = out[static_cast<size_t>(a)];
    const int64_t add = shapes[i][static_cast<size_t>(a)];
    len = len < 0 || add < 0 ? -1 : len + add;
  }
  return out;
}

void Concatenate::geometry(const LayerCall& c, int64_t batch, int64_t& outer, std::vector<int64_t>& widths) const {
  const std::vector<Shape>& in = c.input_shapes;
  const size_t a = static_cast<size_t>(per_sample_axis(in[0].size()));
  outer = batch;
  for (size_t d = 0; d < a; ++d) outer *= in[0][d];
  int64_t inner = 1;
  for (size_t d = a + 1; d < in[0].size(); ++d) inner *= in[0][d];
  widths.clear();
  for (const Shape& s : in) widths.push_back(s[a] * inner);
}

void Concatenate::forward_list(LayerCall& c, bool) {
  const std::vector<Tensor>& xs = c.inputs;
  const int64_t B = xs[0].dim(0);
  c.y.resize(batch_shape(B, c.output_shapes[0]));
  int64_t outer;
  std::vector<int64_t> widths;
  geometry(c, B, outer, widths);
  int64_t total = 0;
  for (int64_t w : widths) total += w;
  for (int64_t r = 0; r < outer; ++r) {
    float* y = c.y.data() + r * total;
    for (size_t k = 0; k < xs.size(); ++k) {
      std::memcpy(y, xs[k].data() + r * widths[k], sizeof(float) * static_cast<size_t>(widths[k]));
      y += widths[k];
    }
  }
  c.outputs.assign(1, &c.y);
}

void Concatenate::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  if (!need_dx) return;
  const Tensor& dy = *dys[0];
  std::vector<Tensor>& dx = as<Call>(c).dx;
  dx.resize(c.input_shapes.size());
  const int64_t B = dy.dim(0);
  int64_t outer;
  std::vector<int64_t> widths;
  geometry(c, B, outer, widths);
  int64_t total = 0;
  for (int64_t w : widths) total += w;
  for (size_t k = 0; k < dx.size(); ++k) {
    dx[k].resize(batch_shape(B, c.input_shapes[k]));
    c.dxs[k] = &dx[k];
  }
  for (int64_t r = 0; r < outer; ++r) {
    const float* g = dy.data() + r * total;
    for (size_t k = 0; k < dx.size(); ++k) {
      std::memcpy(dx[k].data() + r * widths[k], g, sizeof(float) * static_cast<size_t>(widths[k]));
      g += widths[k];
    }
  }
}

}  // namespace nncore
