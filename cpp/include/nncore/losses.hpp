#pragma once
// Losses of the training loop. A loss reduces per sample as Keras does (mean over the last axis for
// mse/mae/binary_crossentropy) and then averages over the batch.
#include <memory>
#include <string>
#include <vector>

#include "nncore/activations.hpp"
#include "nncore/tensor.hpp"

namespace nncore {

enum class LossKind {
  mse,
  mae,
  binary_crossentropy,
  categorical_crossentropy,
  sparse_categorical_crossentropy,
  custom,
  none,  // no loss of its own: the model trains on what its layers add (add_loss); targets are not read
};

class Layer;

class Loss {
 public:
  Loss() = default;
  Loss(LossKind kind, bool from_logits) : kind_(kind), from_logits_(from_logits) {}
  // Keras names and aliases: "mse"/"mean_squared_error", "mae"/"mean_absolute_error", "binary_crossentropy",
  // "categorical_crossentropy", "sparse_categorical_crossentropy". Throws listing the valid names.
  static Loss from_name(const std::string& name, bool from_logits = false);
  // Keras's label_smoothing of the cross-entropies: targets become y(1 - s) + s/2 (binary) or y(1 - s) + s/C
  // (categorical, C classes) before the loss reads them. Throws for other losses or s outside [0, 1].
  Loss& with_label_smoothing(float s);
  float label_smoothing() const { return label_smoothing_; }
  // Keras's reduction="sum" for a built-in loss: the batch's losses summed rather than averaged (value and gradient
  // B times the mean's). A custom loss says so at Loss::custom.
  Loss& with_batch_sum(bool on);
  static const std::vector<std::string>& names();
  // A loss computed by a graph (a user's loss function of ops, traced): `graph` is a built layer (a Model) taking
  // [y_true, y_pred] per-sample tensors and returning per-sample values of any shape. A sample's loss is the mean
  // of its values (Keras's "sum_over_batch_size" reduction divides by every value of the batch), times the batch
  // size when `batch_sum` (the function summed over the whole batch itself). It has no weights of its own.
  static Loss custom(std::shared_ptr<Layer> graph, const std::string& name, bool batch_sum = false);
  // Keras's compile(loss=None) for a model whose layers add losses: 0, with a zero gradient, any targets.
  static Loss none() { return Loss(LossKind::none, false); }
  // The custom loss's graph, or null.
  const std::shared_ptr<Layer>& graph() const;
  bool batch_sum() const;

  LossKind kind() const { return kind_; }
  bool from_logits() const { return from_logits_; }
  std::string name() const;
  bool sparse() const { return kind_ == LossKind::sparse_categorical_crossentropy; }
  // Whether a model ending in `act` can compute this loss from the pre-activation (softmax with the categorical
  // cross-entropies, sigmoid with the binary one): stable, and the activation's backward is skipped.
  bool fuses_with(Activation act) const;

  // Per-sample target element count for a model output with per-sample shape `out`.
  int64_t target_size(const Shape& out) const;
  // Validates targets y (N, ...) for this loss and a model output of per-sample shape `out`: shape, finiteness,
  // label range. `what` names the argument in errors ("y", "validation y").
  void check_targets(const Tensor& y, const Shape& out, const std::string& what) const;

  // Sum over the batch of the per-sample loss. `input` holds (B, *out) probabilities/values, or logits when
  // `logits` is true; `y` holds the batch's B targets (B * target_size(out) elements, checked: the kernels
  // never read past it). When grad != nullptr it receives grad_scale * d(sum)/d(input). The cross-entropies
  // treat the last axis as the classes: an output (B, T, C) is B*T rows of C classes, and the per-sample loss
  // is the mean over the T rows (Keras's reduction). With `weight` (B per-sample weights) each sample's loss and
  // gradient are multiplied by its weight: the result is sum_b w_b * loss_b.
  double compute(const float* input, bool logits, const Tensor& y, int64_t B, const Shape& out, float* grad,
                 float grad_scale, const float* weight = nullptr) const;
  // Each sample's loss (Keras's reduction=None) into values[B].
  void per_sample(const float* input, bool logits, const Tensor& y, int64_t B, const Shape& out, double* values) const;

 private:
  double compute_rows(const float* input, bool logits, const float* y, int64_t B, const Shape& out, float* grad,
                      float grad_scale, const float* weight) const;
  struct Custom;
  double compute_custom(const float* input, const Tensor& y, int64_t B, const Shape& out, float* grad,
                        float grad_scale, const float* weight) const;

  LossKind kind_ = LossKind::mse;
  bool from_logits_ = false;
  float label_smoothing_ = 0.f;
  bool batch_sum_ = false;  // built-in losses (custom ones keep theirs in custom_)
  mutable std::vector<float> smoothed_;  // the batch's smoothed targets
  std::shared_ptr<Custom> custom_;  // the graph and its run (shared by copies: one model runs it at a time)
};

}  // namespace nncore
