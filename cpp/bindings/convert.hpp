#pragma once
// numpy <-> Tensor. Float32 C-contiguous arrays enter as views (no copy); anything else numeric is converted
// once by pybind11's forcecast. Results leave as numpy arrays that own the Tensor's storage (no copy).
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "nncore/nncore.hpp"

namespace nncore::bindings {

namespace py = pybind11;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

inline Shape array_shape(const py::array& a) {
  Shape s(static_cast<size_t>(a.ndim()));
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s[static_cast<size_t>(i)] = a.shape(i);
  return s;
}

// A view of the array's memory; the caller keeps the array alive for as long as the view is used. Every array
// that enters through here is an input nncore only reads (Tensor has no const view, hence the cast), so read-only
// arrays — np.load(mmap_mode="r"), frozen arrays — enter without a copy (non-contiguous ones, like np.broadcast_to's,
// are copied by forcecast as before).
// Writable arguments (apply_gradients' variables) are checked and taken with mutable_data() where they are bound.
inline Tensor view_of(FloatArray& a) { return Tensor::view(const_cast<float*>(a.data()), array_shape(a)); }

inline std::vector<Tensor> views_of(std::vector<FloatArray>& arrays) {
  std::vector<Tensor> out;
  for (FloatArray& a : arrays) out.push_back(view_of(a));
  return out;
}

// numpy array sharing the tensor's storage (the Tensor copy held by the capsule keeps it alive).
inline py::array to_numpy(const Tensor& t) {
  auto* keep = new Tensor(t);
  py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  return py::array_t<float>(shape, keep->data(), owner);
}

// A view onto C++-owned memory whose lifetime is tied to `base`.
inline py::array view_numpy(Tensor& t, py::handle base) {
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  return py::array_t<float>(shape, t.data(), base);
}

// Wraps a Python callable so C++ can call it from a region that released the GIL.
template <typename... Args>
std::function<void(Args...)> with_gil(py::object fn) {
  if (fn.is_none()) return nullptr;
  // The callable is released under the GIL when the last copy of the std::function dies.
  std::shared_ptr<py::object> f(new py::object(std::move(fn)), [](py::object* o) {
    py::gil_scoped_acquire gil;
    delete o;
  });
  return [f](Args... args) {
    py::gil_scoped_acquire gil;
    (*f)(args...);
  };
}

void bind_runtime(py::module_& m);
void bind_ops(py::module_& m);
void bind_layers(py::module_& m);
void bind_conv(py::module_& m);
void bind_norm(py::module_& m);
void bind_sequence(py::module_& m);
void bind_recurrent(py::module_& m);
void bind_model(py::module_& m);
void bind_io(py::module_& m);
void bind_merge(py::module_& m);
void bind_graph_ops(py::module_& m);
void bind_traced(py::module_& m);
void bind_metrics(py::module_& m);
void bind_distributed(py::module_& m);
// A loss given from Python: (name, from_logits), (None,) for none, or (graph, name, batch_sum) for a traced function.
Loss loss_from_tuple(const py::tuple& l);

}  // namespace nncore::bindings
