#include "convert.hpp"

namespace nncore::bindings {

void bind_io(py::module_& m) {
  py::register_exception<ModelFileError>(m, "ModelFileError", PyExc_ValueError);
  m.def(
      "save_model",
      [](Model& s, const std::string& path, bool include_optimizer) {
        py::gil_scoped_release nogil;
        save_model(s, path, include_optimizer);
      },
      py::arg("model"), py::arg("path"), py::arg("include_optimizer") = true);
  m.def(
      "load_model",
      [](const std::string& path, bool compile) {
        std::unique_ptr<Model> s;
        {
          py::gil_scoped_release nogil;
          s = load_model(path, compile);
        }
        return std::shared_ptr<Model>(std::move(s));
      },
      py::arg("path"), py::arg("compile") = true);
  m.def(
      "save_weights",
      [](Model& s, const std::string& path) {
        py::gil_scoped_release nogil;
        save_weights(s, path);
      },
      py::arg("model"), py::arg("path"));
  m.def(
      "load_weights",
      [](Model& s, const std::string& path, bool by_name) {
        py::gil_scoped_release nogil;
        load_weights(s, path, by_name);
      },
      py::arg("model"), py::arg("path"), py::arg("by_name") = true);
  m.def(
      "load_optimizer_state",
      [](Model& s, const std::string& path) {
        py::gil_scoped_release nogil;
        load_optimizer_state(s, path);
      },
      py::arg("model"), py::arg("path"));
  m.def("model_config", [](const Model& s) { return model_config(s).dump(); }, py::arg("model"));
  m.def(
      "model_from_config", [](const std::string& json) { return std::shared_ptr<Model>(model_from_config(Json::parse(json))); },
      py::arg("config"));
  m.def("layer_config", [](const Layer& l) { return l.config().dump(); }, py::arg("layer"));
  m.def("layer_from_config", [](const std::string& json) { return layer_from_config(Json::parse(json)); }, py::arg("spec"));
  m.def("layer_class_names", &layer_class_names);
  m.def("optimizer_config", [](const Optimizer& o) { return optimizer_spec(o).dump(); }, py::arg("optimizer"));
  m.def(
      "optimizer_from_config", [](const std::string& json) { return optimizer_from_config(Json::parse(json)); },
      py::arg("spec"));
}

}  // namespace nncore::bindings
