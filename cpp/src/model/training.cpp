// The training loop of every model: fit / evaluate / predict / train_on_batch, entirely in C++, with batch buffers
// allocated once per batch size.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>

#include "kernels/kernels.hpp"
#include "model/graph_run.hpp"
#include "model/rows.hpp"
#include "model/data_parallel.hpp"
#include "model/progress.hpp"
#include "nncore/check.hpp"
#include "nncore/layers/core.hpp"
#include "nncore/model.hpp"
#include "nncore/optimizers.hpp"
#include "nncore/runtime.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <signal.h>
#define NNCORE_POSIX_SIGNALS 1
#endif

namespace nncore {

// fit and train_on_batch hold the model's weights exclusively on their thread (InferenceSession::predict on another
// thread then refuses to read them mid-update); reentrant on that thread (a callback's train_on_batch).
class TrainingLock {
 public:
  explicit TrainingLock(Model& m) : m_(m) {
    NNC_CHECK(!m.has_quantized_layers(), "model '", m.name(), "' is quantized (int8) and can only predict and "
              "evaluate: train the float model (before model.quantize('int8')) and quantize it again");
    if (m.training_thread_.load() == std::this_thread::get_id()) return;
    lock_ = std::unique_lock<std::shared_mutex>(m.weights_mutex_);
    m.training_thread_.store(std::this_thread::get_id());
  }
  ~TrainingLock() {
    if (lock_.owns_lock()) m_.training_thread_.store(std::thread::id());
  }
  TrainingLock(const TrainingLock&) = delete;
  TrainingLock& operator=(const TrainingLock&) = delete;

 private:
  Model& m_;
  std::unique_lock<std::shared_mutex> lock_;
};

namespace {

// While alive, Ctrl-C (SIGINT) only raises a flag that the loop checks between batches; the previous handler
// (Python's, for instance) is restored afterwards, so an interrupted fit keeps consistent weights.
std::atomic<bool> g_interrupted{false};
class InterruptGuard {
 public:
  explicit InterruptGuard(bool active) : active_(active) {
    g_interrupted.store(false);
#if defined(NNCORE_POSIX_SIGNALS)
    if (!active_) return;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = [](int) { g_interrupted.store(true); };
    sigemptyset(&sa.sa_mask);
    installed_ = sigaction(SIGINT, &sa, &old_) == 0;
#endif
  }
  ~InterruptGuard() {
#if defined(NNCORE_POSIX_SIGNALS)
    if (installed_) sigaction(SIGINT, &old_, nullptr);
#endif
  }
  bool interrupted() const { return g_interrupted.load(std::memory_order_relaxed); }

 private:
  bool active_;
#if defined(NNCORE_POSIX_SIGNALS)
  bool installed_ = false;
  struct sigaction old_;
#endif
};

Shape per_sample(const Tensor& x) { return Shape(x.shape().begin() + 1, x.shape().end()); }

// The final values of a run as the logs Keras hands to on_*_end.
Logs results_logs(const std::vector<std::string>& names, const std::vector<double>& values) {
  Logs logs;
  for (size_t k = 0; k < names.size() && k < values.size(); ++k) logs.push_back({names[k], values[k]});
  return logs;
}

int64_t samples(const Tensor& t) { return t.ndim() >= 1 ? t.dim(0) : 0; }

}  // namespace

const std::vector<double>& History::operator[](const std::string& key) const {
  for (const auto& kv : values)
    if (kv.first == key) return kv.second;
  throw std::out_of_range("History: no key '" + key + "'");
}

// ---- compile --------------------------------------------------------------------------------------------------------
void Model::compile(std::shared_ptr<Optimizer> optimizer, const Loss& loss, const std::vector<std::string>& metrics) {
  compile(std::move(optimizer), std::vector<Loss>{loss}, metrics);
}

void Model::compile(std::shared_ptr<Optimizer> optimizer, const std::vector<Loss>& losses,
                    const std::vector<std::string>& metrics) {
  const size_t n_out = std::max<size_t>(outputs_.size(), 1);
  NNC_CHECK(losses.size() == 1 || losses.size() == n_out, "compile: expected 1 loss or one per output (", n_out,
            "), got ", losses.size());
  std::vector<std::vector<Metric>> ms(n_out);
  for (size_t j = 0; j < n_out; ++j)
    for (const auto& m : metrics)
      ms[j].push_back(Metric::from_name(m, losses.size() == n_out ? losses[j] : losses[0],
                                        built_ && j < outputs_.size() ? loss_shape(output_shape(j)) : Shape{}));
  compile(std::move(optimizer), losses, ms);
}

namespace {
// The logs hold one number per metric: a metric with one value per class or threshold is refused, saying what to
// use instead.
void check_single_value(const Metric& m, const Shape& out) {
  const size_t n = m.result_size(out);
  if (n == 1) return;
  if (m.kind() == MetricKind::fbeta)
    throw std::invalid_argument(str_cat("compile: metric '", m.name(), "' with average=None gives one value per "
                                        "class (", n, "); the logs hold one number per metric: pass average='macro', "
                                        "'micro' or 'weighted' (or compute the per-class scores from predict)"));
  throw std::invalid_argument(str_cat("compile: metric '", m.name(), "' has ", n, " thresholds and so ", n,
                                      " values; the logs hold one number per metric: give each threshold its own "
                                      "metric (e.g. Precision(thresholds=0.3, name='precision_at_0.3'))"));
}
}  // namespace

void Model::compile(std::shared_ptr<Optimizer> optimizer, const std::vector<Loss>& losses,
                    const std::vector<std::vector<Metric>>& metrics) {
  NNC_CHECK(optimizer != nullptr, "compile: optimizer must not be null");
  const size_t n_out = std::max<size_t>(outputs_.size(), 1);
  NNC_CHECK(losses.size() == 1 || losses.size() == n_out, "compile: expected 1 loss or one per output (", n_out,
            "), got ", losses.size());
  NNC_CHECK(metrics.empty() || metrics.size() == n_out, "compile: expected one list of metrics per output (", n_out,
            "), got ", metrics.size());
  std::vector<Loss> ls(n_out, losses[0]);
  if (losses.size() == n_out) ls = losses;
  std::vector<std::vector<Metric>> ms = metrics;
  ms.resize(n_out);
  std::set<std::string> names;
  for (size_t j = 0; j < n_out; ++j) {
    const Shape out = built_ && j < outputs_.size() ? loss_shape(output_shape(j)) : Shape{};
    names.clear();
    for (const Metric& m : ms[j]) {
      m.check_compatible(ls[j], out);
      if (!out.empty()) check_single_value(m, out);
      NNC_CHECK(names.insert(m.name()).second, "compile: two metrics of ", n_out > 1 ? "one output" : "the model",
                " are named '", m.name(), "'; give one another name (name=...)");
    }
  }
  optimizer_ = std::move(optimizer);
  losses_ = std::move(ls);
  loss_weights_.clear();
  metrics_ = std::move(ms);
  need_dx_.clear();
}

void Model::set_loss_weights(const std::vector<float>& weights) {
  check_compiled("set_loss_weights");
  NNC_CHECK(weights.empty() || weights.size() == losses_.size(), "compile: loss_weights must have one weight per "
            "output (", losses_.size(), "), got ", weights.size());
  for (float w : weights)
    NNC_CHECK(std::isfinite(w) && w >= 0.f, "compile: loss_weights must be finite and >= 0, got ", w);
  loss_weights_ = weights;
}

const Loss& Model::loss(size_t output) const {
  static const Loss none;
  if (losses_.empty()) return none;
  NNC_CHECK(output < losses_.size(), "Model '", name_, "': output ", output, " out of range");
  return losses_[output];
}

// The outputs whose losses the logs show one by one ("<out>_loss"): those with a loss, when there are two or more
// (Keras 3 logs only "loss" otherwise).
std::vector<size_t> Model::logged_losses() const {
  std::vector<size_t> j;
  if (outputs_.size() <= 1) return j;
  for (size_t k = 0; k < outputs_.size(); ++k)
    if (k >= losses_.size() || losses_[k].kind() != LossKind::none) j.push_back(k);
  if (j.size() < 2) j.clear();
  return j;
}

std::vector<std::string> Model::metrics_names() const {
  std::vector<std::string> n{"loss"};
  if (outputs_.size() <= 1) {
    if (!metrics_.empty())
      for (const Metric& m : metrics_[0]) n.push_back(m.name());
    return n;
  }
  for (size_t j : logged_losses()) n.push_back(output_name(j) + "_loss");
  for (size_t j = 0; j < metrics_.size(); ++j)
    for (const Metric& m : metrics_[j]) n.push_back(output_name(j) + "_" + m.name());
  return n;
}

void Model::check_compiled(const std::string& what) const {
  NNC_CHECK(compiled(), what, ": the model must be compiled first: call compile(optimizer, loss, metrics)");
}

// ---- checks -----------------------------------------------------------------------------------------------------------
std::vector<Shape> Model::check_inputs(const std::vector<Tensor>& xs, const std::string& what) {
  NNC_CHECK(!nodes_.empty() || !layers_.empty(), class_name(), " '", name_, "' has no layers");
  if (!built_) ensure_built(xs, what);
  NNC_CHECK(xs.size() == inputs_.size(), what, ": model '", name_, "' has ", inputs_.size(), " input(s), got ",
            xs.size(), " array(s)");
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    const std::string w = xs.size() == 1 ? what : str_cat(what, "[", i, "] ('", inputs_[i].name, "')");
    NNC_CHECK(x.ndim() >= 2, w, ": expected a batch of samples with at least 2 dimensions (batch, ...), got shape ",
              x.shape_str());
    NNC_CHECK(x.dim(0) > 0, w, ": expected at least one sample, got an empty array of shape ", x.shape_str());
    NNC_CHECK(x.dim(0) == xs[0].dim(0), what, ": every input needs the same number of samples, got ", xs[0].dim(0),
              " and ", x.dim(0));
    if (!shape_fits(inputs_[i].shape, per_sample(x))) {
      Shape want{-1};
      want.insert(want.end(), inputs_[i].shape.begin(), inputs_[i].shape.end());
      // Name the layer that reads this input, as users think in layers.
      std::string reader;
      for (const Node& n : nodes_)
        if (std::find(n.inputs.begin(), n.inputs.end(), i) != n.inputs.end()) {
          reader = str_cat("layer '", n.layer->name(), "' (", n.layer->class_name(), ") ");
          break;
        }
      NNC_CHECK(false, w, ": ", reader, "expected input of shape ", shape_str(want), ", got ", x.shape_str());
    }
    const int64_t bad = kernels::count_nonfinite(x.data(), x.size());
    NNC_CHECK(bad == 0, w, " contains ", bad, " non-finite value(s) (NaN or inf)");
  }
  // The output shapes for these inputs (their lengths on the model's unknown axes).
  std::vector<Shape> in;
  for (const Tensor& x : xs) in.push_back(per_sample(x));
  return call_shapes(in);
}

void Model::check_targets(const std::vector<Tensor>& ys, int64_t n, const std::vector<Shape>& out_shapes,
                          const std::string& x_label, const std::string& y_label) const {
  NNC_CHECK(ys.size() == outputs_.size(), x_label, ": model '", name_, "' has ", outputs_.size(), " output(s), got ",
            ys.size(), " target array(s)");
  for (size_t j = 0; j < ys.size(); ++j) {
    const std::string w = ys.size() == 1 ? std::string("y") : str_cat("y[", j, "] ('", output_name(j), "')");
    NNC_CHECK(samples(ys[j]) == n, x_label, " and ", w, " must have the same number of samples, got ", n, " and ",
              samples(ys[j]));
    losses_[j].check_targets(ys[j], loss_shape(out_shapes[j]), ys.size() == 1 ? y_label : str_cat(y_label, "[", j, "]"));
  }
}

void Model::check_sample_weight(const Tensor& w, int64_t N, const std::string& what) {
  NNC_CHECK(w.ndim() == 1 && w.dim(0) == N, what, ": sample_weight must have shape (", N,
            ",), one weight per sample, got ", w.shape_str());
  for (int64_t i = 0; i < N; ++i) {
    const float v = w.data()[i];
    NNC_CHECK(std::isfinite(v) && v >= 0.f, what, ": sample_weight must hold finite weights >= 0; got ", v,
              " at index ", i);
  }
}

// An output of one value per sample (per-sample shape ()) is one column for the losses and metrics.
Shape Model::loss_shape(const Shape& s) {
  return s.empty() ? Shape{1} : s;
}

// Derived per-compile state: loss fusion, which nodes need an input gradient, the trainable parameters.
void Model::prepare_training() {
  fused_.assign(outputs_.size(), 0);
  for (size_t j = 0; j < outputs_.size(); ++j) {
    const Node& n = nodes_[static_cast<size_t>(value_node_[outputs_[j]])];
    // Fusion replaces the output layer's backward, so its value must feed nothing else.
    fused_[j] = n.num_outputs == 1 && consumers_[outputs_[j]] == 1 && j < losses_.size() &&
                losses_[j].fuses_with(n.layer->output_activation());
  }
  derive_need_dx();
  // Each weight once, even when a layer is reachable twice (directly and inside a nested model).
  train_params_.clear();
  for (auto& l : layers_) l->collect_trainable(train_params_);
  // How many layers hold each weight, trainable or not: one held twice (in a nested model, a wrapper, an op layer
  // sharing it) may be read or written by another call after its own layer's backward.
  std::map<const float*, int> holders;
  for (auto& l : layers_)
    for (const Param& p : l->params()) ++holders[p.value.data()];
  std::set<const float*> seen;
  train_params_.erase(std::remove_if(train_params_.begin(), train_params_.end(),
                                  [&](Param* p) { return !seen.insert(p->value.data()).second; }),
                   train_params_.end());
  std::map<const Layer*, int> calls;
  for (const Node& n : nodes_) ++calls[n.layer.get()];
  step_in_backward_.assign(train_params_.size(), 0);
  for (const Node& n : nodes_) {
    auto* dense = dynamic_cast<Dense*>(n.layer.get());
    if (dense == nullptr || calls[dense] != 1 || dense->quantized() || dense->params().empty()) continue;
    Param& kernel = dense->params()[0];
    if (holders[kernel.value.data()] != 1 || kernel.regularizer.active()) continue;
    for (size_t i = 0; i < train_params_.size(); ++i)
      if (train_params_[i] == &kernel) step_in_backward_[i] = 1;
  }
  if (dout_.size() != outputs_.size()) dout_.resize(outputs_.size());
  moving_state_.clear();
  std::function<void(const Model&)> state_of = [&](const Model& m) {
    for (const auto& l : m.layers()) {
      if (const auto* inner = dynamic_cast<const Model*>(l.get())) {
        state_of(*inner);
      } else if (l->trainable()) {
        for (Param& p : l->params())
          if (!p.trainable && !p.int8 && seen.insert(p.value.data()).second) moving_state_.push_back(&p);
      }
    }
  };
  state_of(*this);
}

std::vector<Param*> Model::trainable_params() {
  prepare_training();
  return train_params_;
}

double Model::regularization(bool with_grad) {
  double penalty = 0.0;
  for (Param* p : train_params_) {
    const Regularizer& r = p->regularizer;
    if (!r.active()) continue;
    float* grad = with_grad ? p->grad_accumulator() : nullptr;
    if (r.l1 != 0.f || r.l2 != 0.f) penalty += kernels::regularize(grad, p->value.data(), p->value.size(), r.l1, r.l2);
    if (r.orthogonal != 0.f && p->value.ndim() == 2) {  // 2-D: checked when the regularizer was set
      const int64_t rows = p->value.dim(0), cols = p->value.dim(1);
      const size_t need = static_cast<size_t>(kernels::orthogonal_scratch_size(rows, cols, r.orthogonal_columns));
      if (reg_scratch_.size() < need) reg_scratch_.resize(need);  // grows once: no allocation per step
      penalty += kernels::orthogonal_regularize(grad, p->value.data(), rows, cols, r.orthogonal_columns, r.orthogonal,
                                                reg_scratch_.data());
    }
  }
  return penalty;
}

// ---- running values ---------------------------------------------------------------------------------------------
void Model::reset_running(Running& r) const {
  const size_t n_out = outputs_.size();
  r.loss_slot.assign(n_out, -1);
  const std::vector<size_t> logged = logged_losses();
  for (size_t k = 0; k < logged.size(); ++k) r.loss_slot[logged[k]] = static_cast<int64_t>(1 + k);
  r.loss.assign(1 + logged.size(), 0.0);
  r.seen = 0;
  r.shapes.resize(metrics_.size());
  r.offset.clear();
  size_t total = 0;
  for (size_t j = 0; j < metrics_.size(); ++j) {
    r.shapes[j] = loss_shape(output_shape(j));
    for (const Metric& m : metrics_[j]) {
      check_single_value(m, r.shapes[j]);
      r.offset.push_back(total);
      total += m.state_size(r.shapes[j]);
    }
  }
  r.state.assign(total, 0.0);
  size_t k = 0;
  for (size_t j = 0; j < metrics_.size(); ++j)
    for (const Metric& m : metrics_[j]) m.reset(r.state.data() + r.offset[k++], r.shapes[j]);
}

void Model::running_values(const Running& r, std::vector<double>& values) const {
  values.clear();
  const double n = r.seen > 0 ? static_cast<double>(r.seen) : 1.0;
  for (double l : r.loss) values.push_back(l / n);
  size_t k = 0;
  for (size_t j = 0; j < metrics_.size(); ++j)
    for (const Metric& m : metrics_[j]) values.push_back(m.result(r.state.data() + r.offset[k++], r.shapes[j]));
}

void Model::running_logs(const Running& r, Logs& logs) const {
  thread_local std::vector<double> values;
  running_values(r, values);
  for (size_t k = 0; k < values.size() && k < logs.size(); ++k) logs[k].second = values[k];
}

// ---- steps ----------------------------------------------------------------------------------------------------------
double Model::losses_and_metrics(const std::vector<Tensor>& yb, int64_t B, Running* r, bool grad, const float* wb) {
  const size_t n_out = outputs_.size();
  const float scale = 1.f / static_cast<float>(B);
  double total = 0.0;
  size_t k = 0;
  for (size_t j = 0; j < n_out; ++j) {
    const Tensor& out = *run_->vals[outputs_[j]];
    const Shape os = loss_shape(Shape(out.shape().begin() + 1, out.shape().end()));
    float* g = nullptr;
    if (grad) {
      dout_[j].resize(out.shape());
      g = dout_[j].data();
    }
    const size_t node = static_cast<size_t>(value_node_[outputs_[j]]);
    // Keras's loss_weights scale an output's share of the total loss (and its gradient); its own "<out>_loss"
    // stays unweighted.
    const float w = j < loss_weights_.size() ? loss_weights_[j] : 1.f;
    const double l = fused_[j] ? losses_[j].compute(nodes_[node].layer->pre_activation(*run_->calls[node]).data(),
                                                    true, yb[j], B, os, g, scale * w, wb)
                               : losses_[j].compute(out.data(), losses_[j].from_logits(), yb[j], B, os, g, scale * w, wb);
    total += static_cast<double>(w) * l;
    if (r == nullptr) continue;
    if (r->loss_slot[j] > 0) r->loss[static_cast<size_t>(r->loss_slot[j])] += l;
    if (j < metrics_.size())
      for (const Metric& m : metrics_[j]) m.update(r->state.data() + r->offset[k++], out.data(), yb[j], B, os, wb);
  }
  // Losses that custom layers added (add_loss): their batch value, in the per-sample sums the loop divides by N.
  const double aux = aux_loss(*run_) * static_cast<double>(B);
  if (r != nullptr) {
    r->loss[0] += total + aux;
    r->seen += B;
  }
  return total + aux;
}

bool Model::train_step(Running& r, const float* wb, double share, bool stop) {
  const int64_t B = xb_[0].dim(0);
  for (Param* p : train_params_) p->mark_grad_stale();  // zero without a pass over memory (Param::grad_stale)
  // The step in parts: Dense kernels are updated where their gradients are computed (Param::step_optimizer); the
  // optimizer then updates the rest. Not with clipping (it needs every gradient first) nor across processes. (A
  // layer whose backward threw after such an update leaves that kernel stepped and the rest not.)
  const bool in_parts = B > 0 && data_parallel_ == nullptr && optimizer_->steps_in_parts();
  struct Unhook {  // no weight stays hooked to the optimizer past this step, whatever happens in it
    const std::vector<Param*>& params;
    ~Unhook() {
      for (Param* p : params) p->step_optimizer = nullptr;
    }
  } unhook{train_params_};
  if (B > 0) {  // a rank of a data-parallel fit may have no samples in a step: it still takes part in the average
    std::vector<const Tensor*> xs;
    for (const Tensor& x : xb_) xs.push_back(&x);
    forward(xs, true);
    losses_and_metrics(yb_, B, &r, true, wb);
    if (in_parts) {
      optimizer_->begin_step(train_params_);
      for (size_t i = 0; i < train_params_.size(); ++i) {
        Param& p = *train_params_[i];
        p.step_updated = false;
        if (step_in_backward_[i]) {
          p.step_optimizer = optimizer_.get();
          p.step_index = i;
        }
      }
    }
    backward(false);
    r.loss[0] += regularization(true) * static_cast<double>(B);  // the reported loss includes the penalty (Keras)
  }
  for (Param* p : train_params_) p->settle_grad();  // the gradients no layer wrote are 0
  if (in_parts) {
    std::vector<char> done(train_params_.size(), 0);
    for (size_t i = 0; i < train_params_.size(); ++i) done[i] = train_params_[i]->step_updated;  // set this step
    optimizer_->finish_step(train_params_, done);
    return stop;
  }
  if (data_parallel_ != nullptr) stop = data_parallel_->average_gradients(train_params_, share, stop);
  optimizer_->apply(train_params_);
  if (data_parallel_ != nullptr) data_parallel_->average_state(moving_state_);
  return stop;
}

void Model::test_step(const std::vector<Tensor>& xb, const std::vector<Tensor>& yb, Running& r, const float* wb) {
  const int64_t B = xb[0].dim(0);
  std::vector<const Tensor*> xs;
  for (const Tensor& x : xb) xs.push_back(&x);
  forward(xs, false);
  losses_and_metrics(yb, B, &r, false, wb);
  r.loss[0] += regularization(false) * static_cast<double>(B);
}

// ---- fit / evaluate / predict ------------------------------------------------------------------------------------------
History Model::fit(const Tensor& x, const Tensor& y, const FitOptions& opt) {
  std::vector<Tensor> vx, vy;
  if (opt.validation_x != nullptr && opt.validation_y != nullptr) {
    vx.push_back(*opt.validation_x);
    vy.push_back(*opt.validation_y);
  }
  NNC_CHECK((opt.validation_x == nullptr) == (opt.validation_y == nullptr), "fit: validation data needs both x and y");
  return fit(std::vector<Tensor>{x}, std::vector<Tensor>{y}, opt, vx, vy);
}

History Model::fit(const std::vector<Tensor>& x, const std::vector<Tensor>& y, const FitOptions& opt,
                   const std::vector<Tensor>& validation_x, const std::vector<Tensor>& validation_y) {
  check_compiled("fit");
  NNC_CHECK(opt.epochs >= 1, "fit: epochs must be >= 1, got ", opt.epochs);
  NNC_CHECK(opt.batch_size >= 1, "fit: batch_size must be >= 1, got ", opt.batch_size);
  NNC_CHECK(opt.validation_split >= 0.0 && opt.validation_split < 1.0,
            "fit: validation_split must be in [0, 1), got ", opt.validation_split);
  NNC_CHECK(opt.initial_epoch >= 0 && opt.initial_epoch < opt.epochs, "fit: initial_epoch must be in [0, epochs), got ",
            opt.initial_epoch);
  NNC_CHECK(validation_x.empty() == validation_y.empty(), "fit: validation data needs both x and y");
  check_targets(y, x[0].dim(0), check_inputs(x, "fit: x"), "fit: x", "y");
  if (opt.sample_weight != nullptr) check_sample_weight(*opt.sample_weight, x[0].dim(0), "fit");

  // validation_split takes the last samples, before any shuffling (as Keras does); validation_data overrides
  // it, and then every sample trains.
  const int64_t N_all = x[0].dim(0);
  const bool split = opt.validation_split > 0.0 && validation_x.empty();
  const int64_t N = split ? static_cast<int64_t>(static_cast<double>(N_all) * (1.0 - opt.validation_split)) : N_all;
  NNC_CHECK(N >= 1 && (!split || N < N_all), "fit: validation_split=", opt.validation_split, " leaves ", N,
            " training and ", N_all - N, " validation samples out of ", N_all);
  std::vector<Tensor> val_x, val_y;
  Tensor val_w;
  bool has_val = false;
  if (!validation_x.empty()) {
    check_targets(validation_y, validation_x[0].dim(0), check_inputs(validation_x, "fit: validation x"),
                  "fit: validation x", "validation y");
    val_x = validation_x;
    val_y = validation_y;
    has_val = true;
  } else if (N < N_all) {
    val_x = row_views(x, N, N_all - N);
    val_y = row_views(y, N, N_all - N);
    if (opt.sample_weight != nullptr) val_w = row_view(*opt.sample_weight, N, N_all - N);
    has_val = true;
  }

  prepare_training();
  // Data-parallel (nncore/distributed.hpp): this rank's part of every global batch, the same order everywhere.
  std::unique_ptr<detail::DataParallel> dp;
  if (opt.reducer != nullptr && opt.reducer->size() > 1) dp = std::make_unique<detail::DataParallel>(*opt.reducer);
  const bool local_data = dp != nullptr && opt.sharding == DataSharding::local;
  const bool global_data = dp != nullptr && !local_data;
  int64_t B = std::min(opt.batch_size, N), steps = (N + B - 1) / B;
  std::vector<int64_t> rank_samples;  // local data: every rank's N
  if (dp != nullptr) {
    dp->check_same({global_data ? N_all : 0, opt.batch_size, opt.epochs, opt.initial_epoch, opt.shuffle ? 1 : 0,
                    static_cast<int64_t>(opt.sharding), static_cast<int64_t>(train_params_.size()),
                    static_cast<int64_t>(opt.validation_split * 1e6), has_val ? 1 : 0},
                   {"samples", "batch_size", "epochs", "initial_epoch", "shuffle", "sharding", "trainable weights",
                    "validation_split (x 1e6)", "validation data"},
                   "fit");
    dp->broadcast_weights(*this);
    B = opt.batch_size;
    if (local_data) {
      rank_samples = dp->gather(N);
      steps = 0;
      for (int64_t n : rank_samples) steps = std::max(steps, (n + B - 1) / B);
    } else {
      steps = (N + B * dp->size() - 1) / (B * dp->size());
    }
  }
  std::vector<int64_t> order(static_cast<size_t>(N));
  std::iota(order.begin(), order.end(), int64_t{0});
  // Each epoch's order depends only on (this fit's seed, the epoch number), so fit(epochs=2) equals fit(epochs=1)
  // then fit(epochs=2, initial_epoch=1) under the same set_random_seed: training resumes exactly from a file.
  // Data-parallel: rank 0's seed (local data: each rank's own order from it).
  uint64_t shuffle_seed = next_seed();
  if (dp != nullptr) shuffle_seed = dp->broadcast_seed(shuffle_seed);
  if (local_data) shuffle_seed ^= 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(dp->rank() + 1);
  std::vector<float> wb(opt.sample_weight != nullptr ? static_cast<size_t>(B) : 0);
  EpochSource src;
  src.steps = steps;
  src.begin_epoch = [&](int64_t epoch) {
    if (!opt.shuffle) return;
    std::iota(order.begin(), order.end(), int64_t{0});
    std::seed_seq seq{static_cast<uint32_t>(shuffle_seed), static_cast<uint32_t>(shuffle_seed >> 32),
                      static_cast<uint32_t>(epoch)};
    std::mt19937_64 shuffle_rng(seq);
    std::shuffle(order.begin(), order.end(), shuffle_rng);
  };
  src.next = [&](int64_t step, const float*& w) {
    int64_t b0 = step * B, nb = std::min(B, N - b0);
    if (global_data) {  // part rank() of global batch `step`
      const int64_t g = B * dp->size(), g0 = step * g, gn = std::min(g, N - g0);
      const detail::Part part = detail::part_of(gn, dp->rank(), dp->size());
      b0 = g0 + part.offset;
      nb = part.count;
      src.share = static_cast<double>(nb) / static_cast<double>(gn);
    } else if (local_data) {  // this rank's batch `step`, maybe past its data (no samples)
      nb = std::max<int64_t>(0, std::min(B, N - b0));
      int64_t all = 0;
      for (int64_t n : rank_samples) all += std::max<int64_t>(0, std::min(B, n - b0));
      src.share = static_cast<double>(nb) / static_cast<double>(all);
      b0 = std::min(b0, N);
    }
    xb_.resize(x.size());
    yb_.resize(y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      Shape s = x[i].shape();
      s[0] = nb;
      xb_[i].resize(s);
      kernels::gather_rows(xb_[i].data(), x[i].data(), order.data() + b0, nb, x[i].size() / N_all);
    }
    for (size_t j = 0; j < y.size(); ++j) {
      const int64_t row = y[j].size() / N_all;
      yb_[j].resize({nb, row});
      kernels::gather_rows(yb_[j].data(), y[j].data(), order.data() + b0, nb, row);
    }
    if (!wb.empty()) kernels::gather_rows(wb.data(), opt.sample_weight->data(), order.data() + b0, nb, 1);
    if (dp == nullptr && b0 + nb < N)  // the next batch's rows, while this one trains
      for (size_t i = 0; i < x.size(); ++i)
        kernels::prefetch_rows(x[i].data(), order.data() + b0 + nb, std::min(B, N - b0 - nb), x[i].size() / N_all);
    w = wb.empty() ? nullptr : wb.data();
    return true;
  };
  std::function<std::vector<double>()> validate;
  if (has_val && dp == nullptr)
    validate = [&] {
      return evaluate(val_x, val_y, B, 0, nullptr, val_w.size() > 0 ? &val_w : nullptr, opt.callbacks.validation);
    };
  else if (has_val)  // each rank its part of the validation data (local data: its own), averaged by samples
    validate = [&] {
      const int64_t V = val_x[0].dim(0);
      const detail::Part part = local_data ? detail::Part{0, V} : detail::part_of(V, dp->rank(), dp->size());
      std::vector<double> v(metrics_names().size(), 0.0);
      if (part.count > 0) {
        Tensor w = val_w.size() > 0 ? row_view(val_w, part.offset, part.count) : Tensor();
        v = evaluate(row_views(val_x, part.offset, part.count), row_views(val_y, part.offset, part.count), B, 0,
                     nullptr, w.size() > 0 ? &w : nullptr, opt.callbacks.validation);
      }
      dp->average_values(v, part.count);
      return v;
    };
  data_parallel_ = dp.get();
  struct Reset {
    Model& m;
    ~Reset() { m.data_parallel_ = nullptr; }
  } reset{*this};
  return run_epochs(src, opt, validate);
}

// The epoch loop of every fit: batches from `src` (already in xb_/yb_ when next returns true), progress, callbacks,
// history, validation after each epoch, Ctrl-C and stop_training.
History Model::run_epochs(EpochSource& src, const FitOptions& opt,
                          const std::function<std::vector<double>()>& validate) {
  stop_training.store(false);
  History hist;
  const std::vector<std::string> names = metrics_names();
  std::vector<std::string> keys = names;
  if (validate)
    for (const auto& k : names) keys.push_back("val_" + k);
  for (const auto& k : keys) hist.values.push_back({k, {}});

  detail::DataParallel* dp = data_parallel_;
  ProgressBar progress(dp != nullptr && dp->rank() != 0 ? 0 : opt.verbose, opt.print);
  InterruptGuard interrupt(opt.handle_sigint);
  TrainingLock weights_lock(*this);
  const FitCallbacks& cb = opt.callbacks;
  if (cb.on_train_begin) cb.on_train_begin();
  Running running;
  Logs logs;
  for (const auto& k : names) logs.push_back({k, 0.0});

  for (int64_t epoch = opt.initial_epoch; epoch < opt.epochs; ++epoch) {
    if (cb.on_epoch_begin) cb.on_epoch_begin(epoch);
    if (src.begin_epoch) src.begin_epoch(epoch);
    progress.begin_epoch(epoch, opt.epochs, src.steps);
    reset_running(running);
    int64_t seen = 0, step = 0;
    bool stop_all = false;  // data-parallel: some rank asked to stop (known to all after a step's average)
    for (; src.steps < 0 || step < src.steps; ++step) {
      const float* w = nullptr;
      if (!src.next(step, w)) break;
      const int64_t nb = xb_[0].dim(0);
      if (cb.on_batch_begin) cb.on_batch_begin(step);
      stop_all = train_step(running, w, src.share, interrupt.interrupted() || stop_training.load());
      seen += nb;
      if (nb > 0) running_logs(running, logs);
      progress.update(step + 1, logs);
      if (cb.on_batch_end) cb.on_batch_end(step, logs);
      if (dp != nullptr ? stop_all : interrupt.interrupted() || stop_training.load()) break;
    }
    bool interrupted = interrupt.interrupted();
    if (dp != nullptr) {  // every rank the same: the epoch's averaged logs, and whether to stop
      std::vector<double> v;
      for (const auto& kv : logs) v.push_back(kv.second);
      dp->average_values(v, seen);
      for (size_t k = 0; k < v.size(); ++k) logs[k].second = v[k];
      const std::vector<bool> any = dp->any({interrupted, stop_all || stop_training.load()});
      interrupted = any[0];
      if (any[1]) stop_training.store(true);
      seen = std::max<int64_t>(seen, 1);  // arrays never run dry; a rank may have had no samples
    }
    if (interrupted) {
      hist.interrupted = true;
      if (opt.verbose > 0) progress.print_line("\nTraining interrupted (Ctrl-C): the weights of the last completed batch are kept.\n");
      break;
    }
    if (seen == 0) {  // a source that ran dry (a generator consumed by an earlier epoch): stop, as Keras does
      if (opt.verbose > 0) progress.print_line("\nThe data ran out: no batches in this epoch; training stops.\n");
      break;
    }
    Logs epoch_logs = logs;
    if (validate) {
      const std::vector<double> v = validate();
      for (size_t k = 0; k < v.size(); ++k) epoch_logs.push_back({"val_" + names[k], v[k]});
    }
    progress.end_epoch(epoch_logs);
    hist.epochs.push_back(epoch);
    for (size_t k = 0; k < epoch_logs.size(); ++k) hist.values[k].second.push_back(epoch_logs[k].second);
    if (src.end_epoch) src.end_epoch(epoch);
    if (cb.on_epoch_end) cb.on_epoch_end(epoch, epoch_logs);
    if (stop_training.load()) break;
  }
  if (cb.on_train_end) cb.on_train_end();
  return hist;
}

// ---- batches from the caller ----------------------------------------------------------------------------------------
// A batch from a BatchSource into the model's own buffers (layers keep their inputs until backward), checked as
// arrays are (shapes, finite values, targets).
bool Model::fetch(BatchSource& data, int64_t step, const std::string& what, bool with_targets, Tensor& w) {
  std::vector<Tensor> xs, ys;
  w = Tensor();
  if (!data.next(step, xs, ys, w)) return false;
  const std::string label = str_cat(what, ": batch ", step);
  check_inputs(xs, label + " x");
  if (with_targets) {
    std::vector<Shape> in;
    for (const Tensor& t : xs) in.emplace_back(t.shape().begin() + 1, t.shape().end());
    check_targets(ys, xs[0].dim(0), call_shapes(in), label + " x", label + " y");
    if (w.size() > 0) check_sample_weight(w, xs[0].dim(0), label);
  }
  xb_.resize(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    xb_[i].resize(xs[i].shape());
    xb_[i].copy_from(xs[i]);
  }
  yb_.resize(ys.size());
  for (size_t j = 0; j < ys.size(); ++j) {
    yb_[j].resize(ys[j].shape());
    yb_[j].copy_from(ys[j]);
  }
  return true;
}

History Model::fit(BatchSource& data, const FitOptions& opt, BatchSource* validation) {
  NNC_CHECK(opt.reducer == nullptr || opt.reducer->size() <= 1, "fit: data-parallel training takes arrays (x, y), "
            "not batches from a generator or dataset: pass the arrays (each rank shards them), or give each rank its "
            "own arrays with the local sharding");
  check_compiled("fit");
  NNC_CHECK(opt.epochs >= 1, "fit: epochs must be >= 1, got ", opt.epochs);
  NNC_CHECK(opt.initial_epoch >= 0 && opt.initial_epoch < opt.epochs, "fit: initial_epoch must be in [0, epochs), got ",
            opt.initial_epoch);
  NNC_CHECK(opt.validation_split == 0.0, "fit: validation_split needs arrays; with batches from a generator or "
            "dataset pass validation_data");
  prepare_training();
  Tensor w;
  EpochSource src;
  src.steps = data.steps;
  // Called through `data`, not copied: a caller's functions may hold objects (Python's) that must not be copied
  // here, where no lock of theirs is held.
  if (data.begin_epoch) src.begin_epoch = [&data](int64_t e) { data.begin_epoch(e); };
  if (data.end_epoch) src.end_epoch = [&data](int64_t e) { data.end_epoch(e); };
  src.next = [&](int64_t step, const float*& wp) {
    if (!fetch(data, step, "fit", true, w)) return false;
    wp = w.size() > 0 ? w.data() : nullptr;
    return true;
  };
  std::function<std::vector<double>()> validate;
  if (validation != nullptr) validate = [&] { return evaluate(*validation, 0, nullptr, opt.callbacks.validation); };
  return run_epochs(src, opt, validate);
}

std::vector<double> Model::evaluate(BatchSource& data, int verbose,
                                    const std::function<void(const std::string&)>& print,
                                    const EvalCallbacks& cb) {
  check_compiled("evaluate");
  if (need_dx_.size() != nodes_.size()) prepare_training();
  if (data.begin_epoch) data.begin_epoch(0);
  const std::vector<std::string> names = metrics_names();
  Running running;
  reset_running(running);
  ProgressBar progress(verbose, print);
  progress.begin(data.steps);
  Logs logs;
  for (const auto& k : names) logs.push_back({k, 0.0});
  int64_t seen = 0;
  Tensor w;
  if (cb.on_begin) cb.on_begin();
  for (int64_t step = 0; data.steps < 0 || step < data.steps; ++step) {
    if (!fetch(data, step, "evaluate", true, w)) break;
    const int64_t nb = xb_[0].dim(0);
    if (cb.on_batch_begin) cb.on_batch_begin(step);
    test_step(xb_, yb_, running, w.size() > 0 ? w.data() : nullptr);
    seen += nb;
    running_logs(running, logs);
    progress.update(step + 1, logs);
    if (cb.on_batch_end) cb.on_batch_end(step, logs);
  }
  NNC_CHECK(seen > 0, "evaluate: the data gave no batches");
  progress.end_epoch(logs);
  std::vector<double> values;
  running_values(running, values);
  if (cb.on_end) cb.on_end(results_logs(names, values));
  return values;
}

std::vector<Tensor> Model::predict(BatchSource& data, const EvalCallbacks& cb) {
  if (data.begin_epoch) data.begin_epoch(0);
  std::vector<std::vector<Tensor>> parts(outputs_.size());
  Tensor w;
  int64_t total = 0;
  if (cb.on_begin) cb.on_begin();
  for (int64_t step = 0; data.steps < 0 || step < data.steps; ++step) {
    if (!fetch(data, step, "predict", false, w)) break;
    if (cb.on_batch_begin) cb.on_batch_begin(step);
    std::vector<const Tensor*> xs;
    for (const Tensor& t : xb_) xs.push_back(&t);
    forward(xs, false);
    for (size_t j = 0; j < outputs_.size(); ++j) parts[j].push_back(run_->vals[outputs_[j]]->clone());
    total += xb_[0].dim(0);
    if (cb.on_batch_end) cb.on_batch_end(step, {});
  }
  NNC_CHECK(total > 0, "predict: the data gave no batches");
  if (cb.on_end) cb.on_end({});
  std::vector<Tensor> out(outputs_.size());
  for (size_t j = 0; j < outputs_.size(); ++j) {
    Shape s = parts[j][0].shape();
    for (const Tensor& t : parts[j])
      NNC_CHECK(Shape(t.shape().begin() + 1, t.shape().end()) == Shape(s.begin() + 1, s.end()), "predict: batches "
                "give outputs of different shapes (", t.shape_str(), " and ", shape_str(s), "); predict on batches "
                "of one length, or pad them");
    s[0] = total;
    out[j].resize(s);
    int64_t off = 0;
    for (const Tensor& t : parts[j]) {
      std::memcpy(out[j].data() + off, t.data(), sizeof(float) * static_cast<size_t>(t.size()));
      off += t.size();
    }
  }
  return out;
}

std::vector<double> Model::evaluate(const Tensor& x, const Tensor& y, int64_t batch_size, int verbose,
                                    const std::function<void(const std::string&)>& print, const Tensor* sample_weight,
                                    const EvalCallbacks& cb) {
  return evaluate(std::vector<Tensor>{x}, std::vector<Tensor>{y}, batch_size, verbose, print, sample_weight, cb);
}

std::vector<double> Model::evaluate(const std::vector<Tensor>& x, const std::vector<Tensor>& y, int64_t batch_size,
                                    int verbose, const std::function<void(const std::string&)>& print,
                                    const Tensor* sample_weight, const EvalCallbacks& cb) {
  check_compiled("evaluate");
  NNC_CHECK(batch_size >= 1, "evaluate: batch_size must be >= 1, got ", batch_size);
  check_targets(y, x[0].dim(0), check_inputs(x, "evaluate: x"), "evaluate: x", "y");
  if (sample_weight != nullptr) check_sample_weight(*sample_weight, x[0].dim(0), "evaluate");
  if (need_dx_.size() != nodes_.size()) prepare_training();
  const int64_t N = x[0].dim(0), B = std::min(batch_size, N), steps = (N + B - 1) / B;
  const std::vector<std::string> names = metrics_names();
  Running running;
  reset_running(running);
  ProgressBar progress(verbose, print);
  progress.begin(steps);
  Logs logs;
  for (const auto& k : names) logs.push_back({k, 0.0});
  if (cb.on_begin) cb.on_begin();
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t b0 = step * B, nb = std::min(B, N - b0);
    if (cb.on_batch_begin) cb.on_batch_begin(step);
    test_step(row_views(x, b0, nb), row_views(y, b0, nb), running,
              sample_weight != nullptr ? sample_weight->data() + b0 : nullptr);
    running_logs(running, logs);
    progress.update(step + 1, logs);
    if (cb.on_batch_end) cb.on_batch_end(step, logs);
  }
  progress.end_epoch(logs);
  std::vector<double> values;
  running_values(running, values);
  if (cb.on_end) cb.on_end(results_logs(names, values));
  return values;
}

std::vector<Tensor> Model::predict(const std::vector<Tensor>& x, int64_t batch_size, const EvalCallbacks& cb) {
  NNC_CHECK(batch_size >= 1, "predict: batch_size must be >= 1, got ", batch_size);
  const std::vector<Shape> out_shapes = check_inputs(x, "predict: x");
  const int64_t N = x[0].dim(0), B = std::min(batch_size, N);
  std::vector<Tensor> out(outputs_.size());
  for (size_t j = 0; j < outputs_.size(); ++j) {
    Shape s{N};
    s.insert(s.end(), out_shapes[j].begin(), out_shapes[j].end());
    out[j].resize(s);
  }
  if (cb.on_begin) cb.on_begin();
  for (int64_t b0 = 0; b0 < N; b0 += B) {
    const int64_t nb = std::min(B, N - b0);
    if (cb.on_batch_begin) cb.on_batch_begin(b0 / B);
    const std::vector<Tensor> xb = row_views(x, b0, nb);
    std::vector<const Tensor*> xs;
    for (const Tensor& t : xb) xs.push_back(&t);
    forward(xs, false);
    for (size_t j = 0; j < outputs_.size(); ++j) {
      const int64_t row = out[j].size() / N;
      std::memcpy(out[j].data() + b0 * row, run_->vals[outputs_[j]]->data(), sizeof(float) * static_cast<size_t>(nb * row));
    }
    if (cb.on_batch_end) cb.on_batch_end(b0 / B, {});
  }
  if (cb.on_end) cb.on_end({});
  return out;
}

void Model::predict_into(const Tensor& x, Tensor& out, int64_t batch_size) {
  NNC_CHECK(batch_size >= 1, "predict: batch_size must be >= 1, got ", batch_size);
  const std::vector<Tensor> xs{x};
  const std::vector<Shape> out_shapes = check_inputs(xs, "predict: x");
  NNC_CHECK(outputs_.size() == 1, "predict: model '", name_, "' has ", outputs_.size(), " outputs; use the list form");
  const int64_t N = x.dim(0), B = std::min(batch_size, N);
  Shape out_shape{N};
  out_shape.insert(out_shape.end(), out_shapes[0].begin(), out_shapes[0].end());
  out.resize(out_shape);
  const int64_t row = out.size() / N;
  for (int64_t b0 = 0; b0 < N; b0 += B) {
    const int64_t nb = std::min(B, N - b0);
    const Tensor xb = row_view(x, b0, nb);
    forward({&xb}, false);
    std::memcpy(out.data() + b0 * row, run_->vals[outputs_[0]]->data(), sizeof(float) * static_cast<size_t>(nb * row));
  }
}

Tensor Model::predict(const Tensor& x, int64_t batch_size) {
  Tensor out;
  predict_into(x, out, batch_size);
  return out;
}

std::vector<double> Model::train_on_batch(const Tensor& x, const Tensor& y) {
  return train_on_batch(std::vector<Tensor>{x}, std::vector<Tensor>{y});
}

std::vector<double> Model::train_on_batch(const std::vector<Tensor>& x, const std::vector<Tensor>& y) {
  check_compiled("train_on_batch");
  TrainingLock weights_lock(*this);
  check_targets(y, x[0].dim(0), check_inputs(x, "train_on_batch: x"), "train_on_batch: x", "y");
  prepare_training();
  Running running;
  reset_running(running);
  xb_.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    xb_[i].resize(x[i].shape());
    xb_[i].copy_from(x[i]);  // layers keep their input until backward; own it
  }
  yb_.resize(y.size());
  for (size_t j = 0; j < y.size(); ++j) {
    yb_[j].resize(y[j].shape());
    yb_[j].copy_from(y[j]);
  }
  train_step(running, nullptr);
  std::vector<double> values;
  running_values(running, values);
  return values;
}

std::vector<double> Model::test_on_batch(const Tensor& x, const Tensor& y) {
  return evaluate(x, y, x.ndim() > 0 && x.dim(0) > 0 ? x.dim(0) : 1, 0);
}

// ---- gradients without an update -----------------------------------------------------------------------------------
// One forward in inference mode (dropout off, BatchNormalization on its moving statistics), the mean loss plus
// the weight penalties, and a backward that fills every trainable parameter's grad and optionally d(loss)/d(x).
// Deterministic, so finite differences can check it; also saliency maps and FGSM.
double Model::compute_gradients(const Tensor& x, const Tensor& y, Tensor* dx) {
  std::vector<Tensor> dxs;
  const double loss = compute_gradients(std::vector<Tensor>{x}, std::vector<Tensor>{y}, dx ? &dxs : nullptr);
  if (dx) *dx = dxs[0];
  return loss;
}

double Model::compute_gradients(const std::vector<Tensor>& x, const std::vector<Tensor>& y, std::vector<Tensor>* dxs) {
  const std::string what = dxs ? "input_gradient" : "compute_gradients";
  check_compiled(what);
  check_targets(y, x[0].dim(0), check_inputs(x, what + ": x"), what + ": x", "y");
  prepare_training();
  const int64_t B = x[0].dim(0);
  std::vector<const Tensor*> xs;
  for (const Tensor& t : x) xs.push_back(&t);
  forward(xs, false);
  const double loss = losses_and_metrics(y, B, nullptr, true, nullptr) / static_cast<double>(B);
  for (Param* p : train_params_) p->mark_grad_stale();
  const std::vector<const Tensor*> g = backward(dxs != nullptr);
  if (dxs) {
    dxs->assign(x.size(), Tensor());
    for (size_t i = 0; i < x.size(); ++i) {
      (*dxs)[i] = Tensor(x[i].shape());  // zeros when no gradient reaches this input
      if (g[i]) (*dxs)[i].copy_from(*g[i]);  // g may be a layer buffer: copy before the next forward
    }
  }
  const double penalty = regularization(true);
  for (Param* p : train_params_) p->settle_grad();
  return loss + penalty;
}

Tensor Model::input_gradient(const Tensor& x, const Tensor& y) {
  Tensor dx;
  compute_gradients(x, y, &dx);
  return dx;
}

}  // namespace nncore
