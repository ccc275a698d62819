#include "nncore/metrics.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.hpp"
#include "nncore/check.hpp"
#include "targets.hpp"

namespace nncore {

namespace {

constexpr double kEpsilon = 1e-7;  // Keras's backend epsilon

double divide_no_nan(double a, double b) { return b == 0.0 ? 0.0 : a / b; }

bool is_confusion(MetricKind k) {
  return k == MetricKind::true_positives || k == MetricKind::false_positives || k == MetricKind::true_negatives ||
         k == MetricKind::false_negatives || k == MetricKind::precision || k == MetricKind::recall ||
         k == MetricKind::auc;
}

// Keras's default display names of its metric classes, and what each is here.
struct ClassInfo {
  const char* class_name;
  const char* name;
  MetricKind kind;
};
const std::vector<ClassInfo>& class_table() {
  static const std::vector<ClassInfo> t{
      {"Accuracy", "accuracy", MetricKind::accuracy},
      {"BinaryAccuracy", "binary_accuracy", MetricKind::binary_accuracy},
      {"CategoricalAccuracy", "categorical_accuracy", MetricKind::categorical_accuracy},
      {"SparseCategoricalAccuracy", "sparse_categorical_accuracy", MetricKind::sparse_categorical_accuracy},
      {"TopKCategoricalAccuracy", "top_k_categorical_accuracy", MetricKind::top_k_categorical_accuracy},
      {"SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy",
       MetricKind::sparse_top_k_categorical_accuracy},
      {"MeanSquaredError", "mean_squared_error", MetricKind::mse},
      {"MeanAbsoluteError", "mean_absolute_error", MetricKind::mae},
      {"RootMeanSquaredError", "root_mean_squared_error", MetricKind::loss},
      {"BinaryCrossentropy", "binary_crossentropy", MetricKind::loss},
      {"CategoricalCrossentropy", "categorical_crossentropy", MetricKind::loss},
      {"SparseCategoricalCrossentropy", "sparse_categorical_crossentropy", MetricKind::loss},
      {"TruePositives", "true_positives", MetricKind::true_positives},
      {"FalsePositives", "false_positives", MetricKind::false_positives},
      {"TrueNegatives", "true_negatives", MetricKind::true_negatives},
      {"FalseNegatives", "false_negatives", MetricKind::false_negatives},
      {"Precision", "precision", MetricKind::precision},
      {"Recall", "recall", MetricKind::recall},
      {"AUC", "auc", MetricKind::auc},
      {"F1Score", "f1_score", MetricKind::fbeta},
      {"FBetaScore", "fbeta_score", MetricKind::fbeta},
  };
  return t;
}

const ClassInfo* find_class(const std::string& s) {
  for (const ClassInfo& c : class_table())
    if (s == c.class_name || s == c.name) return &c;
  return nullptr;
}

// "(None, 3)": a per-sample shape with the batch axis in front; "(None, ...)" when the shape is not known yet.
std::string batch_shape_str(const Shape& s, bool known) {
  if (!known) return "(None, ...)";
  Shape b{-1};
  b.insert(b.end(), s.begin(), s.end());
  return shape_str(b);
}

// Thresholds as Keras's parse_init_thresholds: null -> the default, a number or a list, each in [0, 1].
std::vector<float> parse_thresholds(const Json* j, float def, const std::string& who) {
  if (j == nullptr || j->is_null()) return {def};
  std::vector<float> t;
  if (j->is_array()) {
    for (const Json& v : j->as_array(who + " thresholds")) t.push_back(static_cast<float>(v.as_number(who + " threshold")));
  } else {
    t.push_back(static_cast<float>(j->as_number(who + " thresholds")));
  }
  NNC_CHECK(!t.empty(), who, ": thresholds must hold at least one value, got an empty list");
  for (float v : t)
    NNC_CHECK(std::isfinite(v) && v >= 0.f && v <= 1.f, who, ": threshold values must be in [0, 1], got ", v);
  return t;
}

int64_t optional_int(const Json& c, const std::string& key, int64_t def) {
  const Json* v = c.find(key);
  return v == nullptr || v->is_null() ? def : v->as_int(key);
}
}  // namespace

const std::vector<std::string>& Metric::names() {
  static const std::vector<std::string> n = [] {
    std::vector<std::string> v{"accuracy", "acc", "mse", "mae", "rmse"};
    for (const ClassInfo& c : class_table())
      if (std::find(v.begin(), v.end(), c.name) == v.end()) v.push_back(c.name);
    return v;
  }();
  return n;
}

const std::vector<std::string>& Metric::class_names() {
  static const std::vector<std::string> n = [] {
    std::vector<std::string> v;
    for (const ClassInfo& c : class_table()) v.push_back(c.class_name);
    return v;
  }();
  return n;
}

bool Metric::sparse_targets() const {
  if (kind_ == MetricKind::loss) return loss_->sparse();
  return kind_ == MetricKind::sparse_categorical_accuracy || kind_ == MetricKind::sparse_top_k_categorical_accuracy;
}

// A metric reads the targets the loss validated, so their layouts must agree (Keras fails on the first batch with
// "Incompatible shapes"; nncore says so at compile, with both shapes and what to use instead).
void Metric::check_compatible(const Loss& loss, const Shape& out) const {
  if (kind_ == MetricKind::external || (kind_ == MetricKind::loss && loss_->kind() == LossKind::custom)) return;
  if (loss.kind() == LossKind::custom || loss.kind() == LossKind::none) return;  // targets shaped as given
  if (sparse_targets() == loss.sparse()) return;
  const bool known = !out.empty();
  const std::string dense = batch_shape_str(out, known);
  const std::string labels = batch_shape_str(known ? Shape(out.begin(), out.end() - 1) : Shape{}, known);
  if (loss.sparse()) {
    const char* instead = kind_ == MetricKind::categorical_accuracy          ? "'sparse_categorical_accuracy'"
                          : kind_ == MetricKind::top_k_categorical_accuracy ? "'sparse_top_k_categorical_accuracy'"
                                                                              : "'accuracy'";
    throw std::invalid_argument(str_cat(
        "compile: metric '", name_, "' compares the output ", dense, " with targets of the same shape",
        ", but the loss '", loss.name(), "' takes integer labels of shape ", labels, ": incompatible shapes ",
        labels, " vs ", dense, ". With this loss use ", instead,
        ", or train on one-hot targets with 'categorical_crossentropy'"));
  }
  const char* instead = kind_ == MetricKind::sparse_top_k_categorical_accuracy ? "'top_k_categorical_accuracy'"
                                                                                : "'categorical_accuracy'";
  throw std::invalid_argument(str_cat("compile: metric '", name_, "' needs integer labels of shape ", labels,
                                      ", but the loss '", loss.name(), "' takes targets shaped like the output ",
                                      dense, " (one-hot for a classifier): incompatible shapes ", labels, " vs ",
                                      dense, ". With this loss use ", instead,
                                      ", or integer labels with 'sparse_categorical_crossentropy'"));
}

Metric Metric::from_name(const std::string& name, const Loss& loss, const Shape& out) {
  Metric m;
  m.name_ = name;
  if (name == "accuracy" || name == "acc") {
    switch (loss.kind()) {
      case LossKind::sparse_categorical_crossentropy: m.kind_ = MetricKind::sparse_categorical_accuracy; break;
      case LossKind::categorical_crossentropy: m.kind_ = MetricKind::categorical_accuracy; break;
      default: m.kind_ = MetricKind::binary_accuracy; break;  // Keras's choice for bce and regression losses
    }
    // With logits, sigmoid(z) > 0.5 <=> z > 0.
    if (m.kind_ == MetricKind::binary_accuracy && loss.from_logits()) m.threshold_ = 0.f;
  } else if (name == "mse") {
    m.kind_ = MetricKind::mse;
  } else if (name == "mae") {
    m.kind_ = MetricKind::mae;
  } else if (name == "rmse") {
    return from_config(Json::parse(R"({"class_name": "RootMeanSquaredError", "config": {"name": "rmse"}})"), loss, out);
  } else if (const ClassInfo* c = find_class(name); c != nullptr && name == c->name) {
    Json spec = Json::object();
    spec["class_name"] = c->class_name;
    spec["config"] = Json::object();
    spec["config"]["name"] = name;
    return from_config(spec, loss, out);
  } else {
    throw std::invalid_argument("unknown metric '" + name + "'; valid metrics: " + join(names()));
  }
  m.check_compatible(loss, out);
  return m;
}

Metric Metric::from_config(const Json& spec, const Loss& loss, const Shape& out) {
  if (spec.type() == Json::Type::string) return from_name(spec.as_string("metric"), loss, out);
  NNC_CHECK(spec.is_object(), "metric: expected a name or {\"class_name\": ..., \"config\": ...}, got ", spec.dump());
  const bool weighted = spec.get("weighted", false);
  if (!spec.contains("class_name")) {  // {"name": ..., "weighted": ...}: a name
    Metric m = from_name(spec.at("name", "metric").as_string("metric name"), loss, out);
    m.weighted_ = weighted;
    return m;
  }
  const std::string cls = spec.at("class_name", "metric").as_string("metric class_name");
  const ClassInfo* info = find_class(cls);
  NNC_CHECK(info != nullptr, "unknown metric class '", cls, "'; valid classes: ", join(class_names()));
  static const Json empty = Json::object();
  const Json* cp = spec.find("config");
  const Json& c = cp != nullptr && cp->is_object() ? *cp : empty;
  Metric m;
  m.class_name_ = info->class_name;
  m.config_ = c;
  m.kind_ = info->kind;
  m.weighted_ = weighted;
  m.name_ = c.get("name", std::string(info->name));
  const std::string who = str_cat(info->class_name, " '", m.name_, "'");
  switch (m.kind_) {
    case MetricKind::binary_accuracy: m.threshold_ = c.get("threshold", 0.5f); break;
    case MetricKind::top_k_categorical_accuracy:
    case MetricKind::sparse_top_k_categorical_accuracy:
      m.k_ = c.get("k", int64_t{5});
      NNC_CHECK(m.k_ >= 1, who, ": k must be >= 1, got ", m.k_);
      break;
    case MetricKind::loss: {
      const std::string n = m.class_name_;
      if (n == "RootMeanSquaredError") {
        m.loss_ = std::make_shared<Loss>(LossKind::mse, false);
        m.root_ = true;
      } else {
        const int64_t axis = optional_int(c, "axis", -1);
        NNC_CHECK(axis == -1, who, ": only axis=-1 (the classes last) is supported, got axis=", axis);
        const LossKind lk = n == "BinaryCrossentropy"        ? LossKind::binary_crossentropy
                            : n == "CategoricalCrossentropy" ? LossKind::categorical_crossentropy
                                                             : LossKind::sparse_categorical_crossentropy;
        m.loss_ = std::make_shared<Loss>(lk, c.get("from_logits", false));
        m.loss_->with_label_smoothing(c.get("label_smoothing", 0.f));
      }
      break;
    }
    case MetricKind::true_positives:
    case MetricKind::false_positives:
    case MetricKind::true_negatives:
    case MetricKind::false_negatives:
      m.thresholds_ = parse_thresholds(c.find("thresholds"), 0.5f, who);
      break;
    case MetricKind::precision:
    case MetricKind::recall: {
      m.top_k_ = optional_int(c, "top_k", 0);
      m.class_id_ = optional_int(c, "class_id", -1);
      NNC_CHECK(m.top_k_ >= 0, who, ": top_k must be >= 1 or None, got ", m.top_k_);
      NNC_CHECK(m.class_id_ >= -1, who, ": class_id must be >= 0 or None, got ", m.class_id_);
      // With top_k and no thresholds, every kept prediction counts as positive (Keras's NEG_INF threshold).
      const Json* t = c.find("thresholds");
      if (m.top_k_ > 0 && (t == nullptr || t->is_null()))
        m.thresholds_ = {-1e10f};
      else
        m.thresholds_ = parse_thresholds(t, 0.5f, who);
      break;
    }
    case MetricKind::auc: {
      const Json* t = c.find("thresholds");
      std::vector<float> inner;
      if (t != nullptr && !t->is_null()) {
        inner = parse_thresholds(t, 0.5f, who);
        std::sort(inner.begin(), inner.end());
        // Evenly spaced with the end points 0 and 1 (Keras's is_evenly_distributed_thresholds).
        const size_t n = inner.size() + 2;
        bool even = n >= 3;
        for (size_t i = 0; even && i < inner.size(); ++i)
          even = std::fabs(inner[i] - static_cast<float>(i + 1) / static_cast<float>(n - 1)) <= 1e-7f;
        m.even_thresholds_ = even;
      } else {
        const int64_t n = c.get("num_thresholds", int64_t{200});
        NNC_CHECK(n > 1, who, ": num_thresholds must be an integer > 1, got ", n);
        for (int64_t i = 0; i < n - 2; ++i) inner.push_back(static_cast<float>(i + 1) / static_cast<float>(n - 1));
        m.even_thresholds_ = true;
      }
      m.thresholds_.push_back(-1e-7f);
      m.thresholds_.insert(m.thresholds_.end(), inner.begin(), inner.end());
      m.thresholds_.push_back(1.f + 1e-7f);
      const std::string curve = c.get("curve", std::string("ROC"));
      NNC_CHECK(curve == "ROC" || curve == "roc" || curve == "PR" || curve == "pr", who,
                ": curve must be 'ROC' or 'PR', got '", curve, "'");
      m.curve_pr_ = curve == "PR" || curve == "pr";
      const std::string sum = c.get("summation_method", std::string("interpolation"));
      if (sum == "interpolation" || sum == "Interpolation") m.summation_ = 0;
      else if (sum == "minoring" || sum == "Minoring") m.summation_ = 1;
      else if (sum == "majoring" || sum == "Majoring") m.summation_ = 2;
      else NNC_CHECK(false, who, ": summation_method must be 'interpolation', 'minoring' or 'majoring', got '", sum, "'");
      m.multi_label_ = c.get("multi_label", false);
      m.from_logits_ = c.get("from_logits", false);
      const Json* lw = c.find("label_weights");
      NNC_CHECK(lw == nullptr || lw->is_null(), who, ": label_weights are not supported; got ", lw ? lw->dump() : "");
      const int64_t num_labels = optional_int(c, "num_labels", 0);
      NNC_CHECK(num_labels == 0 || m.multi_label_, who, ": num_labels is needed only when multi_label is True");
      break;
    }
    case MetricKind::fbeta: {
      const Json* a = c.find("average");
      m.average_ = a == nullptr || a->is_null() ? "" : a->as_string(who + " average");
      NNC_CHECK(m.average_.empty() || m.average_ == "micro" || m.average_ == "macro" || m.average_ == "weighted", who,
                ": average must be None, 'micro', 'macro' or 'weighted', got '", m.average_, "'");
      m.beta_ = m.class_name_ == "F1Score" ? 1.0 : c.get("beta", 1.0);
      NNC_CHECK(m.beta_ > 0.0, who, ": beta must be > 0, got ", m.beta_);
      const Json* t = c.find("threshold");
      m.has_threshold_ = t != nullptr && !t->is_null();
      if (m.has_threshold_) {
        m.threshold_ = static_cast<float>(t->as_number(who + " threshold"));
        NNC_CHECK(m.threshold_ > 0.f && m.threshold_ <= 1.f, who, ": threshold must satisfy 0 < threshold <= 1, got ",
                  m.threshold_);
      }
      break;
    }
    default: break;
  }
  m.check_compatible(loss, out);
  return m;
}

Metric Metric::from_loss(const Loss& loss, const std::string& name, bool root) {
  NNC_CHECK(loss.kind() != LossKind::none, "metric '", name, "': a metric needs a loss function, got none");
  Metric m;
  m.kind_ = MetricKind::loss;
  m.name_ = name;
  m.loss_ = std::make_shared<Loss>(loss);
  m.root_ = root;
  return m;
}

Metric Metric::external(std::shared_ptr<ExternalMetric> impl, const std::string& name, const Json& config) {
  NNC_CHECK(impl != nullptr, "metric '", name, "': null implementation");
  Metric m;
  m.kind_ = MetricKind::external;
  m.name_ = name;
  m.external_ = std::move(impl);
  m.config_ = config;
  return m;
}

Json Metric::config() const {
  Json j = Json::object();
  if (kind_ == MetricKind::external) {
    j["external"] = true;
    j["name"] = name_;
    j["config"] = config_;
  } else if (!class_name_.empty()) {
    j["class_name"] = class_name_;
    Json c = config_.is_object() ? config_ : Json::object();
    c["name"] = name_;
    j["config"] = c;
  } else {
    j["name"] = name_;  // a name (or a loss given by the caller: the model file adds it)
  }
  if (weighted_) j["weighted"] = true;
  return j;
}

int64_t Metric::classes(const Shape& out) const {
  const int64_t c = out.empty() ? 1 : out.back();
  NNC_CHECK(c > 0, "metric '", name_, "' counts per class: the last axis of the output must be known, got shape ",
            batch_shape_str(out, true));
  return c;
}

size_t Metric::state_size(const Shape& out) const {
  switch (kind_) {
    case MetricKind::external: return 0;
    case MetricKind::true_positives:
    case MetricKind::false_positives:
    case MetricKind::true_negatives:
    case MetricKind::false_negatives:
    case MetricKind::precision:
    case MetricKind::recall: return 4 * thresholds_.size();
    case MetricKind::auc: return 4 * thresholds_.size() * static_cast<size_t>(multi_label_ ? classes(out) : 1);
    case MetricKind::fbeta: return 4 * static_cast<size_t>(average_ == "micro" ? 1 : classes(out));
    default: return 2;  // weighted sum, total weight
  }
}

size_t Metric::result_size(const Shape& out) const {
  switch (kind_) {
    case MetricKind::true_positives:
    case MetricKind::false_positives:
    case MetricKind::true_negatives:
    case MetricKind::false_negatives:
    case MetricKind::precision:
    case MetricKind::recall: return thresholds_.size();
    case MetricKind::fbeta: return average_.empty() ? static_cast<size_t>(classes(out)) : 1;
    default: return 1;
  }
}

void Metric::reset(double* state, const Shape& out) const {
  if (kind_ == MetricKind::external) {
    external_->reset();
    return;
  }
  std::fill(state, state + state_size(out), 0.0);
}

double Metric::mean_batch(const float* pred, const float* y, int64_t B, const Shape& out) const {
  const int64_t size = shape_numel(out), C = out.back(), T = size / C;
  const double inv_t = 1.0 / static_cast<double>(T);  // accuracies over B*T rows of C classes, mean over T
  switch (kind_) {
    case MetricKind::sparse_categorical_accuracy:
      return inv_t * kernels::metric_sparse_categorical_accuracy(pred, y, B * T, C);
    case MetricKind::categorical_accuracy: return inv_t * kernels::metric_categorical_accuracy(pred, y, B * T, C);
    case MetricKind::binary_accuracy: return kernels::metric_binary_accuracy(pred, y, B, size, threshold_);
    case MetricKind::accuracy: return kernels::metric_accuracy(pred, y, B, size);
    case MetricKind::mse: return kernels::metric_mse(pred, y, B, size);
    case MetricKind::mae: return kernels::metric_mae(pred, y, B, size);
    case MetricKind::top_k_categorical_accuracy:
      return inv_t * kernels::metric_top_k_accuracy(pred, y, B * T, C, k_);
    case MetricKind::sparse_top_k_categorical_accuracy:
      return inv_t * kernels::metric_sparse_top_k_accuracy(pred, y, B * T, C, k_);
    default: return 0.0;
  }
}

void Metric::update_mean(double* state, const float* pred, const float* y, int64_t B, const Shape& out,
                         const float* weight) const {
  if (weight == nullptr) {
    state[0] += mean_batch(pred, y, B, out);
    state[1] += static_cast<double>(B);
    return;
  }
  const int64_t size = shape_numel(out), ty = targets_per_sample(sparse_targets(), out);
  for (int64_t b = 0; b < B; ++b) {
    state[0] += static_cast<double>(weight[b]) * mean_batch(pred + b * size, y + b * ty, 1, out);
    state[1] += static_cast<double>(weight[b]);
  }
}

void Metric::update_confusion(double* state, const float* pred, const float* y, int64_t B, const Shape& out,
                              const float* weight) const {
  const int64_t size = shape_numel(out);
  if (kind_ == MetricKind::fbeta) {
    const int64_t C = classes(out), rows = B * (size / C);
    kernels::fbeta_counts(pred, y, weight, rows, C, size / C, has_threshold_, threshold_, average_ == "micro", state);
    return;
  }
  const float* p = pred;
  if (top_k_ > 0 || from_logits_) {
    scratch_.resize(static_cast<size_t>(B * size));
    if (top_k_ > 0) {
      kernels::keep_top_k(pred, scratch_.data(), B * (size / out.back()), out.back(), top_k_);
    } else {
      for (int64_t i = 0; i < B * size; ++i) scratch_[static_cast<size_t>(i)] = 1.f / (1.f + std::exp(-pred[i]));
    }
    p = scratch_.data();
  }
  // Rows of values: the whole sample pooled, one class's column (class_id), or per label (AUC's multi_label).
  int64_t rows = B, ld = size, c0 = 0, D = size, per = 1;
  if (class_id_ >= 0) {
    const int64_t C = out.back();
    NNC_CHECK(class_id_ < C, "metric '", name_, "': class_id ", class_id_, " is out of range for ", C, " classes");
    rows = B * (size / C);
    ld = C;
    c0 = class_id_;
    D = 1;
    per = size / C;
  } else if (multi_label_) {
    const int64_t C = out.back();
    rows = B * (size / C);
    ld = C;
    D = C;
    per = size / C;
  }
  const int64_t T = static_cast<int64_t>(thresholds_.size()), n = static_cast<int64_t>(state_size(out)) / 4;
  double* tp = state;
  double* fp = state + n;
  double* tn = state + 2 * n;
  double* fn = state + 3 * n;
  if (even_thresholds_) {
    scratch_buckets_.resize(static_cast<size_t>(2 * T));
    kernels::confusion_buckets(p, y, weight, rows, ld, c0, D, per, T, multi_label_, tp, fp, tn, fn,
                               scratch_buckets_.data());
  } else {
    kernels::confusion_thresholds(p, y, weight, rows, ld, c0, D, per, thresholds_.data(), T, multi_label_, tp, fp, tn,
                                  fn);
  }
}

void Metric::update(double* state, const float* pred, const Tensor& y, int64_t B, const Shape& out,
                    const float* weight) const {
  const float* w = weighted_ ? weight : nullptr;
  if (kind_ == MetricKind::external) {
    external_->update(pred, y, B, out, w);
    return;
  }
  if (kind_ == MetricKind::loss) {  // the loss checks its targets
    state[0] += loss_->compute(pred, loss_->from_logits(), y, B, out, nullptr, 0.f, w);
    double total = static_cast<double>(B);
    if (w != nullptr) {
      total = 0.0;
      for (int64_t b = 0; b < B; ++b) total += static_cast<double>(w[b]);
    }
    state[1] += total;
    return;
  }
  if (y.size() != B * targets_per_sample(sparse_targets(), out))
    wrong_target_count(str_cat("metric '", name_, "'"), sparse_targets(), y, B, out);
  if (is_confusion(kind_) || kind_ == MetricKind::fbeta)
    update_confusion(state, pred, y.data(), B, out, w);
  else
    update_mean(state, pred, y.data(), B, out, w);
}

namespace {
// Keras's AUC.result for one curve of T thresholds (counts at stride 1).
double auc_value(const double* tp, const double* fp, const double* tn, const double* fn, int64_t T, bool pr,
                 int summation) {
  double area = 0.0;
  if (pr && summation == 0) {  // interpolation of the PR curve (Davis & Goadrich 2006), Keras's closed form
    for (int64_t i = 0; i + 1 < T; ++i) {
      const double dtp = tp[i] - tp[i + 1];
      const double p0 = tp[i] + fp[i], p1 = tp[i + 1] + fp[i + 1];
      const double slope = divide_no_nan(dtp, std::max(p0 - p1, 0.0));
      const double intercept = tp[i + 1] - slope * p1;
      const double ratio = p0 > 0.0 && p1 > 0.0 ? divide_no_nan(p0, std::max(p1, 0.0)) : 1.0;
      area += divide_no_nan(slope * (dtp + intercept * std::log(ratio)), std::max(tp[i + 1] + fn[i + 1], 0.0));
    }
    return area;
  }
  auto point = [&](int64_t i, double& x, double& y) {
    const double recall = divide_no_nan(tp[i], tp[i] + fn[i]);
    if (pr) {
      x = recall;
      y = divide_no_nan(tp[i], tp[i] + fp[i]);
    } else {
      x = divide_no_nan(fp[i], fp[i] + tn[i]);
      y = recall;
    }
  };
  for (int64_t i = 0; i + 1 < T; ++i) {
    double x0, y0, x1, y1;
    point(i, x0, y0);
    point(i + 1, x1, y1);
    const double h = summation == 0 ? (y0 + y1) / 2.0 : summation == 1 ? std::min(y0, y1) : std::max(y0, y1);
    area += (x0 - x1) * h;
  }
  return area;
}
}  // namespace

void Metric::result(const double* state, const Shape& out, double* values) const {
  switch (kind_) {
    case MetricKind::external: values[0] = external_->result(); return;
    case MetricKind::loss:
      values[0] = divide_no_nan(state[0], state[1]);
      if (root_) values[0] = std::sqrt(values[0]);
      return;
    case MetricKind::true_positives:
    case MetricKind::false_positives:
    case MetricKind::true_negatives:
    case MetricKind::false_negatives: {
      const size_t T = thresholds_.size();
      const size_t which = kind_ == MetricKind::true_positives    ? 0
                           : kind_ == MetricKind::false_positives ? 1
                           : kind_ == MetricKind::true_negatives  ? 2
                                                                   : 3;
      std::copy(state + which * T, state + (which + 1) * T, values);
      return;
    }
    case MetricKind::precision:
    case MetricKind::recall: {
      const size_t T = thresholds_.size();
      const double* tp = state;
      const double* other = kind_ == MetricKind::precision ? state + T : state + 3 * T;  // fp or fn
      for (size_t t = 0; t < T; ++t) values[t] = divide_no_nan(tp[t], tp[t] + other[t]);
      return;
    }
    case MetricKind::auc: {
      const int64_t T = static_cast<int64_t>(thresholds_.size());
      const int64_t L = multi_label_ ? classes(out) : 1, n = T * L;
      double sum = 0.0;
      for (int64_t l = 0; l < L; ++l)
        sum += auc_value(state + l * T, state + n + l * T, state + 2 * n + l * T, state + 3 * n + l * T, T, curve_pr_,
                         summation_);
      values[0] = sum / static_cast<double>(L);
      return;
    }
    case MetricKind::fbeta: {
      const int64_t n = average_ == "micro" ? 1 : classes(out);
      const double* tp = state;
      const double* fp = state + n;
      const double* fn = state + 2 * n;
      const double* support = state + 3 * n;
      const double b2 = beta_ * beta_;
      double total_support = 0.0;
      for (int64_t c = 0; c < n; ++c) total_support += support[c];
      double acc = 0.0;
      for (int64_t c = 0; c < n; ++c) {
        const double precision = tp[c] / (tp[c] + fp[c] + kEpsilon);
        const double recall = tp[c] / (tp[c] + fn[c] + kEpsilon);
        const double f = (1.0 + b2) * precision * recall / (b2 * precision + recall + kEpsilon);
        if (average_.empty())
          values[c] = f;
        else if (average_ == "weighted")
          acc += f * support[c] / (total_support + kEpsilon);
        else
          acc += f / static_cast<double>(n);
      }
      if (!average_.empty()) values[0] = acc;
      return;
    }
    default: values[0] = divide_no_nan(state[0], state[1]); return;
  }
}

double Metric::result(const double* state, const Shape& out) const {
  const size_t n = result_size(out);
  NNC_CHECK(n == 1, "metric '", name_, "' has ", n, " values (one per ",
            kind_ == MetricKind::fbeta ? "class" : "threshold", "); a single value was asked for");
  double v = 0.0;
  result(state, out, &v);
  return v;
}

}  // namespace nncore
