#include "convert.hpp"

namespace nncore::bindings {

void bind_merge(py::module_& m) {
  py::class_<MergeLayer, Layer, std::shared_ptr<MergeLayer>>(m, "MergeLayer")
      .def("build_merge", &MergeLayer::build_merge, py::arg("input_shapes"))
      .def(
          "forward_multi",
          [](MergeLayer& l, std::vector<FloatArray> xs, bool training) {
            // The layer keeps its inputs until backward, so it gets its own copies of the caller's arrays.
            std::vector<Tensor> owned;
            for (FloatArray& a : xs) owned.push_back(view_of(a).clone());
            std::vector<const Tensor*> ptrs;
            for (const Tensor& t : owned) ptrs.push_back(&t);
            Tensor out;
            {
              py::gil_scoped_release nogil;
              out = l.forward_multi(ptrs, training).clone();
            }
            return to_numpy(out);
          },
          py::arg("xs"), py::arg("training") = false)
      .def(
          "backward_multi",
          [](MergeLayer& l, FloatArray dy) {
            Tensor tdy = view_of(dy);
            std::vector<Tensor> dxs;
            {
              py::gil_scoped_release nogil;
              for (const Tensor& d : l.backward_multi(tdy, true)) dxs.push_back(d.clone());
            }
            py::list out;
            for (const Tensor& d : dxs) out.append(to_numpy(d));
            return out;
          },
          py::arg("dy"));
  py::class_<Add, MergeLayer, std::shared_ptr<Add>>(m, "Add").def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<Subtract, MergeLayer, std::shared_ptr<Subtract>>(m, "Subtract")
      .def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<Multiply, MergeLayer, std::shared_ptr<Multiply>>(m, "Multiply")
      .def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<Average, MergeLayer, std::shared_ptr<Average>>(m, "Average")
      .def(py::init<const std::string&>(), py::arg("name") = "");
  py::class_<Concatenate, MergeLayer, std::shared_ptr<Concatenate>>(m, "Concatenate")
      .def(py::init<int64_t, const std::string&>(), py::arg("axis") = -1, py::arg("name") = "")
      .def_property_readonly("axis", &Concatenate::axis);
}

}  // namespace nncore::bindings
