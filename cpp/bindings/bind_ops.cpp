#include "convert.hpp"

namespace nncore::bindings {

namespace {
// Attention's options from the Python arguments; tm and tb receive views of the mask and bias arrays.
AttentionOptions attention_options(std::optional<FloatArray>& mask, std::optional<FloatArray>& bias, Tensor& tm,
                                   Tensor& tb, float scale, bool causal, float dropout, uint64_t seed, bool reference) {
  AttentionOptions o;
  if (mask) {
    tm = view_of(*mask);
    o.mask = &tm;
  }
  if (bias) {
    tb = view_of(*bias);
    o.bias = &tb;
  }
  o.scale = scale;
  o.causal = causal;
  o.dropout = dropout;
  o.seed = seed;
  o.reference = reference;
  return o;
}
}  // namespace

void bind_ops(py::module_& m) {
  m.def(
      "matmul",
      [](FloatArray a, FloatArray b, bool ta, bool tb) {
        Tensor ta_ = view_of(a), tb_ = view_of(b), out;
        {
          py::gil_scoped_release nogil;
          out = matmul(ta_, tb_, ta, tb);
        }
        return to_numpy(out);
      },
      py::arg("a"), py::arg("b"), py::arg("transpose_a") = false, py::arg("transpose_b") = false);
  m.def(
      "matmul_int8",
      [](py::array_t<int8_t, py::array::c_style | py::array::forcecast> a,
         py::array_t<int8_t, py::array::c_style | py::array::forcecast> b, bool reference) {
        if (a.ndim() != 2 || b.ndim() != 2 || a.shape(1) != b.shape(0))
          throw py::value_error("matmul_int8: expected a (M, K) and b (K, N) int8 matrices, got shapes " +
                                std::string(py::str(py::make_tuple(a.shape(0), a.ndim() > 1 ? a.shape(1) : -1))) +
                                " and " + std::string(py::str(py::make_tuple(b.shape(0), b.ndim() > 1 ? b.shape(1) : -1))));
        const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
        py::array_t<int32_t> c({M, N});
        const int8_t* pa = a.data();
        const int8_t* pb = b.data();
        int32_t* pc = c.mutable_data();
        {
          py::gil_scoped_release nogil;
          matmul_int8(pa, pb, pc, M, K, N, reference);
        }
        return c;
      },
      py::arg("a"), py::arg("b"), py::arg("reference") = false);
  m.def(
      "quantize_rows_int8",
      [](FloatArray x, bool reference) {
        if (x.ndim() != 2) throw py::value_error("quantize_rows_int8: expected a 2-D array");
        const int64_t M = x.shape(0), K = x.shape(1);
        py::array_t<int8_t> q({M, K});
        py::array_t<float> s(M);
        const float* px = x.data();
        int8_t* pq = q.mutable_data();
        float* ps = s.mutable_data();
        {
          py::gil_scoped_release nogil;
          quantize_rows_int8(px, M, K, pq, ps, reference);
        }
        return py::make_tuple(q, s);
      },
      py::arg("x"), py::arg("reference") = false);
  m.def(
      "matmul_q8",
      [](FloatArray a, py::array_t<int8_t, py::array::c_style | py::array::forcecast> b, FloatArray col_scale,
         std::optional<FloatArray> bias, bool reference) {
        if (a.ndim() != 2 || b.ndim() != 2 || a.shape(1) != b.shape(0) || col_scale.ndim() != 1 ||
            col_scale.shape(0) != b.shape(1) || (bias && (bias->ndim() != 1 || bias->shape(0) != b.shape(1))))
          throw py::value_error("matmul_q8: expected a (M, K) float32, b (K, N) int8, col_scale (N,) and bias (N,)");
        const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
        py::array_t<float> c({M, N});
        const float* pa = a.data();
        const int8_t* pb = b.data();
        const float* ps = col_scale.data();
        const float* pbias = bias ? bias->data() : nullptr;
        float* pc = c.mutable_data();
        {
          py::gil_scoped_release nogil;
          matmul_q8(pa, M, K, pb, N, ps, pbias, pc, reference);
        }
        return c;
      },
      py::arg("a"), py::arg("b"), py::arg("col_scale"), py::arg("bias") = py::none(), py::arg("reference") = false);
  m.def(
      "matmul_ref",
      [](FloatArray a, FloatArray b, bool ta, bool tb) {
        Tensor ta_ = view_of(a), tb_ = view_of(b), out;
        {
          py::gil_scoped_release nogil;
          out = matmul_ref(ta_, tb_, ta, tb);
        }
        return to_numpy(out);
      },
      py::arg("a"), py::arg("b"), py::arg("transpose_a") = false, py::arg("transpose_b") = false);
  m.def(
      "matmul_packed",
      [](FloatArray a, FloatArray b, bool ta, bool tb, std::optional<FloatArray> c, float beta,
         std::optional<FloatArray> bias, bool small_m) {
        Tensor ta_ = view_of(a), tb_ = view_of(b), tc, tbias, out;
        if (c) tc = view_of(*c);
        if (bias) tbias = view_of(*bias);
        {
          py::gil_scoped_release nogil;
          out = matmul_packed(ta_, tb_, ta, tb, tc, beta, tbias, small_m);
        }
        return to_numpy(out);
      },
      py::arg("a"), py::arg("b"), py::arg("transpose_a"), py::arg("transpose_b"), py::arg("c"), py::arg("beta"),
      py::arg("bias"), py::arg("small_m") = false);
  m.def(
      "activation_forward",
      [](const std::string& name, FloatArray x, py::object alpha) {
        const Activation act = activation_from_name(name);
        const float a = alpha.is_none() ? activation_default_alpha(act) : alpha.cast<float>();
        Tensor tx = view_of(x), y;
        {
          py::gil_scoped_release nogil;
          y = activation_forward(act, tx, a);
        }
        return to_numpy(y);
      },
      py::arg("activation"), py::arg("x"), py::arg("alpha") = py::none());
  m.def(
      "activation_backward",
      [](const std::string& name, FloatArray dy, FloatArray x, FloatArray y, py::object alpha) {
        const Activation act = activation_from_name(name);
        const float a = alpha.is_none() ? activation_default_alpha(act) : alpha.cast<float>();
        Tensor tdy = view_of(dy), tx = view_of(x), ty = view_of(y), dx;
        {
          py::gil_scoped_release nogil;
          dx = activation_backward(act, tdy, tx, ty, a);
        }
        return to_numpy(dx);
      },
      py::arg("activation"), py::arg("dy"), py::arg("x"), py::arg("y"), py::arg("alpha") = py::none());
  m.def("activation_names", &activation_names);
  // A built-in loss on arrays: pred (B, ...) and y as the loss expects, checked.
  auto checked_loss = [](const std::string& name, bool from_logits, float smoothing, const Tensor& tp,
                         const Tensor& ty) {
    Loss loss = Loss::from_name(name, from_logits).with_label_smoothing(smoothing);
    NNC_CHECK(tp.ndim() >= 2 && tp.dim(0) > 0, "loss: expected pred of shape (batch, ...), got ", tp.shape_str());
    loss.check_targets(ty, Shape(tp.shape().begin() + 1, tp.shape().end()), "y");
    NNC_CHECK(ty.dim(0) == tp.dim(0), "loss: pred and y must have the same batch size, got ", tp.dim(0), " and ",
              ty.dim(0));
    return loss;
  };
  m.def(
      "loss",
      [checked_loss](const std::string& name, FloatArray pred, FloatArray y, bool from_logits, float smoothing) {
        // Returns (mean loss over the batch, d(mean loss)/d(pred)).
        Tensor tp = view_of(pred), ty = view_of(y);
        const Loss loss = checked_loss(name, from_logits, smoothing, tp, ty);
        const Shape out(tp.shape().begin() + 1, tp.shape().end());
        Tensor grad(tp.shape());
        double sum;
        {
          py::gil_scoped_release nogil;
          const int64_t B = tp.dim(0);
          sum = loss.compute(tp.data(), from_logits, ty, B, out, grad.data(), 1.f / static_cast<float>(B));
        }
        return py::make_tuple(sum / static_cast<double>(tp.dim(0)), to_numpy(grad));
      },
      py::arg("loss"), py::arg("pred"), py::arg("y"), py::arg("from_logits") = false, py::arg("label_smoothing") = 0.f);
  m.def(
      "loss_per_sample",
      [checked_loss](const std::string& name, FloatArray pred, FloatArray y, bool from_logits, float smoothing) {
        Tensor tp = view_of(pred), ty = view_of(y);
        const Loss loss = checked_loss(name, from_logits, smoothing, tp, ty);
        py::array_t<double> values(tp.dim(0));
        double* v = values.mutable_data();
        {
          py::gil_scoped_release nogil;
          loss.per_sample(tp.data(), from_logits, ty, tp.dim(0), Shape(tp.shape().begin() + 1, tp.shape().end()), v);
        }
        return values;
      },
      py::arg("loss"), py::arg("pred"), py::arg("y"), py::arg("from_logits") = false, py::arg("label_smoothing") = 0.f);
  m.def("loss_names", &Loss::names);
  // Attention on arrays: (out, lse[, probs]) forward, (dq, dk, dv) backward; mask/bias None or arrays broadcasting
  // against (B, H, T, S).
  m.def(
      "dot_product_attention",
      [](FloatArray q, FloatArray k, FloatArray v, std::optional<FloatArray> mask, std::optional<FloatArray> bias,
         float scale, bool causal, float dropout, uint64_t seed, bool return_probs, bool reference) {
        Tensor tq = view_of(q), tk = view_of(k), tv = view_of(v), tm, tb, out, lse, probs;
        const AttentionOptions o = attention_options(mask, bias, tm, tb, scale, causal, dropout, seed, reference);
        {
          py::gil_scoped_release nogil;
          attention_forward(tq, tk, tv, o, out, lse, return_probs ? &probs : nullptr);
        }
        if (return_probs) return py::tuple(py::make_tuple(to_numpy(out), to_numpy(lse), to_numpy(probs)));
        return py::tuple(py::make_tuple(to_numpy(out), to_numpy(lse)));
      },
      py::arg("query"), py::arg("key"), py::arg("value"), py::arg("mask") = py::none(), py::arg("bias") = py::none(),
      py::arg("scale") = 0.f, py::arg("is_causal") = false, py::arg("dropout") = 0.f, py::arg("seed") = 0,
      py::arg("return_probs") = false, py::arg("reference") = false);
  m.def(
      "dot_product_attention_backward",
      [](FloatArray q, FloatArray k, FloatArray v, FloatArray lse, FloatArray dout, std::optional<FloatArray> mask,
         std::optional<FloatArray> bias, float scale, bool causal, float dropout, uint64_t seed, bool reference) {
        Tensor tq = view_of(q), tk = view_of(k), tv = view_of(v), tl = view_of(lse), tg = view_of(dout), tm, tb, dq,
               dk, dv;
        const AttentionOptions o = attention_options(mask, bias, tm, tb, scale, causal, dropout, seed, reference);
        {
          py::gil_scoped_release nogil;
          attention_backward(tq, tk, tv, tl, tg, o, dq, dk, dv);
        }
        return py::make_tuple(to_numpy(dq), to_numpy(dk), to_numpy(dv));
      },
      py::arg("query"), py::arg("key"), py::arg("value"), py::arg("lse"), py::arg("dout"), py::arg("mask") = py::none(),
      py::arg("bias") = py::none(), py::arg("scale") = 0.f, py::arg("is_causal") = false, py::arg("dropout") = 0.f,
      py::arg("seed") = 0, py::arg("reference") = false);
}

namespace {
// Operands arrive as ("input", i), ("weight", i) or ("scalar", value); weights as (name, shape, trainable).
std::vector<OpOperand> operands_of(const std::vector<std::pair<std::string, double>>& ops) {
  std::vector<OpOperand> out;
  for (const auto& [kind, v] : ops) {
    if (kind == "input") out.push_back(OpOperand::input(static_cast<int64_t>(v)));
    else if (kind == "weight") out.push_back(OpOperand::weight(static_cast<int64_t>(v)));
    else if (kind == "scalar") out.push_back(OpOperand::scalar(static_cast<float>(v)));
    else throw std::invalid_argument("op operand kind must be input, weight or scalar, got '" + kind + "'");
  }
  return out;
}
std::vector<OpLayer::WeightSpec> weights_of(const std::vector<std::tuple<std::string, Shape, bool, std::string>>& ws) {
  std::vector<OpLayer::WeightSpec> out;
  for (const auto& [name, shape, trainable, variable] : ws) out.push_back({name, shape, trainable, variable});
  return out;
}
}  // namespace

void bind_graph_ops(py::module_& m) {
  using Operands = std::vector<std::pair<std::string, double>>;
  using Weights = std::vector<std::tuple<std::string, Shape, bool, std::string>>;
  py::class_<OpLayer, Layer, std::shared_ptr<OpLayer>>(m, "OpLayer")
      .def_property_readonly("op", &OpLayer::op)
      .def("share_weight",
           [](OpLayer& l, size_t i, const LayerPtr& owner, size_t j) {
             NNC_CHECK(j < owner->params().size(), "share_weight: weight ", j, " out of range");
             l.share_weight(i, owner->params()[j]);
           },
           py::arg("index"), py::arg("owner"), py::arg("owner_index"));
  py::class_<BinaryOpLayer, OpLayer, std::shared_ptr<BinaryOpLayer>>(m, "BinaryOp")
      .def(py::init([](const std::string& op, const Operands& ops, const Weights& ws, const std::string& name) {
             const std::vector<OpOperand> o = operands_of(ops);
             NNC_CHECK(o.size() == 2, "op '", op, "': expected 2 operands, got ", o.size());
             return std::make_shared<BinaryOpLayer>(op, o[0], o[1], weights_of(ws), name);
           }),
           py::arg("op"), py::arg("operands"), py::arg("weights"), py::arg("name") = "");
  py::class_<UnaryOpLayer, OpLayer, std::shared_ptr<UnaryOpLayer>>(m, "UnaryOp")
      .def(py::init<const std::string&, float, float, const std::string&>(), py::arg("op"), py::arg("x_min") = 0.f,
           py::arg("x_max") = 0.f, py::arg("name") = "");
  py::class_<MatMulOpLayer, OpLayer, std::shared_ptr<MatMulOpLayer>>(m, "MatMulOp")
      .def(py::init([](const Operands& ops, const Weights& ws, const std::string& name) {
             const std::vector<OpOperand> o = operands_of(ops);
             NNC_CHECK(o.size() == 2, "op 'matmul': expected 2 operands, got ", o.size());
             return std::make_shared<MatMulOpLayer>(o[0], o[1], weights_of(ws), name);
           }),
           py::arg("operands"), py::arg("weights"), py::arg("name") = "");
  py::class_<DotProductAttentionOp, OpLayer, std::shared_ptr<DotProductAttentionOp>>(m, "DotProductAttentionOp")
      .def(py::init([](const Operands& ops, bool has_mask, bool has_bias, float scale, bool causal, const Weights& ws,
                       const std::string& name) {
             return std::make_shared<DotProductAttentionOp>(operands_of(ops), has_mask, has_bias, scale, causal,
                                                            weights_of(ws), name);
           }),
           py::arg("operands"), py::arg("has_mask"), py::arg("has_bias"), py::arg("scale"), py::arg("is_causal"),
           py::arg("weights"), py::arg("name") = "");
  py::class_<ReduceOpLayer, OpLayer, std::shared_ptr<ReduceOpLayer>>(m, "ReduceOp")
      .def(py::init<const std::string&, std::vector<int64_t>, bool, const std::string&>(), py::arg("op"),
           py::arg("axis"), py::arg("keepdims"), py::arg("name") = "");
  py::class_<TransposeOpLayer, OpLayer, std::shared_ptr<TransposeOpLayer>>(m, "TransposeOp")
      .def(py::init<std::vector<int64_t>, const std::string&>(), py::arg("axes"), py::arg("name") = "");
  py::class_<RandomOpLayer, OpLayer, std::shared_ptr<RandomOpLayer>>(m, "RandomOp")
      .def(py::init<const std::string&, float, float, Shape, const std::string&>(), py::arg("op"), py::arg("a"),
           py::arg("b"), py::arg("shape") = Shape{}, py::arg("name") = "");
  py::class_<SliceOpLayer, OpLayer, std::shared_ptr<SliceOpLayer>>(m, "SliceOp")
      .def(py::init([](const std::vector<std::tuple<bool, int64_t, int64_t, int64_t, bool, bool>>& spec,
                       const std::string& name) {
             // (is_index, start, stop, step, has_start, has_stop) per per-sample axis.
             std::vector<SliceOpLayer::AxisSlice> slices;
             for (const auto& [index, start, stop, step, has_start, has_stop] : spec) {
               SliceOpLayer::AxisSlice s;
               s.index = index;
               s.start = start;
               s.stop = stop;
               s.step = step;
               s.has_start = has_start;
               s.has_stop = has_stop;
               slices.push_back(s);
             }
             return std::make_shared<SliceOpLayer>(slices, name);
           }),
           py::arg("slices"), py::arg("name") = "");
}

void bind_traced(py::module_& m) {
  py::class_<TracedLayer, Layer, std::shared_ptr<TracedLayer>>(m, "TracedLayer")
      .def(py::init([](const std::string& name, const std::string& user_class, const std::string& user_config) {
             return std::make_shared<TracedLayer>(name, user_class, Json::parse(user_config));
           }),
           py::arg("name"), py::arg("user_class"), py::arg("user_config"))
      .def_property_readonly("user_class", &TracedLayer::user_class)
      .def_property_readonly("user_config", [](const TracedLayer& l) { return l.user_config().dump(); })
      .def("set_user_config", [](TracedLayer& l, const std::string& c) { l.set_user_config(Json::parse(c)); })
      .def_property_readonly("traced", &TracedLayer::traced)
      .def_property_readonly("num_variables", &TracedLayer::num_variables)
      .def("add_variable",
           // regularizer: its config (JSON), or "" for none
           [](TracedLayer& l, const std::string& name, const Shape& shape, const Initializer& init, bool trainable,
              const std::string& regularizer) {
             const Regularizer r = regularizer.empty() ? Regularizer{}
                                                       : Regularizer::from_json(Json::parse(regularizer), name);
             return l.add_variable(name, shape, init, trainable, r);
           },
           py::arg("name"), py::arg("shape"), py::arg("initializer"), py::arg("trainable"), py::arg("regularizer") = "")
      // updates: (variable index, "mean" | "sum", "assign" | "add" | "sub") per graph
      .def(
          "set_graphs",
          [](TracedLayer& l, std::shared_ptr<Model> training, std::shared_ptr<Model> inference,
             std::vector<std::pair<std::string, float>> losses,
             const std::vector<std::tuple<size_t, std::string, std::string>>& training_updates,
             const std::vector<std::tuple<size_t, std::string, std::string>>& inference_updates) {
            auto convert = [](const std::vector<std::tuple<size_t, std::string, std::string>>& us) {
              std::vector<VariableUpdate> out;
              for (const auto& [v, reduce, op] : us) out.push_back({v, reduce, op});
              return out;
            };
            l.set_graphs(std::move(training), std::move(inference), std::move(losses), convert(training_updates),
                         convert(inference_updates));
          },
          py::arg("training"), py::arg("inference"), py::arg("losses") = std::vector<std::pair<std::string, float>>{},
          py::arg("training_updates") = std::vector<std::tuple<size_t, std::string, std::string>>{},
          py::arg("inference_updates") = std::vector<std::tuple<size_t, std::string, std::string>>{})
      .def_property_readonly("num_losses", &TracedLayer::num_losses)
      .def("graph", &TracedLayer::graph, py::arg("training"));
}

}  // namespace nncore::bindings

