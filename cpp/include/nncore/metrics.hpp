#pragma once
// Metrics of the training loop, as Keras's: a metric keeps a running state over an epoch (or an evaluation) that
// each batch adds to, and its value is read from that state at any time. Means of a per-sample value (accuracies,
// errors, a loss as a metric) keep (weighted sum, total weight); confusion-matrix metrics (Precision, Recall, AUC,
// F1Score, TruePositives...) keep counts per threshold or per class. The state is a block of doubles that the
// caller owns (one per fit, evaluation or Python metric object), so one Metric serves several runs.
#include <memory>
#include <string>
#include <vector>

#include "nncore/json.hpp"
#include "nncore/losses.hpp"
#include "nncore/tensor.hpp"

namespace nncore {

enum class MetricKind {
  // Means of a per-sample value.
  sparse_categorical_accuracy,
  categorical_accuracy,
  binary_accuracy,
  accuracy,  // Keras's Accuracy: how often the prediction equals the target exactly
  mse,
  mae,
  top_k_categorical_accuracy,         // one-hot targets, k = 5 (Keras)
  sparse_top_k_categorical_accuracy,  // integer labels, k = 5 (Keras)
  loss,                               // a loss's per-sample value (Keras's MeanMetricWrapper of a loss function)
  // Confusion-matrix metrics.
  true_positives,
  false_positives,
  true_negatives,
  false_negatives,
  precision,
  recall,
  auc,
  fbeta,
  external,  // kept by the caller (a Python Metric subclass)
};

// A metric whose state and arithmetic live outside the library (a Python `Metric` subclass): the loop hands it
// each batch's predictions, targets and sample weights.
class ExternalMetric {
 public:
  virtual ~ExternalMetric() = default;
  virtual void reset() = 0;
  virtual void update(const float* pred, const Tensor& y, int64_t B, const Shape& out, const float* weight) = 0;
  virtual double result() = 0;
};

class Metric {
 public:
  // "accuracy"/"acc" picks the variant that matches the loss, as Keras does; the display name stays as given.
  // `out` is the output's per-sample shape when known (it names the shapes in errors), else empty.
  static Metric from_name(const std::string& name, const Loss& loss, const Shape& out = {});
  // A Keras metric class with its arguments: {"class_name": "Precision", "config": {"thresholds": 0.5, ...}}
  // (Keras's names: Precision, Recall, AUC, F1Score, FBetaScore, TruePositives, BinaryAccuracy, MeanSquaredError,
  // RootMeanSquaredError, ...), or a string, read as from_name. "weighted": true makes it a weighted metric.
  static Metric from_config(const Json& spec, const Loss& loss, const Shape& out = {});
  // The mean of a loss's per-sample value (built-in or a traced function), as a metric; the square root of that
  // mean when `root` (RootMeanSquaredError).
  static Metric from_loss(const Loss& loss, const std::string& name, bool root = false);
  static Metric external(std::shared_ptr<ExternalMetric> impl, const std::string& name, const Json& config = Json());
  static const std::vector<std::string>& names();        // the strings from_name takes
  static const std::vector<std::string>& class_names();  // the classes from_config takes

  const std::string& name() const { return name_; }
  MetricKind kind() const { return kind_; }
  // The loss a MeanMetricWrapper-style metric averages (kind loss), else null.
  const Loss* loss() const { return loss_.get(); }
  bool root() const { return root_; }
  // The spec from_config reads back (external metrics: the config given to external(), marked "external").
  Json config() const;
  // Made from a name alone (as compile(metrics=["accuracy"]) gives it).
  bool plain() const {
    return class_name_.empty() && !weighted_ && kind_ != MetricKind::external && kind_ != MetricKind::loss;
  }
  // A weighted metric (Keras's weighted_metrics) reads the sample weights; others ignore them.
  bool weighted() const { return weighted_; }
  void set_weighted(bool w) { weighted_ = w; }
  // Whether the metric reads integer class labels (one per row of classes) rather than targets shaped like the
  // output; compile refuses a metric whose layout differs from its loss's, as the targets are the loss's.
  bool sparse_targets() const;
  // Throws when this metric cannot read the targets of `loss` for an output of per-sample shape `out`.
  void check_compatible(const Loss& loss, const Shape& out) const;

  // The number of doubles of state for an output of per-sample shape `out` (its last axis must be known for the
  // per-class metrics), and of values the result has (several for F1Score(average=None), Precision with several
  // thresholds).
  size_t state_size(const Shape& out) const;
  size_t result_size(const Shape& out) const;
  // Zeros the state (an external metric resets its own).
  void reset(double* state, const Shape& out) const;
  // Adds a batch: `pred` holds B outputs of per-sample shape `out`, `y` the batch's targets (checked against the
  // layout this metric reads), `weight` B sample weights or null (read only by weighted metrics).
  void update(double* state, const float* pred, const Tensor& y, int64_t B, const Shape& out,
              const float* weight) const;
  // The value(s) so far (result_size of them).
  void result(const double* state, const Shape& out, double* values) const;
  double result(const double* state, const Shape& out) const;

 private:
  int64_t classes(const Shape& out) const;  // per-class state: the last axis
  void update_mean(double* state, const float* pred, const float* y, int64_t B, const Shape& out,
                   const float* weight) const;
  double mean_batch(const float* pred, const float* y, int64_t B, const Shape& out) const;
  void update_confusion(double* state, const float* pred, const float* y, int64_t B, const Shape& out,
                        const float* weight) const;

  std::string name_;
  MetricKind kind_ = MetricKind::mse;
  bool weighted_ = false;
  float threshold_ = 0.5f;         // binary_accuracy; fbeta's (has_threshold_)
  int64_t k_ = 5;                  // top-k accuracies
  std::vector<float> thresholds_;  // confusion metrics, ascending as given (AUC: with its end points)
  bool even_thresholds_ = false;   // AUC: evenly spaced, counted by buckets (O(N + T)) as Keras does
  int64_t top_k_ = 0;              // precision/recall: only the k largest predictions of a row are positive
  int64_t class_id_ = -1;          // confusion metrics of one class
  bool from_logits_ = false;       // AUC: sigmoid first
  bool multi_label_ = false;       // AUC: one curve per label, averaged
  bool curve_pr_ = false;          // AUC: PR rather than ROC
  int summation_ = 0;              // AUC: 0 interpolation, 1 minoring, 2 majoring
  std::string average_;            // fbeta: "", "micro", "macro", "weighted"
  bool has_threshold_ = false;     // fbeta: threshold given (else the row's argmax is the positive)
  double beta_ = 1.0;
  bool root_ = false;              // loss kind: sqrt of the mean
  std::string class_name_;         // as given to from_config
  Json config_;                    // as given to from_config / external
  std::shared_ptr<Loss> loss_;     // loss kind
  std::shared_ptr<ExternalMetric> external_;
  mutable std::vector<float> scratch_;           // top_k filtering, sigmoid of logits
  mutable std::vector<double> scratch_buckets_;  // AUC's buckets
};

}  // namespace nncore
