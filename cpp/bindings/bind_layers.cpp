#include <cmath>
#include <limits>
#include <optional>

#include "convert.hpp"

namespace nncore::bindings {

namespace {
// Keeps a weight's numpy view's layer alive and counts the view in the weight's watch: while any is alive, inference
// reads the weight itself (anything may be written through a view at any time), and when the last goes, what
// inference derived from the weight is derived again (it may have been written).
struct ViewGuard {
  std::shared_ptr<WeightWatch> watch;
  py::object owner;
  ViewGuard(std::shared_ptr<WeightWatch> w, py::object o) : watch(std::move(w)), owner(std::move(o)) {
    watch->views.fetch_add(1, std::memory_order_acq_rel);
  }
  ~ViewGuard() {
    watch->version.store(next_weight_version(), std::memory_order_release);
    watch->views.fetch_sub(1, std::memory_order_acq_rel);
  }
};

py::array value_view(Param& p, py::handle self) {
  auto* guard = new ViewGuard(p.watch, py::reinterpret_borrow<py::object>(self));
  py::capsule base(guard, [](void* g) { delete static_cast<ViewGuard*>(g); });
  return view_numpy(p.value, base);
}

py::list param_views(Layer& l, py::handle self, bool grads) {
  py::list out;
  for (Param& p : l.params()) out.append(grads ? view_numpy(p.grad, self) : value_view(p, self));
  return out;
}

// A Python callable (shape, dtype) -> array as an initializer's fill, called with the GIL held (a layer may be built
// where it was released); its result must have the weight's shape and finite values.
InitializerFill python_fill(py::object fn) {
  std::shared_ptr<py::object> f(new py::object(std::move(fn)), [](py::object* o) {
    py::gil_scoped_acquire gil;
    delete o;
  });
  return [f](Tensor& w, const std::string& where) {
    py::gil_scoped_acquire gil;
    py::tuple shape(static_cast<size_t>(w.ndim()));
    for (int64_t i = 0; i < w.ndim(); ++i) shape[static_cast<size_t>(i)] = w.dim(i);
    py::object r = (*f)(shape, "float32");
    FloatArray a = FloatArray::ensure(r);
    NNC_CHECK(a, where, ": the initializer returned ", std::string(py::str(py::type::of(r).attr("__name__"))),
              ", expected an array of shape ", w.shape_str());
    NNC_CHECK(array_shape(a) == w.shape(), where, ": the initializer returned shape ", shape_str(array_shape(a)),
              ", expected ", w.shape_str());
    const float* src = a.data();
    for (int64_t i = 0; i < w.size(); ++i)
      NNC_CHECK(std::isfinite(src[i]), where, ": the initializer returned NaN or inf");
    std::copy(src, src + w.size(), w.data());
  };
}

void bind_initializers(py::module_& m) {
  py::class_<Initializer>(m, "Initializer")
      .def(py::init<const std::string&>(), py::arg("name"))
      .def_static(
          "from_config",
          [](const std::string& config) { return Initializer::from_json(Json::parse(config), "initializer"); },
          py::arg("config"))
      .def_static(
          "from_function",
          [](py::object fn, const std::string& spec) {
            return Initializer::custom(python_fill(std::move(fn)), Json::parse(spec));
          },
          py::arg("fn"), py::arg("spec"))
      .def("to_config", [](const Initializer& i) { return i.to_json().dump(); })
      .def_property_readonly("class_name", &Initializer::class_name)
      .def(
          "values",
          [](const Initializer& i, const Shape& shape) {
            Tensor t;
            {
              py::gil_scoped_release nogil;  // a user's function takes the GIL back itself
              t = initializer_values(i, shape);
            }
            return to_numpy(t);
          },
          py::arg("shape"));
  py::implicitly_convertible<py::str, Initializer>();
  m.def("initializer_names", &initializer_names);
  m.def("compute_fans", &compute_fans, py::arg("shape"));
  m.def(
      "set_initializer_resolver",
      [](py::object fn) {
        // Held for the life of the process, never released: configs may be read until exit, and a Python object
        // must not be released after the interpreter is gone.
        PyObject* raw = fn.inc_ref().ptr();
        set_initializer_resolver([raw](const Json& spec) -> InitializerFill {
          py::gil_scoped_acquire gil;
          py::object r = py::reinterpret_borrow<py::object>(raw)(spec.dump());
          if (r.is_none()) return {};
          return python_fill(r);
        });
      },
      py::arg("resolver"));
}
}  // namespace

void bind_layers(py::module_& m) {
  bind_initializers(m);
  py::class_<Layer, LayerPtr>(m, "Layer")
      .def_property_readonly("name", &Layer::name)
      .def_property_readonly("class_name", &Layer::class_name)
      .def("build", py::overload_cast<const Shape&>(&Layer::build), py::arg("input_shape"))
      .def("build_list", py::overload_cast<const std::vector<Shape>&>(&Layer::build), py::arg("input_shapes"))
      .def("output_shapes_for", &Layer::output_shapes_for, py::arg("input_shapes"))
      .def_property_readonly("built", &Layer::built)
      .def_property_readonly("input_shape", &Layer::input_shape)
      .def_property_readonly("output_shape", &Layer::output_shape)
      .def_property_readonly("input_shapes", &Layer::input_shapes)
      .def_property_readonly("output_shapes", &Layer::output_shapes)
      .def_property_readonly("num_outputs", &Layer::num_outputs)
      .def_property("trainable", &Layer::trainable, &Layer::set_trainable)
      .def("count_params", &Layer::count_params)
      .def_property_readonly("output_activation", [](const Layer& l) { return activation_name(l.output_activation()); })
      .def_property_readonly("weight_names",
                             [](Layer& l) {
                               std::vector<std::string> n;
                               for (const Param& p : l.params()) n.push_back(p.name);
                               return n;
                             })
      .def_property_readonly("weight_regularizers",
                             [](Layer& l) {
                               std::vector<std::pair<float, float>> r;
                               for (const Param& p : l.params()) r.emplace_back(p.regularizer.l1, p.regularizer.l2);
                               return r;
                             })
      .def_property_readonly("weight_regularizer_configs",
                             [](Layer& l) {
                               std::vector<std::optional<std::string>> r;
                               for (const Param& p : l.params())
                                 r.push_back(p.regularizer.active() ? std::optional<std::string>(
                                                                          p.regularizer.to_json().dump())
                                                                    : std::nullopt);
                               return r;
                             })
      .def_property_readonly("weight_trainable",
                             [](Layer& l) {
                               std::vector<bool> t;
                               for (const Param& p : l.params()) t.push_back(p.trainable);
                               return t;
                             })
      .def_property_readonly("weight_int8",
                             [](Layer& l) {
                               std::vector<bool> t;
                               for (const Param& p : l.params()) t.push_back(p.int8);
                               return t;
                             })
      .def("quantize", &Layer::quantize, py::arg("mode"), py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("quantized", &Layer::quantized)
      .def_property_readonly("quantizable", &Layer::quantizable)
      .def("refresh_quantized", &Layer::refresh_quantized)
      .def_property_readonly("weights", [](py::object self) { return param_views(self.cast<Layer&>(), self, false); })
      .def_property_readonly("gradients", [](py::object self) { return param_views(self.cast<Layer&>(), self, true); })
      .def("weight_view",
           [](py::object self, size_t i) {
             // One weight's view (weights makes them all, and the ones then dropped count as written).
             Layer& l = self.cast<Layer&>();
             if (i >= l.params().size()) throw py::index_error("weight " + std::to_string(i) + " out of range");
             return value_view(l.params()[i], self);
           })
      .def_property_readonly("weight_keys",
                             [](Layer& l) {
                               // (address, shape) per weight, without views: what a cached view is checked against.
                               py::list out;
                               for (const Param& p : l.params()) {
                                 py::tuple shape(static_cast<size_t>(p.value.ndim()));
                                 for (int64_t d = 0; d < p.value.ndim(); ++d) shape[static_cast<size_t>(d)] = p.value.dim(d);
                                 out.append(py::make_tuple(reinterpret_cast<uintptr_t>(p.value.data()), shape));
                               }
                               return out;
                             })
      .def("weight_copies",
           [](Layer& l) {
             // Copies without views: reading the weights leaves what inference derived from them in place.
             py::list out;
             for (const Param& p : l.params()) out.append(to_numpy(p.value.clone()));
             return out;
           })
      .def_property_readonly("output_mask",
                             [](Layer& l) -> py::object {
                               // The mask after the last forward on the layer's own call (a copy), or None.
                               if (!l.built()) return py::none();
                               const LayerCall& c = l.own_call();
                               if (!c.has_forward()) return py::none();
                               const Tensor* mask = l.output_mask(c, 0);
                               if (mask == nullptr || mask->empty()) return py::none();
                               return to_numpy(mask->clone());
                             })
      .def("zero_grad", &Layer::zero_grad)
      .def(
          "set_regularizer",
          [](Layer& l, const std::string& weight, float l1, float l2) { l.set_regularizer(weight, Regularizer{l1, l2}); },
          py::arg("weight_name"), py::arg("l1"), py::arg("l2"))
      .def(
          "set_regularizer_config",
          [](Layer& l, const std::string& weight, const std::string& config) {
            l.set_regularizer(weight, Regularizer::from_json(Json::parse(config), weight + "_regularizer"));
          },
          py::arg("weight_name"), py::arg("config"))
      .def(
          "forward",
          [](Layer& l, FloatArray x, bool training) {
            // The layer keeps its input until backward, so it gets its own copy of the caller's array.
            Tensor owned = view_of(x).clone();
            Tensor out;
            {
              py::gil_scoped_release nogil;
              out = l.forward(owned, training).clone();
            }
            return to_numpy(out);
          },
          py::arg("x"), py::arg("training") = false)
      .def(
          "backward",
          [](Layer& l, FloatArray dy, bool need_dx) {
            Tensor tdy = view_of(dy), dx;
            {
              py::gil_scoped_release nogil;
              dx = l.backward(tdy, need_dx).clone();
            }
            return to_numpy(dx);
          },
          py::arg("dy"), py::arg("need_dx") = true)
      .def(
          "forward_list",
          [](Layer& l, std::vector<FloatArray> xs, bool training) {
            // The call keeps its inputs until backward, so it gets its own copies of the caller's arrays.
            std::vector<Tensor> owned;
            for (FloatArray& a : xs) owned.push_back(view_of(a).clone());
            std::vector<const Tensor*> ptrs;
            for (const Tensor& t : owned) ptrs.push_back(&t);
            std::vector<Tensor> outs;
            {
              py::gil_scoped_release nogil;
              for (const Tensor* y : l.forward(ptrs, training)) outs.push_back(y->clone());
            }
            py::list out;
            for (const Tensor& y : outs) out.append(to_numpy(y));
            return out;
          },
          py::arg("xs"), py::arg("training") = false)
      .def(
          "backward_list",
          [](Layer& l, std::vector<std::optional<FloatArray>> dys, bool need_dx) {
            // None: no gradient reached that output (zeros).
            std::vector<Tensor> views;
            for (auto& d : dys) views.push_back(d ? view_of(*d) : Tensor());
            std::vector<const Tensor*> ptrs;
            for (size_t j = 0; j < dys.size(); ++j) ptrs.push_back(dys[j] ? &views[j] : nullptr);
            std::vector<Tensor> dxs;
            std::vector<bool> present;
            {
              py::gil_scoped_release nogil;
              for (const Tensor* d : l.backward(ptrs, need_dx)) {
                present.push_back(d != nullptr);
                dxs.push_back(d ? d->clone() : Tensor());
              }
            }
            py::list out;
            for (size_t i = 0; i < dxs.size(); ++i) out.append(present[i] ? py::object(to_numpy(dxs[i])) : py::none());
            return out;
          },
          py::arg("dys"), py::arg("need_dx") = true);

  py::class_<Dense, Layer, std::shared_ptr<Dense>>(m, "Dense")
      .def(py::init<int64_t, const std::string&, bool, const Initializer&, const Initializer&, const std::string&>(),
           py::arg("units"), py::arg("activation") = "linear", py::arg("use_bias") = true,
           py::arg("kernel_initializer") = "glorot_uniform", py::arg("bias_initializer") = "zeros",
           py::arg("name") = "")
      .def_property_readonly("units", &Dense::units)
      .def_property_readonly("use_bias", &Dense::use_bias)
      .def_property_readonly("inference_packs", &Dense::inference_packs);
  py::class_<MultiHeadAttention, Layer, std::shared_ptr<MultiHeadAttention>>(m, "MultiHeadAttention")
      .def(py::init([](int64_t num_heads, int64_t key_dim, int64_t value_dim, float dropout, bool use_bias,
                       int64_t output_dim, const Initializer& kernel_initializer, const Initializer& bias_initializer,
                       int64_t seed, const std::string& name) {
             MultiHeadAttention::Options o;
             o.num_heads = num_heads;
             o.key_dim = key_dim;
             o.value_dim = value_dim;
             o.dropout = dropout;
             o.use_bias = use_bias;
             o.output_dim = output_dim;
             o.kernel_initializer = kernel_initializer;
             o.bias_initializer = bias_initializer;
             o.seed = seed;
             return std::make_shared<MultiHeadAttention>(o, name);
           }),
           py::arg("num_heads"), py::arg("key_dim"), py::arg("value_dim") = 0, py::arg("dropout") = 0.f,
           py::arg("use_bias") = true, py::arg("output_dim") = 0, py::arg("kernel_initializer") = "glorot_uniform",
           py::arg("bias_initializer") = "zeros", py::arg("seed") = -1, py::arg("name") = "")
      .def("set_call_options", &MultiHeadAttention::set_call_options, py::arg("use_causal_mask"),
           py::arg("return_attention_scores"))
      .def_property_readonly("use_causal_mask", &MultiHeadAttention::causal)
      .def_property_readonly("return_attention_scores", &MultiHeadAttention::return_scores)
      .def_property_readonly("num_heads", [](const MultiHeadAttention& l) { return l.options().num_heads; })
      .def_property_readonly("key_dim", [](const MultiHeadAttention& l) { return l.options().key_dim; })
      .def_property_readonly("value_dim", [](const MultiHeadAttention& l) {
        return l.options().value_dim > 0 ? l.options().value_dim : l.options().key_dim;
      })
      .def_property_readonly("dropout", [](const MultiHeadAttention& l) { return l.options().dropout; });
  py::class_<ActivationLayer, Layer, std::shared_ptr<ActivationLayer>>(m, "Activation")
      .def(py::init<const std::string&, const std::string&>(), py::arg("activation"), py::arg("name") = "");
  py::class_<Reshape, Layer, std::shared_ptr<Reshape>>(m, "Reshape")
      .def(py::init<Shape, const std::string&>(), py::arg("target_shape"), py::arg("name"))
      .def_property_readonly("target_shape", &Reshape::target_shape);
  py::class_<Flatten, Reshape, std::shared_ptr<Flatten>>(m, "Flatten")
      .def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<Dropout, Layer, std::shared_ptr<Dropout>>(m, "Dropout")
      .def(py::init<float, const std::string&>(), py::arg("rate"), py::arg("name") = "")
      .def_property_readonly("rate", &Dropout::rate);
  py::class_<SpatialDropout2D, Layer, std::shared_ptr<SpatialDropout2D>>(m, "SpatialDropout2D")
      .def(py::init<float, const std::string&>(), py::arg("rate"), py::arg("name") = "")
      .def_property_readonly("rate", &SpatialDropout2D::rate);
  py::class_<RepeatVector, Layer, std::shared_ptr<RepeatVector>>(m, "RepeatVector")
      .def(py::init<int64_t, const std::string&>(), py::arg("n"), py::arg("name") = "")
      .def_property_readonly("n", &RepeatVector::n);
  py::class_<Permute, Layer, std::shared_ptr<Permute>>(m, "Permute")
      .def(py::init<std::vector<int64_t>, const std::string&>(), py::arg("dims"), py::arg("name") = "")
      .def_property_readonly("dims", &Permute::dims);
  py::class_<Rescaling, Layer, std::shared_ptr<Rescaling>>(m, "Rescaling")
      .def(py::init<float, float, const std::string&>(), py::arg("scale"), py::arg("offset") = 0.f,
           py::arg("name") = "")
      .def_property_readonly("scale", &Rescaling::scale)
      .def_property_readonly("offset", &Rescaling::offset);
  // seed: None or an int >= 0 (the layer's own generator instead of one from the global seed stream).
  const auto seed_of = [](const Layer&, int64_t s) -> py::object { return s < 0 ? py::object(py::none()) : py::int_(s); };
  py::class_<GaussianNoise, Layer, std::shared_ptr<GaussianNoise>>(m, "GaussianNoise")
      .def(py::init([](float stddev, std::optional<int64_t> seed, const std::string& name) {
             return std::make_shared<GaussianNoise>(stddev, seed ? *seed : -1, name);
           }),
           py::arg("stddev"), py::arg("seed") = py::none(), py::arg("name") = "")
      .def_property_readonly("stddev", &GaussianNoise::stddev)
      .def_property_readonly("seed", [seed_of](const GaussianNoise& l) { return seed_of(l, l.seed()); });
  py::class_<GaussianDropout, Layer, std::shared_ptr<GaussianDropout>>(m, "GaussianDropout")
      .def(py::init([](float rate, std::optional<int64_t> seed, const std::string& name) {
             return std::make_shared<GaussianDropout>(rate, seed ? *seed : -1, name);
           }),
           py::arg("rate"), py::arg("seed") = py::none(), py::arg("name") = "")
      .def_property_readonly("rate", &GaussianDropout::rate)
      .def_property_readonly("seed", [seed_of](const GaussianDropout& l) { return seed_of(l, l.seed()); });
  py::class_<ActivityRegularization, Layer, std::shared_ptr<ActivityRegularization>>(m, "ActivityRegularization")
      .def(py::init<float, float, const std::string&>(), py::arg("l1") = 0.f, py::arg("l2") = 0.f,
           py::arg("name") = "")
      .def_property_readonly("l1", &ActivityRegularization::l1)
      .def_property_readonly("l2", &ActivityRegularization::l2);
  py::class_<Masking, Layer, std::shared_ptr<Masking>>(m, "Masking")
      .def(py::init<double, const std::string&>(), py::arg("mask_value") = 0.0, py::arg("name") = "")
      .def_property_readonly("mask_value", &Masking::mask_value);

  // Activation layers with arguments (activation.hpp).
  py::class_<ReLU, Layer, std::shared_ptr<ReLU>>(m, "ReLU")
      .def(py::init([](std::optional<float> max_value, float negative_slope, float threshold, const std::string& name) {
             return std::make_shared<ReLU>(max_value ? *max_value : std::numeric_limits<float>::infinity(),
                                           negative_slope, threshold, name);
           }),
           py::arg("max_value") = py::none(), py::arg("negative_slope") = 0.f, py::arg("threshold") = 0.f,
           py::arg("name") = "")
      .def_property_readonly("max_value",
                             [](const ReLU& l) -> py::object {
                               if (std::isinf(l.max_value())) return py::none();
                               return py::float_(l.max_value());
                             })
      .def_property_readonly("negative_slope", &ReLU::negative_slope)
      .def_property_readonly("threshold", &ReLU::threshold);
  py::class_<LeakyReLU, ActivationLayer, std::shared_ptr<LeakyReLU>>(m, "LeakyReLU")
      .def(py::init<float, const std::string&>(), py::arg("negative_slope") = 0.3f, py::arg("name") = "")
      .def_property_readonly("negative_slope", &LeakyReLU::negative_slope);
  py::class_<ELU, ActivationLayer, std::shared_ptr<ELU>>(m, "ELU")
      .def(py::init<float, const std::string&>(), py::arg("alpha") = 1.f, py::arg("name") = "")
      .def_property_readonly("alpha", &ELU::alpha);
  py::class_<Softmax, ActivationLayer, std::shared_ptr<Softmax>>(m, "Softmax")
      .def(py::init<int64_t, const std::string&>(), py::arg("axis") = -1, py::arg("name") = "")
      .def_property_readonly("axis", &Softmax::axis);
  py::class_<PReLU, Layer, std::shared_ptr<PReLU>>(m, "PReLU")
      .def(py::init<const Initializer&, std::vector<int64_t>, const std::string&>(),
           py::arg("alpha_initializer") = "zeros", py::arg("shared_axes") = std::vector<int64_t>{}, py::arg("name") = "")
      .def_property_readonly("alpha_initializer", [](const PReLU& l) { return l.alpha_initializer().to_json().dump(); })
      .def_property_readonly("shared_axes", &PReLU::shared_axes);

}

}  // namespace nncore::bindings
