#include "nncore/layers/core.hpp"

#include <algorithm>
#include <cmath>

#include "layers/common.hpp"
#include "layers/packed_kernel.hpp"
#include "nncore/check.hpp"
#include "nncore/initializers.hpp"
#include "nncore/optimizers.hpp"

namespace nncore {

using detail::layer_name;
using detail::to_kernel;

// ---- Dense --------------------------------------------------------------------------------------------------
Dense::Dense(int64_t units, const std::string& activation, bool use_bias, const Initializer& kernel_initializer,
             const Initializer& bias_initializer, const std::string& name)
    : Layer(layer_name(name, "Dense")),
      units_(units),
      act_(activation_from_name(activation)),
      alpha_(activation_default_alpha(act_)),
      use_bias_(use_bias),
      kernel_init_(kernel_initializer),
      bias_init_(bias_initializer),
      packed_(std::make_shared<detail::PackedKernel>()) {
  NNC_CHECK(units >= 1, "Dense '", name_, "': units must be >= 1, got ", units);
  kernel_initializer.check("Dense '" + name_ + "' kernel_initializer");
  bias_initializer.check("Dense '" + name_ + "' bias_initializer");
}

Shape Dense::do_build(const Shape& in) {
  NNC_CHECK(!in.empty(), "Dense '", name_, "': expected input with at least 2 dimensions (batch, features), got ",
            shape_str(batch_shape(-1, in)));
  require_known(in, -1, "the last axis (the features a Dense layer multiplies)");
  const int64_t fan_in = in.back();
  add_weight("kernel", {fan_in, units_}, kernel_init_);
  if (use_bias_) add_weight("bias", {units_}, bias_init_);
  return infer_shape(in);
}

Shape Dense::infer_shape(const Shape& in) const {
  Shape out = in;
  if (!out.empty()) out.back() = units_;
  return out;
}

// x is (B, ..., in) viewed as (R, in); W is (in, units). z = x W + b; y = act(z).
const Tensor& Dense::pre_activation(LayerCall& c) const { return act_ == Activation::linear ? c.y : as<Call>(c).preact; }

const Tensor& Dense::forward_one(LayerCall& c, const Tensor& x, bool training) {
  const int64_t in = x.dim(-1), R = x.size() / in;
  const Shape out_shape = batch_shape(x.dim(0), c.output_shapes[0]);
  Tensor& z = act_ == Activation::linear ? c.y : as<Call>(c).preact;
  z.resize(out_shape);
  c.y.resize(out_shape);
  if (quantized_) {  // weights: [bias], kernel (int8), kernel_scale
    kernels::GemmEpilogue ep;
    ep.bias = use_bias_ ? params_[0].value.data() : nullptr;
    ep.relu = act_ == Activation::relu;  // quantized layers never train: z is not kept
    kernels::gemm_q8(R, x.data(), in, int8_packed(0), params_.back().value.data(), 0.f, ep.relu ? c.y.data() : z.data(),
                     units_, ep);
    if (act_ != Activation::linear && !ep.relu) kernels::act_forward(to_kernel(act_), c.y.data(), z.data(), R, units_, alpha_);
    return c.y;
  }
  // The bias, and relu with z kept for backward, are applied to each tile of the product while it is in L1. At
  // inference the kernel is read packed (the same sums) where the layer keeps it so.
  kernels::GemmEpilogue ep;
  ep.bias = use_bias_ ? params_[1].value.data() : nullptr;
  const std::shared_ptr<const kernels::GemmPackedB> packed = training ? nullptr : packed_->get(params_[0], R);
  const auto product = [&](float* out) {
    if (packed) kernels::gemm_packed_b(false, R, units_, in, x.data(), in, *packed, 0.f, out, units_, ep);
    else kernels::gemm(false, false, R, units_, in, x.data(), in, params_[0].value.data(), units_, 0.f, out, units_, ep);
  };
  if (act_ == Activation::relu) {
    ep.relu = true;
    ep.preact = training ? z.data() : nullptr;  // backward's relu' reads y; z only for what reads pre_activation
    product(c.y.data());
    return c.y;
  }
  product(z.data());
  if (act_ != Activation::linear) kernels::act_forward(to_kernel(act_), c.y.data(), z.data(), R, units_, alpha_);
  return c.y;
}

int64_t Dense::inference_packs() const { return packed_->packs(); }

namespace {
// The optimizer's step on the finished blocks of a Dense kernel's gradient (Param::step_optimizer), from the
// thread that computed each block.
struct KernelStep {
  Param* kernel;
  int64_t units;
};
void update_kernel_block(const void* ctx, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const KernelStep& s = *static_cast<const KernelStep*>(ctx);
  Param& p = *s.kernel;
  if (c0 == 0 && c1 == s.units) {  // whole rows: one contiguous part
    p.step_optimizer->update_part(p, p.step_index, r0 * s.units, (r1 - r0) * s.units);
    return;
  }
  for (int64_t r = r0; r < r1; ++r) p.step_optimizer->update_part(p, p.step_index, r * s.units + c0, c1 - c0);
}
}  // namespace

// Backward of z = x W + b: dx = dz W^T, dW += x^T dz, db += sum_rows dz. dx comes first: when the training step
// lets this layer take the optimizer's step on W (its only call, the first to write W's gradient), each thread of
// the dW product updates the block of W it has just computed, while the block is in its cache.
const Tensor& Dense::backward_preact_one(LayerCall& c, const Tensor& dz, bool need_dx) {
  const Tensor& x = c.inputs[0];
  const int64_t in = x.dim(-1), R = x.size() / in;
  if (need_dx) {
    c.dx.resize(x.shape());
    kernels::gemm(false, true, R, in, units_, dz.data(), units_, params_[0].value.data(), units_, 0.f, c.dx.data(),
                  in);
  }
  if (trainable_) {
    Param& kernel = params_[0];
    const bool step_here = kernel.step_optimizer != nullptr && *kernel.grad_stale;
    const KernelStep step{&kernel, units_};
    kernels::GemmEpilogue ep;
    if (step_here) {
      ep.on_block = update_kernel_block;
      ep.on_block_ctx = &step;
    }
    const float beta = kernel.grad_beta();
    kernels::gemm(true, false, in, units_, R, x.data(), in, dz.data(), units_, beta, kernel.grad.data(), units_, ep);
    kernel.step_updated = step_here;
    if (use_bias_) kernels::col_sum_accumulate(params_[1].grad_accumulator(), dz.data(), R, units_);
  }
  return c.dx;
}


// ---- Activation ---------------------------------------------------------------------------------------------
ActivationLayer::ActivationLayer(const std::string& activation, const std::string& name)
    : Layer(layer_name(name, "Activation")),
      act_(activation_from_name(activation)),
      alpha_(activation_default_alpha(act_)) {}

ActivationLayer::ActivationLayer(Activation act, float alpha, const std::string& name, const std::string& class_name)
    : Layer(layer_name(name, class_name)), act_(act), alpha_(alpha) {}

const Tensor& ActivationLayer::forward_one(LayerCall& c, const Tensor& x, bool training) {
  c.y.resize(x.shape());
  const int64_t cols = x.ndim() < 2 ? 1 : x.dim(-1);
  kernels::act_forward(to_kernel(act_), c.y.data(), x.data(), x.size() / cols, cols, alpha_);
  return c.y;
}

const Tensor& ActivationLayer::backward_preact_one(LayerCall&, const Tensor& dz, bool need_dx) {
  // dz already is the gradient with respect to this layer's input.
  return dz;
}

// ---- Reshape --------------------------------------------------------------------------------------------------
Reshape::Reshape(Shape target_shape, const std::string& name)
    : Layer(layer_name(name, "Reshape")), target_(std::move(target_shape)) {
  int unknown = 0;
  for (int64_t d : target_) {
    NNC_CHECK(d == -1 || d >= 1, "Reshape '", name_, "': target_shape entries must be positive or -1, got ",
              shape_str(target_));
    unknown += d == -1 ? 1 : 0;
  }
  NNC_CHECK(unknown <= 1, "Reshape '", name_, "': at most one -1 in target_shape, got ", shape_str(target_));
}

Shape Reshape::do_build(const Shape& in) { return infer_shape(in); }

// With an unknown input axis the output's -1 entry (Flatten's only one) stays unknown; a target without -1 fixes
// the size, so the known axes must divide it.
Shape Reshape::infer_shape(const Shape& in) const {
  if (has_unknown(in)) {
    int64_t known_in = 1;
    for (int64_t d : in) known_in *= d < 0 ? 1 : d;
    bool open = false;
    for (int64_t d : target_) open = open || d == -1;
    if (open) {
      Shape out = target_;
      return out;
    }
    NNC_CHECK(shape_numel(target_) % known_in == 0, class_name(), " '", name_, "': cannot reshape input ",
              shape_str(in), " to ", shape_str(target_));
    return target_;
  }
  const int64_t n = shape_numel(in);
  Shape out = target_;
  int64_t known = 1, unknown_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) unknown_at = static_cast<int64_t>(i);
    else known *= out[i];
  }
  if (unknown_at >= 0) {
    NNC_CHECK(known > 0 && n % known == 0, class_name(), " '", name_, "': cannot reshape input ", shape_str(in), " (", n,
              " values) to ", shape_str(target_));
    out[static_cast<size_t>(unknown_at)] = n / known;
  }
  NNC_CHECK(shape_numel(out) == n, class_name(), " '", name_, "': cannot reshape input ", shape_str(in), " (", n,
            " values) to ", shape_str(target_), " (", shape_numel(out), " values)");
  return out;
}

const Tensor& Reshape::forward_one(LayerCall& c, const Tensor& x, bool training) {
  c.y = x;  // shallow: same storage, new shape
  c.y.reshape(batch_shape(x.dim(0), c.output_shapes[0]));
  return c.y;
}

const Tensor& Reshape::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  c.dx = dy;
  c.dx.reshape(batch_shape(dy.dim(0), c.input_shapes[0]));
  return c.dx;
}

Flatten::Flatten(const std::string& name) : Reshape({-1}, layer_name(name, "Flatten")) {}

// ---- RepeatVector --------------------------------------------------------------------------------------------
namespace {
// Output lengths from which the layers here refuse (a forged config, not a model), checked in floating point.
constexpr double kMaxLength = 1125899906842624.0;  // 2^50
}  // namespace

RepeatVector::RepeatVector(int64_t n, const std::string& name) : Layer(layer_name(name, "RepeatVector")), n_(n) {
  NNC_CHECK(n >= 1, "RepeatVector '", name_, "': n must be >= 1, got ", n);
}

Shape RepeatVector::do_build(const Shape& in) { return infer_shape(in); }

Shape RepeatVector::infer_shape(const Shape& in) const {
  NNC_CHECK(in.size() == 1, who(), ": expected input of shape (batch, features), got ", shape_str(batch_shape(-1, in)));
  NNC_CHECK(in[0] < 0 || static_cast<double>(in[0]) * static_cast<double>(n_) < kMaxLength, who(),
            ": the output of input ", shape_str(batch_shape(-1, in)), " repeated ", n_, " times would be too large");
  return {n_, in[0]};
}

// x is (B, F), y (B, n, F).
const Tensor& RepeatVector::forward_one(LayerCall& c, const Tensor& x, bool training) {
  const int64_t B = x.dim(0), F = x.dim(1);
  c.y.resize({B, n_, F});
  kernels::repeat_vector_forward(c.y.data(), x.data(), B, n_, F);
  return c.y;
}

// Backward of y[b, i, :] = x[b, :]: dx[b, :] = sum_i dy[b, i, :].
const Tensor& RepeatVector::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  const Tensor& x = c.inputs[0];
  c.dx.resize(x.shape());
  kernels::repeat_vector_backward(c.dx.data(), dy.data(), x.dim(0), n_, x.dim(1));
  return c.dx;
}

// ---- Permute --------------------------------------------------------------------------------------------------
Permute::Permute(std::vector<int64_t> dims, const std::string& name)
    : Layer(layer_name(name, "Permute")), dims_(std::move(dims)) {
  const int64_t r = static_cast<int64_t>(dims_.size());
  std::vector<char> seen(dims_.size(), 0);
  for (int64_t d : dims_) {
    NNC_CHECK(d >= 1 && d <= r && !seen[static_cast<size_t>(d - 1)], "Permute '", name_,
              "': dims must be a permutation of 1..", r, " (per-sample axes, counted from 1), got ", shape_str(dims_));
    seen[static_cast<size_t>(d - 1)] = 1;
  }
  NNC_CHECK(r >= 1, "Permute '", name_, "': dims must not be empty");
  perm_.resize(dims_.size());
  inverse_.resize(dims_.size());
  for (size_t i = 0; i < dims_.size(); ++i) {
    perm_[i] = dims_[i] - 1;
    inverse_[static_cast<size_t>(perm_[i])] = static_cast<int64_t>(i);
  }
}

Shape Permute::do_build(const Shape& in) { return infer_shape(in); }

Shape Permute::infer_shape(const Shape& in) const {
  NNC_CHECK(in.size() == dims_.size(), who(), ": dims ", shape_str(dims_), " permute ", dims_.size(),
            " per-sample axes, got input ", shape_str(batch_shape(-1, in)));
  Shape out(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = in[static_cast<size_t>(perm_[i])];
  return out;
}

const Tensor& Permute::forward_one(LayerCall& c, const Tensor& x, bool training) {
  c.y.resize(batch_shape(x.dim(0), c.output_shapes[0]));
  kernels::permute_samples(c.y.data(), x.data(), x.dim(0), c.input_shapes[0], perm_);
  return c.y;
}

// Backward: dy permuted back by the inverse permutation.
const Tensor& Permute::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  c.dx.resize(c.inputs[0].shape());
  kernels::permute_samples(c.dx.data(), dy.data(), dy.dim(0), c.output_shapes[0], inverse_);
  return c.dx;
}

// ---- Rescaling ------------------------------------------------------------------------------------------------
Rescaling::Rescaling(float scale, float offset, const std::string& name)
    : Layer(layer_name(name, "Rescaling")), scale_(scale), offset_(offset) {
  NNC_CHECK(std::isfinite(scale), "Rescaling '", name_, "': scale must be a finite number, got ", scale);
  NNC_CHECK(std::isfinite(offset), "Rescaling '", name_, "': offset must be a finite number, got ", offset);
}

const Tensor& Rescaling::forward_one(LayerCall& c, const Tensor& x, bool training) {
  c.y.resize(x.shape());
  kernels::scale_shift(c.y.data(), x.data(), x.size(), scale_, offset_);
  return c.y;
}

const Tensor& Rescaling::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  c.dx.resize(dy.shape());
  kernels::scale_shift(c.dx.data(), dy.data(), dy.size(), scale_, 0.f);
  return c.dx;
}

// ---- Masking --------------------------------------------------------------------------------------------------
Masking::Masking(double mask_value, const std::string& name)
    : Layer(layer_name(name, "Masking")), mask_value_(mask_value) {
  NNC_CHECK(std::isfinite(static_cast<float>(mask_value)), "Masking '", name_,
            "': mask_value must be a finite float32 number, got ", mask_value);
}

Shape Masking::do_build(const Shape& in) {
  NNC_CHECK(!in.empty(), who(), ": expected input of shape (batch, ..., features), got ", shape_str(batch_shape(-1, in)));
  return in;
}

const Tensor* Masking::output_mask(const LayerCall& c, size_t output) const {
  return output == 0 && c.has_forward() ? &static_cast<const Call&>(c).mask : nullptr;
}

// x is (B, ..., F) viewed as (R, F); the mask is (B, ...).
const Tensor& Masking::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Tensor& mask = as<Call>(c).mask;
  mask.resize(Shape(x.shape().begin(), x.shape().end() - 1));
  const int64_t F = x.dim(-1), R = mask.size();
  c.y.resize(x.shape());
  kernels::masking_forward(c.y.data(), mask.data(), x.data(), R, F, static_cast<float>(mask_value_));
  return c.y;
}

// Backward of y = x * mask: dx = dy * mask (the mask is a step function of x: no gradient through it).
const Tensor& Masking::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx) return c.dx;
  const Tensor& mask = as<Call>(c).mask;
  c.dx.resize(dy.shape());
  kernels::scale_rows(c.dx.data(), dy.data(), mask.data(), mask.size(), dy.dim(-1));
  return c.dx;
}

// ---- Dropout -------------------------------------------------------------------------------------------------
Dropout::Dropout(float rate, const std::string& name) : Layer(layer_name(name, "Dropout")), rate_(rate) {
  NNC_CHECK(rate >= 0.f && rate < 1.f, "Dropout '", name_, "': rate must be in [0, 1), got ", rate);
}

const Tensor& Dropout::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& d = as<Call>(c);
  d.dropped = training && rate_ > 0.f;
  // Identity: hand back the input itself, never alias it into the output buffer (which training reuses).
  if (!d.dropped) return x;
  c.y.resize(x.shape());
  d.mask.resize(x.shape());
  const uint64_t seed = rng_() ^ (++step_ * 0x9e3779b97f4a7c15ull);
  kernels::dropout_forward(c.y.data(), d.mask.data(), x.data(), x.size(), rate_, seed);
  return c.y;
}

const Tensor& Dropout::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  Call& d = as<Call>(c);
  if (!d.dropped) return dy;
  c.dx.resize(dy.shape());
  kernels::mul(c.dx.data(), dy.data(), d.mask.data(), dy.size());
  return c.dx;
}

// ---- SpatialDropout2D ----------------------------------------------------------------------------------------
SpatialDropout2D::SpatialDropout2D(float rate, const std::string& name)
    : Layer(layer_name(name, "SpatialDropout2D")), rate_(rate) {
  NNC_CHECK(rate >= 0.f && rate < 1.f, "SpatialDropout2D '", name_, "': rate must be in [0, 1), got ", rate);
}

Shape SpatialDropout2D::do_build(const Shape& in) {
  NNC_CHECK(in.size() == 3, "SpatialDropout2D '", name_,
            "': expected 4-D input (batch, height, width, channels), got ", shape_str(batch_shape(-1, in)));
  require_known(in, -1, "the channel axis");
  return in;
}

// x is (B, H, W, C); mask (B, C); y = x * mask broadcast over H, W.
const Tensor& SpatialDropout2D::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& d = as<Call>(c);
  d.dropped = training && rate_ > 0.f;
  if (!d.dropped) return x;  // as Dropout: never alias the input into the output buffer
  const int64_t B = x.dim(0), C = x.dim(-1), HW = B * C > 0 ? x.size() / (B * C) : 0;
  c.y.resize(x.shape());
  d.mask.resize({B, C});
  const uint64_t seed = rng_() ^ (++step_ * 0x9e3779b97f4a7c15ull);
  kernels::spatial_dropout_forward(c.y.data(), d.mask.data(), x.data(), B, HW, C, rate_, seed);
  return c.y;
}

// Backward of y = x * mask: dx = dy * mask (same broadcast).
const Tensor& SpatialDropout2D::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  Call& d = as<Call>(c);
  if (!d.dropped) return dy;
  const int64_t B = dy.dim(0), C = dy.dim(-1), HW = B * C > 0 ? dy.size() / (B * C) : 0;
  c.dx.resize(dy.shape());
  kernels::mul_channels(c.dx.data(), dy.data(), d.mask.data(), B, HW, C);
  return c.dx;
}

// ---- GaussianNoise, GaussianDropout ------------------------------------------------------------------------------
namespace {
// A layer's own seed (Keras's seed argument) replaces the draw from the global seed stream.
void seed_layer(std::mt19937_64& rng, int64_t seed) {
  if (seed >= 0) rng.seed(static_cast<uint64_t>(seed));
}
}  // namespace

GaussianNoise::GaussianNoise(float stddev, int64_t seed, const std::string& name)
    : Layer(layer_name(name, "GaussianNoise")), stddev_(stddev), seed_(seed < 0 ? -1 : seed) {
  NNC_CHECK(stddev >= 0.f && stddev <= 1.f, "GaussianNoise '", name_, "': stddev must be in [0, 1], got ", stddev);
  seed_layer(rng_, seed_);
}

const Tensor& GaussianNoise::forward_one(LayerCall& c, const Tensor& x, bool training) {
  if (!training || stddev_ == 0.f) return x;  // as Dropout: never alias the input into the output buffer
  c.y.resize(x.shape());
  const uint64_t seed = rng_() ^ (++step_ * 0x9e3779b97f4a7c15ull);
  kernels::add_gaussian_noise(c.y.data(), x.data(), x.size(), stddev_, seed);
  return c.y;
}

// Backward of y = x + noise: dx = dy.
const Tensor& GaussianNoise::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) { return dy; }

GaussianDropout::GaussianDropout(float rate, int64_t seed, const std::string& name)
    : Layer(layer_name(name, "GaussianDropout")), rate_(rate), seed_(seed < 0 ? -1 : seed) {
  NNC_CHECK(rate >= 0.f && rate < 1.f, "GaussianDropout '", name_, "': rate must be in [0, 1), got ", rate);
  seed_layer(rng_, seed_);
}

// In training y = x * mask with mask ~ N(1, rate / (1 - rate)) per element.
const Tensor& GaussianDropout::forward_one(LayerCall& c, const Tensor& x, bool training) {
  Call& d = as<Call>(c);
  d.noised = training && rate_ > 0.f;
  if (!d.noised) return x;
  c.y.resize(x.shape());
  d.mask.resize(x.shape());
  const uint64_t seed = rng_() ^ (++step_ * 0x9e3779b97f4a7c15ull);
  const float stddev = std::sqrt(rate_ / (1.f - rate_));
  kernels::gaussian_dropout_forward(c.y.data(), d.mask.data(), x.data(), x.size(), stddev, seed);
  return c.y;
}

const Tensor& GaussianDropout::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  Call& d = as<Call>(c);
  if (!d.noised) return dy;
  c.dx.resize(dy.shape());
  kernels::mul(c.dx.data(), dy.data(), d.mask.data(), dy.size());
  return c.dx;
}

// ---- ActivityRegularization ---------------------------------------------------------------------------------------
ActivityRegularization::ActivityRegularization(float l1, float l2, const std::string& name)
    : Layer(layer_name(name, "ActivityRegularization")), l1_(l1), l2_(l2) {
  NNC_CHECK(std::isfinite(l1) && l1 >= 0.f, "ActivityRegularization '", name_, "': l1 must be a finite number >= 0, got ",
            l1);
  NNC_CHECK(std::isfinite(l2) && l2 >= 0.f, "ActivityRegularization '", name_, "': l2 must be a finite number >= 0, got ",
            l2);
}

const Tensor& ActivityRegularization::forward_one(LayerCall& c, const Tensor& x, bool training) { return x; }

// The penalty of the last forward's input: (l1 * sum|x| + l2 * sum x^2) / batch, summed serially in double.
double ActivityRegularization::aux_loss(const LayerCall& c) const {
  if (!adds_losses() || !c.has_forward() || c.batch() == 0) return 0.0;
  const Tensor& x = c.inputs[0];
  return kernels::regularize(nullptr, x.data(), x.size(), l1_, l2_) / static_cast<double>(c.batch());
}

// dx = dy + d(penalty)/dx.
const Tensor& ActivityRegularization::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  if (!need_dx || !adds_losses()) return dy;
  const Tensor& x = c.inputs[0];
  const float inv_b = 1.f / static_cast<float>(std::max<int64_t>(1, x.dim(0)));
  c.dx.resize(x.shape());
  kernels::activity_regularization_backward(c.dx.data(), dy.data(), x.data(), x.size(), l1_ * inv_b, l2_ * inv_b);
  return c.dx;
}

}  // namespace nncore
