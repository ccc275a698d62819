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

using OptFloat = std::optional<float>;

// learning_rate arrives as a number or a LearningRateSchedule.
void set_learning_rate(Optimizer& opt, const py::object& lr) {
  if (py::isinstance<LearningRateSchedule>(lr)) {
    opt.set_learning_rate(lr.cast<std::shared_ptr<LearningRateSchedule>>());
    return;
  }
  float value;
  try {
    value = lr.cast<float>();
  } catch (const py::cast_error&) {
    throw py::type_error("optimizer: learning_rate must be a float or a LearningRateSchedule, got " +
                         py::repr(lr).cast<std::string>());
  }
  opt.set_learning_rate(value);
}

// The keyword arguments every optimizer takes (Keras's BaseOptimizer), set after construction.
void configure(Optimizer& opt, const py::object& lr, OptFloat weight_decay, OptFloat clipnorm, OptFloat clipvalue,
               OptFloat global_clipnorm) {
  set_learning_rate(opt, lr);
  opt.set_weight_decay(weight_decay);
  opt.set_clipnorm(clipnorm);
  opt.set_global_clipnorm(global_clipnorm);
  opt.set_clipvalue(clipvalue);
}
}  // namespace

// Keyword arguments shared by the optimizers' constructors, all None by default.
#define NNC_OPTIMIZER_COMMON_ARGS                                                                \
  py::arg("weight_decay") = py::none(), py::arg("clipnorm") = py::none(), py::arg("clipvalue") = py::none(), \
      py::arg("global_clipnorm") = py::none()

namespace {
// (on_begin, on_end(logs), on_batch_begin(batch), on_batch_end(batch, logs)), each callable or None; or None.
EvalCallbacks eval_callbacks(py::object hooks) {
  EvalCallbacks c;
  if (hooks.is_none()) return c;
  py::tuple t = hooks.cast<py::tuple>();
  c.on_begin = with_gil<>(t[0]);
  if (!t[1].is_none()) {
    auto f = with_gil<py::dict>(t[1]);
    c.on_end = [f](const Logs& logs) {
      py::gil_scoped_acquire gil;
      f(logs_dict(logs));
    };
  }
  if (!t[2].is_none()) c.on_batch_begin = with_gil<int64_t>(t[2]);
  if (!t[3].is_none()) {
    auto f = with_gil<int64_t, py::dict>(t[3]);
    c.on_batch_end = [f](int64_t b, const Logs& logs) {
      py::gil_scoped_acquire gil;
      f(b, logs_dict(logs));
    };
  }
  return c;
}

FitOptions fit_options(int64_t epochs, int verbose, int64_t initial_epoch, py::object print, py::object on_train_begin,
                       py::object on_train_end, py::object on_epoch_begin, py::object on_epoch_end,
                       py::object on_batch_end, py::object on_batch_begin, py::object validation_hooks) {
  FitOptions o;
  o.epochs = epochs;
  o.verbose = verbose;
  o.initial_epoch = initial_epoch;
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
  if (!on_batch_begin.is_none()) o.callbacks.on_batch_begin = with_gil<int64_t>(on_batch_begin);
  o.callbacks.validation = eval_callbacks(validation_hooks);
  return o;
}

// A BatchSource over a Python feed: feed.steps (-1: unknown), feed.next(step) -> None at the end, or
// (xs, ys, w): lists of float32 arrays and the per-sample weights or None; feed.begin_epoch(e), feed.end_epoch(e).
BatchSource source_of(py::object feed) {
  BatchSource s;
  s.steps = feed.attr("steps").cast<int64_t>();
  // The arrays of the batch last handed out: the tensors are views of them, valid until the next call (the model
  // copies each batch before asking for another). Touched only with the GIL held.
  auto held = std::make_shared<std::vector<FloatArray>>();
  s.next = [feed, held](int64_t step, std::vector<Tensor>& xs, std::vector<Tensor>& ys, Tensor& w) {
    py::gil_scoped_acquire gil;
    held->clear();
    py::object r = feed.attr("next")(step);
    if (r.is_none()) return false;
    py::tuple t = r.cast<py::tuple>();
    auto view = [&](const py::handle& a) {
      held->push_back(a.cast<FloatArray>());
      return view_of(held->back());
    };
    for (const py::handle& a : t[0].cast<py::list>()) xs.push_back(view(a));
    for (const py::handle& a : t[1].cast<py::list>()) ys.push_back(view(a));
    if (!t[2].is_none()) w = view(t[2]);
    return true;
  };
  s.begin_epoch = [feed](int64_t e) {
    py::gil_scoped_acquire gil;
    feed.attr("begin_epoch")(e);
  };
  s.end_epoch = [feed](int64_t e) {
    py::gil_scoped_acquire gil;
    feed.attr("end_epoch")(e);
  };
  return s;
}
}  // namespace

void bind_model(py::module_& m) {
  py::class_<LearningRateSchedule, std::shared_ptr<LearningRateSchedule>>(m, "LearningRateSchedule")
      .def_property_readonly("name", &LearningRateSchedule::name)
      .def("__call__", &LearningRateSchedule::operator(), py::arg("step"));
  py::class_<ExponentialDecay, LearningRateSchedule, std::shared_ptr<ExponentialDecay>>(m, "ExponentialDecay")
      .def(py::init<float, double, float, bool>(), py::arg("initial_learning_rate"), py::arg("decay_steps"),
           py::arg("decay_rate"), py::arg("staircase") = false)
      .def_property_readonly("initial_learning_rate", &ExponentialDecay::initial_learning_rate)
      .def_property_readonly("decay_steps", &ExponentialDecay::decay_steps)
      .def_property_readonly("decay_rate", &ExponentialDecay::decay_rate)
      .def_property_readonly("staircase", &ExponentialDecay::staircase);
  py::class_<PiecewiseConstantDecay, LearningRateSchedule, std::shared_ptr<PiecewiseConstantDecay>>(
      m, "PiecewiseConstantDecay")
      .def(py::init<std::vector<double>, std::vector<float>>(), py::arg("boundaries"), py::arg("values"))
      .def_property_readonly("boundaries", &PiecewiseConstantDecay::boundaries)
      .def_property_readonly("values", &PiecewiseConstantDecay::values);
  py::class_<CosineDecay, LearningRateSchedule, std::shared_ptr<CosineDecay>>(m, "CosineDecay")
      .def(py::init<float, double, float, std::optional<float>, double>(), py::arg("initial_learning_rate"),
           py::arg("decay_steps"), py::arg("alpha") = 0.f, py::arg("warmup_target") = py::none(),
           py::arg("warmup_steps") = 0.0)
      .def_property_readonly("initial_learning_rate", &CosineDecay::initial_learning_rate)
      .def_property_readonly("decay_steps", &CosineDecay::decay_steps)
      .def_property_readonly("alpha", &CosineDecay::alpha)
      .def_property_readonly("warmup_target", &CosineDecay::warmup_target)
      .def_property_readonly("warmup_steps", &CosineDecay::warmup_steps);

  py::class_<Optimizer, std::shared_ptr<Optimizer>>(m, "Optimizer")
      .def_property_readonly("name", &Optimizer::name)
      .def_property("learning_rate", &Optimizer::learning_rate, &set_learning_rate)
      .def_property_readonly("learning_rate_schedule", &Optimizer::learning_rate_schedule)
      .def_property_readonly("iterations", &Optimizer::iterations)
      .def_property("weight_decay", &Optimizer::weight_decay, &Optimizer::set_weight_decay)
      .def_property("clipnorm", &Optimizer::clipnorm, &Optimizer::set_clipnorm)
      .def_property("clipvalue", &Optimizer::clipvalue, &Optimizer::set_clipvalue)
      .def_property("global_clipnorm", &Optimizer::global_clipnorm, &Optimizer::set_global_clipnorm)
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
      .def(py::init([](const py::object& lr, float momentum, bool nesterov, OptFloat wd, OptFloat clipnorm,
                       OptFloat clipvalue, OptFloat global_clipnorm) {
             auto opt = std::make_shared<SGD>(0.01f, momentum, nesterov);
             configure(*opt, lr, wd, clipnorm, clipvalue, global_clipnorm);
             return opt;
           }),
           py::arg("learning_rate") = 0.01, py::arg("momentum") = 0.f, py::arg("nesterov") = false,
           NNC_OPTIMIZER_COMMON_ARGS)
      .def_property_readonly("momentum", &SGD::momentum)
      .def_property_readonly("nesterov", &SGD::nesterov);
  py::class_<Adam, Optimizer, std::shared_ptr<Adam>>(m, "Adam")
      .def(py::init([](const py::object& lr, float b1, float b2, float eps, bool amsgrad, OptFloat wd,
                       OptFloat clipnorm, OptFloat clipvalue, OptFloat global_clipnorm) {
             auto opt = std::make_shared<Adam>(0.001f, b1, b2, eps, amsgrad);
             configure(*opt, lr, wd, clipnorm, clipvalue, global_clipnorm);
             return opt;
           }),
           py::arg("learning_rate") = 0.001, py::arg("beta_1") = 0.9f, py::arg("beta_2") = 0.999f,
           py::arg("epsilon") = 1e-7f, py::arg("amsgrad") = false, NNC_OPTIMIZER_COMMON_ARGS)
      .def_property_readonly("beta_1", &Adam::beta_1)
      .def_property_readonly("beta_2", &Adam::beta_2)
      .def_property_readonly("epsilon", &Adam::epsilon)
      .def_property_readonly("amsgrad", &Adam::amsgrad);
  py::class_<AdamW, Adam, std::shared_ptr<AdamW>>(m, "AdamW")
      .def(py::init([](const py::object& lr, float wd, float b1, float b2, float eps, bool amsgrad,
                       OptFloat clipnorm, OptFloat clipvalue, OptFloat global_clipnorm) {
             auto opt = std::make_shared<AdamW>(0.001f, wd, b1, b2, eps, amsgrad);
             configure(*opt, lr, wd, clipnorm, clipvalue, global_clipnorm);
             return opt;
           }),
           py::arg("learning_rate") = 0.001, py::arg("weight_decay") = 0.004f, py::arg("beta_1") = 0.9f,
           py::arg("beta_2") = 0.999f, py::arg("epsilon") = 1e-7f, py::arg("amsgrad") = false,
           py::arg("clipnorm") = py::none(), py::arg("clipvalue") = py::none(),
           py::arg("global_clipnorm") = py::none());
  py::class_<Adagrad, Optimizer, std::shared_ptr<Adagrad>>(m, "Adagrad")
      .def(py::init([](const py::object& lr, float initial_accumulator_value, float eps, OptFloat wd,
                       OptFloat clipnorm, OptFloat clipvalue, OptFloat global_clipnorm) {
             auto opt = std::make_shared<Adagrad>(0.001f, initial_accumulator_value, eps);
             configure(*opt, lr, wd, clipnorm, clipvalue, global_clipnorm);
             return opt;
           }),
           py::arg("learning_rate") = 0.001, py::arg("initial_accumulator_value") = 0.1f,
           py::arg("epsilon") = 1e-7f, NNC_OPTIMIZER_COMMON_ARGS)
      .def_property_readonly("initial_accumulator_value", &Adagrad::initial_accumulator_value)
      .def_property_readonly("epsilon", &Adagrad::epsilon);
  py::class_<RMSprop, Optimizer, std::shared_ptr<RMSprop>>(m, "RMSprop")
      .def(py::init([](const py::object& lr, float rho, float momentum, float eps, bool centered, OptFloat wd,
                       OptFloat clipnorm, OptFloat clipvalue, OptFloat global_clipnorm) {
             auto opt = std::make_shared<RMSprop>(0.001f, rho, momentum, eps, centered);
             configure(*opt, lr, wd, clipnorm, clipvalue, global_clipnorm);
             return opt;
           }),
           py::arg("learning_rate") = 0.001, py::arg("rho") = 0.9f, py::arg("momentum") = 0.f,
           py::arg("epsilon") = 1e-7f, py::arg("centered") = false, NNC_OPTIMIZER_COMMON_ARGS)
      .def_property_readonly("rho", &RMSprop::rho)
      .def_property_readonly("momentum", &RMSprop::momentum)
      .def_property_readonly("epsilon", &RMSprop::epsilon)
      .def_property_readonly("centered", &RMSprop::centered);
  m.def("make_optimizer", &make_optimizer, py::arg("name"));
#undef NNC_OPTIMIZER_COMMON_ARGS

  // Models take lists of arrays (one per input / output); the Python layer wraps single arrays.
  py::class_<SymbolicTensor>(m, "SymbolicTensor")
      .def_property_readonly("shape", &SymbolicTensor::shape)
      .def_property_readonly("name", &SymbolicTensor::name)
      .def_property_readonly("index", &SymbolicTensor::index);
  m.def("Input", &Input, py::arg("shape"), py::arg("name") = "");
  // A layer called on symbolic tensors: its symbolic outputs (a list).
  m.def("call", &call_outputs, py::arg("layer"), py::arg("inputs"), py::arg("training") = -1);

  // A run of the model's graph of its own (nncore/inference.hpp): Python's predict keeps one per thread.
  py::class_<InferenceSession>(m, "InferenceSession")
      .def(py::init<Model&>(), py::arg("model"), py::keep_alive<1, 2>())
      .def(
          "predict",
          [](InferenceSession& s, std::vector<FloatArray> x, int64_t batch_size) {
            std::vector<Tensor> tx = views_of(x), out;
            {
              py::gil_scoped_release nogil;
              out = s.predict(tx, batch_size);
            }
            py::list result;
            for (const Tensor& t : out) result.append(to_numpy(t));
            return result;
          },
          py::arg("x"), py::arg("batch_size") = 0);

  py::class_<Model, Layer, std::shared_ptr<Model>>(m, "Model")
      .def(py::init<const std::vector<SymbolicTensor>&, const std::vector<SymbolicTensor>&, std::string>(),
           py::arg("inputs"), py::arg("outputs"), py::arg("name") = "")
      .def_property_readonly("name", &Model::name)
      .def_property_readonly("class_name", &Model::class_name)
      .def_property_readonly("layers", &Model::layers)
      .def("get_layer", &Model::get_layer, py::arg("name"))
      .def_property_readonly("built", &Model::built)
      .def("inference_part_rows", &Model::inference_part_rows, py::arg("n"),
           "Rows per part when predict_on_batch runs n samples (n: all at once)")
      .def_property_readonly("num_inputs", &Model::num_inputs)
      .def_property_readonly("num_outputs", &Model::num_outputs)
      .def("input_shape_of", &Model::input_shape, py::arg("index") = 0)
      .def("output_shape_of", &Model::output_shape, py::arg("index") = 0)
      .def_property_readonly("input_shape", [](const Model& s) { return s.input_shape(0); })
      .def_property_readonly("output_shape", [](const Model& s) { return s.output_shape(0); })
      .def("input_name", &Model::input_name, py::arg("index"))
      .def("output_name", &Model::output_name, py::arg("index"))
      .def(
          "compile",
          // Each loss is (name, from_logits), or (graph, name, batch_sum) for a traced loss function; metrics: one
          // list per output of names / JSON specs (str) or Metric objects.
          [](Model& s, std::shared_ptr<Optimizer> opt, const std::vector<py::tuple>& losses,
             const std::vector<std::vector<py::object>>& metrics) {
            std::vector<Loss> ls;
            for (const py::tuple& l : losses) ls.push_back(loss_from_tuple(l));
            NNC_CHECK(!ls.empty(), "compile: no loss given");
            std::vector<std::vector<Metric>> ms(metrics.size());
            for (size_t j = 0; j < metrics.size(); ++j) {
              const Loss& lj = ls.size() == metrics.size() ? ls[j] : ls[0];
              Shape out;
              if (s.built() && j < s.num_outputs()) out = s.output_shape(j).empty() ? Shape{1} : s.output_shape(j);
              for (const py::object& spec : metrics[j]) {
                if (py::isinstance<py::str>(spec)) {
                  const std::string text = spec.cast<std::string>();
                  ms[j].push_back(text.empty() || text[0] != '{' ? Metric::from_name(text, lj, out)
                                                                  : Metric::from_config(Json::parse(text), lj, out));
                } else {
                  ms[j].push_back(spec.cast<Metric>());
                }
              }
            }
            s.compile(opt, ls, ms);
          },
          py::arg("optimizer"), py::arg("losses"), py::arg("metrics") = std::vector<std::vector<py::object>>{})
      .def_property_readonly("compiled", &Model::compiled)
      .def_property_readonly("optimizer", &Model::optimizer)
      .def("loss_name", [](const Model& s, size_t j) { return s.loss(j).name(); }, py::arg("output") = 0)
      .def("loss_from_logits", [](const Model& s, size_t j) { return s.loss(j).from_logits(); }, py::arg("output") = 0)
      .def("loss_is_custom", [](const Model& s, size_t j) { return s.loss(j).kind() == LossKind::custom; },
           py::arg("output") = 0)
      .def_property_readonly("metrics_names", &Model::metrics_names)
      .def_property_readonly("compiled_metrics", &Model::metrics)
      .def_property_readonly("adds_losses", &Model::adds_losses)
      .def_property("loss_weights", &Model::loss_weights, &Model::set_loss_weights)
      .def_property(
          "stop_training", [](const Model& s) { return s.stop_training.load(); },
          [](Model& s, bool v) { s.stop_training.store(v); })
      .def(
          "fit",
          [](Model& s, std::vector<FloatArray> x, std::vector<FloatArray> y, int64_t epochs, int64_t batch_size,
             bool shuffle, int verbose, double validation_split, std::vector<FloatArray> val_x,
             std::vector<FloatArray> val_y, int64_t initial_epoch, py::object print, py::object on_train_begin,
             py::object on_train_end, py::object on_epoch_begin, py::object on_epoch_end, py::object on_batch_end,
             std::optional<FloatArray> sample_weight, py::object on_batch_begin, py::object validation_hooks,
             std::shared_ptr<GradientReducer> reducer, bool local_data) {
            std::vector<Tensor> tx = views_of(x), ty = views_of(y), tvx = views_of(val_x), tvy = views_of(val_y);
            Tensor tw;
            FitOptions o = fit_options(epochs, verbose, initial_epoch, print, on_train_begin, on_train_end,
                                       on_epoch_begin, on_epoch_end, on_batch_end, on_batch_begin, validation_hooks);
            o.reducer = std::move(reducer);
            o.sharding = local_data ? DataSharding::local : DataSharding::global;
            if (sample_weight) {
              tw = view_of(*sample_weight);
              o.sample_weight = &tw;
            }
            o.batch_size = batch_size;
            o.shuffle = shuffle;
            o.validation_split = validation_split;
            History h;
            {
              py::gil_scoped_release nogil;
              h = s.fit(tx, ty, o, tvx, tvy);
            }
            return py::make_tuple(history_dict(h), h.epochs, h.interrupted);
          },
          py::arg("x"), py::arg("y"), py::arg("epochs"), py::arg("batch_size"), py::arg("shuffle"), py::arg("verbose"),
          py::arg("validation_split"), py::arg("validation_x"), py::arg("validation_y"), py::arg("initial_epoch"),
          py::arg("print"), py::arg("on_train_begin"), py::arg("on_train_end"), py::arg("on_epoch_begin"),
          py::arg("on_epoch_end"), py::arg("on_batch_end"), py::arg("sample_weight") = py::none(),
          py::arg("on_batch_begin") = py::none(), py::arg("validation_hooks") = py::none(),
          py::arg("reducer") = nullptr, py::arg("local_data") = false)
      // Batches from a Python feed (nncore.models._Feed: steps, next(step), begin_epoch, end_epoch).
      .def(
          "fit_feed",
          [](Model& s, py::object feed, py::object validation, int64_t epochs, int verbose, int64_t initial_epoch,
             py::object print, py::object on_train_begin, py::object on_train_end, py::object on_epoch_begin,
             py::object on_epoch_end, py::object on_batch_end, py::object on_batch_begin, py::object validation_hooks) {
            FitOptions o = fit_options(epochs, verbose, initial_epoch, print, on_train_begin, on_train_end,
                                       on_epoch_begin, on_epoch_end, on_batch_end, on_batch_begin, validation_hooks);
            BatchSource data = source_of(feed);
            BatchSource val;
            if (!validation.is_none()) val = source_of(validation);
            History h;
            {
              py::gil_scoped_release nogil;
              h = s.fit(data, o, validation.is_none() ? nullptr : &val);
            }
            return py::make_tuple(history_dict(h), h.epochs, h.interrupted);
          },
          py::arg("feed"), py::arg("validation"), py::arg("epochs"), py::arg("verbose"), py::arg("initial_epoch"),
          py::arg("print"), py::arg("on_train_begin"), py::arg("on_train_end"), py::arg("on_epoch_begin"),
          py::arg("on_epoch_end"), py::arg("on_batch_end"), py::arg("on_batch_begin") = py::none(),
          py::arg("validation_hooks") = py::none())
      .def(
          "evaluate_feed",
          [](Model& s, py::object feed, int verbose, py::object print, py::object hooks) {
            BatchSource data = source_of(feed);
            auto p = with_gil<const std::string&>(print);
            EvalCallbacks cb = eval_callbacks(hooks);
            py::gil_scoped_release nogil;
            return s.evaluate(data, verbose, p, cb);
          },
          py::arg("feed"), py::arg("verbose") = 0, py::arg("print") = py::none(), py::arg("hooks") = py::none())
      .def(
          "predict_feed",
          [](Model& s, py::object feed, py::object hooks) {
            BatchSource data = source_of(feed);
            EvalCallbacks cb = eval_callbacks(hooks);
            std::vector<Tensor> out;
            {
              py::gil_scoped_release nogil;
              out = s.predict(data, cb);
            }
            py::list result;
            for (const Tensor& t : out) result.append(to_numpy(t));
            return result;
          },
          py::arg("feed"), py::arg("hooks") = py::none())
      .def(
          "evaluate",
          [](Model& s, std::vector<FloatArray> x, std::vector<FloatArray> y, int64_t batch_size, int verbose,
             py::object print, std::optional<FloatArray> sample_weight, py::object hooks) {
            std::vector<Tensor> tx = views_of(x), ty = views_of(y);
            Tensor tw;
            if (sample_weight) tw = view_of(*sample_weight);
            auto p = with_gil<const std::string&>(print);
            EvalCallbacks cb = eval_callbacks(hooks);
            py::gil_scoped_release nogil;
            return s.evaluate(tx, ty, batch_size, verbose, p, sample_weight ? &tw : nullptr, cb);
          },
          py::arg("x"), py::arg("y"), py::arg("batch_size") = 32, py::arg("verbose") = 0, py::arg("print") = py::none(),
          py::arg("sample_weight") = py::none(), py::arg("hooks") = py::none())
      .def(
          "predict",
          [](Model& s, std::vector<FloatArray> x, int64_t batch_size, py::object hooks) {
            std::vector<Tensor> tx = views_of(x), out;
            EvalCallbacks cb = eval_callbacks(hooks);
            {
              py::gil_scoped_release nogil;
              out = s.predict(tx, batch_size, cb);
            }
            py::list result;
            for (const Tensor& t : out) result.append(to_numpy(t));
            return result;
          },
          py::arg("x"), py::arg("batch_size") = 32, py::arg("hooks") = py::none())
      .def(
          "train_on_batch",
          [](Model& s, std::vector<FloatArray> x, std::vector<FloatArray> y) {
            std::vector<Tensor> tx = views_of(x), ty = views_of(y);
            py::gil_scoped_release nogil;
            return s.train_on_batch(tx, ty);
          },
          py::arg("x"), py::arg("y"))
      .def(
          "test_on_batch",
          [](Model& s, std::vector<FloatArray> x, std::vector<FloatArray> y) {
            std::vector<Tensor> tx = views_of(x), ty = views_of(y);
            const int64_t n = tx.empty() || tx[0].ndim() == 0 ? 1 : std::max<int64_t>(tx[0].dim(0), 1);
            py::gil_scoped_release nogil;
            return s.evaluate(tx, ty, n, 0);
          },
          py::arg("x"), py::arg("y"))
      .def(
          "compute_gradients",
          [](Model& s, std::vector<FloatArray> x, std::vector<FloatArray> y) {
            std::vector<Tensor> tx = views_of(x), ty = views_of(y);
            py::gil_scoped_release nogil;
            return s.compute_gradients(tx, ty);
          },
          py::arg("x"), py::arg("y"))
      .def(
          "input_gradient",
          [](Model& s, std::vector<FloatArray> x, std::vector<FloatArray> y) {
            std::vector<Tensor> tx = views_of(x), ty = views_of(y), dx;
            {
              py::gil_scoped_release nogil;
              s.compute_gradients(tx, ty, &dx);
            }
            py::list result;
            for (const Tensor& t : dx) result.append(to_numpy(t));
            return result;
          },
          py::arg("x"), py::arg("y"))
      .def_property_readonly("num_nodes", &Model::num_nodes)
      .def("node_layer", &Model::node_layer, py::arg("node"))
      .def("node_call_index", &Model::node_call_index, py::arg("node"))
      .def("node_inputs", &Model::node_inputs, py::arg("node"))
      .def("output_ref", &Model::output_ref, py::arg("output"))
      .def_property_readonly("has_quantized_layers", &Model::has_quantized_layers)
      .def("summary", &Model::summary, py::arg("line_length") = 65, py::arg("expand_nested") = false,
           py::arg("show_trainable") = false)
      .def("count_params", &Model::count_params);

  py::class_<TensorRef>(m, "TensorRef")
      .def_readonly("layer", &TensorRef::layer)
      .def_readonly("call", &TensorRef::call)
      .def_readonly("output", &TensorRef::output);

  py::class_<Sequential, Model, std::shared_ptr<Sequential>>(m, "Sequential")
      .def(py::init<std::string>(), py::arg("name") = "")
      .def("add", py::overload_cast<LayerPtr>(&Sequential::add), py::arg("layer"))
      .def("pop", &Sequential::pop)
      .def("build", &Sequential::build, py::arg("input_shape"));
}

}  // namespace nncore::bindings
