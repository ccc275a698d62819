#include "convert.hpp"

namespace nncore::bindings {

namespace {
py::dict history_dict(const History& h) {
  py::dict d;
  for (const auto& kv : h.values) d[py::str(kv.first)] = kv.second;
  return d;
}
py::dict logs_dict(const Logs& logs) {
  py::dict d;
  for (const auto& kv : logs) d[py::str(kv.first)] = kv.second;
  return d;
}
}  // namespace

void bind_model(py::module_& m) {
  py::class_<Optimizer, std::shared_ptr<Optimizer>>(m, "Optimizer")
      .def_property_readonly("name", &Optimizer::name)
      .def_property("learning_rate", &Optimizer::learning_rate, &Optimizer::set_learning_rate)
      .def_property_readonly("iterations", &Optimizer::iterations)
      .def(
          "apply_gradients",
          [](Optimizer& opt, std::vector<std::pair<FloatArray, py::array>> grads_and_vars) {
            // Updates each variable in place; variables must be writable float32 C-contiguous arrays.
            std::vector<Param> params(grads_and_vars.size());
            std::vector<Param*> ptrs;
            for (size_t i = 0; i < grads_and_vars.size(); ++i) {
              auto& g = grads_and_vars[i].first;
              py::array& v = grads_and_vars[i].second;
              if (!py::isinstance<py::array_t<float>>(v) || !(v.flags() & py::array::c_style) || !v.writeable())
                throw py::type_error("apply_gradients: variable " + std::to_string(i) +
                                     " must be a writable float32 C-contiguous numpy array");
              NNC_CHECK(array_shape(g) == array_shape(v), "apply_gradients: gradient ", i, " has shape ",
                        shape_str(array_shape(g)), " but its variable has shape ", shape_str(array_shape(v)));
              params[i].value = Tensor::view(static_cast<float*>(v.mutable_data()), array_shape(v));
              params[i].grad = view_of(g);
              ptrs.push_back(&params[i]);
            }
            py::gil_scoped_release nogil;
            opt.apply(ptrs);
          },
          py::arg("grads_and_vars"));
  py::class_<SGD, Optimizer, std::shared_ptr<SGD>>(m, "SGD")
      .def(py::init<float, float, bool>(), py::arg("learning_rate") = 0.01f, py::arg("momentum") = 0.f,
           py::arg("nesterov") = false)
      .def_property_readonly("momentum", &SGD::momentum)
      .def_property_readonly("nesterov", &SGD::nesterov);
  py::class_<Adam, Optimizer, std::shared_ptr<Adam>>(m, "Adam")
      .def(py::init<float, float, float, float>(), py::arg("learning_rate") = 0.001f, py::arg("beta_1") = 0.9f,
           py::arg("beta_2") = 0.999f, py::arg("epsilon") = 1e-7f)
      .def_property_readonly("beta_1", &Adam::beta_1)
      .def_property_readonly("beta_2", &Adam::beta_2)
      .def_property_readonly("epsilon", &Adam::epsilon);
  py::class_<RMSprop, Optimizer, std::shared_ptr<RMSprop>>(m, "RMSprop")
      .def(py::init<float, float, float>(), py::arg("learning_rate") = 0.001f, py::arg("rho") = 0.9f,
           py::arg("epsilon") = 1e-7f)
      .def_property_readonly("rho", &RMSprop::rho)
      .def_property_readonly("epsilon", &RMSprop::epsilon);
  m.def("make_optimizer", &make_optimizer, py::arg("name"));

  py::class_<Sequential, std::shared_ptr<Sequential>>(m, "Sequential")
      .def(py::init<std::string>(), py::arg("name") = "")
      .def_property_readonly("name", &Sequential::name)
      .def("add", &Sequential::add, py::arg("layer"))
      .def("pop", &Sequential::pop)
      .def_property_readonly("layers", &Sequential::layers)
      .def("build", &Sequential::build, py::arg("input_shape"))
      .def_property_readonly("built", &Sequential::built)
      .def_property_readonly("input_shape", &Sequential::input_shape)
      .def_property_readonly("output_shape", &Sequential::output_shape)
      .def(
          "compile",
          [](Sequential& s, std::shared_ptr<Optimizer> opt, const std::string& loss, bool from_logits,
             const std::vector<std::string>& metrics) { s.compile(opt, Loss::from_name(loss, from_logits), metrics); },
          py::arg("optimizer"), py::arg("loss"), py::arg("from_logits") = false, py::arg("metrics") = std::vector<std::string>{})
      .def_property_readonly("compiled", &Sequential::compiled)
      .def_property_readonly("optimizer", &Sequential::optimizer)
      .def_property_readonly("loss_name", [](const Sequential& s) { return s.loss().name(); })
      .def_property_readonly("metrics_names", &Sequential::metrics_names)
      .def_property(
          "stop_training", [](const Sequential& s) { return s.stop_training.load(); },
          [](Sequential& s, bool v) { s.stop_training.store(v); })
      .def(
          "fit",
          [](Sequential& s, FloatArray x, FloatArray y, int64_t epochs, int64_t batch_size, bool shuffle, int verbose,
             double validation_split, std::optional<FloatArray> val_x, std::optional<FloatArray> val_y,
             int64_t initial_epoch, py::object print, py::object on_train_begin, py::object on_train_end,
             py::object on_epoch_begin, py::object on_epoch_end, py::object on_batch_end) {
            Tensor tx = view_of(x), ty = view_of(y), tvx, tvy;
            FitOptions o;
            o.epochs = epochs;
            o.batch_size = batch_size;
            o.shuffle = shuffle;
            o.verbose = verbose;
            o.validation_split = validation_split;
            o.initial_epoch = initial_epoch;
            if (val_x && val_y) {
              tvx = view_of(*val_x);
              tvy = view_of(*val_y);
              o.validation_x = &tvx;
              o.validation_y = &tvy;
            }
            o.print = with_gil<const std::string&>(print);
            o.callbacks.on_train_begin = with_gil<>(on_train_begin);
            o.callbacks.on_train_end = with_gil<>(on_train_end);
            o.callbacks.on_epoch_begin = with_gil<int64_t>(on_epoch_begin);
            if (!on_epoch_end.is_none()) {
              auto f = with_gil<int64_t, py::dict>(on_epoch_end);
              o.callbacks.on_epoch_end = [f](int64_t e, const Logs& logs) {
                py::gil_scoped_acquire gil;
                f(e, logs_dict(logs));
              };
            }
            if (!on_batch_end.is_none()) {
              auto f = with_gil<int64_t, py::dict>(on_batch_end);
              o.callbacks.on_batch_end = [f](int64_t b, const Logs& logs) {
                py::gil_scoped_acquire gil;
                f(b, logs_dict(logs));
              };
            }
            History h;
            {
              py::gil_scoped_release nogil;
              h = s.fit(tx, ty, o);
            }
            return py::make_tuple(history_dict(h), h.epochs, h.interrupted);
          },
          py::arg("x"), py::arg("y"), py::arg("epochs"), py::arg("batch_size"), py::arg("shuffle"), py::arg("verbose"),
          py::arg("validation_split"), py::arg("validation_x"), py::arg("validation_y"), py::arg("initial_epoch"),
          py::arg("print"), py::arg("on_train_begin"), py::arg("on_train_end"), py::arg("on_epoch_begin"),
          py::arg("on_epoch_end"), py::arg("on_batch_end"))
      .def(
          "evaluate",
          [](Sequential& s, FloatArray x, FloatArray y, int64_t batch_size, int verbose, py::object print) {
            Tensor tx = view_of(x), ty = view_of(y);
            auto p = with_gil<const std::string&>(print);
            py::gil_scoped_release nogil;
            return s.evaluate(tx, ty, batch_size, verbose, p);
          },
          py::arg("x"), py::arg("y"), py::arg("batch_size") = 32, py::arg("verbose") = 0, py::arg("print") = py::none())
      .def(
          "predict",
          [](Sequential& s, FloatArray x, int64_t batch_size) {
            Tensor tx = view_of(x), out;
            {
              py::gil_scoped_release nogil;
              out = s.predict(tx, batch_size);
            }
            return to_numpy(out);
          },
          py::arg("x"), py::arg("batch_size") = 32)
      .def(
          "train_on_batch",
          [](Sequential& s, FloatArray x, FloatArray y) {
            Tensor tx = view_of(x), ty = view_of(y);
            py::gil_scoped_release nogil;
            return s.train_on_batch(tx, ty);
          },
          py::arg("x"), py::arg("y"))
      .def(
          "test_on_batch",
          [](Sequential& s, FloatArray x, FloatArray y) {
            Tensor tx = view_of(x), ty = view_of(y);
            py::gil_scoped_release nogil;
            return s.test_on_batch(tx, ty);
          },
          py::arg("x"), py::arg("y"))
      .def("summary", &Sequential::summary, py::arg("line_length") = 65)
      .def("count_params", &Sequential::count_params);
}

}  // namespace nncore::bindings
