#include "nncore/layers/attention.hpp"

#include <cmath>

#include "nncore/ops.hpp"
#include "nncore/check.hpp"

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

}  // namespace nncore
