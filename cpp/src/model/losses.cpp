#include "nncore/losses.hpp"

#include <cmath>

#include "kernels/kernels.hpp"
#include "nncore/check.hpp"
#include "nncore/layers/layer.hpp"
#include "targets.hpp"

namespace nncore {

const std::vector<std::string>& Loss::names() {
  static const std::vector<std::string> n{"mse", "mae", "binary_crossentropy", "categorical_crossentropy",
                                          "sparse_categorical_crossentropy", "mean_squared_error",
                                          "mean_absolute_error"};
  return n;
}

Loss Loss::from_name(const std::string& name, bool from_logits) {
  if (name == "mse" || name == "mean_squared_error") return Loss(LossKind::mse, false);
  if (name == "mae" || name == "mean_absolute_error") return Loss(LossKind::mae, false);
  if (name == "binary_crossentropy") return Loss(LossKind::binary_crossentropy, from_logits);
  if (name == "categorical_crossentropy") return Loss(LossKind::categorical_crossentropy, from_logits);
  if (name == "sparse_categorical_crossentropy") return Loss(LossKind::sparse_categorical_crossentropy, from_logits);
  throw std::invalid_argument("unknown loss '" + name + "'; valid losses: " + join(names()));
}

struct Loss::Custom {
  std::shared_ptr<Layer> graph;
  std::string name;
  bool batch_sum = false;
  std::unique_ptr<LayerCall> call;
  Tensor y_true, y_pred, seed;
};

Loss Loss::custom(std::shared_ptr<Layer> graph, const std::string& name, bool batch_sum) {
  NNC_CHECK(graph != nullptr && graph->built(), "custom loss '", name, "': needs a built graph");
  NNC_CHECK(graph->input_shapes().size() == 2 && graph->num_outputs() == 1, "custom loss '", name,
            "': the graph must take (y_true, y_pred) and return the loss values, got ", graph->input_shapes().size(),
            " inputs and ", graph->num_outputs(), " outputs");
  NNC_CHECK(graph->count_params() == 0, "custom loss '", name, "': a loss function may combine y_true and y_pred "
            "with ops and numbers, but not with arrays (", graph->count_params(), " constant values): pass such "
            "values through the model instead");
  Loss l(LossKind::custom, false);
  l.custom_ = std::make_shared<Custom>();
  l.custom_->graph = std::move(graph);
  l.custom_->name = name;
  l.custom_->batch_sum = batch_sum;
  return l;
}

const std::shared_ptr<Layer>& Loss::graph() const {
  static const std::shared_ptr<Layer> none;
  return custom_ ? custom_->graph : none;
}

bool Loss::batch_sum() const { return custom_ ? custom_->batch_sum : batch_sum_; }

Loss& Loss::with_batch_sum(bool on) {
  NNC_CHECK(kind_ != LossKind::custom, name(), ": a traced loss states its reduction when it is traced");
  batch_sum_ = on;
  return *this;
}

// The graph's shapes for a batch: y_pred has the output's per-sample shape (or () where it was traced so); y_true
// the same when it holds as many values, else the traced y_true shape (e.g. integer labels).
double Loss::compute_custom(const float* input, const Tensor& y, int64_t B, const Shape& out, float* grad,
                            float grad_scale, const float* weight) const {
  Custom& c = *custom_;
  const std::vector<Shape>& traced = c.graph->input_shapes();
  Shape pred_shape{B};
  if (!(traced[1].empty() && shape_numel(out) == 1)) pred_shape.insert(pred_shape.end(), out.begin(), out.end());
  Shape true_shape{B};
  if (y.size() == shape_numel(pred_shape)) true_shape = pred_shape;
  else true_shape.insert(true_shape.end(), traced[0].begin(), traced[0].end());
  NNC_CHECK(!has_unknown(true_shape) && shape_numel(true_shape) == y.size(), "custom loss '", c.name, "': expected ",
            "targets of shape ", shape_str(pred_shape), " or ", shape_str(true_shape), ", got ", y.size(), " values");
  c.y_true = Tensor::view(const_cast<float*>(y.data()), true_shape);
  c.y_pred = Tensor::view(const_cast<float*>(input), pred_shape);
  if (!c.call) c.call = c.graph->make_call(traced);
  c.graph->forward(*c.call, {&c.y_true, &c.y_pred}, {}, false);
  const Tensor& v = *c.call->outputs.at(0);
  NNC_CHECK(v.ndim() >= 1 && v.dim(0) == B, "custom loss '", c.name, "': the loss values must keep the batch axis, ",
            "got shape ", v.shape_str());
  const int64_t per = B > 0 ? v.size() / B : 0;
  const double mult = c.batch_sum ? static_cast<double>(B) : 1.0;
  double total = 0.0;
  for (int64_t b = 0; b < B; ++b) {
    double s = 0.0;
    for (int64_t i = 0; i < per; ++i) s += v.data()[b * per + i];
    total += (weight ? weight[b] : 1.f) * s / static_cast<double>(std::max<int64_t>(per, 1)) * mult;
  }
  if (grad == nullptr) return total;
  c.seed.resize(v.shape());
  for (int64_t b = 0; b < B; ++b) {
    const float g = static_cast<float>(grad_scale * (weight ? weight[b] : 1.f) * mult /
                                       static_cast<double>(std::max<int64_t>(per, 1)));
    std::fill(c.seed.data() + b * per, c.seed.data() + (b + 1) * per, g);
  }
  c.graph->backward(*c.call, {&c.seed}, true);
  const Tensor* d = c.call->dxs.size() > 1 ? c.call->dxs[1] : nullptr;
  if (d == nullptr) std::fill(grad, grad + c.y_pred.size(), 0.f);
  else std::copy(d->data(), d->data() + d->size(), grad);
  return total;
}

std::string Loss::name() const {
  if (custom_) return custom_->name;
  if (kind_ == LossKind::none) return "none";
  switch (kind_) {
    case LossKind::mse: return "mean_squared_error";
    case LossKind::mae: return "mean_absolute_error";
    case LossKind::binary_crossentropy: return "binary_crossentropy";
    case LossKind::categorical_crossentropy: return "categorical_crossentropy";
    case LossKind::sparse_categorical_crossentropy: return "sparse_categorical_crossentropy";
    case LossKind::custom:
    case LossKind::none: break;
  }
  return "";
}

bool Loss::fuses_with(Activation act) const {
  if (from_logits_) return false;
  if (act == Activation::softmax)
    return kind_ == LossKind::categorical_crossentropy || kind_ == LossKind::sparse_categorical_crossentropy;
  if (act == Activation::sigmoid) return kind_ == LossKind::binary_crossentropy;
  return false;
}

int64_t Loss::target_size(const Shape& out) const {
  if (kind_ == LossKind::custom) {
    // Targets shaped like the output, or like the y_true the function was traced for.
    const Shape& t = custom_->graph->input_shapes()[0];
    return has_unknown(t) ? shape_numel(out) : shape_numel(t);
  }
  return targets_per_sample(sparse(), out);
}

void Loss::check_targets(const Tensor& y, const Shape& out, const std::string& what) const {
  if (kind_ == LossKind::none) return;  // the targets are not read
  const int64_t n = y.ndim() > 0 ? y.dim(0) : 0;
  const int64_t per = n > 0 ? y.size() / n : 0;
  int64_t want = target_size(out);
  if (kind_ == LossKind::custom && per == shape_numel(out)) want = per;  // shaped like the output, or as traced
  Shape expected{-1};
  if (sparse()) {
    for (size_t i = 0; i + 1 < out.size(); ++i) expected.push_back(out[i]);
  } else {
    expected.insert(expected.end(), out.begin(), out.end());
  }
  NNC_CHECK(y.ndim() >= 1 && per == want, name(), ": expected ", what, " of shape ", shape_str(expected),
            (sparse() ? " (integer class labels)" : ""), " for a model output of shape ",
            shape_str([&] { Shape s{-1}; s.insert(s.end(), out.begin(), out.end()); return s; }()), ", got ",
            y.shape_str());
  const int64_t bad = kernels::count_nonfinite(y.data(), y.size());
  if (bad != 0) {
    int64_t first = 0;
    while (std::isfinite(y.data()[first])) ++first;
    throw std::invalid_argument(str_cat(name(), ": ", what, " contains ", bad,
                                        " non-finite value(s) (NaN or inf); first: ", y.data()[first],
                                        " at index ", first));
  }
  if (kind_ == LossKind::binary_crossentropy || kind_ == LossKind::categorical_crossentropy) {
    // Probabilities (hard or soft labels); anything else would train on a meaningless objective.
    for (int64_t i = 0; i < y.size(); ++i) {
      const float v = y.data()[i];
      NNC_CHECK(v >= 0.f && v <= 1.f, name(), ": ", what, " must hold target probabilities in [0, 1]; got ", v,
                " at index ", i);
    }
  }
  if (sparse()) {
    const int64_t C = out.back();
    for (int64_t i = 0; i < y.size(); ++i) {
      const float v = y.data()[i];
      NNC_CHECK(v == std::floor(v) && v >= 0.f && v < static_cast<float>(C), name(), ": ", what,
                " must hold integer class labels in [0, ", C, ") for a model with ", C, " outputs; got ", v,
                " at index ", i);
    }
  }
}

double Loss::compute(const float* in, bool logits, const Tensor& y, int64_t B, const Shape& out, float* grad,
                     float scale, const float* weight) const {
  if (kind_ == LossKind::custom) return compute_custom(in, y, B, out, grad, scale, weight);
  if (kind_ == LossKind::none) {
    if (grad != nullptr) std::fill(grad, grad + B * shape_numel(out), 0.f);
    return 0.0;
  }
  if (y.size() != B * target_size(out)) wrong_target_count(name(), sparse(), y, B, out);
  // reduction="sum": the batch's sum, B times the mean's value and gradient.
  const double mult = batch_sum_ ? static_cast<double>(B) : 1.0;
  const float grad_scale = batch_sum_ ? scale * static_cast<float>(B) : scale;
  const float* targets = y.data();
  if (label_smoothing_ > 0.f) {
    const float s = label_smoothing_;
    const float add = kind_ == LossKind::binary_crossentropy ? 0.5f * s : s / static_cast<float>(out.back());
    smoothed_.resize(static_cast<size_t>(y.size()));
    for (int64_t i = 0; i < y.size(); ++i) smoothed_[static_cast<size_t>(i)] = y.data()[i] * (1.f - s) + add;
    targets = smoothed_.data();
  }
  return mult * compute_rows(in, logits, targets, B, out, grad, grad_scale, weight);
}

void Loss::per_sample(const float* in, bool logits, const Tensor& y, int64_t B, const Shape& out,
                      double* values) const {
  NNC_CHECK(B >= 1 && y.size() % B == 0, name(), ": expected targets for ", B, " samples, got ", y.size(), " values");
  const int64_t size = shape_numel(out), ty = y.size() / B;
  for (int64_t b = 0; b < B; ++b) {
    Tensor yb = Tensor::view(const_cast<float*>(y.data()) + b * ty, {1, ty});
    values[b] = compute(in + b * size, logits, yb, 1, out, nullptr, 0.f, nullptr);
  }
}

Loss& Loss::with_label_smoothing(float s) {
  NNC_CHECK(std::isfinite(s) && s >= 0.f && s <= 1.f, name(), ": label_smoothing must be in [0, 1], got ", s);
  NNC_CHECK(s == 0.f || kind_ == LossKind::binary_crossentropy || kind_ == LossKind::categorical_crossentropy,
            name(), ": label_smoothing applies to binary_crossentropy and categorical_crossentropy (one-hot targets), ",
            "got label_smoothing=", s);
  label_smoothing_ = s;
  return *this;
}

double Loss::compute_rows(const float* in, bool logits, const float* y, int64_t B, const Shape& out, float* grad,
                          float scale, const float* weight) const {
  if (weight != nullptr) {
    // Weighted: one sample at a time with its gradient scaled by w_b (the kernels cost O(B*C), so the per-sample
    // calls are negligible next to the layers).
    const int64_t size = shape_numel(out), ty = target_size(out);
    double total = 0.0;
    for (int64_t b = 0; b < B; ++b)
      total += static_cast<double>(weight[b]) * compute_rows(in + b * size, logits, y + b * ty, 1, out,
                                                              grad ? grad + b * size : nullptr, scale * weight[b],
                                                              nullptr);
    return total;
  }
  const int64_t size = shape_numel(out), C = out.back(), T = size / C;
  // The cross-entropies see B*T rows of C classes; their per-sample loss is the mean over the T rows.
  const int64_t rows = B * T;
  const float row_scale = scale / static_cast<float>(T);
  const double inv_t = 1.0 / static_cast<double>(T);
  switch (kind_) {
    case LossKind::mse: return kernels::loss_mse(grad, in, y, B, size, scale);
    case LossKind::mae: return kernels::loss_mae(grad, in, y, B, size, scale);
    case LossKind::binary_crossentropy:
      return logits ? kernels::loss_bce_logits(grad, in, y, B, size, scale)
                    : kernels::loss_bce(grad, in, y, B, size, scale);
    case LossKind::categorical_crossentropy:
      return inv_t * (logits ? kernels::loss_cce_logits(grad, in, y, rows, C, row_scale)
                             : kernels::loss_cce(grad, in, y, rows, C, row_scale));
    case LossKind::sparse_categorical_crossentropy:
      return inv_t * (logits ? kernels::loss_scce_logits(grad, in, y, rows, C, row_scale)
                             : kernels::loss_scce(grad, in, y, rows, C, row_scale));
    case LossKind::custom:  // compute() runs its graph
    case LossKind::none: break;
  }
  return 0.0;
}

}  // namespace nncore
