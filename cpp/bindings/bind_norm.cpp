#include <optional>

#include "convert.hpp"

namespace nncore::bindings {

namespace {
// A float64 array (any shape, a number for shape ()) as the values a layer keeps; None: none.
std::optional<ArrayValues> values_of(const py::object& v) {
  if (v.is_none()) return std::nullopt;
  auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(v);
  if (!a) throw py::type_error("expected a number or an array of numbers");
  ArrayValues out;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) out.shape.push_back(a.shape(i));
  out.values.assign(a.data(), a.data() + a.size());
  return out;
}

py::object values_array(const std::optional<ArrayValues>& v) {
  if (!v) return py::none();
  std::vector<py::ssize_t> shape(v->shape.begin(), v->shape.end());
  py::array_t<double> a(shape);
  std::copy(v->values.begin(), v->values.end(), a.mutable_data());
  return std::move(a);
}
}  // namespace

void bind_norm(py::module_& m) {
  py::class_<BatchNormalization, Layer, std::shared_ptr<BatchNormalization>>(m, "BatchNormalization")
      .def(py::init<int64_t, float, float, bool, bool, const Initializer&, const Initializer&, const Initializer&,
                    const Initializer&, const std::string&>(),
           py::arg("axis") = -1, py::arg("momentum") = 0.99f, py::arg("epsilon") = 1e-3f, py::arg("center") = true,
           py::arg("scale") = true, py::arg("beta_initializer") = "zeros", py::arg("gamma_initializer") = "ones",
           py::arg("moving_mean_initializer") = "zeros", py::arg("moving_variance_initializer") = "ones",
           py::arg("name") = "")
      .def_property_readonly("axis", &BatchNormalization::axis)
      .def_property_readonly("momentum", &BatchNormalization::momentum)
      .def_property_readonly("epsilon", &BatchNormalization::epsilon)
      .def_property_readonly("center", &BatchNormalization::center)
      .def_property_readonly("scale", &BatchNormalization::scale);
  py::class_<LayerNormalization, Layer, std::shared_ptr<LayerNormalization>>(m, "LayerNormalization")
      .def(py::init<int64_t, float, bool, bool, const Initializer&, const Initializer&, const std::string&>(),
           py::arg("axis") = -1, py::arg("epsilon") = 1e-3f, py::arg("center") = true, py::arg("scale") = true,
           py::arg("beta_initializer") = "zeros", py::arg("gamma_initializer") = "ones", py::arg("name") = "")
      .def_property_readonly("axis", &LayerNormalization::axis)
      .def_property_readonly("epsilon", &LayerNormalization::epsilon)
      .def_property_readonly("center", &LayerNormalization::center)
      .def_property_readonly("scale", &LayerNormalization::scale);
  py::class_<Normalization, Layer, std::shared_ptr<Normalization>>(m, "Normalization")
      .def(py::init([](std::vector<int64_t> axis, const py::object& mean, const py::object& variance, bool invert,
                       const std::string& name) {
             return std::make_shared<Normalization>(std::move(axis), values_of(mean), values_of(variance), invert, name);
           }),
           py::arg("axis") = std::vector<int64_t>{-1}, py::arg("mean") = py::none(), py::arg("variance") = py::none(),
           py::arg("invert") = false, py::arg("name") = "")
      .def_property_readonly("axis", &Normalization::axis)
      .def_property_readonly("invert", &Normalization::invert)
      .def_property_readonly("given_mean", [](const Normalization& l) { return values_array(l.given_mean()); })
      .def_property_readonly("given_variance", [](const Normalization& l) { return values_array(l.given_variance()); })
      .def_property_readonly("kept_axes", &Normalization::kept_axes)
      .def_property_readonly("mean_values", [](const Normalization& l) { return to_numpy(l.mean()); })
      .def_property_readonly("variance_values", [](const Normalization& l) { return to_numpy(l.variance()); })
      .def_property_readonly("adapted_count", &Normalization::adapted_count)
      .def("reset_state", &Normalization::reset_state)
      .def(
          "update_state",
          [](Normalization& l, FloatArray batch) {
            Tensor t = view_of(batch);
            py::gil_scoped_release nogil;
            l.update_state(t);
          },
          py::arg("batch"))
      .def("finalize_state", &Normalization::finalize_state);
}

}  // namespace nncore::bindings
