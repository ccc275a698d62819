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

namespace {
std::mutex name_mutex;
std::map<std::string, int>& name_counts() {
  static std::map<std::string, int> counts;
  return counts;
}
}  // namespace

std::string unique_layer_name(const std::string& base) {
  std::lock_guard<std::mutex> lock(name_mutex);
  const int n = name_counts()[base]++;
  return n == 0 ? base : base + "_" + std::to_string(n);
}

void reset_layer_names() {
  std::lock_guard<std::mutex> lock(name_mutex);
  name_counts().clear();
}

uint64_t next_weight_version() {
  static std::atomic<uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

WeightWatch::WeightWatch() : version(next_weight_version()) {}

Layer::Layer(std::string name) : name_(std::move(name)), rng_(next_seed()) {}

Layer::~Layer() = default;

std::string Layer::who() const { return class_name() + " '" + name_ + "'"; }

namespace {
const Shape& no_shape() {
  static const Shape none;
  return none;
}
}  // namespace

const Shape& Layer::input_shape() const { return input_shapes_.empty() ? no_shape() : input_shapes_[0]; }

const Shape& Layer::output_shape() const { return output_shapes_.empty() ? no_shape() : output_shapes_[0]; }

void Layer::build(const std::vector<Shape>& input_shapes) {
  if (built_) {
    call_shapes(input_shapes);  // checks them against what the layer was built for
    return;
  }
  NNC_CHECK(!input_shapes.empty(), who(), ": called on no inputs");
  for (const Shape& s : input_shapes)
    for (int64_t d : s)
      NNC_CHECK(d > 0 || d == -1, "Layer '", name_,
                "': input shape must have positive dimensions (or None for an unknown length), got ",
                shape_str(batch_shape(-1, s)));
  // A build that throws (a bad shape found late, an allocation that cannot be had) leaves the layer unbuilt and
  // without the weights it had added, so it can be built again.
  const size_t n_params = params_.size();
  std::vector<Shape> out;
  try {
    out = build_shapes(input_shapes);
  } catch (...) {
    if (params_.size() > n_params) params_.erase(params_.begin() + static_cast<std::ptrdiff_t>(n_params), params_.end());
    throw;
  }
  output_shapes_ = std::move(out);
  input_shapes_ = input_shapes;
  built_ = true;
  own_call_.reset();
  for (const auto& nr : pending_regularizers_) set_regularizer(nr.first, nr.second);
  pending_regularizers_.clear();
  if (quantize_at_build_ && !quantized_) quantize("int8");
}

std::vector<Shape> Layer::output_shapes_for(const std::vector<Shape>& input_shapes) {
  if (!built_) {
    build(input_shapes);
    return output_shapes_;
  }
  return call_shapes(input_shapes);
}

std::vector<Shape> Layer::build_shapes(const std::vector<Shape>& in) {
  NNC_CHECK(in.size() == 1, who(), " takes one input, got ", in.size());
  Shape out = do_build(in[0]);
  if (infer_shape(in[0]) != out)
    throw std::logic_error(str_cat(who(), ": do_build returned ", shape_str(out), " but infer_shape says ",
                                   shape_str(infer_shape(in[0])), " for input ", shape_str(in[0])));
  return {out};
}

std::vector<Shape> Layer::call_shapes(const std::vector<Shape>& in) const {
  NNC_CHECK(in.size() == input_shapes_.size(), who(), " takes ", input_shapes_.size(), " input(s), got ", in.size());
  for (size_t i = 0; i < in.size(); ++i)
    NNC_CHECK(shape_fits(input_shapes_[i], in[i]), "Layer '", name_, "': already built for input shape ",
              shape_str(batch_shape(-1, input_shapes_[i])), ", got ", shape_str(batch_shape(-1, in[i])));
  if (in == input_shapes_) return output_shapes_;
  if (in.size() != 1)
    throw std::logic_error(who() + " takes several inputs of unknown lengths but does not implement call_shapes");
  return {infer_shape(in[0])};
}

void Layer::require_known(const Shape& in, int64_t axis, const std::string& what) const {
  const int64_t a = axis < 0 ? axis + static_cast<int64_t>(in.size()) : axis;
  NNC_CHECK(a < 0 || a >= static_cast<int64_t>(in.size()) || in[static_cast<size_t>(a)] >= 0, who(), ": ", what,
            " of its input must be known, got input shape ", shape_str(batch_shape(-1, in)),
            "; give that axis a length in Input(shape=...)");
}

bool shape_fits(const Shape& want, const Shape& got) {
  if (want.size() != got.size()) return false;
  for (size_t d = 0; d < want.size(); ++d)
    if (want[d] >= 0 && got[d] >= 0 && want[d] != got[d]) return false;
  return true;
}

bool has_unknown(const Shape& s) {
  for (int64_t d : s)
    if (d < 0) return true;
  return false;
}

Shape Layer::do_build(const Shape&) {
  throw std::logic_error(who() + " implements neither do_build nor build_shapes");
}

// ---- calls ------------------------------------------------------------------------------------------------------
std::unique_ptr<LayerCall> Layer::make_call(const std::vector<Shape>& input_shapes) {
  std::vector<Shape> out = output_shapes_for(input_shapes);
  std::unique_ptr<LayerCall> c = new_call();
  c->input_shapes = input_shapes;
  c->declared_shapes = input_shapes;
  c->output_shapes = std::move(out);
  return c;
}

LayerCall& Layer::own_call() {
  NNC_CHECK(built_, "Layer '", name_, "' is not built: call build(input_shape) or use it inside a model");
  if (!own_call_) own_call_ = make_call(input_shapes_);
  return *own_call_;
}

void Layer::adapt_call(LayerCall& c, const std::vector<const Tensor*>& xs) const {
  NNC_CHECK(xs.size() == c.declared_shapes.size(), who(), ": expected ", c.declared_shapes.size(), " input(s), got ",
            xs.size());
  bool same = true;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = *xs[i];
    const Shape& s = c.declared_shapes[i];
    bool ok = x.ndim() == static_cast<int64_t>(s.size()) + 1 && x.dim(0) == xs[0]->dim(0);
    for (size_t d = 0; ok && d < s.size(); ++d) {
      const int64_t got = x.dim(static_cast<int64_t>(d) + 1);
      ok = s[d] < 0 ? got >= 1 : got == s[d];
      same = same && got == c.input_shapes[i][d];
    }
    if (xs.size() == 1)
      NNC_CHECK(ok, "Layer '", name_, "' (", class_name(), "): expected input shape ", shape_str(batch_shape(-1, s)),
                ", got ", x.shape_str());
    else
      NNC_CHECK(ok, who(), ": input ", i, " must have shape ", shape_str(batch_shape(xs[0]->dim(0), s)), ", got ",
                x.shape_str());
  }
  if (same) return;
  // Other lengths on unknown axes: this call's concrete shapes follow the batch (allocates only on a change).
  std::vector<Shape> in;
  for (const Tensor* x : xs) in.emplace_back(x->shape().begin() + 1, x->shape().end());
  c.output_shapes = call_shapes(in);
  c.input_shapes = std::move(in);
}

void Layer::forward(LayerCall& c, const std::vector<const Tensor*>& xs, const std::vector<const Tensor*>& masks,
                    bool training) {
  adapt_call(c, xs);
  c.inputs.resize(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) c.inputs[i] = *xs[i];
  c.masks.assign(xs.size(), nullptr);
  for (size_t i = 0; i < masks.size() && i < xs.size(); ++i) c.masks[i] = masks[i];
  c.training = training;
  c.outputs.clear();
  c.dxs.clear();
  forward_list(c, training);
}

void Layer::backward(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  check_not_quantized("backward (training)");
  NNC_CHECK(c.has_forward(), "Layer '", name_, "' (", class_name(), "): backward called before forward");
  NNC_CHECK(dys.size() == c.outputs.size(), who(), ": backward expected ", c.outputs.size(),
            " output gradient(s), got ", dys.size());
  bool missing = false;
  for (size_t j = 0; j < dys.size(); ++j) {
    if (dys[j] == nullptr) {
      missing = true;
      continue;
    }
    NNC_CHECK(dys[j]->shape() == c.outputs[j]->shape(), "Layer '", name_, "' (", class_name(),
              "): backward expected gradient of shape ", c.outputs[j]->shape_str(), ", got ", dys[j]->shape_str());
  }
  c.dxs.assign(c.inputs.size(), nullptr);
  if (!missing) return backward_list(c, dys, need_dx);
  // Outputs that nothing read get zero gradients (e.g. an encoder LSTM's sequence when only its states are used).
  std::vector<const Tensor*> full(dys);
  c.zeros.resize(dys.size());
  for (size_t j = 0; j < dys.size(); ++j)
    if (full[j] == nullptr) {
      c.zeros[j].resize(c.outputs[j]->shape());
      c.zeros[j].zero();
      full[j] = &c.zeros[j];
    }
  backward_list(c, full, need_dx);
}

void Layer::backward_from_preact(LayerCall& c, const Tensor& dz, bool need_dx) {
  check_not_quantized("backward (training)");
  NNC_CHECK(c.has_forward(), "Layer '", name_, "' (", class_name(), "): backward called before forward");
  NNC_CHECK(c.outputs.size() == 1, who(), ": backward_from_preact needs a layer with one output");
  NNC_CHECK(dz.shape() == c.outputs[0]->shape(), "Layer '", name_, "' (", class_name(),
            "): backward expected gradient of shape ", c.outputs[0]->shape_str(), ", got ", dz.shape_str());
  c.dxs.assign(c.inputs.size(), nullptr);
  const Tensor& dx = backward_preact_one(c, dz, need_dx);
  if (need_dx) c.dxs[0] = &dx;
}

void Layer::forward_list(LayerCall& c, bool training) {
  c.outputs.assign(1, &forward_one(c, c.inputs[0], training));
}

void Layer::backward_list(LayerCall& c, const std::vector<const Tensor*>& dys, bool need_dx) {
  const Tensor& dx = backward_one(c, *dys[0], need_dx);
  if (need_dx) c.dxs[0] = &dx;
}

const Tensor& Layer::forward_one(LayerCall&, const Tensor&, bool) {
  throw std::logic_error(who() + " implements neither forward_one nor forward_list");
}

// Layers that end in an activation: dz = dy * act'(z) first, then the layer's own backward from z.
const Tensor& Layer::backward_one(LayerCall& c, const Tensor& dy, bool need_dx) {
  const Activation act = output_activation();
  if (act == Activation::linear) return backward_preact_one(c, dy, need_dx);
  const Tensor& y = *c.outputs[0];
  const int64_t cols = y.ndim() > 1 ? y.dim(-1) : 1;
  c.dpre.resize(dy.shape());
  kernels::act_backward(detail::to_kernel(act), c.dpre.data(), dy.data(), pre_activation(c).data(), y.data(),
                        dy.size() / cols, cols, activation_alpha());
  return backward_preact_one(c, c.dpre, need_dx);
}

const Tensor& Layer::backward_preact_one(LayerCall&, const Tensor&, bool) {
  throw std::logic_error("Layer '" + name_ + "' (" + class_name() + ") does not implement backward");
}

const Tensor* Layer::output_mask(const LayerCall& c, size_t output) const {
  if (output != 0 || c.masks.empty() || c.input_shapes.empty() || c.output_shapes.empty()) return nullptr;
  const Shape& in = c.input_shapes[0];
  const Shape& out = c.output_shapes[0];
  const bool keeps_time = in.size() >= 2 && out.size() >= 2 && out[0] == in[0];
  return keeps_time ? c.masks[0] : nullptr;
}

// ---- the own call ------------------------------------------------------------------------------------------------
namespace {
const Tensor& empty_tensor() {
  static const Tensor empty;
  return empty;
}
}  // namespace

const Tensor& Layer::forward(const Tensor& x, bool training) { return forward(x, nullptr, training); }

const Tensor& Layer::forward(const Tensor& x, const Tensor* mask, bool training) {
  LayerCall& c = own_call();
  NNC_CHECK(c.input_shapes.size() == 1, who(), " takes ", c.input_shapes.size(),
            " inputs: call it on a list of inputs");
  const Tensor* m = nullptr;
  if (mask != nullptr) {
    c.own_masks.resize(1);
    c.own_masks[0].resize(mask->shape());
    c.own_masks[0].copy_from(*mask);
    m = &c.own_masks[0];
  }
  forward(c, {&x}, {m}, training);
  return *c.outputs.at(0);
}

const Tensor& Layer::backward(const Tensor& dy, bool need_dx) {
  NNC_CHECK(built_ && own_call_ != nullptr, "Layer '", name_, "' (", class_name(), "): backward called before forward");
  LayerCall& c = *own_call_;
  std::vector<const Tensor*> dys(c.outputs.empty() ? 1 : c.outputs.size(), nullptr);
  dys[0] = &dy;
  backward(c, dys, need_dx);
  return c.dxs.empty() || c.dxs[0] == nullptr ? empty_tensor() : *c.dxs[0];
}

const std::vector<const Tensor*>& Layer::forward(const std::vector<const Tensor*>& xs, bool training) {
  std::vector<Shape> shapes;
  for (const Tensor* x : xs) {
    NNC_CHECK(x != nullptr && x->ndim() >= 1, who(), ": inputs must be batches (batch, ...)");
    shapes.emplace_back(x->shape().begin() + 1, x->shape().end());
  }
  if (!built_) build(shapes);
  // A call on other inputs (e.g. a recurrent layer given initial states) gets an own call of its shapes.
  bool fits = own_call_ && own_call_->declared_shapes.size() == shapes.size();
  for (size_t i = 0; fits && i < shapes.size(); ++i) fits = shape_fits(own_call_->declared_shapes[i], shapes[i]);
  if (!fits) own_call_ = make_call(shapes);
  LayerCall& c = *own_call_;
  forward(c, xs, {}, training);
  return c.outputs;
}

const std::vector<const Tensor*>& Layer::backward(const std::vector<const Tensor*>& dys, bool need_dx) {
  NNC_CHECK(built_ && own_call_ != nullptr, "Layer '", name_, "' (", class_name(), "): backward called before forward");
  LayerCall& c = *own_call_;
  backward(c, dys, need_dx);
  return c.dxs;
}

void Layer::set_regularizer(const std::string& weight_name, Regularizer r) {
  NNC_CHECK(r.l1 >= 0.f && r.l2 >= 0.f && std::isfinite(r.l1) && std::isfinite(r.l2), "Layer '", name_,
            "': regularizer factors must be finite and >= 0, got l1=", r.l1, " l2=", r.l2);
  NNC_CHECK(r.orthogonal >= 0.f && std::isfinite(r.orthogonal), "Layer '", name_,
            "': the OrthogonalRegularizer factor must be finite and >= 0, got ", r.orthogonal);
  if (!built_) {
    pending_regularizers_.emplace_back(weight_name, r);
    return;
  }
  std::string names;
  for (Param& p : params_) {
    if (p.name == weight_name) {
      NNC_CHECK(r.orthogonal == 0.f || p.value.ndim() == 2, who(), " ", weight_name,
                "_regularizer: OrthogonalRegularizer needs a 2-D weight, '", weight_name, "' has shape ",
                p.value.shape_str());
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

namespace detail {
namespace {
thread_local WeightBudget* active_budget = nullptr;
}
WeightBudget::WeightBudget(int64_t floats) : remaining_(floats), outer_(active_budget) { active_budget = this; }
WeightBudget::~WeightBudget() { active_budget = outer_; }
bool WeightBudget::active() { return active_budget != nullptr; }
void WeightBudget::take(int64_t n, const std::string& what) {
  if (active_budget == nullptr) return;
  NNC_CHECK(n <= active_budget->remaining_, what, " needs ", n, " more weights than the model file holds");
  active_budget->remaining_ -= n;
}
}  // namespace detail

Param& Layer::add_weight(const std::string& name, const Shape& shape, const Initializer& initializer) {
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
  // A user's initializer is not run while a model file is read: the file's values replace it (and the function may
  // not be known to this process).
  if (initializer.is_custom() && detail::WeightBudget::active()) p.value.zero();
  else initializer.fill(p.value, rng_, str_cat(who(), " weight '", name, "'"));
  params_.push_back(std::move(p));
  return params_.back();
}

void Layer::zero_grad() {
  for (Param& p : params_) {
    p.grad.zero();
    *p.grad_stale = false;
  }
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

void Layer::collect_trainable(std::vector<Param*>& out) {
  if (!trainable_) return;
  for (Param& p : params_)
    if (p.trainable) out.push_back(&p);
}

}  // namespace nncore
