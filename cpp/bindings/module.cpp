#include "convert.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "nncore's compiled core: kernels, layers, models (use the nncore package, not this module)";
  m.attr("__version__") = NNCORE_VERSION;
  nncore::bindings::bind_runtime(m);
  nncore::bindings::bind_ops(m);
  nncore::bindings::bind_layers(m);
  nncore::bindings::bind_conv(m);
  nncore::bindings::bind_norm(m);
  nncore::bindings::bind_sequence(m);
  nncore::bindings::bind_recurrent(m);
  nncore::bindings::bind_model(m);
  nncore::bindings::bind_merge(m);
  nncore::bindings::bind_graph_ops(m);
  nncore::bindings::bind_traced(m);
  nncore::bindings::bind_io(m);
  nncore::bindings::bind_metrics(m);
  nncore::bindings::bind_distributed(m);
}
