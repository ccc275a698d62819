#include "nncore/optimizers.hpp"

#include <cmath>

#include "kernels/kernels.hpp"
#include "nncore/check.hpp"

namespace nncore {

Optimizer::Optimizer(float lr) : lr_(lr) { set_learning_rate(lr); }

void Optimizer::set_learning_rate(float lr) {
  NNC_CHECK(std::isfinite(lr) && lr >= 0.f, "optimizer: learning_rate must be a finite number >= 0, got ", lr);
  lr_ = lr;
}

void Optimizer::apply(const std::vector<Param*>& params) {
  std::vector<const float*> ids;
  ids.reserve(params.size());
  for (const Param* p : params) ids.push_back(p->value.data());
  if (ids != bound_) {
    // New variables start from fresh state, and so from step 1 (Adam's bias correction counts from it).
    create_state(params);
    bound_ = ids;
    iterations_ = 0;
  }
  ++iterations_;
  for (size_t i = 0; i < params.size(); ++i) update(i, *params[i]);
}

namespace {
std::vector<Tensor> zeros_like(const std::vector<Param*>& params) {
  std::vector<Tensor> out;
  out.reserve(params.size());
  for (const Param* p : params) out.emplace_back(p->value.shape());
  return out;
}
}  // namespace

SGD::SGD(float lr, float momentum, bool nesterov) : Optimizer(lr), momentum_(momentum), nesterov_(nesterov) {
  NNC_CHECK(momentum >= 0.f && momentum < 1.f, "SGD: momentum must be in [0, 1), got ", momentum);
}
void SGD::create_state(const std::vector<Param*>& params) {
  velocity_ = momentum_ > 0.f ? zeros_like(params) : std::vector<Tensor>(params.size());
}
void SGD::update(size_t i, Param& p) {
  kernels::sgd_update(p.value.data(), momentum_ > 0.f ? velocity_[i].data() : nullptr, p.grad.data(), p.value.size(),
                      lr_, momentum_, nesterov_);
}

Adam::Adam(float lr, float b1, float b2, float eps) : Optimizer(lr), b1_(b1), b2_(b2), eps_(eps) {
  NNC_CHECK(b1 >= 0.f && b1 < 1.f, "Adam: beta_1 must be in [0, 1), got ", b1);
  NNC_CHECK(b2 >= 0.f && b2 < 1.f, "Adam: beta_2 must be in [0, 1), got ", b2);
  NNC_CHECK(eps > 0.f, "Adam: epsilon must be > 0, got ", eps);
}
void Adam::create_state(const std::vector<Param*>& params) {
  m_ = zeros_like(params);
  v_ = zeros_like(params);
}
void Adam::update(size_t i, Param& p) {
  const double t = static_cast<double>(iterations_);
  const float lr_t = static_cast<float>(lr_ * std::sqrt(1.0 - std::pow(b2_, t)) / (1.0 - std::pow(b1_, t)));
  kernels::adam_update(p.value.data(), m_[i].data(), v_[i].data(), p.grad.data(), p.value.size(), lr_t, b1_, b2_,
                       eps_);
}

RMSprop::RMSprop(float lr, float rho, float eps) : Optimizer(lr), rho_(rho), eps_(eps) {
  NNC_CHECK(rho >= 0.f && rho < 1.f, "RMSprop: rho must be in [0, 1), got ", rho);
  NNC_CHECK(eps > 0.f, "RMSprop: epsilon must be > 0, got ", eps);
}
void RMSprop::create_state(const std::vector<Param*>& params) { ms_ = zeros_like(params); }
void RMSprop::update(size_t i, Param& p) {
  kernels::rmsprop_update(p.value.data(), ms_[i].data(), p.grad.data(), p.value.size(), lr_, rho_, eps_);
}

std::shared_ptr<Optimizer> make_optimizer(const std::string& name) {
  if (name == "sgd" || name == "SGD") return std::make_shared<SGD>();
  if (name == "adam" || name == "Adam") return std::make_shared<Adam>();
  if (name == "rmsprop" || name == "RMSprop") return std::make_shared<RMSprop>();
  throw std::invalid_argument("unknown optimizer '" + name + "'; valid optimizers: sgd, adam, rmsprop");
}

}  // namespace nncore
