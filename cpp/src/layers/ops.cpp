#include "nncore/layers/ops.hpp"

#include <algorithm>
#include <map>

#include "kernels/kernels.hpp"
#include "kernels/nd.hpp"
#include "layers/common.hpp"
#include "nncore/check.hpp"
#include "nncore/layers/traced.hpp"

namespace nncore {

using detail::layer_name;

namespace {

const std::map<std::string, kernels::BinaryOp>& binary_ops() {
  static const std::map<std::string, kernels::BinaryOp> m = {
      {"add", kernels::BinaryOp::add},         {"subtract", kernels::BinaryOp::subtract},
      {"multiply", kernels::BinaryOp::multiply}, {"divide", kernels::BinaryOp::divide},
      {"maximum", kernels::BinaryOp::maximum}, {"minimum", kernels::BinaryOp::minimum},
      {"power", kernels::BinaryOp::power},     {"equal", kernels::BinaryOp::equal},
      {"not_equal", kernels::BinaryOp::not_equal}, {"greater", kernels::BinaryOp::greater},
      {"greater_equal", kernels::BinaryOp::greater_equal}, {"less", kernels::BinaryOp::less},
      {"less_equal", kernels::BinaryOp::less_equal}};
  return m;
}

const std::map<std::string, int>& unary_ops() {
  using U = kernels::UnaryOp;
  static const std::map<std::string, int> m = {
      {"negative", static_cast<int>(U::negative)}, {"exp", static_cast<int>(U::exp)},
      {"log", static_cast<int>(U::log)},           {"sqrt", static_cast<int>(U::sqrt)},
      {"square", static_cast<int>(U::square)},     {"abs", static_cast<int>(U::abs)},
      {"tanh", static_cast<int>(U::tanh)},         {"sigmoid", static_cast<int>(U::sigmoid)},
      {"relu", static_cast<int>(U::relu)},         {"gelu", static_cast<int>(U::gelu)},
      {"erf", static_cast<int>(U::erf)},           {"sin", static_cast<int>(U::sin)},
      {"cos", static_cast<int>(U::cos)},           {"softplus", static_cast<int>(U::softplus)},
      {"reciprocal", static_cast<int>(U::reciprocal)}, {"sign", static_cast<int>(U::sign)},
      {"clip", static_cast<int>(U::clip)},         {"floor", static_cast<int>(U::floor)},
      {"ceil", static_cast<int>(U::ceil)},         {"round", static_cast<int>(U::round)},
      {"trunc", static_cast<int>(U::trunc)},       {"logical_not", static_cast<int>(U::logical_not)},
      {"softmax", -1},
      {"log_softmax", -2}};
  return m;
}

template <typename M>
std::string names_of(const M& m) {
  std::string s;
  for (const auto& kv : m) s += (s.empty() ? "" : ", ") + kv.first;
  return s;
}

Shape full(int64_t batch, const Shape& per_sample) {
  Shape s{batch};
  s.insert(s.end(), per_sample.begin(), per_sample.end());
  return s;
}

}  // namespace

// ---- OpLayer ------------------------------------------------------------------------------------------------------
OpLayer::OpLayer(const std::string& name, const std::string& cls, std::string op, std::vector<OpOperand> operands,
                 std::vector<WeightSpec> weights)
    : Layer(layer_name(name, op)),
      op_(std::move(op)),
      operands_(std::move(operands)),
      weight_specs_(std::move(weights)),
      shared_(weight_specs_.size()) {
  int64_t next_input = 0;
  for (const OpOperand& k : operands_) {
    if (k.kind == OpOperand::Kind::input) {
      NNC_CHECK(k.index == next_input, cls, " '", name_, "': input operands must be numbered 0, 1, ... in order");
      ++next_input;
    }
    if (k.kind == OpOperand::Kind::weight)
      NNC_CHECK(k.index >= 0 && k.index < static_cast<int64_t>(weight_specs_.size()), cls, " '", name_,
                "': operand weight ", k.index, " out of range (", weight_specs_.size(), " weights)");
  }
  for (const WeightSpec& w : weight_specs_)
    for (int64_t d : w.shape)
      NNC_CHECK(d >= 1, cls, " '", name_, "': weight '", w.name, "' must have positive dimensions, got ",
                shape_str(w.shape));
}

size_t OpLayer::num_tensor_inputs() const {
  size_t n = 0;
  for (const OpOperand& k : operands_) n += k.kind == OpOperand::Kind::input ? 1 : 0;
  return n;
}

void OpLayer::share_weight(size_t i, const Param& p) {
  NNC_CHECK(!built_, who(), ": share_weight before the op is built");
  NNC_CHECK(i < weight_specs_.size(), who(), ": weight ", i, " out of range");
  NNC_CHECK(p.value.shape() == weight_specs_[i].shape, who(), ": weight '", weight_specs_[i].name, "' has shape ",
            shape_str(weight_specs_[i].shape), ", the shared one ", p.value.shape_str());
  shared_[i] = p;
}

void OpLayer::make_weights() {
  for (size_t i = 0; i < weight_specs_.size(); ++i) {
    const WeightSpec& w = weight_specs_[i];
    if (shared_[i].value.empty() && !w.variable.empty()) {  // loading a custom layer: its variable by name
      const Param* v = detail::VariableScope::find(w.variable);
      NNC_CHECK(v != nullptr, who(), ": weight '", w.name, "' reads variable '", w.variable,
                "' of its custom layer, which has no such variable");
      NNC_CHECK(v->value.shape() == w.shape, who(), ": variable '", w.variable, "' has shape ", v->value.shape_str(),
                ", the op expects ", shape_str(w.shape));
      shared_[i] = *v;
    }
    if (!shared_[i].value.empty()) {
      Param q = shared_[i];  // shares the owner's value and gradient storage
      q.name = w.name;
      params_.push_back(q);
      continue;
    }
    add_weight(w.name, w.shape, "zeros").trainable = w.trainable;
  }
}

Shape OpLayer::operand_shape(const LayerCall& c, const OpOperand& k, int64_t) const {
  switch (k.kind) {
    case OpOperand::Kind::input: return c.inputs[static_cast<size_t>(k.index)].shape();
    case OpOperand::Kind::weight: return params_[static_cast<size_t>(k.index)].value.shape();
    case OpOperand::Kind::scalar: return {};
  }
  return {};
}

const float* OpLayer::operand_data(const LayerCall& c, const OpOperand& k) const {
  switch (k.kind) {
    case OpOperand::Kind::input: return c.inputs[static_cast<size_t>(k.index)].data();
    case OpOperand::Kind::weight: return params_[static_cast<size_t>(k.index)].value.data();
    case OpOperand::Kind::scalar: return &k.value;
  }
  return nullptr;
}

Json OpLayer::config() const {
  Json c = Layer::config();
  c["op"] = op_;
  Json ops = Json::array();
  for (const OpOperand& k : operands_) {
    Json o = Json::object();
    if (k.kind == OpOperand::Kind::input) o["input"] = k.index;
    else if (k.kind == OpOperand::Kind::weight) o["weight"] = k.index;
    else o["scalar"] = k.value;
    ops.push_back(o);
  }
  c["operands"] = ops;
  Json ws = Json::array();
  for (const WeightSpec& w : weight_specs_) {
    Json o = Json::object();
    o["name"] = w.name;
    o["shape"] = w.shape;
    o["trainable"] = w.trainable;
    if (!w.variable.empty()) o["variable"] = w.variable;
    ws.push_back(o);
  }
  c["weights"] = ws;
  return c;
}

std::vector<OpOperand> OpLayer::operands_from_config(const Json& c) {
  std::vector<OpOperand> out;
  for (const Json& o : c.at("operands", "op config").as_array("op operands")) {
    if (o.contains("input")) out.push_back(OpOperand::input(o.at("input", "operand").as_int("operand input")));
    else if (o.contains("weight")) out.push_back(OpOperand::weight(o.at("weight", "operand").as_int("operand weight")));
    else out.push_back(OpOperand::scalar(static_cast<float>(o.at("scalar", "operand").as_number("operand scalar"))));
  }
  return out;
}

std::vector<OpLayer::WeightSpec> OpLayer::weights_from_config(const Json& c) {
  std::vector<WeightSpec> out;
  const Json* ws = c.find("weights");
  if (ws == nullptr) return out;
  for (const Json& w : ws->as_array("op weights"))
    out.push_back({w.at("name", "op weight").as_string("op weight name"), w.at("shape", "op weight").as_shape("op weight shape"),
                   w.get("trainable", false), w.get("variable", "")});
  return out;
}

// ---- BinaryOpLayer --------------------------------------------------------------------------------------------------
struct BinaryOpLayer::Call : LayerCall {
  kernels::NdGeom geom;
  int64_t batch = -1;              // the batch size and input shapes the geometry is for
  std::vector<Shape> geom_shapes;
  Shape out;
  std::vector<Tensor> dx;
};

BinaryOpLayer::BinaryOpLayer(const std::string& op, OpOperand a, OpOperand b, std::vector<WeightSpec> weights,
                             const std::string& name)
    : OpLayer(name, "BinaryOp", op, {a, b}, std::move(weights)) {
  const auto it = binary_ops().find(op);
  NNC_CHECK(it != binary_ops().end(), "BinaryOp '", name_, "': unknown op '", op, "'; known: ", names_of(binary_ops()));
  kind_ = static_cast<int>(it->second);
  NNC_CHECK(num_tensor_inputs() >= 1, "BinaryOp '", name_, "': needs at least one graph tensor operand");
}

std::unique_ptr<LayerCall> BinaryOpLayer::new_call() const { return std::make_unique<Call>(); }

namespace {
// numpy's broadcasting of two shapes, where -1 is a length known only at run time: it broadcasts with 1 and takes
// the other operand's length otherwise (checked when the batch arrives).
bool broadcast_shape(const Shape& a, const Shape& b, Shape& out) {
  if (!has_unknown(a) && !has_unknown(b)) {
    kernels::NdGeom g;
    return kernels::broadcast_geometry(a, b, g, out);
  }
  const size_t r = std::max(a.size(), b.size());
  out.assign(r, 1);
  for (size_t i = 0; i < r; ++i) {
    const int64_t x = i + a.size() >= r ? a[i + a.size() - r] : 1;
    const int64_t y = i + b.size() >= r ? b[i + b.size() - r] : 1;
    if (x >= 0 && y >= 0 && x != y && x != 1 && y != 1) return false;
    out[i] = x == 1 ? y : y == 1 ? x : x >= 0 ? x : y;
  }
  return true;
}
}  // namespace

std::vector<Shape> BinaryOpLayer::shapes_for(const std::vector<Shape>& in) const {
  NNC_CHECK(in.size() == num_tensor_inputs(), "op '", op_, "' (", name_, "): expected ", num_tensor_inputs(),
            " tensor input(s), got ", in.size());
  // Shapes with the batch axis as 1: the graph tensors must agree on their rank so that their batch axes line up.
  std::vector<Shape> shapes;
  size_t rank = 0;
  for (const OpOperand& k : operands_)
    if (k.kind == OpOperand::Kind::input) rank = std::max(rank, in[static_cast<size_t>(k.index)].size() + 1);
  auto shown = [&](const Shape& s, bool tensor) { return tensor ? shape_str(full(-1, s)) : shape_str(s); };
  for (const OpOperand& k : operands_) {
    if (k.kind == OpOperand::Kind::input) {
      const Shape& s = in[static_cast<size_t>(k.index)];
      NNC_CHECK(s.size() + 1 == rank, "op '", op_, "': cannot broadcast tensors of different ranks ",
                shown(in[0], true), " and ", shown(s, true), ": their batch axes would not line up");
      shapes.push_back(full(1, s));
    } else if (k.kind == OpOperand::Kind::weight) {
      const Shape& w = weight_specs_[static_cast<size_t>(k.index)].shape;
      NNC_CHECK(w.size() < rank || (w.size() == rank && w[0] == 1), "op '", op_, "': a constant of shape ",
                shape_str(w), " would broadcast over the batch axis of a tensor of shape ",
                shown(Shape(shapes.empty() ? in[0] : Shape(shapes[0].begin() + 1, shapes[0].end())), true),
                "; give it at most ", rank - 1, " axes");
      shapes.push_back(w);
    } else {
      shapes.push_back({});
    }
  }
  kernels::NdGeom g;
  Shape out;
  NNC_CHECK(broadcast_shape(shapes[0], shapes[1], out), "op '", op_,
            "': incompatible shapes for broadcasting: ", shown(Shape(shapes[0].begin() + (shapes[0].empty() ? 0 : 1),
                                                                     shapes[0].end()), operands_[0].kind == OpOperand::Kind::input),
            " and ", shown(Shape(shapes[1].begin() + (operands_[1].kind == OpOperand::Kind::input ? 1 : 0), shapes[1].end()),
                           operands_[1].kind == OpOperand::Kind::input));
  return {Shape(out.begin() + 1, out.end())};
}

std::vector<Shape> BinaryOpLayer::build_shapes(const std::vector<Shape>& in) {
  std::vector<Shape> out = shapes_for(in);
  make_weights();
  return out;
}

std::vector<Shape> BinaryOpLayer::call_shapes(const std::vector<Shape>& in) const { return shapes_for(in); }

void BinaryOpLayer::forward_list(LayerCall& c, bool) {
  Call& bc = as<Call>(c);
  const int64_t B = c.batch();
  if (bc.batch != B || bc.geom_shapes != c.input_shapes) {
    const bool ok = kernels::broadcast_geometry(operand_shape(c, operands_[0], B), operand_shape(c, operands_[1], B),
                                                bc.geom, bc.out);
    NNC_CHECK(ok, "op '", op_, "': incompatible shapes ", c.inputs[0].shape_str(),
              c.inputs.size() > 1 ? " and " + c.inputs[1].shape_str() : std::string());
    bc.batch = B;
    bc.geom_shapes = c.input_shapes;
  }
  c.y.resize(bc.out);
  kernels::binary_forward(static_cast<kernels::BinaryOp>(kind_), c.y.data(), operand_data(c, operands_[0]),
                          operand_data(c, operands_[1]), bc.geom);
  c.outputs.assign(1, &c.y);
}

void BinaryOpLayer::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  Call& bc = as<Call>(c);
  bc.dx.resize(c.inputs.size());
  float* grads[2] = {nullptr, nullptr};
  for (int j = 0; j < 2; ++j) {
    const OpOperand& k = operands_[static_cast<size_t>(j)];
    if (k.kind == OpOperand::Kind::input && need_dx) {
      Tensor& d = bc.dx[static_cast<size_t>(k.index)];
      d.resize(c.inputs[static_cast<size_t>(k.index)].shape());
      d.zero();
      grads[j] = d.data();
      c.dxs[static_cast<size_t>(k.index)] = &d;
    } else if (k.kind == OpOperand::Kind::weight && trainable_) {
      Param& p = params_[static_cast<size_t>(k.index)];
      if (p.trainable) grads[j] = p.grad_accumulator();
    }
  }
  if (grads[0] == nullptr && grads[1] == nullptr) return;
  kernels::binary_backward(static_cast<kernels::BinaryOp>(kind_), grads[0], grads[1], dys[0]->data(),
                           operand_data(c, operands_[0]), operand_data(c, operands_[1]), c.y.data(), bc.geom);
}

LayerPtr BinaryOpLayer::from_config(const Json& c) {
  const std::vector<OpOperand> ops = operands_from_config(c);
  NNC_CHECK(ops.size() == 2, "BinaryOp config: expected 2 operands, got ", ops.size());
  auto l = std::make_shared<BinaryOpLayer>(c.at("op", "BinaryOp config").as_string("BinaryOp op"), ops[0], ops[1],
                                           weights_from_config(c), c.get("name", ""));
  l->apply_base_config(c);
  return l;
}

// ---- UnaryOpLayer ---------------------------------------------------------------------------------------------------
UnaryOpLayer::UnaryOpLayer(const std::string& op, float lo, float hi, const std::string& name)
    : OpLayer(name, "UnaryOp", op, {OpOperand::input(0)}, {}), lo_(lo), hi_(hi) {
  const auto it = unary_ops().find(op);
  NNC_CHECK(it != unary_ops().end(), "UnaryOp '", name_, "': unknown op '", op, "'; known: ", names_of(unary_ops()));
  kind_ = it->second;
  NNC_CHECK(op != "clip" || lo <= hi, "op 'clip': x_min must be <= x_max, got ", lo, " and ", hi);
}

const Tensor& UnaryOpLayer::forward_one(LayerCall& c, const Tensor& x, bool) {
  c.y.resize(x.shape());
  const int64_t cols = x.ndim() < 2 ? 1 : x.dim(-1), rows = cols > 0 ? x.size() / cols : 0;
  if (kind_ == -1) kernels::act_forward(kernels::Act::softmax, c.y.data(), x.data(), rows, cols, 0.f);
  else if (kind_ == -2) kernels::log_softmax_forward(c.y.data(), x.data(), rows, cols);
  else kernels::unary_forward(static_cast<kernels::UnaryOp>(kind_), c.y.data(), x.data(), x.size(), lo_, hi_);
  return c.y;
}

const Tensor& UnaryOpLayer::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  const Tensor& x = c.inputs[0];
  c.dx.resize(x.shape());
  const int64_t cols = x.ndim() < 2 ? 1 : x.dim(-1), rows = cols > 0 ? x.size() / cols : 0;
  if (kind_ == -1)
    kernels::act_backward(kernels::Act::softmax, c.dx.data(), dy.data(), x.data(), c.y.data(), rows, cols, 0.f);
  else if (kind_ == -2) kernels::log_softmax_backward(c.dx.data(), dy.data(), c.y.data(), rows, cols);
  else
    kernels::unary_backward(static_cast<kernels::UnaryOp>(kind_), c.dx.data(), dy.data(), x.data(), c.y.data(),
                            x.size(), lo_, hi_);
  return c.dx;
}

Json UnaryOpLayer::config() const {
  Json c = OpLayer::config();
  if (op_ == "clip") {
    c["x_min"] = lo_;
    c["x_max"] = hi_;
  }
  return c;
}

LayerPtr UnaryOpLayer::from_config(const Json& c) {
  auto l = std::make_shared<UnaryOpLayer>(c.at("op", "UnaryOp config").as_string("UnaryOp op"), c.get("x_min", 0.f),
                                          c.get("x_max", 0.f), c.get("name", ""));
  l->apply_base_config(c);
  return l;
}

// ---- MatMulOpLayer --------------------------------------------------------------------------------------------------
MatMulOpLayer::MatMulOpLayer(OpOperand a, OpOperand b, std::vector<WeightSpec> weights, const std::string& name)
    : OpLayer(name, "MatMulOp", "matmul", {a, b}, std::move(weights)) {
  NNC_CHECK(a.kind == OpOperand::Kind::input, "op 'matmul': the first operand must be a graph tensor (batch first); "
            "for w @ x write ops.matmul(x, ops.transpose(w)) instead");
  NNC_CHECK(b.kind != OpOperand::Kind::scalar, "op 'matmul': operands must be tensors, not numbers");
  if (b.kind == OpOperand::Kind::weight)
    NNC_CHECK(weight_specs_[static_cast<size_t>(b.index)].shape.size() == 2, "op 'matmul': a constant right operand "
              "must be a 2-D matrix (K, N), got ", shape_str(weight_specs_[static_cast<size_t>(b.index)].shape));
}

std::vector<Shape> MatMulOpLayer::shapes_for(const std::vector<Shape>& in) const {
  NNC_CHECK(in.size() == num_tensor_inputs(), "op 'matmul' (", name_, "): expected ", num_tensor_inputs(),
            " tensor input(s), got ", in.size());
  const Shape& a = in[0];
  NNC_CHECK(!a.empty(), "op 'matmul': the first operand must have at least 2 axes (batch, ..., K), got (None,)");
  if (operands_[1].kind == OpOperand::Kind::weight) {
    const Shape& w = weight_specs_[static_cast<size_t>(operands_[1].index)].shape;
    NNC_CHECK(a.back() == w[0] || a.back() < 0, "op 'matmul': incompatible shapes ", shape_str(full(-1, a)), " and ", shape_str(w),
              ": ", a.back(), " != ", w[0]);
    Shape out = a;
    out.back() = w[1];
    return {out};
  }
  const Shape& b = in[1];
  auto same = [](int64_t x, int64_t y) { return x == y || x < 0 || y < 0; };
  bool ok = a.size() >= 2 && b.size() == a.size() && same(a.back(), b[b.size() - 2]);
  for (size_t i = 0; ok && i + 2 < a.size(); ++i) ok = same(a[i], b[i]);
  NNC_CHECK(ok, "op 'matmul': incompatible shapes ", shape_str(full(-1, a)), " and ", shape_str(full(-1, b)),
            " (two graph tensors multiply as (batch, ..., M, K) @ (batch, ..., K, N), with equal leading axes)");
  Shape out = a;
  out.back() = b.back();
  return {out};
}

std::vector<Shape> MatMulOpLayer::build_shapes(const std::vector<Shape>& in) {
  std::vector<Shape> out = shapes_for(in);
  make_weights();
  return out;
}

std::vector<Shape> MatMulOpLayer::call_shapes(const std::vector<Shape>& in) const { return shapes_for(in); }

void MatMulOpLayer::forward_list(LayerCall& c, bool) {
  const Tensor& a = c.inputs[0];
  const int64_t B = a.dim(0);
  c.y.resize(full(B, c.output_shapes[0]));
  const int64_t K = a.dim(-1), N = c.y.dim(-1);
  if (operands_[1].kind == OpOperand::Kind::weight) {
    const int64_t R = a.size() / K;
    kernels::gemm(false, false, R, N, K, a.data(), K, operand_data(c, operands_[1]), N, 0.f, c.y.data(), N);
  } else {
    const Tensor& b = c.inputs[1];
    const int64_t M = a.dim(-2), P = a.size() / (M * K);
    for (int64_t p = 0; p < P; ++p)
      kernels::gemm(false, false, M, N, K, a.data() + p * M * K, K, b.data() + p * K * N, N, 0.f,
                    c.y.data() + p * M * N, N);
  }
  c.outputs.assign(1, &c.y);
}

void MatMulOpLayer::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  const Tensor& a = c.inputs[0];
  const Tensor& dy = *dys[0];
  const int64_t K = a.dim(-1), N = dy.dim(-1);
  if (operands_[1].kind == OpOperand::Kind::weight) {
    const int64_t R = a.size() / K;
    const float* w = operand_data(c, operands_[1]);
    Param& p = params_[static_cast<size_t>(operands_[1].index)];
    if (trainable_ && p.trainable) {
      const float beta = p.grad_beta();
      kernels::gemm(true, false, K, N, R, a.data(), K, dy.data(), N, beta, p.grad.data(), N);
    }
    if (!need_dx) return;
    c.dx.resize(a.shape());
    kernels::gemm(false, true, R, K, N, dy.data(), N, w, N, 0.f, c.dx.data(), K);
    c.dxs[0] = &c.dx;
    return;
  }
  if (!need_dx) return;
  const Tensor& b = c.inputs[1];
  Tensor& db = as<Call>(c).db;
  const int64_t M = a.dim(-2), P = a.size() / (M * K);
  c.dx.resize(a.shape());
  db.resize(b.shape());
  for (int64_t p = 0; p < P; ++p) {
    const float* g = dy.data() + p * M * N;
    kernels::gemm(false, true, M, K, N, g, N, b.data() + p * K * N, N, 0.f, c.dx.data() + p * M * K, K);
    kernels::gemm(true, false, K, N, M, a.data() + p * M * K, K, g, N, 0.f, db.data() + p * K * N, N);
  }
  c.dxs[0] = &c.dx;
  c.dxs[1] = &db;
}

LayerPtr MatMulOpLayer::from_config(const Json& c) {
  const std::vector<OpOperand> ops = operands_from_config(c);
  NNC_CHECK(ops.size() == 2, "MatMulOp config: expected 2 operands, got ", ops.size());
  auto l = std::make_shared<MatMulOpLayer>(ops[0], ops[1], weights_from_config(c), c.get("name", ""));
  l->apply_base_config(c);
  return l;
}

// ---- ReduceOpLayer --------------------------------------------------------------------------------------------------
ReduceOpLayer::ReduceOpLayer(const std::string& op, std::vector<int64_t> axes, bool keepdims, const std::string& name)
    : OpLayer(name, "ReduceOp", op, {OpOperand::input(0)}, {}), axes_(std::move(axes)), keepdims_(keepdims) {
  static const std::map<std::string, kernels::ReduceOp> ops = {{"sum", kernels::ReduceOp::sum},
                                                              {"mean", kernels::ReduceOp::mean},
                                                              {"max", kernels::ReduceOp::max},
                                                              {"min", kernels::ReduceOp::min},
                                                              {"argmax", kernels::ReduceOp::argmax},
                                                              {"argmin", kernels::ReduceOp::argmin}};
  const auto it = ops.find(op);
  NNC_CHECK(it != ops.end(), "ReduceOp '", name_, "': unknown op '", op, "'; known: ", names_of(ops));
  kind_ = static_cast<int>(it->second);
  NNC_CHECK(kind_ < static_cast<int>(kernels::ReduceOp::argmax) || axes_.size() == 1, "op '", op_,
            "': takes one axis, got ", axes_.size());
}

Shape ReduceOpLayer::do_build(const Shape& in) {
  const int64_t rank = static_cast<int64_t>(in.size()) + 1;
  reduce_.assign(static_cast<size_t>(rank), 0);
  std::vector<int64_t> axes = axes_;
  if (axes.empty())  // all axes but the batch
    for (int64_t i = 1; i < rank; ++i) axes.push_back(i);
  for (int64_t a : axes) {
    const int64_t r = a < 0 ? a + rank : a;
    NNC_CHECK(r >= 0 && r < rank, "op '", op_, "': axis ", a, " is out of range for a tensor of shape ",
              shape_str(full(-1, in)));
    NNC_CHECK(r != 0, "op '", op_, "': axis 0 is the batch axis, which a model's op cannot reduce (each sample is "
              "computed on its own); reduce the per-sample axes (1, 2, ...)");
    NNC_CHECK(!reduce_[static_cast<size_t>(r)], "op '", op_, "': axis ", a, " is given twice");
    reduce_[static_cast<size_t>(r)] = 1;
  }
  return infer_shape(in);
}

Shape ReduceOpLayer::infer_shape(const Shape& in) const {
  const int64_t rank = static_cast<int64_t>(in.size()) + 1;
  Shape out;
  for (int64_t i = 1; i < rank; ++i) {
    if (!reduce_[static_cast<size_t>(i)]) out.push_back(in[static_cast<size_t>(i - 1)]);
    else if (keepdims_) out.push_back(1);
  }
  return out;
}

const Tensor& ReduceOpLayer::forward_one(LayerCall& c, const Tensor& x, bool) {
  Call& rc = as<Call>(c);
  rc.dims.assign(x.shape().begin(), x.shape().end());
  c.y.resize(full(x.dim(0), c.output_shapes[0]));
  if (kind_ >= static_cast<int>(kernels::ReduceOp::max)) rc.arg.resize(static_cast<size_t>(c.y.size()));
  kernels::reduce_forward(static_cast<kernels::ReduceOp>(kind_), c.y.data(), rc.arg.data(), x.data(), rc.dims,
                          reduce_);
  return c.y;
}

const Tensor& ReduceOpLayer::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  Call& rc = as<Call>(c);
  c.dx.resize(c.inputs[0].shape());
  kernels::reduce_backward(static_cast<kernels::ReduceOp>(kind_), c.dx.data(), dy.data(), rc.arg.data(), rc.dims,
                           reduce_);
  return c.dx;
}

Json ReduceOpLayer::config() const {
  Json c = OpLayer::config();
  c["axis"] = Shape(axes_);
  c["keepdims"] = keepdims_;
  return c;
}

LayerPtr ReduceOpLayer::from_config(const Json& c) {
  const Json* axis = c.find("axis");
  auto l = std::make_shared<ReduceOpLayer>(c.at("op", "ReduceOp config").as_string("ReduceOp op"),
                                           axis && !axis->is_null() ? axis->as_shape("ReduceOp axis") : Shape{},
                                           c.get("keepdims", false), c.get("name", ""));
  l->apply_base_config(c);
  return l;
}

// ---- TransposeOpLayer -----------------------------------------------------------------------------------------------
TransposeOpLayer::TransposeOpLayer(std::vector<int64_t> perm, const std::string& name)
    : OpLayer(name, "TransposeOp", "transpose", {OpOperand::input(0)}, {}), perm_(std::move(perm)) {}

Shape TransposeOpLayer::do_build(const Shape& in) {
  const size_t rank = in.size() + 1;
  if (perm_.empty())  // Keras's default reverses the axes; the batch axis stays first in a model
    for (size_t i = 0; i < rank; ++i) perm_.push_back(i == 0 ? 0 : static_cast<int64_t>(rank - i));
  NNC_CHECK(perm_.size() == rank, "op 'transpose': axes ", shape_str(perm_), " do not match a tensor of rank ", rank,
            " ", shape_str(full(-1, in)));
  std::vector<char> seen(rank, 0);
  for (int64_t& p : perm_) {
    if (p < 0) p += static_cast<int64_t>(rank);
    NNC_CHECK(p >= 0 && p < static_cast<int64_t>(rank) && !seen[static_cast<size_t>(p)], "op 'transpose': axes ",
              shape_str(perm_), " are not a permutation of 0..", rank - 1);
    seen[static_cast<size_t>(p)] = 1;
  }
  NNC_CHECK(perm_[0] == 0, "op 'transpose': axes ", shape_str(perm_),
            " move the batch axis; in a model the batch axis stays first (axes[0] == 0)");
  inverse_.assign(rank, 0);
  for (size_t i = 0; i < rank; ++i) inverse_[static_cast<size_t>(perm_[i])] = static_cast<int64_t>(i);
  return infer_shape(in);
}

Shape TransposeOpLayer::infer_shape(const Shape& in) const {
  const size_t rank = in.size() + 1;
  Shape out;
  for (size_t i = 1; i < rank; ++i) out.push_back(in[static_cast<size_t>(perm_[i] - 1)]);
  return out;
}

const Tensor& TransposeOpLayer::forward_one(LayerCall& c, const Tensor& x, bool) {
  c.y.resize(full(x.dim(0), c.output_shapes[0]));
  kernels::permute(c.y.data(), x.data(), x.shape(), perm_);
  return c.y;
}

const Tensor& TransposeOpLayer::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  c.dx.resize(c.inputs[0].shape());
  kernels::permute(c.dx.data(), dy.data(), dy.shape(), inverse_);
  return c.dx;
}

Json TransposeOpLayer::config() const {
  Json c = OpLayer::config();
  c["axes"] = Shape(perm_);
  return c;
}

LayerPtr TransposeOpLayer::from_config(const Json& c) {
  const Json* axes = c.find("axes");
  auto l = std::make_shared<TransposeOpLayer>(axes && !axes->is_null() ? axes->as_shape("TransposeOp axes") : Shape{},
                                              c.get("name", ""));
  l->apply_base_config(c);
  return l;
}

// ---- SliceOpLayer ---------------------------------------------------------------------------------------------------
SliceOpLayer::SliceOpLayer(std::vector<AxisSlice> slices, const std::string& name)
    : OpLayer(name, "SliceOp", "slice", {OpOperand::input(0)}, {}), slices_(std::move(slices)) {
  for (const AxisSlice& s : slices_) NNC_CHECK(s.index || s.step != 0, "op 'slice': slice step cannot be zero");
}

Shape SliceOpLayer::do_build(const Shape& in) { return infer_shape(in); }

Shape SliceOpLayer::infer_shape(const Shape& in) const {
  Plan p;
  plan(in, p);
  return p.out;
}

// Where the slices start, their steps and counts on every axis of per-sample shape `in` (the batch axis first,
// taken whole); an unknown (-1) axis that is sliced gets an unknown count (resolved when the batch arrives).
void SliceOpLayer::plan(const Shape& in, Plan& p) const {
  NNC_CHECK(slices_.size() <= in.size(), "op 'slice': too many indices (", slices_.size() + 1,
            ") for a tensor of shape ", shape_str(full(-1, in)));
  p.start.assign(1, 0);
  p.step.assign(1, 1);
  p.count.assign(1, 0);
  p.out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    const int64_t d = in[i];
    if (i >= slices_.size()) {
      p.start.push_back(0);
      p.step.push_back(1);
      p.count.push_back(d);
      p.out.push_back(d);
      continue;
    }
    const AxisSlice& s = slices_[i];
    if (d < 0) {  // unknown until the batch arrives
      p.start.push_back(0);
      p.step.push_back(1);
      p.count.push_back(-1);
      if (!s.index) p.out.push_back(-1);
      continue;
    }
    if (s.index) {
      const int64_t k = s.start < 0 ? s.start + d : s.start;
      NNC_CHECK(k >= 0 && k < d, "op 'slice': index ", s.start, " is out of range for axis ", i + 1, " of size ", d);
      p.start.push_back(k);
      p.step.push_back(1);
      p.count.push_back(1);
      continue;
    }
    // Python's slice.indices().
    int64_t a, b;
    if (s.step > 0) {
      a = !s.has_start ? 0 : (s.start < 0 ? std::max<int64_t>(0, s.start + d) : std::min(s.start, d));
      b = !s.has_stop ? d : (s.stop < 0 ? std::max<int64_t>(0, s.stop + d) : std::min(s.stop, d));
    } else {
      a = !s.has_start ? d - 1 : (s.start < 0 ? std::max<int64_t>(-1, s.start + d) : std::min(s.start, d - 1));
      b = !s.has_stop ? -1 : (s.stop < 0 ? std::max<int64_t>(-1, s.stop + d) : std::min(s.stop, d - 1));
    }
    const int64_t n = s.step > 0 ? (b > a ? (b - a + s.step - 1) / s.step : 0)
                                 : (a > b ? (a - b + (-s.step) - 1) / (-s.step) : 0);
    NNC_CHECK(n >= 1, "op 'slice': the slice of axis ", i + 1, " (size ", d, ") is empty");
    p.start.push_back(a);
    p.step.push_back(s.step);
    p.count.push_back(n);
    p.out.push_back(n);
  }
}

// The call's plan for its current input shape, with its batch size first.
const SliceOpLayer::Plan& SliceOpLayer::plan_of(LayerCall& c, int64_t batch) const {
  Call& sc = as<Call>(c);
  if (!sc.planned || sc.plan_shape != c.input_shapes[0]) {
    plan(c.input_shapes[0], sc.plan);
    sc.plan_shape = c.input_shapes[0];
    sc.planned = true;
  }
  sc.plan.count[0] = batch;
  return sc.plan;
}

const Tensor& SliceOpLayer::forward_one(LayerCall& c, const Tensor& x, bool) {
  const int64_t B = x.dim(0);
  const Plan& p = plan_of(c, B);
  c.y.resize(full(B, c.output_shapes[0]));
  kernels::slice_forward(c.y.data(), x.data(), x.shape(), p.start, p.step, p.count);
  return c.y;
}

const Tensor& SliceOpLayer::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  const Tensor& x = c.inputs[0];
  const Plan& p = plan_of(c, x.dim(0));
  c.dx.resize(x.shape());
  kernels::slice_backward(c.dx.data(), dy.data(), x.shape(), p.start, p.step, p.count);
  return c.dx;
}

Json SliceOpLayer::config() const {
  Json c = OpLayer::config();
  Json ss = Json::array();
  for (const AxisSlice& s : slices_) {
    Json o = Json::object();
    if (s.index) {
      o["index"] = s.start;
    } else {
      o["start"] = s.has_start ? Json(s.start) : Json();
      o["stop"] = s.has_stop ? Json(s.stop) : Json();
      o["step"] = s.step;
    }
    ss.push_back(o);
  }
  c["slices"] = ss;
  return c;
}

LayerPtr SliceOpLayer::from_config(const Json& c) {
  std::vector<AxisSlice> slices;
  for (const Json& o : c.at("slices", "SliceOp config").as_array("SliceOp slices")) {
    AxisSlice s;
    if (o.contains("index")) {
      s.index = true;
      s.start = o.at("index", "slice").as_int("slice index");
    } else {
      const Json* a = o.find("start");
      const Json* b = o.find("stop");
      s.has_start = a && !a->is_null();
      s.has_stop = b && !b->is_null();
      if (s.has_start) s.start = a->as_int("slice start");
      if (s.has_stop) s.stop = b->as_int("slice stop");
      s.step = o.get("step", int64_t{1});
    }
    slices.push_back(s);
  }
  auto l = std::make_shared<SliceOpLayer>(slices, c.get("name", ""));
  l->apply_base_config(c);
  return l;
}

// ---- RandomOpLayer --------------------------------------------------------------------------------------------------
RandomOpLayer::RandomOpLayer(const std::string& op, float a, float b, Shape shape, const std::string& name)
    : OpLayer(name, "RandomOp", op, {OpOperand::input(0)}, {}), a_(a), b_(b), shape_(std::move(shape)) {
  NNC_CHECK(op == "dropout" || op == "normal" || op == "uniform", "RandomOp '", name_, "': unknown op '", op,
            "'; known: dropout, normal, uniform");
  NNC_CHECK(op != "dropout" || (a >= 0.f && a < 1.f), "random.dropout: rate must be in [0, 1), got ", a);
  NNC_CHECK(op != "normal" || b >= 0.f, "random.normal: stddev must be >= 0, got ", b);
  NNC_CHECK(op != "uniform" || a < b, "random.uniform: minval must be < maxval, got ", a, " and ", b);
  for (int64_t d : shape_) NNC_CHECK(d >= 1, "random.", op, ": shape must have positive dimensions, got ", shape_str(shape_));
}

Shape RandomOpLayer::do_build(const Shape& in) { return infer_shape(in); }

Shape RandomOpLayer::infer_shape(const Shape& in) const { return op_ == "dropout" ? in : shape_; }

const Tensor& RandomOpLayer::forward_one(LayerCall& c, const Tensor& x, bool) {
  const uint64_t seed = rng_() ^ (++step_ * 0x9e3779b97f4a7c15ull);
  if (op_ == "dropout") {
    Tensor& mask = as<Call>(c).mask;
    c.y.resize(x.shape());
    mask.resize(x.shape());
    kernels::dropout_forward(c.y.data(), mask.data(), x.data(), x.size(), a_, seed);
    return c.y;
  }
  c.y.resize(full(x.dim(0), shape_));
  if (op_ == "normal") kernels::random_normal(c.y.data(), c.y.size(), a_, b_, seed);
  else kernels::random_uniform(c.y.data(), c.y.size(), a_, b_, seed);
  return c.y;
}

const Tensor& RandomOpLayer::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  const Tensor& x = c.inputs[0];
  c.dx.resize(x.shape());
  if (op_ != "dropout") {  // the draws do not depend on the reference input's values
    c.dx.zero();
    return c.dx;
  }
  kernels::mul(c.dx.data(), dy.data(), as<Call>(c).mask.data(), dy.size());
  return c.dx;
}

Json RandomOpLayer::config() const {
  Json c = OpLayer::config();
  if (op_ == "dropout") {
    c["rate"] = a_;
  } else {
    c[op_ == "normal" ? "mean" : "minval"] = a_;
    c[op_ == "normal" ? "stddev" : "maxval"] = b_;
    c["shape"] = shape_;
  }
  return c;
}

LayerPtr RandomOpLayer::from_config(const Json& c) {
  const std::string op = c.at("op", "RandomOp config").as_string("RandomOp op");
  const Json* shape = c.find("shape");
  auto l = op == "dropout" ? std::make_shared<RandomOpLayer>(op, c.get("rate", 0.f), 0.f, Shape{}, c.get("name", ""))
           : op == "normal"
               ? std::make_shared<RandomOpLayer>(op, c.get("mean", 0.f), c.get("stddev", 1.f),
                                                 shape ? shape->as_shape("RandomOp shape") : Shape{}, c.get("name", ""))
               : std::make_shared<RandomOpLayer>(op, c.get("minval", 0.f), c.get("maxval", 1.f),
                                                 shape ? shape->as_shape("RandomOp shape") : Shape{}, c.get("name", ""));
  l->apply_base_config(c);
  return l;
}

}  // namespace nncore
