#include "nncore/layers/normalization.hpp"

#include <algorithm>
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
  return trainable_ && scale_ ? params_[static_cast<size_t>(gamma_)].grad_accumulator() : nullptr;
}
float* AffineNormalization::dbeta() {
  return trainable_ && center_ ? params_[static_cast<size_t>(beta_)].grad_accumulator() : nullptr;
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

// ---- Normalization (preprocessing) -------------------------------------------------------------------------------
namespace {
constexpr float kNormEpsilon = 1e-7f;  // Keras's backend epsilon: the smallest divisor

std::string values_str(const ArrayValues& v) { return v.shape.empty() ? "a number" : "shape " + shape_str(v.shape); }

// Keras's axis argument as Python shows it: (-1,), (1, 2), None.
std::string axes_str(const std::vector<int64_t>& axes) {
  if (axes.empty()) return "None";
  std::string out = "(";
  for (size_t i = 0; i < axes.size(); ++i) out += (i ? ", " : "") + std::to_string(axes[i]);
  return out + (axes.size() == 1 ? ",)" : ")");
}
}  // namespace

Normalization::Normalization(std::vector<int64_t> axis, std::optional<ArrayValues> mean,
                             std::optional<ArrayValues> variance, bool invert, const std::string& name)
    : Layer(layer_name(name, "Normalization")),
      axis_(std::move(axis)),
      input_mean_(std::move(mean)),
      input_variance_(std::move(variance)),
      invert_(invert) {
  const std::string who = "Normalization '" + name_ + "'";
  for (size_t i = 0; i < axis_.size(); ++i) {
    NNC_CHECK(axis_[i] != 0, who, ": axis 0 is the batch axis; use -1 (the last axis), other per-sample axes, or "
              "None for one mean and variance over everything, got axis ", axes_str(axis_));
    for (size_t j = 0; j < i; ++j)
      NNC_CHECK(axis_[i] != axis_[j], who, ": axis lists ", axis_[i], " twice: ", axes_str(axis_));
  }
  NNC_CHECK(input_mean_.has_value() == input_variance_.has_value(), who,
            ": give both mean and variance, or neither (to adapt); got ", input_mean_ ? "mean" : "variance", " only");
  if (!input_mean_) return;
  for (const ArrayValues* v : {&*input_mean_, &*input_variance_})
    NNC_CHECK(static_cast<int64_t>(v->values.size()) == shape_numel(v->shape), who, ": ", values_str(*v), " holds ",
              v->values.size(), " values");
  NNC_CHECK(input_mean_->shape == input_variance_->shape, who, ": mean and variance must have the same shape, got ",
            values_str(*input_mean_), " and ", values_str(*input_variance_));
  NNC_CHECK(input_mean_->shape.size() <= axis_.size(), who, ": mean and variance of ", values_str(*input_mean_),
            " have more dimensions than axis ", axes_str(axis_), " keeps (", axis_.size(), ")");
  for (double m : input_mean_->values) NNC_CHECK(std::isfinite(m), who, ": mean must be finite, got ", m);
  for (double v : input_variance_->values)
    NNC_CHECK(std::isfinite(v) && v >= 0.0, who, ": variance must be finite and >= 0, got ", v);
}

// Keras's axis counts the batch axis: for a per-sample shape of r axes, axis a keeps per-sample axis a - 1 (a > 0)
// or r + a (a < 0).
Shape Normalization::do_build(const Shape& in) {
  const int64_t r = static_cast<int64_t>(in.size());
  NNC_CHECK(r >= 1, who(), ": expected input of shape (batch, ...), got ", shape_str(batch_shape(-1, in)));
  keep_.clear();
  for (int64_t a : axis_) {
    NNC_CHECK(a >= -r && a <= r, who(), ": axis ", a, " is out of range for input of shape ",
              shape_str(batch_shape(-1, in)), " (expected 1..", r, " or -", r, "..-1)");
    keep_.push_back(a > 0 ? a - 1 : r + a);
  }
  std::sort(keep_.begin(), keep_.end());
  NNC_CHECK(std::adjacent_find(keep_.begin(), keep_.end()) == keep_.end(), who(), ": axis ", axes_str(axis_),
            " names one axis twice for input of shape ", shape_str(batch_shape(-1, in)));
  kept_shape_.clear();
  for (int64_t k : keep_) {
    require_known(in, k, str_cat("axis ", k + 1, " (kept by axis=", axes_str(axis_), ")"));
    kept_shape_.push_back(in[static_cast<size_t>(k)]);
  }
  if (!input_mean_) {
    add_weight("mean", kept_shape_, "zeros").trainable = false;
    add_weight("variance", kept_shape_, "ones").trainable = false;
    add_weight("count", {}, "zeros").trainable = false;
    return in;
  }
  // The given values broadcast against the kept axes from the right (numpy's rule; a length 1 stretches).
  const Shape& vs = input_mean_->shape;
  const size_t off = kept_shape_.size() - vs.size();
  for (size_t i = 0; i < vs.size(); ++i)
    NNC_CHECK(vs[i] == 1 || vs[i] == kept_shape_[off + i], who(), ": mean and variance of ", values_str(*input_mean_),
              " do not broadcast to the kept axes' shape ", shape_str(kept_shape_), " (input ",
              shape_str(batch_shape(-1, in)), ", axis ", axes_str(axis_), ")");
  return in;
}

// The given values broadcast to the kept axes' shape (made when needed rather than kept: a model file's architecture
// then asks for no memory beyond what the file holds until the layer runs).
void Normalization::broadcast_given(float* mean, float* variance) const {
  const Shape& vs = input_mean_->shape;
  const size_t off = kept_shape_.size() - vs.size();
  std::vector<int64_t> idx(kept_shape_.size(), 0);
  const int64_t K = shape_numel(kept_shape_);
  for (int64_t k = 0; k < K; ++k) {
    int64_t src = 0;  // the index into the given values: their axes, lengths of 1 read at 0
    for (size_t i = 0; i < vs.size(); ++i) src = src * vs[i] + (vs[i] == 1 ? 0 : idx[off + i]);
    mean[k] = static_cast<float>(input_mean_->values[static_cast<size_t>(src)]);
    variance[k] = static_cast<float>(input_variance_->values[static_cast<size_t>(src)]);
    for (size_t i = idx.size(); i-- > 0;) {  // the odometer over the kept axes, the last fastest
      if (++idx[i] < kept_shape_[i]) break;
      idx[i] = 0;
    }
  }
}

bool Normalization::fits(const Shape& s) const {
  if (keep_.empty()) return !s.empty();  // axis None: one mean and variance for inputs of any shape
  bool ok = s.size() == input_shapes_[0].size();
  for (size_t i = 0; ok && i < keep_.size(); ++i) ok = s[static_cast<size_t>(keep_[i])] == kept_shape_[i];
  return ok;
}

// Any lengths on the axes without statistics of their own; the kept axes as built.
std::vector<Shape> Normalization::call_shapes(const std::vector<Shape>& in) const {
  NNC_CHECK(in.size() == 1, who(), " takes one input, got ", in.size());
  NNC_CHECK(fits(in[0]), "Layer '", name_, "': already built for input shape ",
            shape_str(batch_shape(-1, input_shapes_[0])), " (statistics along axis ", axes_str(axis_), " of shape ",
            shape_str(kept_shape_), "), got ", shape_str(batch_shape(-1, in[0])));
  return in;
}

Tensor Normalization::mean() const {
  NNC_CHECK(built_, who(), " is not built: call build(input_shape), adapt(data) or use it in a model");
  if (!input_mean_) return params_[0].value.clone();
  Tensor m(kept_shape_), v(kept_shape_);
  broadcast_given(m.data(), v.data());
  return m;
}

Tensor Normalization::variance() const {
  NNC_CHECK(built_, who(), " is not built: call build(input_shape), adapt(data) or use it in a model");
  if (!input_mean_) return params_[1].value.clone();
  Tensor m(kept_shape_), v(kept_shape_);
  broadcast_given(m.data(), v.data());
  return v;
}

std::vector<int64_t> Normalization::kept_map(const Shape& s) const {
  const size_t r = s.size();
  bool trailing = true;  // the kept axes are the last ones: statistic k = e % K
  for (size_t i = 0; i < keep_.size(); ++i) trailing = trailing && keep_[i] == static_cast<int64_t>(r - keep_.size() + i);
  if (trailing) return {};
  std::vector<int64_t> kstride(r, 0);  // per axis, its stride among the statistics (0 for the other axes)
  int64_t st = 1;
  for (size_t i = keep_.size(); i-- > 0;) {
    kstride[static_cast<size_t>(keep_[i])] = st;
    st *= kept_shape_[i];
  }
  std::vector<int64_t> map(static_cast<size_t>(shape_numel(s))), idx(r, 0);
  int64_t k = 0;
  for (int64_t& m : map) {
    m = k;
    for (size_t i = r; i-- > 0;) {  // the odometer over the per-sample axes, the last fastest
      k += kstride[i];
      if (++idx[i] < s[i]) break;
      k -= kstride[i] * s[i];
      idx[i] = 0;
    }
  }
  return map;
}

// x is (B, E) per sample; each element reads its statistic through the call's map.
const Tensor& Normalization::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& nc = as<Call>(c);
  const Shape& s = c.input_shapes[0];
  if (nc.mapped_for != s) {
    nc.kmap = kept_map(s);
    nc.mapped_for = s;
  }
  const int64_t K = shape_numel(kept_shape_), E = shape_numel(s);
  nc.scale.resize({K});
  const float* m = nullptr;
  if (input_mean_) {
    nc.mean.resize({K});
    broadcast_given(nc.mean.data(), nc.scale.data());  // the variance, made the scale in place below
    kernels::sqrt_floor(nc.scale.data(), nc.scale.data(), K, kNormEpsilon);
    m = nc.mean.data();
  } else {
    kernels::sqrt_floor(nc.scale.data(), params_[1].value.data(), K, kNormEpsilon);
    m = params_[0].value.data();
  }
  c.y.resize(x.shape());
  kernels::standardize_forward(c.y.data(), x.data(), m, nc.scale.data(), nc.kmap.empty() ? nullptr : nc.kmap.data(),
                               x.dim(0), E, K, invert_);
  return c.y;
}

// Backward of y = (x - m) / s: dx = dy / s (invert: y = x * s + m, dx = dy * s). The statistics get no gradient.
const Tensor& Normalization::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  Call& nc = as<Call>(c);
  c.dx.resize(dy.shape());
  kernels::standardize_backward(c.dx.data(), dy.data(), nc.scale.data(), nc.kmap.empty() ? nullptr : nc.kmap.data(),
                                dy.dim(0), shape_numel(c.input_shapes[0]), nc.scale.size(), invert_);
  return c.dx;
}

// ---- adapt ---------------------------------------------------------------------------------------------------
void Normalization::reset_state() {
  count_ = 0.0;
  run_mean_.clear();
  run_m2_.clear();
}

// Chan et al.'s pairwise update: with n_a values of mean m_a and squared deviations M_a so far and a batch of n_b
// values, m = m_a + d n_b / n and M = M_a + M_b + d^2 n_a n_b / n, where d = m_b - m_a and n = n_a + n_b.
void Normalization::update_state(const Tensor& batch) {
  NNC_CHECK(!input_mean_, who(), ": adapt() needs a layer without fixed statistics; this one was given mean and "
            "variance");
  NNC_CHECK(batch.ndim() >= 2, who(), ": adapt() expected batches of shape (batch, ...) with at least one axis "
            "besides the batch, got ", batch.shape_str());
  const Shape s(batch.shape().begin() + 1, batch.shape().end());
  if (!built_) {
    build(s);
  } else {
    NNC_CHECK(fits(s), who(), ": built for input shape ", shape_str(batch_shape(-1, input_shapes_[0])),
              " (statistics along axis ", axes_str(axis_), " of shape ", shape_str(kept_shape_),
              "), but adapt() got data of shape ", batch.shape_str());
  }
  const int64_t B = batch.dim(0), E = shape_numel(s), K = shape_numel(kept_shape_);
  if (run_mean_.empty()) {
    run_mean_.assign(static_cast<size_t>(K), 0.0);
    run_m2_.assign(static_cast<size_t>(K), 0.0);
  }
  if (B == 0 || E == 0) return;
  const std::vector<int64_t> map = kept_map(s);
  std::vector<double> mean(static_cast<size_t>(K)), m2(static_cast<size_t>(K));
  NNC_CHECK(kernels::group_moments(mean.data(), m2.data(), batch.data(), map.empty() ? nullptr : map.data(), B, E, K),
            who(), ": adapt() data contains NaN or infinite values (batch of shape ", batch.shape_str(), ")");
  const double nb = static_cast<double>(B) * static_cast<double>(E / K), n = count_ + nb;
  for (size_t k = 0; k < mean.size(); ++k) {
    const double d = mean[k] - run_mean_[k];
    run_mean_[k] += d * nb / n;
    run_m2_[k] += m2[k] + d * d * count_ * nb / n;
  }
  count_ = n;
}

// The biased variance M / n, as numpy's var and Keras's adapt.
void Normalization::finalize_state() {
  NNC_CHECK(built_ && count_ > 0.0, who(), ": adapt() received no data (no batches, or only empty ones)");
  float* m = params_[0].value.data();
  float* v = params_[1].value.data();
  for (size_t k = 0; k < run_mean_.size(); ++k) {
    m[k] = static_cast<float>(run_mean_[k]);
    v[k] = static_cast<float>(run_m2_[k] / count_);
  }
}

}  // namespace nncore
