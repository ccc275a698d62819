#include "convert.hpp"

namespace nncore::bindings {

void bind_merge(py::module_& m) {
  // The list forms (forward_list, backward_list) are Layer's.
  py::class_<MergeLayer, Layer, std::shared_ptr<MergeLayer>>(m, "MergeLayer");
  py::class_<Add, MergeLayer, std::shared_ptr<Add>>(m, "Add").def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<Subtract, MergeLayer, std::shared_ptr<Subtract>>(m, "Subtract")
      .def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<Multiply, MergeLayer, std::shared_ptr<Multiply>>(m, "Multiply")
      .def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<Average, MergeLayer, std::shared_ptr<Average>>(m, "Average")
      .def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<Maximum, MergeLayer, std::shared_ptr<Maximum>>(m, "Maximum")
      .def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<Minimum, MergeLayer, std::shared_ptr<Minimum>>(m, "Minimum")
      .def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<Concatenate, MergeLayer, std::shared_ptr<Concatenate>>(m, "Concatenate")
      .def(py::init<int64_t, const std::string&>(), py::arg("axis") = -1, py::arg("name") = "")
      .def_property_readonly("axis", &Concatenate::axis);
  py::class_<Dot, MergeLayer, std::shared_ptr<Dot>>(m, "Dot")
      .def(py::init<int64_t, bool, const std::string&>(), py::arg("axes"), py::arg("normalize") = false,
           py::arg("name") = "")
      .def(py::init<std::array<int64_t, 2>, bool, const std::string&>(), py::arg("axes"), py::arg("normalize") = false,
           py::arg("name") = "")
      .def_property_readonly("axes",
                             [](const Dot& l) -> py::object {
                               if (l.single_axis()) return py::int_(l.axes()[0]);
                               return py::make_tuple(l.axes()[0], l.axes()[1]);
                             })
      .def_property_readonly("normalize", &Dot::normalize);
}

}  // namespace nncore::bindings
