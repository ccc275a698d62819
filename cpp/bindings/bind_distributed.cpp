// Data-parallel training (nncore/distributed.hpp): GradientReducer as a class Python subclasses
// (nncore.distributed implements it over mpi4py). fit runs without the GIL; each call into Python takes it.
#include "convert.hpp"
#include "nncore/distributed.hpp"

namespace nncore::bindings {

namespace {

class PyReducer : public GradientReducer {
 public:
  int rank() const override { PYBIND11_OVERRIDE_PURE(int, GradientReducer, rank, ); }
  int size() const override { PYBIND11_OVERRIDE_PURE(int, GradientReducer, size, ); }
  // The Python method gets a float32 array viewing nncore's buffer (no copy) and changes it in place.
  void allreduce(float* data, int64_t n) override {
    py::gil_scoped_acquire gil;
    method("allreduce")(view(data, n));
  }
  void broadcast(float* data, int64_t n, int root) override {
    py::gil_scoped_acquire gil;
    method("broadcast")(view(data, n), root);
  }

 private:
  py::function method(const char* name) const {
    py::function f = py::get_override(static_cast<const GradientReducer*>(this), name);
    if (!f) throw std::logic_error(std::string("GradientReducer subclass does not implement ") + name);
    return f;
  }
  static py::array_t<float> view(float* data, int64_t n) {
    return py::array_t<float>({n}, {static_cast<int64_t>(sizeof(float))}, data, py::capsule(data, [](void*) {}));
  }
};

}  // namespace

void bind_distributed(py::module_& m) {
  py::class_<GradientReducer, PyReducer, std::shared_ptr<GradientReducer>>(m, "GradientReducer")
      .def(py::init<>())
      .def("rank", &GradientReducer::rank)
      .def("size", &GradientReducer::size);
}

}  // namespace nncore::bindings
