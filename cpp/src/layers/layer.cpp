#include "nncore/layers/layer.hpp"

#include <cctype>
#include <cmath>
#include <map>
#include <mutex>

#include "layers/common.hpp"
#include "nncore/check.hpp"
#include "nncore/initializers.hpp"
#include "nncore/runtime.hpp"

namespace nncore {

std::string snake_case(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      const bool prev_lower = i > 0 && (std::islower(static_cast<unsigned char>(s[i - 1])) ||
                                        std::isdigit(static_cast<unsigned char>(s[i - 1])));
      const bool next_lower = i + 1 < s.size() && std::islower(static_cast<unsigned char>(s[i + 1]));
      if (i > 0 && (prev_lower || (next_lower && std::isupper(static_cast<unsigned char>(s[i - 1])))) &&
          !std::isdigit(static_cast<unsigned char>(s[i - 1])))
        out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

std::string unique_layer_name(const std::string& base) {
  static std::mutex mu;
  static std::map<std::string, int> counts;
  std::lock_guard<std::mutex> lock(mu);
  const int n = counts[base]++;
  return n == 0 ? base : base + "_" + std::to_string(n);
}

Layer::Layer(std::string name) : name_(std::move(name)), rng_(next_seed()) {}

void Layer::build(const Shape& input_shape) {
  if (built_) {
    NNC_CHECK(input_shape == input_shape_, "Layer '", name_, "': already built for input shape ",
              shape_str(batch_shape(-1, input_shape_)), ", got ", shape_str(batch_shape(-1, input_shape)));
    return;
  }
  for (int64_t d : input_shape)
    NNC_CHECK(d > 0, "Layer '", name_, "': input shape must have positive dimensions, got ",
              shape_str(batch_shape(-1, input_shape)));
  // A build that throws (a bad shape found late, an allocation that cannot be had) leaves the layer unbuilt and
  // without the weights it had added, so it can be built again.
  const size_t n_params = params_.size();
  try {
    output_shape_ = do_build(input_shape);
  } catch (...) {
    params_.erase(params_.begin() + static_cast<std::ptrdiff_t>(n_params), params_.end());
    throw;
  }
  input_shape_ = input_shape;
  built_ = true;
  for (const auto& nr : pending_regularizers_) set_regularizer(nr.first, nr.second);
  pending_regularizers_.clear();
}

const Tensor* Layer::output_mask() const {
  const bool keeps_time = input_shape_.size() >= 2 && output_shape_.size() >= 2 && output_shape_[0] == input_shape_[0];
  return keeps_time ? input_mask_ : nullptr;
}

void Layer::set_regularizer(const std::string& weight_name, Regularizer r) {
  NNC_CHECK(r.l1 >= 0.f && r.l2 >= 0.f && std::isfinite(r.l1) && std::isfinite(r.l2), "Layer '", name_,
            "': regularizer factors must be finite and >= 0, got l1=", r.l1, " l2=", r.l2);
  if (!built_) {
    pending_regularizers_.emplace_back(weight_name, r);
    return;
  }
  std::string names;
  for (Param& p : params_) {
    if (p.name == weight_name) {
      p.regularizer = r;
      return;
    }
    names += (names.empty() ? "" : ", ") + p.name;
  }
  NNC_CHECK(false, "Layer '", name_, "' (", class_name(), "): cannot regularize '", weight_name,
            "': the layer's weights are [", names, "]");
}

Shape Layer::batch_shape(int64_t batch, const Shape& per_sample) const {
  Shape s{batch};
  s.insert(s.end(), per_sample.begin(), per_sample.end());
  return s;
}

void Layer::check_input(const Tensor& x) const {
  NNC_CHECK(built_, "Layer '", name_, "' is not built: call build(input_shape) or use it inside a model");
  bool ok = x.ndim() == static_cast<int64_t>(input_shape_.size()) + 1;
  for (size_t i = 0; ok && i < input_shape_.size(); ++i) ok = x.dim(static_cast<int64_t>(i) + 1) == input_shape_[i];
  NNC_CHECK(ok, "Layer '", name_, "' (", class_name(), "): expected input shape ",
            shape_str(batch_shape(-1, input_shape_)), ", got ", x.shape_str());
}

// Layers that end in an activation: dz = dy * act'(z) first, then the layer's own backward from z.
void Layer::check_gradient(const Tensor& dy, const Shape& expected) const {
  NNC_CHECK(input_.ndim() > 0, "Layer '", name_, "' (", class_name(), "): backward called before forward");
  NNC_CHECK(dy.shape() == expected, "Layer '", name_, "' (", class_name(), "): backward expected gradient of shape ",
            shape_str(expected), ", got ", dy.shape_str());
}

const Tensor& Layer::backward(const Tensor& dy, bool need_dx) {
  const Activation act = output_activation();
  if (act == Activation::linear) return backward_from_preact(dy, need_dx);
  check_gradient(dy, output_.shape());
  const int64_t cols = output_.ndim() > 1 ? output_.dim(-1) : 1;
  dpre_.resize(dy.shape());
  kernels::act_backward(detail::to_kernel(act), dpre_.data(), dy.data(),
                        pre_activation().data(), output_.data(), dy.size() / cols, cols, activation_alpha());
  return backward_from_preact(dpre_, need_dx);
}

const Tensor& Layer::backward_from_preact(const Tensor& dz, bool need_dx) {
  throw std::logic_error("Layer '" + name_ + "' (" + class_name() + ") does not implement backward");
}

namespace detail {
namespace {
thread_local WeightBudget* active_budget = nullptr;
}
WeightBudget::WeightBudget(int64_t floats) : remaining_(floats), outer_(active_budget) { active_budget = this; }
WeightBudget::~WeightBudget() { active_budget = outer_; }
void WeightBudget::take(int64_t n, const std::string& what) {
  if (active_budget == nullptr) return;
  NNC_CHECK(n <= active_budget->remaining_, what, " needs ", n, " more weights than the model file holds");
  active_budget->remaining_ -= n;
}
}  // namespace detail

Param& Layer::add_weight(const std::string& name, const Shape& shape, const std::string& initializer,
                         int64_t fan_in, int64_t fan_out) {
  detail::WeightBudget::take(shape_numel(shape), str_cat("Layer '", name_, "' weight '", name, "' ", shape_str(shape)));
  Param p;
  p.name = name;
  try {
    p.value = Tensor(shape);
    p.grad = Tensor(shape);
  } catch (const std::bad_alloc&) {
    const int64_t bytes = shape_numel(shape) * static_cast<int64_t>(sizeof(float));
    throw OutOfMemory(str_cat(class_name(), " '", name_, "': out of memory for weight '", name, "' of shape ",
                              shape_str(shape), ": it needs ", bytes_str(bytes), ", and as much again for its gradient"));
  }
  initialize(p.value, initializer, fan_in, fan_out, rng_);
  params_.push_back(std::move(p));
  return params_.back();
}

void Layer::zero_grad() {
  for (Param& p : params_) p.grad.zero();
}

int64_t Layer::count_params() const {
  int64_t n = 0;
  for (const Param& p : params_) n += p.value.size();
  return n;
}

int64_t Layer::count_trainable_params() const {
  if (!trainable_) return 0;
  int64_t n = 0;
  for (const Param& p : params_) n += p.trainable ? p.value.size() : 0;
  return n;
}

void Layer::set_trainable(bool t) { trainable_ = t; }

}  // namespace nncore
