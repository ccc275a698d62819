#include "convert.hpp"

namespace nncore::bindings {

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
         std::optional<FloatArray> bias) {
        Tensor ta_ = view_of(a), tb_ = view_of(b), tc, tbias, out;
        if (c) tc = view_of(*c);
        if (bias) tbias = view_of(*bias);
        {
          py::gil_scoped_release nogil;
          out = matmul_packed(ta_, tb_, ta, tb, tc, beta, tbias);
        }
        return to_numpy(out);
      },
      py::arg("a"), py::arg("b"), py::arg("transpose_a"), py::arg("transpose_b"), py::arg("c"), py::arg("beta"),
      py::arg("bias"));
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
  m.def(
      "loss",
      [](const std::string& name, FloatArray pred, FloatArray y, bool from_logits) {
        // Returns (mean loss over the batch, d(mean loss)/d(pred)) for pred (B, ...) and y as the loss expects.
        const Loss loss = Loss::from_name(name, from_logits);
        Tensor tp = view_of(pred), ty = view_of(y);
        NNC_CHECK(tp.ndim() >= 2 && tp.dim(0) > 0, "loss: expected pred of shape (batch, ...), got ", tp.shape_str());
        const Shape out(tp.shape().begin() + 1, tp.shape().end());
        loss.check_targets(ty, out, "y");
        NNC_CHECK(ty.dim(0) == tp.dim(0), "loss: pred and y must have the same batch size, got ", tp.dim(0), " and ",
                  ty.dim(0));
        Tensor grad(tp.shape());
        double sum;
        {
          py::gil_scoped_release nogil;
          const int64_t B = tp.dim(0);
          sum = loss.compute(tp.data(), from_logits, ty, B, out, grad.data(), 1.f / static_cast<float>(B));
        }
        return py::make_tuple(sum / static_cast<double>(tp.dim(0)), to_numpy(grad));
      },
      py::arg("loss"), py::arg("pred"), py::arg("y"), py::arg("from_logits") = false);
  m.def("loss_names", &Loss::names);
  m.def("metric_names", &Metric::names);
}

}  // namespace nncore::bindings
