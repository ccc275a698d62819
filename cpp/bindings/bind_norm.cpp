#include "convert.hpp"

namespace nncore::bindings {

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
}

}  // namespace nncore::bindings
