// Metrics for Python: the built-in ones (made from Keras's class names and configs) with their state in a numpy
// array the Python object owns, and Python Metric subclasses wrapped so the C++ loop can feed them.
#include "convert.hpp"

namespace nncore::bindings {

namespace {
// A Python object with _nncore_reset(), _nncore_update(y_true, y_pred, sample_weight) and _nncore_result() (see
// nncore.metrics.Metric), called from the training loop's thread with the GIL taken.
class PyMetric final : public ExternalMetric {
 public:
  explicit PyMetric(py::object obj)
      : obj_(new py::object(std::move(obj)), [](py::object* o) {
          py::gil_scoped_acquire gil;
          delete o;
        }) {}
  void reset() override {
    py::gil_scoped_acquire gil;
    obj_->attr("_nncore_reset")();
  }
  void update(const float* pred, const Tensor& y, int64_t B, const Shape& out, const float* weight) override {
    py::gil_scoped_acquire gil;
    std::vector<py::ssize_t> shape{B};
    shape.insert(shape.end(), out.begin(), out.end());
    py::array_t<float> p(shape, pred);  // copies: the loop reuses its buffers
    std::vector<py::ssize_t> yshape(y.shape().begin(), y.shape().end());
    py::array_t<float> t(yshape, y.data());
    py::object w = py::none();
    if (weight != nullptr) w = py::array_t<float>(std::vector<py::ssize_t>{B}, weight);
    obj_->attr("_nncore_update")(t, p, w);
  }
  double result() override {
    py::gil_scoped_acquire gil;
    return obj_->attr("_nncore_result")().cast<double>();
  }

 private:
  std::shared_ptr<py::object> obj_;
};

double* state_of(py::array_t<double, py::array::c_style>& state, const Metric& m, const Shape& out) {
  NNC_CHECK(static_cast<size_t>(state.size()) == m.state_size(out), "metric '", m.name(), "': state of ",
            state.size(), " values, expected ", m.state_size(out));
  return state.mutable_data();
}
}  // namespace

// A loss given from Python: (name, from_logits[, label_smoothing[, batch_sum]]), (None,) for none, or (graph, name, batch_sum)
// for a traced function.
Loss loss_from_tuple(const py::tuple& l) {
  if (l.size() == 1) return Loss::none();
  if (!py::isinstance<py::str>(l[0]))
    return Loss::custom(l[0].cast<std::shared_ptr<Model>>(), l[1].cast<std::string>(), l[2].cast<bool>());
  Loss loss = Loss::from_name(l[0].cast<std::string>(), l[1].cast<bool>());
  if (l.size() > 2) loss.with_label_smoothing(l[2].cast<float>());
  if (l.size() > 3) loss.with_batch_sum(l[3].cast<bool>());
  return loss;
}

void bind_metrics(py::module_& m) {
  m.def("metric_names", &Metric::names);
  m.def("metric_class_names", &Metric::class_names);
  py::class_<Metric>(m, "Metric")
      // spec: JSON text ({"class_name", "config"} or a name); outside compile no loss constrains the targets.
      .def_static(
          "from_config", [](const std::string& spec) { return Metric::from_config(Json::parse(spec), Loss::none()); },
          py::arg("spec"))
      .def_static(
          "from_loss",
          [](const py::tuple& loss, const std::string& name, bool root, bool weighted) {
            Metric mt = Metric::from_loss(loss_from_tuple(loss), name, root);
            mt.set_weighted(weighted);
            return mt;
          },
          py::arg("loss"), py::arg("name"), py::arg("root") = false, py::arg("weighted") = false)
      .def_static(
          "external",
          [](py::object obj, const std::string& name, const std::string& config, bool weighted) {
            Metric mt = Metric::external(std::make_shared<PyMetric>(std::move(obj)), name,
                                         config.empty() ? Json() : Json::parse(config));
            mt.set_weighted(weighted);
            return mt;
          },
          py::arg("metric"), py::arg("name"), py::arg("config") = "", py::arg("weighted") = false)
      .def_property_readonly("name", &Metric::name)
      .def_property("weighted", &Metric::weighted, &Metric::set_weighted)
      .def_property_readonly("config", [](const Metric& s) { return s.config().dump(); })
      .def("state_size", &Metric::state_size, py::arg("out_shape"))
      .def("result_size", &Metric::result_size, py::arg("out_shape"))
      .def(
          "update",
          [](const Metric& s, py::array_t<double, py::array::c_style> state, FloatArray y_true, FloatArray y_pred,
             std::optional<FloatArray> weight) {
            NNC_CHECK(y_pred.ndim() >= 1, "metric '", s.name(), "': y_pred needs a batch axis, got a scalar");
            const int64_t B = y_pred.shape(0);
            const Shape full = array_shape(y_pred);
            Shape out(full.begin() + 1, full.end());
            if (out.empty()) out = {1};
            Tensor y = view_of(y_true);
            const float* w = nullptr;
            if (weight) {
              NNC_CHECK(weight->size() == B, "metric '", s.name(), "': sample_weight must have one weight per sample (",
                        B, "), got ", weight->size());
              w = weight->data();
            }
            double* st = state_of(state, s, out);
            Metric copy = s;  // weights are read by weighted metrics; standalone update_state always applies them
            copy.set_weighted(true);
            py::gil_scoped_release nogil;
            copy.update(st, y_pred.data(), y, B, out, w);
          },
          py::arg("state"), py::arg("y_true"), py::arg("y_pred"), py::arg("sample_weight") = py::none())
      .def(
          "result",
          [](const Metric& s, py::array_t<double, py::array::c_style> state, const Shape& out_shape) {
            const Shape out = out_shape.empty() ? Shape{1} : out_shape;
            std::vector<double> v(s.result_size(out));
            s.result(state_of(state, s, out), out, v.data());
            return v;
          },
          py::arg("state"), py::arg("out_shape"));
}

}  // namespace nncore::bindings
