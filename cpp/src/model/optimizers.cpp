#include "nncore/optimizers.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.hpp"
#include "nncore/check.hpp"

namespace nncore {

// ---- learning-rate schedules: evaluated in double, returned as float ------------------------------------------

namespace {
constexpr double kPi = 3.14159265358979323846;
}

ExponentialDecay::ExponentialDecay(float initial, double decay_steps, float decay_rate, bool staircase)
    : initial_(initial), decay_steps_(decay_steps), decay_rate_(decay_rate), staircase_(staircase) {
  NNC_CHECK(std::isfinite(decay_steps) && decay_steps > 0, "ExponentialDecay: decay_steps must be > 0, got ",
            decay_steps);
}
float ExponentialDecay::operator()(int64_t step) const {
  double p = static_cast<double>(step) / decay_steps_;
  if (staircase_) p = std::floor(p);
  return static_cast<float>(initial_ * std::pow(static_cast<double>(decay_rate_), p));
}

PiecewiseConstantDecay::PiecewiseConstantDecay(std::vector<double> boundaries, std::vector<float> values)
    : boundaries_(std::move(boundaries)), values_(std::move(values)) {
  NNC_CHECK(values_.size() == boundaries_.size() + 1,
            "PiecewiseConstantDecay: values must have one more element than boundaries, got ", values_.size(),
            " values and ", boundaries_.size(), " boundaries");
  for (size_t i = 1; i < boundaries_.size(); ++i)
    NNC_CHECK(boundaries_[i] > boundaries_[i - 1], "PiecewiseConstantDecay: boundaries must be strictly increasing, "
              "got boundaries[", i - 1, "] = ", boundaries_[i - 1], " and boundaries[", i, "] = ", boundaries_[i]);
}
float PiecewiseConstantDecay::operator()(int64_t step) const {
  // The first boundary >= step picks the value before it: values[i] covers (boundaries[i-1], boundaries[i]].
  const double s = static_cast<double>(step);
  const size_t i = static_cast<size_t>(std::lower_bound(boundaries_.begin(), boundaries_.end(), s) - boundaries_.begin());
  return values_[i];
}

CosineDecay::CosineDecay(float initial, double decay_steps, float alpha, std::optional<float> warmup_target,
                         double warmup_steps)
    : initial_(initial), decay_steps_(decay_steps), alpha_(alpha), warmup_target_(warmup_target),
      warmup_steps_(warmup_steps) {
  NNC_CHECK(std::isfinite(decay_steps) && decay_steps > 0, "CosineDecay: decay_steps must be > 0, got ", decay_steps);
  NNC_CHECK(std::isfinite(warmup_steps) && warmup_steps >= 0, "CosineDecay: warmup_steps must be >= 0, got ",
            warmup_steps);
}
float CosineDecay::operator()(int64_t step) const {
  const auto decay = [&](double s, double from) {
    const double cosine = 0.5 * (1.0 + std::cos(kPi * s / decay_steps_));
    return from * ((1.0 - alpha_) * cosine + alpha_);
  };
  double s = static_cast<double>(step);
  if (!warmup_target_) return static_cast<float>(decay(std::min(s, decay_steps_), initial_));
  const double target = *warmup_target_;
  s = std::min(s, decay_steps_ + warmup_steps_);
  if (s < warmup_steps_) return static_cast<float>((target - initial_) * (s / warmup_steps_) + initial_);
  return static_cast<float>(decay(s - warmup_steps_, target));
}

// ---- Optimizer ----------------------------------------------------------------------------------------------

Optimizer::Optimizer(float lr) : lr_(lr) { set_learning_rate(lr); }

float Optimizer::learning_rate() const { return schedule_ ? (*schedule_)(iterations_) : lr_; }

void Optimizer::set_learning_rate(float lr) {
  NNC_CHECK(std::isfinite(lr) && lr >= 0.f, "optimizer: learning_rate must be a finite number >= 0, got ", lr);
  lr_ = lr;
  schedule_.reset();
}

void Optimizer::set_learning_rate(std::shared_ptr<LearningRateSchedule> schedule) {
  NNC_CHECK(schedule != nullptr, "optimizer: learning_rate schedule must not be null");
  schedule_ = std::move(schedule);
}

void Optimizer::set_weight_decay(std::optional<float> wd) {
  NNC_CHECK(!wd || (std::isfinite(*wd) && *wd >= 0.f), "optimizer: weight_decay must be a finite number >= 0, got ",
            wd.value_or(0.f));
  weight_decay_ = wd;
}

void Optimizer::set_clipnorm(std::optional<float> clipnorm) {
  NNC_CHECK(!clipnorm || *clipnorm > 0.f, "optimizer: clipnorm must be > 0, got ", clipnorm.value_or(0.f));
  NNC_CHECK(!clipnorm || !global_clipnorm_, "optimizer: only one of clipnorm and global_clipnorm can be set, got "
            "clipnorm=", clipnorm.value_or(0.f), " and global_clipnorm=", global_clipnorm_.value_or(0.f));
  clipnorm_ = clipnorm;
}

void Optimizer::set_clipvalue(std::optional<float> clipvalue) {
  NNC_CHECK(!clipvalue || *clipvalue > 0.f, "optimizer: clipvalue must be > 0, got ", clipvalue.value_or(0.f));
  clipvalue_ = clipvalue;
}

void Optimizer::set_global_clipnorm(std::optional<float> global_clipnorm) {
  NNC_CHECK(!global_clipnorm || *global_clipnorm > 0.f, "optimizer: global_clipnorm must be > 0, got ",
            global_clipnorm.value_or(0.f));
  NNC_CHECK(!global_clipnorm || !clipnorm_, "optimizer: only one of clipnorm and global_clipnorm can be set, got "
            "clipnorm=", clipnorm_.value_or(0.f), " and global_clipnorm=", global_clipnorm.value_or(0.f));
  global_clipnorm_ = global_clipnorm;
}

std::vector<const float*> Optimizer::clip_gradients(const std::vector<Param*>& params) {
  std::vector<const float*> grads;
  grads.reserve(params.size());
  for (const Param* p : params) grads.push_back(p->grad.data());
  if (!clipnorm_ && !global_clipnorm_ && !clipvalue_) return grads;
  if (clipped_.size() != params.size()) clipped_.resize(params.size());
  // Writes the clipped copy of gradient i (the caller's buffer is left as it was) and points grads[i] at it.
  const auto scaled = [&](size_t i, double s) {
    if (s == 1.0) return;  // within the limit: the gradient is used as it is
    clipped_[i].resize(params[i]->grad.shape());
    kernels::clip_scale(clipped_[i].data(), grads[i], params[i]->grad.size(), static_cast<float>(s));
    grads[i] = clipped_[i].data();
  };
  // One mode only, in Keras's order of precedence.
  if (clipnorm_) {
    // g * clipnorm / max(||g||, clipnorm), per variable.
    const double c = *clipnorm_;
    for (size_t i = 0; i < params.size(); ++i)
      scaled(i, c / std::max(std::sqrt(kernels::sum_squares(grads[i], params[i]->grad.size())), c));
  } else if (global_clipnorm_) {
    // g * c * min(1/||G||, 1/c) with G all gradients together; squares summed in parameter order.
    const double c = *global_clipnorm_;
    double sum = 0.0;
    for (size_t i = 0; i < params.size(); ++i) sum += kernels::sum_squares(grads[i], params[i]->grad.size());
    const double s = c * std::min(1.0 / std::sqrt(sum), 1.0 / c);
    for (size_t i = 0; i < params.size(); ++i) scaled(i, s);
  } else {
    for (size_t i = 0; i < params.size(); ++i) {
      clipped_[i].resize(params[i]->grad.shape());
      kernels::clip_value(clipped_[i].data(), grads[i], params[i]->grad.size(), *clipvalue_);
      grads[i] = clipped_[i].data();
    }
  }
  return grads;
}

namespace {
std::vector<const float*> identities(const std::vector<Param*>& params) {
  std::vector<const float*> ids;
  ids.reserve(params.size());
  for (const Param* p : params) ids.push_back(p->value.data());
  return ids;
}
}  // namespace

void Optimizer::build_state(const std::vector<Param*>& params) {
  create_state(params);
  bound_ = identities(params);
}

bool Optimizer::bound_to(const std::vector<Param*>& params) const {
  return !bound_.empty() && identities(params) == bound_;
}

void Optimizer::set_iterations(int64_t iterations) {
  NNC_CHECK(iterations >= 0, "optimizer: iterations must be >= 0, got ", iterations);
  iterations_ = iterations;
}

void Optimizer::start_step(const std::vector<Param*>& params) {
  if (identities(params) != bound_) {
    // New variables start from fresh state, and so from step 1 (Adam's bias correction counts from it).
    build_state(params);
    iterations_ = 0;
  }
  step_lr_ = learning_rate();  // the schedule sees the steps already taken
}

void Optimizer::advance() {
  ++iterations_;
  prepare_step(step_lr_);
}

void Optimizer::decay_and_update(size_t index, int64_t begin, float* w, const float* g, int64_t n) {
  if (weight_decay_ && *weight_decay_ > 0.f) kernels::weight_decay_update(w, n, *weight_decay_, step_lr_);
  update(index, begin, w, g, n, step_lr_);
}

void Optimizer::apply(const std::vector<Param*>& params) {
  start_step(params);
  const std::vector<const float*> grads = clip_gradients(params);
  advance();
  for (size_t i = 0; i < params.size(); ++i) {
    decay_and_update(i, 0, params[i]->value.data(), grads[i], params[i]->value.size());
    params[i]->changed();
  }
}

// A step in parts runs what apply does, each part of a weight when its gradient is ready.
void Optimizer::begin_step(const std::vector<Param*>& params) {
  NNC_CHECK(steps_in_parts(), "optimizer: a step in parts cannot clip gradients (clipping needs all of them first)");
  start_step(params);
  advance();
}

void Optimizer::update_part(Param& p, size_t index, int64_t begin, int64_t n) {
  decay_and_update(index, begin, p.value.data() + begin, p.grad.data() + begin, n);
  p.changed();
}

void Optimizer::finish_step(const std::vector<Param*>& params, const std::vector<char>& done) {
  for (size_t i = 0; i < params.size(); ++i)
    if (!done[i]) update_part(*params[i], i, 0, params[i]->value.size());
}

namespace {
std::vector<Tensor> zeros_like(const std::vector<Param*>& params) {
  std::vector<Tensor> out;
  out.reserve(params.size());
  for (const Param* p : params) out.emplace_back(p->value.shape());
  return out;
}
}  // namespace

// ---- SGD ----------------------------------------------------------------------------------------------------

SGD::SGD(float lr, float momentum, bool nesterov) : Optimizer(lr), momentum_(momentum), nesterov_(nesterov) {
  NNC_CHECK(momentum >= 0.f && momentum < 1.f, "SGD: momentum must be in [0, 1), got ", momentum);
}
void SGD::create_state(const std::vector<Param*>& params) {
  velocity_ = momentum_ > 0.f ? zeros_like(params) : std::vector<Tensor>(params.size());
}
void SGD::update(size_t i, int64_t begin, float* w, const float* g, int64_t n, float lr) {
  kernels::sgd_update(w, momentum_ > 0.f ? velocity_[i].data() + begin : nullptr, g, n, lr, momentum_, nesterov_);
}

// ---- Adam, AdamW --------------------------------------------------------------------------------------------

Adam::Adam(float lr, float b1, float b2, float eps, bool amsgrad)
    : Optimizer(lr), b1_(b1), b2_(b2), eps_(eps), amsgrad_(amsgrad) {
  NNC_CHECK(b1 >= 0.f && b1 < 1.f, "Adam: beta_1 must be in [0, 1), got ", b1);
  NNC_CHECK(b2 >= 0.f && b2 < 1.f, "Adam: beta_2 must be in [0, 1), got ", b2);
  NNC_CHECK(eps > 0.f, "Adam: epsilon must be > 0, got ", eps);
}
void Adam::create_state(const std::vector<Param*>& params) {
  m_ = zeros_like(params);
  v_ = zeros_like(params);
  v_hat_ = amsgrad_ ? zeros_like(params) : std::vector<Tensor>(params.size());
}
void Adam::prepare_step(float lr) {
  const double t = static_cast<double>(iterations_);
  lr_t_ = static_cast<float>(lr * std::sqrt(1.0 - std::pow(b2_, t)) / (1.0 - std::pow(b1_, t)));
}
void Adam::update(size_t i, int64_t begin, float* w, const float* g, int64_t n, float) {
  kernels::adam_update(w, m_[i].data() + begin, v_[i].data() + begin, amsgrad_ ? v_hat_[i].data() + begin : nullptr,
                       g, n, lr_t_, b1_, b2_, eps_);
}

AdamW::AdamW(float lr, float weight_decay, float b1, float b2, float eps, bool amsgrad)
    : Adam(lr, b1, b2, eps, amsgrad) {
  set_weight_decay(weight_decay);
}

// ---- Adagrad ------------------------------------------------------------------------------------------------

Adagrad::Adagrad(float lr, float initial_accumulator_value, float eps)
    : Optimizer(lr), initial_accumulator_(initial_accumulator_value), eps_(eps) {
  NNC_CHECK(std::isfinite(initial_accumulator_value) && initial_accumulator_value >= 0.f,
            "Adagrad: initial_accumulator_value must be >= 0, got ", initial_accumulator_value);
  NNC_CHECK(eps > 0.f, "Adagrad: epsilon must be > 0, got ", eps);
}
void Adagrad::create_state(const std::vector<Param*>& params) {
  acc_ = zeros_like(params);
  for (Tensor& a : acc_) a.fill(initial_accumulator_);
}
void Adagrad::update(size_t i, int64_t begin, float* w, const float* g, int64_t n, float lr) {
  kernels::adagrad_update(w, acc_[i].data() + begin, g, n, lr, eps_);
}

// ---- RMSprop ------------------------------------------------------------------------------------------------

RMSprop::RMSprop(float lr, float rho, float momentum, float eps, bool centered)
    : Optimizer(lr), rho_(rho), momentum_(momentum), eps_(eps), centered_(centered) {
  NNC_CHECK(rho >= 0.f && rho < 1.f, "RMSprop: rho must be in [0, 1), got ", rho);
  NNC_CHECK(momentum >= 0.f && momentum < 1.f, "RMSprop: momentum must be in [0, 1), got ", momentum);
  NNC_CHECK(eps > 0.f, "RMSprop: epsilon must be > 0, got ", eps);
}
void RMSprop::create_state(const std::vector<Param*>& params) {
  ms_ = zeros_like(params);
  mg_ = centered_ ? zeros_like(params) : std::vector<Tensor>(params.size());
  velocity_ = momentum_ > 0.f ? zeros_like(params) : std::vector<Tensor>(params.size());
}
void RMSprop::update(size_t i, int64_t begin, float* w, const float* g, int64_t n, float lr) {
  kernels::rmsprop_update(w, ms_[i].data() + begin, centered_ ? mg_[i].data() + begin : nullptr,
                          momentum_ > 0.f ? velocity_[i].data() + begin : nullptr, g, n, lr, rho_, momentum_, eps_);
}

std::shared_ptr<Optimizer> make_optimizer(const std::string& name) {
  if (name == "sgd" || name == "SGD") return std::make_shared<SGD>();
  if (name == "adam" || name == "Adam") return std::make_shared<Adam>();
  if (name == "adamw" || name == "AdamW") return std::make_shared<AdamW>();
  if (name == "adagrad" || name == "Adagrad") return std::make_shared<Adagrad>();
  if (name == "rmsprop" || name == "RMSprop") return std::make_shared<RMSprop>();
  throw std::invalid_argument("unknown optimizer '" + name +
                              "'; valid optimizers: sgd, adam, adamw, adagrad, rmsprop");
}

}  // namespace nncore
