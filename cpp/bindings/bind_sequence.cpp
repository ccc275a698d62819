#include "convert.hpp"

namespace nncore::bindings {

void bind_sequence(py::module_& m) {
  py::class_<Embedding, Layer, std::shared_ptr<Embedding>>(m, "Embedding")
      .def(py::init<int64_t, int64_t, const Initializer&, bool, int64_t, const std::string&>(), py::arg("input_dim"),
           py::arg("output_dim"), py::arg("embeddings_initializer") = "uniform", py::arg("mask_zero") = false,
           py::arg("input_length") = 0, py::arg("name") = "")
      .def_property_readonly("input_dim", &Embedding::input_dim)
      .def_property_readonly("output_dim", &Embedding::output_dim)
      .def_property_readonly("mask_zero", &Embedding::mask_zero)
      .def_property_readonly("input_length", &Embedding::input_length)
      .def_property_readonly("embeddings_initializer",
                             [](const Embedding& l) { return l.embeddings_initializer().to_json().dump(); });
  py::class_<Conv1D, Layer, std::shared_ptr<Conv1D>>(m, "Conv1D")
      .def(py::init<int64_t, int64_t, int64_t, const std::string&, int64_t, const std::string&, bool,
                    const Initializer&, const Initializer&, const std::string&, int64_t>(),
           py::arg("filters"), py::arg("kernel_size"), py::arg("strides") = 1, py::arg("padding") = "valid",
           py::arg("dilation_rate") = 1, py::arg("activation") = "linear", py::arg("use_bias") = true,
           py::arg("kernel_initializer") = "glorot_uniform", py::arg("bias_initializer") = "zeros",
           py::arg("name") = "", py::arg("groups") = 1)
      .def_property_readonly("groups", &Conv1D::groups)
      .def_property_readonly("filters", &Conv1D::filters)
      .def_property_readonly("kernel_size", &Conv1D::kernel_size)
      .def_property_readonly("strides", &Conv1D::strides)
      .def_property_readonly("padding", &Conv1D::padding)
      .def_property_readonly("dilation_rate", &Conv1D::dilation_rate)
      .def_property_readonly("use_bias", &Conv1D::use_bias);
  py::class_<Conv1DTranspose, Layer, std::shared_ptr<Conv1DTranspose>>(m, "Conv1DTranspose")
      .def(py::init<int64_t, int64_t, int64_t, const std::string&, int64_t, int64_t, const std::string&, bool,
                    const Initializer&, const Initializer&, const std::string&>(),
           py::arg("filters"), py::arg("kernel_size"), py::arg("strides") = 1, py::arg("padding") = "valid",
           py::arg("output_padding") = -1, py::arg("dilation_rate") = 1, py::arg("activation") = "linear",
           py::arg("use_bias") = true, py::arg("kernel_initializer") = "glorot_uniform",
           py::arg("bias_initializer") = "zeros", py::arg("name") = "")
      .def_property_readonly("filters", &Conv1DTranspose::filters)
      .def_property_readonly("kernel_size", &Conv1DTranspose::kernel_size)
      .def_property_readonly("strides", &Conv1DTranspose::strides)
      .def_property_readonly("padding", &Conv1DTranspose::padding)
      .def_property_readonly("output_padding",
                             [](const Conv1DTranspose& l) -> py::object {
                               if (!l.has_output_padding()) return py::none();
                               return py::int_(l.output_padding());
                             })
      .def_property_readonly("dilation_rate", &Conv1DTranspose::dilation_rate)
      .def_property_readonly("use_bias", &Conv1DTranspose::use_bias);
  py::class_<UpSampling1D, Layer, std::shared_ptr<UpSampling1D>>(m, "UpSampling1D")
      .def(py::init<int64_t, const std::string&>(), py::arg("size") = 2, py::arg("name") = "")
      .def_property_readonly("size", &UpSampling1D::size);
  py::class_<Cropping1D, Cropping2D, std::shared_ptr<Cropping1D>>(m, "Cropping1D")
      .def(py::init<Pair, const std::string&>(), py::arg("cropping") = Pair{1, 1}, py::arg("name") = "")
      .def_property_readonly("cropping", &Cropping1D::cropping);
  py::class_<Pooling1D, Layer, std::shared_ptr<Pooling1D>>(m, "Pooling1D")
      .def_property_readonly("pool_size", &Pooling1D::pool_size)
      .def_property_readonly("strides", &Pooling1D::strides)
      .def_property_readonly("padding", &Pooling1D::padding);
  py::class_<MaxPooling1D, Pooling1D, std::shared_ptr<MaxPooling1D>>(m, "MaxPooling1D")
      .def(py::init<int64_t, int64_t, const std::string&, const std::string&>(), py::arg("pool_size") = 2,
           py::arg("strides") = 0, py::arg("padding") = "valid", py::arg("name") = "");
  py::class_<AveragePooling1D, Pooling1D, std::shared_ptr<AveragePooling1D>>(m, "AveragePooling1D")
      .def(py::init<int64_t, int64_t, const std::string&, const std::string&>(), py::arg("pool_size") = 2,
           py::arg("strides") = 0, py::arg("padding") = "valid", py::arg("name") = "");
  py::class_<GlobalAveragePooling1D, Layer, std::shared_ptr<GlobalAveragePooling1D>>(m, "GlobalAveragePooling1D")
      .def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<GlobalMaxPooling1D, Layer, std::shared_ptr<GlobalMaxPooling1D>>(m, "GlobalMaxPooling1D")
      .def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<TimeDistributed, Layer, std::shared_ptr<TimeDistributed>>(m, "TimeDistributed")
      .def(py::init<LayerPtr, const std::string&>(), py::arg("layer"), py::arg("name") = "")
      .def_property_readonly("layer", &TimeDistributed::layer);
}

}  // namespace nncore::bindings
