#include "convert.hpp"

namespace nncore::bindings {

void bind_sequence(py::module_& m) {
  py::class_<Embedding, Layer, std::shared_ptr<Embedding>>(m, "Embedding")
      .def(py::init<int64_t, int64_t, const std::string&, bool, int64_t, const std::string&>(), py::arg("input_dim"),
           py::arg("output_dim"), py::arg("embeddings_initializer") = "uniform", py::arg("mask_zero") = false,
           py::arg("input_length") = 0, py::arg("name") = "")
      .def_property_readonly("input_dim", &Embedding::input_dim)
      .def_property_readonly("output_dim", &Embedding::output_dim)
      .def_property_readonly("mask_zero", &Embedding::mask_zero)
      .def_property_readonly("input_length", &Embedding::input_length)
      .def_property_readonly("embeddings_initializer", &Embedding::embeddings_initializer);
}

}  // namespace nncore::bindings
