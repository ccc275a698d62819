#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>

#include "kernels/kernels.hpp"
#include "model/progress.hpp"
#include "nncore/check.hpp"
#include "nncore/model.hpp"
#include "nncore/runtime.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <signal.h>
#define NNCORE_POSIX_SIGNALS 1
#endif

namespace nncore {

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

// Rows [begin, begin+n) of a (N, ...) tensor as a view (no copy).
Tensor row_view(const Tensor& x, int64_t begin, int64_t n) {
  Shape s = x.shape();
  const int64_t row = x.dim(0) > 0 ? x.size() / x.dim(0) : 0;
  s[0] = n;
  return Tensor::view(const_cast<float*>(x.data()) + begin * row, s);
}

// dst rows = src rows idx[0..n)
void gather_rows(float* dst, const float* src, const int64_t* idx, int64_t n, int64_t row) {
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dst + i * row, src + idx[i] * row, sizeof(float) * static_cast<size_t>(row));
}

}  // namespace

const std::vector<double>& History::operator[](const std::string& key) const {
  for (const auto& kv : values)
    if (kv.first == key) return kv.second;
  throw std::out_of_range("History: no key '" + key + "'");
}

Sequential::Sequential(std::string name) : name_(name.empty() ? unique_layer_name("sequential") : std::move(name)) {}

Sequential::Sequential(std::vector<LayerPtr> layers, std::string name) : Sequential(std::move(name)) {
  for (auto& l : layers) add(std::move(l));
}

void Sequential::add(LayerPtr layer) {
  NNC_CHECK(layer != nullptr, "Sequential.add: expected a layer, got null");
  for (const auto& l : layers_)
    NNC_CHECK(l.get() != layer.get(), "Sequential.add: layer '", layer->name(), "' is already in the model");
  if (built_) layer->build(output_shape());
  layers_.push_back(std::move(layer));
  need_dx_.clear();
}

LayerPtr Sequential::pop() {
  NNC_CHECK(!layers_.empty(), "Sequential.pop: the model has no layers");
  LayerPtr l = layers_.back();
  layers_.pop_back();
  if (layers_.empty()) built_ = false;
  need_dx_.clear();
  return l;
}

void Sequential::build(const Shape& input_shape) {
  NNC_CHECK(!layers_.empty(), "Sequential '", name_, "': cannot build a model with no layers");
  Shape s = input_shape;
  for (auto& l : layers_) {
    l->build(s);
    s = l->output_shape();
  }
  built_ = true;
  need_dx_.clear();
}

const Shape& Sequential::input_shape() const {
  NNC_CHECK(built_, "Sequential '", name_, "' is not built yet");
  return layers_.front()->input_shape();
}

const Shape& Sequential::output_shape() const {
  NNC_CHECK(built_, "Sequential '", name_, "' is not built yet");
  return layers_.back()->output_shape();
}

void Sequential::compile(std::shared_ptr<Optimizer> optimizer, const Loss& loss,
                         const std::vector<std::string>& metrics) {
  NNC_CHECK(optimizer != nullptr, "compile: optimizer must not be null");
  std::vector<Metric> ms;
  for (const auto& m : metrics) ms.push_back(Metric::from_name(m, loss));
  optimizer_ = std::move(optimizer);
  loss_ = loss;
  metrics_ = std::move(ms);
  need_dx_.clear();
}

std::vector<std::string> Sequential::metrics_names() const {
  std::vector<std::string> n{"loss"};
  for (const auto& m : metrics_) n.push_back(m.name());
  return n;
}

void Sequential::check_compiled(const std::string& what) const {
  NNC_CHECK(compiled(), what, ": the model must be compiled first: call compile(optimizer, loss, metrics)");
}

void Sequential::check_x(const Tensor& x, const std::string& what) {
  NNC_CHECK(!layers_.empty(), "Sequential '", name_, "' has no layers");
  NNC_CHECK(x.ndim() >= 2, what, ": expected a batch of samples with at least 2 dimensions (batch, ...), got shape ",
            x.shape_str());
  NNC_CHECK(x.dim(0) > 0, what, ": expected at least one sample, got an empty array of shape ", x.shape_str());
  if (!built_) build(per_sample(x));
  const Shape& in = input_shape();
  if (per_sample(x) != in) {
    Shape want{-1};
    want.insert(want.end(), in.begin(), in.end());
    NNC_CHECK(false, what, ": layer '", layers_.front()->name(), "' (", layers_.front()->class_name(),
              ") expected input of shape ", shape_str(want), ", got ", x.shape_str());
  }
  const int64_t bad = kernels::count_nonfinite(x.data(), x.size());
  NNC_CHECK(bad == 0, what, " contains ", bad, " non-finite value(s) (NaN or inf)");
}

// Derived per-compile state: loss fusion, which layers need an input gradient, the trainable parameters.
void Sequential::prepare_training() {
  const Layer& last = *layers_.back();
  fused_ = loss_.fuses_with(last.output_activation());
  need_dx_.assign(layers_.size(), 0);
  bool earlier_trainable = false;
  for (size_t i = 0; i < layers_.size(); ++i) {
    need_dx_[i] = earlier_trainable ? 1 : 0;
    if (layers_[i]->trainable() && layers_[i]->count_trainable_params() > 0) earlier_trainable = true;
  }
  trainable_.clear();
  for (auto& l : layers_)
    if (l->trainable())
      for (Param& p : l->params())
        if (p.trainable) trainable_.push_back(&p);
}

const Tensor& Sequential::forward(const Tensor& x, bool training) {
  const Tensor* h = &x;
  const Tensor* mask = nullptr;
  for (auto& l : layers_) {
    l->set_input_mask(mask);
    h = &l->forward(*h, training);
    mask = l->output_mask();
  }
  return *h;
}

void Sequential::train_step(const Tensor& xb, const float* yb, std::vector<double>& sums, const float* wb) {
  const int64_t B = xb.dim(0);
  const Tensor& out = forward(xb, true);
  const Shape& os = output_shape();
  dout_.resize(out.shape());
  const float scale = 1.f / static_cast<float>(B);
  if (fused_)
    sums[0] += loss_.compute(layers_.back()->pre_activation().data(), true, yb, B, os, dout_.data(), scale, wb);
  else
    sums[0] += loss_.compute(out.data(), loss_.from_logits(), yb, B, os, dout_.data(), scale, wb);
  for (size_t m = 0; m < metrics_.size(); ++m) sums[m + 1] += metrics_[m].compute(out.data(), yb, B, os);

  for (Param* p : trainable_) p->grad.zero();
  const Tensor* g = &dout_;
  for (size_t i = layers_.size(); i-- > 0;) {
    const bool need_dx = need_dx_[i] != 0;
    if (i + 1 == layers_.size() && fused_) g = &layers_[i]->backward_from_preact(*g, need_dx);
    else g = &layers_[i]->backward(*g, need_dx);
    if (!need_dx) break;  // nothing below needs a gradient
  }
  sums[0] += regularization(true) * static_cast<double>(B);  // the reported loss includes the penalty (Keras)
  optimizer_->apply(trainable_);
}

void Sequential::test_step(const Tensor& xb, const float* yb, std::vector<double>& sums, const float* wb) {
  const int64_t B = xb.dim(0);
  const Tensor& out = forward(xb, false);
  const Shape& os = output_shape();
  if (fused_)
    sums[0] += loss_.compute(layers_.back()->pre_activation().data(), true, yb, B, os, nullptr, 0.f, wb);
  else
    sums[0] += loss_.compute(out.data(), loss_.from_logits(), yb, B, os, nullptr, 0.f, wb);
  for (size_t m = 0; m < metrics_.size(); ++m) sums[m + 1] += metrics_[m].compute(out.data(), yb, B, os);
  sums[0] += regularization(false) * static_cast<double>(B);
}

void Sequential::check_sample_weight(const Tensor& w, int64_t N, const std::string& what) {
  NNC_CHECK(w.ndim() == 1 && w.dim(0) == N, what, ": sample_weight must have shape (", N,
            ",), one weight per sample, got ", w.shape_str());
  for (int64_t i = 0; i < N; ++i) {
    const float v = w.data()[i];
    NNC_CHECK(std::isfinite(v) && v >= 0.f, what, ": sample_weight must hold finite weights >= 0; got ", v,
              " at index ", i);
  }
}

double Sequential::regularization(bool with_grad) {
  double penalty = 0.0;
  for (Param* p : trainable_)
    if (p->regularizer.active())
      penalty += kernels::regularize(with_grad ? p->grad.data() : nullptr, p->value.data(), p->value.size(),
                                     p->regularizer.l1, p->regularizer.l2);
  return penalty;
}

History Sequential::fit(const Tensor& x, const Tensor& y, const FitOptions& opt) {
  check_compiled("fit");
  NNC_CHECK(opt.epochs >= 1, "fit: epochs must be >= 1, got ", opt.epochs);
  NNC_CHECK(opt.batch_size >= 1, "fit: batch_size must be >= 1, got ", opt.batch_size);
  NNC_CHECK(opt.validation_split >= 0.0 && opt.validation_split < 1.0,
            "fit: validation_split must be in [0, 1), got ", opt.validation_split);
  NNC_CHECK(opt.initial_epoch >= 0 && opt.initial_epoch < opt.epochs, "fit: initial_epoch must be in [0, epochs), got ",
            opt.initial_epoch);
  NNC_CHECK((opt.validation_x == nullptr) == (opt.validation_y == nullptr),
            "fit: validation data needs both x and y");
  check_x(x, "fit: x");
  NNC_CHECK(y.ndim() >= 1 && y.dim(0) == x.dim(0), "fit: x and y must have the same number of samples, got ",
            x.dim(0), " and ", (y.ndim() >= 1 ? y.dim(0) : 0));
  loss_.check_targets(y, output_shape(), "y");
  if (opt.sample_weight != nullptr) check_sample_weight(*opt.sample_weight, x.dim(0), "fit");

  // validation_split takes the last samples, before any shuffling (as Keras does); validation_data overrides
  // it, and then every sample trains.
  const int64_t N_all = x.dim(0);
  const bool split = opt.validation_split > 0.0 && opt.validation_x == nullptr;
  const int64_t N =
      split ? static_cast<int64_t>(static_cast<double>(N_all) * (1.0 - opt.validation_split)) : N_all;
  NNC_CHECK(N >= 1 && (!split || N < N_all), "fit: validation_split=", opt.validation_split, " leaves ", N,
            " training and ", N_all - N, " validation samples out of ", N_all);
  Tensor val_x, val_y, val_w;
  bool has_val = false;
  if (opt.validation_x != nullptr) {
    check_x(*opt.validation_x, "fit: validation x");
    NNC_CHECK(opt.validation_y->ndim() >= 1 && opt.validation_y->dim(0) == opt.validation_x->dim(0),
              "fit: validation x and y must have the same number of samples, got ", opt.validation_x->dim(0),
              " and ", (opt.validation_y->ndim() >= 1 ? opt.validation_y->dim(0) : 0));
    loss_.check_targets(*opt.validation_y, output_shape(), "validation y");
    val_x = *opt.validation_x;
    val_y = *opt.validation_y;
    has_val = true;
  } else if (N < N_all) {
    val_x = row_view(x, N, N_all - N);
    val_y = row_view(y, N, N_all - N);
    if (opt.sample_weight != nullptr) val_w = row_view(*opt.sample_weight, N, N_all - N);
    has_val = true;
  }

  prepare_training();
  stop_training.store(false);
  const int64_t row_x = x.size() / N_all, row_y = y.size() / N_all;
  const int64_t B = std::min(opt.batch_size, N), steps = (N + B - 1) / B;
  std::vector<int64_t> order(static_cast<size_t>(N));
  std::iota(order.begin(), order.end(), int64_t{0});
  // Each epoch's order depends only on (this fit's seed, the epoch number), so fit(epochs=2) equals fit(epochs=1)
  // then fit(epochs=2, initial_epoch=1) under the same set_random_seed: training resumes exactly from a file.
  const uint64_t shuffle_seed = next_seed();
  Shape xb_shape = x.shape();
  std::vector<float> wb(opt.sample_weight != nullptr ? static_cast<size_t>(B) : 0);

  History hist;
  std::vector<std::string> keys = metrics_names();
  if (has_val)
    for (const auto& k : metrics_names()) keys.push_back("val_" + k);
  for (const auto& k : keys) hist.values.push_back({k, {}});

  ProgressBar progress(opt.verbose, opt.print);
  InterruptGuard interrupt(opt.handle_sigint);
  const FitCallbacks& cb = opt.callbacks;
  if (cb.on_train_begin) cb.on_train_begin();
  std::vector<double> sums(metrics_.size() + 1);
  Logs logs;
  for (const auto& k : metrics_names()) logs.push_back({k, 0.0});

  for (int64_t epoch = opt.initial_epoch; epoch < opt.epochs; ++epoch) {
    if (cb.on_epoch_begin) cb.on_epoch_begin(epoch);
    if (opt.shuffle) {
      std::iota(order.begin(), order.end(), int64_t{0});
      std::seed_seq seq{static_cast<uint32_t>(shuffle_seed), static_cast<uint32_t>(shuffle_seed >> 32),
                        static_cast<uint32_t>(epoch)};
      std::mt19937_64 shuffle_rng(seq);
      std::shuffle(order.begin(), order.end(), shuffle_rng);
    }
    progress.begin_epoch(epoch, opt.epochs, steps);
    std::fill(sums.begin(), sums.end(), 0.0);
    int64_t seen = 0;
    for (int64_t step = 0; step < steps; ++step) {
      const int64_t b0 = step * B, nb = std::min(B, N - b0);
      xb_shape[0] = nb;
      xb_.resize(xb_shape);
      yb_.resize({nb, row_y});
      gather_rows(xb_.data(), x.data(), order.data() + b0, nb, row_x);
      gather_rows(yb_.data(), y.data(), order.data() + b0, nb, row_y);
      if (!wb.empty()) gather_rows(wb.data(), opt.sample_weight->data(), order.data() + b0, nb, 1);
      train_step(xb_, yb_.data(), sums, wb.empty() ? nullptr : wb.data());
      seen += nb;
      for (size_t k = 0; k < sums.size(); ++k) logs[k].second = sums[k] / static_cast<double>(seen);
      progress.update(step + 1, logs);
      if (cb.on_batch_end) cb.on_batch_end(step, logs);
      if (interrupt.interrupted() || stop_training.load()) break;
    }
    if (interrupt.interrupted()) {
      hist.interrupted = true;
      if (opt.verbose > 0) progress.print_line("\nTraining interrupted (Ctrl-C): the weights of the last completed batch are kept.\n");
      break;
    }
    Logs epoch_logs = logs;
    if (has_val) {
      const std::vector<double> v = evaluate(val_x, val_y, B, 0, nullptr, val_w.size() > 0 ? &val_w : nullptr);
      const auto names = metrics_names();
      for (size_t k = 0; k < v.size(); ++k) epoch_logs.push_back({"val_" + names[k], v[k]});
    }
    progress.end_epoch(epoch_logs);
    hist.epochs.push_back(epoch);
    for (size_t k = 0; k < epoch_logs.size(); ++k) hist.values[k].second.push_back(epoch_logs[k].second);
    if (cb.on_epoch_end) cb.on_epoch_end(epoch, epoch_logs);
    if (stop_training.load()) break;
  }
  if (cb.on_train_end) cb.on_train_end();
  return hist;
}

std::vector<double> Sequential::evaluate(const Tensor& x, const Tensor& y, int64_t batch_size, int verbose,
                                         const std::function<void(const std::string&)>& print,
                                         const Tensor* sample_weight) {
  check_compiled("evaluate");
  NNC_CHECK(batch_size >= 1, "evaluate: batch_size must be >= 1, got ", batch_size);
  check_x(x, "evaluate: x");
  NNC_CHECK(y.ndim() >= 1 && y.dim(0) == x.dim(0), "evaluate: x and y must have the same number of samples, got ",
            x.dim(0), " and ", (y.ndim() >= 1 ? y.dim(0) : 0));
  loss_.check_targets(y, output_shape(), "y");
  if (sample_weight != nullptr) check_sample_weight(*sample_weight, x.dim(0), "evaluate");
  if (need_dx_.size() != layers_.size()) prepare_training();
  const int64_t N = x.dim(0), row_y = y.size() / N, B = std::min(batch_size, N), steps = (N + B - 1) / B;
  std::vector<double> sums(metrics_.size() + 1);
  ProgressBar progress(verbose, print);
  progress.begin(steps);
  Logs logs;
  for (const auto& k : metrics_names()) logs.push_back({k, 0.0});
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t b0 = step * B, nb = std::min(B, N - b0);
    test_step(row_view(x, b0, nb), y.data() + b0 * row_y, sums,
              sample_weight != nullptr ? sample_weight->data() + b0 : nullptr);
    for (size_t k = 0; k < sums.size(); ++k) logs[k].second = sums[k] / static_cast<double>(b0 + nb);
    progress.update(step + 1, logs);
  }
  progress.end_epoch(logs);
  for (double& s : sums) s /= static_cast<double>(N);
  return sums;
}

void Sequential::predict_into(const Tensor& x, Tensor& out, int64_t batch_size) {
  NNC_CHECK(batch_size >= 1, "predict: batch_size must be >= 1, got ", batch_size);
  check_x(x, "predict: x");
  const int64_t N = x.dim(0), B = std::min(batch_size, N);
  Shape out_shape{N};
  const Shape& os = output_shape();
  out_shape.insert(out_shape.end(), os.begin(), os.end());
  out.resize(out_shape);
  const int64_t row = out.size() / N;
  for (int64_t b0 = 0; b0 < N; b0 += B) {
    const int64_t nb = std::min(B, N - b0);
    const Tensor& o = forward(row_view(x, b0, nb), false);
    std::memcpy(out.data() + b0 * row, o.data(), sizeof(float) * static_cast<size_t>(nb * row));
  }
}

Tensor Sequential::predict(const Tensor& x, int64_t batch_size) {
  Tensor out;
  predict_into(x, out, batch_size);
  return out;
}

std::vector<double> Sequential::train_on_batch(const Tensor& x, const Tensor& y) {
  check_compiled("train_on_batch");
  check_x(x, "train_on_batch: x");
  NNC_CHECK(y.ndim() >= 1 && y.dim(0) == x.dim(0), "train_on_batch: x and y must have the same number of samples, got ",
            x.dim(0), " and ", (y.ndim() >= 1 ? y.dim(0) : 0));
  loss_.check_targets(y, output_shape(), "y");
  prepare_training();
  std::vector<double> sums(metrics_.size() + 1);
  xb_.resize(x.shape());
  xb_.copy_from(x);  // layers keep their input until backward; own it
  train_step(xb_, y.data(), sums);
  for (double& s : sums) s /= static_cast<double>(x.dim(0));
  return sums;
}

std::vector<double> Sequential::test_on_batch(const Tensor& x, const Tensor& y) {
  return evaluate(x, y, x.ndim() > 0 && x.dim(0) > 0 ? x.dim(0) : 1, 0);
}

int64_t Sequential::count_params() const {
  int64_t n = 0;
  for (const auto& l : layers_) n += l->count_params();
  return n;
}

std::vector<Param*> Sequential::trainable_params() {
  prepare_training();
  return trainable_;
}

std::vector<Tensor*> Sequential::weights() {
  std::vector<Tensor*> w;
  for (auto& l : layers_)
    for (Param& p : l->params()) w.push_back(&p.value);
  return w;
}

std::string Sequential::summary(int line_length) const {
  const int c1 = line_length * 45 / 100, c2 = line_length * 30 / 100;
  auto pad = [](std::string s, int w) {
    if (static_cast<int>(s.size()) < w) s += std::string(static_cast<size_t>(w - static_cast<int>(s.size())), ' ');
    return s + " ";
  };
  auto group = [](int64_t n) {
    std::string s = std::to_string(n), out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (i && (s.size() - i) % 3 == 0) out += ',';
      out += s[i];
    }
    return out;
  };
  std::ostringstream os;
  os << "Model: \"" << name_ << "\"\n" << std::string(static_cast<size_t>(line_length), '_') << "\n";
  os << " " << pad("Layer (type)", c1 - 1) << pad("Output Shape", c2) << "Param #\n";
  os << std::string(static_cast<size_t>(line_length), '=') << "\n";
  int64_t total = 0, trainable = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = *layers_[i];
    std::string shape = "?";
    if (l.built()) {
      Shape s{-1};
      s.insert(s.end(), l.output_shape().begin(), l.output_shape().end());
      shape = shape_str(s);
    }
    os << " " << pad(l.name() + " (" + l.class_name() + ")", c1 - 1) << pad(shape, c2) << group(l.count_params())
       << "\n";
    os << std::string(static_cast<size_t>(line_length), i + 1 == layers_.size() ? '=' : ' ') << "\n";
    total += l.count_params();
    trainable += l.count_trainable_params();
  }
  if (layers_.empty()) os << std::string(static_cast<size_t>(line_length), '=') << "\n";
  os << "Total params: " << group(total) << "\nTrainable params: " << group(trainable)
     << "\nNon-trainable params: " << group(total - trainable) << "\n"
     << std::string(static_cast<size_t>(line_length), '_') << "\n";
  return os.str();
}

}  // namespace nncore
