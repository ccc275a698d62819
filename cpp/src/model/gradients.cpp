// Gradients without an update: one forward in inference mode (dropout off, BatchNormalization on its moving
// statistics), the mean loss plus the weight penalties, and a backward that fills every trainable parameter's
// grad and optionally d(loss)/d(x). Deterministic, so finite differences can check it; also saliency and FGSM.
#include "nncore/check.hpp"
#include "nncore/model.hpp"

namespace nncore {

// loss = (1/B) sum_b L(f(x_b), y_b) + sum_w penalty(w); grads of trainable params are overwritten, not accumulated.
double Sequential::compute_gradients(const Tensor& x, const Tensor& y, Tensor* dx) {
  const std::string what = dx ? "input_gradient" : "compute_gradients";
  check_compiled(what);
  check_x(x, what + ": x");
  NNC_CHECK(y.ndim() >= 1 && y.dim(0) == x.dim(0), what, ": x and y must have the same number of samples, got ",
            x.dim(0), " and ", (y.ndim() >= 1 ? y.dim(0) : 0));
  loss_.check_targets(y, output_shape(), "y");
  prepare_training();

  const int64_t B = x.dim(0);
  const Tensor& out = forward(x, false);
  const Shape& os = output_shape();
  dout_.resize(out.shape());
  const float scale = 1.f / static_cast<float>(B);
  // Same loss path as train_step: the fused softmax/sigmoid + crossentropy works on the pre-activation.
  double loss;
  if (fused_)
    loss = loss_.compute(layers_.back()->pre_activation().data(), true, y.data(), B, os, dout_.data(), scale);
  else
    loss = loss_.compute(out.data(), loss_.from_logits(), y.data(), B, os, dout_.data(), scale);
  loss /= static_cast<double>(B);

  for (Param* p : trainable_) p->grad.zero();
  const Tensor* g = &dout_;
  for (size_t i = layers_.size(); i-- > 0;) {
    // With dx requested every layer passes its input gradient down, the first one included.
    const bool need_dx = dx != nullptr || need_dx_[i] != 0;
    if (i + 1 == layers_.size() && fused_) g = &layers_[i]->backward_from_preact(*g, need_dx);
    else g = &layers_[i]->backward(*g, need_dx);
    if (!need_dx) break;
  }
  if (dx) {
    dx->resize(x.shape());
    dx->copy_from(*g);  // g may be a layer buffer or (identity Dropout) dout_ itself: copy before the next forward
  }
  return loss + regularization(true);
}

Tensor Sequential::input_gradient(const Tensor& x, const Tensor& y) {
  Tensor dx;
  compute_gradients(x, y, &dx);
  return dx;
}

}  // namespace nncore
