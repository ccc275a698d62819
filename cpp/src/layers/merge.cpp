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

// ---- Dot ---------------------------------------------------------------------------------------------------------
namespace nncore {

namespace {
constexpr float kInvEpsilon = 1e7f;  // 1 / Keras's backend epsilon (1e-7): the largest inverse norm normalize uses
}  // namespace

Dot::Dot(std::array<int64_t, 2> axes, bool normalize, const std::string& name)
    : MergeLayer(layer_name(name, "Dot")), axes_(axes), single_(false), normalize_(normalize) {
  NNC_CHECK(axes[0] != 0 && axes[1] != 0, "Dot '", name_, "': axes must not include 0 (the batch axis), got (",
            axes[0], ", ", axes[1], ")");
}

Dot::Dot(int64_t axes, bool normalize, const std::string& name) : MergeLayer(layer_name(name, "Dot")) {
  NNC_CHECK(axes != 0, "Dot '", name_, "': axes must not be 0 (the batch axis), got ", axes);
  axes_ = {axes, axes};
  single_ = true;
  normalize_ = normalize;
}

// Input i as a matmul operand, per sample: input 0 as A (M x K), input 1 as B (K x N). An axis that is last (input 0)
// or first (input 1) is the operand as it lies; the other end is the transposed operand (gemm's trans flag); an axis
// in the middle (rank 3 and up) is moved there by a copy (perm: the copy's axis j is the input's axis perm[j]).
struct Dot::Operand {
  int64_t axis = 0;                    // per-sample, 0-based
  int64_t K = 0, rest = 0;             // the summed length, and the product of the other lengths (M or N)
  int64_t outer = 0, inner = 0;        // the input viewed as (outer, K, inner) around the axis, batch included
  bool trans = false, moved = false;
  std::vector<int64_t> perm, inverse;  // moved: the permutation of the copy and its inverse
  Shape moved_shape;
};

Dot::Operand Dot::operand(size_t i, const Shape& s, int64_t batch) const {
  const int64_t r = static_cast<int64_t>(s.size());
  const int64_t a = axes_[i];
  const int64_t d = a < 0 ? a + r + 1 : a;  // Keras's axis counts the batch axis
  NNC_CHECK(r >= 1 && d >= 1 && d <= r, who(), ": axis ", a, " is out of range for input ", i, " of shape ",
            shape_str(batch_shape(-1, s)), " (expected one of 1..", r, " or -", r, "..-1)");
  Operand o;
  o.axis = d - 1;
  o.K = s[static_cast<size_t>(o.axis)];
  o.rest = 1;
  o.outer = batch;
  o.inner = 1;
  for (int64_t j = 0; j < r; ++j) {
    if (j == o.axis) continue;
    o.rest *= s[static_cast<size_t>(j)];
    (j < o.axis ? o.outer : o.inner) *= s[static_cast<size_t>(j)];
  }
  const bool natural = i == 0 ? o.axis == r - 1 : o.axis == 0;   // lies as (M, K) / (K, N)
  const bool flipped = i == 0 ? o.axis == 0 : o.axis == r - 1;   // lies as (K, M) / (N, K)
  if (natural) return o;
  if (flipped) {
    o.trans = true;
    return o;
  }
  o.moved = true;
  if (i == 1) o.perm.push_back(o.axis);
  for (int64_t j = 0; j < r; ++j)
    if (j != o.axis) o.perm.push_back(j);
  if (i == 0) o.perm.push_back(o.axis);
  o.inverse.resize(o.perm.size());
  for (size_t j = 0; j < o.perm.size(); ++j) {
    o.inverse[static_cast<size_t>(o.perm[j])] = static_cast<int64_t>(j);
    o.moved_shape.push_back(s[static_cast<size_t>(o.perm[j])]);
  }
  return o;
}

Shape Dot::merge_shape(const std::vector<Shape>& shapes) const {
  NNC_CHECK(shapes.size() == 2, who(), ": expected exactly 2 inputs, got ", shapes.size());
  const Operand a = operand(0, shapes[0], 1), b = operand(1, shapes[1], 1);
  NNC_CHECK(a.K < 0 || b.K < 0 || a.K == b.K, who(), ": incompatible input shapes: axis values ", a.K, " (at axis ",
            a.axis + 1, ") != ", b.K, " (at axis ", b.axis + 1, "); full input shapes ",
            shape_str(batch_shape(-1, shapes[0])), ", ", shape_str(batch_shape(-1, shapes[1])));
  Shape out;
  for (size_t k = 0; k < 2; ++k)
    for (size_t j = 0; j < shapes[k].size(); ++j)
      if (static_cast<int64_t>(j) != (k == 0 ? a.axis : b.axis)) out.push_back(shapes[k][j]);
  if (out.empty()) out.push_back(1);  // two vectors: (batch, 1), as Keras
  return out;
}

// y[b] (M x N) = op(A[b]) op(B[b]) on the (normalized, moved) inputs.
void Dot::forward_list(LayerCall& c, bool) {
  Call& dc = as<Call>(c);
  const int64_t B = c.inputs[0].dim(0);
  const float* ops[2];
  Operand o[2] = {operand(0, c.input_shapes[0], B), operand(1, c.input_shapes[1], B)};
  for (size_t i = 0; i < 2; ++i) {
    const Tensor& x = c.inputs[i];
    ops[i] = x.data();
    if (normalize_) {
      dc.n[i].resize(x.shape());
      dc.inv[i].resize({o[i].outer * o[i].inner});
      kernels::l2_normalize_forward(dc.n[i].data(), dc.inv[i].data(), x.data(), o[i].outer, o[i].K, o[i].inner,
                                    kInvEpsilon);
      ops[i] = dc.n[i].data();
    }
    if (o[i].moved) {
      dc.perm[i].resize(batch_shape(B, o[i].moved_shape));
      kernels::permute_samples(dc.perm[i].data(), ops[i], B, c.input_shapes[i], o[i].perm);
      ops[i] = dc.perm[i].data();
    }
  }
  c.y.resize(batch_shape(B, c.output_shapes[0]));
  kernels::batch_matmul(c.y.data(), ops[0], ops[1], B, o[0].rest, o[1].rest, o[0].K, o[0].trans, o[1].trans);
  c.outputs.assign(1, &c.y);
}

// Backward of C = op(A) op(B), on each operand's storage: dA = dy op(B)^T (stored transposed: op(B) dy^T) and
// dB = op(A)^T dy (stored transposed: dy^T op(A)); then the move and the normalization are undone.
void Dot::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  if (!need_dx) return;
  Call& dc = as<Call>(c);
  const Tensor& dy = *dys[0];
  const int64_t B = dy.dim(0);
  Operand o[2] = {operand(0, c.input_shapes[0], B), operand(1, c.input_shapes[1], B)};
  const int64_t M = o[0].rest, N = o[1].rest, K = o[0].K;
  const bool ta = o[0].trans, tb = o[1].trans;
  const float* ops[2];
  float* grads[2];
  dc.dx.resize(2);
  for (size_t i = 0; i < 2; ++i) {
    ops[i] = o[i].moved ? dc.perm[i].data() : normalize_ ? dc.n[i].data() : c.inputs[i].data();
    dc.dx[i].resize(c.inputs[i].shape());
    if (!o[i].moved && !normalize_) {
      grads[i] = dc.dx[i].data();  // the operand is the input: its gradient is the input's
    } else {
      dc.dop[i].resize(c.inputs[i].shape());
      grads[i] = dc.dop[i].data();
    }
  }
  if (!ta)
    kernels::batch_matmul(grads[0], dy.data(), ops[1], B, M, K, N, false, !tb);
  else
    kernels::batch_matmul(grads[0], ops[1], dy.data(), B, K, M, N, tb, true);
  if (!tb)
    kernels::batch_matmul(grads[1], ops[0], dy.data(), B, K, N, M, !ta, false);
  else
    kernels::batch_matmul(grads[1], dy.data(), ops[0], B, N, K, M, true, ta);
  for (size_t i = 0; i < 2; ++i) {
    const float* g = grads[i];
    if (o[i].moved) {
      // The moved copy is no longer needed: it takes the gradient back in the input's order when normalize
      // still has to run on it.
      float* back = normalize_ ? dc.perm[i].data() : dc.dx[i].data();
      kernels::permute_samples(back, g, B, o[i].moved_shape, o[i].inverse);
      g = back;
    }
    if (normalize_)
      kernels::l2_normalize_backward(dc.dx[i].data(), g, dc.n[i].data(), dc.inv[i].data(), o[i].outer, o[i].K,
                                     o[i].inner, kInvEpsilon);
    c.dxs[i] = &dc.dx[i];
  }
}

}  // namespace nncore
