#include "nncore/layers/attention.hpp"

#include <cmath>

#include "kernels/kernels.hpp"
#include "layers/common.hpp"
#include "nncore/check.hpp"
#include "nncore/ops.hpp"

namespace nncore {

namespace {
Shape with_batch(int64_t batch, const Shape& per_sample) {
  Shape s{batch};
  s.insert(s.end(), per_sample.begin(), per_sample.end());
  return s;
}
}  // namespace

DotProductAttentionOp::DotProductAttentionOp(std::vector<OpOperand> operands, bool has_mask, bool has_bias,
                                             float scale, bool causal, std::vector<WeightSpec> weights,
                                             const std::string& name)
    : OpLayer(name, "DotProductAttentionOp", "dot_product_attention", std::move(operands), std::move(weights)),
      has_mask_(has_mask),
      has_bias_(has_bias),
      scale_(scale),
      causal_(causal) {
  NNC_CHECK(operands_.size() == 3 + (has_mask ? 1 : 0) + (has_bias ? 1 : 0), "op 'dot_product_attention': expected ",
            3 + (has_mask ? 1 : 0) + (has_bias ? 1 : 0), " operands, got ", operands_.size());
  for (size_t i = 0; i < 3; ++i)
    NNC_CHECK(operands_[i].kind == OpOperand::Kind::input, "op 'dot_product_attention': query, key and value must "
              "be graph tensors (batch first)");
  if (has_mask) NNC_CHECK(operands_[3].kind != OpOperand::Kind::scalar, "op 'dot_product_attention': mask must be "
                          "an array, not a number");
  if (has_bias)
    NNC_CHECK(operands_.back().kind == OpOperand::Kind::weight, "op 'dot_product_attention': bias must be a constant "
              "array (a bias computed in the model would get no gradient here); pass a mask, or add it to the query");
  NNC_CHECK(std::isfinite(scale) , "op 'dot_product_attention': scale must be finite, got ", scale);
}

std::vector<Shape> DotProductAttentionOp::shapes_for(const std::vector<Shape>& in) const {
  NNC_CHECK(in.size() == num_tensor_inputs(), "op 'dot_product_attention' (", name_, "): expected ",
            num_tensor_inputs(), " tensor input(s), got ", in.size());
  const Shape &q = in[0], &k = in[1], &v = in[2];
  auto ok = [](int64_t a, int64_t b) { return a == b || a < 0 || b < 0; };
  NNC_CHECK(q.size() == 3 && k.size() == 3 && v.size() == 3, "op 'dot_product_attention': query, key and value must "
            "be (batch, length, heads, dim), got ", shape_str(with_batch(-1, q)), ", ", shape_str(with_batch(-1, k)),
            " and ", shape_str(with_batch(-1, v)));
  NNC_CHECK(q[1] > 0 && q[2] > 0 && v[2] > 0, "op 'dot_product_attention': the heads and dims must be known, got "
            "query ", shape_str(with_batch(-1, q)), " and value ", shape_str(with_batch(-1, v)));
  NNC_CHECK(k[1] == q[1] && v[1] == q[1], "op 'dot_product_attention': query, key and value need the same number of "
            "heads (grouped-query attention is not supported), got ", q[1], ", ", k[1], " and ", v[1]);
  NNC_CHECK(k[2] == q[2], "op 'dot_product_attention': query and key need the same dim, got ", q[2], " and ", k[2]);
  NNC_CHECK(ok(k[0], v[0]), "op 'dot_product_attention': key and value need the same length, got ", k[0], " and ",
            v[0]);
  return {{q[0], q[1], v[2]}};
}

std::vector<Shape> DotProductAttentionOp::build_shapes(const std::vector<Shape>& in) {
  std::vector<Shape> out = shapes_for(in);
  make_weights();
  return out;
}

std::vector<Shape> DotProductAttentionOp::call_shapes(const std::vector<Shape>& in) const { return shapes_for(in); }

// The call's mask and bias as views for the op (a mask from the graph has the batch first; constants broadcast).
void DotProductAttentionOp::options(const LayerCall& c, AttentionOptions& o, Tensor& mask, Tensor& bias) const {
  o.scale = scale_;
  o.causal = causal_;
  size_t next = 3;
  auto view = [&](const OpOperand& k) {
    return Tensor::view(const_cast<float*>(operand_data(c, k)), operand_shape(c, k, c.batch()));
  };
  if (has_mask_) {
    const OpOperand& m = operands_[next++];
    mask = view(m);
    NNC_CHECK(m.kind != OpOperand::Kind::input || mask.ndim() == 4, who(), ": a mask from the model must have 4 axes "
              "(batch, heads, T, S), with 1 where it broadcasts, got ", mask.shape_str());
    o.mask = &mask;
  }
  if (has_bias_) {
    bias = view(operands_[next++]);
    o.bias = &bias;
  }
}

void DotProductAttentionOp::forward_list(LayerCall& c, bool) {
  Call& call = as<Call>(c);
  AttentionOptions o;
  Tensor mask, bias;
  options(c, o, mask, bias);
  attention_forward(c.inputs[0], c.inputs[1], c.inputs[2], o, c.y, call.lse);
  c.outputs.assign(1, &c.y);
}

void DotProductAttentionOp::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  if (!need_dx) return;
  Call& call = as<Call>(c);
  AttentionOptions o;
  Tensor mask, bias;
  options(c, o, mask, bias);
  attention_backward(c.inputs[0], c.inputs[1], c.inputs[2], call.lse, *dys[0], o, c.dx, call.dk, call.dv);
  c.dxs[0] = &c.dx;
  c.dxs[1] = &call.dk;
  c.dxs[2] = &call.dv;
}

Json DotProductAttentionOp::config() const {
  Json c = OpLayer::config();
  c["has_mask"] = has_mask_;
  c["has_bias"] = has_bias_;
  c["scale"] = static_cast<double>(scale_);
  c["is_causal"] = causal_;
  return c;
}

LayerPtr DotProductAttentionOp::from_config(const Json& c) {
  auto l = std::make_shared<DotProductAttentionOp>(operands_from_config(c), c.get("has_mask", false),
                                                   c.get("has_bias", false), c.get("scale", 0.f),
                                                   c.get("is_causal", false), weights_from_config(c),
                                                   c.get("name", ""));
  l->apply_base_config(c);
  return l;
}

// ---- MultiHeadAttention ---------------------------------------------------------------------------------------------
MultiHeadAttention::MultiHeadAttention(const Options& o, const std::string& name)
    : Layer(detail::layer_name(name, "MultiHeadAttention")), o_(o) {
  NNC_CHECK(o.num_heads >= 1, "MultiHeadAttention '", name_, "': num_heads must be >= 1, got ", o.num_heads);
  NNC_CHECK(o.key_dim >= 1, "MultiHeadAttention '", name_, "': key_dim must be >= 1, got ", o.key_dim);
  NNC_CHECK(o.value_dim >= 0, "MultiHeadAttention '", name_, "': value_dim must be >= 1 (or None), got ", o.value_dim);
  NNC_CHECK(o.output_dim >= 0, "MultiHeadAttention '", name_, "': output_shape must be >= 1 (or None), got ",
            o.output_dim);
  NNC_CHECK(o.dropout >= 0.f && o.dropout < 1.f, "MultiHeadAttention '", name_, "': dropout must be in [0, 1), got ",
            o.dropout);
  o_.kernel_initializer.check(who() + " kernel_initializer");
  o_.bias_initializer.check(who() + " bias_initializer");
  if (o.seed >= 0) rng_.seed(static_cast<uint64_t>(o.seed));
}

void MultiHeadAttention::set_call_options(bool causal, bool return_scores) {
  causal_ = causal;
  return_scores_ = return_scores;
}

std::vector<Shape> MultiHeadAttention::shapes_for(const std::vector<Shape>& in) const {
  NNC_CHECK(in.size() == 3 || in.size() == 4, who(), ": expected inputs [query, value, key] and optionally "
            "attention_mask, got ", in.size(), " input(s)");
  const Shape &q = in[0], &v = in[1], &k = in[2];
  NNC_CHECK(q.size() == 2 && v.size() == 2 && k.size() == 2, who(), ": query, value and key must be (batch, length, "
            "features) (attention over other axes, attention_axes, is not supported), got ",
            shape_str(batch_shape(-1, q)), ", ", shape_str(batch_shape(-1, v)), " and ", shape_str(batch_shape(-1, k)));
  NNC_CHECK(q[1] > 0 && v[1] > 0 && k[1] > 0, who(), ": the feature axes must be known, got query ",
            shape_str(batch_shape(-1, q)), ", value ", shape_str(batch_shape(-1, v)), ", key ",
            shape_str(batch_shape(-1, k)));
  NNC_CHECK(v[0] == k[0] || v[0] < 0 || k[0] < 0, who(), ": value and key must have the same length, got ",
            shape_str(batch_shape(-1, v)), " and ", shape_str(batch_shape(-1, k)));
  if (in.size() == 4) {
    const Shape& m = in[3];
    auto fits = [](int64_t a, int64_t b) { return a == b || a < 0 || b < 0; };
    NNC_CHECK(m.size() == 2 && fits(m[0], q[0]) && fits(m[1], v[0]), who(), ": attention_mask must be (batch, T, S) "
              "= ", shape_str(Shape{-1, q[0], v[0]}), ", got ", shape_str(batch_shape(-1, m)));
  }
  if (built_) {
    NNC_CHECK(q[1] == input_shapes_[0][1] && v[1] == input_shapes_[1][1] && k[1] == input_shapes_[2][1], who(),
              ": built for query, value and key features (", input_shapes_[0][1], ", ", input_shapes_[1][1], ", ",
              input_shapes_[2][1], "), got (", q[1], ", ", v[1], ", ", k[1], ")");
  }
  const int64_t d_out = o_.output_dim > 0 ? o_.output_dim : q[1];
  std::vector<Shape> out{{q[0], d_out}};
  if (return_scores_) out.push_back({o_.num_heads, q[0], v[0]});
  return out;
}

std::vector<Shape> MultiHeadAttention::build_shapes(const std::vector<Shape>& in) {
  std::vector<Shape> out = shapes_for(in);
  const int64_t H = o_.num_heads, Dk = o_.key_dim, Dv = value_dim();
  const int64_t d_out = out[0][1];
  add_weight("query_kernel", {in[0][1], H, Dk}, o_.kernel_initializer);
  if (o_.use_bias) add_weight("query_bias", {H, Dk}, o_.bias_initializer);
  add_weight("key_kernel", {in[2][1], H, Dk}, o_.kernel_initializer);
  if (o_.use_bias) add_weight("key_bias", {H, Dk}, o_.bias_initializer);
  add_weight("value_kernel", {in[1][1], H, Dv}, o_.kernel_initializer);
  if (o_.use_bias) add_weight("value_bias", {H, Dv}, o_.bias_initializer);
  add_weight("output_kernel", {H, Dv, d_out}, o_.kernel_initializer);
  if (o_.use_bias) add_weight("output_bias", {d_out}, o_.bias_initializer);
  return out;
}

std::vector<Shape> MultiHeadAttention::call_shapes(const std::vector<Shape>& in) const { return shapes_for(in); }

namespace {
// y (R, n) = x (R, d) W (d, n) + b (b may be null): the bias added to each tile of the product while it is in L1
// (a pass of copies of b before, and the GEMM reading them back: 2.4% of the Transformer's predict, all on one thread).
void project(const float* x, int64_t R, int64_t d, const Param& w, const Param* b, int64_t n, float* y) {
  kernels::GemmEpilogue ep;
  ep.bias = b != nullptr ? b->value.data() : nullptr;
  kernels::gemm(false, false, R, n, d, x, d, w.value.data(), n, 0.f, y, n, ep);
}

// The backward of project for dy (R, n): dW += x^T dy, db += sum dy (when trainable), dx = dy W^T (when dx).
void project_backward(const float* x, int64_t R, int64_t d, Param& w, Param* b, int64_t n, const float* dy,
                      bool trainable, float* dx, float dx_beta) {
  if (trainable) {
    const float beta = w.grad_beta();
    kernels::gemm(true, false, d, n, R, x, d, dy, n, beta, w.grad.data(), n);
    if (b != nullptr) kernels::col_sum_accumulate(b->grad_accumulator(), dy, R, n);
  }
  if (dx != nullptr) kernels::gemm(false, true, R, d, n, dy, n, w.value.data(), n, dx_beta, dx, d);
}
}  // namespace

void MultiHeadAttention::call_mask(Call& c, AttentionOptions& o) const {
  const int64_t B = c.inputs[0].dim(0), T = c.inputs[0].dim(1), S = c.inputs[1].dim(1);
  const Tensor* qm = c.masks.size() > 0 ? c.masks[0] : nullptr;
  const Tensor* vm = c.masks.size() > 1 ? c.masks[1] : nullptr;
  const Tensor* km = c.masks.size() > 2 ? c.masks[2] : nullptr;
  if (km == vm) km = nullptr;  // the value given as the key too
  const Tensor* am = c.inputs.size() > 3 ? &c.inputs[3] : nullptr;
  if (qm == nullptr && vm == nullptr && km == nullptr && am == nullptr) return;
  if (qm == nullptr && km == nullptr && am == nullptr) {  // key padding alone: read in place, (B, 1, 1, S)
    c.mask = Tensor::view(const_cast<float*>(vm->data()), {B, 1, 1, S});
  } else if (qm == nullptr && vm == nullptr && km == nullptr) {  // attention_mask alone: (B, 1, T, S)
    c.mask = Tensor::view(const_cast<float*>(am->data()), {B, 1, T, S});
  } else {  // combined: (B, 1, T, S)
    c.mask.resize({B, 1, T, S});
    float* m = c.mask.data();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t s = 0; s < S; ++s) {
          bool ok = qm == nullptr || qm->data()[b * T + t] != 0.f;
          ok = ok && (vm == nullptr || vm->data()[b * S + s] != 0.f);
          ok = ok && (km == nullptr || km->data()[b * S + s] != 0.f);
          ok = ok && (am == nullptr || am->data()[(b * T + t) * S + s] != 0.f);
          m[(b * T + t) * S + s] = ok ? 1.f : 0.f;
        }
  }
  o.mask = &c.mask;
}

void MultiHeadAttention::forward_list(LayerCall& lc, bool training) {
  Call& c = as<Call>(lc);
  const Tensor &query = c.inputs[0], &value = c.inputs[1], &key = c.inputs[2];
  const int64_t B = query.dim(0), T = query.dim(1), S = value.dim(1);
  NNC_CHECK(key.dim(1) == S, who(), ": value and key must have the same length, got ", value.shape_str(), " and ",
            key.shape_str());
  if (c.inputs.size() > 3)
    NNC_CHECK(c.inputs[3].ndim() == 3 && c.inputs[3].dim(1) == T && c.inputs[3].dim(2) == S, who(),
              ": attention_mask must be (batch, T, S) = (", B, ", ", T, ", ", S, "), got ", c.inputs[3].shape_str());
  const int64_t H = o_.num_heads, Dk = o_.key_dim, Dv = value_dim(), dq = query.dim(2), dv = value.dim(2),
                dk = key.dim(2), d_out = c.output_shapes[0][1];
  const size_t nb = o_.use_bias ? 2 : 1;  // params per projection
  auto bias = [&](size_t i) { return o_.use_bias ? &params_[i * nb + 1] : nullptr; };
  c.q.resize({B, T, H, Dk});
  c.k.resize({B, S, H, Dk});
  c.v.resize({B, S, H, Dv});
  project(query.data(), B * T, dq, params_[0], bias(0), H * Dk, c.q.data());
  project(key.data(), B * S, dk, params_[nb], bias(1), H * Dk, c.k.data());
  project(value.data(), B * S, dv, params_[2 * nb], bias(2), H * Dv, c.v.data());
  AttentionOptions o;
  o.scale = 1.f / std::sqrt(static_cast<float>(Dk));
  o.causal = causal_;
  c.dropout = training ? o_.dropout : 0.f;
  if (c.dropout > 0.f) c.seed = rng_() ^ (++step_ * 0x9e3779b97f4a7c15ull);
  o.dropout = c.dropout;
  o.seed = c.seed;
  call_mask(c, o);
  attention_forward(c.q, c.k, c.v, o, c.o, c.lse, return_scores_ ? &c.probs : nullptr);
  c.y.resize({B, T, d_out});
  project(c.o.data(), B * T, H * Dv, params_[3 * nb], bias(3), d_out, c.y.data());
  c.outputs.assign(1, &c.y);
  if (return_scores_) c.outputs.push_back(&c.probs);
}

void MultiHeadAttention::backward_list(LayerCall& lc, const std::vector<const Tensor*>& dys, bool need_dx) {
  Call& c = as<Call>(lc);
  if (return_scores_ && dys.size() > 1 && dys[1] != nullptr) {
    const Tensor& g = *dys[1];
    for (int64_t i = 0; i < g.size(); ++i)
      NNC_CHECK(g.data()[i] == 0.f, who(), ": a gradient reaches the attention scores it returned; training through "
                "return_attention_scores is not supported (use the scores for inspection, or compute them with ops)");
  }
  const Tensor &query = c.inputs[0], &value = c.inputs[1], &key = c.inputs[2];
  const int64_t B = query.dim(0), T = query.dim(1), S = value.dim(1);
  const int64_t H = o_.num_heads, Dk = o_.key_dim, Dv = value_dim(), dq = query.dim(2), dv = value.dim(2),
                dk = key.dim(2), d_out = c.output_shapes[0][1];
  const size_t nb = o_.use_bias ? 2 : 1;
  auto bias = [&](size_t i) { return o_.use_bias ? &params_[i * nb + 1] : nullptr; };
  const bool train = trainable_;
  // Output projection, then attention, then the three input projections.
  c.dout.resize({B, T, H, Dv});
  project_backward(c.o.data(), B * T, H * Dv, params_[3 * nb], bias(3), d_out, dys[0]->data(), train,
                   c.dout.data(), 0.f);
  AttentionOptions o;
  o.scale = 1.f / std::sqrt(static_cast<float>(Dk));
  o.causal = causal_;
  o.dropout = c.dropout;
  o.seed = c.seed;
  if (!c.mask.shape().empty() && c.mask.size() > 0) o.mask = &c.mask;
  attention_backward(c.q, c.k, c.v, c.lse, c.dout, o, c.dq, c.dk, c.dv);
  if (need_dx) {
    c.dx.resize(query.shape());
    c.dvalue.resize(value.shape());
    c.dkey.resize(key.shape());
  }
  project_backward(query.data(), B * T, dq, params_[0], bias(0), H * Dk, c.dq.data(), train,
                   need_dx ? c.dx.data() : nullptr, 0.f);
  project_backward(key.data(), B * S, dk, params_[nb], bias(1), H * Dk, c.dk.data(), train,
                   need_dx ? c.dkey.data() : nullptr, 0.f);
  project_backward(value.data(), B * S, dv, params_[2 * nb], bias(2), H * Dv, c.dv.data(), train,
                   need_dx ? c.dvalue.data() : nullptr, 0.f);
  if (!need_dx) return;
  c.dxs[0] = &c.dx;
  c.dxs[1] = &c.dvalue;
  c.dxs[2] = &c.dkey;
}

Json MultiHeadAttention::config() const {
  Json c = Layer::config();
  c["num_heads"] = o_.num_heads;
  c["key_dim"] = o_.key_dim;
  c["value_dim"] = value_dim();
  c["dropout"] = static_cast<double>(o_.dropout);
  c["use_bias"] = o_.use_bias;
  if (o_.output_dim > 0) c["output_shape"] = o_.output_dim;
  c["kernel_initializer"] = o_.kernel_initializer.to_json();
  c["bias_initializer"] = o_.bias_initializer.to_json();
  if (o_.seed >= 0) c["seed"] = o_.seed;
  c["use_causal_mask"] = causal_;
  c["return_attention_scores"] = return_scores_;
  return c;
}

LayerPtr MultiHeadAttention::from_config(const Json& c) {
  Options o;
  o.num_heads = c.at("num_heads", "MultiHeadAttention config").as_int("MultiHeadAttention num_heads");
  o.key_dim = c.at("key_dim", "MultiHeadAttention config").as_int("MultiHeadAttention key_dim");
  if (const Json* v = c.find("value_dim"); v != nullptr && !v->is_null()) o.value_dim = v->as_int("value_dim");
  o.dropout = c.get("dropout", 0.f);
  o.use_bias = c.get("use_bias", true);
  if (const Json* v = c.find("output_shape"); v != nullptr && !v->is_null()) {
    if (v->is_array()) {
      const Shape s = v->as_shape("MultiHeadAttention output_shape");
      NNC_CHECK(s.size() == 1, "MultiHeadAttention config: output_shape must be one size, got ", shape_str(s));
      o.output_dim = s[0];
    } else {
      o.output_dim = v->as_int("MultiHeadAttention output_shape");
    }
  }
  if (const Json* v = c.find("attention_axes"); v != nullptr && !v->is_null())
    NNC_CHECK(false, "MultiHeadAttention config: attention_axes ", v->dump(), " is not supported (attention over the "
              "sequence axis of rank-3 inputs only)");
  if (const Json* v = c.find("kernel_initializer")) o.kernel_initializer = Initializer::from_json(*v, "MultiHeadAttention");
  if (const Json* v = c.find("bias_initializer")) o.bias_initializer = Initializer::from_json(*v, "MultiHeadAttention");
  if (const Json* v = c.find("seed"); v != nullptr && !v->is_null()) o.seed = v->as_int("MultiHeadAttention seed");
  auto l = std::make_shared<MultiHeadAttention>(o, c.get("name", ""));
  l->set_call_options(c.get("use_causal_mask", false), c.get("return_attention_scores", false));
  l->apply_base_config(c);
  return l;
}

}  // namespace nncore
