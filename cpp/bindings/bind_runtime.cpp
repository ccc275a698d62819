#include "convert.hpp"
#include "nncore/layers/layer.hpp"

namespace nncore::bindings {

void bind_runtime(py::module_& m) {
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("reset_layer_names", &reset_layer_names);
  m.def("get_num_threads", &get_num_threads);
  m.def("get_isa", &get_isa);
  m.def("set_isa", &set_isa, py::arg("isa"));
  m.def("best_isa", &best_isa);
  m.def("has_amx", &has_amx);
  m.def("get_amx", &get_amx);
  m.def("set_amx", &set_amx, py::arg("on"));
  m.def("set_random_seed", &set_random_seed, py::arg("seed"));
  m.def("next_seed", &next_seed, "A seed from the global stream that set_random_seed resets (initializers, dropout, shuffling).");
}

}  // namespace nncore::bindings
