#include "nncore/layers/normalization.hpp"

#include <cmath>

#include "kernels/norm.hpp"
#include "layers/common.hpp"
#include "nncore/check.hpp"
#include "nncore/initializers.hpp"

namespace nncore {

using detail::layer_name;

namespace {
// Keras counts the batch axis: for a per-sample shape of n axes, the last axis is -1 or n.
void check_last_axis(int64_t axis, const Shape& in, const std::string& what) {
  const int64_t n = static_cast<int64_t>(in.size());
  NNC_CHECK(axis == -1 || axis == n, what, ": only axis=-1 (the last, channels-last) is supported, got axis=", axis,
            " for input of rank ", n + 1);
}
}  // namespace

// ---- shared affine part -------------------------------------------------------------------------------------
AffineNormalization::AffineNormalization(const std::string& name, const std::string& class_name, int64_t axis,
                                         float epsilon, bool center, bool scale, const Initializer& beta_initializer,
                                         const Initializer& gamma_initializer)
    : Layer(layer_name(name, class_name)),
      axis_(axis),
      epsilon_(epsilon),
      center_(center),
      scale_(scale),
      beta_init_(beta_initializer),
      gamma_init_(gamma_initializer) {
  const std::string who = class_name + " '" + name_ + "'";
  NNC_CHECK(axis == -1 || axis >= 1, who, ": only axis=-1 (the last, channels-last) is supported, got axis=", axis);
  NNC_CHECK(epsilon >= 0.f && std::isfinite(epsilon), who, ": epsilon must be a finite value >= 0, got ", epsilon);
  beta_initializer.check(who + " beta_initializer");
  gamma_initializer.check(who + " gamma_initializer");
}

int64_t AffineNormalization::build_affine(const Shape& in) {
  const std::string who = class_name() + " '" + name_ + "'";
  NNC_CHECK(!in.empty(), who, ": expected input with at least 2 dimensions (batch, ..., channels), got ",
            shape_str(batch_shape(-1, in)));
  check_last_axis(axis_, in, who);
  require_known(in, -1, "the normalized (last) axis");
  const int64_t C = in.back();
  if (scale_) {
    gamma_ = static_cast<int>(params_.size());
    add_weight("gamma", {C}, gamma_init_);
  }
  if (center_) {
    beta_ = static_cast<int>(params_.size());
    add_weight("beta", {C}, beta_init_);
  }
  ones_ = Tensor({C});
  ones_.fill(1.f);
  zeros_ = Tensor({C});
  return C;
}

const float* AffineNormalization::gamma() const {
  return scale_ ? params_[static_cast<size_t>(gamma_)].value.data() : ones_.data();
}
const float* AffineNormalization::beta() const {
  return center_ ? params_[static_cast<size_t>(beta_)].value.data() : zeros_.data();
}
float* AffineNormalization::dgamma() {
  return trainable_ && scale_ ? params_[static_cast<size_t>(gamma_)].grad.data() : nullptr;
}
float* AffineNormalization::dbeta() {
  return trainable_ && center_ ? params_[static_cast<size_t>(beta_)].grad.data() : nullptr;
}
float* AffineNormalization::dx_buffer(LayerCall& c, bool need_dx) {
  if (!need_dx) return nullptr;
  c.dx.resize(c.inputs[0].shape());
  return c.dx.data();
}

// ---- BatchNormalization -------------------------------------------------------------------------------------
BatchNormalization::BatchNormalization(int64_t axis, float momentum, float epsilon, bool center, bool scale,
                                       const Initializer& beta_initializer, const Initializer& gamma_initializer,
                                       const Initializer& moving_mean_initializer,
                                       const Initializer& moving_variance_initializer, const std::string& name)
    : AffineNormalization(name, "BatchNormalization", axis, epsilon, center, scale, beta_initializer,
                          gamma_initializer),
      momentum_(momentum),
      mean_init_(moving_mean_initializer),
      var_init_(moving_variance_initializer) {
  const std::string who = "BatchNormalization '" + name_ + "'";
  NNC_CHECK(momentum >= 0.f && momentum <= 1.f, who, ": momentum must be in [0, 1], got ", momentum);
  moving_mean_initializer.check(who + " moving_mean_initializer");
  moving_variance_initializer.check(who + " moving_variance_initializer");
}

Shape BatchNormalization::do_build(const Shape& in) {
  const int64_t C = build_affine(in);
  moving_mean_ = static_cast<int>(params_.size());
  add_weight("moving_mean", {C}, mean_init_).trainable = false;
  moving_var_ = static_cast<int>(params_.size());
  add_weight("moving_variance", {C}, var_init_).trainable = false;
  return in;
}

// x is (B, ..., C) viewed as (R, C).
const Tensor& BatchNormalization::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& bc = as<Call>(c);
  const int64_t C = x.dim(-1), R = x.size() / C;
  c.y.resize(x.shape());
  bc.mean.resize({C});
  bc.var.resize({C});
  bc.rstd.resize({C});
  bc.ws.resize({2 * C});
  // Keras runs a frozen BatchNormalization in inference mode, even inside fit.
  bc.batch_stats = training && trainable_;
  Tensor& mm = params_[static_cast<size_t>(moving_mean_)].value;
  Tensor& mv = params_[static_cast<size_t>(moving_var_)].value;
  if (bc.batch_stats) {
    NNC_CHECK(R > 0, "BatchNormalization '", name_, "': training needs a non-empty batch, got ", x.shape_str());
    kernels::batchnorm_stats(bc.mean.data(), bc.var.data(), bc.rstd.data(), x.data(), R, C, epsilon_);
    kernels::batchnorm_update_moving(mm.data(), mv.data(), bc.mean.data(), bc.var.data(), C, momentum_);
  } else {
    bc.mean.copy_from(mm);
    kernels::batchnorm_rstd(bc.rstd.data(), mv.data(), C, epsilon_);
  }
  kernels::batchnorm_forward(c.y.data(), x.data(), bc.mean.data(), bc.rstd.data(), gamma(), beta(), R, C);
  return c.y;
}

const Tensor& BatchNormalization::backward_preact_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  Call& bc = as<Call>(c);
  const Tensor& x = c.inputs[0];
  const int64_t C = x.dim(-1), R = x.size() / C;
  kernels::batchnorm_backward(dx_buffer(c, need_dx), dgamma(), dbeta(), dy.data(), x.data(), bc.mean.data(),
                              bc.rstd.data(), gamma(), R, C, bc.batch_stats, bc.ws.data());
  return c.dx;
}

// ---- LayerNormalization -------------------------------------------------------------------------------------
LayerNormalization::LayerNormalization(int64_t axis, float epsilon, bool center, bool scale,
                                       const Initializer& beta_initializer, const Initializer& gamma_initializer,
                                       const std::string& name)
    : AffineNormalization(name, "LayerNormalization", axis, epsilon, center, scale, beta_initializer,
                          gamma_initializer) {}

Shape LayerNormalization::do_build(const Shape& in) {
  build_affine(in);
  return in;
}

// x is (B, ..., C) viewed as (R, C); each row is normalized by itself.
const Tensor& LayerNormalization::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& lc = as<Call>(c);
  const int64_t C = x.dim(-1), R = x.size() / C;
  c.y.resize(x.shape());
  lc.mean.resize({R});
  lc.rstd.resize({R});
  kernels::layernorm_forward(c.y.data(), lc.mean.data(), lc.rstd.data(), x.data(), gamma(), beta(), R, C, epsilon_);
  return c.y;
}

const Tensor& LayerNormalization::backward_preact_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  Call& lc = as<Call>(c);
  const Tensor& x = c.inputs[0];
  const int64_t C = x.dim(-1), R = x.size() / C;
  kernels::layernorm_backward(dx_buffer(c, need_dx), dgamma(), dbeta(), dy.data(), x.data(), lc.mean.data(),
                              lc.rstd.data(), gamma(), R, C);
  return c.dx;
}

}  // namespace nncore
